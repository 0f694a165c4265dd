"""Events wait here for their clip's after-window, then go to the writer: one loop for live, batch and bench.

An event fires at ``fire_pts`` on its camera's clock. Its clip runs ``clip_after_s`` beyond that,
so it is packaged once the camera's newest frame and its recorded footage have passed
``fire_pts + clip_after_s``, or (live cameras only, ``grace_s``) once that much wall time has gone
by, in case the camera went dark. From the moment it is added the event holds the footage it needs
(its key frames may be minutes old), so retention never deletes it while it waits.
``service(force=True)`` packages everything at once with the frames it has (end of a file,
a camera handed to another worker, shutdown).

Bounded: at most ``max_waiting`` events wait; beyond that the oldest is packaged early (with a
shorter clip) and counted, and the writer bounds the packages in flight.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from evidence.config import EvidenceConfig
from evidence.event import ViolationEvent
from pipelines.handoff.frames import CameraEvidence, PackageRequest, package_request
from pipelines.handoff.writer import EvidenceWriter

log = logging.getLogger(__name__)


@dataclass
class PendingEvent:
    request: PackageRequest
    fire_pts: float  # camera clock when the rule fired
    due_pts: float  # package once the camera clock passes this (clip_after_s later)
    due_mono: float  # ... or once this monotonic time passes (the camera went dark meanwhile)

    @property
    def camera(self) -> CameraEvidence:
        return self.request.camera

    @property
    def event(self) -> ViolationEvent:
        return self.request.event


class EvidenceQueue:
    def __init__(self, cfg: EvidenceConfig, writer: EvidenceWriter, *, grace_s: float | None = None, max_waiting: int = 256) -> None:
        self.cfg = cfg
        self.writer = writer
        self.grace_s = grace_s  # None: only the camera clock makes an event due (recorded files)
        self.max_waiting = max_waiting
        self._waiting: list[PendingEvent] = []
        self.submitted = 0
        self.forced_early = 0  # packaged before their clip was complete because too many waited
        self.collect_failures = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, cam: CameraEvidence, event: ViolationEvent, fire_pts: float) -> None:
        after = self.cfg.clip_after_s
        due_mono = math.inf if self.grace_s is None else time.monotonic() + after + self.grace_s
        try:
            request = package_request(cam, event, fire_pts, self.cfg)
        except Exception:  # noqa: BLE001 - the event is kept as JSON; the loop goes on
            self.collect_failures += 1
            log.exception("preparing evidence failed", extra={"camera": cam.camera_id, "event_key": event.event_key})
            self.writer.keep(event)
            return
        self._waiting.append(PendingEvent(request, fire_pts, fire_pts + after, due_mono))
        while len(self._waiting) > self.max_waiting:
            self.forced_early += 1
            self._package(self._waiting.pop(0))

    def service(self, force: bool = False, camera_id: str | None = None) -> int:
        """Package the events that are due (all of them with ``force``), optionally of one camera; returns how many."""
        now = time.monotonic()
        due, keep = [], []
        for p in self._waiting:
            mine = camera_id is None or p.camera.camera_id == camera_id
            ready = force or p.camera.ready_pts() >= p.due_pts or now >= p.due_mono
            (due if mine and ready else keep).append(p)
        self._waiting = keep
        for p in due:
            self._package(p)
        return len(due)

    def drain(self, timeout: float | None = None) -> bool:
        """Package every waiting event and wait for the writer; False if ``timeout`` passed first."""
        self.service(force=True)
        return self.writer.join(timeout)

    def _package(self, p: PendingEvent) -> None:
        self.writer.submit(p.request)
        self.submitted += 1
