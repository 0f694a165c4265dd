"""`epolice bench` machinery: figures are present and add up, the JSON has its shape, bad input gets
one error line, and the ultralytics comparison skips cleanly. Never asserts speed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.bench.e2e import E2ERun
from pipelines.bench.figures import Figure
from pipelines.bench.report import STAGES, e2e_breakdown, format_report, stage_rows
from pipelines.cli.main import app
from tests.support.models import registry, require_model  # noqa: F401  (fixture)
from tests.support.paths import DATA

STREET_SITE = DATA / "street_parking_a.site.yaml"  # 640x352, helmet model off: the quick configuration
BENCH_SITE = DATA / "bench_site.yaml"


@pytest.mark.parametrize(
    "values, mean, lo, hi, stdev",
    [
        ([2.0], 2.0, 2.0, 2.0, 0.0),
        ([1.0, 3.0], 2.0, 1.0, 3.0, math.sqrt(2.0)),
        ([4.0, 4.0, 4.0], 4.0, 4.0, 4.0, 0.0),
        ([-1.0, 1.0], 0.0, -1.0, 1.0, math.sqrt(2.0)),
    ],
)
def test_figure_of_repeats_synthetic(values, mean, lo, hi, stdev):
    f = Figure.of(values)
    assert (f.mean, f.min, f.max) == pytest.approx((mean, lo, hi))
    assert f.stdev == pytest.approx(stdev)
    assert f.as_dict()["runs"] == pytest.approx(values)


def test_figure_needs_a_run_synthetic():
    with pytest.raises(ValueError):
        Figure.of([])


def _run(frames=100, wall=2.0, wait=0.3, detect=1.0, track=0.1, attributes=0.05, plates=0.02, rules=0.04, evidence=0.2) -> E2ERun:
    stats = {"detect_s": detect, "track_s": track, "attributes_s": attributes, "rules_s": rules, "plates_s": plates, "helmet_s": 0.0}
    return E2ERun(
        frames=frames, wall_s=wall, cpu_s=wall, source_wait_s=wait, stats=stats, evidence_s=evidence, events=1, packages=1,
        probe_ms=None, evidence_note="", detected_seqs=list(range(0, frames, 5)), peak_rss_mb=100.0, model_load_s=1.0,
    )


@pytest.mark.parametrize(
    "runs",
    [
        [_run()],
        [_run(), _run(wall=2.5, detect=1.4, evidence=0.0)],
        [_run(frames=10, wall=0.5, wait=0.0, plates=0.0, evidence=0.0)],
    ],
)
def test_stage_shares_and_breakdown_add_up_synthetic(runs):
    rows = stage_rows([1.0] * len(runs), [0.5] * len(runs), runs)
    assert [r.stage for r in rows] == list(STAGES)
    assert sum(r.share for r in rows) == pytest.approx(1.0)
    by = {r.stage: r.ms_per_frame.mean for r in rows}
    r0 = runs[0]
    # plate reads (timed inside the engine's rules pass) count as attributes, not rules
    assert by["attributes"] == pytest.approx(sum(1000 * (r.stats["attributes_s"] + r.stats["plates_s"]) / r.frames for r in runs) / len(runs))
    assert by["rules"] == pytest.approx(sum(1000 * (r.stats["rules_s"] - r.stats["plates_s"]) / r.frames for r in runs) / len(runs))
    assert by["decode"] == pytest.approx(1.0) and by["convert"] == pytest.approx(0.5)
    parts = e2e_breakdown([r0])
    assert sum(f.mean for f in parts.values()) == pytest.approx(1000 * r0.wall_s / r0.frames)
    assert parts["source_wait"].mean == pytest.approx(1000 * r0.source_wait_s / r0.frames)


def test_bench_cli_json_on_real_clip(shared_data, registry):
    """A few frames through every measured run: decode, FileSource, two workers twice, detector only."""
    require_model(registry, "yolov5n_coco")
    video = shared_data / "videos" / "street_parking_a.mp4"
    result = CliRunner().invoke(
        app,
        ["bench", "--video", str(video), "--site", str(STREET_SITE), "--frames", "12", "--repeat", "2", "--jobs", "2",
         "--no-plates", "--no-compare", "--json"],
    )
    assert result.exit_code == 0, result.output
    rep = json.loads(result.stdout.strip().splitlines()[-1])

    assert rep["settings"]["frames"] == 12 and rep["settings"]["repeat"] == 2
    assert rep["settings"]["detection_frames"] == 3  # detect_fps 5 of 24 fps: frames 0, 5, 10
    assert [s["stage"] for s in rep["stages"]] == list(STAGES)
    assert sum(s["share"] for s in rep["stages"]) == pytest.approx(1.0, abs=1e-3)
    for s in rep["stages"]:
        assert len(s["ms_per_frame"]["runs"]) == (4 if s["stage"] not in ("decode", "convert") else 2)  # 2 repeats x 2 jobs
        assert math.isfinite(s["ms_per_frame"]["mean"])
    for name in ("decode", "detect", "track", "rules"):
        assert next(s for s in rep["stages"] if s["stage"] == name)["ms_per_frame"]["mean"] > 0
    e2e = rep["end_to_end"]
    assert e2e["fps"]["mean"] > 0 and len(e2e["fps"]["runs"]) == 2
    assert sum(v["mean"] for v in e2e["breakdown_ms_per_frame"].values()) == pytest.approx(e2e["ms_per_frame"]["mean"], rel=1e-3)
    assert e2e["realtime_x"]["mean"] == pytest.approx(e2e["fps"]["mean"] / rep["settings"]["clip_fps"], rel=1e-3)
    assert rep["detector_only"]["fps"]["mean"] > 0
    eff = rep["efficiency"]["runs"]
    assert eff == pytest.approx([a / b for a, b in zip(e2e["fps"]["runs"], rep["detector_only"]["fps"]["runs"])], rel=1e-3)
    assert rep["efficiency_best_of_repeats"] == pytest.approx(max(e2e["fps"]["runs"]) / max(rep["detector_only"]["fps"]["runs"]), rel=1e-2)
    assert len(rep["efficiency_cpu"]["runs"]) == 2 and all(0 < v < 5 for v in rep["efficiency_cpu"]["runs"])
    # 12 frames fire no event: the per-event evidence cost comes from a probe package, amortised cost is 0
    ev = rep["evidence"]
    assert ev["events_per_run"] == 0 and ev["per_event_from"] == "probe event"
    assert ev["ms_per_event"]["mean"] > 0
    mem = rep["memory"]["peak_rss_mb_per_worker"]
    assert len(mem["runs"]) == 4 and mem["min"] > 50  # models + ring buffer of a real worker
    assert rep["jobs"]["jobs"] == 2 and rep["jobs"]["aggregate_fps"]["mean"] > 0
    machine = rep["machine"]
    assert machine["cpu_count"] >= 1 and machine["onnxruntime"] and "CPUExecutionProvider" in machine["providers"]
    assert len(machine["load_avg_start"]) == 3
    assert rep["comparison"] is None
    text = format_report(rep)  # the table is drawn from the same figures
    assert all(f"{name} " in text for name in STAGES) and "pipeline efficiency" in text


def test_bench_site_file_is_valid_for_the_clip():
    from pipelines.config import load_site

    site = load_site(BENCH_SITE)
    cam = site.cameras[0]
    assert tuple(cam.frame_size) == (640, 352)
    assert site.rules_for(cam) == {"helmet", "passengers", "u_turn", "parking"}
    assert site.models.helmet == "helmet_yolov12m"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--video", "/nonexistent/clip.mp4"], "video not found"),
        (["--video", "{lane}", "--site", str(STREET_SITE)], "decodes to 768x432 but camera 'street-a' declares frame_size [640, 352]"),
        (["--video", "{street}", "--site", str(STREET_SITE), "--camera", "nope"], "has no camera 'nope'"),
        (["--video", "{street}", "--detect-fps", "0"], "--detect-fps must be in (0, 60]"),
    ],
)
def test_bench_bad_input_is_one_error_line(shared_data, args, message):
    videos = shared_data / "videos"
    args = [a.format(lane=videos / "parking_lot_lane.mp4", street=videos / "street_parking_a.mp4") for a in args]
    result = CliRunner().invoke(app, ["bench", *args, "--no-compare"])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_comparison_skips_cleanly_without_ultralytics(monkeypatch, registry):
    import importlib.util

    from pipelines.bench import ultralytics_compare
    from pipelines.config import load_site

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ultralytics" else real(name, *a))
    site = load_site(BENCH_SITE)
    out = ultralytics_compare.compare(Path("unused.mp4"), site, site.cameras[0], registry, "helmet_yolov12m", 4, 1)
    assert out.skipped and "ultralytics is not installed" in out.skipped
    d = out.as_dict()
    assert d["skipped"] == out.skipped and "speedup" not in d
    assert ultralytics_compare.format_comparison(d) == [f"vs ultralytics loop: skipped: {out.skipped}"]


def test_comparison_skips_a_model_ultralytics_cannot_read(monkeypatch, registry):
    from pipelines.bench import ultralytics_compare
    from pipelines.config import load_site

    monkeypatch.setattr(ultralytics_compare, "ultralytics_missing", lambda: None)
    site = load_site(BENCH_SITE)
    out = ultralytics_compare.compare(Path("unused.mp4"), site, site.cameras[0], registry, "yolov5n_coco", 4, 1)
    assert out.skipped == "yolov5n_coco has a yolov5 output; ultralytics reads only YOLOv8-layout ONNX"
