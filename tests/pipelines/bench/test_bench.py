"""`epolice bench` machinery: figures are present and add up, the JSON has its shape, the upscaled
clip and its scaled site, bad input gets one error line, and the ultralytics comparison skips
cleanly. Never asserts speed."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.bench.e2e import E2ERun
from pipelines.bench.figures import Figure, Timing
from pipelines.bench.report import LOOP_PARTS, RATES, evidence_figures, format_report, memory_figures, per_video_second
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


def _run(frames=20, video_s=4.0, wall=2.0, cpu=3.0, wait=0.3, detect=1.0, track=0.1, attributes=0.05, plates=0.02, rules=0.04,
         evidence=0.2, evidence_cpu=0.3, packages=1, calls=10, det_cpu=0.8) -> E2ERun:
    stats = {"detect_s": detect, "track_s": track, "attributes_s": attributes, "rules_s": rules, "plates_s": plates, "helmet_s": 0.0,
             "detect_frames": frames, "frames": frames}
    return E2ERun(
        cameras=1, frames=frames, video_s=video_s, wall_s=wall, cpu_s=cpu, source_wait_s=wait, stats=stats, evidence_s=evidence,
        evidence_cpu_s=evidence_cpu, events=packages, packages=packages, probe=None, evidence_note="", peak_rss_mb=100.0,
        peak_tree_rss_mb=150.0, model_load_s=1.0, detector_only_calls=calls, detector_only_s=1.0, detector_only_cpu_s=det_cpu,
    )


@pytest.mark.parametrize(
    "runs",
    [
        [_run()],
        [_run(), _run(wall=2.5, cpu=3.5, detect=1.4, evidence=0.0, evidence_cpu=0.0, packages=0)],
        [_run(frames=2, video_s=0.5, wall=0.5, cpu=0.6, wait=0.0, plates=0.0, evidence=0.0)],
    ],
)
def test_rates_floor_and_loop_parts_add_up_synthetic(runs):
    n = len(runs)
    decode = [Timing(0, 1.0, 0.4)] * n
    scaled = [Timing(0, 1.0, 0.6)] * n
    source = [Timing(10, 1.0, 0.5)] * n
    rates = per_video_second(decode, scaled, source, runs, video_s=runs[0].video_s)
    cpu = rates["cpu_per_video_second"]
    assert list(cpu) == list(RATES)
    r = runs[0]
    det = r.detector_only_cpu_s / r.detector_only_calls * r.stats["detect_frames"] / r.video_s
    assert cpu["detector_only"]["runs"][0] == pytest.approx(det, abs=1e-4)
    assert cpu["floor"]["runs"][0] == pytest.approx(0.6 / r.video_s + det, abs=1e-4)  # decode + 640 BGR, then the detector
    assert cpu["end_to_end"]["runs"][0] == pytest.approx(r.cpu_s / r.video_s, abs=1e-4)
    e2e = rates["end_to_end"]
    assert e2e["streams_per_core"]["runs"][0] == pytest.approx(r.video_s / r.cpu_s, abs=1e-3)
    assert e2e["efficiency_vs_floor"]["runs"][0] == pytest.approx(cpu["floor"]["runs"][0] / cpu["end_to_end"]["runs"][0], abs=1e-3)
    parts = e2e["loop_wall_s_per_video_s"]
    assert list(parts) == list(LOOP_PARTS)
    assert sum(p["runs"][0] for p in parts.values()) == pytest.approx(r.wall_s / r.video_s, abs=1e-3)
    # plate reads (timed inside the engine's rules pass) count as attributes, not rules
    assert parts["attributes"]["runs"][0] == pytest.approx((r.stats["attributes_s"] + r.stats["plates_s"]) / r.video_s, abs=1e-4)


def test_evidence_and_memory_figures_synthetic():
    runs = [_run(packages=2, evidence_cpu=0.8), _run(packages=0, evidence_cpu=0.0)]
    ev = evidence_figures(runs)
    assert ev["per_event_from"] == "run events" and ev["cpu_s_per_event"]["mean"] == pytest.approx(0.4)
    probe = replace(_run(packages=0, evidence_cpu=0.0), probe=(250.0, 120.0))
    assert evidence_figures([probe])["cpu_s_per_event"]["mean"] == pytest.approx(0.12)
    one, four = _run(), replace(_run(), cameras=4, peak_tree_rss_mb=450.0)
    mem = memory_figures({1: one, 4: four})
    assert mem["by_cameras"]["1"]["peak_rss_mb"] == 150.0 and mem["per_added_camera_mb"] == pytest.approx(100.0)


def test_bench_cli_json_on_real_clip(shared_data, registry):
    """A few frames through every measured run: decode, the analysis source, end to end with evidence,
    the detector alone, and a two-camera worker for memory."""
    require_model(registry, "yolov5n_coco")
    video = shared_data / "videos" / "street_parking_a.mp4"
    result = CliRunner().invoke(
        app,
        ["bench", "--video", str(video), "--site", str(STREET_SITE), "--frames", "12", "--repeat", "2", "--cameras", "1,2",
         "--no-plates", "--no-compare", "--json"],
    )
    assert result.exit_code == 0, result.output
    rep = json.loads(result.stdout.strip().splitlines()[-1])

    s = rep["settings"]
    assert s["frames"] == 12 and s["repeat"] == 2 and s["upscaled_from"] is None
    assert s["detection_frames"] == 3  # detect_fps 5 of 24 fps: frames 0, 5, 10 (the only frames handed over)
    cpu = rep["cpu_per_video_second"]
    assert list(cpu) == list(RATES)
    for name in RATES:
        assert len(cpu[name]["runs"]) == 2 and cpu[name]["mean"] > 0 and math.isfinite(cpu[name]["mean"])
    assert cpu["floor"]["mean"] == pytest.approx(cpu["decode_640_bgr"]["mean"] + cpu["detector_only"]["mean"], rel=1e-3)
    e2e = rep["end_to_end"]
    assert e2e["streams_per_core"]["mean"] > 0 and 0 < e2e["efficiency_vs_floor"]["mean"] < 5
    assert rep["detector_only"]["calls_per_run"] == 3 and rep["detector_only"]["cpu_ms_per_call"]["mean"] > 0
    # 12 frames fire no event: the per-event evidence cost comes from a probe package
    ev = rep["evidence"]
    assert ev["events_per_run"] == 0 and ev["per_event_from"] == "probe event" and ev["cpu_s_per_event"]["mean"] > 0
    mem = rep["memory"]["by_cameras"]
    assert set(mem) == {"1", "2"} and all(v["peak_rss_mb"] > 50 for v in mem.values())  # models and FFmpeg of a real worker
    assert "per_added_camera_mb" in rep["memory"]
    machine = rep["machine"]
    assert machine["cpu_count"] >= 1 and machine["onnxruntime"] and "CPUExecutionProvider" in machine["providers"]
    assert len(machine["load_avg_start"]) == 3
    assert rep["comparison"] is None
    text = format_report(rep)  # the table is drawn from the same figures
    assert all(f"{name} " in text for name in RATES) and "streams per core" in text


def test_bench_upscales_the_clip_and_scales_the_site(shared_data, tmp_path, monkeypatch):
    """The default clip is the street clip upscaled by FFmpeg (cached); a site for the small clip is
    scaled to it, zones and all."""
    from pipelines.bench.inputs import prepare, upscaled_clip
    from pipelines.config import load_site
    from vision.sources.ffmpeg.probe import probe

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    base = shared_data / "videos" / "street_parking_a.mp4"
    short = tmp_path / "short.mp4"
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-t", "2", "-i", str(base), "-c", "copy", str(short)], check=True)
    clip = upscaled_clip(short, (1280, 720))
    assert clip.parent == tmp_path / "epolice" / "bench" and upscaled_clip(short, (1280, 720)) == clip  # made once
    info = probe(clip)
    assert (info.width, info.height) == (1280, 720) and info.fps == pytest.approx(30.0)
    site, cam = prepare(clip, load_site(STREET_SITE), upscaled_from=short)
    assert tuple(cam.frame_size) == (1280, 720)
    assert cam.zones[0].polygon[0] == pytest.approx((580 * 2, 135 * 720 / 352))


def test_bench_site_file_is_valid_for_the_clip():
    from pipelines.config import load_site
    from pipelines.rules.registry import RULE_NAMES

    site = load_site(BENCH_SITE)
    cam = site.cameras[0]
    assert tuple(cam.frame_size) == (640, 352)
    assert site.rules_for(cam) == set(RULE_NAMES)  # the bench measures every registered rule
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
    result = CliRunner().invoke(app, ["bench", *args, "--upscale", "none", "--no-compare"])
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
