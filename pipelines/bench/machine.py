"""The machine a benchmark ran on (CPU, cores, versions, load), so figures can be compared."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MachineInfo:
    cpu_model: str
    cpu_count: int
    cpus_usable: int
    python: str
    platform: str
    onnxruntime: str
    providers: list[str]
    threads: str  # ONNX Runtime intra-op threads per session as requested
    ffmpeg: str
    load_avg_start: tuple[float, float, float]
    load_avg_end: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ffmpeg_version() -> str:
    exe = shutil.which("ffmpeg")
    if not exe:
        return "not found"
    out = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True, timeout=10).stdout
    return out.splitlines()[0] if out else "unknown"


def machine_info(threads: int | None, providers: list[str]) -> MachineInfo:
    import onnxruntime as ort

    return MachineInfo(
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count() or 1,
        cpus_usable=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
        python=platform.python_version(),
        platform=platform.platform(),
        onnxruntime=ort.__version__,
        providers=list(providers),
        threads=str(threads) if threads else "onnxruntime default (one per core)",
        ffmpeg=_ffmpeg_version(),
        load_avg_start=tuple(round(v, 2) for v in os.getloadavg()),
    )
