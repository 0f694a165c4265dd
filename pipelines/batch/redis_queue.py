"""Segments over a Redis stream with a consumer group, for workers on any number of machines.

Keys (``prefix`` default ``epolice:batch``):

- ``{p}:segments``          stream of jobs (field ``job``: SegmentJob JSON); group ``workers``
- ``{p}:results``           stream of results, in completion order (for followers)
- ``{p}:b:{id}:meta``       hash: total segments, files, footage seconds, created
- ``{p}:b:{id}:done``       hash: segment id -> SegmentResult JSON. Written with HSETNX, so a
                            segment counts once however often it is delivered
- ``{p}:b:{id}:queued``     set of segment ids already on the stream (re-running enqueues only new);
                            marked in the same Lua step that adds the stream entry, so an enqueue
                            cut short never leaves a segment marked but not on the stream
- ``{p}:batches``           set of batch ids
- ``{p}:workers``           hash: worker name -> JSON heartbeat (segment, since, last seen)

A worker reads with XREADGROUP, processes, writes the result, then XACKs. While it works, a
heartbeat thread re-claims its own entry (XCLAIM with idle 0) so the entry never looks idle. A
worker that dies stops heartbeating; after the visibility timeout another worker takes the entry
over with XAUTOCLAIM and processes it again. Records are idempotent (event keys) and results go
through HSETNX, so a redelivery never duplicates anything.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from pipelines.batch.jobs import SegmentJob, SegmentResult, new_result

log = logging.getLogger(__name__)

GROUP = "workers"
DEFAULT_PREFIX = "epolice:batch"

# One atomic step per segment: drop a result that is to be retried, mark the segment queued and put
# it on the stream, or do nothing when it is already queued. KEYS: done, queued, stream.
# ARGV: segment id, job JSON, 1 to drop an earlier result first.
_ENQUEUE = """
if ARGV[3] == '1' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[1])
end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  return 0
end
redis.call('XADD', KEYS[3], '*', 'job', ARGV[2])
return 1
"""


def connect(url: str):  # noqa: ANN201 - redis.Redis
    """A Redis client for ``url``; fails with one clear line when the server is unreachable."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=5, health_check_interval=30)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        raise ConnectionError(f"cannot reach Redis at {_mask(url)}: {exc}") from None
    return client


def _mask(url: str) -> str:
    """Hide a password in a redis:// URL for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


@dataclass(frozen=True, slots=True)
class Delivery:
    entry_id: str
    job: SegmentJob
    reclaimed: bool  # taken over from a dead worker


@dataclass(frozen=True, slots=True)
class BatchStatus:
    batch_id: str
    total: int
    done: int
    failed: int  # of done: status failed/error
    footage_seconds: float  # total planned
    footage_done: float
    frames: int
    events: int
    by_rule: dict[str, int]
    created: str


class SegmentQueue:
    def __init__(self, client, prefix: str = DEFAULT_PREFIX):  # noqa: ANN001 - redis.Redis
        self.r = client
        self.prefix = prefix
        self.stream = f"{prefix}:segments"
        self.results_stream = f"{prefix}:results"
        self._ensure_group()
        self._enqueue = client.register_script(_ENQUEUE)

    # -- keys ------------------------------------------------------------------------------
    def _k(self, batch_id: str, what: str) -> str:
        return f"{self.prefix}:b:{batch_id}:{what}"

    def _ensure_group(self) -> None:
        import redis

        try:
            self.r.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # -- producer --------------------------------------------------------------------------
    def enqueue(
        self, jobs: Iterable[SegmentJob], *, batch_id: str, total: int, footage_seconds: float, files: int, retry_failed: bool = False
    ) -> int:
        """Put segments on the stream unless already queued or finished for this batch; returns how many
        were added. Segments that ended in ``error`` (and ``failed`` with ``retry_failed``) go out again."""
        jobs = list(jobs)
        meta = self._k(batch_id, "meta")
        self.r.hset(meta, mapping={"total": total, "footage_seconds": footage_seconds, "files": files})
        self.r.hsetnx(meta, "created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self.r.sadd(f"{self.prefix}:batches", batch_id)
        done = self._k(batch_id, "done")
        queued = self._k(batch_id, "queued")
        added = 0
        for job in jobs:
            previous = self.r.hget(done, job.segment_id)
            retry = False
            if previous is not None:
                status = SegmentResult.model_validate_json(previous).status
                if status == "done" or (status == "failed" and not retry_failed):
                    continue
                retry = True
            # already queued (a previous enqueue): its worker or a reclaim will finish it
            added += int(self._enqueue(keys=[done, queued, self.stream], args=[job.segment_id, job.model_dump_json(), int(retry)]))
        return added

    # -- consumer --------------------------------------------------------------------------
    def claim(self, consumer: str, *, block_ms: int = 2000, visibility_ms: int = 300_000) -> Delivery | None:
        """The next segment for ``consumer``: first one abandoned by a dead worker (idle longer than
        ``visibility_ms``), else a new one (waiting up to ``block_ms``). None when there is nothing."""
        _, claimed, *_ = self.r.xautoclaim(self.stream, GROUP, consumer, min_idle_time=visibility_ms, start_id="0-0", count=1)
        for entry_id, fields in claimed:
            if fields and "job" in fields:
                return Delivery(entry_id, SegmentJob.model_validate_json(fields["job"]), reclaimed=True)
            self.r.xack(self.stream, GROUP, entry_id)  # trimmed/deleted entry: nothing to do
        reply = self.r.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=1, block=block_ms)
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                return Delivery(entry_id, SegmentJob.model_validate_json(fields["job"]), reclaimed=False)
        return None

    def finished_result(self, job: SegmentJob) -> SegmentResult | None:
        raw = self.r.hget(self._k(job.batch_id, "done"), job.segment_id)
        return SegmentResult.model_validate_json(raw) if raw else None

    def touch(self, consumer: str, entry_id: str) -> None:
        """Heartbeat: reset the idle time of an entry this consumer is still working on."""
        self.r.xclaim(self.stream, GROUP, consumer, min_idle_time=0, message_ids=[entry_id], justid=True)

    def complete(self, delivery: Delivery, result: SegmentResult) -> bool:
        """Record the result (first delivery wins), then acknowledge. True if this result counted."""
        job = delivery.job
        first = bool(self.r.hsetnx(self._k(job.batch_id, "done"), job.segment_id, result.model_dump_json()))
        if first:
            self.r.xadd(self.results_stream, {"batch": job.batch_id, "result": result.model_dump_json()}, maxlen=100_000, approximate=True)
        self.r.xack(self.stream, GROUP, delivery.entry_id)
        self.r.xdel(self.stream, delivery.entry_id)
        return first

    def heartbeat(self, consumer: str, segment_id: str | None) -> None:
        self.r.hset(
            f"{self.prefix}:workers", consumer,
            json.dumps({"segment": segment_id, "seen": time.time()}),
        )

    # -- status ----------------------------------------------------------------------------
    def batches(self) -> list[str]:
        return sorted(self.r.smembers(f"{self.prefix}:batches"))

    def results(self, batch_id: str) -> list[SegmentResult]:
        raw = self.r.hgetall(self._k(batch_id, "done"))
        return sorted((SegmentResult.model_validate_json(v) for v in raw.values()), key=lambda r: (r.path, r.index))

    def status(self, batch_id: str) -> BatchStatus:
        meta = self.r.hgetall(self._k(batch_id, "meta"))
        results = self.results(batch_id)
        by_rule: dict[str, int] = {}
        for r in results:
            for rule, n in r.by_rule.items():
                by_rule[rule] = by_rule.get(rule, 0) + n
        return BatchStatus(
            batch_id=batch_id,
            total=int(meta.get("total", 0)),
            done=len(results),
            failed=sum(1 for r in results if r.status != "done"),
            footage_seconds=float(meta.get("footage_seconds", 0.0)),
            footage_done=sum(r.footage_seconds for r in results),
            frames=sum(r.frames for r in results),
            events=sum(r.events for r in results),
            by_rule=dict(sorted(by_rule.items())),
            created=meta.get("created", ""),
        )

    def workers(self, stale_after: float = 120.0) -> list[tuple[str, str | None, float, int]]:
        """(worker, current segment, seconds since last heartbeat, pending entries) per known worker."""
        now = time.time()
        pending = {c["name"]: int(c["pending"]) for c in self.r.xinfo_consumers(self.stream, GROUP)}
        out = []
        for name, blob in self.r.hgetall(f"{self.prefix}:workers").items():
            beat = json.loads(blob)
            age = now - float(beat.get("seen", 0))
            if age <= stale_after or pending.get(name):
                out.append((name, beat.get("segment"), age, pending.get(name, 0)))
        return sorted(out)

    def pending_count(self) -> int:
        info = self.r.xpending(self.stream, GROUP)
        return int(info["pending"]) if info else 0


class Heartbeat:
    """Keeps a delivery alive while it is processed (see module docstring)."""

    def __init__(self, queue: SegmentQueue, consumer: str, delivery: Delivery, interval: float):
        self.queue, self.consumer, self.delivery, self.interval = queue, consumer, delivery, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="segment-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.queue.touch(self.consumer, self.delivery.entry_id)
                self.queue.heartbeat(self.consumer, self.delivery.job.segment_id)
            except Exception as exc:  # noqa: BLE001 - a Redis blip must not kill the segment
                log.warning("heartbeat failed: %s", exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_worker(
    queue: SegmentQueue,
    process: Callable[[SegmentJob], SegmentResult],
    *,
    consumer: str,
    visibility_s: float = 300.0,
    block_s: float = 2.0,
    max_segments: int | None = None,
    idle_exit_s: float | None = None,
    stop: threading.Event | None = None,
    on_result: Callable[[SegmentResult, bool], None] | None = None,
    site_fingerprint: str | None = None,
) -> int:
    """Claim -> process -> record -> XACK until stopped, ``max_segments`` done, or idle for ``idle_exit_s``.
    Returns the number of segments processed. ``site_fingerprint`` (this worker's site file): a job
    made with another site configuration is refused, an ``error`` result naming both."""
    stop = stop or threading.Event()
    done = 0
    idle_since = time.monotonic()
    queue.heartbeat(consumer, None)
    while not stop.is_set() and (max_segments is None or done < max_segments):
        delivery = queue.claim(consumer, block_ms=int(block_s * 1000), visibility_ms=int(visibility_s * 1000))
        if delivery is None:
            queue.heartbeat(consumer, None)
            if idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                break
            continue
        if delivery.reclaimed:
            log.warning("reclaimed segment %s of %s from a dead worker", delivery.job.index, delivery.job.path)
            earlier = queue.finished_result(delivery.job)
            if earlier is not None:  # it died after recording, before acknowledging
                queue.complete(delivery, earlier)
                continue
        queue.heartbeat(consumer, delivery.job.segment_id)
        job = delivery.job
        if site_fingerprint and job.site_fingerprint and job.site_fingerprint != site_fingerprint:
            log.error("refusing segment %s of %s: made with another site configuration", job.index, job.path)
            result = new_result(job, status="error", worker=consumer, error=(
                f"refused by {consumer}: the job was made with another site configuration (site file {job.site_fingerprint}, "
                f"this worker's {site_fingerprint}); start workers with the coordinator's site file"))
        else:
            with Heartbeat(queue, consumer, delivery, interval=max(0.2, visibility_s / 4)):
                result = process(job)
        counted = queue.complete(delivery, result)
        if on_result:
            on_result(result, counted)
        queue.heartbeat(consumer, None)
        done += 1
        idle_since = time.monotonic()
    return done
