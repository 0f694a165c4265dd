"""Checkpoint mode through the batch runner: `epolice batch run` over a rendered checkpoint clip (real
plate photos driven across a capture line, encoded to H.264) with the real detector, plate readers and
store. One pass per vehicle, each segment storing only the crossings it owns, and a second run of
the same file (a fresh ledger, so it is processed again) adds no duplicate pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from evidence.checkpoint.passes import PassStore
from evidence.signing import generate_keypair
from evidence.store import RecordStore
from tests.conftest import require
from tests.support.checkpoint import CLIP_VEHICLES, checkpoint_scene, checkpoint_site_doc, write_clip
from tests.support.models import registry, require_model  # noqa: F401 (fixture)
from tests.support.paths import REPO
from vision.plates.reader import MODELS as PLATE_MODELS

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _run(video: Path, site: Path, ledger: Path) -> dict:
    # two segments: the third vehicle enters after 8 s and crosses in the second one
    cmd = [sys.executable, "-m", "pipelines.cli.main", "batch", "run", str(video), "--site", str(site), "--ledger", str(ledger),
           "--segment", "8", "--overlap", "2", "--hwaccel", "none", "--jobs", "1", "--json", "--no-progress"]
    run = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def _passes(db: Path) -> list[tuple]:
    with RecordStore(f"sqlite:///{db}") as store:
        return sorted((p.pass_time, p.pass_key, p.track_id, p.plate_status, (p.plate, *(c.text for c in p.plate_candidates)))
                      for p in PassStore(store.engine).query())


def test_batch_run_of_rendered_checkpoint_clip_one_pass_per_vehicle_and_rerun_adds_none(shared_data: Path, registry, tmp_path):  # noqa: F811
    for name in ("yolov5n_coco", *PLATE_MODELS):
        require_model(registry, name)
    require(shared_data / "plates" / "plates.jsonl", "plate photos")
    video = tmp_path / "gate_20270110_100000.mp4"  # the camera and the recording start, from the name
    write_clip(checkpoint_scene(shared_data), video)
    priv, _ = generate_keypair(tmp_path / "keys")
    db = tmp_path / "records.db"
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(checkpoint_site_doc(
        "recorded", passes={"output_dir": str(tmp_path / "passes")}, store={"url": f"sqlite:///{db}"},
        evidence={"output_dir": str(tmp_path / "evidence"), "signing_key": str(priv)}), allow_unicode=True))

    first = _run(video, site, tmp_path / "ledger.db")
    assert first["segments"] == 2, first
    passes = _passes(db)
    assert len(passes) == len(CLIP_VEHICLES), passes
    for i, (p, (photo, _)) in enumerate(zip(passes, CLIP_VEHICLES)):
        assert 4.0 * i < (p[0] - passes[0][0]).total_seconds() + 2.3 < 4.0 * (i + 1), (photo, passes)  # one every 4 s
        assert p[3] != "unreadable" and p[4][0], (photo, p)  # each pass carries its plate read
    # read accuracy is test_checkpoint_scenes' job; through H.264 the old Fujian plate loses its province
    assert CLIP_VEHICLES[0][1] in passes[0][4]

    again = _run(video, site, tmp_path / "ledger-2.db")  # a fresh ledger: the file is processed again
    assert again["segments_run"] == 2, again
    assert _passes(db) == passes
