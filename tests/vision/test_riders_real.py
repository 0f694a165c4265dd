"""The engine's rider attributes on real labelled CCTV riders (../shared/data/cctv/riders_train.jsonl),
and the `epolice eval riders` command.

The default path (the helmet model reads the rider regions and the head regions derived from
person boxes; no trained classifier needed). frame1008 is in the tuning part, the other three
frames in the held-out part of the fixed split (pipelines/eval/rider_truth.py).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipelines.cli.main import app
from pipelines.config import CameraConfig, SiteConfig
from pipelines.rules.helmet import no_helmet_confidence
from tests.support.models import registry, require_model  # noqa: F401  (fixture import)

FRAMES = ("frame1008.jpg", "frame1020.jpg", "frame1125.jpg", "frame1370.jpg")  # 1008 tune, the others held out


@pytest.fixture(scope="module")
def report(cctv, rider_truth, registry):
    from pipelines.eval.rider_truth import load_rider_truth
    from pipelines.eval.riders import evaluate
    from pipelines.site_models import detectors_from_site

    require_model(registry, "yolov5n_coco")
    require_model(registry, "helmet_yolov12m")
    site = SiteConfig(id="t", cameras=[CameraConfig(id="t", source="-", frame_size=(1, 1))])
    detector, helmet = detectors_from_site(site, registry=registry)
    return evaluate(load_rider_truth(rider_truth), cctv, site, detector, helmet, files=set(FRAMES))


def _judged_no_helmet(bike, min_confidence):
    return [h for h in bike["heads"] if h["status"] == "no_helmet" and h["confidence"] >= min_confidence]


def test_riders_real_split_keeps_parts_apart(report):
    assert report.frames["tune"] == ["train/frame1008.jpg"]
    assert report.frames["held_out"] == ["train/frame1020.jpg", "train/frame1125.jpg", "train/frame1370.jpg"]
    assert {b["part"] for b in report.bikes if b["file"].endswith("1008.jpg")} == {"tune"}
    for part in ("tune", "held_out"):
        p = report.parts[part]
        assert 0 < p["judged_riders"] <= p["labelled_riders"] and p["judged_share"] == p["judged_riders"] / p["labelled_riders"]


def test_riders_real_no_helmet_wearer_accused_and_bare_heads_found(report):
    """Measured: no judged head of a helmet wearer reads as no-helmet at min_confidence on these
    frames; the three bikes with bare-headed riders that the detector boxes are each caught."""
    negatives = [b for b in report.bikes if b["matched"] and set(b["helmets"]) <= {"helmet"}]
    positives = [b for b in report.bikes if b["matched"] and "no_helmet" in b["helmets"]]
    assert len(negatives) >= 8 and len(positives) >= 4
    assert not any(_judged_no_helmet(b, report.min_confidence) for b in negatives)
    assert sum(bool(_judged_no_helmet(b, report.min_confidence)) for b in positives) >= 3


def test_riders_real_every_head_measured_small_ones_not_judged(report):
    heads = [h for b in report.bikes for h in b["heads"]]
    assert heads and all(h["size_px"] > 0 and h["sharpness"] > 0 and h["source"] in ("model", "person") for h in heads)
    assert all(h["status"] == "not_judgeable" for h in heads if h["size_px"] < report.min_head_px)
    assert {h["source"] for h in heads} == {"model", "person"}  # heads from person boxes are read too


def test_riders_real_three_riders_on_one_scooter(report):
    """frame1125: three riders without helmets on one scooter: both judged heads read no-helmet."""
    (bike,) = [b for b in report.bikes if b["file"].endswith("frame1125.jpg") and b["riders"] == 3]
    assert bike["persons"] == 3 and bike["count"] >= 2
    assert len(_judged_no_helmet(bike, report.min_confidence)) >= 1


def test_riders_real_rule_reads_the_same_no_helmet_confidence(report):
    """The eval and the helmet rule decide "no helmet" with the same function on the same observation."""
    from vision.riders import HeadObservation, RiderObservation

    (bike,) = [b for b in report.bikes if b["file"].endswith("frame1125.jpg") and b["riders"] == 3]
    heads = tuple(HeadObservation(h["helmet"], h["confidence"], tuple(h["box"]), h["size_px"], h["sharpness"], h["source"], h["reason"])
                  for h in bike["heads"])
    obs = RiderObservation(0, 0.0, bike["persons"], heads, True)
    assert no_helmet_confidence(obs) == max(h["confidence"] for h in bike["heads"] if h["status"] == "no_helmet")


def test_riders_real_cli_json(cctv, rider_truth, registry):
    require_model(registry, "yolov5n_coco")
    require_model(registry, "helmet_yolov12m")
    result = CliRunner().invoke(
        app, ["eval", "riders", "--images", str(cctv), "--truth", str(rider_truth), "--frame", "frame1125.jpg", "--json", "--bikes",
              "--heading", "1920x1080=210"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["images"] == 1 and data["labelled_boxes"] == 4 and data["judgeable"] == 4
    part = data["parts"]["held_out"]
    assert 0 < part["matched"] <= part["bikes"] == 4 and data["parts"]["tune"]["bikes"] == 0
    for key in ("passengers", "no_helmet_bikes", "no_helmet_riders"):
        assert set(part[key]) == {"tp", "fp", "fn", "precision", "recall", "positives"}
    assert part["passengers"]["positives"] == 1
    assert all(set(row) == {"helmet", "no_helmet", "not_judgeable", "missed"} for row in part["rider_confusion"].values())
    assert sum(sum(row.values()) for row in part["count_confusion"].values()) == part["matched"]
    assert {"judged_share", "count_exact", "count_exact_judged", "role_accuracy"} <= set(part)
    assert data["cameras"]["held_out"]["1920x1080"]["bikes"] == 4  # figures per camera (view) too
    assert data["helmet_ms_per_vehicle"] > 0 and data["attributes_ms_per_vehicle"] > 0
    roles = {h["role"] for b in data["bikes"] for h in b["heads"]}
    assert roles <= {"driver", "passenger"} and "driver" in roles


@pytest.mark.parametrize(
    "line, expected",
    [
        ("{not json", "line 1: not valid JSON"),
        ('{"file": "a.jpg", "bbox": [1, 2, 3], "judgeable": true, "riders": 1}', ":1: bbox"),
        ('{"file": "a.jpg", "bbox": [1, 2, 3, 4], "judgeable": true, "riders": 1, "helmets": ["cap"]}', ":1: helmets.0"),
    ],
)
def test_riders_synthetic_cli_bad_truth_is_one_clean_line(tmp_path, line, expected):
    truth = tmp_path / "riders.jsonl"
    truth.write_text(line + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "riders", "--images", str(tmp_path), "--truth", str(truth)])
    assert result.exit_code != 0
    assert expected.replace("line 1", str(truth) + ":1") in result.output or expected in result.output
    assert "Traceback" not in result.output


def test_riders_synthetic_cli_missing_image_named(tmp_path):
    truth = tmp_path / "riders.jsonl"
    truth.write_text('{"file": "train/nothere.jpg", "bbox": [1, 2, 30, 40], "judgeable": true, "riders": 1, "helmets": ["helmet"]}\n')
    result = CliRunner().invoke(app, ["eval", "riders", "--images", str(tmp_path), "--truth", str(truth)])
    assert result.exit_code != 0 and "train/nothere.jpg not found" in result.output
