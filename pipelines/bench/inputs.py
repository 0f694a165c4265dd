"""What the bench runs on: the shared clip, a site and camera for it, and frames up to an exact end."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.bench.figures import BenchError
from pipelines.config import CameraConfig, SiteConfig

DEFAULT_CLIP = "data/videos/street_parking_a.mp4"


def _shared_bases() -> list[Path]:
    """Where the shared third-party data may live: $EPOLICE_SHARED, ../shared, beside the repository."""
    env = os.environ.get("EPOLICE_SHARED")
    return ([Path(env)] if env else []) + [Path("../shared"), Path(__file__).resolve().parents[3] / "shared"]


def find_shared(relative: str) -> Path | None:
    for base in _shared_bases():
        if (base / relative).exists():
            return base / relative
    return None


def default_video() -> Path:
    """The shared street clip (the first candidate path when it is nowhere, for the error message)."""
    return find_shared(DEFAULT_CLIP) or _shared_bases()[0] / DEFAULT_CLIP


def default_site(width: int, height: int, source: str) -> SiteConfig:
    """No site file: one camera of the video's size, no zones, every rule on, default models."""
    return SiteConfig(id="bench", cameras=[CameraConfig(id="bench", source=source, frame_size=(width, height))])


@dataclass(frozen=True)
class BenchOptions:
    video: Path
    site: SiteConfig
    camera_id: str
    frames: int = 0  # 0 = the whole clip
    repeat: int = 3
    threads: int | None = None
    jobs: int = 1
    plates: bool = True
    evidence: bool = True
    compare: bool = True
    compare_model: str = "helmet_yolov12m"
    compare_frames: int = 24
    models_dir: Path | None = None


def prepare(
    video: Path,
    site: SiteConfig | None,
    camera_id: str | None = None,
    model: str | None = None,
    detect_fps: float | None = None,
) -> tuple[SiteConfig, CameraConfig]:
    """The site and camera to benchmark, with --model/--detect-fps applied; checks the frame size."""
    from vision.sources.ffmpeg.command import output_size
    from vision.sources.ffmpeg.probe import probe

    info = probe(video)  # ProbeError (a DecodeError) with one line for a bad file
    size = output_size(info.width, info.height)
    if site is None:
        site = default_site(size[0], size[1], str(video))
    camera = site.camera(camera_id) if camera_id else site.cameras[0]
    if tuple(size) != tuple(camera.frame_size):
        raise BenchError(
            f"video {video} decodes to {size[0]}x{size[1]} but camera {camera.id!r} declares frame_size "
            f"{list(camera.frame_size)}; zones are in the camera's pixels (give a matching --site or none)"
        )
    if detect_fps is not None:
        if not 0 < detect_fps <= 60:
            raise BenchError(f"--detect-fps must be in (0, 60], got {detect_fps}")
        camera = camera.model_copy(update={"detect_fps": float(detect_fps)})
    if model is not None:
        site = site.model_copy(update={"models": site.models.model_copy(update={"detector": model})})
    cameras = [camera if c.id == camera.id else c for c in site.cameras]
    site = site.model_copy(update={"cameras": cameras})
    return site, camera


def frame_source(video: Path, camera_id: str, end_s: float | None = None):
    """FileSource over the clip up to ``end_s`` seconds (None = all), ended by FFmpeg itself.

    Benchmarks never break out of a running FileSource: its close then waits for FFmpeg (blocked
    writing into the pipe) until the kill timeout, seconds that would swamp a short benchmark.
    """
    from vision.sources.file import FileSource

    return FileSource(video, camera_id, end_seconds=end_s)


def exact_end(video: Path, camera_id: str, frames: int) -> tuple[float | None, int]:
    """(segment end, frame count) for the first ``frames`` frames (0 = all): the end lies halfway
    between the pts of the last wanted frame and the next one (None when the clip has no more)."""
    from vision.sources.ffmpeg.probe import probe

    fps = probe(video).fps or 25.0
    limit = (frames + 1) / fps * 1.1 + 1.0 if frames else None
    pts = [f.pts for f in frame_source(video, camera_id, limit).frames()]
    if not frames or len(pts) <= frames:
        return None, len(pts)
    return (pts[frames - 1] + pts[frames]) / 2.0, frames
