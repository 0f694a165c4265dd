"""The end-of-batch report: files, hours of footage, violations by rule, failures, speed."""

from __future__ import annotations

from collections import Counter, defaultdict

from pydantic import Field

from models.strict import StrictModel
from pipelines.batch.files import InputProblem
from pipelines.batch.jobs import SegmentResult


class FileFailure(StrictModel):
    path: str
    reason: str
    segments: list[int] = Field(default_factory=list)  # failed segments; empty: the file never started


class BatchSummary(StrictModel):
    """Whole-batch totals (this run plus segments finished by earlier runs) and this run's speed."""

    batch_id: str
    files: int  # inputs found
    files_ok: int
    files_failed: int
    segments: int
    segments_run: int  # processed by this run
    segments_skipped: int  # already finished by an earlier run
    footage_hours: float  # finished footage of the batch
    violations: int
    by_rule: dict[str, int] = Field(default_factory=dict)
    new_records: int = 0  # created by this run
    failures: list[FileFailure] = Field(default_factory=list)
    warnings: list[FileFailure] = Field(default_factory=list)  # files ok, with decode warnings (concealed glitches)
    frames_run: int = 0
    footage_seconds_run: float = 0.0
    wall_seconds: float = 0.0
    fps: float = 0.0  # frames handed to the processor per wall second, this run
    realtime_multiple: float = 0.0  # footage seconds processed per wall second, this run
    workers: int = 1


def summarize(
    *,
    batch_id: str,
    total_segments: int,
    results: list[SegmentResult],
    run: list[SegmentResult],
    problems: list[InputProblem],
    wall_seconds: float,
    workers: int,
    files_total: int,
) -> BatchSummary:
    """``results``: the final result of every segment of the batch known now; ``run``: those this run produced."""
    by_rule: Counter[str] = Counter()
    failed: dict[str, list[SegmentResult]] = defaultdict(list)
    warned: dict[str, list[str]] = defaultdict(list)
    for r in results:
        by_rule.update(r.by_rule)
        if r.status != "done":
            failed[r.path].append(r)
        warned[r.path] += [w for w in r.warnings if "decode warning" in w]
    failures = [FileFailure(path=p.path, reason=p.reason) for p in problems]
    for path, rs in sorted(failed.items()):
        rs.sort(key=lambda r: r.index)
        reasons = list(dict.fromkeys(r.error or r.status for r in rs))
        failures.append(FileFailure(path=path, reason="; ".join(reasons), segments=[r.index for r in rs]))
    frames = sum(r.frames for r in run)
    footage_run = sum(r.footage_seconds for r in run)
    wall = max(wall_seconds, 1e-9)
    paths = {r.path for r in results}
    return BatchSummary(
        batch_id=batch_id,
        files=files_total,
        files_ok=len(paths - set(failed)),
        files_failed=len(failures),
        segments=total_segments,
        segments_run=len(run),
        segments_skipped=len(results) - len(run),
        footage_hours=sum(r.footage_seconds for r in results) / 3600.0,
        violations=sum(r.events for r in results),
        by_rule=dict(sorted(by_rule.items())),
        new_records=sum(r.new_records for r in run),
        failures=failures,
        warnings=[FileFailure(path=p, reason="; ".join(ws)) for p, ws in sorted(warned.items()) if ws and p not in failed],
        frames_run=frames,
        footage_seconds_run=footage_run,
        wall_seconds=wall_seconds,
        fps=frames / wall if run else 0.0,
        realtime_multiple=footage_run / wall if run else 0.0,
        workers=workers,
    )


def ledger_batches(results: list[SegmentResult]) -> list[dict]:
    """One row per batch id (sorted) of the results a ledger holds: segments, done, failed, footage, violations."""
    groups: dict[str, list[SegmentResult]] = {}
    for r in results:
        groups.setdefault(r.batch_id, []).append(r)
    rows = []
    for bid, rs in sorted(groups.items()):
        by_rule: Counter[str] = Counter()
        for r in rs:
            by_rule.update(r.by_rule)
        rows.append({
            "batch_id": bid, "segments": len(rs), "done": sum(r.status == "done" for r in rs),
            "failed": sum(r.status != "done" for r in rs), "footage_hours": sum(r.footage_seconds for r in rs) / 3600,
            "frames": sum(r.frames for r in rs), "violations": sum(r.events for r in rs), "by_rule": dict(by_rule),
        })
    return rows


def render(summary: BatchSummary, console=None) -> None:  # noqa: ANN001 - rich Console
    """Print the summary as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    s = summary
    table = Table(title=f"batch {s.batch_id}", show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    warned = f", {len(s.warnings)} of them with decode warnings" if s.warnings else ""
    table.add_row("files", f"{s.files} ({s.files_ok} ok{warned}, {s.files_failed} failed)")
    table.add_row("segments", f"{s.segments} ({s.segments_run} processed now, {s.segments_skipped} already done)")
    table.add_row("footage", f"{s.footage_hours:.2f} h")
    rules = ", ".join(f"{k} {v}" for k, v in s.by_rule.items()) or "none"
    table.add_row("violations", f"{s.violations} ({rules}); {s.new_records} new records")
    if s.segments_run:
        table.add_row(
            "throughput",
            f"{s.footage_seconds_run / 3600:.2f} h in {s.wall_seconds:.1f} s with {s.workers} worker(s): "
            f"{s.realtime_multiple:.1f}x real time, {s.fps:.1f} frames/s",
        )
    console.print(table)
    if s.warnings:
        warn = Table(title="ok, with decode warnings", show_lines=False)
        warn.add_column("file")
        warn.add_column("warnings", overflow="fold")
        for f in s.warnings:
            warn.add_row(f.path, f.reason)
        console.print(warn)
    if s.failures:
        fail = Table(title="failed files", show_lines=False)
        fail.add_column("file")
        fail.add_column("segments")
        fail.add_column("reason", overflow="fold")
        for f in s.failures:
            fail.add_row(f.path, ",".join(map(str, f.segments)) or "-", f.reason)
        console.print(fail)
