"""The value that crosses from the engine (pipelines) into evidence.

Evidence never imports the engine, so everything it needs to build a package travels here as
plain typed values: which frames matter (by sequence number in the camera's ring buffer), where
the vehicle is in each, what the rule saw, and the plate as read once per track.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from models.strict import StrictModel

# A rule id. Evidence does not know the rules (pipelines.rules.registry does, and the site loader
# checks names against it); here it is only a well-formed identifier.
RuleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
PlateColor = Literal["blue", "yellow", "green", "white", "black", "unknown"]


class Box(StrictModel):
    model_config = ConfigDict(frozen=True)
    x1: float
    y1: float
    x2: float
    y2: float


class KeyFrame(StrictModel):
    """A frame the rule chose as evidence, referenced by its sequence number in the camera's ring buffer."""

    model_config = ConfigDict(frozen=True)
    seq: int
    wall_time: datetime
    role: str  # e.g. "approach", "turn", "exit", "first", "middle", "last", "violation"
    box: Box  # the offending vehicle in this frame, frame pixels

    @field_validator("wall_time")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("wall_time must be timezone-aware (evidence clock)")
        return v


PlateStatus = Literal["confirmed", "unconfirmed", "unreadable"]


class PlateCandidateFacts(StrictModel):
    """One valid plate text a recogniser read, with the readers behind it (the reviewer picks among these)."""

    model_config = ConfigDict(frozen=True)
    text: str = Field(min_length=1, max_length=16)
    color: PlateColor = "unknown"
    readers: tuple[str, ...] = ()  # recognisers that read exactly this text, e.g. ("ppocr",)
    confidence: float = Field(0.0, ge=0, le=1)  # mean character confidence of its best read (tracks: vote share)


class PlateFacts(StrictModel):
    """The plate as read once per track by two recognisers.

    ``status`` says how far to trust it: ``confirmed`` (both readers agree, or the track's vote
    confirmed it), ``unconfirmed`` (valid reads that disagree: ``candidates`` holds each, best
    first, for a reviewer to pick) or ``unreadable`` (``reason`` says why). ``text`` is set ONLY
    when confirmed, so nothing that reads ``text`` can take an unconfirmed read for the plate.
    Left out (facts written before double reading), ``status`` is never taken to be confirmed: a
    text is one reader's read, kept as the one candidate of an ``unconfirmed`` plate.
    """

    model_config = ConfigDict(frozen=True)
    text: str | None
    color: PlateColor = "unknown"
    agreement: float = 0.0  # 0..1, share of weighted votes behind the chosen characters
    reason: str | None = None  # why unconfirmed or unreadable
    reads: int = 0  # crops read
    status: PlateStatus = "unreadable"  # derived from the rest when left out, see _status
    candidates: tuple[PlateCandidateFacts, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _status(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("status") is None:
            text, candidates = data.get("text"), data.get("candidates") or ()
            if text and not candidates:
                candidates = ({"text": text, "color": data.get("color", "unknown"), "confidence": data.get("agreement", 0.0)},)
            status = "unconfirmed" if text or candidates else "unreadable"
            data = {**data, "text": None, "candidates": candidates, "status": status,
                    "reason": data.get("reason") or ("read once, before double reading" if text else None)}
        return data

    @model_validator(mode="after")
    def _text_only_when_confirmed(self) -> "PlateFacts":
        if (self.status == "confirmed") != (self.text is not None):
            raise ValueError(f"plate status {self.status} with text {self.text!r}: text is set exactly when confirmed")
        return self

    @property
    def best(self) -> str | None:
        """The confirmed text, else the first candidate (never to be printed as the plate)."""
        return self.text or (self.candidates[0].text if self.candidates else None)


class ViolationEvent(StrictModel):
    model_config = ConfigDict(frozen=True)
    site_id: str
    camera_id: str
    rule: RuleName
    track_id: int
    start_time: datetime
    end_time: datetime
    vehicle_class: str
    key_frames: list[KeyFrame] = Field(min_length=1)
    facts: dict[str, float | int | str | bool | list[float] | list[int] | list[str]] = Field(default_factory=dict)
    # the vehicle's ground point (bottom-centre of its box) over the event, frame pixels, in time order;
    # the composite draws it with direction arrows (U-turn, wrong-way); empty for rules without a path
    path: list[tuple[float, float]] = Field(default_factory=list, max_length=256)
    plate: PlateFacts | None = None
    model_versions: dict[str, str] = Field(default_factory=dict)
    # The footage the event came from (a recorded file's content key), when tracks of several sources
    # could meet: two files of one camera with the same start both number their tracks from 1.
    source: str = Field(default="", max_length=64)

    @property
    def event_key(self) -> str:
        """Deterministic identity (camera + rule + track + start, + source when set): re-runs and
        redeliveries never duplicate, and two files never share a key."""
        raw = f"{self.camera_id}|{self.rule}|{self.track_id}|{self.start_time.isoformat(timespec='milliseconds')}"
        if self.source:
            raw += f"|{self.source}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]
