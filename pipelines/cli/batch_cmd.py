"""`epolice batch [run] PATHS|GLOB` and `epolice batch status`.

``epolice batch PATHS --site S`` runs a local process pool (``--jobs N``); with ``--redis URL`` it
puts the segments on a Redis stream instead and follows the progress of ``epolice worker``
processes on any machine. Either way the job ledger (SQLite) remembers finished segments, so
running the same command again resumes, and a finished batch re-run does nothing. ``run_batch``
also serves ``epolice process`` (one file).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from pipelines.cli.app import batch_app
from pipelines.cli.common import fail, ledger_path, load_site_or_exit, with_options

if TYPE_CHECKING:
    from pipelines.batch.jobs import ProcessorSpec, SegmentProcessor
    from pipelines.batch.plan import BatchPlan, BatchSettings
    from pipelines.config import SiteConfig

# -- options `batch run`, `process` and `worker` share ----------------------------------------------

SiteOpt = typer.Option(..., "--site", help="site YAML (cameras, rules, models, evidence, store)", exists=False)
ProcessorOpt = typer.Option("engine", "--processor", help="engine (violations + evidence + records), decode (decode only), or module:factory")
ProcessorOptionOpt = typer.Option(None, "--processor-option", help="KEY=VALUE passed to the processor factory (VALUE parsed as JSON when it can be)")
JsonOpt = typer.Option(False, "--json", help="print the summary as one JSON object")


@dataclass(frozen=True)
class RunOptions:
    """The options of `epolice batch run` and `epolice process` after their inputs and --site."""

    camera: Optional[str] = typer.Option(None, "--camera", help="camera id for every file (default: the site's only camera, or the id in the file name)")
    start_time: Optional[str] = typer.Option(None, "--start-time", help="recording start of the one file given, ISO-8601 (naive = site time zone); default: file name, creation_time, mtime")
    stride: Optional[int] = typer.Option(None, "--stride", min=1, help="process every Nth decoded frame")
    target_fps: Optional[float] = typer.Option(None, "--target-fps", min=0.01, help="process at most this many frames per second (true timestamps kept)")
    scale: Optional[float] = typer.Option(None, "--scale", min=0.01, help="scale frames by this factor before processing")
    max_width: Optional[int] = typer.Option(None, "--max-width", min=16, help="scale frames down to at most this width")
    hwaccel: str = typer.Option("auto", "--hwaccel", help="hardware decode: auto, none, cuda, vaapi, ... (falls back to software)")
    segment: float = typer.Option(300.0, "--segment", min=0.0, help="split files into segments of this many seconds (0 = never split)")
    overlap: Optional[float] = typer.Option(None, "--overlap", min=0.0, help="seconds of overlap between segments (default: from the site's longest rule)")
    processor: str = ProcessorOpt
    processor_option: Optional[list[str]] = ProcessorOptionOpt
    ledger: Optional[Path] = typer.Option(None, "--ledger", help="job ledger SQLite file (default: beside the record store, else ~/.cache/epolice/batch.db)")
    as_json: bool = JsonOpt
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show progress bars")
    retry_failed: bool = typer.Option(False, "--retry-failed", help="also retry segments of damaged files (they fail again unless the file changed)")


def processor_spec(name: str, items: Optional[list[str]], site: Path, site_cfg: "SiteConfig") -> "ProcessorSpec":
    """``--processor`` with its ``--processor-option KEY=VALUE`` items (VALUE as JSON when it parses)."""
    from pipelines.batch.plan import processor_spec as spec_for

    options: dict[str, Any] = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise fail(f"--processor-option {item!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return spec_for(name, options, site, site_cfg)


def check_processor(spec: "ProcessorSpec", *, load: bool = False) -> "SegmentProcessor | None":
    """Missing model or key, bad option: one line before any work. ``load``: also build the processor
    (its models load once, here) and return it."""
    try:
        spec.check()
        return spec.load() if load else None
    except Exception as exc:  # noqa: BLE001 - whatever the factory raises
        raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _settings(site: Path, site_cfg: "SiteConfig", opts: RunOptions, spec: "ProcessorSpec") -> "BatchSettings":
    from pipelines.batch.jobs import DecodeSettings
    from pipelines.batch.plan import BatchSettings
    from vision.sources.clock import ClockError, parse_start_time

    if opts.stride and opts.target_fps:
        raise fail("give --stride or --target-fps, not both")
    start = None
    if opts.start_time:
        try:
            start = parse_start_time(opts.start_time, site_cfg.timezone)
        except ClockError as exc:
            raise fail(str(exc))
    try:
        decode = DecodeSettings(
            stride=opts.stride, target_fps=opts.target_fps, scale=opts.scale, max_width=opts.max_width, hwaccel=opts.hwaccel,
            start_time=start,
        )
    except Exception as exc:  # noqa: BLE001 - pydantic: one line
        raise fail(str(exc).splitlines()[0])
    return BatchSettings.for_site(
        site, site_cfg, camera_id=opts.camera, segment_seconds=opts.segment or None, overlap_seconds=opts.overlap,
        decode=decode, processor=spec,
    )


def run_batch(paths: list[str], site: Path, opts: RunOptions, *, jobs: int, redis_url: Optional[str], wait: bool,
              wait_timeout: Optional[float] = None) -> None:
    """Plan the files, then process them here (``jobs`` processes) or through Redis; print the summary."""
    from pipelines.batch.files import expand_inputs
    from pipelines.batch.ledger import Ledger
    from pipelines.batch.local import run_local
    from pipelines.batch.plan import plan_batch

    site_cfg = load_site_or_exit(site)
    spec = processor_spec(opts.processor, opts.processor_option, site, site_cfg)
    settings = _settings(site, site_cfg, opts, spec)
    if opts.camera and opts.camera not in settings.cameras:
        raise fail(f"--camera {opts.camera!r} is not in site {site_cfg.id} (has: {', '.join(settings.cameras)})")
    if opts.start_time and len(found := expand_inputs(paths)[0]) > 1:
        raise fail(f"--start-time gives every file the same start, and {len(found)} files are given: their events would "
                   "collide; date them by file name or container time, or process them one at a time")
    plan = plan_batch(paths, settings)
    if not plan.jobs and not plan.problems:
        raise fail("nothing to process")
    with Ledger(ledger_path(opts.ledger, site_cfg)) as led:
        if redis_url:
            summary = _through_redis(plan, led, redis_url, wait=wait, progress=opts.progress, retry_failed=opts.retry_failed,
                                     timeout_s=wait_timeout)
            if summary is None:
                return
        else:
            if plan.jobs:
                check_processor(spec)
            summary = run_local(plan, spec, led, jobs=jobs, retry_failed=opts.retry_failed, show_progress=opts.progress and not opts.as_json)
    if opts.as_json:
        typer.echo(summary.model_dump_json())
    else:
        from pipelines.batch.summary import render

        render(summary)
    if summary.files_failed:
        raise typer.Exit(1)


def connect_queue(redis_url: str):  # noqa: ANN201 - SegmentQueue
    """The batch's Redis stream, or one error line when Redis cannot be reached."""
    from pipelines.batch.redis_queue import SegmentQueue, connect

    try:
        return SegmentQueue(connect(redis_url))
    except ConnectionError as exc:
        raise fail(str(exc))


def _through_redis(plan: "BatchPlan", led, redis_url: str, *, wait: bool, progress: bool, retry_failed: bool,  # noqa: ANN001, ANN202
                   timeout_s: Optional[float]):
    from pipelines.batch.redis_run import BatchTimeout, enqueue_batch, follow_batch

    queue = connect_queue(redis_url)
    queued = enqueue_batch(plan, led, queue, retry_failed=retry_failed)
    typer.secho(
        f"batch {plan.batch_id}: {len(plan.jobs)} segments, {queued.added} queued now, {len(queued.finished)} already done", err=True
    )
    if not wait:
        return None
    try:
        return follow_batch(queued, led, queue, progress=progress, timeout_s=timeout_s)
    except BatchTimeout as exc:
        raise fail(str(exc), code=1) from None


# -- commands -----------------------------------------------------------------------------------------


@batch_app.command("run", help="Process recorded files (PATHS, folders or globs) in parallel; resumable.")
@with_options("opts", RunOptions)
def batch_run(
    paths: list[str] = typer.Argument(..., help="video files, folders, or glob patterns ('**' recursive)"),
    site: Path = SiteOpt,
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="worker processes on this machine"),
    redis_url: Optional[str] = typer.Option(None, "--redis", help="distribute over Redis (redis://host:6379/0) to `epolice worker`s"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="with --redis: follow progress until every segment is done"),
    wait_timeout: Optional[float] = typer.Option(None, "--wait-timeout", min=1.0, help="with --redis: give up waiting after this many seconds (exit 1, segments named)"),
    *,
    opts: RunOptions,
) -> None:
    run_batch(paths, site, opts, jobs=jobs, redis_url=redis_url, wait=wait, wait_timeout=wait_timeout)


@batch_app.command("status", help="Progress of batches: across workers (--redis) or from the local ledger.")
def status(
    redis_url: Optional[str] = typer.Option(None, "--redis", help="redis://host:6379/0"),
    batch: Optional[str] = typer.Option(None, "--batch", help="one batch id (default: all)"),
    ledger: Optional[Path] = typer.Option(None, "--ledger", help="local ledger file (without --redis)"),
    site: Optional[Path] = typer.Option(None, "--site", help="find the ledger beside this site's record store"),
    as_json: bool = JsonOpt,
) -> None:
    if redis_url:
        _redis_status(connect_queue(redis_url), batch, as_json)
    else:
        site_cfg = load_site_or_exit(site) if site and not ledger else None
        _ledger_status(ledger_path(ledger, site_cfg), batch, as_json)


def _redis_status(queue, batch: Optional[str], as_json: bool) -> None:  # noqa: ANN001 - SegmentQueue
    from rich.console import Console
    from rich.table import Table

    ids = [batch] if batch else queue.batches()
    stats = [queue.status(b) for b in ids]
    workers = queue.workers()
    pending = queue.pending_count()
    if as_json:
        typer.echo(json.dumps({
            "batches": [dataclasses.asdict(s) for s in stats],
            "workers": [{"name": n, "segment": seg, "seen_s_ago": round(age, 1), "pending": p} for n, seg, age, p in workers],
            "in_flight": pending,
        }))
        return
    console = Console()
    table = Table(title="batches")
    for col in ("batch", "done", "failed", "footage", "frames", "violations", "created"):
        table.add_column(col)
    for s in stats:
        pct = 100.0 * s.done / s.total if s.total else 0.0
        rules = ", ".join(f"{k} {v}" for k, v in s.by_rule.items())
        table.add_row(s.batch_id, f"{s.done}/{s.total} ({pct:.0f}%)", str(s.failed),
                      f"{s.footage_done / 3600:.2f}/{s.footage_seconds / 3600:.2f} h", str(s.frames),
                      f"{s.events}" + (f" ({rules})" if rules else ""), s.created)
    console.print(table)
    wt = Table(title=f"workers ({pending} segment(s) in flight)")
    for col in ("worker", "segment", "last seen", "pending"):
        wt.add_column(col)
    for n, seg, age, p in workers:
        wt.add_row(n, seg or "idle", f"{age:.0f} s ago", str(p))
    console.print(wt)


def _ledger_status(path: Path, batch: Optional[str], as_json: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from pipelines.batch.ledger import Ledger
    from pipelines.batch.summary import ledger_batches

    if not path.exists():
        raise fail(f"no ledger at {path} (pass --ledger, or --redis for distributed batches)")
    with Ledger(path) as led:
        rows = ledger_batches(led.results(batch_id=batch))
    if as_json:
        typer.echo(json.dumps({"batches": rows}))
        return
    table = Table(title=f"ledger {path}")
    for col in ("batch", "segments finished", "failed", "footage", "violations"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["batch_id"], str(row["segments"]), str(row["failed"]), f"{row['footage_hours']:.2f} h", str(row["violations"]))
    Console().print(table)
