"""What a live worker reports about itself: served on ``/healthz``, published to Redis, printed by ``epolice status``."""

from __future__ import annotations

from datetime import datetime

from models.strict import StrictModel
from vision.sources.health import CameraHealth


class CameraStatus(CameraHealth):
    decoded: int = 0
    dropped: int = 0
    reconnects: int = 0
    source: str = ""  # masked URL


class WorkerStatus(StrictModel):
    """What ``/healthz`` serves and ``epolice status`` prints."""

    worker: str
    site_id: str
    status: str  # "ok" when every owned camera is live, else "degraded"
    started: datetime
    updated: datetime
    redis: str | None = None  # "ok" / "down" / None without Redis
    spooled: int = 0
    evidence_in_flight: int = 0
    evidence_waiting: int = 0  # events waiting for their clip's after-window
    records: int = 0
    cameras: list[CameraStatus]


def status_key(site_id: str, worker_id: str) -> str:
    """The Redis key under which a worker publishes its status (expires if the worker dies)."""
    return f"epolice:{site_id}:status:{worker_id}"
