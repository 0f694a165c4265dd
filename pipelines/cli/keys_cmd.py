"""`epolice keys new | rotate`: the Ed25519 key pair that signs evidence manifests."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines.cli.app import keys_app
from pipelines.cli.common import fail


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


@keys_app.command("rotate")
def keys_rotate(
    out: Path = typer.Option(..., "--out", help="folder holding <name>.key and <name>.pub"),
    name: str = typer.Option("evidence", "--name", help="file stem"),
) -> None:
    """Replace the signing key; the old public key stays trusted (trusted/<key id>.pub), so old records verify."""
    from evidence.signing import KeyFileError, rotate_keypair

    try:
        rot = rotate_keypair(out, name)
    except (KeyFileError, FileExistsError, OSError) as exc:
        raise fail(str(exc))
    typer.echo(f"new key id:  {rot.new_id} ({rot.private_key}, {rot.public_key})")
    typer.echo(f"old key id:  {rot.old_id}, still trusted for verification: {rot.trusted}")
    if rot.retired is not None:
        typer.echo(f"old private key moved to {rot.retired} (never used to sign again; delete it when your policy allows)")
    typer.echo("restart the workers that sign evidence so they load the new key")
