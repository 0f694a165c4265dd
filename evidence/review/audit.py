"""Append-only, hash-chained audit log: who did what to which record, when, before and after.

Each entry's hash covers its own fields and the previous entry's hash, so editing, deleting or
reordering any entry breaks every hash after it; ``verify_chain`` names the first broken entry.
The app only ever INSERTs. Entries are numbered 1, 2, 3 ... with ``seq`` as primary key: two writers
racing for the same ``seq`` collide on the key and the loser retries on the new tail, so the chain
never forks, on SQLite or PostgreSQL, in one process or many.

Against someone who can write the database (``evidence.review.audit_seal``): the hash is an
HMAC under the audit key, which lives outside the database and is attached to the store's engine
(``attach``), so nobody without it can recompute the chain after an edit; and checkpoints of the
head, kept outside the database, catch deleted newest entries. Entries from before the key (no
``key_id``, plain SHA-256) verify as before, but only before the first keyed one.

``verify_chain(incremental=True)`` (the audit page) starts at the latest checkpoint instead of
entry 1: checkpoints are written only after the chain up to them verified, and the full walk
stays with ``epolice review audit verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from evidence.review.audit_seal import (
    AuditSeal,
    Checkpoint,
    CheckpointError,
    latest_checkpoint,
    read_checkpoints,
    write_checkpoint,
)
from evidence.store.schema import audit_log, now_utc

log = logging.getLogger(__name__)

GENESIS = "0" * 64
ADVISORY_LOCK_ID = 0x6570_6175  # "epau"
_append_lock = threading.Lock()  # spares same-process writers the retry; correctness rests on the key
_seals: weakref.WeakKeyDictionary[Engine, AuditSeal] = weakref.WeakKeyDictionary()


def attach(engine: Engine, seal: AuditSeal) -> None:
    """Seal every entry written through ``engine`` with ``seal``'s key, and checkpoint its chain."""
    _seals[engine] = seal


def seal_of(engine: Engine) -> AuditSeal | None:
    return _seals.get(engine)


def canonical(value: Any) -> str | None:
    """Stable JSON (sorted keys, no spaces, UTF-8 kept) so the hash does not depend on dict order."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(seq: int, at: str, actor: str, action: str, record_id: str | None,
               before: str | None, after: str | None, prev_hash: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 of the entry under ``key``; plain SHA-256 without one (entries from before keys)."""
    body = json.dumps([seq, at, actor, action, record_id, before, after, prev_hash],
                      separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hmac.new(key, body, hashlib.sha256).hexdigest() if key else hashlib.sha256(body).hexdigest()


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
    lock; the store's SQLite engine begins every write IMMEDIATE), so the tail read here is the
    tail at commit. Any other engine may still race: the seq key then raises IntegrityError."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_ID})
    seal = seal_of(conn.engine)
    tail = conn.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)).first()
    seq, prev = (tail.seq + 1, tail.hash) if tail else (1, GENESIS)
    at = now_utc().isoformat(timespec="microseconds")
    b, a = canonical(before), canonical(after)
    h = entry_hash(seq, at, actor, action, record_id, b, a, prev, seal.key if seal else None)
    conn.execute(insert(audit_log).values(seq=seq, at=at, actor=actor, action=action, record_id=record_id,
                                          before=b, after=a, prev_hash=prev, hash=h, key_id=seal.key_id if seal else None))
    return AuditEntry(seq, at, actor, action, record_id, b, a, prev, h)


def append_retrying(engine: Engine, actor: str, action: str, record_id: str | None = None,
                    before: Any = None, after: Any = None, attempts: int = 20) -> AuditEntry:
    """Append in a transaction of its own, retrying when a concurrent writer won the same seq; then
    write a checkpoint if one is due."""
    for _ in range(attempts):
        try:
            with _append_lock, engine.begin() as conn:
                entry = append(conn, actor, action, record_id, before, after)
            break
        except IntegrityError:
            continue
    else:
        raise RuntimeError(f"could not append to the audit log after {attempts} attempts (heavy contention?)")
    seal = seal_of(engine)
    if seal is not None:
        checkpoint_if_due(engine, seal)
    return entry


def checkpoint_if_due(engine: Engine, seal: AuditSeal) -> Checkpoint | None:
    """Pin the head once it is ``seal.every`` entries past the last checkpoint (or when there is none),
    after verifying what came since: a broken chain is never pinned."""
    try:
        last = latest_checkpoint(seal)
    except CheckpointError as exc:
        log.error("audit checkpoints unreadable; none written", extra={"error": str(exc)})
        return None
    with engine.connect() as conn:
        head = conn.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)).first()
        first_keyed = conn.execute(select(func.min(audit_log.c.seq)).where(audit_log.c.key_id.is_not(None))).scalar()
    if head is None or (last is not None and head.seq - last.seq < seal.every):
        return None
    report = verify_chain(engine, seal, incremental=True)
    if not report.ok:
        log.error("audit chain broken; no checkpoint written", extra={"seq": report.broken_seq, "reason": report.reason})
        return None
    keyed_from = last.keyed_from if last is not None else (first_keyed or head.seq)
    at = now_utc().isoformat(timespec="seconds")
    return write_checkpoint(seal, Checkpoint(seq=head.seq, hash=head.hash, keyed_from=keyed_from, at=at, key_id=seal.key_id))


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    broken_seq: int | None = None  # the first entry that does not check out
    reason: str | None = None
    checked: int = 0  # entries walked
    since: int = 0  # the walk started after this entry (a checkpoint); 0: from the first


def _walk(rows, seal: AuditSeal | None, pins: dict[int, str], keyed_from: int | None,
          expected_seq: int, prev: str, seen_keyed: bool) -> tuple[int, int, str | None]:
    """Check ``rows`` in order; returns (rows checked, last seq, None) or (checked, broken seq, why)."""
    checked = 0
    for row in rows:
        checked += 1
        if row.seq != expected_seq:
            return checked, expected_seq, f"entry {expected_seq} is missing (next present is {row.seq})"
        if row.prev_hash != prev:
            return checked, row.seq, "prev_hash does not match the previous entry's hash"
        key = None
        if row.key_id is None:
            if seen_keyed or (keyed_from is not None and row.seq >= keyed_from):
                return checked, row.seq, "entry is not sealed with the audit key (written around the app)"
        else:
            seen_keyed = True
            if seal is None:
                return checked, row.seq, f"entry is sealed with audit key {row.key_id}; verifying it needs that key (--audit-key)"
            if row.key_id != seal.key_id:
                return checked, row.seq, f"entry is sealed with another audit key ({row.key_id}, not {seal.key_id})"
            key = seal.key
        if entry_hash(row.seq, row.at, row.actor, row.action, row.record_id, row.before, row.after, row.prev_hash, key) != row.hash:
            return checked, row.seq, "content does not match its hash (entry edited)"
        if row.seq in pins and pins[row.seq] != row.hash:
            return checked, row.seq, "entry differs from the one its checkpoint pinned"
        prev, expected_seq = row.hash, expected_seq + 1
    return checked, expected_seq - 1, None


def verify_chain(engine: Engine, seal: AuditSeal | None = None, *, incremental: bool = False) -> ChainReport:
    """Recompute the chain (from entry 1, or from the latest checkpoint with ``incremental``) and
    check it against the checkpoints; report the first entry that fails. ``seal``: default, the
    one attached to ``engine``."""
    seal = seal or seal_of(engine)
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
        try:
            cps = read_checkpoints(seal) if seal is not None and not incremental else []
            latest = latest_checkpoint(seal) if seal is not None else None
        except CheckpointError as exc:
            return ChainReport(total, False, None, str(exc))
        if latest is not None and not cps:
            cps = [latest]
        pins = {cp.seq: cp.hash for cp in cps}
        keyed_from = latest.keyed_from if latest is not None else None
        start = latest if incremental else None
        stmt = select(audit_log).order_by(audit_log.c.seq)
        if start is not None:
            pinned = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq == start.seq)).scalar()
            if pinned is None:
                last = conn.execute(select(func.max(audit_log.c.seq))).scalar() or 0
                if last < start.seq:
                    return ChainReport(total, False, last + 1, f"the checkpoint pins entry {start.seq} but the log ends at "
                                                               f"{last}: the newest entries were deleted", since=start.seq)
                return ChainReport(total, False, start.seq, "entry pinned by the latest checkpoint is missing", since=start.seq)
            if pinned != start.hash:
                return ChainReport(total, False, start.seq, "entry differs from the one its checkpoint pinned", since=start.seq)
            stmt = stmt.where(audit_log.c.seq > start.seq)
        checked, last, why = _walk(conn.execute(stmt), seal, pins, keyed_from,
                                   start.seq + 1 if start else 1, start.hash if start else GENESIS, start is not None)
    since = start.seq if start else 0
    if why is not None:
        return ChainReport(total, False, last, why, checked, since)
    beyond = max(pins, default=0)
    if beyond > last:
        return ChainReport(total, False, last + 1, f"the checkpoint pins entry {beyond} but the log ends at {last}: "
                                                   "the newest entries were deleted", checked, since)
    return ChainReport(total, True, checked=checked, since=since)


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
