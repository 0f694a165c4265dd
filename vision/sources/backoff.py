"""Exponential backoff with full jitter, capped: how long a reader waits before reconnecting.

Jitter spreads the reconnects of many cameras that dropped together (a switch reboot) so they do
not hit the recorder or NVR in lockstep. The cap keeps a camera that returns after an hour from
waiting an hour more.
"""

from __future__ import annotations

import random

from pydantic import Field, model_validator

from models.strict import StrictModel


class BackoffConfig(StrictModel):
    initial_s: float = Field(0.5, gt=0, description="first delay after a failure")
    factor: float = Field(2.0, ge=1.0, description="growth per consecutive failure")
    cap_s: float = Field(30.0, gt=0, description="longest delay")
    jitter: float = Field(0.5, ge=0.0, le=1.0, description="share of the delay drawn at random")

    @model_validator(mode="after")
    def _cap_above_initial(self) -> "BackoffConfig":
        if self.cap_s < self.initial_s:
            raise ValueError(f"cap_s ({self.cap_s}) must be >= initial_s ({self.initial_s})")
        return self


class Backoff:
    def __init__(self, config: BackoffConfig | None = None, rng: random.Random | None = None) -> None:
        self.config = config or BackoffConfig()
        self._rng = rng or random.Random()
        self.failures = 0

    def next_delay(self) -> float:
        """Delay before the next attempt; grows with each consecutive failure up to the cap."""
        c = self.config
        # exponent clamped: a camera down for days must not overflow the float
        base = min(c.cap_s, c.initial_s * c.factor ** min(self.failures, 60))
        self.failures += 1
        return base * (1.0 - c.jitter) + base * c.jitter * self._rng.random()

    def reset(self) -> None:
        """A connection delivered frames: the next failure starts from the initial delay again."""
        self.failures = 0
