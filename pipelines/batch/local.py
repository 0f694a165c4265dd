"""Many files on one machine: a process pool where each worker loads the processor (models) once.

The coordinating process owns the ledger (a single SQLite writer) and the progress display;
workers send progress over a queue and return one ``SegmentResult`` per segment. At most ``jobs``
segments are in flight, so when a worker process dies (out of memory, a native crash) the pool is
rebuilt and only the segments that were running are retried, once; a segment that kills a worker
twice is recorded as an error and the batch goes on.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue as queue_mod
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from pipelines.batch.jobs import ProcessorSpec, SegmentJob, SegmentResult, new_result, run_segment
from pipelines.batch.ledger import Ledger
from pipelines.batch.plan import BatchPlan
from pipelines.batch.summary import BatchSummary, summarize

log = logging.getLogger(__name__)

MAX_CRASHES_PER_SEGMENT = 2

# -- worker process side ---------------------------------------------------------------------------

_processor = None
_progress_queue = None


def _init_worker(spec: ProcessorSpec, progress_queue, log_level: int) -> None:  # noqa: ANN001 - mp queue
    global _processor, _progress_queue
    logging.basicConfig(level=log_level, format="%(levelname)s %(processName)s %(name)s: %(message)s")
    _progress_queue = progress_queue
    _processor = spec.load()  # models load here, once per worker process


def _work(job: SegmentJob) -> SegmentResult:
    q = _progress_queue

    def progress(seconds: float, frames: int) -> None:
        if q is not None:
            try:
                q.put_nowait((job.segment_id, job.path, seconds, frames))
            except queue_mod.Full:
                pass

    if q is not None:
        q.put((job.segment_id, job.path, 0.0, 0))  # "started"
    return run_segment(_processor, job, progress)


# -- coordinator side ----------------------------------------------------------------------------


class BatchProgress:
    """Rich progress bars: one overall, one per file in flight, with frames/s, real-time multiple and ETA."""

    def __init__(self, plan_jobs: list[SegmentJob], enabled: bool = True):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.enabled = enabled
        self.progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(bar_width=28),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[fps]:>7.1f} fps"),
            TextColumn("{task.fields[rt]:>6.1f}x rt"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
            transient=False,
            refresh_per_second=4,
        )
        self.t0 = time.monotonic()
        total = sum(j.footage_seconds for j in plan_jobs)
        self.overall = self.progress.add_task("all files", total=max(total, 1e-9), fps=0.0, rt=0.0)
        self.file_total: dict[str, float] = defaultdict(float)
        self.file_segments: dict[str, int] = defaultdict(int)
        for j in plan_jobs:
            self.file_total[j.path] += j.footage_seconds
            self.file_segments[j.path] += 1
        self.file_task: dict[str, int] = {}
        self.file_started: dict[str, float] = {}
        self.seg_done: dict[str, tuple[float, int]] = {}
        self.file_done: dict[str, tuple[float, int]] = defaultdict(lambda: (0.0, 0))
        self.frames = 0
        self.seconds = 0.0

    def __enter__(self) -> BatchProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def update(self, segment_id: str, path: str, seconds: float, frames: int) -> None:
        prev_s, prev_f = self.seg_done.get(segment_id, (0.0, 0))
        d_s, d_f = max(0.0, seconds - prev_s), max(0, frames - prev_f)
        self.seg_done[segment_id] = (max(prev_s, seconds), max(prev_f, frames))
        self.frames += d_f
        self.seconds += d_s
        fs, ff = self.file_done[path]
        self.file_done[path] = (fs + d_s, ff + d_f)
        if path not in self.file_task:
            name = path.rsplit("/", 1)[-1]
            self.file_task[path] = self.progress.add_task(f"  {name[:40]}", total=max(self.file_total[path], 1e-9), fps=0.0, rt=0.0)
            self.file_started[path] = time.monotonic()
        el = max(time.monotonic() - self.file_started[path], 1e-6)
        fs, ff = self.file_done[path]
        self.progress.update(self.file_task[path], completed=fs, fps=ff / el, rt=fs / el)
        self._overall()

    def finish_segment(self, job: SegmentJob) -> None:
        """A segment is over (done or not): count its whole core, drop the file bar when the file is done."""
        self.update(job.segment_id, job.path, job.footage_seconds, self.seg_done.get(job.segment_id, (0.0, 0))[1])
        self.file_segments[job.path] -= 1
        if self.file_segments[job.path] <= 0 and job.path in self.file_task:
            self.progress.remove_task(self.file_task.pop(job.path))

    def _overall(self) -> None:
        el = max(time.monotonic() - self.t0, 1e-6)
        self.progress.update(self.overall, completed=self.seconds, fps=self.frames / el, rt=self.seconds / el)


def run_local(
    plan: BatchPlan,
    spec: ProcessorSpec,
    ledger: Ledger,
    *,
    jobs: int = 1,
    retry_failed: bool = False,
    show_progress: bool = True,
    on_result: Callable[[SegmentResult], None] | None = None,
) -> BatchSummary:
    """Process every unfinished segment of ``plan`` with ``jobs`` worker processes; returns the summary."""
    t0 = time.monotonic()
    finished = ledger.finished(plan.job_key, [j.file_key for j in plan.jobs], retry_failed=retry_failed)
    todo = [j for j in plan.jobs if (j.file_key, j.index) not in finished]
    # Longest files first keeps every worker busy until the end.
    todo.sort(key=lambda j: (-(j.duration or 0.0), j.path, j.index))
    run_results: list[SegmentResult] = []
    workers = max(1, min(jobs, len(todo))) if todo else max(1, jobs)

    if todo:
        ctx = mp.get_context("spawn")  # no fork: the coordinator runs threads (progress display)
        progress_queue = ctx.Queue(maxsize=10_000)
        with BatchProgress(todo, enabled=show_progress) as bars:
            stop = threading.Event()
            drain = threading.Thread(target=_drain, args=(progress_queue, bars, stop), daemon=True)
            drain.start()
            try:
                _pool_loop(todo, spec, ctx, progress_queue, workers, ledger, bars, run_results, on_result)
            finally:
                stop.set()
                drain.join(timeout=2)

    results = list(finished.values()) + run_results
    return summarize(
        batch_id=plan.batch_id,
        total_segments=len(plan.jobs),
        results=results,
        run=run_results,
        problems=plan.problems,
        wall_seconds=time.monotonic() - t0,
        workers=workers,
        files_total=len(plan.files) + len(plan.problems),
    )


def _drain(q, bars: BatchProgress, stop: threading.Event) -> None:  # noqa: ANN001
    while not stop.is_set():
        try:
            segment_id, path, seconds, frames = q.get(timeout=0.2)
        except queue_mod.Empty:
            continue
        except (EOFError, OSError):
            return
        bars.update(segment_id, path, seconds, frames)


def _pool_loop(todo, spec, ctx, progress_queue, workers, ledger, bars, run_results, on_result) -> None:  # noqa: ANN001
    pending = list(reversed(todo))  # pop() from the end = longest first
    crashes: dict[str, int] = defaultdict(int)
    while pending:
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker,
            initargs=(spec, progress_queue, logging.getLogger().getEffectiveLevel()),
        )
        in_flight: dict[Future, SegmentJob] = {}
        broken = False
        try:
            while pending or in_flight:
                while pending and len(in_flight) < workers and not broken:
                    job = pending.pop()
                    in_flight[pool.submit(_work, job)] = job
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = in_flight.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        crashes[job.segment_id] += 1
                        if crashes[job.segment_id] < MAX_CRASHES_PER_SEGMENT:
                            pending.append(job)
                            continue
                        result = new_result(job, status="error", error="worker process died while processing this segment (twice)")
                    except Exception as exc:  # noqa: BLE001 - e.g. the processor failed to load
                        result = new_result(job, status="error", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
                    ledger.record(result)
                    run_results.append(result)
                    bars.finish_segment(job)
                    if on_result:
                        on_result(result)
                if broken and not in_flight:
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if broken:
            log.warning("a worker process died; restarting the pool (%d segments left)", len(pending))
