"""The scenario suite: its catalogue and site files (no data needed), and end to end through
`epolice eval scenes` and `epolice eval violations --suite` with the real detector on rendered scenes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli.main import app
from pipelines.config import parse_site
from pipelines.eval.scenes.catalogue import all_scenes
from pipelines.eval.scenes.stages import STAGES
from pipelines.eval.scenes.suite import MODES, site_for_mode, site_of
from tests.support.models import registry, require_model  # noqa: F401  (fixture)


def test_suite_catalogue_keeps_half_of_every_kind_out_of_tuning():
    scenes = all_scenes()
    assert len({s.name for s in scenes}) == len(scenes)
    halves = Counter(s.split for s in scenes)
    assert abs(halves["tuning"] - halves["held_out"]) <= 2
    by_truth: dict[tuple[str, ...], set[str]] = {}
    for s in scenes:
        by_truth.setdefault(tuple(sorted({t.rule for t in s.truth})), set()).add(s.split)
    assert set(by_truth) == {(), ("u_turn",), ("wrong_way",), ("parking",)}
    assert all(splits == {"tuning", "held_out"} for splits in by_truth.values()), by_truth
    rules = Counter(t.rule for s in scenes for t in s.truth)
    assert rules["u_turn"] >= 10 and rules["wrong_way"] >= 4 and rules["parking"] >= 2
    assert any(t.speed_kmh for s in scenes for t in s.truth)


@pytest.mark.parametrize("mode", MODES)
def test_suite_site_files_load_in_every_mode(mode):
    for spec in all_scenes():
        site = parse_site(site_for_mode(site_of(spec), mode, Path(".")))
        cam = site.cameras[0]
        assert (cam.calibration is not None) == (mode == "calibrated")
        assert any(z.lanes for z in cam.zones) == (mode != "no_lanes")
        if mode == "calibrated":
            ground = STAGES[spec.stage].calibration
            err = cam.homography().reprojection_error([p.image for p in cam.calibration.points], ground)
            assert err.rms_px < 0.2  # points are rounded to 0.1 px


SUBSET = ["uturn_north_r3_10kmh", "right_turn_north", "wrong_way_S2_12kmh", "reverse_along_lane"]


@pytest.mark.slow
def test_suite_end_to_end_real_detector(tmp_path, shared_data, registry):  # noqa: F811
    """Render a few scenes with the CLI, score them with the CLI: U-turn and wrong-way found in
    every mode, the right turn into the driveway and the car reversing along its lane left alone."""
    require_model(registry, "yolov5n_coco")
    runner = CliRunner()
    args = ["eval", "scenes", "--out", str(tmp_path / "suite"), "--data", str(shared_data)]
    rendered = runner.invoke(app, args + [a for n in SUBSET for a in ("--only", n)])
    assert rendered.exit_code == 0, rendered.output
    for name in SUBSET:
        assert {p.name for p in (tmp_path / "suite" / name).iterdir()} == {"scene.mp4", "site.yaml", "truth.yaml"}
    scored = runner.invoke(app, ["eval", "violations", "--suite", str(tmp_path / "suite"), "--json"])
    assert scored.exit_code == 0, scored.output
    report = json.loads(scored.stdout)
    for mode, body in report["modes"].items():
        assert body["wrong"] == [], (mode, body["wrong"])
        rules = body["halves"]["all"]["rules"]
        assert rules["u_turn"]["tp"] == 1 and rules["u_turn"]["fp"] == 0
        if mode != "no_lanes":
            assert rules["wrong_way"]["tp"] == 1 and rules["wrong_way"]["fp"] == 0
    speed = report["modes"]["calibrated"]["halves"]["all"]["speed_error"]
    assert speed["events"] == 2 and speed["max_pct"] < 10.0


def test_suite_cli_errors_are_one_line(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(app, ["eval", "violations", "--suite", str(tmp_path)])
    assert missing.exit_code == 2 and "epolice eval scenes --out" in missing.output
    bad_mode = runner.invoke(app, ["eval", "violations", "--suite", str(tmp_path), "--mode", "sideways"])
    assert bad_mode.exit_code == 2 and "unknown --mode 'sideways'" in bad_mode.output
    neither = runner.invoke(app, ["eval", "violations", "--site", "x.yaml"])
    assert neither.exit_code == 2 and "--suite DIR" in neither.output
    no_data = runner.invoke(app, ["eval", "scenes", "--out", str(tmp_path / "s"), "--data", str(tmp_path / "none")])
    assert no_data.exit_code == 2 and "--data" in no_data.output
