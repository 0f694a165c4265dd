"""Local batches: exactly-once events across segment cuts, resume, kill -9, bad files, crashed workers.

The processor is tests.support.batch_processor.FakeEventProcessor: real decoding of clips cut from the
real street clip, synthetic events at fixed frames (some straddle the cuts), idempotent storage.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.batch.jobs import DecodeSettings, ProcessorSpec
from pipelines.batch.ledger import Ledger
from pipelines.batch.local import run_local
from pipelines.batch.plan import BatchSettings, plan_batch
from tests.support.batch_processor import attempts, expected_events, nvr_folder, read_events
from tests.support.media import clips, media_dir, not_a_video, real_clip, truncated  # noqa: F401 (fixtures)
from tests.support.paths import REPO

FAKE = "tests.support.batch_processor:FakeEventProcessor"
SITE = """\
id: test-site
cameras:
  - id: cam1
    source: recorded
    frame_size: [640, 352]
store:
  url: sqlite:///{store}
"""


def settings(results_db: Path, **options) -> BatchSettings:
    return BatchSettings(
        site_id="test-site", cameras=["cam1"], segment_seconds=2.0, overlap_seconds=2.5,
        decode=DecodeSettings(hwaccel="none"),
        processor=ProcessorSpec(factory=FAKE, options={"results_db": str(results_db), **options}),
    )


@pytest.fixture
def footage(clips, tmp_path):
    """Two 6 s recordings (three 2 s segments each)."""
    return nvr_folder(clips, tmp_path / "footage", "mkv")


def test_local_batch_finds_each_event_once_across_cuts_and_rerun_does_nothing(footage, tmp_path):
    results = tmp_path / "events.db"
    s = settings(results)
    plan = plan_batch([str(footage)], s)
    assert len(plan.files) == 2 and len(plan.jobs) == 6
    with Ledger(tmp_path / "ledger.db") as ledger:
        summary = run_local(plan, s.processor, ledger, jobs=2, show_progress=False)
    stored = read_events(results)
    keys = {f.file_key for f in plan.files}
    for key in keys:
        got = {(rule, seq) for fk, rule, seq, _ in stored if fk == key}
        assert got == expected_events(144, 24.0)  # every event once, none lost at a cut
    # Owners: an event belongs to the segment whose core holds its start.
    for _, _, seq, segment in stored:
        assert segment == min(int((seq / 24.0) // 2.0), 2)
    assert summary.segments == 6 and summary.segments_run == 6 and summary.segments_skipped == 0
    assert summary.violations == len(stored) == 2 * len(expected_events(144, 24.0))
    assert summary.by_rule == {"helmet": 10, "parking": 4}
    assert summary.files == 2 and summary.files_failed == 0 and summary.failures == []
    assert summary.footage_hours == pytest.approx(12.0 / 3600, rel=0.01)  # container durations
    assert summary.realtime_multiple > 0 and summary.fps > 0

    before = attempts(results)
    with Ledger(tmp_path / "ledger.db") as ledger:
        again = run_local(plan_batch([str(footage)], s), s.processor, ledger, jobs=2, show_progress=False)
    assert again.segments_run == 0 and again.segments_skipped == 6
    assert attempts(results) == before  # nothing was decoded again
    assert again.violations == summary.violations and again.by_rule == summary.by_rule


def test_local_batch_lists_bad_files_and_finishes_the_rest(footage, clips, media_dir, tmp_path):
    broken = truncated(clips(container="mkv", codec="h264", seconds=6.0, start=5.0).path, tmp_path, 0.5, name="cam1_broken.mkv")
    junk = not_a_video(tmp_path, "cam1_junk.mp4")
    results = tmp_path / "events.db"
    s = settings(results)
    plan = plan_batch([str(footage / "*.mp4"), str(footage / "*.mkv"), str(broken), str(junk), str(tmp_path / "missing.ts")], s)
    with Ledger(tmp_path / "ledger.db") as ledger:
        summary = run_local(plan, s.processor, ledger, jobs=2, show_progress=False)
    failures = {Path(f.path).name: f for f in summary.failures}
    assert set(failures) == {"cam1_broken.mkv", "cam1_junk.mp4", "missing.ts"}
    assert failures["cam1_broken.mkv"].reason.startswith("truncated")
    assert failures["cam1_broken.mkv"].segments  # the segment where the data ends
    assert "not a readable video" in failures["cam1_junk.mp4"].reason and failures["cam1_junk.mp4"].segments == []
    assert failures["missing.ts"].reason == "file not found"
    assert summary.files == 5 and summary.files_ok == 2 and summary.files_failed == 3
    good = {f.file_key for f in plan.files if "broken" not in f.path}
    stored = read_events(results)
    for key in good:
        assert {(r, q) for fk, r, q, _ in stored if fk == key} == expected_events(144, 24.0)
    # The frames before the damage were processed: events from the first half of the broken file exist.
    broken_key = next(f.file_key for f in plan.files if "broken" in f.path)
    assert any(fk == broken_key for fk, *_ in stored)


def test_a_crashed_worker_is_replaced_and_its_segment_retried(footage, tmp_path):
    results = tmp_path / "events.db"
    s = settings(results, crash_once=str(tmp_path / "crashed"), crash_index=1)
    plan = plan_batch([str(footage / "cam1_20260101_080000.mp4")], s)
    with Ledger(tmp_path / "ledger.db") as ledger:
        summary = run_local(plan, s.processor, ledger, jobs=2, show_progress=False)
    assert (tmp_path / "crashed").exists()  # the worker really died on segment 1
    assert summary.segments_run == 3 and summary.failures == []
    assert {(r, q) for _, r, q, _ in read_events(results)} == expected_events(144, 24.0)


def _cli(footage: Path, site: Path, ledger: Path, results: Path, sleep: float) -> list[str]:
    return [
        sys.executable, "-m", "pipelines.cli.main", "batch", str(footage), "--site", str(site), "--jobs", "2",
        "--segment", "2", "--overlap", "2.5", "--hwaccel", "none", "--ledger", str(ledger), "--processor", FAKE,
        "--processor-option", f"results_db={results}", "--processor-option", f"frame_sleep={sleep}", "--json", "--no-progress",
    ]


def _ledger_rows(path: Path) -> list[tuple]:
    with Ledger(path) as led:
        return sorted((r.file_key, r.index, r.status, r.frames, r.events, r.by_rule.get("helmet", 0), r.by_rule.get("parking", 0)) for r in led.results())


def test_segment_zero_on_the_command_line_processes_each_file_whole(footage, tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(store=tmp_path / "records.db"))
    cmd = _cli(footage, site, tmp_path / "ledger.db", tmp_path / "events.db", 0.0)
    cmd[cmd.index("--segment") + 1] = "0"
    run = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["segments_run"] == 2  # two 6 s files, never split
    assert {(r, q) for _, r, q, _ in read_events(tmp_path / "events.db")} == expected_events(144, 24.0)


def test_kill_9_mid_batch_then_resume_equals_uninterrupted_run(footage, tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(store=tmp_path / "records.db"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    # Uninterrupted reference run.
    ref = subprocess.run(_cli(footage, site, tmp_path / "ref-ledger.db", tmp_path / "ref.db", 0.01), env=env, capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-2000:]
    ref_summary = json.loads(ref.stdout)
    assert ref_summary["segments_run"] == 6

    # Killed run: wait until some segments are in the ledger, then SIGKILL the whole process group.
    ledger, results = tmp_path / "ledger.db", tmp_path / "events.db"
    proc = subprocess.Popen(_cli(footage, site, ledger, results, 0.01), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 240
    done_before_kill = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if ledger.exists():
            done_before_kill = len(_ledger_rows(ledger))
            if done_before_kill >= 1:
                break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done_before_kill = len(_ledger_rows(ledger))
    assert 1 <= done_before_kill < 6, "the kill must land mid-batch for this test to mean anything"

    resumed = subprocess.run(_cli(footage, site, ledger, results, 0.01), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout)
    assert summary["segments_run"] == 6 - done_before_kill
    assert summary["segments_skipped"] == done_before_kill

    assert read_events(results) == read_events(tmp_path / "ref.db")  # same records, no duplicates
    assert _ledger_rows(ledger) == _ledger_rows(tmp_path / "ref-ledger.db")
    assert summary["violations"] == ref_summary["violations"] and summary["by_rule"] == ref_summary["by_rule"]

    # And a third run does nothing at all.
    n_attempts = len(attempts(results))
    again = subprocess.run(_cli(footage, site, ledger, results, 0.01), env=env, capture_output=True, text=True, timeout=300)
    assert json.loads(again.stdout)["segments_run"] == 0
    assert len(attempts(results)) == n_attempts


def test_a_file_with_one_decode_glitch_is_ok_with_a_warning_in_the_summary(real_clip, media_dir, tmp_path):
    """Issue 15 item 12: a real recording with one concealed h264 macroblock error was a failed file."""
    from tests.support.media import glitched

    video = glitched(real_clip, media_dir, 19.6, name="cam1_20240501_083000.mp4")
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(store=tmp_path / "records.db"))
    cmd = [sys.executable, "-m", "pipelines.cli.main", "batch", str(video), "--site", str(site), "--processor", "decode",
           "--hwaccel", "none", "--ledger", str(tmp_path / "ledger.db"), "--json", "--no-progress"]
    run = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads(run.stdout)
    assert (summary["files_ok"], summary["files_failed"]) == (1, 0) and summary["failures"] == []
    [warned] = summary["warnings"]
    assert warned["path"].endswith("cam1_20240501_083000.mp4") and warned["reason"].startswith("1 decode warning")
