"""`epolice worker`: process batch segments from a Redis stream, on any machine, until stopped."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import app
from pipelines.cli.batch_cmd import ProcessorOpt, ProcessorOptionOpt, SiteOpt, check_processor, connect_queue, processor_spec
from pipelines.cli.common import load_site_or_exit


@app.command("worker", help="Process batch segments from a Redis stream until stopped (Ctrl-C finishes the current one).")
def worker(
    redis_url: str = typer.Option(..., "--redis", help="redis://host:6379/0"),
    site: Path = SiteOpt,
    processor: str = ProcessorOpt,
    processor_option: Optional[list[str]] = ProcessorOptionOpt,
    visibility: float = typer.Option(300.0, "--visibility", min=1.0, help="seconds before a silent worker's segment is taken over"),
    max_segments: Optional[int] = typer.Option(None, "--max-segments", min=1, help="exit after this many segments"),
    idle_exit: Optional[float] = typer.Option(None, "--idle-exit", min=0.0, help="exit after this many seconds with nothing to do"),
    name: Optional[str] = typer.Option(None, "--name", help="consumer name (default host:pid)"),
) -> None:
    from pipelines.batch.jobs import run_segment, worker_name
    from pipelines.batch.plan import site_fingerprint
    from pipelines.batch.redis_queue import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    site_cfg = load_site_or_exit(site)
    spec = processor_spec(processor, processor_option, site, site_cfg)
    queue = connect_queue(redis_url)
    proc = check_processor(spec, load=True)  # models load once, here
    consumer = name or worker_name()
    stop = threading.Event()

    def _stop(signum, _frame):  # noqa: ANN001
        typer.secho(f"{consumer}: stopping after the current segment", err=True)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    def _report(result, counted: bool) -> None:  # noqa: ANN001
        state = result.status if counted else f"{result.status} (already counted)"
        typer.secho(f"{consumer}: {Path(result.path).name} #{result.index}: {state}, {result.frames} frames, {result.events} events"
                    + (f": {result.error}" if result.error else ""), err=True)

    typer.secho(f"{consumer}: waiting for segments on {queue.stream}", err=True)
    try:
        n = run_worker(
            queue, lambda job: run_segment(proc, job), consumer=consumer, visibility_s=visibility,
            max_segments=max_segments, idle_exit_s=idle_exit, stop=stop, on_result=_report,
            site_fingerprint=site_fingerprint(site),
        )
    finally:
        proc.close()
    typer.secho(f"{consumer}: processed {n} segment(s)", err=True)
