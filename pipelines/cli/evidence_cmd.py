"""`epolice evidence verify`: check a package folder, or a stored record's package, against the trusted key.

Settings come from a site file (``--site``: its ``evidence:`` and ``store:`` sections) or straight
from ``--db`` / ``--key``; without either, the EvidenceConfig/StoreConfig defaults apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import evidence_app
from pipelines.cli.common import DbOpt, EvidenceSiteOpt, PrintJsonOpt, existing_store, fail, trusted_key


@evidence_app.command("verify")
def evidence_verify(
    target: str = typer.Argument(..., help="package folder, or a record id / event key from the store"),
    key: Optional[Path] = typer.Option(None, "--key", help="trusted public key (default: from --site or evidence defaults)"),
    site: Optional[Path] = EvidenceSiteOpt,
    db: Optional[str] = DbOpt,
    json_out: bool = PrintJsonOpt,
) -> None:
    """Check every file hash and the manifest signature; name each file that changed. Exit 1 if any did."""
    from evidence.export import verify_record
    from evidence.manifest import verify_package

    public = trusted_key(site, key)
    path = Path(target)
    if path.is_dir():
        res = verify_package(path, public)
    else:
        if not (target.isdigit() or len(target) == 32):
            raise fail(f"{target} is neither a package folder nor a record id / event key")
        with existing_store(site, db) as store:
            rec = store.get(target)
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
