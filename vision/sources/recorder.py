"""Recording a camera's main stream while another stream (its sub-stream) feeds the analysis.

Most IP cameras offer a small sub-stream beside the full-resolution main stream. Detection then
reads the sub-stream (an ``RtspSource``), and this recorder copies the main stream into the
camera's ``Recording``, undecoded, reconnecting forever like the source does. The two streams are
separate RTSP sessions with unrelated timestamps, so the recording is placed on the analysis
frames' clock through wall time: the recorder's ``wall_offset`` (see ``ffmpeg.recorder``) against
the source's wall time at pts 0. Both are least-delay estimates from arrival times, so stills from
the main stream match the sub-stream's frames to within network jitter (a frame or two), not
exactly as with one stream recorded and analysed by one process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from vision.sources.backoff import Backoff
from vision.sources.ffmpeg.errors import FFmpegError
from vision.sources.ffmpeg.recorder import RecorderProcess
from vision.sources.recording import Recording
from vision.sources.redact import mask_url, redact, register_url_secrets
from vision.sources.rtsp import RtspConfig, validate_live_url

log = logging.getLogger(__name__)

REANCHOR_S = 0.002  # move the recording on the analysis clock when the estimate improves by this much


class StreamRecorder:
    """Copies ``url`` into ``recording`` in a background thread; ``clock()`` is the analysis source's
    wall time (epoch seconds) at its pts 0, or None until it knows."""

    def __init__(
        self, camera_id: str, url: str, recording: Recording, clock: Callable[[], float | None], config: RtspConfig | None = None
    ) -> None:
        register_url_secrets(url)
        self.url = validate_live_url(url)
        self.masked_url = mask_url(url)
        self.camera_id = camera_id
        self.recording = recording
        self.clock = clock
        self.config = config or RtspConfig()
        self.runs = 0
        self.last_error: str | None = None
        self._backoff = Backoff(self.config.backoff)
        self._stop = threading.Event()
        self._proc: RecorderProcess | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StreamRecorder:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"record-{self.camera_id}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        options = self.config.input_options()
        while not self._stop.is_set():
            output = self.recording.next_run(live=True)  # not probed: the first segment is kept (alignment here is by wall time anyway)
            self.runs += 1
            try:
                self._proc = proc = RecorderProcess(self.url, output, options)
            except FFmpegError as exc:
                self.last_error = redact(exc.reason)
            else:
                self.last_error = self._watch(proc)
                proc.stop()
                self.recording.end_run(output)
            if self._stop.is_set():
                break
            delay = self._backoff.next_delay()
            log.warning("recorder reconnecting in %.2fs", delay, extra={"camera": self.camera_id, "reason": self.last_error})
            self._stop.wait(delay)

    def _watch(self, proc: RecorderProcess) -> str:
        """Anchor the run on the analysis clock as estimates improve; returns why the run ended."""
        anchored: float | None = None
        started = time.monotonic()
        while not self._stop.wait(0.2):
            self.recording.refresh()  # index closed segments, delete expired ones
            if proc.returncode is not None:
                return redact(proc.log.reason("recorder ended"))
            if time.monotonic() - max(proc.last_progress, started) > self.config.reconnect_after_s:
                return f"no recording progress for {self.config.reconnect_after_s:.0f}s"
            zero = self.clock()
            if proc.wall_offset is None or zero is None:
                continue
            offset = proc.wall_offset - zero
            if anchored is None or abs(offset - anchored) >= REANCHOR_S:
                self.recording.anchor(proc.output, offset)
                if anchored is None:
                    self._backoff.reset()
                    log.info("recording", extra={"camera": self.camera_id, "source": self.masked_url})
                anchored = offset
        return "stopped"
