"""A recording-only FFmpeg process: one stream copied into rolling segments, nothing decoded.

Used when a camera's analysis reads another stream (its sub-stream), so the main stream is only
recorded. The process reports its progress (``-progress``) every ``stats_period``: each report
gives the output time of the last packet written, which, against the wall clock of its arrival,
ties the recording's timeline to wall time (``wall_offset``: the least-delayed report wins, as
network and buffering delays only ever add).
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Sequence

from vision.sources.ffmpeg.binary import FFMPEG, find_binary
from vision.sources.ffmpeg.command import GLOBAL_OPTIONS
from vision.sources.ffmpeg.decode_log import FFmpegLog
from vision.sources.ffmpeg.segments import SegmentOutput

log = logging.getLogger(__package__)  # the package logger: the RTSP source redacts camera URLs there

_OUT_TIME = re.compile(rb"^out_time_us=(\d+)")


def recorder_command(source: str, output: SegmentOutput, input_options: Sequence[tuple[str, str]] = (), stats_period: float = 0.2) -> list[str]:
    """``ffmpeg`` arguments copying the first video stream of ``source`` into ``output``'s segments."""
    args = [find_binary(FFMPEG), *GLOBAL_OPTIONS, "-progress", "pipe:1", "-stats_period", f"{stats_period:g}"]
    for key, value in input_options:
        args += [f"-{key}", str(value)]
    return [*args, "-i", source, "-map", "0:v:0", *output.args()]


class RecorderProcess:
    """One run of the recorder; ``wall_offset`` is the wall time (epoch s) at output time 0, once known."""

    def __init__(self, source: str, output: SegmentOutput, input_options: Sequence[tuple[str, str]] = ()) -> None:
        self.output = output
        self.log = FFmpegLog()
        self.wall_offset: float | None = None
        self.out_time: float = 0.0  # latest output time reported
        self.last_progress = time.monotonic()
        cmd = recorder_command(source, output, input_options)
        log.debug("ffmpeg: %s", " ".join(cmd))
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        self._threads = [
            threading.Thread(target=self._read_progress, name="recorder-progress", daemon=True),
            threading.Thread(target=self._read_log, name="recorder-stderr", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read_progress(self) -> None:
        stream = self._proc.stdout
        assert stream is not None
        for line in iter(stream.readline, b""):
            m = _OUT_TIME.match(line)
            if not m:
                continue
            now = time.time()
            self.last_progress = time.monotonic()
            self.out_time = int(m.group(1)) / 1e6
            if self.out_time <= 0:
                continue
            offset = now - self.out_time
            if self.wall_offset is None or offset < self.wall_offset:
                self.wall_offset = offset

    def _read_log(self) -> None:
        stream = self._proc.stderr
        assert stream is not None
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.log.add(line, self.out_time or None)

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    def stop(self) -> None:
        """End the run: SIGTERM lets FFmpeg close its last segment and list it; SIGKILL if it hangs."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for t in self._threads:
            t.join(timeout=5)
        for stream in (self._proc.stdout, self._proc.stderr):
            try:
                stream.close()  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - closing a dead pipe may fail; nothing to do
                pass
