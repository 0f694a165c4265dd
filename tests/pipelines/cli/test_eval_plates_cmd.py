"""`epolice eval plates`: figures on the shared plate photos, and clean errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli.main import app
from tests.conftest import require
from tests.vision.plates.test_reader_real import CONFIRMED, READ_RIGHT, require_plate_models


def test_eval_plates_json(plates_dir: Path) -> None:
    require_plate_models()
    result = CliRunner().invoke(
        app, ["eval", "plates", "--images", str(plates_dir / "images"), "--truth", str(plates_dir / "plates.jsonl"),
              "--timing-runs", "1", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["images"] == 25
    assert report["sure_plates"] == 21
    figures = report["figures"]["all"]
    assert figures["plates"] == 21
    assert figures["wrong_confirmed"] == 0 and report["wrong_confirmed_reads"] == 0  # never a wrong confirmed plate
    assert figures["confirmed"] == len(CONFIRMED)
    assert figures["exact_on_confirmed"] == 1.0
    assert figures["confirmed_share"] == pytest.approx(len(CONFIRMED) / 21)
    assert figures["unconfirmed_share"] == pytest.approx((21 - len(CONFIRMED)) / 21)
    assert {p: report["figures"][p]["plates"] for p in ("tuned", "held_out")} == {"tuned": 20, "held_out": 1}
    assert "sha1" in report["held_out_rule"]
    assert report["exact_correct"] == len(READ_RIGHT) == 21  # the best candidate is right for every sure plate
    assert report["exact_match"] == pytest.approx(len(READ_RIGHT) / 21)
    assert report["wrong_valid_reads"] == 0  # a miss is unreadable, never a different plate
    assert report["negative_images"] == 3 and report["negatives_with_false_plates"] == 0
    assert report["negatives_with_confirmed"] == 0
    assert report["detection_recall"] >= report["exact_match"]
    assert report["char_accuracy"] >= report["exact_match"]
    assert 0.0 < report["color_accuracy"] <= 1.0
    assert report["ms_per_plate"] > 0 and report["threads"] == 1
    # the engine path reads every mainland plate the photo path reads (HK local ones need the photo)
    mainland = [t for _, t, _, _ in READ_RIGHT if not t[0].isascii() or t == "VA30093"]
    assert report["track_exact_match"] == pytest.approx(len(mainland) / 21)
    assert report["track_figures"]["all"]["wrong_confirmed"] == 0
    # one vehicle-sized crop per plate: all but the new-energy plate 黑AD03210 (see test_read_track_single_vehicle_crop)
    assert report["track_figures"]["all"]["confirmed"] == len(CONFIRMED) - 1
    missed = {f["truth"] for f in report["failures"]}  # every plate not confirmed right
    assert len(missed) == 21 - len(CONFIRMED)
    assert missed.isdisjoint({text for _, text, _, _ in CONFIRMED})
    assert all(f["reason"] and f["status"] == "unconfirmed" and f["candidates"] for f in report["failures"])


def test_eval_plates_crops_mode(shared_data: Path) -> None:
    require_plate_models()
    labels = require(shared_data / "plate_crops" / "labels.jsonl", "plate crops")
    result = CliRunner().invoke(app, ["eval", "plates", "--crops", str(labels), "--limit", "40", "--batch", "8", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["crops"] == 40
    assert sum(report["figures"][p]["plates"] for p in ("tuned", "held_out")) == 40
    assert report["figures"]["all"]["wrong_confirmed"] == 0
    assert report["figures"]["all"]["confirmed_share"] > 0.6
    assert set(report["readers"]["all"]) == {"ppocr", "hyperlpr"}
    assert report["readers"]["all"]["ppocr"]["grammar_exact"] > 0.8
    assert report["ms_per_crop"] > 0 and report["batch"] == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--images", ".", "--truth", "/nonexistent/plates.jsonl"], "--truth"),
        (["--images", "/nonexistent-dir", "--truth", __file__], "--images"),
        (["--crops", "/nonexistent/labels.jsonl"], "--crops"),
        ([], "--crops"),
    ],
)
def test_eval_plates_bad_paths_give_one_error_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["eval", "plates", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_eval_plates_malformed_truth_names_the_line(tmp_path: Path) -> None:
    require_plate_models()
    truth = tmp_path / "plates.jsonl"
    truth.write_text('{"file": "a.jpg", "plates": []}\n{"file": "b.jpg", "plates": [{"text": 5}]}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "plates", "--images", str(tmp_path), "--truth", str(truth)])
    assert result.exit_code == 2
    assert "plates.jsonl:2" in result.output
