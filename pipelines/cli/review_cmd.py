"""`epolice review serve | user add | audit verify`: the reviewer web app and its accounts.

The site file (``--config``) gives the record store, the evidence settings (the trusted public
key) and the time zone; the app's own settings (reason codes, two-person rules, claim and session
lengths) come from ``--review-config`` (YAML of ``evidence.review.config.ReviewConfig``), else their
defaults. ``--db`` overrides the store URL (for accounts and audit checks without a site file).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from pipelines.cli.app import review_app
from pipelines.cli.common import PrintJsonOpt, fail, load_site_or_exit, open_store, store_errors

if TYPE_CHECKING:
    from evidence.review.config import ReviewSettings

user_app = typer.Typer(no_args_is_help=True, help="Reviewer accounts.")
audit_app = typer.Typer(no_args_is_help=True, help="The review audit log.")
review_app.add_typer(user_app, name="user")
review_app.add_typer(audit_app, name="audit")

ConfigOpt = typer.Option(None, "--config", help="site YAML: its store:, evidence: and timezone are used")
AuditKeyOpt = typer.Option(None, "--audit-key", help="the audit chain's key (default: review.audit_key, or audit.key beside the evidence public key)")
ReviewOpt = typer.Option(None, "--review-config", help="YAML with the review settings (reason_codes, second_review_rules, ...)")
DbOpt = typer.Option(None, "--db", help="record store URL (overrides --config), e.g. sqlite:///records.db")


def _settings(config: Optional[Path], review_config: Optional[Path], db: Optional[str]) -> "ReviewSettings":
    import yaml
    from pydantic import ValidationError

    from evidence.config import EvidenceConfig, StoreConfig
    from evidence.review.config import ReviewConfig, ReviewSettings
    from pipelines.config import review_with_rules

    evidence, store, tz, review = EvidenceConfig(), StoreConfig(), "Asia/Shanghai", None
    if config is not None:
        site = load_site_or_exit(config)
        evidence, store, tz = site.evidence, site.store, site.timezone
        review = site.review
    if review_config is not None:
        try:
            data = yaml.safe_load(review_config.read_text(encoding="utf-8")) or {}
            review = review_with_rules(ReviewConfig.model_validate(data))
        except OSError as exc:
            raise fail(f"{review_config}: cannot read review settings ({exc.strerror or exc})")
        except yaml.YAMLError as exc:
            raise fail(f"{review_config}: not valid YAML: {exc}")
        except ValidationError as exc:
            e = exc.errors()[0]
            raise fail(f"{review_config}: {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}")
        except ValueError as exc:  # a rule the registry does not know
            raise fail(f"{review_config}: {exc}")
    if db is not None:
        store = store.model_copy(update={"url": db})
    return ReviewSettings(store=store, evidence=evidence, review=review or review_with_rules(ReviewConfig()), timezone=tz)


def _open(settings: "ReviewSettings", must_exist: bool = False):
    with store_errors(settings.store.url):
        return open_store(settings.store, must_exist=must_exist)


@review_app.command("serve")
def serve(
    config: Optional[Path] = ConfigOpt,
    review_config: Optional[Path] = ReviewOpt,
    db: Optional[str] = DbOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="listen address (loopback by default)"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    ssl_certfile: Optional[Path] = typer.Option(None, "--ssl-certfile", help="TLS certificate (PEM) to serve https directly"),
    ssl_keyfile: Optional[Path] = typer.Option(None, "--ssl-keyfile", help="TLS private key (PEM)"),
) -> None:
    """Serve the reviewer web app (FastAPI + uvicorn)."""
    import uvicorn

    from evidence.review.app import create_app
    from evidence.signing import KeyFileError

    settings = _settings(config, review_config, db)
    store = _open(settings)
    try:
        app = create_app(settings, store)
    except KeyFileError as exc:
        store.close()
        raise fail(f"{exc} (the app shows evidence only after checking it against this key)")
    if settings.review.secure_cookies and ssl_certfile is None and host not in ("127.0.0.1", "localhost", "::1"):
        typer.secho("warning: session cookies are Secure; browsers send them only over https. Serve behind a TLS "
                    "proxy or pass --ssl-certfile/--ssl-keyfile.", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"reviewer app on {'https' if ssl_certfile else 'http'}://{host}:{port} (store {settings.store.url})")
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False,
                    ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
                    ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None)
    finally:
        store.close()


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="login name"),
    role: str = typer.Option(..., "--role", help="reviewer | supervisor | exporter | admin"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from the first line of stdin"),
    config: Optional[Path] = ConfigOpt,
    db: Optional[str] = DbOpt,
    audit_key: Optional[Path] = AuditKeyOpt,
) -> None:
    """Create an account (argon2-hashed password), active at once: server access is the second person
    here; an admin who adds one in the app needs another admin's approval."""
    from evidence.review import audit, auth
    from evidence.review.audit_seal import AuditKeyError, open_seal

    if role not in auth.ROLES:
        raise fail(f"--role must be one of {', '.join(auth.ROLES)}, got {role!r}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    settings = _settings(config, None, db)
    try:
        seal = open_seal(settings, create=True, key_path=audit_key)
    except (AuditKeyError, OSError) as exc:
        raise fail(str(exc))
    store = _open(settings)
    audit.attach(store.engine, seal)
    try:
        user = auth.add_user(store.engine, name, password, role)
        audit.append_retrying(store.engine, "cli", "user_add", after={"user": user.name, "role": user.role})
    except auth.UserError as exc:
        raise fail(str(exc))
    finally:
        store.close()
    typer.echo(f"user {user.name} ({user.role}) created")


@audit_app.command("verify")
def audit_verify(
    config: Optional[Path] = ConfigOpt,
    db: Optional[str] = DbOpt,
    audit_key: Optional[Path] = AuditKeyOpt,
    json_out: bool = PrintJsonOpt,
) -> None:
    """Recompute the whole audit chain with the audit key and check it against every checkpoint; name
    the first broken entry. Exit 1 if it is broken."""
    import json

    from evidence.review.audit import verify_chain
    from evidence.review.audit_seal import AuditKeyError, open_seal

    settings = _settings(config, None, db)
    try:
        seal = open_seal(settings, key_path=audit_key)
    except AuditKeyError as exc:
        if audit_key is not None:
            raise fail(str(exc))
        seal = None  # entries from before keys still verify; sealed ones say they need the key
        typer.secho(f"note: {exc}", err=True)
    store = _open(settings, must_exist=True)
    try:
        report = verify_chain(store.engine, seal)
    finally:
        store.close()
    if json_out:
        typer.echo(json.dumps({"ok": report.ok, "entries": report.entries, "broken_seq": report.broken_seq,
                               "reason": report.reason}))
    elif report.ok:
        typer.echo(f"OK audit chain intact: {report.entries} entries")
    elif report.broken_seq is not None:
        typer.echo(f"BROKEN at entry {report.broken_seq}: {report.reason}")
    else:
        typer.echo(f"BROKEN: {report.reason}")
    raise typer.Exit(0 if report.ok else 1)
