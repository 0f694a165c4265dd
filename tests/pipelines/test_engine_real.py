"""The engine on the real clip street_parking_a.mp4: the car parked in the driveway is reported,
no passing car is; scored by `epolice eval violations` against tests/data/street_parking_a.truth.yaml."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipelines.cli.main import app
from pipelines.eval.violations import SpanEvent, TruthFile, load_truth, score
from tests.support.models import registry, require_model  # noqa: F401  (fixture)
from tests.support.paths import DATA

SITE = DATA / "street_parking_a.site.yaml"
TRUTH = DATA / "street_parking_a.truth.yaml"


def test_engine_real_clip_reports_only_the_parked_car(shared_data, registry):
    require_model(registry, "yolov5n_coco")
    video = shared_data / "videos" / "street_parking_a.mp4"
    result = CliRunner().invoke(
        app, ["eval", "violations", "--video", str(video), "--site", str(SITE), "--truth", str(TRUTH), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    parking = report["rules"]["parking"]
    assert (parking["tp"], parking["fp"], parking["fn"]) == (1, 0, 0)
    assert report["rules"]["u_turn"]["fp"] == 0
    [event] = report["events"]
    assert event["rule"] == "parking" and event["matched"]
    assert event["facts"]["dwell_s"] >= 20
    keys = event["key_frames_s"]
    assert len(keys) >= 3 and keys[-1] - keys[0] >= 20
    # detection at the site's 5 fps, not the clip's 24: FFmpeg hands over only the frames due (issue 16)
    stats = report["stats"]
    assert stats["detect_frames"] <= 5 * stats["video_seconds"] + 2 < 24 * stats["video_seconds"] / 4


def test_eval_scores_a_real_clip_with_one_decode_glitch(shared_data, registry, tmp_path):
    """Issue 15 item 12: `epolice eval violations` refused a clip with a single concealed h264
    macroblock error (19.6 s of the real clip) outright; it scores it now and says so."""
    from tests.support.media import glitched

    require_model(registry, "yolov5n_coco")
    video = glitched(shared_data / "videos" / "street_parking_a.mp4", tmp_path, 19.6)
    result = CliRunner().invoke(app, ["eval", "violations", "--video", str(video), "--site", str(SITE), "--truth", str(TRUTH), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    parking = report["rules"]["parking"]
    assert (parking["tp"], parking["fp"], parking["fn"]) == (1, 0, 0)
    [warning] = report["stats"]["decode_warnings"]
    assert warning.startswith("1 decode warning")


def _span(rule, start, end, box):
    return SpanEvent(rule, 1, start, end, (box,), {})


@pytest.mark.parametrize(
    "events, tp, fp, fn",
    [
        ([_span("parking", 0, 20, (600, 150, 640, 187))], 1, 0, 0),
        ([_span("parking", 0, 20, (300, 150, 380, 200))], 0, 1, 1),  # another car
        ([_span("parking", 0, 20, (600, 150, 640, 187))] * 2, 1, 1, 0),  # a duplicate is a false positive
        ([_span("u_turn", 0, 20, (600, 150, 640, 187))], 0, 0, 1),  # u_turn: fp counted under u_turn
        ([], 0, 0, 1),
    ],
)
def test_engine_eval_scoring_synthetic(events, tp, fp, fn):
    truth = load_truth(TRUTH)
    rep = score(events, truth)
    s = rep.scores["parking"]
    assert (s.tp, s.fp, s.fn) == (tp, fp, fn)
    if events and events[0].rule == "u_turn":
        assert rep.scores["u_turn"].fp == 1


@pytest.mark.parametrize(
    "truth_text, expected",
    [
        ("events: [{rule: parking, start_s: 5, end_s: 1, box: [0, 0, 10, 10]}]", "end_s is before start_s"),
        ("events: [{rule: speeding, start_s: 0, end_s: 1, box: [0, 0, 10, 10]}]", "events.0.rule"),
        ("events: [{rule: parking, start_s: 0, end_s: 1}]", "events.0.box"),
    ],
)
def test_engine_eval_cli_bad_truth_is_one_clean_line(tmp_path, truth_text, expected):
    truth = tmp_path / "t.yaml"
    truth.write_text(truth_text)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    result = CliRunner().invoke(app, ["eval", "violations", "--video", str(video), "--site", str(SITE), "--truth", str(truth)])
    assert result.exit_code == 2
    assert expected in result.output and "Traceback" not in result.output


def test_engine_eval_cli_bad_site_names_field(tmp_path):
    site = tmp_path / "s.yaml"
    site.write_text(SITE.read_text().replace("min_dwell_s: 20", "min_dwell_s: -3"))
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    result = CliRunner().invoke(app, ["eval", "violations", "--video", str(video), "--site", str(site), "--truth", str(TRUTH)])
    assert result.exit_code == 2
    assert "rules.parking.min_dwell_s" in result.output


def test_engine_truth_file_documents_the_clip():
    truth = load_truth(TRUTH)
    assert isinstance(truth, TruthFile) and [e.rule for e in truth.events] == ["parking"]
