"""Checkpoint mode in the review app: the watchlist (supervisors and admins manage it, every change
audited), the alerts page (open -> acknowledged -> dispatched -> closed, audited; a suspected clone
shows both passes side by side), pass pictures (served only when they still match their sha256),
and the checkpoint figures (passes per hour and confirmed-read share per camera, open alerts)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from evidence.checkpoint import alerts, watchlist
from evidence.checkpoint.images import PassImageError, read_verified
from evidence.checkpoint.passes import PassStore
from evidence.checkpoint.values import ALERT_TRANSITIONS, WATCH_REASONS, AlertQuery, NewWatchEntry
from evidence.review import audit
from evidence.review.auth import Permission, Session
from evidence.review.web import ctx_of, guard, render
from evidence.review.workflow import WorkflowError

router = APIRouter()
STATES = tuple(ALERT_TRANSITIONS)
FIGURE_HOURS = 24


def _engine(request: Request):  # noqa: ANN202 - sa.Engine
    return ctx_of(request).store.engine


@router.get("/alerts")
def alerts_page(request: Request, sess: Session = Depends(guard(Permission.CHECKPOINT))) -> Response:
    state = request.query_params.get("state") or "open"
    q = AlertQuery(state=state if state in STATES else None, limit=200)
    engine = _engine(request)
    return render(request, "alerts.html", sess, alerts=alerts.query(engine, q), counts=alerts.counts(engine),
                  state=state, states=STATES)


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, alert_id: int, sess: Session = Depends(guard(Permission.CHECKPOINT))) -> Response:
    engine = _engine(request)
    alert = alerts.get(engine, alert_id)
    if alert is None:
        raise WorkflowError(404, f"no alert {alert_id}")
    store = PassStore(engine)
    this = store.get(alert.pass_key, alert.pass_time)
    other = store.get(alert.other_pass_key, alert.other_pass_time) if alert.other_pass_key else None
    entry = watchlist.get(engine, alert.entry_id) if alert.entry_id else None
    history = list(reversed(audit.entries(engine, record_id=alerts.audit_ref(alert_id))))
    return render(request, "alert.html", sess, alert=alert, passes=[p for p in (this, other) if p is not None],
                  entry=entry, history=history, next_states=ALERT_TRANSITIONS[alert.state],
                  deliveries=alerts.deliveries_of(engine, alert_id))


@router.post("/alerts/{alert_id}/state")
def alert_move(request: Request, alert_id: int, state: str = Form(...), version: int = Form(...),
               note: str = Form("", max_length=500), sess: Session = Depends(guard(Permission.CHECKPOINT))) -> Response:
    if state not in STATES:
        raise WorkflowError(422, f"unknown state {state!r}")
    try:
        alerts.transition(_engine(request), alert_id, state, sess.user.name, note=note.strip() or None,  # type: ignore[arg-type]
                          expected_version=version)
    except alerts.AlertError as exc:
        raise WorkflowError(exc.status, str(exc)) from None
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@router.get("/passes/{pass_key}/{picture}")
def pass_picture(request: Request, pass_key: str, picture: str,
                 sess: Session = Depends(guard(Permission.CHECKPOINT))) -> Response:
    if picture not in ("panorama", "vehicle"):
        raise WorkflowError(404, f"no picture {picture!r}")
    p = PassStore(_engine(request)).get(pass_key)
    image = getattr(p, picture) if p is not None else None
    if image is None:
        raise WorkflowError(404, f"no {picture} for pass {pass_key}")
    try:
        data = read_verified(image)
    except PassImageError as exc:
        raise WorkflowError(exc.status, str(exc)) from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/watchlist")
def watchlist_page(request: Request, sess: Session = Depends(guard(Permission.CHECKPOINT))) -> Response:
    return render(request, "watchlist.html", sess, entries=watchlist.entries(_engine(request)), reasons=WATCH_REASONS,
                  error=request.query_params.get("error"))


def _local_time(request: Request, value: str) -> datetime | None:
    """A datetime-local form value, in the app's time zone."""
    value = value.strip()
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=ctx_of(request).tz)
    except ValueError:
        raise WorkflowError(422, f"{value!r} is not a date and time") from None


@router.post("/watchlist")
def watchlist_add(request: Request, plate: str = Form(..., max_length=16), reason: str = Form(...),
                  priority: int = Form(3), note: str = Form("", max_length=500), valid_from: str = Form(""),
                  valid_until: str = Form(""), sess: Session = Depends(guard(Permission.CHECKPOINT))) -> Response:
    try:
        new = NewWatchEntry(plate=plate, reason=reason, priority=priority, note=note,  # type: ignore[arg-type]
                            valid_from=_local_time(request, valid_from), valid_until=_local_time(request, valid_until))
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
        return render(request, "watchlist.html", sess, status_code=422, entries=watchlist.entries(_engine(request)),
                      reasons=WATCH_REASONS, error=msg)
    watchlist.add(_engine(request), new, sess.user.name)
    return RedirectResponse("/watchlist", status_code=303)


@router.post("/watchlist/{entry_id}/remove")
def watchlist_remove(request: Request, entry_id: int, sess: Session = Depends(guard(Permission.CHECKPOINT))) -> Response:
    try:
        watchlist.remove(_engine(request), entry_id, sess.user.name)
    except watchlist.WatchlistError as exc:
        raise WorkflowError(409, str(exc)) from None
    return RedirectResponse("/watchlist", status_code=303)


@router.get("/checkpoint")
def checkpoint_page(request: Request, sess: Session = Depends(guard(Permission.STATS))) -> Response:
    engine = _engine(request)
    since = datetime.now(timezone.utc) - timedelta(hours=FIGURE_HOURS)
    store = PassStore(engine)
    return render(request, "checkpoint.html", sess, per_hour=store.per_hour(since), shares=store.confirmed_share(since),
                  counts=alerts.counts(engine))
