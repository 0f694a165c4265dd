"""Packaging off the inference loop: a small thread pool writes packages and hands on their records.

JPEG and H.264 encoding, signing, fsync and the record write happen here, so a slow disk delays
records, never decoding or detection. The pool is bounded: at most ``max_in_flight`` packages wait
or run at once (each holds its clip frames), and ``submit`` blocks beyond that, which is the
back-pressure the inference loop feels instead of memory growing. With ``threads=0`` packages are
written in the caller's thread (the bench times them that way).

An event whose package cannot be written is saved as JSON under ``failed_dir``: nothing is lost.
"""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)


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
    ) -> None:
        self.cfg = cfg
        self.signer = signer
        self.output = output
        self.failed_dir = Path(failed_dir)
        self.on_done = on_done  # (camera_id, packaged ok, record reached its destination)
        self.max_in_flight = max(1, max_in_flight if max_in_flight is not None else 4 * max(threads, 1))
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="evidence") if threads > 0 else None
        self._futures: dict[Future, ViolationEvent] = {}
        self._cond = threading.Condition()
        self.written = 0
        self.failed = 0
        self.last_error: str | None = None  # why the latest package failed (status pages, the bench)
        self.waits = 0  # submits that had to wait for room (back-pressure applied)
        self.wait_s = 0.0

    def submit(self, inp: PackageInput) -> Future:
        """Queue one package; blocks while ``max_in_flight`` packages are already queued or running."""
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
            self._futures[fut] = inp.event
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

    def _write(self, inp: PackageInput) -> bool:
        ev = inp.event
        try:
            info = write_package(inp, self.cfg, self.signer)
            delivered = self.output(NewRecord.from_package(ev, info))
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the others
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._count(False)
            path = self.save_failed(ev)
            log.error(
                "evidence failed (%s); event saved to %s", exc, path,
                extra={"camera": ev.camera_id, "rule": ev.rule, "event_key": ev.event_key, "error": str(exc), "saved": str(path)},
            )
            if self.on_done:
                self.on_done(ev.camera_id, False, False)
            return False
        self._count(True)
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
        if self._pool is None:
            return 0
        with self._cond:
            futures = dict(self._futures)
        _, not_done = wait(set(futures), timeout=timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for fut in not_done:
            path = self.save_failed(futures[fut])
            log.warning("shutdown before evidence finished; event saved", extra={"event_key": futures[fut].event_key, "saved": str(path)})
        return len(not_done)
