"""`epolice process`, `epolice batch [PATHS|GLOB]`, `epolice batch status`, `epolice worker`.

``epolice batch PATHS --site S`` runs a local process pool (``--jobs N``); with ``--redis URL`` it
puts the segments on a Redis stream instead and follows the progress of ``epolice worker``
processes on any machine. Either way the job ledger (SQLite) remembers finished segments, so
running the same command again resumes, and a finished batch re-run does nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from typer.core import TyperGroup

from pipelines.cli.app import app, batch_app, fail

if TYPE_CHECKING:
    from pipelines.batch.jobs import ProcessorSpec


class _DefaultRunGroup(TyperGroup):
    """``epolice batch PATHS ...`` means ``epolice batch run PATHS ...``; ``status`` stays a subcommand."""

    def parse_args(self, ctx, args):  # noqa: ANN001, ANN201 - click signature
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


batch_app.info.cls = _DefaultRunGroup
batch_app.info.no_args_is_help = True
app.add_typer(batch_app, name="batch")

# -- shared options ---------------------------------------------------------------------------------

SiteOpt = typer.Option(..., "--site", help="site YAML (cameras, rules, models, evidence, store)", exists=False)
CameraOpt = typer.Option(None, "--camera", help="camera id for every file (default: the site's only camera, or the id in the file name)")
StartOpt = typer.Option(None, "--start-time", help="recording start, ISO-8601 (naive = site time zone); default: file name, creation_time, mtime")
StrideOpt = typer.Option(None, "--stride", min=1, help="process every Nth decoded frame")
FpsOpt = typer.Option(None, "--target-fps", min=0.01, help="process at most this many frames per second (true timestamps kept)")
ScaleOpt = typer.Option(None, "--scale", min=0.01, help="scale frames by this factor before processing")
MaxWidthOpt = typer.Option(None, "--max-width", min=16, help="scale frames down to at most this width")
HwOpt = typer.Option("auto", "--hwaccel", help="hardware decode: auto, none, cuda, vaapi, ... (falls back to software)")
SegmentOpt = typer.Option(300.0, "--segment", min=1.0, help="split files into segments of this many seconds (0 = never split)")
OverlapOpt = typer.Option(None, "--overlap", min=0.0, help="seconds of overlap between segments (default: from the site's longest rule)")
ProcessorOpt = typer.Option("engine", "--processor", help="engine (violations + evidence + records), decode (decode only), or module:factory")
ProcessorOptionOpt = typer.Option(None, "--processor-option", help="KEY=VALUE passed to the processor factory (VALUE parsed as JSON when it can be)")
LedgerOpt = typer.Option(None, "--ledger", help="job ledger SQLite file (default: beside the record store, else ~/.cache/epolice/batch.db)")
JsonOpt = typer.Option(False, "--json", help="print the summary as one JSON object")
ProgressOpt = typer.Option(True, "--progress/--no-progress", help="show progress bars")
RetryOpt = typer.Option(False, "--retry-failed", help="also retry segments of damaged files (they fail again unless the file changed)")


def _load_site(site: Path):  # noqa: ANN202 - SiteConfig
    from pipelines.config import SiteConfigError, load_site

    try:
        return load_site(site)
    except SiteConfigError as exc:
        raise fail(str(exc))


def _parse_options(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise fail(f"--processor-option {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _processor_spec(name: str, options: list[str] | None, site: Path, site_cfg) -> "ProcessorSpec":  # noqa: ANN001
    from pipelines.batch.jobs import ProcessorSpec

    opts = _parse_options(options)
    if name == "engine":
        opts.setdefault("site", str(site.resolve()))
    elif name == "decode":
        opts.setdefault("clock", {"timezone": site_cfg.timezone})
    return ProcessorSpec(factory=name, options=opts)


def _default_overlap(site_cfg) -> float:  # noqa: ANN001
    """Long enough for the slowest rule to decide after a violation starts (see segments.recommended_overlap)."""
    from pipelines.batch.segments import recommended_overlap

    longest = 30.0
    if any("parking" in site_cfg.rules_for(c) for c in site_cfg.cameras):
        longest = max(longest, site_cfg.rules.parking.min_dwell_s + 10.0)
    return recommended_overlap(longest)


def _settings(site: Path, site_cfg, *, camera, start_time, stride, target_fps, scale, max_width, hwaccel, segment, overlap, spec):  # noqa: ANN001, ANN202
    from pipelines.batch.jobs import DecodeSettings
    from pipelines.batch.plan import BatchSettings
    from vision.sources.clock import ClockError, parse_start_time

    if stride and target_fps:
        raise fail("give --stride or --target-fps, not both")
    start = None
    if start_time:
        try:
            start = parse_start_time(start_time, site_cfg.timezone)
        except ClockError as exc:
            raise fail(str(exc))
    try:
        decode = DecodeSettings(stride=stride, target_fps=target_fps, scale=scale, max_width=max_width, hwaccel=hwaccel, start_time=start)
    except Exception as exc:  # noqa: BLE001 - pydantic: one line
        raise fail(str(exc).splitlines()[0])
    return BatchSettings(
        site_id=site_cfg.id,
        site_fingerprint=hashlib.sha256(site.read_bytes()).hexdigest()[:16],
        cameras=[c.id for c in site_cfg.cameras],
        camera_id=camera,
        segment_seconds=segment or None,
        overlap_seconds=_default_overlap(site_cfg) if overlap is None else overlap,
        decode=decode,
        processor=spec,
    )


def _ledger(path: Optional[Path], site_cfg):  # noqa: ANN001, ANN202
    from pipelines.batch.ledger import Ledger, default_ledger_path

    return Ledger(path or default_ledger_path(getattr(getattr(site_cfg, "store", None), "url", None)))


def _emit(summary, as_json: bool) -> None:  # noqa: ANN001
    from pipelines.batch.summary import render

    if as_json:
        typer.echo(summary.model_dump_json())
    else:
        render(summary)


def _run(
    paths: list[str], site: Path, *, jobs: int, redis_url: Optional[str], wait: bool, camera, start_time, stride, target_fps,
    scale, max_width, hwaccel, segment, overlap, processor, processor_option, ledger, as_json, progress, retry_failed,
) -> None:
    from pipelines.batch.local import run_local
    from pipelines.batch.plan import plan_batch

    site_cfg = _load_site(site)
    spec = _processor_spec(processor, processor_option, site, site_cfg)
    settings = _settings(
        site, site_cfg, camera=camera, start_time=start_time, stride=stride, target_fps=target_fps, scale=scale,
        max_width=max_width, hwaccel=hwaccel, segment=segment, overlap=overlap, spec=spec,
    )
    if camera and camera not in settings.cameras:
        raise fail(f"--camera {camera!r} is not in site {site_cfg.id} (has: {', '.join(settings.cameras)})")
    plan = plan_batch(paths, settings)
    if not plan.jobs and not plan.problems:
        raise fail("nothing to process")
    with _ledger(ledger, site_cfg) as led:
        if redis_url:
            summary = _run_redis(plan, led, redis_url, wait=wait, progress=progress, retry_failed=retry_failed)
            if summary is None:
                return
        else:
            if plan.jobs:
                try:
                    spec.check()
                except Exception as exc:  # noqa: BLE001 - missing model/key/bad option: one line before any work
                    raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            summary = run_local(plan, spec, led, jobs=jobs, retry_failed=retry_failed, show_progress=progress and not as_json)
    _emit(summary, as_json)
    if summary.files_failed:
        raise typer.Exit(1)


def _run_redis(plan, led, redis_url: str, *, wait: bool, progress: bool, retry_failed: bool):  # noqa: ANN001, ANN202
    from pipelines.batch.redis_queue import SegmentQueue, connect
    from pipelines.batch.summary import summarize

    try:
        queue = SegmentQueue(connect(redis_url))
    except ConnectionError as exc:
        raise fail(str(exc))
    t0 = time.monotonic()
    finished = led.finished(plan.job_key, [j.file_key for j in plan.jobs], retry_failed=retry_failed)
    todo = [j for j in plan.jobs if (j.file_key, j.index) not in finished]
    added = queue.enqueue(
        todo, batch_id=plan.batch_id, total=len(plan.jobs), footage_seconds=plan.footage_seconds,
        files=len(plan.files), retry_failed=retry_failed,
    )
    typer.secho(f"batch {plan.batch_id}: {len(plan.jobs)} segments, {added} queued now, {len(finished)} already done", err=True)
    if not wait:
        return None
    from pipelines.batch.local import BatchProgress

    todo_by_id = {j.segment_id: j for j in todo}
    seen: dict[str, Any] = {}
    with BatchProgress(todo, enabled=progress) as bars:
        while len(seen) < len(todo_by_id):
            for r in queue.results(plan.batch_id):
                job = todo_by_id.get(r.segment_id)
                if job is None or r.segment_id in seen:
                    continue
                seen[r.segment_id] = r
                led.record(r)
                bars.update(r.segment_id, job.path, job.footage_seconds, r.frames)
                bars.finish_segment(job)
            if len(seen) < len(todo_by_id):
                time.sleep(0.5)
    run = list(seen.values())
    return summarize(
        batch_id=plan.batch_id, total_segments=len(plan.jobs), results=list(finished.values()) + run, run=run,
        problems=plan.problems, wall_seconds=time.monotonic() - t0, workers=len({r.worker for r in run}) or 1,
        files_total=len(plan.files) + len(plan.problems),
    )


# -- commands -----------------------------------------------------------------------------------------


@batch_app.command("run", help="Process recorded files (PATHS, folders or globs) in parallel; resumable.")
def batch_run(
    paths: list[str] = typer.Argument(..., help="video files, folders, or glob patterns ('**' recursive)"),
    site: Path = SiteOpt,
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="worker processes on this machine"),
    redis_url: Optional[str] = typer.Option(None, "--redis", help="distribute over Redis (redis://host:6379/0) to `epolice worker`s"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="with --redis: follow progress until every segment is done"),
    camera: Optional[str] = CameraOpt,
    start_time: Optional[str] = StartOpt,
    stride: Optional[int] = StrideOpt,
    target_fps: Optional[float] = FpsOpt,
    scale: Optional[float] = ScaleOpt,
    max_width: Optional[int] = MaxWidthOpt,
    hwaccel: str = HwOpt,
    segment: float = SegmentOpt,
    overlap: Optional[float] = OverlapOpt,
    processor: str = ProcessorOpt,
    processor_option: Optional[list[str]] = ProcessorOptionOpt,
    ledger: Optional[Path] = LedgerOpt,
    as_json: bool = JsonOpt,
    progress: bool = ProgressOpt,
    retry_failed: bool = RetryOpt,
) -> None:
    _run(
        paths, site, jobs=jobs, redis_url=redis_url, wait=wait, camera=camera, start_time=start_time, stride=stride,
        target_fps=target_fps, scale=scale, max_width=max_width, hwaccel=hwaccel, segment=segment, overlap=overlap,
        processor=processor, processor_option=processor_option, ledger=ledger, as_json=as_json, progress=progress,
        retry_failed=retry_failed,
    )


@app.command("process", help="Process one recorded video file (violations, evidence, records).")
def process(
    video: Path = typer.Argument(..., help="video file"),
    site: Path = SiteOpt,
    camera: Optional[str] = CameraOpt,
    start_time: Optional[str] = StartOpt,
    stride: Optional[int] = StrideOpt,
    target_fps: Optional[float] = FpsOpt,
    scale: Optional[float] = ScaleOpt,
    max_width: Optional[int] = MaxWidthOpt,
    hwaccel: str = HwOpt,
    segment: float = SegmentOpt,
    overlap: Optional[float] = OverlapOpt,
    processor: str = ProcessorOpt,
    processor_option: Optional[list[str]] = ProcessorOptionOpt,
    ledger: Optional[Path] = LedgerOpt,
    as_json: bool = JsonOpt,
    progress: bool = ProgressOpt,
    retry_failed: bool = RetryOpt,
) -> None:
    if not video.is_file():
        raise fail(f"{video}: file not found")
    _run(
        [str(video)], site, jobs=1, redis_url=None, wait=True, camera=camera, start_time=start_time, stride=stride,
        target_fps=target_fps, scale=scale, max_width=max_width, hwaccel=hwaccel, segment=segment, overlap=overlap,
        processor=processor, processor_option=processor_option, ledger=ledger, as_json=as_json, progress=progress,
        retry_failed=retry_failed,
    )


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
    from pipelines.batch.redis_queue import SegmentQueue, connect, run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    site_cfg = _load_site(site)
    spec = _processor_spec(processor, processor_option, site, site_cfg)
    try:
        queue = SegmentQueue(connect(redis_url))
    except ConnectionError as exc:
        raise fail(str(exc))
    try:
        spec.check()
        proc = spec.load()  # models load once, here
    except Exception as exc:  # noqa: BLE001
        raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
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
        )
    finally:
        proc.close()
    typer.secho(f"{consumer}: processed {n} segment(s)", err=True)


@batch_app.command("status", help="Progress of batches: across workers (--redis) or from the local ledger.")
def status(
    redis_url: Optional[str] = typer.Option(None, "--redis", help="redis://host:6379/0"),
    batch: Optional[str] = typer.Option(None, "--batch", help="one batch id (default: all)"),
    ledger: Optional[Path] = typer.Option(None, "--ledger", help="local ledger file (without --redis)"),
    site: Optional[Path] = typer.Option(None, "--site", help="find the ledger beside this site's record store"),
    as_json: bool = JsonOpt,
) -> None:
    from rich.console import Console
    from rich.table import Table

    if redis_url:
        from pipelines.batch.redis_queue import SegmentQueue, connect

        try:
            queue = SegmentQueue(connect(redis_url))
        except ConnectionError as exc:
            raise fail(str(exc))
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
        return
    from pipelines.batch.ledger import Ledger, default_ledger_path

    path = ledger or default_ledger_path(_load_site(site).store.url if site else None)
    if not path.exists():
        raise fail(f"no ledger at {path} (pass --ledger, or --redis for distributed batches)")
    with Ledger(path) as led:
        results = led.results(batch_id=batch)
    groups: dict[str, list] = {}
    for r in results:
        groups.setdefault(r.batch_id, []).append(r)
    rows = []
    for bid, rs in sorted(groups.items()):
        by_rule: dict[str, int] = {}
        for r in rs:
            for k, v in r.by_rule.items():
                by_rule[k] = by_rule.get(k, 0) + v
        rows.append({
            "batch_id": bid, "segments": len(rs), "done": sum(r.status == "done" for r in rs),
            "failed": sum(r.status != "done" for r in rs), "footage_hours": sum(r.footage_seconds for r in rs) / 3600,
            "frames": sum(r.frames for r in rs), "violations": sum(r.events for r in rs), "by_rule": by_rule,
        })
    if as_json:
        typer.echo(json.dumps({"batches": rows}))
        return
    table = Table(title=f"ledger {path}")
    for col in ("batch", "segments finished", "failed", "footage", "violations"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["batch_id"], str(row["segments"]), str(row["failed"]), f"{row['footage_hours']:.2f} h", str(row["violations"]))
    Console().print(table)
