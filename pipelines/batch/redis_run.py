"""The coordinator's side of a batch over Redis: queue the segments the ledger lacks, then follow
the workers' results into the ledger until every queued segment is back, or ``timeout_s`` passed
(``BatchTimeout`` names the segments still out: no worker running, a worker with another site).

The workers' side is ``redis_queue.run_worker``. The ledger stays the coordinator's: workers on
other machines never touch it, so resuming works the same as for a local run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pipelines.batch.jobs import SegmentJob, SegmentResult
from pipelines.batch.ledger import Ledger
from pipelines.batch.local import BatchProgress
from pipelines.batch.plan import BatchPlan
from pipelines.batch.redis_queue import SegmentQueue
from pipelines.batch.summary import BatchSummary, summarize


class BatchTimeout(TimeoutError):
    """Not every queued segment came back in time; the message names those still out."""


@dataclass(frozen=True)
class QueuedBatch:
    """What ``enqueue_batch`` did: the segments still to do, how many it put on the stream now, and
    the results the ledger already had."""

    plan: BatchPlan
    todo: list[SegmentJob]
    added: int
    finished: dict[tuple[str, int], SegmentResult]
    started: float  # time.monotonic() before the ledger was read


def enqueue_batch(plan: BatchPlan, ledger: Ledger, queue: SegmentQueue, *, retry_failed: bool) -> QueuedBatch:
    """Put every segment the ledger has no final result for on the stream (once per batch)."""
    started = time.monotonic()
    finished = ledger.finished(plan.job_key, [j.file_key for j in plan.jobs], retry_failed=retry_failed)
    todo = [j for j in plan.jobs if (j.file_key, j.index) not in finished]
    added = queue.enqueue(
        todo, batch_id=plan.batch_id, total=len(plan.jobs), footage_seconds=plan.footage_seconds,
        files=len(plan.files), retry_failed=retry_failed,
    )
    return QueuedBatch(plan, todo, added, finished, started)


def follow_batch(queued: QueuedBatch, ledger: Ledger, queue: SegmentQueue, *, progress: bool, poll_s: float = 0.5,
                 timeout_s: float | None = None) -> BatchSummary:
    """Record each result of the queued segments in the ledger as it arrives; the summary once all are in.
    ``timeout_s``: give up then (BatchTimeout); the results already in stay in the ledger."""
    plan = queued.plan
    todo_by_id = {j.segment_id: j for j in queued.todo}
    seen: dict[str, SegmentResult] = {}
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with BatchProgress(queued.todo, enabled=progress) as bars:
        while len(seen) < len(todo_by_id):
            if deadline is not None and time.monotonic() >= deadline:
                out = sorted(set(todo_by_id) - set(seen))
                raise BatchTimeout(f"{len(out)} of {len(todo_by_id)} segment(s) not back after {timeout_s:g} s: "
                                   f"{', '.join(out[:5])}{' ...' if len(out) > 5 else ''} (are `epolice worker`s running "
                                   "with the same site file? `epolice batch status --redis URL`; re-run to resume)")
            for r in queue.results(plan.batch_id):
                job = todo_by_id.get(r.segment_id)
                if job is None or r.segment_id in seen:
                    continue
                seen[r.segment_id] = r
                ledger.record(r)
                bars.update(r.segment_id, job.path, job.footage_seconds, r.frames)
                bars.finish_segment(job)
            if len(seen) < len(todo_by_id):
                time.sleep(poll_s)
    run = list(seen.values())
    return summarize(
        batch_id=plan.batch_id, total_segments=len(plan.jobs), results=list(queued.finished.values()) + run, run=run,
        problems=plan.problems, wall_seconds=time.monotonic() - queued.started, workers=len({r.worker for r in run}) or 1,
        files_total=len(plan.files) + len(plan.problems),
    )
