"""The small head classifier (helmet / no helmet) trained on labelled CCTV heads, on ONNX Runtime.

It reads square head crops cut by ``vision.heads.head_crop`` (the same function its training set
was cut with, ``pipelines.eval.head_set``), so training and use see the same pixels.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from models.registry import Registry


class HeadClassifier:
    """``classify(crops)`` -> probability of "no helmet" per crop; ``size``/``context`` say how to cut them."""

    def __init__(self, registry: Registry, name: str, threads: int | None = None) -> None:
        from models.session import create_session

        manifest = registry.manifest(name)
        if manifest.task != "classify" or manifest.output_layout != "softmax":
            raise ValueError(f"model {name!r} is a {manifest.task}/{manifest.output_layout} model, not a head classifier")
        self.name = name
        self.manifest = manifest
        self.size = int(manifest.input.width or 32)
        self.context = float(manifest.params.get("context", 2.0))
        self.session = create_session(registry.path(name), threads=threads)
        self.model_version = registry.model_version(name)
        self._input = self.session.get_inputs()[0].name

    def classify(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if not len(crops):
            return np.zeros(0, np.float32)
        x = np.stack([c[:, :, ::-1] for c in crops]).astype(np.float32) * np.float32(self.manifest.input.scale)
        probs = self.session.run(None, {self._input: np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]
        return probs[:, 1].astype(np.float32)


class HelmetModels:
    """The helmet model with the head classifier beside it, as one "helmet detector" for the engine:
    ``detect`` is the helmet model's (heads in rider regions), ``classifier`` reads the head regions
    derived from person boxes."""

    def __init__(self, detector, classifier: HeadClassifier) -> None:
        self.detector = detector
        self.classifier = classifier
        self.width = getattr(detector, "width", None)
        self.height = getattr(detector, "height", None)
        self.model_version = getattr(detector, "model_version", None)

    def detect(self, images, conf: float | None = None):
        return self.detector.detect(images, conf=conf)
