"""Settings of a live worker (``epolice run``): ingest, recording, batching, leases, transport.

Motion gating is the engine's (``engine.motion`` in the site file), so batch and live gate alike."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from models.strict import StrictModel
from vision.sources.rtsp import RtspConfig


class LiveConfig(StrictModel):
    rtsp: RtspConfig = Field(default_factory=RtspConfig)
    max_batch: int = Field(8, ge=1, description="most frames per detector call, across cameras")
    batch_wait_s: float = Field(0.04, ge=0, description="on a detection tick, wait this long for every live camera's frame")
    evidence_threads: int = Field(2, ge=1, description="threads packaging evidence off the inference loop")
    evidence_max_in_flight: int = Field(
        8, ge=1, description="packages queued or being written at once (each holds its clip frames); beyond it the loop waits"
    )
    lease_ttl_s: float = Field(10.0, ge=0.3, description="camera lease lifetime; a dead worker's cameras move after at most this")
    claim_idle_s: float = Field(30.0, gt=0, description="record writer reclaims entries pending this long (writer died)")
    stream_maxlen: int | None = Field(
        100_000, ge=1000, description="approximate cap of the alerts stream; None = unbounded (the events stream is never capped)"
    )
    max_deliveries: int = Field(10, ge=1, description="a record the store refuses this many times goes to the dead letters")
    spool_dir: Path = Field(Path("spool"), description="events spooled here during a Redis outage, and unpackaged events")
    recording_dir: Path | None = Field(
        None, description="rolling segments of each camera's stream, for evidence (default: <spool_dir>/recordings; tmpfs is fine)"
    )
    segment_s: float = Field(1.0, gt=0, le=10, description="recorded segments are cut at the first keyframe this long after the last cut")
    status_interval_s: float = Field(2.0, gt=0, description="how often health is published to Redis for `epolice status`")
    shutdown_grace_s: float = Field(30.0, ge=0, description="on SIGTERM, wait this long for evidence in flight")


    @model_validator(mode="before")
    @classmethod
    def _motion_moved(cls, data: object) -> object:
        if isinstance(data, dict) and "motion" in data:
            raise ValueError("motion: moved to engine.motion in the site file (the motion gate now serves batch and live alike)")
        return data

    @property
    def recordings(self) -> Path:
        return self.recording_dir if self.recording_dir is not None else self.spool_dir / "recordings"


def load_live_config(path: Path | None) -> LiveConfig:
    """Read a YAML file of LiveConfig fields (or defaults); errors name the field."""
    if path is None:
        return LiveConfig()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return LiveConfig.model_validate(data)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read live config ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ValueError(f"{path}: " + "; ".join(lines)) from None
