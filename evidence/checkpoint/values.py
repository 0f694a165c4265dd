"""Typed values of checkpoint mode (卡口): a vehicle's pass, a watchlist entry, an alert.

A pass is a record like a violation: the engine hands over a ``PassEvent`` (where, when, which
track, the plate as read once per track) with two pictures, and the store keeps a ``PassRecord``
with the pictures' paths and sha256. Evidence never imports the engine, so everything crosses as
these plain values.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from evidence.event import Box, PlateCandidateFacts, PlateFacts
from models.strict import StrictModel

# Why a plate is on the watchlist (the control system's 布控 reasons); ``other`` needs a note.
WatchReason = Literal["overdue_inspection", "overdue_scrapping", "fake_or_cloned", "hit_and_run", "other"]
WATCH_REASONS: dict[str, dict[str, str]] = {
    "overdue_inspection": {"zh": "逾期未检验", "en": "Inspection overdue"},
    "overdue_scrapping": {"zh": "逾期未报废", "en": "Scrapping overdue"},
    "fake_or_cloned": {"zh": "假牌套牌", "en": "Fake or cloned plate"},
    "hit_and_run": {"zh": "肇事逃逸嫌疑", "en": "Hit-and-run suspect"},
    "other": {"zh": "其他", "en": "Other"},
}
AlertKind = Literal["watchlist", "clone"]
AlertState = Literal["open", "acknowledged", "dispatched", "closed"]
# open -> acknowledged -> dispatched -> closed; an acknowledged alert that needs no one sent may close.
ALERT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("acknowledged",),
    "acknowledged": ("dispatched", "closed"),
    "dispatched": ("closed",),
    "closed": (),
}
# How a plate read matched an entry (pipelines.checkpoint.matching scores each)
MatchKind = Literal["exact", "pattern", "confusable", "edit", "clone_speed", "clone_color", "clone_class"]
PLATE_CHARS = r"^[0-9A-Z\u4e00-\u9fff]{2,10}$"
PATTERN_CHARS = r"^[0-9A-Z\u4e00-\u9fff*?]{2,10}$"


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return value


class PassEvent(StrictModel):
    """A tracked vehicle crossed a capture line in its direction: what the engine hands over."""

    model_config = ConfigDict(frozen=True)
    site_id: str
    camera_id: str
    line_id: str
    lane: str = ""
    direction: str = ""  # the line's direction label, e.g. 由南向北
    track_id: int
    pass_time: datetime  # when the vehicle's ground point crossed the line (evidence clock)
    vehicle_class: str
    plate: PlateFacts | None = None
    speed_kmh: float | None = None  # only when the camera is calibrated (image -> metres)
    box: Box  # the vehicle at the crossing, frame pixels
    latitude: float | None = None  # the site's, for clone detection between sites
    longitude: float | None = None
    model_versions: dict[str, str] = Field(default_factory=dict)

    @field_validator("pass_time")
    @classmethod
    def _aware_time(cls, value: datetime) -> datetime:
        return _aware(value)

    @property
    def pass_key(self) -> str:
        """Deterministic identity (camera + line + track + time): a re-run or a redelivery never duplicates."""
        raw = f"{self.camera_id}|{self.line_id}|{self.track_id}|{self.pass_time.isoformat(timespec='milliseconds')}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


class PassImage(StrictModel):
    """One stored picture of a pass: where it is and its sha256 (checked before it is shown)."""

    model_config = ConfigDict(frozen=True)
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    width: int
    height: int


class NewPass(StrictModel):
    """A pass as stored: the event's facts flattened for indexes, plus its two pictures."""

    pass_key: str
    pass_time: datetime
    site_id: str
    camera_id: str
    line_id: str
    lane: str = ""
    direction: str = ""
    track_id: int
    plate: str | None = None  # confirmed text, else the first candidate (what lookups find; see plate_status)
    plate_status: Literal["confirmed", "unconfirmed", "unreadable"] = "unreadable"
    plate_color: str = "unknown"
    plate_candidates: list[PlateCandidateFacts] = Field(default_factory=list)
    vehicle_class: str = "unknown"
    speed_kmh: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    panorama: PassImage | None = None
    vehicle: PassImage | None = None

    @field_validator("pass_time")
    @classmethod
    def _aware_time(cls, value: datetime) -> datetime:
        return _aware(value)

    @field_validator("plate_candidates", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        return [] if value is None else value

    @classmethod
    def of(cls, event: PassEvent, panorama: PassImage | None, vehicle: PassImage | None) -> "NewPass":
        plate = event.plate
        return cls(
            pass_key=event.pass_key, pass_time=event.pass_time, site_id=event.site_id, camera_id=event.camera_id,
            line_id=event.line_id, lane=event.lane, direction=event.direction, track_id=event.track_id,
            plate=plate.best if plate else None, plate_status=plate.status if plate else "unreadable",
            plate_color=plate.color if plate else "unknown", plate_candidates=list(plate.candidates) if plate else [],
            vehicle_class=event.vehicle_class, speed_kmh=event.speed_kmh, latitude=event.latitude,
            longitude=event.longitude, panorama=panorama, vehicle=vehicle,
        )

    @property
    def confirmed(self) -> bool:
        return self.plate_status == "confirmed" and bool(self.plate)


class PassRecord(NewPass):
    created_at: datetime


class PassQuery(StrictModel):
    site_id: str | None = None
    camera_id: str | None = None
    plate: str | None = None  # exact: the confirmed text or the first candidate
    since: datetime | None = None  # pass_time >= since
    until: datetime | None = None  # pass_time < until
    limit: int | None = Field(default=100, ge=1)
    offset: int = Field(default=0, ge=0)


class NewWatchEntry(StrictModel):
    """A plate (or a pattern with ``*`` / ``?``) the control system looks for, why, and for how long."""

    plate: str = Field(min_length=2, max_length=10)
    reason: WatchReason
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    priority: int = Field(3, ge=1, le=5, description="1 = most urgent")
    note: str = Field("", max_length=500)

    @field_validator("plate", mode="before")
    @classmethod
    def _normal(cls, value: Any) -> Any:
        return value.strip().upper().replace(" ", "").replace("·", "") if isinstance(value, str) else value

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _aware_times(cls, value: datetime | None) -> datetime | None:
        return _aware(value)

    @model_validator(mode="after")
    def _check(self) -> "NewWatchEntry":
        import re

        if not re.match(PATTERN_CHARS, self.plate):
            raise ValueError(f"plate {self.plate!r}: letters, digits and Chinese characters only (* and ? in a pattern)")
        if self.is_pattern and not re.sub(r"[*?]", "", self.plate):
            raise ValueError(f"pattern {self.plate!r} matches every plate")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if self.reason == "other" and not self.note.strip():
            raise ValueError("reason 'other' needs a note saying why")
        return self

    @property
    def is_pattern(self) -> bool:
        return "*" in self.plate or "?" in self.plate


class WatchEntry(NewWatchEntry):
    id: int
    active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime | None = None

    def valid_at(self, when: datetime) -> bool:
        return self.active and (self.valid_from is None or when >= self.valid_from) and (
            self.valid_until is None or when < self.valid_until)


class NewAlert(StrictModel):
    """A watchlist hit or a suspected clone, raised from a pass."""

    alert_key: str  # idempotency: the same hit from a re-run or a redelivery is one alert
    kind: AlertKind
    pass_key: str
    pass_time: datetime
    site_id: str
    camera_id: str
    plate: str | None
    score: float = Field(ge=0, le=1)
    match: MatchKind
    matched_text: str | None = None  # the read (or candidate) that matched
    entry_id: int | None = None  # watchlist hits
    other_pass_key: str | None = None  # clones: the earlier pass it contradicts
    other_pass_time: datetime | None = None
    priority: int = 3
    reason: str = ""  # the entry's reason, or why a clone is suspected
    details: dict[str, Any] = Field(default_factory=dict)


class Alert(NewAlert):
    id: int
    state: AlertState
    created_at: datetime
    updated_at: datetime | None = None
    updated_by: str | None = None
    row_version: int = 1


class AlertQuery(StrictModel):
    state: AlertState | None = None
    kind: AlertKind | None = None
    site_id: str | None = None
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


DeliveryState = Literal["pending", "delivered", "dead"]


class Delivery(StrictModel):
    """One alert to one target (a webhook by name, or ``redis``): retried with backoff, dead after N attempts."""

    id: int
    alert_id: int
    target: str
    state: DeliveryState
    attempts: int
    next_at: datetime
    last_error: str | None = None
    delivered_at: datetime | None = None
