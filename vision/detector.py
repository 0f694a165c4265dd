"""YOLO detectors on ONNX Runtime: letterbox, run, decode (YOLOv5 or YOLOv8 layout), NMS, map to domain classes.

The manifest says how the model wants its input and how its output is laid out, so one Detector
serves YOLOv5 COCO, YOLOv12 helmet heads and hub YOLO11 alike. Boxes come back in frame pixels
with domain class ids; boxes of classes the manifest maps to nothing are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from models.domain import CLASS_ID
from models.manifest import ModelManifest
from models.registry import Registry
from vision.detections import Detections
from vision.letterbox import Letterbox, letterbox
from vision.nms import batched_nms

MAX_CANDIDATES = 30000  # boxes entering NMS, highest scores first (as YOLOv5/ultralytics)
MAX_DETECTIONS = 300


@dataclass(frozen=True)
class RawBoxes:
    """Decoded model-space candidates of one image: xyxy in input pixels, best score, model class."""

    xyxy: np.ndarray
    score: np.ndarray
    model_class: np.ndarray


def _cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def decode_yolov5(pred: np.ndarray, conf: float) -> RawBoxes:
    """(N, 5+nc): cx, cy, w, h, objectness, class scores; score = objectness x best class score."""
    pred = np.asarray(pred, np.float32)
    pred = pred[pred[:, 4] > conf]
    cls_scores = pred[:, 5:] * pred[:, 4:5]
    model_class = cls_scores.argmax(axis=1) if len(pred) else np.zeros(0, np.int64)
    score = cls_scores[np.arange(len(pred)), model_class] if len(pred) else np.zeros(0, np.float32)
    keep = score > conf
    return RawBoxes(_cxcywh_to_xyxy(pred[keep, :4]), score[keep], model_class[keep].astype(np.int64))


def decode_yolov8(pred: np.ndarray, conf: float) -> RawBoxes:
    """(4+nc, N): cx, cy, w, h, class scores (no objectness), the v8/v11/v12 head layout."""
    pred = np.asarray(pred, np.float32).T
    cls_scores = pred[:, 4:]
    model_class = cls_scores.argmax(axis=1) if len(pred) else np.zeros(0, np.int64)
    score = cls_scores[np.arange(len(pred)), model_class] if len(pred) else np.zeros(0, np.float32)
    keep = score > conf
    return RawBoxes(_cxcywh_to_xyxy(pred[keep, :4]), score[keep], model_class[keep].astype(np.int64))


DECODERS = {"yolov5": decode_yolov5, "yolov8": decode_yolov8}


def domain_lookup(class_map: dict[int, str | None], num_classes: int) -> np.ndarray:
    """Model class id -> domain class id, -1 for classes the manifest maps to nothing."""
    table = np.full(max(num_classes, max(class_map, default=-1) + 1), -1, np.int32)
    for model_id, domain in class_map.items():
        if domain is not None:
            table[model_id] = CLASS_ID[domain]
    return table


def postprocess(
    raw: RawBoxes, lookup: np.ndarray, box: Letterbox, iou: float, max_det: int = MAX_DETECTIONS
) -> Detections:
    """Drop unmapped classes, class-aware NMS on domain classes, boxes back to frame pixels."""
    domain = lookup[raw.model_class] if len(raw.model_class) else np.zeros(0, np.int32)
    mapped = domain >= 0
    xyxy, score, model_class, domain = raw.xyxy[mapped], raw.score[mapped], raw.model_class[mapped], domain[mapped]
    if len(score) > MAX_CANDIDATES:
        top = np.argsort(-score)[:MAX_CANDIDATES]
        xyxy, score, model_class, domain = xyxy[top], score[top], model_class[top], domain[top]
    keep = batched_nms(xyxy, score, domain, iou, max_keep=max_det)
    return Detections(
        box.to_frame(xyxy[keep]),
        score[keep],
        domain[keep],
        data={"model_class": model_class[keep].astype(np.int32)},
    )


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class Detector:
    """A registry YOLO model ready to run on BGR frames of any size."""

    def __init__(
        self,
        registry: Registry,
        name: str,
        conf: float = 0.25,
        iou: float = 0.45,
        providers: list[str] | None = None,
        threads: int | None = None,
    ):
        from models.session import create_session

        manifest: ModelManifest = registry.manifest(name)
        if manifest.task != "detect" or manifest.output_layout not in DECODERS:
            raise ValueError(f"model {name!r} is a {manifest.task}/{manifest.output_layout} model, not a YOLO detector")
        self.name = name
        self.manifest = manifest
        self.conf = conf
        self.iou = iou
        self.session = create_session(registry.path(name), providers=providers, threads=threads)
        self.model_version: str = registry.model_version(name)
        spec = manifest.input
        model_input = self.session.get_inputs()[0]
        self._input_name = model_input.name
        shape = model_input.shape  # e.g. [1, 3, 640, 640] or ['batch', 3, 640, 640]
        self.width = spec.width or int(shape[3])
        self.height = spec.height or int(shape[2])
        self.max_batch = 1 if isinstance(shape[0], int) and shape[0] == 1 else None
        self._decode = DECODERS[manifest.output_layout]
        out_shape = self.session.get_outputs()[0].shape
        channels = out_shape[2] if manifest.output_layout == "yolov5" else out_shape[1]
        extra = 5 if manifest.output_layout == "yolov5" else 4
        num_classes = int(channels) - extra if isinstance(channels, int) else len(manifest.class_map)
        self._lookup = domain_lookup(manifest.class_map, num_classes)

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        spec = self.manifest.input
        canvas, box = letterbox(_as_bgr(image), self.width, self.height, spec.pad_value)
        if spec.colour == "RGB":
            canvas = canvas[:, :, ::-1]
        tensor = canvas.astype(np.float32) * np.float32(spec.scale)
        if spec.mean is not None:
            tensor -= np.asarray(spec.mean, np.float32)
        if spec.std is not None:
            tensor /= np.asarray(spec.std, np.float32)
        if spec.layout == "NCHW":
            tensor = tensor.transpose(2, 0, 1)
        return np.ascontiguousarray(tensor), box

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input_name: batch})[0]

    def detect(self, images: Sequence[np.ndarray], conf: float | None = None) -> list[Detections]:
        """One Detections per image, in the same order (a static batch-1 model is looped inside);
        ``conf`` overrides the detector's threshold for this call."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise TypeError("Detector.detect takes a sequence of images; wrap a single frame in a list")
        prepared = [self.preprocess(img) for img in images]
        if not prepared:
            return []
        step = self.max_batch or len(prepared)
        outputs: list[np.ndarray] = []
        for start in range(0, len(prepared), step):
            chunk = np.stack([t for t, _ in prepared[start : start + step]])
            outputs.extend(self._run(chunk))
        return [
            postprocess(self._decode(out, self.conf if conf is None else conf), self._lookup, box, self.iou)
            for out, (_, box) in zip(outputs, prepared)
        ]

    def __call__(self, image: np.ndarray) -> Detections:
        """Convenience for one frame."""
        return self.detect([image])[0]
