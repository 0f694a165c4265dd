"""Distributed batches over a real redis-server: enqueue, workers, heartbeats, reclaim, exactly-once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.batch.jobs import SegmentJob, new_result
from pipelines.batch.redis_queue import SegmentQueue, connect, run_worker
from tests.support.batch_processor import attempts, expected_events, nvr_folder, read_events
from tests.support.media import clips, media_dir, real_clip  # noqa: F401 (fixtures)
from tests.support.paths import REPO
from tests.support.redis import redis_server, redis_url  # noqa: F401 (fixtures)

FAKE = "tests.support.batch_processor:FakeEventProcessor"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
SITE = "id: test-site\ncameras:\n  - id: cam1\n    source: recorded\n    frame_size: [640, 352]\nstore:\n  url: sqlite:///{store}\n"


def _job(i: int, batch: str = "b1") -> SegmentJob:
    return SegmentJob(
        batch_id=batch, job_key="k", file_key="f", path="/x.mp4", camera_id="cam1", index=i, count=3,
        start=0.0, end=None, core_start=0.0, core_end=None, duration=6.0,
    )


def test_synthetic_enqueue_is_idempotent_and_results_count_once(redis_url):
    q = SegmentQueue(connect(redis_url), prefix="t")
    jobs = [_job(i) for i in range(3)]
    assert q.enqueue(jobs, batch_id="b1", total=3, footage_seconds=18.0, files=1) == 3
    assert q.enqueue(jobs, batch_id="b1", total=3, footage_seconds=18.0, files=1) == 0  # already queued
    d = q.claim("w1", block_ms=100)
    assert d is not None and not d.reclaimed
    result = new_result(d.job, status="done", events=2, by_rule={"helmet": 2})
    assert q.complete(d, result) is True
    assert q.complete(d, result) is False  # a redelivery of the same segment does not count again
    st = q.status("b1")
    assert (st.total, st.done, st.events, st.by_rule) == (3, 1, 2, {"helmet": 2})
    # An error result is retried by the next enqueue; a done one is not.
    d2 = q.claim("w1", block_ms=100)
    q.complete(d2, new_result(d2.job, status="error", error="boom"))
    assert q.enqueue(jobs, batch_id="b1", total=3, footage_seconds=18.0, files=1) == 1


def test_synthetic_abandoned_entry_is_reclaimed_only_after_the_visibility_timeout(redis_url):
    q = SegmentQueue(connect(redis_url), prefix="t")
    q.enqueue([_job(0)], batch_id="b1", total=1, footage_seconds=6.0, files=1)
    first = q.claim("dead", block_ms=100)
    assert first is not None
    assert q.claim("alive", block_ms=100, visibility_ms=60_000) is None  # not idle long enough
    time.sleep(0.3)
    again = q.claim("alive", block_ms=100, visibility_ms=200)
    assert again is not None and again.reclaimed and again.job == first.job
    # Never acknowledged, it is still pending: a worker loop takes it over once more and finishes it.
    processed = run_worker(q, lambda job: new_result(job, status="done"), consumer="w2", visibility_s=0.2, block_s=0.1, idle_exit_s=0.5)
    assert processed == 1
    assert q.status("b1").done == 1 and q.pending_count() == 0


@pytest.fixture
def footage(clips, tmp_path):
    return nvr_folder(clips, tmp_path / "footage", "ts")


def _worker(url: str, site: Path, results: Path, markers: Path, name: str, *, sleep: float, visibility: float, idle_exit: float):
    cmd = [
        sys.executable, "-m", "pipelines.cli.main", "worker", "--redis", url, "--site", str(site), "--processor", FAKE,
        "--processor-option", f"results_db={results}", "--processor-option", f"frame_sleep={sleep}",
        "--processor-option", f"marker_dir={markers}", "--visibility", str(visibility), "--idle-exit", str(idle_exit), "--name", name,
    ]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _batch(url: str, footage: Path, site: Path, ledger: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "pipelines.cli.main", "batch", str(footage), "--site", str(site), "--redis", url,
        "--segment", "2", "--overlap", "2.5", "--hwaccel", "none", "--ledger", str(ledger), "--processor", FAKE,
        "--no-progress", *extra,
    ]
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)


def test_killed_worker_segment_is_reclaimed_and_every_segment_done_exactly_once(redis_url, footage, tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(store=tmp_path / "records.db"))
    results, markers = tmp_path / "events.db", tmp_path / "markers"
    markers.mkdir()
    queued = _batch(redis_url, footage, site, tmp_path / "ledger.db", "--no-wait")
    assert queued.returncode == 0, queued.stderr[-2000:]
    assert "6 queued now" in queued.stderr

    # Worker A takes a segment and is killed (SIGKILL) in the middle of it.
    a = _worker(redis_url, site, results, markers, "A", sleep=0.03, visibility=2.0, idle_exit=30)
    deadline = time.monotonic() + 60
    while not any(markers.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the segment (a segment takes several seconds at this pace)
    os.killpg(a.pid, signal.SIGKILL)
    a.wait(timeout=30)
    killed = {m.name.split(".", 1)[1] for m in markers.iterdir()}
    assert len(killed) == 1

    # Two live workers drain the stream; one takes over A's segment after the visibility timeout.
    # Their segments take longer than the timeout, so only heartbeats keep them from being stolen.
    b = _worker(redis_url, site, results, markers, "B", sleep=0.03, visibility=2.0, idle_exit=6)
    c = _worker(redis_url, site, results, markers, "C", sleep=0.03, visibility=2.0, idle_exit=6)
    for w in (b, c):
        _, err = w.communicate(timeout=240)
        assert w.returncode == 0, err.decode()[-2000:]

    client = connect(redis_url)
    q = SegmentQueue(client)
    (batch_id,) = q.batches()
    done = q.results(batch_id)
    assert len(done) == 6 and len({r.segment_id for r in done}) == 6
    assert all(r.status == "done" for r in done)
    stream = client.xrange(f"{q.prefix}:results")
    assert sorted(json.loads(f["result"])["segment_id"] for _, f in stream) == sorted(r.segment_id for r in done)
    assert q.pending_count() == 0

    tries: dict[str, int] = {}
    for segment_id, _worker_pid in attempts(results):
        tries[segment_id] = tries.get(segment_id, 0) + 1
    (killed_segment,) = killed
    assert tries.pop(killed_segment.replace("_", "#")) == 2  # A's attempt, then the reclaim
    assert set(tries.values()) == {1}  # live workers' segments were never taken from them

    stored = read_events(results)
    for fk in {r.file_key for r in done}:
        assert {(rule, seq) for key, rule, seq, _ in stored if key == fk} == expected_events(144, 24.0)
    assert sum(r.new_records for r in done) == len(stored)  # each event created exactly once
    assert sum(r.events for r in done) == len(stored)

    # The coordinator now sees everything finished; status shows it across workers.
    final = _batch(redis_url, footage, site, tmp_path / "ledger.db", "--json")
    assert final.returncode == 0, final.stderr[-2000:]
    summary = json.loads(final.stdout)
    assert summary["segments"] == 6 and summary["violations"] == len(stored) and summary["failures"] == []
    st = subprocess.run([sys.executable, "-m", "pipelines.cli.main", "batch", "status", "--redis", redis_url, "--json"],
                        env=ENV, capture_output=True, text=True, timeout=60)
    assert st.returncode == 0, st.stderr
    status = json.loads(st.stdout)
    (b_status,) = status["batches"]
    assert (b_status["done"], b_status["total"], b_status["failed"]) == (6, 6, 0)
    assert status["in_flight"] == 0


class CrashAfter:
    """A Redis client that loses its connection after ``n`` commands, like a coordinator killed mid-enqueue."""

    def __init__(self, inner, n: int) -> None:
        self.inner, self.left = inner, n

    def _tick(self) -> None:
        import redis

        self.left -= 1
        if self.left < 0:
            raise redis.ConnectionError("connection lost")

    def register_script(self, source: str):
        script = self.inner.register_script(source)

        def call(*args, **kwargs):
            self._tick()
            return script(*args, **kwargs)

        return call

    def __getattr__(self, name: str):
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self._tick()
            return attr(*args, **kwargs)

        return call


def test_synthetic_an_enqueue_cut_short_at_any_step_loses_no_segment(redis_url):
    """Issue 15 item 9: the "queued" mark was written before the stream entry, so an enqueue cut
    between the two left the segment marked queued and never on the stream: a re-run skipped it."""
    import redis

    jobs = [_job(i) for i in range(3)]
    client = connect(redis_url)
    for n in range(1, 25):
        client.flushall()
        try:
            SegmentQueue(CrashAfter(client, n), prefix="t").enqueue(jobs, batch_id="b1", total=3, footage_seconds=18.0, files=1)
        except redis.ConnectionError:
            pass
        SegmentQueue(client, prefix="t").enqueue(jobs, batch_id="b1", total=3, footage_seconds=18.0, files=1)  # the re-run
        on_stream = sorted(json.loads(f["job"])["index"] for _, f in client.xrange("t:segments"))
        assert on_stream == [0, 1, 2], (n, on_stream)


def test_synthetic_waiting_for_a_batch_gives_up_after_the_timeout(redis_url, tmp_path):
    """Issue 15 item 9: `batch --redis --wait` waited forever for a segment that never came back."""
    from pipelines.batch.ledger import Ledger
    from pipelines.batch.plan import BatchPlan
    from pipelines.batch.redis_run import BatchTimeout, enqueue_batch, follow_batch

    plan = BatchPlan(batch_id="b1", job_key="k", jobs=[_job(0), _job(1)])
    q = SegmentQueue(connect(redis_url), prefix="t")
    with Ledger(tmp_path / "ledger.db") as led:
        queued = enqueue_batch(plan, led, q, retry_failed=False)
        d = q.claim("w1", block_ms=100)
        q.complete(d, new_result(d.job, status="done"))
        t0 = time.monotonic()
        with pytest.raises(BatchTimeout) as err:
            follow_batch(queued, led, q, progress=False, poll_s=0.05, timeout_s=0.5)
        assert time.monotonic() - t0 < 5
    assert "1 of 2 segment(s)" in str(err.value) and "f#1" in str(err.value)


def test_synthetic_a_worker_refuses_a_job_made_with_another_site_file(redis_url, tmp_path):
    """Issue 15 item 16: batch workers ignored the job's site fingerprint and processed segments with
    whatever site file they had (other zones, other rules): refused now, the reason in the result."""
    from pipelines.batch.plan import site_fingerprint

    site, other = tmp_path / "site.yaml", tmp_path / "other.yaml"
    site.write_text(SITE.format(store=tmp_path / "records.db"))
    other.write_text(SITE.format(store=tmp_path / "records.db") + "timezone: UTC\n")
    q = SegmentQueue(connect(redis_url), prefix="t")
    job = _job(0).model_copy(update={"site_fingerprint": site_fingerprint(site)})
    q.enqueue([job], batch_id="b1", total=1, footage_seconds=6.0, files=1)
    processed: list[SegmentJob] = []

    def process(j: SegmentJob):
        processed.append(j)
        return new_result(j, status="done")

    run_worker(q, process, consumer="w", block_s=0.1, idle_exit_s=0.3, site_fingerprint=site_fingerprint(other))
    [result] = q.results("b1")
    assert processed == [] and result.status == "error" and "another site configuration" in result.error
    q.enqueue([job], batch_id="b1", total=1, footage_seconds=6.0, files=1)  # re-run: errors are retried
    run_worker(q, process, consumer="w2", block_s=0.1, idle_exit_s=0.3, site_fingerprint=site_fingerprint(site))
    assert [j.segment_id for j in processed] == [job.segment_id] and q.results("b1")[0].status == "done"
