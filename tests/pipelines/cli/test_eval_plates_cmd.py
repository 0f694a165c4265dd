"""`epolice eval plates`: figures on the shared plate photos, and clean errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli.main import app
from tests.vision.plates.test_reader_real import READ_RIGHT, require_plate_models


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
    assert report["exact_correct"] == len(READ_RIGHT)
    assert report["exact_match"] == pytest.approx(len(READ_RIGHT) / 21)
    assert report["wrong_valid_reads"] == 0  # a miss is unreadable, never a different plate
    assert report["negative_images"] == 3 and report["negatives_with_false_plates"] == 0
    assert report["detection_recall"] >= report["exact_match"]
    assert report["char_accuracy"] >= report["exact_match"]
    assert 0.0 < report["color_accuracy"] <= 1.0
    assert report["ms_per_plate"] > 0 and report["threads"] == 1
    # the engine path reads every mainland plate the photo path reads (HK local ones need the photo)
    mainland = [t for _, t, _, _ in READ_RIGHT if not t[0].isascii() or t == "VA30093"]
    assert report["track_exact_match"] == pytest.approx(len(mainland) / 21)
    missed = {f["truth"] for f in report["failures"]}
    assert len(missed) == 21 - len(READ_RIGHT)
    assert missed.isdisjoint({text for _, text, _, _ in READ_RIGHT})
    assert all(f["reason"] for f in report["failures"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--images", ".", "--truth", "/nonexistent/plates.jsonl"], "--truth"),
        (["--images", "/nonexistent-dir", "--truth", __file__], "--images"),
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
