"""Append-only, hash-chained audit log: who did what to which record, when, before and after.

Each entry's hash covers its own fields and the previous entry's hash, so editing, deleting or
reordering any entry breaks every hash after it; ``verify_chain`` names the first broken entry.
The app only ever INSERTs. Entries are numbered 1, 2, 3 ... with ``seq`` as primary key: two writers
racing for the same ``seq`` collide on the key and the loser retries on the new tail, so the chain
never forks, on SQLite or PostgreSQL, in one process or many.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from evidence.store.schema import audit_log, now_utc

GENESIS = "0" * 64
ADVISORY_LOCK_ID = 0x6570_6175  # "epau"
_append_lock = threading.Lock()  # spares same-process writers the retry; correctness rests on the key


def canonical(value: Any) -> str | None:
    """Stable JSON (sorted keys, no spaces, UTF-8 kept) so the hash does not depend on dict order."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(seq: int, at: str, actor: str, action: str, record_id: str | None,
               before: str | None, after: str | None, prev_hash: str) -> str:
    body = json.dumps([seq, at, actor, action, record_id, before, after, prev_hash],
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    record_id: str | None
    before: str | None
    after: str | None
    prev_hash: str
    hash: str


def append(conn: Connection, actor: str, action: str, record_id: str | None = None,
           before: Any = None, after: Any = None) -> AuditEntry:
    """Add one entry on ``conn`` (inside the caller's transaction, so the entry and the change it
    describes commit together). Appenders queue on a transaction-scoped lock (PostgreSQL advisory
    lock; the store's SQLite engine begins every transaction IMMEDIATE), so the tail read here is the
    tail at commit. Any other engine may still race: the seq key then raises IntegrityError."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_ID})
    tail = conn.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)).first()
    seq, prev = (tail.seq + 1, tail.hash) if tail else (1, GENESIS)
    at = now_utc().isoformat(timespec="microseconds")
    b, a = canonical(before), canonical(after)
    h = entry_hash(seq, at, actor, action, record_id, b, a, prev)
    conn.execute(insert(audit_log).values(seq=seq, at=at, actor=actor, action=action, record_id=record_id,
                                          before=b, after=a, prev_hash=prev, hash=h))
    return AuditEntry(seq, at, actor, action, record_id, b, a, prev, h)


def append_retrying(engine: Engine, actor: str, action: str, record_id: str | None = None,
                    before: Any = None, after: Any = None, attempts: int = 20) -> AuditEntry:
    """Append in a transaction of its own, retrying when a concurrent writer won the same seq."""
    for _ in range(attempts):
        try:
            with _append_lock, engine.begin() as conn:
                return append(conn, actor, action, record_id, before, after)
        except IntegrityError:
            continue
    raise RuntimeError(f"could not append to the audit log after {attempts} attempts (heavy contention?)")


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    broken_seq: int | None = None  # the first entry that does not check out
    reason: str | None = None


def verify_chain(engine: Engine) -> ChainReport:
    """Walk the log in order and recompute every hash; report the first entry that fails."""
    expected_seq, prev = 1, GENESIS
    count = 0
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq))
        for row in rows:
            count += 1
            if row.seq != expected_seq:
                return ChainReport(count, False, expected_seq,
                                   f"entry {expected_seq} is missing (next present is {row.seq})")
            if row.prev_hash != prev:
                return ChainReport(count, False, row.seq, "prev_hash does not match the previous entry's hash")
            h = entry_hash(row.seq, row.at, row.actor, row.action, row.record_id, row.before, row.after, row.prev_hash)
            if h != row.hash:
                return ChainReport(count, False, row.seq, "content does not match its hash (entry edited)")
            prev, expected_seq = row.hash, expected_seq + 1
    return ChainReport(count, True)


def entries(engine: Engine, limit: int = 200, record_id: str | None = None) -> list[AuditEntry]:
    """Newest first, for the audit page and the record history."""
    q = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if record_id is not None:
        q = q.where(audit_log.c.record_id == record_id)
    with engine.connect() as conn:
        return [AuditEntry(r.seq, r.at, r.actor, r.action, r.record_id, r.before, r.after, r.prev_hash, r.hash)
                for r in conn.execute(q)]


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
