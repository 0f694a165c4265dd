"""A pass's two pictures: the panorama (the whole frame at the crossing, camera resolution) and the
vehicle cropped from it at full resolution, written once, hashed, and checked before being shown.

Layout: ``<output_dir>/<site>/<YYYY-MM-DD>/<HH>/<pass_key>_{panorama,vehicle}.jpg`` (UTC day and
hour, like the pass table's partitions), so retention removes whole folders. A picture already on
disk (a re-run of the same pass) is kept and re-hashed, never overwritten.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from evidence.atomic import write_durable
from evidence.checkpoint.config import PassesConfig
from evidence.checkpoint.values import PassEvent, PassImage


class PassImageError(ValueError):
    """A picture that cannot be written, or one on disk that is not what was stored (``status`` for HTTP)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class PassCapture:
    """What the engine hands over for one pass: the facts and the analysed frame of the crossing (a
    reference, not a copy; capture lines need full-size analysis, so it is at camera resolution)."""

    event: PassEvent
    panorama: np.ndarray  # HxWx3 uint8 BGR, camera resolution


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "x"


def folder(cfg: PassesConfig, site_id: str, when: datetime) -> Path:
    utc = when.astimezone(timezone.utc)
    return cfg.output_dir / _safe(site_id) / f"{utc:%Y-%m-%d}" / f"{utc:%H}"


def vehicle_crop(image: np.ndarray, box: tuple[float, float, float, float], margin: float) -> np.ndarray:
    """The vehicle with a margin, at the frame's own resolution (never scaled)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = margin * (x2 - x1), margin * (y2 - y1)
    a, b = max(int(x1 - mx), 0), max(int(y1 - my), 0)
    c, d = min(int(round(x2 + mx)), w), min(int(round(y2 + my)), h)
    if c - a < 2 or d - b < 2:
        raise PassImageError(f"vehicle box {box} lies outside the {w}x{h} frame")
    return image[b:d, a:c]


def _store(path: Path, image: np.ndarray, quality: int) -> PassImage:
    if path.exists():  # the same pass again: keep what was written first
        data = path.read_bytes()
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        h, w = decoded.shape[:2] if decoded is not None else (0, 0)
        return PassImage(path=str(path.resolve()), sha256=hashlib.sha256(data).hexdigest(), width=w, height=h)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise PassImageError("JPEG encoding failed")
    data = buf.tobytes()
    write_durable(path, data)
    return PassImage(path=str(path.resolve()), sha256=hashlib.sha256(data).hexdigest(), width=image.shape[1], height=image.shape[0])


def write_pictures(capture: PassCapture, cfg: PassesConfig) -> tuple[PassImage, PassImage]:
    """Write (or find) the panorama and the vehicle crop of a pass; returns both, hashed."""
    ev, image = capture.event, capture.panorama
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise PassImageError(f"panorama is {image.shape} {image.dtype}, expected HxWx3 uint8 BGR")
    crop = vehicle_crop(image, (ev.box.x1, ev.box.y1, ev.box.x2, ev.box.y2), cfg.vehicle_margin)
    where = folder(cfg, ev.site_id, ev.pass_time)
    where.mkdir(parents=True, exist_ok=True)
    key = ev.pass_key
    return (_store(where / f"{key}_panorama.jpg", image, cfg.jpeg_quality),
            _store(where / f"{key}_vehicle.jpg", crop, cfg.jpeg_quality))


def read_verified(image: PassImage) -> bytes:
    """The picture's bytes if they still hash to what the pass record holds (else PassImageError)."""
    try:
        data = Path(image.path).read_bytes()
    except FileNotFoundError:
        raise PassImageError(f"picture {Path(image.path).name} is no longer on disk (purged?)", 404) from None
    if hashlib.sha256(data).hexdigest() != image.sha256:
        raise PassImageError(f"picture {Path(image.path).name} does not match its stored sha256")
    return data


def purge_pictures(cfg: PassesConfig, before: datetime) -> int:
    """Remove the day and hour folders of every site that end before ``before``; returns how many."""
    cut = before.astimezone(timezone.utc)
    removed = 0
    if not cfg.output_dir.is_dir():
        return 0
    for day_dir in sorted(cfg.output_dir.glob("*/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]")):
        try:
            day = datetime.strptime(day_dir.name, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        if day.date() < cut.date():
            shutil.rmtree(day_dir, ignore_errors=True)
            removed += 1
        elif day.date() == cut.date():
            for hour_dir in day_dir.glob("[0-2][0-9]"):
                if int(hour_dir.name) < cut.hour:
                    shutil.rmtree(hour_dir, ignore_errors=True)
                    removed += 1
    return removed
