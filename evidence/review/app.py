"""The FastAPI application: ``create_app(settings)`` assembles it; it holds no route logic.

What routes share (the guard, rendering, error pages, headers) lives in ``evidence.review.web``;
the routes in ``routes_*.py``. The store comes opened by ``RecordStore.from_config``, which has
already brought every table, the app's included, up to date.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import insert, select

from evidence.review import audit, routes_admin, routes_checkpoint, routes_export, routes_review, routes_session, web
from evidence.review.audit_seal import open_seal
from evidence.review.config import ReviewSettings
from evidence.review.workflow import WorkflowError
from evidence.signing import load_keyring
from evidence.store import RecordStore
from evidence.store.schema import reason_codes

HERE = Path(__file__).resolve().parent


def seed_reasons(ctx: web.AppContext) -> None:
    """Copy the configured reason codes into a new database; later edits happen in the app."""
    with ctx.store.engine.begin() as conn:
        if conn.execute(select(reason_codes.c.code).limit(1)).first() is None:
            for i, r in enumerate(ctx.cfg.reason_codes):
                conn.execute(insert(reason_codes).values(code=r.code, zh=r.zh, en=r.en, active=True, position=i))


def create_app(settings: ReviewSettings, store: RecordStore | None = None) -> FastAPI:
    """Build the app. Opens the store unless one is given; the trusted public key must exist,
    since no evidence may be shown unchecked (keys it replaced stay trusted, see evidence.signing)."""
    public_key = load_keyring(settings.evidence.public_key_path, settings.evidence.trusted_keys_dir)
    if store is None:
        store = RecordStore.from_config(settings.store)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.autoescape = True
    tz = ZoneInfo(settings.timezone)
    templates.env.filters["local"] = lambda dt: dt.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if dt else "—"
    ctx = web.AppContext(settings, store, public_key, templates, tz)
    audit.attach(store.engine, open_seal(settings, create=True))  # every entry sealed with the audit key
    seed_reasons(ctx)

    app = FastAPI(title="epolice review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (routes_session, routes_review, routes_export, routes_admin, routes_checkpoint):
        app.include_router(module.router)
    app.add_exception_handler(web.NotSignedIn, web.not_signed_in)
    app.add_exception_handler(web.Forbidden, web.forbidden)
    app.add_exception_handler(WorkflowError, web.refused)
    app.middleware("http")(web.security_headers)
    return app
