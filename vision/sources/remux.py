"""Evidence clips by stream copy, in process (PyAV): the camera's own packets into an MP4, never re-encoded.

Cuts fall on keyframes: a clip from a file starts at the keyframe at or before the window and runs
to the end of it; a clip from recorded segments is the whole segments that cover the window (each
starts with a keyframe). Timestamps start at 0. Copying costs a few hundredths of a CPU-second for
ten seconds of 1080p, where starting an ``ffmpeg`` process costs 0.13 and encoding cost seconds.
``+faststart`` puts the index first so the clip plays as it downloads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import av

from vision.sources.ffmpeg.errors import FFmpegError


def _copy(sources: Iterable[tuple[Path, float | None, float | None]], out: Path) -> tuple[float, float]:
    """Packets of each (file, start, end) in turn into ``out``; returns (first, last) packet time in the
    first file's stream seconds. ``start``: seek there and begin at the keyframe before it."""
    first_dts = None
    span = [None, None]
    try:
        with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as dst:
            target = None
            for path, start, end in sources:
                with av.open(str(path)) as src:
                    stream = src.streams.video[0]
                    tb = stream.time_base
                    zero = stream.start_time or 0
                    if target is None:
                        target = dst.add_stream_from_template(stream)
                    if start is not None and start > 0:
                        src.seek(zero + int(start / tb), stream=stream, backward=True, any_frame=False)
                    for pkt in src.demux(stream):
                        if pkt.dts is None or pkt.pts is None:
                            continue
                        if first_dts is None:
                            if not pkt.is_keyframe:
                                continue  # a clip opens on a keyframe
                            first_dts = pkt.dts
                        t = float((pkt.pts - zero) * tb)
                        if end is not None and t > end:
                            break
                        span[0] = t if span[0] is None else min(span[0], t)
                        span[1] = t if span[1] is None else max(span[1], t)
                        pkt.dts -= first_dts
                        pkt.pts -= first_dts
                        pkt.stream = target
                        dst.mux(pkt)
    except (av.error.FFmpegError, OSError) as exc:
        raise FFmpegError(str(out), f"clip copy failed: {exc}") from None
    if first_dts is None:
        out.unlink(missing_ok=True)
        raise FFmpegError(str(out), "clip copy found no keyframe in the window")
    return span[0], span[1]


def copy_file_clip(source: str | Path, start_s: float, end_s: float, out: Path) -> tuple[float, float]:
    """``source`` from the keyframe at or before ``start_s`` to ``end_s`` (seconds from the video
    stream's start) into ``out`` (MP4); returns the span copied."""
    if end_s <= start_s:
        raise ValueError(f"clip end {end_s} must be after its start {start_s}")
    return _copy([(Path(source), start_s, end_s)], out)


def copy_segments_clip(segments: Sequence[Path], out: Path) -> None:
    """Consecutive MPEG-TS segments of one recording run, whole, into ``out`` (MP4)."""
    if not segments:
        raise ValueError("no segments to copy")
    _copy([(Path(p), None, None) for p in segments], out)
