"""Rendering scenes: real vehicle crops moved along scripted paths over a real, emptied street.

Crops come from the CCTV frames of ``../shared/data/cctv/train`` (Pascal VOC boxes); the background
is the temporal median of a real clip (``../shared/data/videos``), which removes the passing
traffic and keeps the road. A ``GroundVehicle`` drives on the road plane in metres and is seen
through a ``PinholeCamera``: its box is the image box of its body (length x width x height), so it
shrinks with distance and widens as the vehicle turns side-on, and nearer vehicles are painted over
farther ones. Frames are rendered in memory; nothing is written unless a caller writes it.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from pipelines.eval.scenes.camera import PinholeCamera
from pipelines.eval.scenes.paths import Box, Mover, Route, _jittered, observations
from vision.frame import Frame

T0 = datetime(2025, 6, 2, 10, 0, 0, tzinfo=timezone.utc)  # a Monday, 18:00 in Asia/Shanghai


@dataclass
class GroundVehicle:
    """A vehicle on the road plane (path in metres) seen through ``camera``."""

    path: Route
    camera: PinholeCamera
    body: tuple[float, float, float] = (4.5, 1.8, 1.5)  # length, width, height in metres
    class_name: str = "car"
    jitter_px: float = 0.0
    seed: int = 0

    def box_at(self, t: float, rng: random.Random | None = None) -> Box | None:
        pose = self.path.pose(t)
        if pose is None:
            return None
        box = self.camera.vehicle_box(pose[0], pose[1], pose[2], self.body)
        return None if box is None else _jittered(box, rng, self.jitter_px)

    def depth(self, t: float) -> float:
        p = self.path.at(t)
        return float("inf") if p is None else self.camera.depth(*p)

    def observations(self, fps: float = 5.0) -> list[tuple[float, Box]]:
        return observations(self, fps)


@dataclass(frozen=True)
class Crop:
    image: np.ndarray  # BGR
    label: str
    source: str


def voc_crops(train_dir: Path, label: str, min_w: int = 90, max_count: int = 40) -> list[Crop]:
    """Vehicle crops of one VOC class from the CCTV frames, larger ones first (clear for the detector)."""
    found: list[tuple[int, Crop]] = []
    for xml_path in sorted(Path(train_dir).glob("*.xml")):
        root = ET.parse(xml_path).getroot()
        img_path = xml_path.with_suffix(".jpg")
        boxes = []
        for obj in root.iter("object"):
            if obj.findtext("name") != label:
                continue
            bb = obj.find("bndbox")
            x1, y1, x2, y2 = (int(float(bb.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax"))
            if x2 - x1 >= min_w:
                boxes.append((x1, y1, x2, y2))
        if not boxes:
            continue
        image = cv2.imread(str(img_path))
        if image is None:
            continue
        for x1, y1, x2, y2 in boxes:
            found.append(((x2 - x1) * (y2 - y1), Crop(image[y1:y2, x1:x2].copy(), label, img_path.name)))
        if len(found) >= max_count * 3:
            break
    found.sort(key=lambda c: -c[0])
    return [c for _, c in found[:max_count]]


@lru_cache(maxsize=2)
def clean_background(video: str, samples: int = 40) -> np.ndarray:
    """Temporal median of frames spread over the clip: passing cars vanish, the road stays."""
    from vision.sources.file import FileSource

    duration = max(FileSource(video, "bg", hwaccel="none").info.duration or 38.0, 1.0)
    src = FileSource(video, "bg", target_fps=samples / duration, hwaccel="none")
    frames = [f.image for f in src.frames()]
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


def crop_size(crop: Crop, width: float) -> tuple[float, float]:
    """Paste size keeping the crop's aspect ratio."""
    h, w = crop.image.shape[:2]
    return float(width), float(width) * h / w


@dataclass
class Actor:
    vehicle: Mover
    crop: Crop


def paste(img: np.ndarray, crop: Crop, box: Box) -> None:
    """Draw ``crop`` resized to ``box`` (clipped to the frame) into ``img`` in place."""
    H, W = img.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    w, h = x2 - x1, y2 - y1
    if w < 2 or h < 2:
        return
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, W), min(y2, H)
    if cx2 <= cx1 or cy2 <= cy1:
        return
    patch = cv2.resize(crop.image, (w, h), interpolation=cv2.INTER_AREA)
    img[cy1:cy2, cx1:cx2] = patch[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]


@dataclass
class Scene:
    """Actors on a background, rendered as a Frame stream at ``fps`` with known ground truth."""

    background: np.ndarray
    actors: list[Actor]
    duration: float
    fps: float = 10.0
    camera_id: str = "scene"

    def render(self, t: float) -> np.ndarray:
        img = self.background.copy()
        # far vehicles first, so nearer ones hide them (flat-scene vehicles keep their order)
        order = sorted(self.actors, key=lambda a: -a.vehicle.depth(t) if hasattr(a.vehicle, "depth") else 0.0)
        for actor in order:
            box = actor.vehicle.box_at(t)
            if box is not None:
                paste(img, actor.crop, box)
        return img

    def frames(self) -> Iterator[Frame]:
        n = int(self.duration * self.fps) + 1
        for i in range(n):
            t = i / self.fps
            yield Frame(self.camera_id, i, t, T0 + timedelta(seconds=t), self.render(t))
