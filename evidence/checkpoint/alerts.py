"""Alerts (watchlist hits, suspected clones) and their deliveries, in the store.

An alert is written once per ``alert_key`` together with one delivery row per target (each
webhook by name, ``redis`` when a stream is configured), in one transaction: the delivery rows are
the outbox a dispatcher works through (``pipelines.checkpoint.dispatch``), so an alert raised while
a receiver is down waits in the store, not in memory. People move an alert open -> acknowledged ->
dispatched -> closed on the alerts page; raising and every move go to the audit chain
(record id ``alert:<id>``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from evidence.checkpoint.values import ALERT_TRANSITIONS, Alert, AlertQuery, AlertState, Delivery, NewAlert
from evidence.review import audit
from evidence.store.schema import alerts, deliveries, now_utc

SYSTEM_ACTOR = "epolice"
ACTIONS = {"acknowledged": "alert_acknowledge", "dispatched": "alert_dispatch", "closed": "alert_close"}


class AlertError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def audit_ref(alert_id: int) -> str:
    return f"alert:{alert_id}"


def _to_alert(row: sa.Row) -> Alert:
    return Alert.model_validate(dict(row._mapping))


def create(engine: sa.Engine, alert: NewAlert, targets: list[str]) -> tuple[Alert, bool]:
    """Store the alert and its deliveries once; returns (the alert, whether it is new)."""
    now = now_utc()
    values = {**alert.model_dump(mode="python"), "state": "open", "created_at": now}
    insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(alerts)
    stmt = insert.values(**values).on_conflict_do_nothing(index_elements=["alert_key"]).returning(alerts.c.id)
    with engine.begin() as conn:
        new_id = conn.execute(stmt).scalar_one_or_none()
        if new_id is not None:
            for target in dict.fromkeys(targets):
                conn.execute(sa.insert(deliveries).values(alert_id=new_id, target=target, state="pending", attempts=0, next_at=now))
            audit.append(conn, SYSTEM_ACTOR, "alert_raise", audit_ref(int(new_id)), None,
                         {"kind": alert.kind, "plate": alert.plate, "score": alert.score, "match": alert.match,
                          "pass_key": alert.pass_key, "entry_id": alert.entry_id, "other_pass_key": alert.other_pass_key})
        row = conn.execute(sa.select(alerts).where(alerts.c.alert_key == alert.alert_key)).one()
    return _to_alert(row), new_id is not None


def get(engine: sa.Engine, alert_id: int) -> Alert | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
    return None if row is None else _to_alert(row)


def query(engine: sa.Engine, q: AlertQuery | None = None) -> list[Alert]:
    """Open alerts first by priority, then newest."""
    q = q or AlertQuery()
    stmt = sa.select(alerts)
    if q.state is not None:
        stmt = stmt.where(alerts.c.state == q.state)
    if q.kind is not None:
        stmt = stmt.where(alerts.c.kind == q.kind)
    if q.site_id is not None:
        stmt = stmt.where(alerts.c.site_id == q.site_id)
    stmt = stmt.order_by(alerts.c.priority, alerts.c.created_at.desc(), alerts.c.id.desc()).limit(q.limit).offset(q.offset)
    with engine.connect() as conn:
        return [_to_alert(r) for r in conn.execute(stmt)]


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        found = dict(conn.execute(sa.select(alerts.c.state, sa.func.count()).group_by(alerts.c.state)).all())
    return {s: int(found.get(s, 0)) for s in ALERT_TRANSITIONS}


def transition(engine: sa.Engine, alert_id: int, state: AlertState, actor: str, *, note: str | None = None,
               expected_version: int | None = None) -> Alert:
    """Move an alert one step (see ``ALERT_TRANSITIONS``), version-checked, audited in the same transaction."""
    now = now_utc()
    with engine.begin() as conn:
        row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
        if row is None:
            raise AlertError(404, f"no alert {alert_id}")
        current = _to_alert(row)
        if state not in ALERT_TRANSITIONS[current.state]:
            raise AlertError(409, f"alert {alert_id} is {current.state}; it cannot become {state}")
        if expected_version is not None and expected_version != current.row_version:
            raise AlertError(409, f"alert {alert_id} changed meanwhile; reload")
        done = conn.execute(sa.update(alerts).where(alerts.c.id == alert_id, alerts.c.row_version == current.row_version)
                            .values(state=state, updated_at=now, updated_by=actor, row_version=current.row_version + 1)).rowcount
        if done != 1:
            raise AlertError(409, f"alert {alert_id} changed meanwhile; reload")
        after = {"state": state, **({"note": note} if note else {})}
        audit.append(conn, actor, ACTIONS[state], audit_ref(alert_id), {"state": current.state}, after)
        return _to_alert(conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).one())


# -- deliveries: the outbox ------------------------------------------------------------------------
def _to_delivery(row: sa.Row) -> Delivery:
    data = dict(row._mapping)
    data.pop("claimed_until", None)
    return Delivery.model_validate(data)


def due(engine: sa.Engine, now: datetime, limit: int = 50) -> list[Delivery]:
    """Pending deliveries whose time has come and that no dispatcher is sending right now."""
    stmt = (sa.select(deliveries)
            .where(deliveries.c.state == "pending", deliveries.c.next_at <= now,
                   sa.or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until < now))
            .order_by(deliveries.c.next_at, deliveries.c.id).limit(limit))
    with engine.connect() as conn:
        return [_to_delivery(r) for r in conn.execute(stmt)]


def next_due(engine: sa.Engine) -> datetime | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.min(deliveries.c.next_at)).where(deliveries.c.state == "pending")).scalar_one()


def claim(engine: sa.Engine, delivery: Delivery, until: datetime, now: datetime) -> bool:
    """Take a delivery for sending (False: another dispatcher took it first)."""
    with engine.begin() as conn:
        return conn.execute(sa.update(deliveries).where(
            deliveries.c.id == delivery.id, deliveries.c.state == "pending", deliveries.c.attempts == delivery.attempts,
            sa.or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until < now),
        ).values(claimed_until=until)).rowcount == 1


def delivered(engine: sa.Engine, delivery: Delivery) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(deliveries).where(deliveries.c.id == delivery.id).values(
            state="delivered", attempts=delivery.attempts + 1, delivered_at=now_utc(), claimed_until=None, last_error=None))


def failed(engine: sa.Engine, delivery: Delivery, error: str, next_at: datetime | None) -> None:
    """One more failed attempt: try again at ``next_at``, or (None) it is dead: the dead letters."""
    values = {"attempts": delivery.attempts + 1, "last_error": error[:1000], "claimed_until": None}
    values.update({"state": "dead"} if next_at is None else {"next_at": next_at})
    with engine.begin() as conn:
        conn.execute(sa.update(deliveries).where(deliveries.c.id == delivery.id).values(**values))


def deliveries_of(engine: sa.Engine, alert_id: int) -> list[Delivery]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries).where(deliveries.c.alert_id == alert_id).order_by(deliveries.c.id))
        return [_to_delivery(r) for r in rows]


def by_state(engine: sa.Engine, state: str, limit: int = 1000) -> list[Delivery]:
    """E.g. the dead letters (``dead``), oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries).where(deliveries.c.state == state).order_by(deliveries.c.id).limit(limit))
        return [_to_delivery(r) for r in rows]


def delivery_counts(engine: sa.Engine) -> dict[str, int]:
    """Deliveries per state (pending, delivered, dead), zero for a state with none."""
    with engine.connect() as conn:
        found = dict(conn.execute(sa.select(deliveries.c.state, sa.func.count()).group_by(deliveries.c.state)).all())
    return {state: int(found.get(state, 0)) for state in ("pending", "delivered", "dead")}
