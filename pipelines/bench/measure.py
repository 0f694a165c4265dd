"""The standalone runs: decode alone, FileSource alone, and the detector alone on the engine's frames."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from pipelines.bench.figures import BenchError, Timing, cpu_seconds
from pipelines.bench.inputs import frame_source


def measure_decode_null(video: Path, frames: int) -> Timing:
    """Demux + decode only: ffmpeg to the null muxer (no pixel conversion, nothing piped out)."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(video), "-map", "0:v:0"]
    if frames:
        cmd += ["-frames:v", str(frames)]
    cmd += ["-f", "null", "-"]
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    if proc.returncode != 0:
        raise BenchError(f"ffmpeg -f null failed on {video}: {proc.stderr.strip().splitlines()[-1:]}")
    return Timing(frames, wall, cpu)


def measure_source(video: Path, camera_id: str, end_s: float | None) -> Timing:
    """Decode + convert + hand-over: FileSource frames, nothing done with them."""
    source = frame_source(video, camera_id, end_s)
    n = 0
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    for _ in source.frames():
        n += 1
    return Timing(n, time.perf_counter() - t0, cpu_seconds() - cpu0)


def measure_detector_only(detector, video: Path, camera_id: str, end_s: float | None, seqs: set[int]) -> Timing:
    """Detector.detect alone on the frames the engine detected, decoded once into memory beforehand
    (one call per frame, as the engine makes); ``frames`` counts the detected frames."""
    images = [f.image for f in frame_source(video, camera_id, end_s).frames() if f.seq in seqs]
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    for image in images:
        detector.detect([image])
    return Timing(len(images), time.perf_counter() - t0, cpu_seconds() - cpu0)
