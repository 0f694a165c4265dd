"""Builders shared by the evidence and store tests: keys, synthetic events, frames from the real clip."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from evidence.config import EvidenceConfig
from evidence.event import Box, KeyFrame, PlateFacts, ViolationEvent
from evidence.package import CaptureContext, ClipFrames, PackageInput
from evidence.signing import Signer, generate_keypair
from pipelines.rules.registry import default_codes

T0 = datetime(2024, 5, 1, 0, 30, 12, 345000, tzinfo=timezone.utc)  # 08:30:12.345 in Asia/Shanghai
PARKING_VIDEO = "videos/street_parking_a.mp4"
# The car parked in the driveway at the right edge of street_parking_a.mp4 (640x352), read off frames.
PARKED_CAR = Box(x1=580, y1=140, x2=640, y2=205)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Signer, Path]:
    priv, pub = generate_keypair(tmp_path / "keys")
    return Signer.from_file(priv), pub


def context(site_id: str = "site-001") -> CaptureContext:
    return CaptureContext(site_id=site_id, site_name="示例路口东侧", device_id="cam-01", direction="由东向西", lane="2")


def config(tmp_path: Path, **kw) -> EvidenceConfig:
    """Evidence settings as the site loader makes them: the registry's code rows, overridden by ``codes``."""
    codes = {**default_codes(), **kw.pop("codes", {})}
    return EvidenceConfig(output_dir=tmp_path / "evidence", signing_key=tmp_path / "keys" / "evidence.key", codes=codes, **kw)


def event(
    *,
    rule: str = "parking",
    times_s: tuple[float, ...] = (0.0, 15.0, 30.0),
    box: Box = Box(x1=500, y1=300, x2=700, y2=420),
    track_id: int = 7,
    site_id: str = "site-001",
    camera_id: str = "cam-01",
    start: datetime = T0,
    plate: PlateFacts | None = PlateFacts(text="浙A12345", color="blue", agreement=0.9, reads=5, status="confirmed"),
    facts: dict | None = None,
    fps: float = 24.0,
) -> ViolationEvent:
    roles = ["first"] + ["middle"] * (len(times_s) - 2) + ["last"] if len(times_s) > 1 else ["violation"]
    kfs = [KeyFrame(seq=int(round(t * fps)), wall_time=start + timedelta(seconds=t), role=r, box=box) for t, r in zip(times_s, roles)]
    return ViolationEvent(
        site_id=site_id, camera_id=camera_id, rule=rule, track_id=track_id, start_time=kfs[0].wall_time,
        end_time=kfs[-1].wall_time, vehicle_class="car", key_frames=kfs,
        facts=facts if facts is not None else {"dwell_s": times_s[-1] - times_s[0], "min_dwell_s": 20.0},
        plate=plate, model_versions={"detector": "yolov5n_coco@0123456789ab"},
    )


def synthetic_frame(size: tuple[int, int], box: Box, seed: int) -> np.ndarray:
    """A textured background with a coloured block where the vehicle is."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = rng.integers(60, 120, size=(h, w, 3), dtype=np.uint8)
    img[int(box.y1):int(box.y2), int(box.x1):int(box.x2)] = (40, 40, 200)
    return img


def synthetic_input(ev: ViolationEvent, size: tuple[int, int] = (1280, 720), clip_frames: int = 0) -> PackageInput:
    images = {k.seq: synthetic_frame(size, k.box, k.seq) for k in ev.key_frames}
    clip = None
    if clip_frames:
        box = ev.key_frames[-1].box
        clip = ClipFrames([synthetic_frame(size, box, 1000 + i) for i in range(clip_frames)], fps=12.0)
    return PackageInput(event=ev, key_images=images, context=context(ev.site_id), clip=clip)


def grab(video: Path, t: float, n: int = 1, size: tuple[int, int] = (640, 352)) -> list[np.ndarray]:
    """Decode ``n`` BGR frames from ``t`` seconds with the ffmpeg CLI."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-ss", f"{t:.3f}", "-i", str(video), "-frames:v", str(n),
         "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"],
        capture_output=True, check=True,
    ).stdout
    w, h = size
    frames = np.frombuffer(out, np.uint8).reshape(-1, h, w, 3)
    assert len(frames) == n, f"decoded {len(frames)} of {n} frames from {video} at {t}s"
    return [f.copy() for f in frames]


def real_parking_input(video: Path, times_s: tuple[float, ...] = (2.0, 14.0, 32.0), clip_s: float = 4.0) -> PackageInput:
    """The parked car of street_parking_a.mp4 as a hand-made parking event (key frames 30 s apart)."""
    ev = event(times_s=times_s, box=PARKED_CAR, fps=24.0, facts={"dwell_s": times_s[-1] - times_s[0], "min_dwell_s": 20.0})
    images = {k.seq: grab(video, k.seq / 24.0)[0] for k in ev.key_frames}
    clip = ClipFrames(grab(video, times_s[-1] - clip_s / 2, int(clip_s * 24)), fps=24.0)
    return PackageInput(event=ev, key_images=images, context=context(), clip=clip)
