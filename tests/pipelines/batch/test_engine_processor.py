"""The batch runner with the real engine, evidence and record store on the real street clip.

A 16 s cut of street_parking_a.mp4 (the car parked in the driveway stays throughout), split into
two segments with overlap: the parking violation must be recorded exactly once, and a batch killed
with SIGKILL mid-run and resumed must leave exactly the records of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from evidence.signing import generate_keypair
from evidence.store import RecordStore
from pipelines.batch.ledger import Ledger
from tests.support.media import clips, media_dir, real_clip  # noqa: F401 (fixtures)
from tests.support.models import registry, require_model  # noqa: F401 (fixture)
from tests.support.paths import REPO
from vision.plates.reader import MODELS as PLATE_MODELS

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture
def engine_site(tmp_path, registry):
    for name in ("yolov5n_coco", *PLATE_MODELS):
        require_model(registry, name)
    site = yaml.safe_load((REPO / "tests" / "data" / "street_parking_a.site.yaml").read_text())
    site["rules"]["parking"]["min_dwell_s"] = 8  # the cut is 16 s long
    priv, _ = generate_keypair(tmp_path / "keys")
    site["evidence"] = {"output_dir": str(tmp_path / "evidence"), "signing_key": str(priv)}
    site["store"] = {"url": f"sqlite:///{tmp_path / 'records.db'}"}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True))
    return path


def _with_store(site: Path, store: Path, evidence: Path) -> Path:
    data = yaml.safe_load(site.read_text())
    data["store"]["url"] = f"sqlite:///{store}"
    data["evidence"]["output_dir"] = str(evidence)
    out = store.with_suffix(".site.yaml")
    out.write_text(yaml.safe_dump(data, allow_unicode=True))
    return out


def _cmd(video: Path, site: Path, ledger: Path) -> list[str]:
    return [
        sys.executable, "-m", "pipelines.cli.main", "batch", str(video), "--site", str(site), "--ledger", str(ledger),
        "--segment", "8", "--overlap", "10", "--target-fps", "8", "--hwaccel", "none", "--jobs", "1", "--json", "--no-progress",
    ]


def _records(store: Path) -> list[tuple]:
    with RecordStore(f"sqlite:///{store}") as s:
        return sorted((r.event_key, r.rule, r.camera_id, r.track_id, r.start_time, r.end_time) for r in s.query())


def _ledger(path: Path) -> list[tuple]:
    with Ledger(path) as led:
        return sorted((r.index, r.status, r.frames, r.events, r.dropped, tuple(sorted(r.by_rule.items()))) for r in led.results())


def test_real_engine_batch_killed_and_resumed_gives_the_uninterrupted_records(clips, engine_site, tmp_path):
    clip = clips(container="mp4", codec="h264", seconds=16.0, start=0.0)
    video = tmp_path / "street-a_20240501_083000.mp4"
    video.symlink_to(clip.path)

    ref_site = _with_store(engine_site, tmp_path / "ref.db", tmp_path / "ref-evidence")
    ref = subprocess.run(_cmd(video, ref_site, tmp_path / "ref-ledger.db"), env=ENV, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]
    summary = json.loads(ref.stdout)
    assert summary["segments"] == 2 and summary["by_rule"] == {"parking": 1} and summary["new_records"] == 1
    reference = _records(tmp_path / "ref.db")
    assert [r[1] for r in reference] == ["parking"]  # the parked car, once, though both segments see it
    assert sum(row[4] for row in _ledger(tmp_path / "ref-ledger.db")) >= 1  # the later segment dropped its copy

    site = _with_store(engine_site, tmp_path / "run.db", tmp_path / "run-evidence")
    ledger = tmp_path / "ledger.db"
    proc = subprocess.Popen(_cmd(video, site, ledger), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if ledger.exists() and _ledger(ledger):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(_ledger(ledger)) == 1, "the kill must land between the two segments"

    resumed = subprocess.run(_cmd(video, site, ledger), env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = json.loads(resumed.stdout)
    assert after["segments_run"] == 1 and after["segments_skipped"] == 1
    assert _records(tmp_path / "run.db") == reference
    assert _ledger(ledger) == _ledger(tmp_path / "ref-ledger.db")
    with RecordStore(f"sqlite:///{tmp_path / 'run.db'}") as s:
        (record,) = s.query()
    assert Path(record.evidence_path).is_dir() and (Path(record.evidence_path) / "manifest.json").exists()


def test_real_engine_two_files_with_the_same_start_keep_both_violations(clips, engine_site, tmp_path):
    """Issue 15 item 11: two files of one camera starting at the same time (an NVR export in two folders,
    re-encoded) gave the same event keys (camera, rule, track id, start): the second file's violation
    reused the first one's package and was dropped as a duplicate. The key now holds the file's identity."""
    a = tmp_path / "nvr-a" / "street-a_20240501_083000.mp4"
    b = tmp_path / "nvr-b" / "street-a_20240501_083000.mkv"
    for link, clip in ((a, clips(container="mp4", codec="h264", seconds=16.0, start=0.0)),
                       (b, clips(container="mkv", codec="h264", seconds=16.0, start=0.0))):
        link.parent.mkdir()
        shutil.copyfile(clip.path, link)  # a copy keeps the name (its start time); a symlink would resolve away
    cmd = _cmd(a, engine_site, tmp_path / "ledger.db")
    cmd[cmd.index(str(a)) + 1:cmd.index(str(a)) + 1] = [str(b)]
    cmd[cmd.index("--segment") + 1] = "300"
    run = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout)["new_records"] == 2
    records = _records(tmp_path / "records.db")
    assert [r[1] for r in records] == ["parking", "parking"] and records[0][3:] == records[1][3:]  # same track, same times
    with RecordStore(f"sqlite:///{tmp_path / 'records.db'}") as s:
        assert len({r.evidence_path for r in s.query()}) == 2  # each with its own package


def test_one_start_time_for_several_files_is_refused(clips, tmp_path):
    """Issue 15 item 11: `--start-time T` gave every file the same start, colliding their events."""
    a, b = clips(container="mp4", seconds=2.0), clips(container="mkv", seconds=2.0)
    site = tmp_path / "site.yaml"
    site.write_text("id: s\ncameras:\n  - id: cam1\n    source: recorded\n    frame_size: [640, 352]\n")
    cmd = [sys.executable, "-m", "pipelines.cli.main", "batch", str(a.path), str(b.path), "--site", str(site),
           "--start-time", "2024-05-01T08:30:00", "--processor", "decode", "--ledger", str(tmp_path / "l.db"), "--no-progress"]
    run = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--start-time" in run.stderr and "2 files" in run.stderr, run.stderr[-2000:]
    one = subprocess.run([*cmd[:4], *cmd[5:]], env=ENV, capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr[-2000:]
