"""What every route of the reviewer app shares: the app context, the guard (session, role, CSRF),
page rendering, the filter carried in query strings, and the error pages and security headers.

Route modules (``routes_*.py``) import from here, never from ``app.py``, which only assembles the
app. Every route depends on ``guard(permission)``: it loads the session from the cookie (401 for
the JSON API, a redirect to the login page for pages), checks the role's permissions (403) and, on
every state-changing method, the session's CSRF token (403). Only the login form and the static
CSS/JS are public (``PUBLIC_ROUTES``); a test walks ``app.routes`` so a route added without a guard
fails it. Responses carry a strict Content-Security-Policy (no inline script, same origin only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from ipaddress import ip_address
from typing import Any, Callable
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from evidence.review import auth
from evidence.review.auth import Permission, Session
from evidence.review.config import ReviewConfig, ReviewSettings
from evidence.review.i18n import Language, pick_language, translate, translate_or, translator
from evidence.review.workflow import QueueFilter, WorkflowError
from evidence.signing import Keyring
from evidence.store import RecordStore
from evidence.store.schema import reason_codes

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
FILTER_KEYS = ("site", "camera", "rule", "from", "to", "plate")


@dataclass
class AppContext:
    settings: ReviewSettings
    store: RecordStore
    public_key: Keyring  # the trusted keys, by key id
    templates: Jinja2Templates
    tz: ZoneInfo

    @property
    def cfg(self) -> ReviewConfig:
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


def client_address(request: Request) -> str:
    """The client's address: the peer's, or, when the peer is one of ``ReviewConfig.trusted_proxies``,
    the nearest address in X-Forwarded-For that is not a trusted proxy (the header's earlier entries
    are whatever the client chose to send, so they count for nothing)."""
    peer = request.client.host if request.client else "unknown"
    trusted = ctx_of(request).cfg.trusted_proxies

    def ip(text: str):  # noqa: ANN202 - an address, or None for anything else
        try:
            return ip_address(text.strip())
        except ValueError:
            return None

    def is_trusted(addr) -> bool:  # noqa: ANN001
        return addr is not None and any(addr in net for net in trusted)

    if not trusted or not is_trusted(ip(peer)):
        return peer
    hops = [h for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        addr = ip(hop)
        if addr is None:
            return peer  # a malformed header: count the proxy, never a name the client made up
        if not is_trusted(addr):
            return str(addr)
    return peer


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

    t = translator(lang, ctx.cfg.rule_labels)

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


def parse_filter(request: Request) -> QueueFilter:
    q = request.query_params

    def day(key: str) -> date | None:
        try:
            return date.fromisoformat(q[key]) if q.get(key) else None
        except ValueError:
            return None

    return QueueFilter(site_id=q.get("site") or None, camera_id=q.get("camera") or None, rule=q.get("rule") or None,
                       plate=q.get("plate") or None, day_from=day("from"), day_to=day("to"))


def filter_query(request: Request) -> str:
    """The filter part of the query string, carried from queue to record to next."""
    return urlencode([(k, request.query_params[k]) for k in FILTER_KEYS if request.query_params.get(k)])


def reasons(ctx: AppContext, active_only: bool = True) -> list[dict[str, str]]:
    stmt = select(reason_codes).order_by(reason_codes.c.position, reason_codes.c.code)
    if active_only:
        stmt = stmt.where(reason_codes.c.active.is_(True))
    with ctx.store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


# -- error pages and headers (registered by app.create_app) -------------------------------------
def _refusal(request: Request, status: int, detail: str, message_key: str) -> Response:
    """JSON for the API and for form posts; an error page for pages."""
    if is_api(request) or request.method in UNSAFE_METHODS:
        return JSONResponse({"error": detail}, status_code=status)
    return render(request, "error.html", getattr(request.state, "session", None), status_code=status,
                  message=translate(language(request), message_key), detail=detail)


async def not_signed_in(request: Request, exc: Exception) -> Response:
    if is_api(request) or request.method in UNSAFE_METHODS:
        return JSONResponse({"error": "not signed in"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


async def forbidden(request: Request, exc: Exception) -> Response:
    return _refusal(request, 403, str(exc), "error.forbidden")


async def refused(request: Request, exc: Exception) -> Response:
    status = exc.status if isinstance(exc, WorkflowError) else 500
    key = "error.not_found" if status == 404 else "error.forbidden" if status == 403 else "record.error"
    return _refusal(request, status, str(exc), key)


async def security_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
    response = await call_next(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
