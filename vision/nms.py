"""Class-aware non-maximum suppression in numpy (no torch, no torchvision at run time)."""

from __future__ import annotations

import numpy as np

from vision.detections import box_iou


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int | None = None) -> np.ndarray:
    """Indices of kept boxes, highest score first; a box is dropped if IoU > threshold with a kept one."""
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    keep: list[int] = []
    while order.size and (max_keep is None or len(keep) < max_keep):
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        ious = box_iou(xyxy[best : best + 1], xyxy[rest])[0]
        order = rest[ious <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def batched_nms(
    xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float, max_keep: int | None = None
) -> np.ndarray:
    """NMS within each class only: boxes of different classes never suppress each other.

    Offsetting each class into its own coordinate range makes one NMS pass class-aware.
    """
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    if not len(xyxy):
        return np.zeros(0, np.int64)
    span = float(xyxy.max() - min(xyxy.min(), 0.0)) + 1.0
    offsets = np.asarray(classes, np.float32).reshape(-1, 1) * span
    return nms(xyxy + offsets, scores, iou_threshold, max_keep)


def merge_models(parts, iou_threshold: float = 0.5):
    """Detections of several models on one frame merged into one set: the outputs are already in
    domain classes, so class-aware NMS keeps one box per object and class (a site model's
    ``motorcycle`` and the COCO model's ``motorcycle`` on the same bike become one), while a
    ``tricycle`` from a site model never suppresses the COCO model's ``person`` on it."""
    from vision.detections import Detections

    parts = [p for p in parts if len(p)]
    if len(parts) <= 1:
        return parts[0] if parts else Detections.empty()
    merged = Detections.merge(parts)
    keep = np.sort(batched_nms(merged.xyxy, merged.confidence, merged.class_id, iou_threshold))
    return merged[keep]
