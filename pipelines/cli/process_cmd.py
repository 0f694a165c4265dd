"""`epolice process VIDEO`: one recorded file through the batch path (violations, evidence, records)."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines.cli.app import app
from pipelines.cli.batch_cmd import RunOptions, SiteOpt, run_batch
from pipelines.cli.common import fail, with_options


@app.command("process", help="Process one recorded video file (violations, evidence, records).")
@with_options("opts", RunOptions)
def process(
    video: Path = typer.Argument(..., help="video file"),
    site: Path = SiteOpt,
    *,
    opts: RunOptions,
) -> None:
    if not video.is_file():
        raise fail(f"{video}: file not found")
    run_batch([str(video)], site, opts, jobs=1, redis_url=None, wait=True)
