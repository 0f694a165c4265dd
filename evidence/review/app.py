"""The FastAPI application: ``create_app(settings)``.

Every route depends on ``guard(permission)``: it loads the session from the cookie (401 for the
JSON API, a redirect to the login page for pages), checks the role's permissions (403) and, on
every state-changing method, the session's CSRF token (403). Only the login form and the static
CSS/JS are public (``PUBLIC_ROUTES``); a test walks ``app.routes`` so a route added without a guard
fails it. Responses carry a strict Content-Security-Policy (no inline script, same origin only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import insert, select

from evidence.review import auth, migrations
from evidence.review.auth import Permission, Session
from evidence.review.config import ReviewSettings
from evidence.review.i18n import Language, pick_language, translate, translate_or
from evidence.review.tables import reason_codes
from evidence.review.workflow import WorkflowError
from evidence.signing import load_public_key
from evidence.store import RecordStore

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "epolice_session"
LANG_COOKIE = "epolice_lang"
LOGIN_CSRF_COOKIE = "epolice_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# (method, path) pairs reachable without a session, and why: the form to get one.
PUBLIC_ROUTES = {("GET", "/login"), ("POST", "/login")}
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


@dataclass
class AppContext:
    settings: ReviewSettings
    store: RecordStore
    public_key: Ed25519PublicKey
    templates: Jinja2Templates
    tz: ZoneInfo

    @property
    def cfg(self):
        return self.settings.review


class NotSignedIn(Exception):
    pass


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


def ctx_of(request: Request) -> AppContext:
    return request.app.state.ctx


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def language(request: Request) -> Language:
    """The user's choice (cookie); the login page also takes ``?lang=`` since there is no session yet."""
    default = pick_language(request.cookies.get(LANG_COOKIE), ctx_of(request).cfg.language)
    if request.url.path == "/login":
        return pick_language(request.query_params.get("lang"), default)
    return default


def guard(permission: Permission) -> Callable[..., Any]:
    """A dependency that admits a signed-in user holding ``permission`` (and, on unsafe methods, the
    session's CSRF token in the ``X-CSRF-Token`` header or the ``csrf_token`` form field)."""

    async def dependency(request: Request) -> Session:
        ctx = ctx_of(request)
        sess = auth.load_session(ctx.store.engine, request.cookies.get(SESSION_COOKIE), ctx.cfg.session_hours)
        if sess is None:
            raise NotSignedIn()
        if request.method in UNSAFE_METHODS:
            given = request.headers.get(CSRF_HEADER)
            if given is None and request.headers.get("content-type", "").startswith(
                    ("application/x-www-form-urlencoded", "multipart/form-data")):
                given = (await request.form()).get(CSRF_FIELD)  # type: ignore[assignment]
            if not auth.csrf_ok(sess.csrf, given):
                raise Forbidden("missing or wrong CSRF token")
        if not sess.user.can(permission):
            raise Forbidden(f"role {sess.user.role} lacks permission {permission.value}")
        request.state.session = sess
        return sess

    dependency.permission = permission  # type: ignore[attr-defined]  # read by the route-coverage test
    return dependency


def render(request: Request, name: str, sess: Session | None, status_code: int = 200, **values: Any) -> HTMLResponse:
    ctx = ctx_of(request)
    lang = language(request)

    def t(key: str, **kw: Any) -> str:
        return translate(lang, key, **kw)

    def t_or(key: str, default: str) -> str:
        return translate_or(lang, key, default)

    page = dict(request=request, t=t, t_or=t_or, lang=lang, user=sess.user if sess else None,
                csrf=sess.csrf if sess else values.pop("login_csrf", ""), P=Permission,
                tz=ctx.tz, path=request.url.path, **values)
    return ctx.templates.TemplateResponse(request, name, page, status_code=status_code)


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site paths: an open redirect would let a link send a reviewer elsewhere after login."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def seed_reasons(ctx: AppContext) -> None:
    """Copy the configured reason codes into a new database; later edits happen in the app."""
    with ctx.store.engine.begin() as conn:
        if conn.execute(select(reason_codes.c.code).limit(1)).first() is None:
            for i, r in enumerate(ctx.cfg.reason_codes):
                conn.execute(insert(reason_codes).values(code=r.code, zh=r.zh, en=r.en, active=True, position=i))


def open_store(settings: ReviewSettings, must_exist: bool = False) -> RecordStore:
    """The record store with the app's tables migrated too (``must_exist``: never create a file)."""
    store = RecordStore.from_config(settings.store, must_exist=must_exist)
    try:
        migrations.migrate(store.engine)
    except Exception:
        store.close()
        raise
    return store


def create_app(settings: ReviewSettings, store: RecordStore | None = None) -> FastAPI:
    """Build the app. Opens (and migrates) the store unless one is given; the trusted public key
    must exist, since no evidence may be shown unchecked."""
    from evidence.review import routes_admin, routes_export, routes_review, routes_session

    public_key = load_public_key(settings.evidence.public_key_path)
    if store is None:
        store = open_store(settings)
    else:
        migrations.migrate(store.engine)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.autoescape = True
    tz = ZoneInfo(settings.timezone)
    templates.env.filters["local"] = lambda dt: dt.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if dt else "—"
    ctx = AppContext(settings, store, public_key, templates, tz)
    seed_reasons(ctx)

    app = FastAPI(title="epolice review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (routes_session, routes_review, routes_export, routes_admin):
        app.include_router(module.router)

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if is_api(request) or request.method in UNSAFE_METHODS:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if is_api(request) or request.method in UNSAFE_METHODS:
            return JSONResponse({"error": str(exc)}, status_code=403)
        return render(request, "error.html", getattr(request.state, "session", None), status_code=403,
                      message=translate(language(request), "error.forbidden"), detail=str(exc))

    @app.exception_handler(WorkflowError)
    async def _refused(request: Request, exc: WorkflowError) -> Response:
        if is_api(request) or request.method in UNSAFE_METHODS:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        key = "error.not_found" if exc.status == 404 else "error.forbidden" if exc.status == 403 else "record.error"
        return render(request, "error.html", getattr(request.state, "session", None), status_code=exc.status,
                      message=translate(language(request), key), detail=str(exc))

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
