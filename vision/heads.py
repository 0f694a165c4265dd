"""Riders' heads as the helmet judgement sees them: where a head is, whether it can be judged, and
what it wears.

Two sources of head boxes on a ridden vehicle:

- ``model``: the helmet model's own detections in the rider region (``vision.riders.look_for_heads``);
- ``person``: a head region derived from a rider's person box (the top of a seated rider's box),
  for the riders the helmet model found no head on. Street CCTV sees many riders from behind; the
  helmet model, trained mostly on front-facing photos, often finds no head there at all. Each
  derived region is cut square from the frame's own pixels with some context, scaled so the head
  is ``classify_head_px`` high, packed several to one model input, and classified by the helmet
  model's detection nearest the region's centre.

A head is judgeable only when it is large and sharp enough: below ``min_head_px`` (frame pixels of
head height) the helmet model's class is not reliable (measured with ``epolice eval riders`` on the
tuning part of the labelled CCTV riders). A head that is not judgeable is never an accusation and
never a pass; it is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
from pydantic import Field

from models.strict import StrictModel
from vision.detections import Detections

HEAD_SOURCES = ("model", "person")


class HeadJudgeConfig(StrictModel):
    """When a head can be judged, and how a head region derived from a person box is classified."""

    min_head_px: float = Field(
        20.0, ge=1, description="heads smaller than this (frame pixels of height) are not judgeable: the helmet model "
        "stops being reliable below it (measured on the tuning part of the labelled CCTV riders)"
    )
    min_sharpness: float = Field(
        15.0, ge=0, description="heads blurrier than this (variance of the Laplacian at 32 px) are not judgeable"
    )
    person_heads: bool = Field(True, description="derive head regions from person boxes where the helmet model found none")
    head_height: float = Field(0.25, gt=0, le=1, description="a derived head is this share of the seated rider's box height")
    head_centre_x: float = Field(0.45, ge=0, le=1, description="and centred this far across the person box")
    classify_head_px: int = Field(32, ge=8, description="derived head regions are scaled so the head is this high")
    context: float = Field(2.0, ge=1, description="the square crop around a derived head spans this many head heights")
    region_conf: float = Field(
        0.05, gt=0, le=1, description="a derived region is known to hold a head: the helmet model's nearest detection above "
        "this low threshold classifies it (a no-helmet accusation still needs the helmet rule's min_confidence)"
    )


@dataclass(frozen=True, slots=True)
class HeadQuality:
    size_px: float  # head box height in frame pixels
    sharpness: float  # variance of the Laplacian of the head crop resized to 32x32


def frame_crop(image: np.ndarray, box: Sequence[float], pad_value: int = 114) -> np.ndarray:
    """The pixels of ``box`` (frame coordinates, may reach outside) from the frame itself, padded where
    it leaves the frame. The one place head crops read frame pixels: the frame given here must be
    the camera's own resolution (boxes are in its coordinates)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
    out = np.full((y2 - y1, x2 - x1, 3), pad_value, np.uint8)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if sx2 > sx1 and sy2 > sy1:
        out[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = image[sy1:sy2, sx1:sx2]
    return out


def head_crop(image: np.ndarray, box: Sequence[float], size: int, context: float) -> np.ndarray:
    """A square ``size`` x ``size`` crop centred on a head box, spanning ``context`` head heights."""
    cx, cy, hs = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(float(box[3] - box[1]), 1.0)
    half = context * hs / 2
    crop = frame_crop(image, (cx - half, cy - half, cx + half, cy + half))
    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def head_quality(image: np.ndarray, box: Sequence[float]) -> HeadQuality:
    """Size and sharpness of one head box in the frame."""
    crop = frame_crop(image, box)
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA if min(gray.shape) > 32 else cv2.INTER_LINEAR)
    return HeadQuality(float(box[3] - box[1]), float(cv2.Laplacian(small, cv2.CV_32F).var()))


def judgeable(q: HeadQuality, cfg: HeadJudgeConfig) -> str:
    """'' when the head can be judged, else why not ('small', 'blurred')."""
    if q.size_px < cfg.min_head_px:
        return "small"
    if q.sharpness < cfg.min_sharpness:
        return "blurred"
    return ""


def heads_from_persons(persons: np.ndarray, cfg: HeadJudgeConfig) -> np.ndarray:
    """(N, 4) head boxes at the top of seated riders' person boxes (square, ``head_height`` of the box)."""
    p = np.asarray(persons, np.float32).reshape(-1, 4)
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    s = cfg.head_height * ph
    cx = p[:, 0] + cfg.head_centre_x * pw
    top = p[:, 1] - 0.02 * ph
    return np.stack([cx - s / 2, top, cx + s / 2, top + s], axis=1).astype(np.float32)


@dataclass(frozen=True, slots=True)
class RegionClass:
    """The helmet model's reading of one derived head region: None when it found no head there."""

    helmet: bool | None
    confidence: float


def classify_regions(image: np.ndarray, boxes: np.ndarray, detector, cfg: HeadJudgeConfig) -> tuple[list[RegionClass], int]:
    """Classify head regions with the helmet model: square crops (``context`` head heights) scaled so
    the head is ``classify_head_px`` high, packed in a grid on the model's input; each region takes
    the head detection nearest its centre. Returns the readings and the number of model calls."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if not len(boxes):
        return [], 0
    side = int(round(cfg.classify_head_px * cfg.context))
    width, height = getattr(detector, "width", None), getattr(detector, "height", None)
    fixed = isinstance(width, int) and isinstance(height, int)
    if hasattr(detector, "classify"):  # a head classifier (vision.head_classifier): one probability per crop
        probs = detector.classify([head_crop(image, b, detector.size, detector.context) for b in boxes])
        return [RegionClass(bool(p < 0.5), float(p if p >= 0.5 else 1 - p)) for p in probs], 1
    crops = [head_crop(image, b, side, cfg.context) for b in boxes]
    gap = 4
    per_row = max(1, (width - gap) // (side + gap)) if fixed else 1
    per_col = max(1, (height - gap) // (side + gap)) if fixed else 1
    per_canvas = per_row * per_col if fixed else 1
    out: list[RegionClass] = []
    calls = 0
    for start in range(0, len(crops), per_canvas):
        chunk = crops[start : start + per_canvas]
        if fixed:
            canvas = np.full((height, width, 3), 114, np.uint8)
            places = []
            for k, c in enumerate(chunk):
                x, y = gap + (k % per_row) * (side + gap), gap + (k // per_row) * (side + gap)
                canvas[y : y + side, x : x + side] = c
                places.append((x, y))
            found = _detect(detector, canvas, cfg.region_conf)
        else:
            places = [(0, 0)]
            found = _detect(detector, chunk[0], cfg.region_conf)
        calls += 1
        found = found.of_class("head_helmet", "head_no_helmet")
        centres = found.center
        for x, y in places:
            inside = (centres[:, 0] >= x) & (centres[:, 0] < x + side) & (centres[:, 1] >= y) & (centres[:, 1] < y + side)
            near = found[inside]
            if not len(near):
                out.append(RegionClass(None, 0.0))
                continue
            d = np.hypot(near.center[:, 0] - x - side / 2, near.center[:, 1] - y - side / 2)
            j = int(np.argmin(d))
            out.append(RegionClass(bool(near.class_name[j] == "head_helmet"), float(near.confidence[j])))
    return out, calls


def _detect(detector, image: np.ndarray, conf: float) -> Detections:
    """One image through the helmet model at ``conf`` (a detector without the override uses its own threshold)."""
    try:
        return detector.detect([image], conf=conf)[0]
    except TypeError:
        return detector.detect([image])[0]


def heads_inside(heads: Detections, head_zone: np.ndarray) -> np.ndarray:
    """(N heads, M zones) whether each head's centre lies in each zone."""
    c = heads.center
    z = np.asarray(head_zone, np.float32).reshape(-1, 4)
    return (
        (c[:, 0:1] >= z[None, :, 0]) & (c[:, 0:1] <= z[None, :, 2]) & (c[:, 1:2] >= z[None, :, 1]) & (c[:, 1:2] <= z[None, :, 3])
    )
