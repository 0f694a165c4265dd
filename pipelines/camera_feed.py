"""How a camera's analysis frames and evidence footage are opened: one recipe for batch, eval, bench and live.

Analysis frames come from FFmpeg at the camera's detection rate and analysis size (frames the
detector would skip are never converted, see ``vision.sources.ffmpeg.command``), so the engine
treats every frame as a detection frame (``source_selects``). Evidence pixels come from the
camera's own bitstream: the recorded file itself (``FileFootage``) or, live, rolling segments the
same FFmpeg process copies from the stream (``Recording``); a camera with a ``detect_source``
records its main stream with a second process and analyses the sub-stream.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipelines.config import CameraConfig, SiteConfig
from pipelines.live.config import LiveConfig
from vision.sources.clock import ClockConfig
from vision.sources.file import FileSource
from vision.sources.footage import FileFootage, RecordedFootage
from vision.sources.health import HealthEvent
from vision.sources.recorder import StreamRecorder
from vision.sources.recording import Recording
from vision.sources.rtsp import RtspSource


@dataclass(frozen=True)
class FileFeed:
    source: FileSource
    footage: FileFootage
    source_selects: bool  # the source hands over only the detection schedule's frames


def file_feed(
    camera: CameraConfig,
    path: str | Path,
    *,
    clock: ClockConfig | None = None,
    start_time: datetime | None = None,
    hwaccel: str | None = "auto",
    start_seconds: float | None = None,
    end_seconds: float | None = None,
    stride: int | None = None,
    target_fps: float | None = None,
) -> FileFeed:
    """A recorded file as the camera's analysis frames and footage. An explicit ``stride`` or
    ``target_fps`` (batch options) is honoured as given, and the engine then keeps its own schedule."""
    own = stride is None and target_fps is None
    source = FileSource(
        path, camera.id, stride=stride, target_fps=target_fps, detect_fps=camera.detect_fps if own else None,
        size=camera.analysis_size(), start_time=start_time, clock=clock, hwaccel=hwaccel,
        start_seconds=start_seconds, end_seconds=end_seconds,
    )
    return FileFeed(source, FileFootage(path, source.info), own)


@dataclass
class LiveFeed:
    source: RtspSource
    footage: RecordedFootage
    recording: Recording
    recorder: StreamRecorder | None  # the main stream's recorder, for a camera analysed on its sub-stream

    def start(self) -> None:
        self.source.start()
        if self.recorder is not None:
            self.recorder.start()

    def stop(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()
        self.source.stop()
        self.recording.close()


def live_feed(
    site: SiteConfig,
    camera: CameraConfig,
    live: LiveConfig,
    *,
    on_health: Callable[[HealthEvent], None] | None = None,
    notify: threading.Event | None = None,
) -> LiveFeed:
    """An RTSP camera: its reader (analysis frames, and the recording when it reads the main stream)."""
    folder = live.recordings / re.sub(r"[^A-Za-z0-9_.-]+", "_", camera.id)
    recording = Recording(folder, site.footage_keep_s(camera), live.segment_s)
    common = dict(on_health=on_health, notify=notify, size=camera.analysis_size(), detect_fps=camera.detect_fps)
    if camera.detect_source is None:
        source = RtspSource(camera.id, camera.source, live.rtsp, record=recording, **common)
        return LiveFeed(source, RecordedFootage(recording), recording, None)
    # one decoder thread: the sub-stream is small, and its frame times then track arrival as closely
    # as the recorder's, which places the main stream on the same clock
    source = RtspSource(camera.id, camera.detect_source, live.rtsp, aspect=camera.frame_size, decoder_threads=1, **common)
    recorder = StreamRecorder(camera.id, camera.source, recording, lambda: source.wall_at_zero, live.rtsp)
    return LiveFeed(source, RecordedFootage(recording), recording, recorder)
