"""`epolice keys new`, `epolice evidence verify`, `epolice records list|show|export`.

Settings come from a site file (``--site``: its ``evidence:`` and ``store:`` sections) or straight
from ``--db`` / ``--key``; without either, the EvidenceConfig/StoreConfig defaults apply.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from pipelines.cli.app import evidence_app, fail, keys_app, records_app

if TYPE_CHECKING:
    from evidence.config import EvidenceConfig, StoreConfig

SiteOpt = typer.Option(None, "--site", help="site YAML; its evidence: and store: sections are used")
DbOpt = typer.Option(None, "--db", help="record store URL (overrides --site), e.g. sqlite:///records.db")


class Fmt(str, Enum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


def _configs(site: Optional[Path]) -> tuple["EvidenceConfig", "StoreConfig"]:
    from evidence.config import EvidenceConfig, StoreConfig

    if site is None:
        return EvidenceConfig(), StoreConfig()
    from pipelines.config import SiteConfigError, load_site

    try:
        cfg = load_site(site)
    except SiteConfigError as exc:
        raise fail(str(exc))
    return cfg.evidence, cfg.store


def _open_store(site: Optional[Path], db: Optional[str]):
    from evidence.store import RecordStore, SchemaTooNew, StoreError

    _, store_cfg = _configs(site)
    url = db or store_cfg.url
    try:
        return RecordStore(url, echo=store_cfg.echo, must_exist=True)
    except (StoreError, SchemaTooNew) as exc:
        raise fail(str(exc))
    except Exception as exc:  # unreachable server, bad URL: one line, no traceback
        raise fail(f"cannot open record store {url}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


def _public_key(site: Optional[Path], key: Optional[Path]):
    from evidence.signing import KeyFileError, load_public_key

    ev_cfg, _ = _configs(site)
    try:
        return load_public_key(key or ev_cfg.public_key_path)
    except KeyFileError as exc:
        raise fail(str(exc))


def _time(value: Optional[str], name: str) -> Optional[datetime]:
    """ISO 8601; a time without zone is taken in this machine's local zone."""
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{name}: {value!r} is not an ISO 8601 time (e.g. 2024-05-01T08:00+08:00)")
    return t if t.tzinfo is not None else t.astimezone()


# -- keys -----------------------------------------------------------------------------------------
@keys_app.command("new")
def keys_new(
    out: Path = typer.Option(..., "--out", help="folder for <name>.key (mode 0600) and <name>.pub"),
    name: str = typer.Option("evidence", "--name", help="file stem"),
) -> None:
    """Create an Ed25519 key pair for signing evidence manifests."""
    from evidence.signing import generate_keypair, key_id, load_public_key

    try:
        priv, pub = generate_keypair(out, name)
    except FileExistsError as exc:
        raise fail(str(exc))
    typer.echo(f"private key: {priv} (mode 600; keep it on the capture host)")
    typer.echo(f"public key:  {pub} (give it to whoever verifies)")
    typer.echo(f"key id:      {key_id(load_public_key(pub))}")


# -- evidence verify ------------------------------------------------------------------------------
@evidence_app.command("verify")
def evidence_verify(
    target: str = typer.Argument(..., help="package folder, or a record id / event key from the store"),
    key: Optional[Path] = typer.Option(None, "--key", help="trusted public key (default: from --site or evidence defaults)"),
    site: Optional[Path] = SiteOpt,
    db: Optional[str] = DbOpt,
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Check every file hash and the manifest signature; name each file that changed. Exit 1 if any did."""
    from evidence.export import verify_record
    from evidence.manifest import verify_package

    public = _public_key(site, key)
    path = Path(target)
    if path.is_dir():
        res = verify_package(path, public)
    else:
        if not (target.isdigit() or len(target) == 32):
            raise fail(f"{target} is neither a package folder nor a record id / event key")
        store = _open_store(site, db)
        try:
            rec = store.get(target)
        finally:
            store.close()
        if rec is None:
            raise fail(f"no record {target} in the store")
        res = verify_record(rec, public)
    if json_out:
        typer.echo(res.model_dump_json())
    elif res.ok:
        typer.echo(f"OK {res.path}: {res.files_checked} files and the signature (key {res.key_id}) verify")
    else:
        typer.echo(f"FAILED {res.path}")
        for p in res.problems:
            typer.echo(f"  {p.kind.upper():<18} {p.file}: {p.detail}")
    raise typer.Exit(0 if res.ok else 1)


# -- records --------------------------------------------------------------------------------------
def _query(site_id, camera, rule, status, plate, since, until, limit):
    from pydantic import ValidationError

    from evidence.store import RecordQuery

    try:
        return RecordQuery(site_id=site_id, camera_id=camera, rule=rule, status=status, plate=plate,
                           since=_time(since, "--since"), until=_time(until, "--until"), limit=limit)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise fail(f"--{e['loc'][0]}: {e['msg']}")


SiteIdOpt = typer.Option(None, "--site-id", help="only this site id")
CameraOpt = typer.Option(None, "--camera", help="only this camera id")
RuleOpt = typer.Option(None, "--rule", help="helmet | passengers | u_turn | parking")
StatusOpt = typer.Option(None, "--status", help="pending_review | approved | rejected | exported")
PlateOpt = typer.Option(None, "--plate", help="exact plate (machine reading or reviewer's correction)")
SinceOpt = typer.Option(None, "--since", help="start time >= this (ISO 8601)")
UntilOpt = typer.Option(None, "--until", help="start time < this (ISO 8601)")


@records_app.command("list")
def records_list(
    site: Optional[Path] = SiteOpt,
    db: Optional[str] = DbOpt,
    site_id: Optional[str] = SiteIdOpt,
    camera: Optional[str] = CameraOpt,
    rule: Optional[str] = RuleOpt,
    status: Optional[str] = StatusOpt,
    plate: Optional[str] = PlateOpt,
    since: Optional[str] = SinceOpt,
    until: Optional[str] = UntilOpt,
    limit: int = typer.Option(100, "--limit", min=1),
    fmt: Fmt = typer.Option(Fmt.table, "--format", help="table | jsonl | csv"),
) -> None:
    """List records, newest first."""
    from evidence.export import record_row, rows_to_csv

    q = _query(site_id, camera, rule, status, plate, since, until, limit)
    store = _open_store(site, db)
    try:
        recs = store.query(q)
    finally:
        store.close()
    if fmt is Fmt.jsonl:
        for r in recs:
            typer.echo(r.model_dump_json())
    elif fmt is Fmt.csv:
        sys.stdout.write(rows_to_csv([record_row(r) for r in recs]))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{len(recs)} record(s)")
        for col in ("id", "start_time", "site_id", "camera_id", "rule", "code", "plate", "status"):
            table.add_column(col)
        for r in recs:
            row = record_row(r)
            table.add_row(*(row[c] for c in ("id", "start_time", "site_id", "camera_id", "rule", "code", "plate", "status")))
        Console().print(table)


@records_app.command("show")
def records_show(
    ref: str = typer.Argument(..., help="record id or event key"),
    site: Optional[Path] = SiteOpt,
    db: Optional[str] = DbOpt,
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Show one record with its review log."""
    store = _open_store(site, db)
    try:
        rec = store.get(ref)
        if rec is None:
            raise fail(f"no record {ref} in the store")
        log = store.decisions(rec.id)
    finally:
        store.close()
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
def records_export(
    out: Path = typer.Option(..., "--out", help="folder that receives epolice-export-<date>[.zip]"),
    as_zip: bool = typer.Option(False, "--zip", help="one zip instead of a folder"),
    site: Optional[Path] = SiteOpt,
    db: Optional[str] = DbOpt,
    key: Optional[Path] = typer.Option(None, "--key", help="trusted public key; packages that fail verification are not exported"),
    site_id: Optional[str] = SiteIdOpt,
    camera: Optional[str] = CameraOpt,
    rule: Optional[str] = RuleOpt,
    plate: Optional[str] = PlateOpt,
    since: Optional[str] = SinceOpt,
    until: Optional[str] = UntilOpt,
    actor: str = typer.Option("export", "--actor", help="name written to the review log"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Write approved records and their evidence into a dated folder or zip, and mark them exported."""
    from evidence.export import export_records

    q = _query(site_id, camera, rule, None, plate, since, until, None)
    public = _public_key(site, key)
    store = _open_store(site, db)
    try:
        res = export_records(store, public, out, q, actor=actor, as_zip=as_zip)
    finally:
        store.close()
    if json_out:
        typer.echo(res.model_dump_json())
    else:
        typer.echo(f"exported {len(res.exported)} record(s) to {res.path}" if res.path else "no approved records to export")
        for s in res.skipped:
            typer.echo(f"  skipped {s.id}: {s.reason}")
    if res.skipped:
        raise typer.Exit(1)
