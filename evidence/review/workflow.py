"""The review workflow on the record store: queue, claims, decisions, plate corrections.

Everything that changes a record happens in ONE transaction that (1) checks the reviewer still
holds the record's claim, (2) updates the record only if its ``row_version`` is the one just read,
(3) writes the store's decision log and (4) appends the audit chain. Either all four happen or none.

Claims: opening a record reserves it for ``claim_seconds`` with one conditional UPDATE (free, mine
or expired), so two reviewers working one queue never get the same record, and a reviewer who
walks away does not block it for long. Even if a claim were lost, the row-version check and the
store's allowed transitions make a second decision on the same record fail instead of landing.

Two-person rule: for the rules in ``ReviewConfig.second_review_rules`` a first approval is logged as
``approve_first`` and the record stays ``pending_review``; a supervisor other than the first
reviewer then confirms (``approved``) or overturns (``rejected``). Rejections need no second person.
A plate changed (typed or picked) at the second stage sends the record back to the first
(``return_first``): the first approval did not cover that plate, and whoever changed it must not
also confirm it.

Plates: a record whose plate the two readers did not confirm (``unconfirmed``, or ``legacy`` from
before double reading) cannot be approved until the reviewer picks one of its candidates or types
the plate; the machine reading is kept beside the reviewer's.

Evidence: an approval is refused while the record's evidence does not verify (``trust``: the
trusted keys); rejecting such a record stays possible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from evidence.export import verify_record
from evidence.review import audit
from evidence.review.auth import Permission, User
from evidence.signing import Trust
from evidence.store import RecordQuery, RecordStore, StoreConflict, ViolationRecord, change_record
from evidence.store.records import TRANSITIONS
from evidence.store.schema import decisions, now_utc, reason_codes, records

Stage = Literal["first", "second"]
PlateSource = Literal["typed", "candidate"]
FINAL_ACTIONS = ("approve", "reject", "reopen", "export")  # actions of the store's set_status
FIRST_APPROVAL = "approve_first"
RETURN_FIRST = "return_first"  # a second-stage plate change sent the record back to the first stage
PLATE_COLORS = ("blue", "yellow", "green", "white", "black", "unknown")
# Province (or 使/领) + issuing-office letter + 4-6 letters/digits (new-energy plates have 6) + an
# optional special suffix. Loose on purpose: the reviewer reads the picture, we only stop typos.
PLATE_RE = re.compile(r"^[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领][A-Z][A-Z0-9]{4,6}[挂学警港澳领试超]?$")


class WorkflowError(Exception):
    """A review action (or an evidence file) was refused; ``status`` is the HTTP status that describes why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class QueueFilter:
    site_id: str | None = None
    camera_id: str | None = None
    rule: str | None = None
    plate: str | None = None
    day_from: date | None = None  # local calendar days (ReviewSettings.timezone), inclusive
    day_to: date | None = None

    def query(self, tz: ZoneInfo, status: str | None = None) -> RecordQuery:
        since = datetime.combine(self.day_from, time(0), tz) if self.day_from else None
        until = datetime.combine(self.day_to + timedelta(days=1), time(0), tz) if self.day_to else None
        return RecordQuery(site_id=self.site_id or None, camera_id=self.camera_id or None, rule=self.rule or None,
                           plate=(self.plate or "").strip().upper() or None, since=since, until=until,
                           status=status, limit=None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class QueueItem:
    record: ViolationRecord
    stage: Stage
    first_reviewer: str | None  # who gave the first approval, for second-review items
    claimed_by: str | None  # a live claim by someone, or None


def _latest_final(record_id_col: Any) -> sa.ScalarSelect:
    """The id of the record's newest status-changing or first-approval decision."""
    d = decisions.alias("d_latest")
    return (sa.select(sa.func.max(d.c.id))
            .where(d.c.record_id == record_id_col, d.c.action.in_(FINAL_ACTIONS + (FIRST_APPROVAL, RETURN_FIRST)))
            .scalar_subquery())


def _first_approval(record_id_col: Any) -> sa.ScalarSelect:
    """The actor of the record's pending first approval, or NULL when there is none."""
    d = decisions.alias("d_first")
    # The inner subquery correlates with d_first (its immediate parent), which correlates with the
    # caller's record: correlating the inner one with the record directly would not reach it.
    return (sa.select(d.c.actor)
            .where(d.c.record_id == record_id_col, d.c.action == FIRST_APPROVAL, d.c.id == _latest_final(d.c.record_id))
            .scalar_subquery())


def queue(store: RecordStore, flt: QueueFilter, tz: ZoneInfo, stage: Stage, me: User | None = None,
          limit: int = 50, offset: int = 0) -> list[QueueItem]:
    """Pending records of one stage, oldest first. Second-stage items exclude the viewer's own approvals."""
    now = now_utc()
    first = _first_approval(records.c.id).label("first_reviewer")
    stmt = sa.select(records, first).where(*RecordStore.record_filters(flt.query(tz, "pending_review")))
    stmt = stmt.where(first.is_(None) if stage == "first" else first.is_not(None))
    if stage == "second" and me is not None:
        stmt = stmt.where(first != me.name)
    stmt = stmt.order_by(records.c.start_time.asc(), records.c.id.asc()).limit(limit).offset(offset)
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = []
    for r in rows:
        m = dict(r._mapping)
        fr = m.pop("first_reviewer")
        rec = ViolationRecord.model_validate(m)
        live = rec.claimed_by if rec.claimed_until is not None and rec.claimed_until > now else None
        out.append(QueueItem(rec, stage, fr, live))
    return out


def counts(store: RecordStore, flt: QueueFilter, tz: ZoneInfo) -> dict[str, int]:
    """Records per status under the filter, plus ``second_review`` (pending with a first approval)."""
    where = RecordStore.record_filters(flt.query(tz))
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(records.c.status, sa.func.count()).where(*where).group_by(records.c.status)).all()
        second = conn.execute(sa.select(sa.func.count()).select_from(records).where(
            *where, records.c.status == "pending_review", _first_approval(records.c.id).is_not(None))).scalar_one()
    out = {s: 0 for s in ("pending_review", "approved", "rejected", "exported")}
    out.update({s: int(n) for s, n in rows})
    out["second_review"] = int(second)
    out["pending_review"] -= out["second_review"]
    return out


def filter_options(store: RecordStore) -> dict[str, list[str]]:
    """Distinct sites, cameras and rules, for the filter drop-downs."""
    with store.engine.connect() as conn:
        return {col: sorted(v for (v,) in conn.execute(sa.select(getattr(records.c, col)).distinct()) if v)
                for col in ("site_id", "camera_id", "rule")}


def stage_of(conn: Connection, record_id: int) -> tuple[Stage, str | None]:
    first = conn.execute(sa.select(_first_approval(sa.literal(record_id)))).scalar_one_or_none()
    return ("second", first) if first is not None else ("first", None)


# -- claims -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    ok: bool
    holder: str | None
    until: datetime | None


def claim(store: RecordStore, record_id: int, user: User, seconds: int) -> Claim:
    """Reserve a pending record for ``user``; atomic, so two reviewers never both hold it. A user who
    may not decide the record's stage (a reviewer on a second-stage record, the first approver) never
    claims it, so merely looking does not block the supervisor who must decide."""
    now = now_utc()
    until = now + timedelta(seconds=seconds)
    with store.engine.begin() as conn:
        stage, first = stage_of(conn, record_id)
        if may_decide(stage, first, user):
            row = conn.execute(sa.select(records.c.claimed_by, records.c.claimed_until).where(records.c.id == record_id)).first()
            if row is None:
                raise WorkflowError(404, f"no record {record_id}")
            return Claim(False, row.claimed_by, row.claimed_until)
        done = conn.execute(
            records.update()
            .where(records.c.id == record_id, records.c.status == "pending_review",
                   sa.or_(records.c.claimed_by.is_(None), records.c.claimed_by == user.name, records.c.claimed_until < now))
            .values(claimed_by=user.name, claimed_until=until)
        ).rowcount
        if done == 1:
            return Claim(True, user.name, until)
        row = conn.execute(sa.select(records.c.claimed_by, records.c.claimed_until).where(records.c.id == record_id)).first()
    if row is None:
        raise WorkflowError(404, f"no record {record_id}")
    return Claim(False, row.claimed_by, row.claimed_until)


def claim_next(store: RecordStore, flt: QueueFilter, tz: ZoneInfo, user: User, seconds: int,
               after: int | None = None) -> int | None:
    """Claim the oldest claimable record of the user's stage under the filter; returns its id.

    ``after``: the record the reviewer is leaving; records queued behind it come first, then the
    queue wraps, so "next" walks the queue instead of bouncing back to the oldest skipped record.
    Supervisors with no first-stage work left get second-stage records."""
    stages: list[Stage] = ["first"] + (["second"] if user.can(Permission.SECOND_REVIEW) else [])
    for stage in stages:
        for _ in range(5):  # another reviewer may take a candidate between the read and the claim
            ordered = queue(store, flt, tz, stage, user, limit=200)
            ids = [i.record.id for i in ordered]
            if after in ids:
                k = ids.index(after)
                ordered = ordered[k + 1:] + ordered[:k]
            candidates = [i for i in ordered if i.claimed_by in (None, user.name)]
            if not candidates:
                break
            for item in candidates:
                if claim(store, item.record.id, user, seconds).ok:
                    return item.record.id
    return None


def release(store: RecordStore, record_id: int, user: User) -> None:
    with store.engine.begin() as conn:
        conn.execute(records.update().where(records.c.id == record_id, records.c.claimed_by == user.name)
                     .values(claimed_by=None, claimed_until=None))


# -- changes --------------------------------------------------------------------------------------
def _locked(conn: Connection, record_id: int) -> ViolationRecord:
    """Read a pending record for a change (FOR UPDATE on PostgreSQL)."""
    stmt = sa.select(records).where(records.c.id == record_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise WorkflowError(404, f"no record {record_id}")
    rec = ViolationRecord.model_validate(dict(row._mapping))
    if rec.status != "pending_review":
        raise WorkflowError(409, f"record {record_id} is already {rec.status}")
    return rec


def _require_claim(rec: ViolationRecord, user: User) -> None:
    now = now_utc()
    if rec.claimed_by != user.name or rec.claimed_until is None or rec.claimed_until <= now:
        holder = rec.claimed_by if rec.claimed_until and rec.claimed_until > now else None
        raise WorkflowError(409, f"record {rec.id} is not claimed by you" + (f" (held by {holder})" if holder else "; open it again"))


def may_decide(stage: Stage, first_reviewer: str | None, user: User) -> str | None:
    """Why ``user`` may not decide at this stage, or None when they may."""
    if stage == "second":
        if not user.can(Permission.SECOND_REVIEW):
            return "this record waits for a supervisor's second review"
        if first_reviewer == user.name:
            return "the second review must be done by someone other than the first reviewer"
    return None


def _open_for_decision(conn: Connection, record_id: int, user: User) -> tuple[ViolationRecord, Stage, str | None]:
    """Lock the record and check that ``user`` may act on it at its stage and holds its claim."""
    rec = _locked(conn, record_id)
    stage, first = stage_of(conn, record_id)
    why_not = may_decide(stage, first, user)
    if why_not:
        raise WorkflowError(403, why_not)
    _require_claim(rec, user)
    return rec, stage, first


def _change(conn: Connection, rec: ViolationRecord, values: dict[str, Any], **log: Any) -> None:
    try:
        change_record(conn, rec, values, **log)
    except StoreConflict:
        raise WorkflowError(409, f"record {rec.id} changed meanwhile; reload it") from None


def active_reasons(conn: Connection) -> set[str]:
    return {c for (c,) in conn.execute(sa.select(reason_codes.c.code).where(reason_codes.c.active.is_(True)))}


@dataclass(frozen=True)
class Outcome:
    record_id: int
    status: str  # the record's status afterwards
    stage: Stage  # the stage this decision was
    action: str  # approve_first | approve | reject


def decide(store: RecordStore, record_id: int, user: User, decision: Literal["approve", "reject"],
           reason_code: str | None, second_review_rules: set[str], trust: Trust | None = None) -> Outcome:
    """Approve or reject a claimed record (see the module doc for the two-person rule). ``trust``:
    the keys the evidence is checked against before an approval (the app always passes them)."""
    if decision not in ("approve", "reject"):
        raise WorkflowError(422, f"decision must be approve or reject, got {decision!r}")
    if decision == "reject" and not reason_code:
        raise WorkflowError(422, "a rejection needs a reason code")
    if decision == "approve" and reason_code:
        raise WorkflowError(422, "an approval takes no reason code")
    if decision == "approve" and trust is not None and (rec := store.get(record_id)) is not None:
        check = verify_record(rec, trust)
        if not check.ok:
            raise WorkflowError(409, f"record {record_id}: its evidence does not verify, so it cannot be approved "
                                     f"({'; '.join(map(str, check.problems))})")
    with store.engine.begin() as conn:
        rec, stage, first = _open_for_decision(conn, record_id, user)
        if decision == "approve" and not rec.plate_settled:
            raise WorkflowError(409, f"the plate of record {record_id} is {rec.plate_status}: pick a candidate or type "
                                     "the plate before approving (or reject it as unreadable)")
        if decision == "reject" and reason_code not in active_reasons(conn):
            raise WorkflowError(422, f"unknown or disabled reason code {reason_code!r}")
        note = f"second review of {first}'s approval" if stage == "second" else None
        if stage == "first" and decision == "approve" and rec.rule in second_review_rules:
            action, status = FIRST_APPROVAL, "pending_review"
            note = "first approval; a second reviewer must confirm"
            values: dict[str, Any] = {"claimed_by": None, "claimed_until": None}
        else:
            action = decision
            status = "approved" if decision == "approve" else "rejected"
            if status not in TRANSITIONS[rec.status]:
                raise WorkflowError(409, f"record {record_id} is {rec.status}; cannot become {status}")
            values = {"status": status, "claimed_by": None, "claimed_until": None}
        before = {"status": rec.status, "stage": stage}
        after = {"status": status, "action": action, "reason_code": reason_code}
        _change(conn, rec, values, actor=user.name, action=action, reason_code=reason_code, note=note, before=before, after=after)
        audit.append(conn, user.name, action, str(record_id), before, after)
    return Outcome(record_id, status, stage, action)


def normalise_plate(text: str) -> str:
    return re.sub(r"[\s·•\-]", "", text).upper()


def correct_plate(store: RecordStore, record_id: int, user: User, text: str, color: str,
                  source: PlateSource = "typed") -> ViolationRecord:
    """Set the reviewer's plate, typed or picked among the record's candidates (``source``); the
    machine reading and its status stay as they were, both go to the logs (``correct_plate`` /
    ``pick_plate``)."""
    plate = normalise_plate(text)
    if color not in PLATE_COLORS:
        raise WorkflowError(422, f"plate colour must be one of {', '.join(PLATE_COLORS)}")
    if source == "typed" and not PLATE_RE.match(plate):
        raise WorkflowError(422, f"{plate!r} is not a plate (province character, letter, then 4-6 letters or digits)")
    with store.engine.begin() as conn:
        rec, stage, first = _open_for_decision(conn, record_id, user)
        if source == "candidate" and plate not in {c.text for c in rec.plate_choices}:
            raise WorkflowError(422, f"{plate!r} is not one of the record's candidates")
        before = {"machine_text": rec.plate_text, "machine_color": rec.plate_color, "machine_status": rec.plate_status,
                  "reviewed_text": rec.plate_text_reviewed, "reviewed_color": rec.plate_color_reviewed}
        after = {**before, "reviewed_text": plate, "reviewed_color": color, "source": source}
        action = "pick_plate" if source == "candidate" else "correct_plate"
        _change(conn, rec, {"plate_text_reviewed": plate, "plate_color_reviewed": color},
                actor=user.name, action=action, before=before, after=after)
        audit.append(conn, user.name, action, str(record_id), before, after)
        if stage == "second":
            back = ({"stage": "second", "first_reviewer": first}, {"stage": "first"})
            conn.execute(decisions.insert().values(
                record_id=record_id, actor=user.name, at=now_utc(), action=RETURN_FIRST, before=back[0], after=back[1],
                note=f"plate changed at the second review; {first}'s first approval did not cover it"))
            audit.append(conn, user.name, RETURN_FIRST, str(record_id), *back)
        row = conn.execute(sa.select(records).where(records.c.id == record_id)).first()
    return ViolationRecord.model_validate(dict(row._mapping))
