"""`epolice records list|show|export|ingest`: the violation records in the store.

Settings come from a site file (``--site``: its ``evidence:`` and ``store:`` sections) or straight
from ``--db`` / ``--key``; without either, the EvidenceConfig/StoreConfig defaults apply.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from pipelines.cli.app import records_app
from pipelines.cli.common import (
    DbOpt,
    EvidenceSiteOpt,
    Fmt,
    FormatOpt,
    LimitOpt,
    PrintJsonOpt,
    existing_store,
    fail,
    parse_time,
    print_table,
    trusted_key,
    with_options,
)

if TYPE_CHECKING:
    from evidence.store import RecordQuery


@dataclass(frozen=True)
class RecordFilter:
    """Which records: the filter options of `records list` and `records export`."""

    site_id: Optional[str] = typer.Option(None, "--site-id", help="only this site id")
    camera: Optional[str] = typer.Option(None, "--camera", help="only this camera id")
    rule: Optional[str] = typer.Option(None, "--rule", help="helmet | passengers | u_turn | parking")
    status: Optional[str] = typer.Option(None, "--status", help="pending_review | approved | rejected | exported")
    plate: Optional[str] = typer.Option(None, "--plate", help="exact plate (machine reading or reviewer's correction)")
    since: Optional[str] = typer.Option(None, "--since", help="start time >= this (ISO 8601)")
    until: Optional[str] = typer.Option(None, "--until", help="start time < this (ISO 8601)")


def _query(f: RecordFilter, limit: Optional[int]) -> "RecordQuery":
    from pydantic import ValidationError

    from evidence.store import RecordQuery

    try:
        return RecordQuery(site_id=f.site_id, camera_id=f.camera, rule=f.rule, status=f.status, plate=f.plate,
                           since=parse_time(f.since, "--since"), until=parse_time(f.until, "--until"), limit=limit)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise fail(f"--{e['loc'][0]}: {e['msg']}")


@records_app.command("list")
@with_options("which", RecordFilter)
def records_list(
    site: Optional[Path] = EvidenceSiteOpt,
    db: Optional[str] = DbOpt,
    *,
    which: RecordFilter,
    limit: int = LimitOpt,
    fmt: Fmt = FormatOpt,
) -> None:
    """List records, newest first."""
    from evidence.export import record_row, rows_to_csv

    q = _query(which, limit)
    with existing_store(site, db) as store:
        recs = store.query(q)
    if fmt is Fmt.jsonl:
        for r in recs:
            typer.echo(r.model_dump_json())
    elif fmt is Fmt.csv:
        sys.stdout.write(rows_to_csv([record_row(r) for r in recs]))
    else:
        shown = ("id", "start_time", "site_id", "camera_id", "rule", "code", "plate", "status")
        print_table(f"{len(recs)} record(s)", shown, map(record_row, recs))


@records_app.command("show")
def records_show(
    ref: str = typer.Argument(..., help="record id or event key"),
    site: Optional[Path] = EvidenceSiteOpt,
    db: Optional[str] = DbOpt,
    json_out: bool = PrintJsonOpt,
) -> None:
    """Show one record with its review log."""
    with existing_store(site, db) as store:
        rec = store.get(ref)
        if rec is None:
            raise fail(f"no record {ref} in the store")
        log = store.decisions(rec.id)
    data = json.loads(rec.model_dump_json())
    data["decisions"] = [json.loads(d.model_dump_json()) for d in log]
    if json_out:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    for k, v in data.items():
        if k in ("evidence_files", "decisions", "facts", "model_versions", "warnings"):
            v = json.dumps(v, ensure_ascii=False)
        typer.echo(f"{k:>20}: {v}")


@records_app.command("export")
@with_options("which", RecordFilter, fixed={"status": None})
def records_export(
    out: Path = typer.Option(..., "--out", help="folder that receives epolice-export-<date>[.zip]"),
    as_zip: bool = typer.Option(False, "--zip", help="one zip instead of a folder"),
    site: Optional[Path] = EvidenceSiteOpt,
    db: Optional[str] = DbOpt,
    key: Optional[Path] = typer.Option(None, "--key", help="trusted public key; packages that fail verification are not exported"),
    *,
    which: RecordFilter,
    actor: str = typer.Option("export", "--actor", help="name written to the review log"),
    json_out: bool = PrintJsonOpt,
) -> None:
    """Write approved records and their evidence into a dated folder or zip, and mark them exported."""
    from evidence.export import export_records

    q = _query(which, None)
    public = trusted_key(site, key)
    with existing_store(site, db) as store:
        res = export_records(store, public, out, q, actor=actor, as_zip=as_zip)
    if json_out:
        typer.echo(res.model_dump_json())
    else:
        typer.echo(f"exported {len(res.exported)} record(s) to {res.path}" if res.path else "no approved records to export")
        for s in res.skipped:
            typer.echo(f"  skipped {s.id}: {s.reason}")
    if res.skipped:
        raise typer.Exit(1)


@records_app.command("ingest")
def records_ingest(
    paths: list[Path] = typer.Argument(..., help="package folders, or folders holding packages (searched recursively)"),
    site: Optional[Path] = EvidenceSiteOpt,
    db: Optional[str] = DbOpt,
    key: Optional[Path] = typer.Option(None, "--key", help="trusted public key (or a folder of them); default from --site"),
    json_out: bool = PrintJsonOpt,
) -> None:
    """Insert the records of verified packages that have none (the store failed when they were written)."""
    from evidence.ingest import ingest_packages

    public = trusted_key(site, key)
    with existing_store(site, db) as store:
        res = ingest_packages(store, public, paths)
    if json_out:
        typer.echo(res.model_dump_json())
    else:
        typer.echo(f"{len(res.added)} added, {len(res.existing)} already stored, {len(res.refused)} refused")
        for r in res.refused:
            typer.echo(f"  refused {r.path}: {r.reason}")
    if res.refused:
        raise typer.Exit(1)
