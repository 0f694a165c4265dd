"""Site-file sections of checkpoint mode: a camera's ``capture_lines`` and the site's ``checkpoint:``.

A capture line is a segment across the road in frame pixels with the direction of travel that
counts (``down``: a vehicle moving down the frame, toward a camera that looks at oncoming traffic);
a vehicle's ground point crossing it that way makes one pass. ``checkpoint:`` says how plates are
matched against the watchlist, what makes a suspected clone, and where alerts go.
"""

from __future__ import annotations

import math
import os
from typing import Literal

from pydantic import Field, field_validator, model_validator

from models.strict import StrictModel

Travel = Literal["down", "up", "left", "right", "any"]
TRAVEL_VECTORS = {"down": (0.0, 1.0), "up": (0.0, -1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0)}
TRAVEL_NAMES = {"down": "向下", "up": "向上", "left": "向左", "right": "向右", "any": "双向"}


class CaptureLineConfig(StrictModel):
    id: str = Field(min_length=1, max_length=64)
    points: tuple[tuple[float, float], tuple[float, float]] = Field(description="[[x1, y1], [x2, y2]] in frame pixels")
    travel: Travel = Field("down", description="direction of travel in the frame that counts; any = both ways")
    direction: str = Field("", description="direction label on the record, e.g. 由南向北 (default: the camera's)")
    lane: str | None = Field(None, description="lane on the record (default: the camera's)")

    @model_validator(mode="after")
    def _usable(self) -> "CaptureLineConfig":
        (x1, y1), (x2, y2) = self.points
        length = math.hypot(x2 - x1, y2 - y1)
        if length < 10:
            raise ValueError(f"points: the line is {length:.1f} px long; draw it across the lane (at least 10 px)")
        if self.travel != "any":
            tx, ty = TRAVEL_VECTORS[self.travel]
            # a line along the direction of travel is never crossed that way
            if abs(tx * (y2 - y1) - ty * (x2 - x1)) / length < math.sin(math.radians(20)):
                raise ValueError(f"travel: a {self.travel!r} vehicle runs along this line, not across it "
                                 "(draw the line across the lane or change travel)")
        return self


class MatchConfig(StrictModel):
    """Scores of the kinds of match (a hit's score = kind score x read weight); alerts from min_score."""

    min_score: float = Field(0.5, ge=0, le=1, description="weaker matches raise no alert")
    exact: float = Field(1.0, gt=0, le=1)
    pattern: float = Field(0.9, gt=0, le=1)
    confusable: float = Field(0.85, gt=0, le=1, description="differs only in look-alike characters (0/D, 8/B, 2/Z ...)")
    edit: float = Field(0.7, gt=0, le=1, description="one character replaced, missing or extra")
    unconfirmed_first: float = Field(0.8, gt=0, le=1, description="weight of an unconfirmed read's first candidate")
    unconfirmed_other: float = Field(0.7, gt=0, le=1, description="weight of its other candidates")
    refresh_s: float = Field(2.0, gt=0, description="how often a running matcher checks the watchlist for changes")


class CloneConfig(StrictModel):
    enabled: bool = True
    max_speed_kmh: float = Field(200.0, gt=0, description="faster than this between two sites is impossible: a clone")
    min_distance_km: float = Field(2.0, ge=0, description="sites closer than this are never compared by speed (GPS error)")
    window_h: float = Field(24.0, gt=0, description="how far back a plate's passes are compared")
    compare_color: bool = Field(True, description="the same plate seen with another plate colour is a clone")
    compare_class: bool = Field(True, description="the same plate seen on another vehicle class is a clone")
    class_groups: list[list[str]] = Field(
        default_factory=lambda: [["motorcycle", "e_bike", "bicycle"]],
        description="classes in one group count as one vehicle class (the detector may waver inside a group); "
                    "every other class is its own")


class WebhookConfig(StrictModel):
    name: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str = Field(pattern=r"^https?://")
    secret: str | None = Field(None, min_length=16, description="HMAC-SHA256 key (prefer secret_env)")
    secret_env: str | None = Field(None, description="environment variable holding the HMAC key")
    timeout_s: float = Field(3.0, gt=0, le=60)

    @model_validator(mode="after")
    def _one_secret(self) -> "WebhookConfig":
        if (self.secret is None) == (self.secret_env is None):
            raise ValueError("give exactly one of secret or secret_env (the HMAC key receivers check the body with)")
        return self

    def key(self) -> bytes:
        """The HMAC key; from the environment when ``secret_env`` names it (checked at start)."""
        if self.secret is not None:
            return self.secret.encode()
        value = os.environ.get(self.secret_env or "")
        if not value or len(value) < 16:
            raise ValueError(f"webhook {self.name}: environment variable {self.secret_env} is unset or shorter than 16 characters")
        return value.encode()


class AlertsConfig(StrictModel):
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    redis_url: str | None = Field(None, description="publish alerts on a Redis stream (default: the worker's --redis)")
    stream: str = Field("epolice:alerts", min_length=1, description="the Redis stream alerts are added to")
    stream_maxlen: int = Field(100_000, ge=1000)
    max_attempts: int = Field(12, ge=1, le=100, description="a delivery that failed this often is dead (the dead letters)")
    backoff_s: float = Field(1.0, gt=0, description="first retry after this; each next one twice as late ...")
    backoff_max_s: float = Field(30.0, gt=0, description="... but never later than this")
    threads: int = Field(2, ge=1, le=16, description="deliveries sent at once")

    @field_validator("webhooks")
    @classmethod
    def _unique(cls, value: list[WebhookConfig]) -> list[WebhookConfig]:
        names = [w.name for w in value]
        if len(set(names)) != len(names) or "redis" in names:
            raise ValueError("webhook names must be unique and not 'redis'")
        return value

    def retry_window_s(self) -> float:
        """How long a receiver may be down before a delivery dies: the sum of the backoffs."""
        return sum(min(self.backoff_s * 2 ** i, self.backoff_max_s) for i in range(self.max_attempts - 1))


class CheckpointConfig(StrictModel):
    match: MatchConfig = Field(default_factory=MatchConfig)
    clone: CloneConfig = Field(default_factory=CloneConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    batch_size: int = Field(64, ge=1, le=5000, description="passes stored per transaction at most")
    max_waiting: int = Field(2048, ge=16, description="passes queued for storing; beyond it the oldest wait is counted")
