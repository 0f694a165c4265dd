"""HyperLPR's segmentation-free plate recogniser (converted from Caffe to ONNX), batched, CTC decoded.

Its errors differ from PP-OCRv4's (another architecture, another training set), which is what a
second reading needs. Input: the plate resized to 160x40, BGR / 255, transposed so the image's
width runs down the tensor's height axis (N x 3 x 160 x 40); output N x C x T x 1 softmax over the
characters of HyperLPR's table with the CTC blank last. HyperLPR drops the first two time steps
(they see the plate's left border); ``skip_steps`` keeps that. Decoding reuses ``ocr.ctc_greedy``
(blank moved to index 0), so both readers report characters with confidences and runner-ups alike.
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from vision.plates.ocr import TextRead, allowed_classes, ctc_greedy


class SegFreeRecognizer:
    """Batched HyperLPR recogniser with the same ``read(crops) -> list[TextRead]`` as ``TextRecognizer``."""

    name = "hyperlpr"

    def __init__(self, session: Any, charset: Sequence[str], allowed: str | None = None, width: int = 160,
                 height: int = 40, skip_steps: int = 2) -> None:
        self.session = session
        self.charset = ["<blank>", *charset]  # blank (the model's last class) moved to 0 for ctc_greedy
        self.allowed = allowed_classes(self.charset, allowed) if allowed is not None else None
        self.width, self.height, self.skip_steps = width, height, skip_steps
        self.input_name = session.get_inputs()[0].name

    def prepare(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        batch = np.empty((len(crops), 3, self.width, self.height), np.float32)
        for i, crop in enumerate(crops):
            if crop.ndim == 2:
                crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
            resized = cv2.resize(crop, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
            batch[i] = resized.transpose(2, 1, 0)  # HWC -> C, W, H
        return batch * np.float32(1.0 / 255.0)

    def probabilities(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """(N, T, C) per-step probabilities, blank first."""
        out = self.session.run(None, {self.input_name: self.prepare(crops)})[0]  # N, C, T, 1
        probs = out[:, :, self.skip_steps:, 0].transpose(0, 2, 1)
        return np.concatenate([probs[:, :, -1:], probs[:, :, :-1]], axis=2)

    def read(self, crops: Sequence[np.ndarray]) -> list[TextRead]:
        if not crops:
            return []
        return [ctc_greedy(p, self.charset, self.allowed) for p in self.probabilities(crops)]
