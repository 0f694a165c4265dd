"""Scripted vehicle paths with known ground truth, as trajectories or as rendered video.

Two uses:
- rule tests feed the paths' boxes straight into a ``TrackHistory`` (synthetic trajectories,
  no pixels): ``replay(Vehicle(route).observations(fps), evaluate)``;
- engine tests render the same paths as real-looking frames: real vehicle crops cut from
  ``../shared/data/cctv/train`` (Pascal VOC boxes) pasted onto a clean background of
  ``../shared/data/videos/street_parking_a.mp4`` (temporal median of its frames, which removes
  the passing cars), then run the whole engine with the real detector on them.

Nothing here is written to the repository; rendered frames live in memory.
"""

from __future__ import annotations

import math
import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from vision.frame import Frame
from vision.track_history import TrackHistory

T0 = datetime(2025, 6, 2, 10, 0, 0, tzinfo=timezone.utc)  # a Monday, 18:00 in Asia/Shanghai


# -- paths -------------------------------------------------------------------------------------
@dataclass
class Route:
    """Ground point (bottom-centre) over time: keys (t, x, y, visible) interpolated linearly."""

    keys: list[tuple[float, float, float, bool]]

    @property
    def duration(self) -> float:
        return self.keys[-1][0]

    def at(self, t: float) -> tuple[float, float] | None:
        """Position at ``t``; None before the start, after the end, or while hidden (occlusion)."""
        if t < self.keys[0][0] or t > self.keys[-1][0]:
            return None
        for (ta, xa, ya, _), (tb, xb, yb, vis) in zip(self.keys, self.keys[1:]):
            if ta <= t <= tb:
                if not vis and ta < t < tb:
                    return None
                f = 0.0 if tb == ta else (t - ta) / (tb - ta)
                return xa + f * (xb - xa), ya + f * (yb - ya)
        return None


class PathBuilder:
    """Drive a path like a car: straight lines, arcs, waits and hidden stretches, at given speeds."""

    def __init__(self, start: tuple[float, float], heading: float = 180.0, t0: float = 0.0) -> None:
        self.x, self.y = start
        self.heading = heading
        self.t = t0
        self.keys: list[tuple[float, float, float, bool]] = [(t0, self.x, self.y, True)]

    def _go(self, x: float, y: float, dt: float, visible: bool = True) -> None:
        self.t += dt
        self.x, self.y = x, y
        self.keys.append((self.t, x, y, visible))

    def line_to(self, x: float, y: float, speed: float) -> "PathBuilder":
        d = math.hypot(x - self.x, y - self.y)
        if d > 0:
            self.heading = math.degrees(math.atan2(y - self.y, x - self.x)) % 360
        self._go(x, y, d / speed)
        return self

    def forward(self, distance: float, speed: float) -> "PathBuilder":
        h = math.radians(self.heading)
        return self.line_to(self.x + distance * math.cos(h), self.y + distance * math.sin(h), speed)

    def arc(self, sweep_deg: float, radius: float, speed: float, steps: int = 24) -> "PathBuilder":
        """Turn by ``sweep_deg`` (positive = clockwise on screen, i.e. heading increases) on a circle."""
        sign = 1.0 if sweep_deg > 0 else -1.0
        h = math.radians(self.heading)
        cx = self.x + radius * math.cos(h + sign * math.pi / 2)
        cy = self.y + radius * math.sin(h + sign * math.pi / 2)
        a0 = math.atan2(self.y - cy, self.x - cx)
        step_len = abs(math.radians(sweep_deg)) * radius / steps
        for i in range(1, steps + 1):
            a = a0 + math.radians(sweep_deg) * i / steps
            self._go(cx + radius * math.cos(a), cy + radius * math.sin(a), step_len / speed)
        self.heading = (self.heading + sweep_deg) % 360
        return self

    def wait(self, seconds: float) -> "PathBuilder":
        self._go(self.x, self.y, seconds)
        return self

    def hidden(self, seconds: float, to: tuple[float, float] | None = None) -> "PathBuilder":
        """Unseen for ``seconds`` (occlusion or leaving view), optionally reappearing elsewhere."""
        x, y = to if to is not None else (self.x, self.y)
        self._go(x, y, seconds, visible=False)
        return self

    def face(self, heading: float) -> "PathBuilder":
        self.heading = heading % 360
        return self

    def build(self) -> Route:
        return Route(list(self.keys))


@dataclass
class Vehicle:
    """A scripted vehicle: a path and a box size (w, h) at the path's scale."""

    path: Route
    size: tuple[float, float] = (70.0, 45.0)
    class_name: str = "car"
    jitter_px: float = 0.0
    seed: int = 0

    def box_at(self, t: float, rng: random.Random | None = None) -> tuple[float, float, float, float] | None:
        p = self.path.at(t)
        if p is None:
            return None
        x, y = p
        w, h = self.size
        j = (lambda: rng.uniform(-self.jitter_px, self.jitter_px)) if (rng and self.jitter_px) else (lambda: 0.0)
        return (x - w / 2 + j(), y - h + j(), x + w / 2 + j(), y + j())

    def observations(self, fps: float = 5.0) -> list[tuple[float, tuple[float, float, float, float]]]:
        rng = random.Random(self.seed)
        out = []
        n = int(self.path.duration * fps) + 1
        for i in range(n):
            t = self.path.keys[0][0] + i / fps
            box = self.box_at(t, rng)
            if box is not None:
                out.append((t, box))
        return out


# -- the scripted scenes (640x352 street frame; road from bottom-right up to the top-middle) --
def u_turn_path() -> Route:
    return (
        PathBuilder((610, 300), heading=180).line_to(420, 300, 90).arc(180, 45, 60).line_to(610, 210, 90).build()
    )


def left_turn_path() -> Route:
    # moving left along the road, then turning down-screen (heading 180 -> 90) = a 90 degree turn
    return PathBuilder((610, 250), heading=180).line_to(420, 250, 90).arc(-90, 50, 60).line_to(370, 350, 90).build()


def right_turn_path() -> Route:
    return PathBuilder((610, 300), heading=180).line_to(420, 300, 90).arc(90, 50, 60).line_to(370, 160, 90).build()


def pass_through_path() -> Route:
    return PathBuilder((620, 330), heading=180).line_to(260, 200, 110).build()


def lane_change_path() -> Route:
    return PathBuilder((620, 300), heading=180).line_to(470, 300, 100).line_to(380, 260, 100).line_to(200, 260, 100).build()


def park_path(dwell_s: float = 30.0, spot: tuple[float, float] = (470, 300), leave: bool = True) -> Route:
    b = PathBuilder((640, 320), heading=180).line_to(spot[0] + 40, spot[1] + 5, 80).line_to(*spot, 15).wait(dwell_s)
    if leave:
        b.line_to(200, 300, 80)
    return b.build()


def park_with_occlusion_path(dwell_s: float = 40.0, hide_at: float = 12.0, hide_s: float = 4.0) -> Route:
    spot = (470, 300)
    b = PathBuilder((640, 320), heading=180).line_to(spot[0] + 40, spot[1] + 5, 80).line_to(*spot, 15)
    b.wait(hide_at).hidden(hide_s).wait(dwell_s - hide_at - hide_s)
    return b.build()


def slow_traffic_path() -> Route:
    """Creeping through a queue: 2 px/s with short stops, never still for long."""
    b = PathBuilder((600, 300), heading=180)
    for _ in range(12):
        b.forward(12, 4).wait(3)
    return b.build()


def lost_refound_path() -> Route:
    """Leftward, unseen for 3 s, then a vehicle going the other way re-found as the same id."""
    return (
        PathBuilder((610, 300), heading=180)
        .line_to(430, 300, 90)
        .hidden(3.0, to=(430, 230))
        .face(0)
        .line_to(610, 230, 90)
        .build()
    )


def parked_jitter_path(seconds: float = 40.0) -> Route:
    return PathBuilder((470, 300), heading=180).wait(seconds).build()


# -- rendering with real crops -----------------------------------------------------------------
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

    src = FileSource(video, "bg", target_fps=samples / 38.0, hwaccel="none")
    frames = [f.image for f in src.frames()]
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


@dataclass
class Actor:
    vehicle: Vehicle
    crop: Crop


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
        H, W = img.shape[:2]
        for actor in self.actors:
            box = actor.vehicle.box_at(t)
            if box is None:
                continue
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            w, h = x2 - x1, y2 - y1
            patch = cv2.resize(actor.crop.image, (w, h), interpolation=cv2.INTER_AREA)
            cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, W), min(y2, H)
            if cx2 <= cx1 or cy2 <= cy1:
                continue
            img[cy1:cy2, cx1:cx2] = patch[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]
        return img

    def frames(self) -> Iterator[Frame]:
        n = int(self.duration * self.fps) + 1
        for i in range(n):
            t = i / self.fps
            yield Frame(self.camera_id, i, t, T0 + timedelta(seconds=t), self.render(t))


def crop_size(crop: Crop, width: float) -> tuple[float, float]:
    """Paste size keeping the crop's aspect ratio."""
    h, w = crop.image.shape[:2]
    return float(width), float(width) * h / w


def replay(
    observations: list[tuple[float, tuple[float, float, float, float]]],
    evaluate,
    class_name: str = "car",
    trail_interval_s: float = 1.0,
    wall0: datetime = T0,
    riders=None,
    wall_rate: float = 1.0,
):
    """Feed observations one by one and call ``evaluate(history)`` after each, as the engine does.

    Returns (first decision or None, the history). ``riders(t, seq)`` may return a
    RiderObservation to attach at that frame. ``wall_rate`` < 1 makes the capture clock run slower
    than the stream's pts (a live camera's clock skew).
    """
    hist = TrackHistory(1)
    last_tick = -1e9
    for t, box in observations:
        tick = t - last_tick >= trail_interval_s - 1e-6
        if tick:
            last_tick = t
        seq = int(round(t * 25))
        hist.add(seq, t, wall0.timestamp() + t * wall_rate, box, True, 0.9, class_name, trail_tick=tick)
        if riders is not None:
            obs = riders(t, seq)
            if obs is not None:
                hist.add_riders(obs)
        decision = evaluate(hist)
        if decision is not None:
            return decision, hist
    return None, hist


# -- people on board and beside a vehicle (passenger scenes; kept apart so scene moves merge easily) --
def shifted(route: Route, dx: float, dy: float, dt: float = 0.0) -> Route:
    """The same route moved by (dx, dy) pixels (and ``dt`` seconds): someone riding on the vehicle."""
    return Route([(t + dt, x + dx, y + dy, vis) for t, x, y, vis in route.keys])


def person_crops(detector, train_dir: Path, frames: tuple[str, ...] = ("frame1008.jpg", "frame1297.jpg", "frame1125.jpg"),
                 min_h: int = 90, max_count: int = 8) -> list[Crop]:
    """Person crops cut from real CCTV frames where the detector boxes a person confidently (riders,
    mostly: their upper bodies are what shows above a cargo bed)."""
    out: list[tuple[float, Crop]] = []
    for name in frames:
        image = cv2.imread(str(Path(train_dir) / name))
        if image is None:
            continue
        found = detector.detect([image])[0].of_class("person")
        for (x1, y1, x2, y2), conf in zip(found.xyxy.astype(int), found.confidence):
            if conf >= 0.6 and y2 - y1 >= min_h:
                out.append((float(conf), Crop(image[y1:y2, x1:x2].copy(), "person", name)))
    out.sort(key=lambda c: -c[0])
    return [c for _, c in out[:max_count]]


def upper_body(crop: Crop, share: float = 0.6) -> Crop:
    """The top ``share`` of a person crop: what shows of someone standing in a cargo bed."""
    h = crop.image.shape[0]
    return Crop(crop.image[: max(1, int(h * share))].copy(), crop.label, crop.source)


def cargo_scene(background: np.ndarray, vehicle_crop: Crop, people: list[Crop], class_name: str, on_board: bool,
                width: float = 240.0, fps: float = 10.0) -> Scene:
    """A vehicle driving across the street with two people: riding in its back (``on_board``: upper
    bodies above the cargo bed, moving with it) or standing at the roadside while it passes beside them."""
    route = PathBuilder((660, 340), heading=180).line_to(300, 330, 70).build()
    vehicle = Vehicle(route, size=crop_size(vehicle_crop, width), class_name=class_name)
    w, h = vehicle.size
    actors = [Actor(vehicle, vehicle_crop)]
    for k, person in enumerate(people[:2]):
        if on_board:
            body = upper_body(person)
            size = crop_size(body, 0.22 * w)
            rider = Vehicle(shifted(route, (0.1 + 0.22 * k) * w, -0.45 * h), size=size, class_name="person")
            actors.append(Actor(rider, body))
        else:
            size = crop_size(person, 0.2 * w)
            spot = (420 + 90 * k, 335)
            standing = Route([(0.0, spot[0], spot[1], True), (route.duration, spot[0] - 10, spot[1], True)])
            actors.append(Actor(Vehicle(standing, size=size, class_name="person"), person))
    return Scene(background, actors, route.duration + 0.5, fps=fps, camera_id="scene")
