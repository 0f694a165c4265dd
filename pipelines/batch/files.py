"""Which files a batch covers, and how a file is recognised again (for resuming).

A file's identity is its size plus a SHA-256 over three 1 MiB samples (start, middle, end): cheap
on multi-gigabyte recordings, unchanged by copying or moving the file (unlike mtime), and changed
by any re-export or truncation that matters.
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".avi", ".ts", ".flv", ".mov", ".m4v", ".mts", ".m2ts", ".h264", ".h265", ".hevc", ".dav", ".ps", ".mpg", ".mpeg", ".webm"})
SAMPLE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class InputProblem:
    """An input the batch could not even start on (nothing matched, unreadable)."""

    path: str
    reason: str


def expand_inputs(items: list[str]) -> tuple[list[Path], list[InputProblem]]:
    """Files for PATHS|GLOB arguments: files as given, folders searched recursively for video
    extensions, glob patterns (``**`` recursive) expanded. Sorted, duplicates removed."""
    found: list[Path] = []
    problems: list[InputProblem] = []
    for item in items:
        path = Path(item).expanduser()
        if any(ch in item for ch in "*?["):
            matches = [Path(m) for m in sorted(glob.glob(os.path.expanduser(item), recursive=True)) if Path(m).is_file()]
            if not matches:
                problems.append(InputProblem(item, "no files match this pattern"))
            found.extend(matches)
        elif path.is_dir():
            videos = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
            if not videos:
                problems.append(InputProblem(item, "folder holds no video files"))
            found.extend(videos)
        elif path.exists():
            found.append(path)
        else:
            problems.append(InputProblem(item, "file not found"))
    seen: set[Path] = set()
    unique: list[Path] = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique, problems


def file_key(path: str | Path) -> str:
    """Content identity of a file (module docstring)."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with p.open("rb") as fh:
        offsets = sorted({0, max(0, size // 2 - SAMPLE_BYTES // 2), max(0, size - SAMPLE_BYTES)})
        for off in offsets:
            fh.seek(off)
            h.update(fh.read(SAMPLE_BYTES))
    return h.hexdigest()[:24]
