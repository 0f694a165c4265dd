"""Camera health as a small state machine, driven by the reader thread and a periodic tick.

States:
  connecting  FFmpeg started, waiting for the first frame of this connection.
  live        frames are flowing: two arrived within ``stall_after_s`` of each other, and the
              last one within ``stall_after_s`` of now.
  stalled     the connection is open but no frame for more than ``stall_after_s`` (frozen encoder,
              congested link); the reader's socket timeout will turn this into a reconnect.
  offline     the connection failed or dropped; waiting out the backoff before the next attempt.

A camera is *down* from the moment it stops being live (or from start, if never live). An alert
fires once when it has been down for more than ``alert_after_s``, and a recovery event fires when
it is live again after an alert. Short blips (a reconnect within N seconds) raise no alert, and a
camera flapping between connecting and offline raises exactly one.

The machine is pure (time comes in as arguments), so tests drive it with a synthetic clock.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from models.strict import StrictModel

HealthState = Literal["connecting", "live", "stalled", "offline"]
HEALTH_STATES: tuple[HealthState, ...] = ("connecting", "live", "stalled", "offline")
HealthEventKind = Literal["state", "alert", "recovery", "clock_step"]  # clock_step: the system clock jumped


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """A state change, an offline alert, or a recovery. ``reason`` is already credential-free."""

    camera_id: str
    kind: HealthEventKind
    state: HealthState
    previous: HealthState
    wall_time: datetime
    down_for_s: float = 0.0
    reason: str | None = None


class CameraHealth(StrictModel):
    """The snapshot shown by ``/healthz`` and ``epolice status``."""

    camera_id: str
    state: HealthState
    since: datetime
    down_for_s: float
    alerting: bool
    last_error: str | None = None
    last_frame_age_s: float | None = None


class HealthMonitor:
    def __init__(self, camera_id: str, stall_after_s: float = 5.0, alert_after_s: float = 30.0) -> None:
        self.camera_id = camera_id
        self.stall_after_s = stall_after_s
        self.alert_after_s = alert_after_s
        self._lock = threading.Lock()
        now = time.monotonic()
        self.state: HealthState = "connecting"
        self._since_wall = datetime.now(timezone.utc)
        self._down_since: float | None = now
        self._last_frame: float | None = None
        self._alerting = False
        self.last_error: str | None = None

    def _move(self, state: HealthState, now: float, reason: str | None, out: list[HealthEvent]) -> None:
        if state == self.state:
            return
        previous, self.state = self.state, state
        self._since_wall = datetime.now(timezone.utc)
        down = 0.0 if self._down_since is None else now - self._down_since
        out.append(HealthEvent(self.camera_id, "state", state, previous, self._since_wall, down, reason))
        if state == "live":
            if self._alerting:
                out.append(HealthEvent(self.camera_id, "recovery", state, previous, self._since_wall, down, None))
            self._alerting = False
            self._down_since = None
        elif self._down_since is None:
            self._down_since = now

    def connecting(self, now: float | None = None) -> list[HealthEvent]:
        """A new connection attempt started."""
        now = time.monotonic() if now is None else now
        out: list[HealthEvent] = []
        with self._lock:
            self._last_frame = None
            self._move("connecting", now, None, out)
            out += self._check_alert(now)
        return out

    def frame(self, now: float | None = None) -> list[HealthEvent]:
        """A frame was decoded."""
        now = time.monotonic() if now is None else now
        out: list[HealthEvent] = []
        with self._lock:
            previous, self._last_frame = self._last_frame, now
            # Live needs two frames within the stall window: a frozen link that leaks one buffered
            # frame per socket timeout must stay "stalled", not flap live/stalled with alert spam.
            if self.state != "live" and previous is not None and now - previous <= self.stall_after_s:
                self.last_error = None
                self._move("live", now, None, out)
        return out

    def error(self, reason: str, now: float | None = None) -> list[HealthEvent]:
        """The connection failed or dropped; ``reason`` must already be redacted."""
        now = time.monotonic() if now is None else now
        out: list[HealthEvent] = []
        with self._lock:
            self.last_error = reason
            self._last_frame = None
            self._move("offline", now, reason, out)
            out += self._check_alert(now)
        return out

    def tick(self, now: float | None = None) -> list[HealthEvent]:
        """Call periodically: detects stalls and raises the offline alert once it is due."""
        now = time.monotonic() if now is None else now
        out: list[HealthEvent] = []
        with self._lock:
            if self.state == "live" and self._last_frame is not None and now - self._last_frame > self.stall_after_s:
                self._move("stalled", now, f"no frame for {now - self._last_frame:.1f}s", out)
                # the outage began with the last frame, not when we noticed it
                self._down_since = self._last_frame
            out += self._check_alert(now)
        return out

    def _check_alert(self, now: float) -> list[HealthEvent]:
        if self._alerting or self._down_since is None or now - self._down_since <= self.alert_after_s:
            return []
        self._alerting = True
        return [
            HealthEvent(
                self.camera_id, "alert", self.state, self.state, datetime.now(timezone.utc),
                now - self._down_since, self.last_error or f"camera {self.state}",
            )
        ]

    def snapshot(self, now: float | None = None) -> CameraHealth:
        now = time.monotonic() if now is None else now
        with self._lock:
            return CameraHealth(
                camera_id=self.camera_id,
                state=self.state,
                since=self._since_wall,
                down_for_s=0.0 if self._down_since is None else round(now - self._down_since, 3),
                alerting=self._alerting,
                last_error=self.last_error,
                last_frame_age_s=None if self._last_frame is None else round(now - self._last_frame, 3),
            )
