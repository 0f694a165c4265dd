"""The reviewer's routes: queue, next, record page, evidence files, and the JSON actions the page's
keyboard shortcuts call (claim, release, decision, plate)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import Field

from evidence.export import verify_record
from evidence.review import audit, workflow
from evidence.review.auth import Permission, Session
from evidence.review.files import EvidenceFileError, kinds, load_manifest, read_verified
from evidence.review.web import AppContext, ctx_of, filter_query, guard, language, parse_filter, reasons, render
from evidence.review.workflow import WorkflowError
from evidence.store import ViolationRecord
from models.strict import StrictModel

router = APIRouter()
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _record(ctx: AppContext, record_id: int) -> ViolationRecord:
    rec = ctx.store.get(record_id)
    if rec is None:
        raise WorkflowError(404, f"no record {record_id}")
    return rec


def item_json(item: workflow.QueueItem) -> dict:
    r = item.record
    return {"id": r.id, "event_key": r.event_key, "site_id": r.site_id, "camera_id": r.camera_id, "rule": r.rule,
            "start_time": r.start_time.isoformat(), "plate": r.plate, "plate_machine": r.plate_text,
            "status": r.status, "stage": item.stage, "first_reviewer": item.first_reviewer,
            "claimed_by": item.claimed_by}


@router.get("/queue")
def queue_page(request: Request, stage: Literal["first", "second"] = "first", page: int = 1,
               sess: Session = Depends(guard(Permission.REVIEW))) -> Response:
    ctx = ctx_of(request)
    if stage == "second" and not sess.user.can(Permission.SECOND_REVIEW):
        raise WorkflowError(403, "the second-review queue is for supervisors")
    flt = parse_filter(request)
    size = ctx.cfg.page_size
    page = max(1, page)
    items = workflow.queue(ctx.store, flt, ctx.tz, stage, sess.user, limit=size, offset=(page - 1) * size)
    return render(request, "queue.html", sess, items=items, counts=workflow.counts(ctx.store, flt, ctx.tz),
                  options=workflow.filter_options(ctx.store), flt=flt, fq=filter_query(request), stage=stage,
                  page=page, more=len(items) == size)


@router.get("/api/queue")
def queue_api(request: Request, stage: Literal["first", "second"] = "first",
              sess: Session = Depends(guard(Permission.REVIEW))) -> dict:
    ctx = ctx_of(request)
    if stage == "second" and not sess.user.can(Permission.SECOND_REVIEW):
        raise WorkflowError(403, "the second-review queue is for supervisors")
    flt = parse_filter(request)
    items = workflow.queue(ctx.store, flt, ctx.tz, stage, sess.user, limit=ctx.cfg.page_size)
    return {"counts": workflow.counts(ctx.store, flt, ctx.tz), "items": [item_json(i) for i in items]}


@router.get("/next")
def next_record(request: Request, after: int | None = None, sess: Session = Depends(guard(Permission.REVIEW))) -> Response:
    """Claim the next record under the current filter and open it (the ``n`` key)."""
    ctx = ctx_of(request)
    if after is not None:
        workflow.release(ctx.store, after, sess.user)
    rid = workflow.claim_next(ctx.store, parse_filter(request), ctx.tz, sess.user, ctx.cfg.claim_seconds, after=after)
    fq = filter_query(request)
    if rid is None:
        return RedirectResponse(f"/queue?{fq}{'&' if fq else ''}empty=1", status_code=303)
    return RedirectResponse(f"/records/{rid}{'?' + fq if fq else ''}", status_code=303)


def _record_view(ctx: AppContext, rec: ViolationRecord, sess: Session) -> dict:
    """What the record page and the JSON view show: the record, its stage, its claim, its log."""
    claim = None
    if rec.status == "pending_review":
        claim = workflow.claim(ctx.store, rec.id, sess.user, ctx.cfg.claim_seconds)
        rec = _record(ctx, rec.id)
    with ctx.store.engine.connect() as conn:
        stage, first = workflow.stage_of(conn, rec.id)
    check = verify_record(rec, ctx.public_key)
    try:
        file_kinds = kinds(load_manifest(Path(rec.evidence_path), ctx.public_key, rec.event_key, rec.manifest_sha256))
    except EvidenceFileError:
        file_kinds = []
    can_decide = (rec.status == "pending_review" and claim is not None and claim.ok
                  and workflow.may_decide(stage, first, sess.user) is None)
    why_not = workflow.may_decide(stage, first, sess.user) if rec.status == "pending_review" else None
    return {"record": rec, "stage": stage, "first_reviewer": first, "claim": claim, "can_decide": can_decide,
            "can_approve": can_decide and check.ok, "why_not": why_not, "choices": rec.plate_choices,
            "verify": check, "kinds": file_kinds, "log": ctx.store.decisions(rec.id),
            "two_person": rec.rule in ctx.cfg.second_review_rules}


@router.get("/records/{record_id}")
def record_page(request: Request, record_id: int, sess: Session = Depends(guard(Permission.REVIEW))) -> Response:
    ctx = ctx_of(request)
    rec = _record(ctx, record_id)
    view = _record_view(ctx, rec, sess)
    audit.append_retrying(ctx.store.engine, sess.user.name, "view", str(record_id),
                          after={"status": view["record"].status, "evidence_ok": view["verify"].ok})
    lang = language(request)
    return render(request, "record.html", sess, **view, reasons=reasons(ctx), fq=filter_query(request),
                  reason_label=lambda r: r[lang], claim_seconds=ctx.cfg.claim_seconds)


@router.get("/api/records/{record_id}")
def record_api(request: Request, record_id: int, sess: Session = Depends(guard(Permission.REVIEW))) -> dict:
    ctx = ctx_of(request)
    view = _record_view(ctx, _record(ctx, record_id), sess)
    audit.append_retrying(ctx.store.engine, sess.user.name, "view", str(record_id),
                          after={"status": view["record"].status, "evidence_ok": view["verify"].ok})
    rec: ViolationRecord = view["record"]
    return {"record": rec.model_dump(mode="json"), "plate": rec.plate, "plate_settled": rec.plate_settled,
            "plate_choices": [c.model_dump(mode="json") for c in view["choices"]],
            "stage": view["stage"], "first_reviewer": view["first_reviewer"],
            "can_decide": view["can_decide"], "can_approve": view["can_approve"], "evidence_ok": view["verify"].ok,
            "evidence_problems": [str(p) for p in view["verify"].problems], "files": view["kinds"],
            "decisions": [d.model_dump(mode="json") for d in view["log"]]}


@router.get("/records/{record_id}/files/{kind}")
def evidence_file(request: Request, record_id: int, kind: str, sess: Session = Depends(guard(Permission.REVIEW))) -> Response:
    """One evidence file by record and kind; its hash is checked against the signed manifest first."""
    ctx = ctx_of(request)
    rec = _record(ctx, record_id)
    try:
        f = read_verified(Path(rec.evidence_path), ctx.public_key, rec.event_key, rec.manifest_sha256, kind)
    except EvidenceFileError as exc:
        audit.append_retrying(ctx.store.engine, sess.user.name, "view_file_refused", str(record_id),
                              after={"kind": kind[:32], "why": str(exc)})
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    headers = {"Accept-Ranges": "bytes", "X-Evidence-SHA256": f.sha256}
    rng = RANGE_RE.match(request.headers.get("range", ""))
    if rng and (rng.group(1) or rng.group(2)):
        size = len(f.data)
        if rng.group(1):
            start, end = int(rng.group(1)), int(rng.group(2)) if rng.group(2) else size - 1
        else:
            start, end = max(0, size - int(rng.group(2))), size - 1
        end = min(end, size - 1)
        if start > end:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        if start == 0:
            audit.append_retrying(ctx.store.engine, sess.user.name, "view_file", str(record_id), after={"kind": kind})
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Response(f.data[start:end + 1], status_code=206, media_type=f.media_type, headers=headers)
    audit.append_retrying(ctx.store.engine, sess.user.name, "view_file", str(record_id), after={"kind": kind})
    return Response(f.data, media_type=f.media_type, headers=headers)


class DecisionIn(StrictModel):
    decision: Literal["approve", "reject"]
    reason_code: str | None = Field(default=None, max_length=32)


class PlateIn(StrictModel):
    text: str = Field(min_length=1, max_length=16)
    color: str = Field(default="blue", max_length=16)
    source: workflow.PlateSource = "typed"  # "candidate": one of the record's candidates, picked


@router.post("/api/records/{record_id}/claim")
def claim_api(request: Request, record_id: int, sess: Session = Depends(guard(Permission.REVIEW))) -> dict:
    ctx = ctx_of(request)
    c = workflow.claim(ctx.store, record_id, sess.user, ctx.cfg.claim_seconds)
    return {"ok": c.ok, "holder": c.holder, "until": c.until.isoformat() if c.until else None}


@router.post("/api/records/{record_id}/release")
def release_api(request: Request, record_id: int, sess: Session = Depends(guard(Permission.REVIEW))) -> dict:
    workflow.release(ctx_of(request).store, record_id, sess.user)
    return {"ok": True}


@router.post("/api/records/{record_id}/decision")
def decision_api(request: Request, record_id: int, body: DecisionIn,
                 sess: Session = Depends(guard(Permission.REVIEW))) -> dict:
    ctx = ctx_of(request)
    out = workflow.decide(ctx.store, record_id, sess.user, body.decision, body.reason_code,
                          set(ctx.cfg.second_review_rules), trust=ctx.public_key)
    return {"ok": True, "record_id": out.record_id, "status": out.status, "stage": out.stage, "action": out.action}


@router.post("/api/records/{record_id}/plate")
def plate_api(request: Request, record_id: int, body: PlateIn, sess: Session = Depends(guard(Permission.REVIEW))) -> dict:
    rec = workflow.correct_plate(ctx_of(request).store, record_id, sess.user, body.text, body.color, body.source)
    return {"ok": True, "plate_machine": rec.plate_text, "plate_color_machine": rec.plate_color,
            "plate_status": rec.plate_status, "plate_reviewed": rec.plate_text_reviewed,
            "plate_color_reviewed": rec.plate_color_reviewed, "plate_settled": rec.plate_settled}
