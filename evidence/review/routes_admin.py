"""Administration: users (an account one admin makes waits for a second admin's approval), reject
reason codes, the audit log and its chain check (incremental: since the latest checkpoint)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from evidence.review import audit, auth
from evidence.review.auth import Permission, Session, UserError
from evidence.review.web import ctx_of, guard, reasons, render
from evidence.review.workflow import WorkflowError
from evidence.store.schema import reason_codes

router = APIRouter()
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


@router.get("/admin/users")
def users_page(request: Request, sess: Session = Depends(guard(Permission.ADMIN))) -> Response:
    return render(request, "users.html", sess, users=auth.list_users(ctx_of(request).store.engine),
                  roles=auth.ROLES, error=request.query_params.get("error"))


@router.post("/admin/users")
def user_add(request: Request, name: str = Form(..., max_length=64), role: str = Form(...),
             password: str = Form(..., max_length=256), sess: Session = Depends(guard(Permission.ADMIN))) -> Response:
    ctx = ctx_of(request)
    try:
        user = auth.add_user(ctx.store.engine, name, password, role, created_by=sess.user.name)
    except UserError as exc:
        return render(request, "users.html", sess, status_code=422, users=auth.list_users(ctx.store.engine),
                      roles=auth.ROLES, error=str(exc))
    audit.append_retrying(ctx.store.engine, sess.user.name, "user_add",
                          after={"user": user.name, "role": user.role, "pending": True})
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{user_id}/approve")
def user_approve(request: Request, user_id: int, sess: Session = Depends(guard(Permission.ADMIN))) -> Response:
    """A second admin grants a pending account its role."""
    ctx = ctx_of(request)
    try:
        user = auth.approve_user(ctx.store.engine, user_id, sess.user.name)
    except UserError as exc:
        raise WorkflowError(409, str(exc)) from None
    audit.append_retrying(ctx.store.engine, sess.user.name, "user_approve",
                          after={"user": user.name, "role": user.role, "created_by": user.created_by})
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{user_id}/active")
def user_active(request: Request, user_id: int, active: bool = Form(...),
                sess: Session = Depends(guard(Permission.ADMIN))) -> Response:
    ctx = ctx_of(request)
    if user_id == sess.user.id and not active:
        raise WorkflowError(409, "you cannot disable your own account")
    before = auth.get_user(ctx.store.engine, user_id)
    if before is None:
        raise WorkflowError(404, f"no user {user_id}")
    try:
        after = auth.set_active(ctx.store.engine, user_id, active)
    except UserError as exc:
        raise WorkflowError(409, str(exc)) from None
    audit.append_retrying(ctx.store.engine, sess.user.name, "user_active", after={"user": after.name, "active": active},
                          before={"user": before.name, "active": before.active})
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/reasons")
def reasons_page(request: Request, sess: Session = Depends(guard(Permission.ADMIN))) -> Response:
    return render(request, "reasons.html", sess, reasons=reasons(ctx_of(request), active_only=False),
                  error=request.query_params.get("error"))


@router.post("/admin/reasons")
def reason_add(request: Request, code: str = Form(..., max_length=32), zh: str = Form(..., max_length=64),
               en: str = Form(..., max_length=64), sess: Session = Depends(guard(Permission.ADMIN))) -> Response:
    ctx = ctx_of(request)
    code, zh, en = code.strip(), zh.strip(), en.strip()
    if not CODE_RE.match(code) or not zh or not en:
        return render(request, "reasons.html", sess, status_code=422, reasons=reasons(ctx, active_only=False),
                      error="code: lower-case letters, digits, _ (2-32); both labels required")
    with ctx.store.engine.begin() as conn:
        old = conn.execute(sa.select(reason_codes).where(reason_codes.c.code == code)).first()
        if old is None:
            pos = conn.execute(sa.select(sa.func.coalesce(sa.func.max(reason_codes.c.position), -1))).scalar_one() + 1
            conn.execute(sa.insert(reason_codes).values(code=code, zh=zh, en=en, active=True, position=pos))
        else:
            conn.execute(sa.update(reason_codes).where(reason_codes.c.code == code).values(zh=zh, en=en))
        before = None if old is None else {"code": code, "zh": old.zh, "en": old.en, "active": old.active}
        audit.append(conn, sess.user.name, "reason_set", None, before,
                     {"code": code, "zh": zh, "en": en, "active": True if old is None else old.active})
    return RedirectResponse("/admin/reasons", status_code=303)


@router.post("/admin/reasons/{code}/active")
def reason_active(request: Request, code: str, active: bool = Form(...),
                  sess: Session = Depends(guard(Permission.ADMIN))) -> Response:
    ctx = ctx_of(request)
    with ctx.store.engine.begin() as conn:
        old = conn.execute(sa.select(reason_codes).where(reason_codes.c.code == code)).first()
        if old is None:
            raise WorkflowError(404, f"no reason code {code!r}")
        conn.execute(sa.update(reason_codes).where(reason_codes.c.code == code).values(active=active))
        audit.append(conn, sess.user.name, "reason_active", None, {"code": code, "active": old.active},
                     {"code": code, "active": active})
    return RedirectResponse("/admin/reasons", status_code=303)


@router.get("/admin/audit")
def audit_page(request: Request, record: str | None = None, sess: Session = Depends(guard(Permission.ADMIN))) -> Response:
    engine = ctx_of(request).store.engine
    return render(request, "audit.html", sess, report=audit.verify_chain(engine, incremental=True),
                  entries=audit.entries(engine, 200, record_id=record or None), record=record or "")
