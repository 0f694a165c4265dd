"""Test videos made at test time from the real clips in ../shared/data/videos (never committed).

Each helper re-encodes or cuts a real clip with the ffmpeg CLI into a temporary directory, so the
decoding tests cover the containers and codecs operators actually have (mp4, mkv, avi, ts, flv;
H.264 and H.265) without storing derived media in the repository. Clips are short (a few seconds)
and small, and are encoded at a constant frame rate so expected frame times are exact.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CONTAINERS = {"mp4": "mp4", "mkv": "matroska", "avi": "avi", "ts": "mpegts", "flv": "flv"}
CODECS = {"h264": "libx264", "h265": "libx265"}


@dataclass(frozen=True)
class Clip:
    path: Path
    container: str
    codec: str
    fps: int
    frames: int  # frames encoded
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.frames / self.fps


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise RuntimeError(f"ffmpeg failed making test media: {' '.join(cmd)}\n" + "\n".join(tail))


def make_clip(
    source: Path,
    out_dir: Path,
    *,
    container: str = "mp4",
    codec: str = "h264",
    seconds: float = 3.0,
    start: float = 0.0,
    fps: int = 24,
    width: int | None = None,
    gop: int = 24,
    name: str | None = None,
    creation_time: str | None = None,
    faststart: bool = True,
    bframes: bool = True,
) -> Clip:
    """Cut ``seconds`` of ``source`` from ``start`` and re-encode at constant ``fps`` into ``container``/``codec``.

    B-frames stay on (x264/x265 "superfast") unless ``bframes`` is False, so decode order != display
    order, as in many recordings; a live camera's stream usually has none (the RTSP test server needs
    none: it timestamps access units in decode order).
    """
    if container not in CONTAINERS:
        raise ValueError(f"unknown container {container}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (name or f"clip_{codec}_{fps}fps_{seconds:g}s_{start:g}_{width or 0}_{gop}{'_ct' if creation_time else ''}{'' if faststart else '_nofs'}.{container}")
    frames = int(round(seconds * fps))
    vf = [f"fps={fps}"]
    if width:
        vf.append(f"scale={width}:-2")
    cmd = [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-ss", f"{start}", "-i", str(source),
        "-frames:v", str(frames), "-an", "-sn", "-vf", ",".join(vf),
        "-c:v", CODECS[codec], "-preset", "superfast", "-g", str(gop), "-pix_fmt", "yuv420p",
    ]
    if not bframes:
        cmd += ["-bf", "0"]
    if codec == "h265":
        cmd += ["-x265-params", "log-level=error"]
        if container == "mp4":
            cmd += ["-tag:v", "hvc1"]
        elif container == "avi":  # the avi muxer has no default fourcc for HEVC
            cmd += ["-tag:v", "HEVC"]
    if container == "mp4" and faststart:
        cmd += ["-movflags", "+faststart"]
    if creation_time:
        cmd += ["-metadata", f"creation_time={creation_time}"]
    cmd += ["-f", CONTAINERS[container], str(path)]
    _run(cmd)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "json", str(path)],
        capture_output=True, check=True,
    ).stdout
    stream = json.loads(out)["streams"][0]
    return Clip(path=path, container=container, codec=codec, fps=fps, frames=frames, width=int(stream["width"]), height=int(stream["height"]))


def truncated(clip: Path, out_dir: Path, fraction: float, *, name: str | None = None) -> Path:
    """Copy of ``clip`` cut after ``fraction`` of its bytes, as a recorder killed mid-write leaves it."""
    data = clip.read_bytes()
    dst = out_dir / (name or f"truncated_{int(fraction * 100)}_{clip.name}")
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def corrupted(clip: Path, out_dir: Path, *, start_fraction: float, length: int, seed: int = 7, name: str | None = None) -> Path:
    """Copy of ``clip`` with ``length`` random bytes overwritten from ``start_fraction`` of the file."""
    data = bytearray(clip.read_bytes())
    rng = random.Random(seed)
    begin = int(len(data) * start_fraction)
    for i in range(begin, min(len(data), begin + length)):
        data[i] = rng.randrange(256)
    dst = out_dir / (name or f"corrupt_{clip.name}")
    dst.write_bytes(bytes(data))
    return dst


def glitched(clip: Path, out_dir: Path, at_s: float, *, length: int = 64, seed: int = 3, name: str | None = None) -> Path:
    """Copy of ``clip`` with ``length`` random bytes in the middle of the one video packet nearest
    ``at_s``: a single damaged frame, the way a real NVR recording has them (the decoder conceals it)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,pos,size,flags", "-of", "json", str(clip)],
        capture_output=True, check=True,
    ).stdout
    packets = [p for p in json.loads(out)["packets"] if "pos" in p and "K" not in p.get("flags", "")]
    hit = min(packets, key=lambda p: abs(float(p["pts_time"]) - at_s))
    data = bytearray(clip.read_bytes())
    rng = random.Random(seed)
    middle = int(hit["pos"]) + int(hit["size"]) // 2
    for i in range(middle, middle + length):
        data[i] = rng.randrange(256)
    dst = out_dir / (name or f"glitch_{at_s:g}s_{clip.name}")
    dst.write_bytes(bytes(data))
    return dst


def not_a_video(out_dir: Path, name: str = "notes.mp4") -> Path:
    """A text file with a video extension (what a mis-copied export looks like)."""
    dst = out_dir / name
    dst.write_text("this is not a video\n" * 50)
    return dst


def thumbs(path: Path) -> np.ndarray:
    """Every frame of a clip, tiny and grey, to tell which frame of it a picture shows."""
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(cv2.resize(img, (160, 88), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY).astype(np.float32))
    return np.stack(out)


def which_frame(image: np.ndarray, truth: np.ndarray) -> int:
    """Index of the ``thumbs`` frame closest to ``image`` (any size)."""
    small = cv2.cvtColor(cv2.resize(image, (160, 88), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY).astype(np.float32)
    return int(np.argmin(((truth - small) ** 2).mean(axis=(1, 2))))


# --- pytest fixtures (import them into a test module to use) -------------------------------------

import pytest  # noqa: E402  (kept below the helpers: they are usable without pytest)


@pytest.fixture(scope="session")
def real_clip(shared_data: Path) -> Path:
    """The real street clip every generated test video is cut from."""
    from tests.conftest import require

    return require(shared_data / "videos" / "street_parking_a.mp4", "real street clip")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not ffmpeg_available():
        from tests.conftest import IN_CI

        if IN_CI:
            pytest.fail("ffmpeg/ffprobe not installed (apt-get install ffmpeg)")
        pytest.skip("ffmpeg/ffprobe not installed (apt-get install ffmpeg)")
    return tmp_path_factory.mktemp("media")


class ClipFactory:
    """Makes each distinct clip once per test session."""

    def __init__(self, source: Path, out_dir: Path):
        self.source, self.out_dir, self._made = source, out_dir, {}

    def __call__(self, **kwargs: object) -> Clip:
        key = tuple(sorted(kwargs.items()))
        if key not in self._made:
            kwargs.setdefault("start", 10.0)  # cars are moving in the street clip from here on
            self._made[key] = make_clip(self.source, self.out_dir, **kwargs)  # type: ignore[arg-type]
        return self._made[key]


@pytest.fixture(scope="session")
def clips(real_clip: Path, media_dir: Path) -> ClipFactory:
    return ClipFactory(real_clip, media_dir)
