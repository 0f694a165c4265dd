"""`epolice watchlist add|import|list|remove`: the watchlist (布控名单), every change audited as the
``--actor`` (the review app's watchlist page does the same changes under the signed-in user)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import watchlist_app
from pipelines.cli.common import DbOpt, PrintJsonOpt, existing_store, fail, parse_time, print_table

SiteOpt = typer.Option(None, "--site", help="site YAML; its store: section is used")
ActorOpt = typer.Option(None, "--actor", help="name in the audit log (default: cli:<login>)")


def _actor(actor: Optional[str]) -> str:
    return actor or f"cli:{getpass.getuser()}"


@watchlist_app.command("add")
def watchlist_add(
    plate: str = typer.Argument(..., help="plate, or a pattern with * (any run) and ? (one character)"),
    reason: str = typer.Option(..., "--reason", help="overdue_inspection | overdue_scrapping | fake_or_cloned | hit_and_run | other (or the Chinese label)"),
    priority: int = typer.Option(3, "--priority", min=1, max=5, help="1 = most urgent"),
    note: str = typer.Option("", "--note"),
    valid_from: Optional[str] = typer.Option(None, "--from", help="valid from (ISO 8601)"),
    valid_until: Optional[str] = typer.Option(None, "--until", help="valid until (ISO 8601)"),
    site: Optional[Path] = SiteOpt,
    db: Optional[str] = DbOpt,
    actor: Optional[str] = ActorOpt,
    json_out: bool = PrintJsonOpt,
) -> None:
    """Add one entry."""
    from pydantic import ValidationError

    from evidence.checkpoint import watchlist
    from evidence.checkpoint.values import NewWatchEntry

    code = watchlist.reason_code(reason)
    if code is None:
        raise fail(f"--reason {reason!r}: expected one of {', '.join(watchlist.WATCH_REASONS)}")
    try:
        new = NewWatchEntry(plate=plate, reason=code, priority=priority, note=note,
                            valid_from=parse_time(valid_from, "--from"), valid_until=parse_time(valid_until, "--until"))
    except ValidationError as exc:
        raise fail(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    with existing_store(site, db) as store:
        saved = watchlist.add(store.engine, new, _actor(actor))
    typer.echo(saved.model_dump_json() if json_out else f"added watchlist entry {saved.id}: {saved.plate} ({saved.reason})")


@watchlist_app.command("import")
def watchlist_import(
    csv_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV with a header: plate,reason[,valid_from,valid_until,priority,note]"),
    site: Optional[Path] = SiteOpt,
    db: Optional[str] = DbOpt,
    actor: Optional[str] = ActorOpt,
) -> None:
    """Add every entry of a CSV in one transaction (nothing is added if any line is bad)."""
    from evidence.checkpoint import watchlist

    try:
        entries = watchlist.parse_csv(csv_file.read_text(encoding="utf-8"))
    except watchlist.WatchlistError as exc:
        raise fail(str(exc)) from None
    with existing_store(site, db) as store:
        saved = watchlist.add_many(store.engine, entries, _actor(actor))
    typer.echo(f"imported {len(saved)} watchlist entr{'y' if len(saved) == 1 else 'ies'}")


@watchlist_app.command("list")
def watchlist_list(
    site: Optional[Path] = SiteOpt,
    db: Optional[str] = DbOpt,
    all_entries: bool = typer.Option(False, "--all", help="also removed entries"),
    json_out: bool = typer.Option(False, "--json", help="JSON lines"),
) -> None:
    """List entries, most urgent first."""
    from evidence.checkpoint import watchlist

    with existing_store(site, db) as store:
        found = watchlist.entries(store.engine, active_only=not all_entries)
    if json_out:
        for e in found:
            typer.echo(e.model_dump_json())
        return
    shown = ("id", "plate", "reason", "priority", "valid_from", "valid_until", "active", "note")
    print_table(f"{len(found)} entr{'y' if len(found) == 1 else 'ies'}", shown, (json.loads(e.model_dump_json()) for e in found))


@watchlist_app.command("remove")
def watchlist_remove(
    entry_id: int = typer.Argument(..., help="the entry's id (see `epolice watchlist list`)"),
    site: Optional[Path] = SiteOpt,
    db: Optional[str] = DbOpt,
    actor: Optional[str] = ActorOpt,
) -> None:
    """Remove an entry (it turns inactive: alerts keep pointing at it)."""
    from evidence.checkpoint import watchlist

    with existing_store(site, db) as store:
        try:
            e = watchlist.remove(store.engine, entry_id, _actor(actor))
        except watchlist.WatchlistError as exc:
            raise fail(str(exc)) from None
    typer.echo(f"removed watchlist entry {e.id}: {e.plate}")
