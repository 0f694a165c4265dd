"""`epolice passes list|show|export|purge|bench`: checkpoint mode's pass records in the store.

The store comes from ``--site`` (its ``store:`` section; ``passes:`` for pictures and retention) or
``--db``. ``bench`` seeds a scratch store to measure insert rate and plate lookup time at volume.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from pipelines.cli.app import passes_app
from pipelines.cli.common import (
    DbOpt,
    Fmt,
    FormatOpt,
    LimitOpt,
    PrintJsonOpt,
    existing_store,
    fail,
    load_site_or_exit,
    parse_time,
    print_table,
    with_options,
)

if TYPE_CHECKING:
    from evidence.checkpoint.values import PassQuery, PassRecord

SiteOpt = typer.Option(None, "--site", help="site YAML; its store: and passes: sections are used")
COLUMNS = ("pass_time", "site_id", "camera_id", "line_id", "lane", "direction", "plate", "plate_status", "plate_color",
           "vehicle_class", "speed_kmh", "pass_key")


@dataclass(frozen=True)
class PassFilter:
    """Which passes: the filter options of `passes list` and `passes export`."""

    plate: Optional[str] = typer.Option(None, "--plate", help="exact plate (a confirmed read, or an unconfirmed read's first candidate)")
    site_id: Optional[str] = typer.Option(None, "--site-id", help="only this site id")
    camera: Optional[str] = typer.Option(None, "--camera", help="only this camera id")
    since: Optional[str] = typer.Option(None, "--since", help="pass time >= this (ISO 8601)")
    until: Optional[str] = typer.Option(None, "--until", help="pass time < this (ISO 8601)")


def _query(f: PassFilter, limit: Optional[int]) -> "PassQuery":
    from evidence.checkpoint.values import PassQuery

    return PassQuery(plate=f.plate.strip().upper() if f.plate else None, site_id=f.site_id, camera_id=f.camera,
                     since=parse_time(f.since, "--since"), until=parse_time(f.until, "--until"), limit=limit)


def _row(p: "PassRecord") -> dict[str, str]:
    data = p.model_dump(mode="json")
    row = {c: "" if data[c] is None else str(data[c]) for c in COLUMNS}
    row["candidates"] = "|".join(c.text for c in p.plate_candidates)
    for pic in ("panorama", "vehicle"):
        image = getattr(p, pic)
        row[f"{pic}_path"], row[f"{pic}_sha256"] = (image.path, image.sha256) if image else ("", "")
    return row


def _write(passes: list["PassRecord"], fmt: Fmt, out: io.TextIOBase) -> None:
    if fmt is Fmt.jsonl:
        for p in passes:
            out.write(p.model_dump_json() + "\n")
        return
    rows = [_row(p) for p in passes]
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else [*COLUMNS, "candidates"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


@passes_app.command("list")
@with_options("which", PassFilter)
def passes_list(
    site: Optional[Path] = SiteOpt,
    db: Optional[str] = DbOpt,
    *,
    which: PassFilter,
    limit: int = LimitOpt,
    fmt: Fmt = FormatOpt,
) -> None:
    """List passes, newest first."""
    from evidence.checkpoint.passes import PassStore

    q = _query(which, limit)
    with existing_store(site, db) as store:
        found = PassStore(store.engine).query(q)
    if fmt is not Fmt.table:
        _write(found, fmt, sys.stdout)
        return
    shown = ("pass_time", "camera_id", "line_id", "direction", "plate", "plate_status", "vehicle_class", "pass_key")
    print_table(f"{len(found)} pass(es)", shown, map(_row, found))


@passes_app.command("show")
def passes_show(
    pass_key: str = typer.Argument(..., help="the pass key (32 hex characters)"),
    site: Optional[Path] = SiteOpt,
    db: Optional[str] = DbOpt,
    json_out: bool = PrintJsonOpt,
) -> None:
    """Show one pass with its pictures' paths and hashes, and the alerts it raised."""
    from evidence.checkpoint import alerts
    from evidence.checkpoint.passes import PassStore

    with existing_store(site, db) as store:
        p = PassStore(store.engine).get(pass_key)
        if p is None:
            raise fail(f"no pass {pass_key} in the store")
        raised = [a for a in alerts.query(store.engine, alerts.AlertQuery(limit=1000)) if pass_key in (a.pass_key, a.other_pass_key)]
    data = p.model_dump(mode="json")
    data["alerts"] = [{"id": a.id, "kind": a.kind, "state": a.state, "match": a.match, "score": a.score} for a in raised]
    if json_out:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    for k, v in data.items():
        typer.echo(f"{k:>17}: {json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v}")


@passes_app.command("export")
@with_options("which", PassFilter)
def passes_export(
    out: Path = typer.Option(..., "--out", help="file to write (CSV or JSON lines); pictures stay where they are, named with their sha256"),
    site: Optional[Path] = SiteOpt,
    db: Optional[str] = DbOpt,
    *,
    which: PassFilter,
    fmt: Fmt = typer.Option(Fmt.csv, "--format", help="csv | jsonl"),
) -> None:
    """Write the matching passes (all of them, oldest last) to a file."""
    from evidence.checkpoint.passes import PassStore

    if fmt is Fmt.table:
        raise fail("--format: csv or jsonl")
    with existing_store(site, db) as store:
        found = PassStore(store.engine).query(_query(which, None))
    with out.open("w", encoding="utf-8", newline="") as f:
        _write(found, fmt, f)
    typer.echo(f"exported {len(found)} pass(es) to {out}")


@passes_app.command("purge")
def passes_purge(
    site: Optional[Path] = SiteOpt,
    db: Optional[str] = DbOpt,
    days: Optional[int] = typer.Option(None, "--days", min=1, help="keep this many days (default: passes.retain_days)"),
    json_out: bool = PrintJsonOpt,
) -> None:
    """Remove passes (rows and pictures) older than the retention (PostgreSQL drops whole day partitions)."""
    from evidence.checkpoint.config import PassesConfig
    from evidence.checkpoint.images import purge_pictures
    from evidence.checkpoint.passes import PassStore

    cfg = load_site_or_exit(site).passes if site is not None else PassesConfig()
    before = datetime.now(timezone.utc) - timedelta(days=days or cfg.retain_days)
    with existing_store(site, db) as store:
        rows = PassStore(store.engine).purge(before)
    folders = purge_pictures(cfg, before)
    result = {"before": before.isoformat(), "passes_removed": rows, "picture_folders_removed": folders}
    typer.echo(json.dumps(result) if json_out else f"removed {rows} pass(es) and {folders} picture folder(s) older than {before:%Y-%m-%d %H:%M} UTC")


@passes_app.command("bench")
def passes_bench(
    db: str = typer.Option(..., "--db", help="a scratch store URL (it is filled with synthetic passes)"),
    count: int = typer.Option(1_000_000, "--count", min=1000, help="passes to seed"),
    batch: int = typer.Option(1000, "--batch", min=1, help="passes per insert transaction"),
    lookups: int = typer.Option(200, "--lookups", min=1, help="plate lookups timed after seeding"),
    json_out: bool = PrintJsonOpt,
) -> None:
    """Seed COUNT synthetic passes (over 30 days, 5 cameras) and time inserts and plate lookups."""
    from evidence.store import RecordStore
    from pipelines.bench.passes import bench_passes

    with RecordStore(db) as store:
        progress = (lambda msg: None) if json_out else (lambda msg: typer.echo(msg, err=True))
        result = bench_passes(store.engine, count, batch, lookups, progress)
    if json_out:
        typer.echo(json.dumps(result))
        return
    for k, v in result.items():
        typer.echo(f"{k:>26}: {v}")
