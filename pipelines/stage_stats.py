"""The engine's per-stage costs (``CameraPipeline.stats``): benchmarks, eval and health read them."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class StageStats:
    """Seconds spent per stage (decode is the source's), for benchmarks and health."""

    frames: int = 0
    detect_frames: int = 0
    gated_frames: int = 0  # due for detection, skipped by the motion gate (tracks predicted)
    detect_s: float = 0.0
    track_s: float = 0.0
    attributes_s: float = 0.0
    rules_s: float = 0.0
    helmet_crops: int = 0  # vehicles the helmet model looked at
    helmet_calls: int = 0  # helmet-model inferences (crops are packed several to one input)
    plate_reads: int = 0
    events: int = 0
    helmet_s: float = 0.0  # part of attributes_s spent in the helmet model
    plates_s: float = 0.0  # part of rules_s spent reading plates (once per event, in _event)

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def ms_per_frame(self) -> dict[str, float]:
        n = max(self.frames, 1)
        return {k: 1000.0 * getattr(self, f"{k}_s") / n for k in ("detect", "track", "attributes", "rules")}
