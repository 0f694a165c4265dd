"""Evidence off the hot path: events wait for their clip's "after" frames, then a thread pool packages them.

The inference loop only does cheap bookkeeping per event: it remembers the event and, once the
camera's clock has passed ``clip_after_s`` beyond the moment the rule fired, hands the key frames
and the clip frames (references into the ring buffer, no copies) to a thread pool. JPEG and H.264
encoding, signing, fsync and the record write happen there, so a slow disk delays records, never
decoding or detection. On shutdown every waiting event is packaged at once with the frames it has.
An event whose package cannot be written is saved as JSON under ``failed_dir``: nothing is lost.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from evidence.atomic import replace_durable
from evidence.config import EvidenceConfig
from evidence.event import ViolationEvent
from evidence.package import CaptureContext, ClipFrames, PackageInput, write_package
from evidence.signing import Signer
from evidence.store.records import NewRecord
from pipelines.config import CameraConfig, SiteConfig
from pipelines.engine import CameraPipeline

log = logging.getLogger(__name__)


def capture_context(site: SiteConfig, camera: CameraConfig) -> CaptureContext:
    return CaptureContext(
        site_id=site.id,
        site_name=site.name or site.id,
        device_id=camera.id,
        direction=camera.direction,
        lane=camera.lane or "",
        timezone=site.timezone,
    )


class FrameIndex:
    """(seq, pts) of the frames a camera's ring buffer received, for the last ``seconds``.

    The ring is looked up by seq; this index says which seqs fall in a clip's time window
    (a live camera's seqs have gaps where the latest-frame queue dropped frames).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._items: deque[tuple[int, float]] = deque()

    def add(self, seq: int, pts: float) -> None:
        self._items.append((seq, pts))
        while self._items and pts - self._items[0][1] > self.seconds:
            self._items.popleft()

    @property
    def last_pts(self) -> float:
        return self._items[-1][1] if self._items else float("-inf")

    def between(self, t0: float, t1: float) -> list[int]:
        return [seq for seq, pts in self._items if t0 <= pts <= t1]


@dataclass
class PendingEvent:
    event: ViolationEvent
    fire_pts: float  # camera clock when the rule fired
    due_pts: float  # package once the camera clock passes this (clip_after_s later)
    due_mono: float  # ... or once this monotonic time passes (the camera went dark meanwhile)


@dataclass
class CameraEvidence:
    """Per-camera evidence state held by the inference loop (single-threaded)."""

    pipeline: CameraPipeline
    context: CaptureContext
    index: FrameIndex
    pending: list[PendingEvent] = field(default_factory=list)


def package_input(cam: CameraEvidence, pending: PendingEvent, cfg: EvidenceConfig) -> PackageInput:
    """Key images and clip frames for an event, from the camera's ring buffer (called on the inference thread)."""
    pipe = cam.pipeline
    key_images = {seq: f.image for seq, f in pipe.frames_for(pending.event).items()}
    t0, t1 = pending.fire_pts - cfg.clip_before_s, pending.fire_pts + cfg.clip_after_s
    frames = [f for f in (pipe.frame(s) for s in cam.index.between(t0, t1)) if f is not None and f.image.size]
    clip = None
    if len(frames) >= 2:
        span = frames[-1].pts - frames[0].pts
        clip = ClipFrames(frames=[f.image for f in frames], fps=max(1.0, (len(frames) - 1) / span) if span > 0 else 1.0)
    return PackageInput(event=pending.event, key_images=key_images, context=cam.context, clip=clip)


class EvidenceWriter:
    """Packages events in worker threads and passes each record to ``output``."""

    def __init__(
        self,
        cfg: EvidenceConfig,
        signer: Signer,
        output: Callable[[NewRecord], bool],
        failed_dir: Path,
        threads: int = 2,
        on_done: Callable[[str, bool, bool], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.signer = signer
        self.output = output
        self.failed_dir = Path(failed_dir)
        self.on_done = on_done  # (camera_id, packaged ok, record reached its destination)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="evidence")
        self._futures: dict[Future, ViolationEvent] = {}
        self._lock = threading.Lock()
        self.written = 0
        self.failed = 0

    def submit(self, inp: PackageInput) -> Future:
        fut = self._pool.submit(self._write, inp)
        with self._lock:
            self._futures[fut] = inp.event
        fut.add_done_callback(self._forget)
        return fut

    def _forget(self, fut: Future) -> None:
        with self._lock:
            self._futures.pop(fut, None)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._futures)

    def _write(self, inp: PackageInput) -> bool:
        ev = inp.event
        try:
            info = write_package(inp, self.cfg, self.signer)
            delivered = self.output(NewRecord.from_package(ev, info))
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the others
            self.failed += 1
            path = self.save_failed(ev)
            log.error(
                "evidence failed (%s); event saved to %s", exc, path,
                extra={"camera": ev.camera_id, "rule": ev.rule, "event_key": ev.event_key, "error": str(exc), "saved": str(path)},
            )
            if self.on_done:
                self.on_done(ev.camera_id, False, False)
            return False
        self.written += 1
        log.info(
            "violation recorded",
            extra={"camera": ev.camera_id, "rule": ev.rule, "event_key": ev.event_key, "track": ev.track_id, "package": str(info.path), "delivered": delivered},
        )
        if self.on_done:
            self.on_done(ev.camera_id, True, delivered)
        return True

    def save_failed(self, event: ViolationEvent) -> Path:
        """Durably keep an event that has no package (yet): its JSON, fsynced."""
        self.failed_dir.mkdir(parents=True, exist_ok=True)
        path = self.failed_dir / f"{event.event_key}.json"
        replace_durable(path, event.model_dump_json(indent=2).encode())
        return path

    def shutdown(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for queued packages; events still waiting are saved. Returns that count."""
        with self._lock:
            futures = dict(self._futures)
        _, not_done = wait(set(futures), timeout=timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for fut in not_done:
            path = self.save_failed(futures[fut])
            log.warning("shutdown before evidence finished; event saved", extra={"event_key": futures[fut].event_key, "saved": str(path)})
        return len(not_done)
