"""The pass table: batched idempotent inserts, lookups by plate, time, site and camera, retention.

Built for volume. On PostgreSQL ``passes`` is partitioned by UTC day: a day's partition is created
(under an advisory lock, so concurrent writers agree) the first time a pass of that day arrives, and
the retention purge drops whole partitions instead of deleting rows. On SQLite it is one table with
the same indexes (plate + time, time, camera + time, site + time). Inserts go in batches, one
transaction per batch, ``ON CONFLICT DO NOTHING`` on the pass key, so a re-run adds nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from evidence.checkpoint.values import NewPass, PassQuery, PassRecord
from evidence.store.schema import filters, now_utc, passes

PARTITION_LOCK_ID = 0x6570_7061  # "epa"
_PARTITION_PREFIX = "passes_p"


def partition_name(day: date) -> str:
    return f"{_PARTITION_PREFIX}{day:%Y%m%d}"


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


@dataclass(frozen=True)
class HourCount:
    camera_id: str
    hour: datetime  # UTC, start of the hour
    passes: int


@dataclass(frozen=True)
class ConfirmedShare:
    camera_id: str
    confirmed: int
    passes: int

    @property
    def share(self) -> float | None:
        return self.confirmed / self.passes if self.passes else None


class PassStore:
    """The passes of one store's database (``RecordStore.engine``)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._days: set[date] = set()  # partitions known to exist (PostgreSQL)
        self._lock = threading.Lock()

    # -- writes ----------------------------------------------------------------------------------
    @staticmethod
    def _row(p: NewPass, created: datetime) -> dict[str, Any]:
        row = p.model_dump(mode="python")
        row["plate_candidates"] = [c.model_dump(mode="json") for c in p.plate_candidates]
        row["panorama"] = p.panorama.model_dump(mode="json") if p.panorama else None
        row["vehicle"] = p.vehicle.model_dump(mode="json") if p.vehicle else None
        row["created_at"] = created
        return row

    def ensure_partitions(self, days: set[date]) -> None:
        """PostgreSQL: the day partitions for ``days`` exist afterwards (no-op on SQLite)."""
        if self.dialect != "postgresql":
            return
        with self._lock:
            missing = sorted(days - self._days)
        if not missing:
            return
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK_ID})
            for day in missing:
                lo, hi = _day_start(day), _day_start(day + timedelta(days=1))
                conn.execute(sa.text(
                    f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF passes "
                    f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"))
        with self._lock:
            self._days.update(missing)

    def add_many(self, items: Sequence[NewPass]) -> list[bool]:
        """Insert a batch in one transaction; returns, per item, whether it was new (False: already stored)."""
        if not items:
            return []
        self.ensure_partitions({p.pass_time.astimezone(timezone.utc).date() for p in items})
        created = now_utc()
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(passes)
        stmt = insert.on_conflict_do_nothing(index_elements=["pass_key", "pass_time"]).returning(passes.c.pass_key)
        with self.engine.begin() as conn:
            new = {r[0] for r in conn.execute(stmt, [self._row(p, created) for p in items])}
        return [p.pass_key in new for p in items]

    def add(self, item: NewPass) -> bool:
        return self.add_many([item])[0]

    # -- reads -----------------------------------------------------------------------------------
    @staticmethod
    def _filters(q: PassQuery) -> list[sa.ColumnElement[bool]]:
        return filters(passes, "pass_time", q.since, q.until, site_id=q.site_id, camera_id=q.camera_id, plate=q.plate)

    @staticmethod
    def to_record(row: sa.Row) -> PassRecord:
        return PassRecord.model_validate(dict(row._mapping))

    def query(self, q: PassQuery | None = None, conn: Connection | None = None) -> list[PassRecord]:
        """Newest first."""
        q = q or PassQuery()
        stmt = sa.select(passes).where(*self._filters(q)).order_by(passes.c.pass_time.desc(), passes.c.pass_key)
        if q.limit is not None:
            stmt = stmt.limit(q.limit)
        if q.offset:
            stmt = stmt.offset(q.offset)
        if conn is not None:
            return [self.to_record(r) for r in conn.execute(stmt)]
        with self.engine.connect() as c:
            return [self.to_record(r) for r in c.execute(stmt)]

    def count(self, q: PassQuery | None = None) -> int:
        q = q or PassQuery()
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(passes).where(*self._filters(q))).scalar_one())

    def get(self, pass_key: str, pass_time: datetime | None = None) -> PassRecord | None:
        """By key (and time, when known: on PostgreSQL that reads one partition)."""
        stmt = sa.select(passes).where(passes.c.pass_key == pass_key)
        if pass_time is not None:
            stmt = stmt.where(passes.c.pass_time == pass_time)
        with self.engine.connect() as conn:
            row = conn.execute(stmt.limit(1)).first()
        return None if row is None else self.to_record(row)

    def recent_for_plate(self, plate: str, since: datetime, exclude: str | None = None, limit: int = 20) -> list[PassRecord]:
        """The latest confirmed passes of ``plate`` since ``since`` (clone detection), newest first."""
        stmt = (sa.select(passes).where(passes.c.plate == plate, passes.c.pass_time >= since,
                                        passes.c.plate_status == "confirmed")
                .order_by(passes.c.pass_time.desc()).limit(limit + 1))
        with self.engine.connect() as conn:
            rows = [self.to_record(r) for r in conn.execute(stmt)]
        return [r for r in rows if r.pass_key != exclude][:limit]

    # -- retention -------------------------------------------------------------------------------
    def partitions(self) -> list[date]:
        """PostgreSQL: the days that have a partition, oldest first."""
        if self.dialect != "postgresql":
            return []
        with self.engine.connect() as conn:
            names = conn.execute(sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'passes'")).scalars().all()
        return sorted(datetime.strptime(n[len(_PARTITION_PREFIX):], "%Y%m%d").date() for n in names
                      if n.startswith(_PARTITION_PREFIX))

    def purge(self, before: datetime) -> int:
        """Remove passes older than ``before``; returns how many. PostgreSQL drops whole day
        partitions that end before it, then deletes the older rows of the day it falls in."""
        removed = 0
        if self.dialect == "postgresql":
            for day in self.partitions():
                if _day_start(day + timedelta(days=1)) > before:
                    continue
                with self.engine.begin() as conn:
                    name = partition_name(day)
                    removed += int(conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one())
                    conn.execute(sa.text(f"DROP TABLE {name}"))
                with self._lock:
                    self._days.discard(day)
        with self.engine.begin() as conn:
            removed += conn.execute(sa.delete(passes).where(passes.c.pass_time < before)).rowcount or 0
        return removed

    # -- figures (dashboard) ---------------------------------------------------------------------
    def _hour(self) -> sa.ColumnElement[Any]:
        if self.dialect == "postgresql":
            return sa.func.date_trunc("hour", sa.func.timezone("UTC", passes.c.pass_time))
        return sa.func.strftime("%Y-%m-%d %H:00:00", passes.c.pass_time)

    def per_hour(self, since: datetime) -> list[HourCount]:
        """Passes per camera and UTC hour since ``since``."""
        hour = self._hour().label("hour")
        stmt = (sa.select(passes.c.camera_id, hour, sa.func.count()).where(passes.c.pass_time >= since)
                .group_by(passes.c.camera_id, hour).order_by(hour, passes.c.camera_id))
        out = []
        with self.engine.connect() as conn:
            for cam, h, n in conn.execute(stmt):
                if isinstance(h, str):
                    h = datetime.fromisoformat(h)
                out.append(HourCount(cam, h.replace(tzinfo=timezone.utc), int(n)))
        return out

    def confirmed_share(self, since: datetime) -> list[ConfirmedShare]:
        """Per camera since ``since``: passes whose plate the two readers confirmed, of all passes. A
        camera whose share drops needs its lens cleaned or refocused."""
        confirmed = sa.func.sum(sa.case((passes.c.plate_status == "confirmed", 1), else_=0))
        stmt = (sa.select(passes.c.camera_id, confirmed, sa.func.count()).where(passes.c.pass_time >= since)
                .group_by(passes.c.camera_id).order_by(passes.c.camera_id))
        with self.engine.connect() as conn:
            return [ConfirmedShare(cam, int(c or 0), int(n)) for cam, c, n in conn.execute(stmt)]
