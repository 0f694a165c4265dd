"""Rolling stream copy: the segment muxer's options, and the list of segments it has closed.

A camera's own bitstream is copied (``-c copy``: no decode, no encode) into short MPEG-TS files cut
at keyframes, so evidence can later decode full-resolution stills and cut clips from it while the
live path never holds a full-resolution frame. MPEG-TS because a file cut off by a crash or a kill
is still readable up to where it stops, and because each file starts with a keyframe and decodes on
its own. ``-segment_list_flags +live`` makes FFmpeg append one CSV line per segment as it closes
it: ``name,start,end`` in seconds on the process's output timeline (the timeline of the frames it
decodes in the same run, so recorded and analysed frames line up exactly).

A network camera whose stream has B-frames hands FFmpeg its first packets without timestamps (RTP
carries presentation times only; the demuxer infers decode times once it has seen the reordering,
and FFmpeg guesses the missing ones), and the MPEG-TS muxer refuses a first packet without a
presentation time. For a live input the copy therefore gives such a packet its decode time as
presentation time (``setts``). The guessed times of the run's first few packets are not the
camera's, so a live run with B-frames cannot time the frames of its first segment
(``Recording`` drops it); from the next keyframe on, every packet carries the camera's own times.
Files always carry both times and are copied as they are.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__package__)

SEGMENT_SUFFIX = ".ts"


@dataclass(frozen=True, slots=True)
class SegmentOutput:
    """Where one FFmpeg run writes its segments: ``<directory>/<prefix>_NNNNNN.ts`` and ``<prefix>.csv``.

    ``segment_s``: a new file starts at the first keyframe at least this long after the last cut,
    so files are as short as the camera's keyframe interval allows (a still costs at most one
    file's decoding).
    """

    directory: Path
    prefix: str
    segment_s: float = 1.0
    live: bool = False  # the input is a network stream (see the module docstring)

    @property
    def list_path(self) -> Path:
        return self.directory / f"{self.prefix}.csv"

    @property
    def pattern(self) -> str:
        return str(self.directory / f"{self.prefix}_%06d{SEGMENT_SUFFIX}")

    def files(self) -> list[Path]:
        """Every segment file of this run on disk, listed or not (the last one may still be open)."""
        return sorted(self.directory.glob(f"{self.prefix}_*{SEGMENT_SUFFIX}"))

    def output_options(self) -> dict[str, object]:
        """ffmpeg-python output keyword arguments (the first video stream, copied)."""
        fill_pts = {"bsf:v": r"setts=pts=if(eq(PTS\,NOPTS)\,DTS\,PTS)"} if self.live else {}
        return {
            "c": "copy",
            **fill_pts,
            "f": "segment",
            "segment_time": f"{self.segment_s:g}",
            "segment_format": "mpegts",
            "segment_list": str(self.list_path),
            "segment_list_type": "csv",
            "segment_list_flags": "+live",
            "reset_timestamps": 0,
            "an": None,
            "sn": None,
            "dn": None,
        }

    def args(self) -> list[str]:
        """The same options as ffmpeg command-line arguments, ending with the file pattern."""
        out: list[str] = []
        for key, value in self.output_options().items():
            out.append(f"-{key}")
            if value is not None:
                out.append(str(value))
        return [*out, self.pattern]


@dataclass(frozen=True, slots=True)
class SegmentEntry:
    """One closed segment: its file and its span on the recording run's output timeline (seconds)."""

    path: Path
    start: float
    end: float


def read_segment_list(output: SegmentOutput, offset: int = 0) -> tuple[list[SegmentEntry], int]:
    """The segments FFmpeg has closed since byte ``offset`` of the list, in order, and the offset to
    read on from (a camera's list grows all day: each refresh reads only what is new). A
    half-written last line is left for later."""
    try:
        with output.list_path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]
    entries: list[SegmentEntry] = []
    for row in csv.reader(complete.decode("utf-8", errors="replace").splitlines()):
        if len(row) < 3:
            continue
        try:
            start, end = float(row[-2]), float(row[-1])
        except ValueError:
            log.debug("unreadable segment list line %r in %s", row, output.list_path)
            continue
        entries.append(SegmentEntry(output.directory / ",".join(row[:-2]), start, end))
    return entries, offset + len(complete)
