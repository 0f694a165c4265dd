"""What the bench runs on: a camera-resolution clip (made from the shared street clip), a site and
camera for it, and the clip's frame times.

Electronic-police cameras record at 1080p or more, so the default clip is the shared 640x352
street clip scaled up by FFmpeg to 1920x1080 at 30 fps (three loops, 113 s, H.264 with a keyframe
every 2 s as cameras send): "upscaled" in every report, since its detail is the small clip's. It is
made once and cached (``$XDG_CACHE_HOME/epolice/bench``). A site written for the small clip is scaled
to the upscaled one (frame size and zones by the same factors).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipelines.bench.figures import BenchError
from pipelines.config import CameraConfig, SiteConfig

DEFAULT_CLIP = "data/videos/street_parking_a.mp4"
UPSCALES: dict[str, tuple[int, int]] = {"1080p": (1920, 1080), "1440p": (2560, 1440)}
UPSCALE_FPS = 30
UPSCALE_LOOPS = 3
UPSCALE_GOP_S = 2


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


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "epolice" / "bench"


def upscaled_clip(base: Path, size: tuple[int, int], log=lambda _: None) -> Path:  # noqa: ANN001 - BenchLog
    """``base`` scaled to ``size`` at 30 fps, looped three times, as a camera would encode it; cached."""
    w, h = size
    out = cache_dir() / f"{base.stem}_upscaled_{w}x{h}_{UPSCALE_FPS}fps_x{UPSCALE_LOOPS}.mp4"
    if out.is_file() and out.stat().st_size > 0:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    log(f"making the upscaled {w}x{h} clip from {base.name} (once; cached at {out})")
    tmp = out.with_name(out.stem + ".part.mp4")
    cmd = [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", str(UPSCALE_LOOPS - 1), "-i", str(base),
        "-an", "-vf", f"fps={UPSCALE_FPS},scale={w}:{h}:flags=bicubic", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
        "-g", str(UPSCALE_FPS * UPSCALE_GOP_S), "-keyint_min", str(UPSCALE_FPS * UPSCALE_GOP_S), "-sc_threshold", "0", "-bf", "0",
        "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"could not make the upscaled clip: {proc.stderr.strip()[-300:]}")
    tmp.replace(out)
    return out


def default_site(width: int, height: int, source: str) -> SiteConfig:
    """No site file: one camera of the video's size, no zones, every rule on, default models."""
    return SiteConfig(id="bench", cameras=[CameraConfig(id="bench", source=source, frame_size=(width, height))])


def scaled_camera(camera: CameraConfig, size: tuple[int, int]) -> CameraConfig:
    """The camera as seen at ``size``: frame size and zone polygons scaled by the same factors."""
    sx, sy = size[0] / camera.frame_size[0], size[1] / camera.frame_size[1]
    zones = [z.model_copy(update={"polygon": [(x * sx, y * sy) for x, y in z.polygon]}) for z in camera.zones]
    analysis = camera.analysis if camera.analysis == "full" else (int(camera.analysis[0] * sx) // 2 * 2, int(camera.analysis[1] * sy) // 2 * 2)
    return camera.model_copy(update={"frame_size": (int(size[0]), int(size[1])), "zones": zones, "analysis": analysis})


@dataclass(frozen=True)
class BenchOptions:
    video: Path
    site: SiteConfig
    camera_id: str
    upscaled_from: Path | None = None  # the clip the video was made from (reported as "upscaled")
    frames: int = 0  # 0 = the whole clip
    repeat: int = 3
    threads: int | None = None
    cameras: tuple[int, ...] = (1, 4)  # camera counts run in one process for peak memory
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
    upscaled_from: Path | None = None,
) -> tuple[SiteConfig, CameraConfig]:
    """The site and camera to benchmark, with --model/--detect-fps applied; checks the frame size
    (a site for the clip an upscaled video was made from is scaled to the video)."""
    from vision.sources.ffmpeg.command import output_size
    from vision.sources.ffmpeg.probe import probe

    info = probe(video)  # ProbeError (a DecodeError) with one line for a bad file
    size = output_size(info.width, info.height)
    if site is None:
        site = default_site(size[0], size[1], str(video))
    camera = site.camera(camera_id) if camera_id else site.cameras[0]
    if upscaled_from is not None and tuple(size) != tuple(camera.frame_size):
        base = probe(upscaled_from)
        if (base.width, base.height) == tuple(camera.frame_size):
            camera = scaled_camera(camera, size)
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


def frame_times(video: Path) -> list[float]:
    """Presentation times of the video's frames, from the container (nothing decoded)."""
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", str(video)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise BenchError(f"ffprobe cannot list the frames of {video}: {proc.stderr.strip()[-200:]}")
    times = sorted(float(x) for x in proc.stdout.split() if x.strip() and x.strip() != "N/A")
    return [t - times[0] for t in times] if times else []


def exact_end(video: Path, frames: int) -> tuple[float | None, int]:
    """(segment end, frame count) for the first ``frames`` frames (0 = all): the end lies halfway
    between the pts of the last wanted frame and the next one (None when the clip has no more)."""
    pts = frame_times(video)
    if not frames or len(pts) <= frames:
        return None, len(pts)
    return (pts[frames - 1] + pts[frames]) / 2.0, frames
