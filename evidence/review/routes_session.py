"""Signing in and out, the language switch, the home redirect."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from evidence.review import audit, auth
from evidence.review.auth import Permission, Session
from evidence.review.i18n import LANGUAGES, translate
from evidence.review.web import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    client_address,
    ctx_of,
    guard,
    language,
    render,
    safe_next,
)

router = APIRouter()


def home_for(sess: Session) -> str:
    if sess.user.can(Permission.REVIEW):
        return "/queue"
    if sess.user.can(Permission.ADMIN):
        return "/admin/users"
    if sess.user.can(Permission.EXPORT):
        return "/export"
    return "/dashboard"


def _set_cookie(request: Request, response: Response, name: str, value: str, http_only: bool = True) -> None:
    response.set_cookie(name, value, httponly=http_only, secure=ctx_of(request).cfg.secure_cookies,
                        samesite="strict", path="/")


def _login_page(request: Request, status_code: int = 200, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status_code=status_code, login_csrf=token, error=error,
                      next=safe_next(request.query_params.get("next") or request.query_params.get("next_path"), ""))
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    lang = request.query_params.get("lang")
    response = _login_page(request)
    if lang in LANGUAGES:
        _set_cookie(request, response, LANG_COOKIE, lang, http_only=False)
    return response


@router.post("/login")
def login(request: Request, name: str = Form(..., max_length=64), password: str = Form(..., max_length=256),
          csrf_token: str = Form(""), next_path: str = Form("", alias="next")) -> Response:
    ctx = ctx_of(request)
    lang = language(request)
    # Login CSRF: the form's token must match the cookie set with the form (double submit).
    if not auth.csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf_token):
        return _login_page(request, 403, translate(lang, "login.csrf"))
    client = client_address(request)
    cfg = ctx.cfg
    name = auth.normalise_name(name)
    attempt = auth.begin_login(ctx.store.engine, name, client, cfg.login_max_failures, cfg.login_window_seconds)
    if attempt is None:
        audit.append_retrying(ctx.store.engine, name[:64], "login_blocked", after={"client": client})
        return _login_page(request, 429, translate(lang, "login.limited"))
    user = auth.authenticate(ctx.store.engine, name, password)
    auth.finish_login(ctx.store.engine, attempt, name, user is not None, cfg.login_window_seconds)
    if user is None:
        audit.append_retrying(ctx.store.engine, name[:64], "login_failed", after={"client": client})
        return _login_page(request, 401, translate(lang, "login.failed"))
    token, sess = auth.new_session(ctx.store.engine, user, cfg.session_hours)
    audit.append_retrying(ctx.store.engine, user.name, "login", after={"client": client, "role": user.role})
    response = RedirectResponse(safe_next(next_path, home_for(sess)), status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, sess: Session = Depends(guard(Permission.ANY))) -> Response:
    ctx = ctx_of(request)
    auth.end_session(ctx.store.engine, request.cookies.get(SESSION_COOKIE))
    audit.append_retrying(ctx.store.engine, sess.user.name, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/lang")
def set_language(request: Request, lang: str = Form(...), next_path: str = Form("/", alias="next"),
                 sess: Session = Depends(guard(Permission.ANY))) -> Response:
    response = RedirectResponse(safe_next(next_path, home_for(sess)), status_code=303)
    if lang in LANGUAGES:
        _set_cookie(request, response, LANG_COOKIE, lang, http_only=False)
    return response


@router.get("/")
def home(sess: Session = Depends(guard(Permission.ANY))) -> Response:
    return RedirectResponse(home_for(sess), status_code=303)
