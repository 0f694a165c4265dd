"""The bench report: CPU per second of video by stage, the floor, memory per camera count, evidence
per event; the JSON dict and its text tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from pipelines.bench.e2e import E2ERun
from pipelines.bench.figures import Figure, Timing
from pipelines.bench.machine import MachineInfo
from pipelines.bench.ultralytics_compare import format_comparison

# CPU-seconds per second of video; the engine's stages are its own timers (wall time inside the loop)
RATES = ("decode", "decode_640_bgr", "source", "detector_only", "floor", "end_to_end")
LOOP_PARTS = ("source_wait", "detect", "track", "attributes", "rules", "evidence", "other")


@dataclass
class BenchReport:
    machine: MachineInfo
    settings: dict
    rates: dict  # see per_video_second
    evidence: dict
    memory: dict
    detector_only: dict
    comparison: dict | None = None

    def as_dict(self) -> dict:
        return {
            "machine": asdict(self.machine),
            "settings": self.settings,
            **self.rates,
            "detector_only": self.detector_only,
            "evidence": self.evidence,
            "memory": self.memory,
            "comparison": self.comparison,
        }


def _fig(values: Sequence[float]) -> dict:
    return Figure.of(values).as_dict()


def per_video_second(
    decode: Sequence[Timing], scaled: Sequence[Timing], source: Sequence[Timing], runs: Sequence[E2ERun], video_s: float
) -> dict:
    """CPU-seconds per second of video of every measured run, the floor, and the end-to-end figures."""
    calls_per_s = [r.stats.get("detect_frames", 0) / r.video_s for r in runs]
    det = [r.detector_only_cpu_s / max(r.detector_only_calls, 1) * c for r, c in zip(runs, calls_per_s)]
    floor = [s.cpu_s / video_s + d for s, d in zip(scaled, det)]
    e2e = [r.cpu_per_video_s for r in runs]
    loop: dict[str, list[float]] = {k: [] for k in LOOP_PARTS}
    for r in runs:
        s = r.stats
        vals = {
            "source_wait": r.source_wait_s,
            "detect": s["detect_s"],
            "track": s["track_s"],
            "attributes": s["attributes_s"] + s.get("plates_s", 0.0),
            "rules": s["rules_s"] - s.get("plates_s", 0.0),
            "evidence": r.evidence_s,
        }
        vals["other"] = r.wall_s - sum(vals.values())
        for k, v in vals.items():
            loop[k].append(v / r.video_s)
    return {
        "cpu_per_video_second": {
            "decode": _fig([t.cpu_s / video_s for t in decode]),
            "decode_640_bgr": _fig([t.cpu_s / video_s for t in scaled]),
            "source": _fig([t.cpu_s / video_s for t in source]),
            "detector_only": _fig(det),
            "floor": _fig(floor),
            "end_to_end": _fig(e2e),
        },
        "end_to_end": {
            "streams_per_core": _fig([1.0 / v for v in e2e]),
            "floor_streams_per_core": _fig([1.0 / v for v in floor]),
            "efficiency_vs_floor": _fig([f / e for f, e in zip(floor, e2e)]),
            "realtime_x": _fig([r.realtime_x for r in runs]),
            "cores_used": _fig([r.cpu_s / r.wall_s for r in runs]),
            "loop_wall_s_per_video_s": {k: _fig(v) for k, v in loop.items()},
        },
    }


def evidence_figures(runs: Sequence[E2ERun]) -> dict:
    """Packaging cost per event (its thread's CPU plus the FFmpeg it waited for), from the run's own
    events, or from a probe package when no event fired."""
    per_cpu = [r.evidence_cpu_s / r.packages for r in runs if r.packages]
    per_wall = [1000 * r.evidence_s / r.packages for r in runs if r.packages]
    probes = [r.probe for r in runs if r.probe is not None]
    if not per_cpu and probes:
        per_cpu = [cpu / 1000 for _, cpu in probes]
        per_wall = [wall for wall, _ in probes]
    return {
        "events_per_run": runs[0].events,
        "packages_written": sum(r.packages for r in runs),
        "cpu_s_per_event": _fig(per_cpu) if per_cpu else None,
        "wall_ms_per_event": _fig(per_wall) if per_wall else None,
        "per_event_from": "run events" if any(r.packages for r in runs) else ("probe event" if probes else "none"),
        "notes": sorted({r.evidence_note for r in runs if r.evidence_note}),
    }


def memory_figures(by_count: Mapping[int, E2ERun]) -> dict:
    """Peak memory per camera count (one process; FFmpeg children included) and what each camera adds."""
    out: dict = {"by_cameras": {}}
    for count, run in sorted(by_count.items()):
        out["by_cameras"][str(count)] = {
            "peak_rss_mb": round(run.peak_tree_rss_mb, 1),
            "peak_rss_python_mb": round(run.peak_rss_mb, 1),
            "cpu_per_video_second_per_camera": round(run.cpu_per_video_s, 4),
            "realtime_x": round(run.realtime_x / count, 3),
        }
    counts = sorted(by_count)
    if len(counts) > 1:
        lo, hi = counts[0], counts[-1]
        out["per_added_camera_mb"] = round((by_count[hi].peak_tree_rss_mb - by_count[lo].peak_tree_rss_mb) / (hi - lo), 1)
    out["note"] = "peak resident memory of one worker process and its FFmpeg children, sampled every 0.25 s"
    return out


def _f(d: dict | None, fmt: str = "{:.3f}") -> str:
    """A figure dict (Figure.as_dict) as 'mean (min-max)'."""
    if d is None:
        return "-"
    if len(d["runs"]) == 1:
        return fmt.format(d["mean"])
    return f"{fmt.format(d['mean'])} ({fmt.format(d['min'])}-{fmt.format(d['max'])})"


_WHAT = {
    "decode": "ffmpeg -f null: demux + decode every frame",
    "decode_640_bgr": "every frame decoded, scaled to 640 wide, BGR, piped (inside FFmpeg)",
    "source": "the analysis source: detection schedule's frames at the analysis size",
    "detector_only": "Detector.detect alone x detections per second",
    "floor": "decode + 640 BGR + detector only",
    "end_to_end": "the whole pipeline, evidence included (process + FFmpeg children)",
}


def format_report(rep: dict) -> str:
    """The text tables of a report, from the same dict that --json prints."""
    m, s = rep["machine"], rep["settings"]
    e2e = rep["end_to_end"]
    clip = f"{s['video']}"
    if s.get("upscaled_from"):
        clip += f" (UPSCALED from {s['upscaled_from']})"
    lines = [
        f"machine: {m['cpu_model']}, {m['cpus_usable']}/{m['cpu_count']} cores, Python {m['python']}, onnxruntime {m['onnxruntime']} "
        f"({', '.join(m['providers'])}), threads {m['threads']}",
        f"         {m['ffmpeg'][:40]}; load average {m['load_avg_start'][0]:.2f} at start, {m['load_avg_end'][0]:.2f} at end",
        f"clip: {clip}",
        f"      {s['frame_size'][0]}x{s['frame_size'][1]} @ {s['clip_fps']} fps, {s['video_seconds']} s; analysis {s['analysis_size'][0]}x"
        f"{s['analysis_size'][1]}; detector {s['detector']} at {s['detect_fps']} fps ({s['detection_frames']} detections); "
        f"rules {','.join(s['rules'])}; helmet {s['helmet_model'] or 'off'}; plates {'on' if s['plate_reader'] else 'off'}; "
        f"repeat {s['repeat']}, figures are mean (min-max)",
        "",
        f"{'CPU-s per video-s':<18} {'':>24}  what",
    ]
    for name in RATES:
        lines.append(f"{name:<18} {_f(rep['cpu_per_video_second'][name]):>24}  {_WHAT[name]}")
    lines.append("")
    lines.append(
        f"streams per core: {_f(e2e['streams_per_core'], '{:.2f}')} end to end, {_f(e2e['floor_streams_per_core'], '{:.2f}')} at the floor; "
        f"efficiency (floor / end to end) {_f(e2e['efficiency_vs_floor'])} (target >= 0.9); "
        f"real time x{_f(e2e['realtime_x'], '{:.2f}')} on {_f(e2e['cores_used'], '{:.2f}')} cores"
    )
    lines.append("  loop wall s per video s: " + ", ".join(f"{k} {v['mean']:.3f}" for k, v in e2e["loop_wall_s_per_video_s"].items()))
    d = rep["detector_only"]
    lines.append(f"detector only: {_f(d['ms_per_call'], '{:.1f}')} ms, {_f(d['cpu_ms_per_call'], '{:.1f}')} CPU-ms per call ({d['calls_per_run']} sampled calls)")
    ev = rep["evidence"]
    if ev["cpu_s_per_event"]:
        lines.append(
            f"evidence: {ev['events_per_run']} event(s) per run; {_f(ev['cpu_s_per_event'])} CPU-s and {_f(ev['wall_ms_per_event'], '{:.0f}')} ms "
            f"per package ({ev['per_event_from']}) (target <= 0.5 CPU-s)"
        )
    else:
        lines.append(f"evidence: not measured ({'; '.join(ev['notes']) or 'no event'})")
    lines.extend(f"  {note}" for note in ev["notes"])
    mem = rep["memory"]
    parts = [f"{n} camera(s) {v['peak_rss_mb']:.0f} MB" for n, v in mem["by_cameras"].items()]
    extra = f"; {mem['per_added_camera_mb']:.0f} MB per added camera" if "per_added_camera_mb" in mem else ""
    lines.append(f"memory (peak, FFmpeg children included): {', '.join(parts)}{extra}")
    if rep.get("comparison") is not None:
        lines.append("")
        lines.extend(format_comparison(rep["comparison"]))
    return "\n".join(lines)
