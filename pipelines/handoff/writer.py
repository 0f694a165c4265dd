"""Packaging off the inference loop: a small thread pool writes packages and hands on their records.

Decoding the full-resolution stills and copying the clip from the camera's footage
(``resolve``), JPEG encoding, signing, fsync and the record write happen here, so a slow disk
delays records, never decoding or detection. The pool is bounded: at most ``max_in_flight``
packages wait or run at once, and ``submit`` blocks beyond that, which is the back-pressure the
inference loop feels instead of memory growing. With ``threads=0`` packages are written in the
caller's thread (the bench times them that way).

Nothing is lost silently. A failure is logged first (with the event), then counted, then the event
is saved as JSON under ``failed_dir``; a package whose record could not be delivered stays on disk
and the log names the ``epolice records ingest`` command that stores it. When even the event cannot
be saved (disk full), it is held in memory (``unsaved``) and ``submit`` holds the caller until the
held events can be written (back-pressure: the latest-frame queues drop and count frames meanwhile);
at shutdown, events still held go to the log as JSON, the last place left.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from evidence.atomic import replace_durable
from evidence.config import EvidenceConfig
from evidence.event import ViolationEvent
from evidence.package import PackageInput, write_package
from evidence.signing import Signer
from evidence.store.records import NewRecord
from pipelines.handoff.frames import PackageRequest
from pipelines.handoff.resolve import resolved

log = logging.getLogger(__name__)

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
ROOM_BYTES = 4 << 20  # free room a full disk must have again before packaging resumes


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


class EvidenceWriter:
    """Packages events (in worker threads, or inline with ``threads=0``) and passes each record to ``output``."""

    def __init__(
        self,
        cfg: EvidenceConfig,
        signer: Signer,
        output: Callable[[NewRecord], bool],
        failed_dir: Path,
        threads: int = 2,
        on_done: Callable[[str, bool, bool], None] | None = None,
        max_in_flight: int | None = None,
        disk_retry_s: float = 2.0,
        room_bytes: int = ROOM_BYTES,
    ) -> None:
        self.cfg = cfg
        self.signer = signer
        self.output = output
        self.failed_dir = Path(failed_dir)
        self.on_done = on_done  # (camera_id, packaged ok, record reached its destination)
        self.max_in_flight = max(1, max_in_flight if max_in_flight is not None else 4 * max(threads, 1))
        self.disk_retry_s = disk_retry_s
        self.room_bytes = room_bytes
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="evidence") if threads > 0 else None
        self._futures: dict[Future, PackageInput | PackageRequest] = {}
        self._cond = threading.Condition()
        self._held: list[ViolationEvent] = []  # events not even saved as JSON (disk full): kept until they can be
        self._closing = threading.Event()
        self.written = 0
        self.failed = 0
        self.record_failures = 0  # packages written whose record was not delivered (kept for `records ingest`)
        self.unsaved_total = 0  # events that could not be saved when they failed (held, then saved or logged)
        self.disk_full = False
        self.last_error: str | None = None  # why the latest package failed (status pages, the bench)
        self.waits = 0  # submits that had to wait for room (back-pressure applied)
        self.wait_s = 0.0
        self.disk_waits = 0  # submits held because the disk was full
        self.disk_wait_s = 0.0

    @property
    def unsaved(self) -> int:
        """Events held in memory now because the disk was full when they failed."""
        with self._cond:
            return len(self._held)

    def submit(self, inp: PackageInput | PackageRequest) -> Future:
        """Queue one package (pixels at hand, or a request whose pixels are fetched from the footage
        first); blocks while ``max_in_flight`` packages are already queued or running, and while the
        disk is full."""
        self._wait_for_disk()
        if self._pool is None:
            fut: Future = Future()
            fut.set_result(self._write(inp))
            return fut
        with self._cond:
            if len(self._futures) >= self.max_in_flight:
                t0 = time.monotonic()
                self.waits += 1
                self._cond.wait_for(lambda: len(self._futures) < self.max_in_flight)
                self.wait_s += time.monotonic() - t0
            fut = self._pool.submit(self._write, inp)
            self._futures[fut] = inp
        fut.add_done_callback(self._forget)
        return fut

    def _forget(self, fut: Future) -> None:
        with self._cond:
            self._futures.pop(fut, None)
            self._cond.notify_all()

    @property
    def in_flight(self) -> int:
        with self._cond:
            return len(self._futures)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every queued package is done; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._futures, timeout)

    def _count(self, ok: bool) -> None:
        with self._cond:
            if ok:
                self.written += 1
            else:
                self.failed += 1

    def _write(self, item: PackageInput | PackageRequest) -> bool:
        ev = item.event
        try:
            try:
                if isinstance(item, PackageRequest):
                    with resolved(item) as inp:
                        ev = inp.event  # key frames in the stills' pixels, the plate when read here
                        info = write_package(inp, self.cfg, self.signer)
                else:
                    info = write_package(item, self.cfg, self.signer)
            except Exception as exc:  # noqa: BLE001 - one bad event must not stop the others
                self._failed(ev, exc, "evidence package could not be written")
                return False
            try:
                delivered = self.output(NewRecord.from_package(ev, info))
            except Exception as exc:  # noqa: BLE001 - store busy or down, spool full
                with self._cond:
                    self.record_failures += 1
                self._failed(ev, exc, "evidence package written but its record was not stored; store it with "
                                      f"`epolice records ingest {info.path}`")
                return False
            self._count(True)
            log.info(
                "violation recorded",
                extra={"camera": ev.camera_id, "rule": ev.rule, "event_key": ev.event_key, "track": ev.track_id,
                       "package": str(info.path), "delivered": delivered},
            )
            if self.on_done:
                self.on_done(ev.camera_id, True, delivered)
            return True
        except Exception:  # noqa: BLE001 - never let an error die unread in a Future
            log.exception("evidence writer failed", extra={"camera": ev.camera_id, "event_key": ev.event_key})
            return False

    def _failed(self, ev: ViolationEvent, exc: Exception, what: str) -> None:
        """Log first, count, then keep the event: saved as JSON, else held in memory."""
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.error("event %s: %s (%s)", ev.event_key, what, self.last_error,
                  extra={"camera": ev.camera_id, "rule": ev.rule, "event_key": ev.event_key, "error": str(exc)})
        self._count(False)
        if is_disk_full(exc):
            self.disk_full = True
        if self.on_done:
            try:
                self.on_done(ev.camera_id, False, False)
            except Exception:  # noqa: BLE001 - a metrics callback must not lose the event
                log.exception("evidence callback failed", extra={"event_key": ev.event_key})
        self.keep(ev)

    def keep(self, event: ViolationEvent) -> Path | None:
        """Durably keep an event that has no package (yet): saved as JSON; when even that fails, held in
        memory (and logged with its JSON) until ``retry_unsaved`` can save it. Never raises."""
        try:
            path = self.save_failed(event)
        except Exception as exc:  # noqa: BLE001 - disk full, folder gone: the event stays in memory
            with self._cond:
                self._held.append(event)
                self.unsaved_total += 1
            if is_disk_full(exc):
                self.disk_full = True
            log.critical("event %s could not be saved (%s); held in memory until there is room: %s", event.event_key, exc,
                         event.model_dump_json(), extra={"event_key": event.event_key, "camera": event.camera_id})
            return None
        log.warning("event saved for a later retry", extra={"event_key": event.event_key, "saved": str(path)})
        return path

    def save_failed(self, event: ViolationEvent) -> Path:
        """Durably keep an event that has no package (yet): its JSON, fsynced."""
        self.failed_dir.mkdir(parents=True, exist_ok=True)
        path = self.failed_dir / f"{event.event_key}.json"
        replace_durable(path, event.model_dump_json(indent=2).encode())
        return path

    def retry_unsaved(self) -> bool:
        """Save the held events, and check the disk has room for packages again; True when it does."""
        return self._save_held() and self._has_room()

    def _save_held(self) -> bool:
        with self._cond:
            held, self._held = self._held, []
        for i, ev in enumerate(held):
            try:
                self.save_failed(ev)
            except Exception:  # noqa: BLE001 - still no room
                with self._cond:
                    self._held = held[i:] + self._held
                return False
        if held:
            log.warning("held events saved", extra={"count": len(held), "folder": str(self.failed_dir)})
        return True

    def _has_room(self) -> bool:
        """Can ``room_bytes`` be written where packages go? (A probe file, written, fsynced, removed.)"""
        probe = Path(self.cfg.output_dir) / f".room-probe-{os.getpid()}-{threading.get_ident()}"
        try:
            probe.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(bytes(self.room_bytes))
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            return True
        except OSError:
            return False
        finally:
            probe.unlink(missing_ok=True)

    def _wait_for_disk(self) -> None:
        """Back-pressure while the disk is full: hold the caller until the held events are saved and
        there is room for packages again (or the writer shuts down)."""
        if not self.disk_full:
            return
        t0 = time.monotonic()
        self.disk_waits += 1
        log.error("disk full: evidence paused, holding the inference loop until there is room",
                  extra={"folder": str(self.cfg.output_dir), "held": self.unsaved})
        while not self._closing.is_set():
            if self.retry_unsaved():
                self.disk_full = False
                log.warning("disk has room again; evidence resumes", extra={"waited_s": round(time.monotonic() - t0, 1)})
                break
            self._closing.wait(self.disk_retry_s)
        self.disk_wait_s += time.monotonic() - t0

    def shutdown(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for queued packages; events still waiting are saved. Returns that count."""
        self._closing.set()
        unfinished = 0
        if self._pool is not None:
            with self._cond:
                futures = dict(self._futures)
            _, not_done = wait(set(futures), timeout=timeout)
            self._pool.shutdown(wait=False, cancel_futures=True)
            for fut in not_done:
                item = futures[fut]
                log.warning("shutdown before evidence finished; keeping the event", extra={"event_key": item.event.event_key})
                self.keep(item.event)
                if isinstance(item, PackageRequest) and fut.cancelled():
                    item.release()
            unfinished = len(not_done)
        if not self._save_held():
            with self._cond:
                held = list(self._held)
            for ev in held:  # the log is the last place left
                log.critical("shutting down with event %s that could not be saved: %s", ev.event_key, ev.model_dump_json(),
                             extra={"event_key": ev.event_key})
        return unfinished
