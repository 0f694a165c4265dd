"""The standalone runs: decoding alone, decoding with a 640-wide BGR conversion, the analysis source
alone, and the detector alone; together they give the floor a pipeline cannot beat."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from pipelines.bench.figures import BenchError, Timing, cpu_seconds
from pipelines.config import CameraConfig

FLOOR_WIDTH = 640  # the floor's conversion: every frame scaled to this width, BGR, inside FFmpeg


def _ffmpeg(video: Path, end_s: float | None, output: list[str]) -> Timing:
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(video)]
    if end_s is not None:
        cmd += ["-t", f"{end_s:.6f}"]
    cmd += ["-map", "0:v:0", *output]
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    if proc.returncode != 0:
        raise BenchError(f"ffmpeg failed on {video}: {proc.stderr.strip().splitlines()[-1:]}")
    return Timing(0, wall, cpu)


def measure_decode_null(video: Path, end_s: float | None) -> Timing:
    """Demux + decode only: ffmpeg to the null muxer (no pixel conversion, nothing piped out)."""
    return _ffmpeg(video, end_s, ["-f", "null", "-"])


def measure_decode_scaled(video: Path, end_s: float | None, size: tuple[int, int]) -> Timing:
    """Demux + decode + every frame scaled to ``FLOOR_WIDTH`` wide and converted to BGR inside FFmpeg,
    piped out and thrown away: what the detector's input costs when every frame is converted."""
    w = FLOOR_WIDTH
    h = max(2, int(round(w * size[1] / size[0] / 2)) * 2)
    return _ffmpeg(video, end_s, ["-vf", f"scale={w}:{h}:flags=area", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"])


def measure_source(video: Path, camera: CameraConfig, end_s: float | None) -> Timing:
    """The engine's analysis source alone (detection rate, analysis size), nothing done with its frames."""
    from pipelines.camera_feed import file_feed

    source = file_feed(camera, video, hwaccel="none", end_seconds=end_s).source
    n = 0
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    for _ in source.frames():
        n += 1
    return Timing(n, time.perf_counter() - t0, cpu_seconds() - cpu0)


def measure_detector_only(detector, video: Path, camera: CameraConfig, end_s: float | None, expected: int, sample: int = 48) -> Timing:
    """Detector.detect alone, one call per frame as the engine makes, on up to ``sample`` analysis
    frames spread over the clip (of about ``expected``; only those are kept in memory); ``frames``
    counts the calls."""
    from pipelines.camera_feed import file_feed

    step = max(1, expected // sample)
    source = file_feed(camera, video, hwaccel="none", end_seconds=end_s).source
    images = [f.image for i, f in enumerate(source.frames()) if i % step == 0][:sample]
    detector.detect(images[:1])  # warm
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    for image in images:
        detector.detect([image])
    return Timing(len(images), time.perf_counter() - t0, cpu_seconds() - cpu0)
