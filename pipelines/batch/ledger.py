"""The job ledger: which segments of which files are finished under which settings (SQLite).

A segment is written once its results are safely stored (records first, ledger second), in one
short transaction, so a run killed at any moment (``kill -9``) leaves the ledger consistent; the
segment that was running is simply not there and is processed again on resume. Records are keyed
by event, so processing a segment twice never duplicates them.

Rows are keyed by (settings, file content, segment): change the site, the models, the decode
settings or the segment plan and the footage counts as not processed yet.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from pipelines.batch.jobs import SegmentResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    job_key    TEXT NOT NULL,
    file_key   TEXT NOT NULL,
    seg_index  INTEGER NOT NULL,
    batch_id   TEXT NOT NULL,
    path       TEXT NOT NULL,
    status     TEXT NOT NULL,
    result     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (job_key, file_key, seg_index)
);
CREATE INDEX IF NOT EXISTS segments_batch ON segments (batch_id);
"""


class Ledger:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, result: SegmentResult) -> None:
        """Store a segment's result, replacing an earlier attempt (an error retried, a forced re-run)."""
        self._db.execute(
            "INSERT OR REPLACE INTO segments (job_key, file_key, seg_index, batch_id, path, status, result, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                result.job_key, result.file_key, result.index, result.batch_id, result.path, result.status,
                result.model_dump_json(), datetime.now(timezone.utc).isoformat(),
            ),
        )

    def get(self, job_key: str, file_key: str, index: int) -> SegmentResult | None:
        row = self._db.execute(
            "SELECT result FROM segments WHERE job_key=? AND file_key=? AND seg_index=?", (job_key, file_key, index)
        ).fetchone()
        return SegmentResult.model_validate_json(row[0]) if row else None

    def finished(self, job_key: str, file_keys: Iterable[str], *, retry_failed: bool = False) -> dict[tuple[str, int], SegmentResult]:
        """Results that need no re-run: done, and failed (damaged file) unless ``retry_failed``.
        Errors (crashes, bugs) are always retried."""
        keys = list(set(file_keys))
        out: dict[tuple[str, int], SegmentResult] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            rows = self._db.execute(
                f"SELECT file_key, seg_index, status, result FROM segments WHERE job_key=? AND file_key IN ({','.join('?' * len(chunk))})",
                (job_key, *chunk),
            ).fetchall()
            for fk, idx, status, blob in rows:
                if status == "done" or (status == "failed" and not retry_failed):
                    out[(fk, idx)] = SegmentResult.model_validate_json(blob)
        return out

    def results(self, *, batch_id: str | None = None, job_key: str | None = None) -> list[SegmentResult]:
        where, args = [], []
        if batch_id:
            where.append("batch_id=?")
            args.append(batch_id)
        if job_key:
            where.append("job_key=?")
            args.append(job_key)
        sql = "SELECT result FROM segments" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY path, seg_index"
        return [SegmentResult.model_validate_json(r[0]) for r in self._db.execute(sql, args).fetchall()]
