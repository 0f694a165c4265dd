"""`epolice alerts dispatch [--once]`: send the alert deliveries still pending in the store (a batch
run sends only what is due when it closes; a receiver that was down leaves the rest in the outbox)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import alerts_app
from pipelines.cli.common import DbOpt, PrintJsonOpt, fail, load_site_or_exit, open_store


@alerts_app.command("dispatch")
def alerts_dispatch(
    site: Path = typer.Option(..., "--site", exists=True, dir_okay=False, help="site YAML: its checkpoint.alerts targets and store"),
    once: bool = typer.Option(False, "--once", help="one attempt at every delivery due now, then exit (default: until none is pending)"),
    redis_url: Optional[str] = typer.Option(None, "--redis", help="Redis for the alerts stream when checkpoint.alerts.redis_url is not set"),
    db: Optional[str] = DbOpt,
    json_out: bool = PrintJsonOpt,
) -> None:
    """Send pending alert deliveries; without --once, follow the retries until each is delivered or dead (or SIGTERM)."""
    import signal
    import threading

    import redis

    from pipelines.checkpoint.dispatch import AlertDispatcher
    from pipelines.checkpoint.outbox import send_pending

    cfg = load_site_or_exit(site)
    store = open_store(cfg.store.model_copy(update={"url": db}) if db else cfg.store, must_exist=True)
    stop = threading.Event()
    before = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            client = redis.Redis.from_url(redis_url) if redis_url else None
            dispatcher = AlertDispatcher.configured(store.engine, cfg.checkpoint.alerts, client)
        except ValueError as exc:  # a webhook secret missing from the environment, a bad Redis URL
            raise fail(str(exc)) from None
        report = send_pending(dispatcher, once=once, stop=stop)
    finally:
        store.close()
        for sig, handler in before.items():
            signal.signal(sig, handler)
    if json_out:
        typer.echo(json.dumps({**report.__dict__, "next_at": report.next_at.isoformat() if report.next_at else None}))
    else:
        nxt = f" (next attempt {report.next_at.isoformat(timespec='seconds')})" if report.pending and report.next_at else ""
        typer.echo(f"sent {report.sent}, failed attempts {report.failed}; pending {report.pending}{nxt}, dead {report.dead}")
