"""`epolice keys new`: the Ed25519 key pair that signs evidence manifests."""

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
