"""The watchlist (布控名单): add, import, list and remove entries, every change in the audit chain.

Used alike by ``epolice watchlist ...`` and the review app's watchlist page, so a change made either
way is audited the same (``evidence.review.audit``, record id ``watchlist:<id>``). Entries are never
deleted: a removed entry turns inactive, since alerts keep pointing at it.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import sqlalchemy as sa
from pydantic import ValidationError

from evidence.checkpoint.values import WATCH_REASONS, NewWatchEntry, WatchEntry
from evidence.review import audit
from evidence.store.schema import now_utc, watchlist

CSV_FIELDS = ("plate", "reason", "valid_from", "valid_until", "priority", "note")
_REASON_BY_LABEL = {label: code for code, names in WATCH_REASONS.items() for label in (code, names["zh"], names["en"])}


class WatchlistError(ValueError):
    """An entry or a CSV that cannot be taken; the message names the line and the field."""


def audit_ref(entry_id: int) -> str:
    return f"watchlist:{entry_id}"


def _audited(entry: WatchEntry) -> dict:
    return entry.model_dump(mode="json", include={"plate", "reason", "valid_from", "valid_until", "priority", "note", "active"})


def _insert(conn: sa.Connection, entry: NewWatchEntry, actor: str, action: str) -> WatchEntry:
    now = now_utc()
    values = {**entry.model_dump(), "is_pattern": entry.is_pattern, "active": True, "created_by": actor, "created_at": now}
    new_id = conn.execute(sa.insert(watchlist).values(**values)).inserted_primary_key[0]
    saved = WatchEntry(id=int(new_id), active=True, created_by=actor, created_at=now, **entry.model_dump())
    audit.append(conn, actor, action, audit_ref(saved.id), None, _audited(saved))
    return saved


def add(engine: sa.Engine, entry: NewWatchEntry, actor: str) -> WatchEntry:
    """One entry, audited as ``watchlist_add``."""
    with engine.begin() as conn:
        return _insert(conn, entry, actor, "watchlist_add")


def add_many(engine: sa.Engine, entries: list[NewWatchEntry], actor: str) -> list[WatchEntry]:
    """A whole import in one transaction (all or nothing), each entry audited as ``watchlist_import``."""
    with engine.begin() as conn:
        return [_insert(conn, e, actor, "watchlist_import") for e in entries]


def remove(engine: sa.Engine, entry_id: int, actor: str) -> WatchEntry:
    """Make an entry inactive (audited as ``watchlist_remove``); raises WatchlistError if unknown or removed."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(watchlist).where(watchlist.c.id == entry_id)).first()
        if row is None:
            raise WatchlistError(f"no watchlist entry {entry_id}")
        before = _to_entry(row)
        if not before.active:
            raise WatchlistError(f"watchlist entry {entry_id} was already removed")
        now = now_utc()
        conn.execute(sa.update(watchlist).where(watchlist.c.id == entry_id).values(active=False, updated_at=now))
        after = before.model_copy(update={"active": False, "updated_at": now})
        audit.append(conn, actor, "watchlist_remove", audit_ref(entry_id), _audited(before), _audited(after))
        return after


def _to_entry(row: sa.Row) -> WatchEntry:
    data = dict(row._mapping)
    data.pop("is_pattern", None)
    return WatchEntry.model_validate(data)


def get(engine: sa.Engine, entry_id: int) -> WatchEntry | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(watchlist).where(watchlist.c.id == entry_id)).first()
    return None if row is None else _to_entry(row)


def entries(engine: sa.Engine, active_only: bool = True, plate: str | None = None) -> list[WatchEntry]:
    """Most urgent first, then newest."""
    stmt = sa.select(watchlist).order_by(watchlist.c.priority, watchlist.c.id.desc())
    if active_only:
        stmt = stmt.where(watchlist.c.active.is_(True))
    if plate:
        stmt = stmt.where(watchlist.c.plate == plate.strip().upper())
    with engine.connect() as conn:
        return [_to_entry(r) for r in conn.execute(stmt)]


def version(engine: sa.Engine) -> tuple[int, datetime | None, datetime | None]:
    """Changes whenever an entry is added or removed: matchers reload their index when it does."""
    with engine.connect() as conn:
        n, created, updated = conn.execute(sa.select(sa.func.count(), sa.func.max(watchlist.c.created_at),
                                                     sa.func.max(watchlist.c.updated_at))).one()
    return int(n), created, updated


def reason_code(label: str) -> str | None:
    """A reason's code from its code or its Chinese or English label (None: unknown)."""
    return _REASON_BY_LABEL.get(label.strip())


def _time(value: str, field: str, line: int) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise WatchlistError(f"line {line}: {field} {value!r} is not an ISO 8601 time (e.g. 2027-01-31T00:00+08:00)") from None
    if t.tzinfo is None:
        raise WatchlistError(f"line {line}: {field} {value!r} needs a UTC offset (e.g. +08:00)")
    return t


def parse_csv(text: str) -> list[NewWatchEntry]:
    """Entries from CSV text with a header row (``plate,reason[,valid_from,valid_until,priority,note]``);
    a reason is its code or its Chinese or English label. Every bad line is named in one error."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "plate" not in header or "reason" not in header:
        raise WatchlistError(f"the CSV needs a header with at least plate and reason; got {header}")
    unknown = sorted(set(header) - set(CSV_FIELDS))
    if unknown:
        raise WatchlistError(f"unknown CSV columns {unknown}; expected {', '.join(CSV_FIELDS)}")
    out, problems = [], []
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        try:
            reason = reason_code(row["reason"])
            if reason is None:
                raise WatchlistError(f"line {line}: reason {row['reason']!r}; expected one of {', '.join(WATCH_REASONS)}")
            out.append(NewWatchEntry(
                plate=row["plate"], reason=reason, valid_from=_time(row.get("valid_from", ""), "valid_from", line),
                valid_until=_time(row.get("valid_until", ""), "valid_until", line),
                priority=int(row.get("priority") or 3), note=row.get("note", "")))
        except WatchlistError as exc:
            problems.append(str(exc))
        except (ValidationError, ValueError) as exc:
            msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            problems.append(f"line {line}: {msg.removeprefix('Value error, ')}")
    if problems:
        raise WatchlistError("; ".join(problems[:20]) + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""))
    return out
