"""The bench report: per-stage rows, where the loop's time went, the JSON dict and its text tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from pipelines.bench.e2e import E2ERun
from pipelines.bench.figures import Figure
from pipelines.bench.machine import MachineInfo
from pipelines.bench.ultralytics_compare import format_comparison

STAGES = ("decode", "convert", "detect", "track", "attributes", "rules", "evidence")


@dataclass(frozen=True)
class StageRow:
    stage: str
    ms_per_frame: Figure
    share: float  # of the sum of stage means
    note: str = ""


@dataclass
class BenchReport:
    machine: MachineInfo
    settings: dict
    stages: list[StageRow]
    stage_total_ms: float
    e2e_fps: Figure
    e2e_ms_per_frame: Figure
    e2e_breakdown_ms: dict[str, Figure]  # where the loop's wall time went; sums to e2e ms/frame
    detector_only_fps: Figure
    efficiency: Figure
    efficiency_best: float  # fastest end-to-end fps / fastest detector-only fps over the repeats
    efficiency_cpu: Figure  # detector-only CPU seconds / end-to-end CPU seconds
    realtime_x: Figure
    cores_used: Figure
    realtime_x_per_core: Figure
    decode: dict
    evidence: dict
    memory: dict
    jobs: dict
    comparison: dict | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        fig = lambda f: f.as_dict()  # noqa: E731
        return {
            "machine": asdict(self.machine),
            "settings": self.settings,
            "stages": [
                {"stage": r.stage, "ms_per_frame": fig(r.ms_per_frame), "share": round(r.share, 4), "note": r.note} for r in self.stages
            ],
            "stage_total_ms_per_frame": round(self.stage_total_ms, 4),
            "end_to_end": {
                "fps": fig(self.e2e_fps),
                "ms_per_frame": fig(self.e2e_ms_per_frame),
                "breakdown_ms_per_frame": {k: fig(v) for k, v in self.e2e_breakdown_ms.items()},
                "realtime_x": fig(self.realtime_x),
                "cores_used": fig(self.cores_used),
                "realtime_x_per_core": fig(self.realtime_x_per_core),
            },
            "detector_only": {"fps": fig(self.detector_only_fps)},
            "efficiency": fig(self.efficiency),
            "efficiency_best_of_repeats": round(self.efficiency_best, 4),
            "efficiency_cpu": fig(self.efficiency_cpu),
            "decode": self.decode,
            "evidence": self.evidence,
            "memory": self.memory,
            "jobs": self.jobs,
            "comparison": self.comparison,
            "notes": self.notes,
        }


def stage_rows(decode_ms: Sequence[float], convert_ms: Sequence[float], runs: Sequence[E2ERun]) -> list[StageRow]:
    """Per-stage cost in ms per frame (each stage's own cost), with shares of their sum."""
    per = lambda key: [1000.0 * r.stats[key] / max(r.frames, 1) for r in runs]  # noqa: E731
    attributes = [1000.0 * (r.stats["attributes_s"] + r.stats.get("plates_s", 0.0)) / max(r.frames, 1) for r in runs]
    rules = [1000.0 * (r.stats["rules_s"] - r.stats.get("plates_s", 0.0)) / max(r.frames, 1) for r in runs]
    evidence = [1000.0 * r.evidence_s / max(r.frames, 1) for r in runs]
    figures = {
        "decode": (Figure.of(decode_ms), "ffmpeg -f null: demux + decode, standalone"),
        "convert": (Figure.of(convert_ms), "FileSource minus decode: yuv420p->bgr24, pts logging, pipe hand-over"),
        "detect": (Figure.of(per("detect_s")), "Detector.detect on detection frames, amortised over all frames"),
        "track": (Figure.of(per("track_s")), "tracker update / prediction"),
        "attributes": (Figure.of(attributes), "crops for plates, riders, helmet model, plate reads"),
        "rules": (Figure.of(rules), "the four rules (plate reads moved to attributes)"),
        "evidence": (Figure.of(evidence), "write_package of the run's events, amortised over all frames"),
    }
    total = sum(f.mean for f, _ in figures.values())
    return [StageRow(name, f, (f.mean / total) if total > 0 else 0.0, note) for name, (f, note) in figures.items()]


def e2e_breakdown(runs: Sequence[E2ERun]) -> dict[str, Figure]:
    """Where each end-to-end loop's wall time went, ms per frame; 'other' is the rest (loop, ring buffer)."""
    parts: dict[str, list[float]] = {k: [] for k in ("source_wait", "detect", "track", "attributes", "rules", "evidence", "other")}
    for r in runs:
        n = max(r.frames, 1)
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
            parts[k].append(1000.0 * v / n)
    return {k: Figure.of(v) for k, v in parts.items()}


def _fig(d: dict, fmt: str = "{:.2f}") -> str:
    """A figure dict (Figure.as_dict) as 'mean (min-max)'."""
    if len(d["runs"]) == 1:
        return fmt.format(d["mean"])
    return f"{fmt.format(d['mean'])} ({fmt.format(d['min'])}-{fmt.format(d['max'])})"


def format_report(rep: dict) -> str:
    """The text tables of a report, from the same dict that --json prints."""
    m, s = rep["machine"], rep["settings"]
    e2e = rep["end_to_end"]
    lines = [
        f"machine: {m['cpu_model']}, {m['cpus_usable']}/{m['cpu_count']} cores, Python {m['python']}, onnxruntime {m['onnxruntime']} "
        f"({', '.join(m['providers'])}), threads {m['threads']}",
        f"         {m['ffmpeg'][:40]}; load average {m['load_avg_start'][0]:.2f} at start, {m['load_avg_end'][0]:.2f} at end",
        f"clip: {s['video']} {s['frame_size'][0]}x{s['frame_size'][1]} @ {s['clip_fps']} fps, {s['frames']} frames ({s['clip_seconds']} s); "
        f"detector {s['detector']} at {s['detect_fps']} fps ({s['detection_frames']} detection frames); "
        f"rules {','.join(s['rules'])}; helmet {s['helmet_model'] or 'off'}; plates {'on' if s['plate_reader'] else 'off'}; "
        f"repeat {s['repeat']}, figures are mean (min-max)",
        "",
        f"{'stage':<11} {'ms/frame':>24} {'share':>6}  what",
    ]
    for r in rep["stages"]:
        lines.append(f"{r['stage']:<11} {_fig(r['ms_per_frame'], '{:.3f}'):>24} {100 * r['share']:5.1f}%  {r['note']}")
    lines.append(f"{'sum':<11} {rep['stage_total_ms_per_frame']:>24.3f} {100.0:5.1f}%")
    lines.append("")
    lines.append(
        f"end to end: {_fig(e2e['fps'], '{:.1f}')} fps = {_fig(e2e['ms_per_frame'])} ms/frame; "
        f"real time x{_fig(e2e['realtime_x'])} on {_fig(e2e['cores_used'])} cores = x{_fig(e2e['realtime_x_per_core'])} per core"
    )
    lines.append("  loop wall time, ms/frame: " + ", ".join(f"{k} {v['mean']:.2f}" for k, v in e2e["breakdown_ms_per_frame"].items()))
    lines.append(f"detector only: {_fig(rep['detector_only']['fps'], '{:.1f}')} fps (same worker, right after: the engine's detection frames decoded into memory)")
    lines.append(
        f"pipeline efficiency (end-to-end fps / detector-only fps): {_fig(rep['efficiency'], '{:.3f}')} paired per repeat, "
        f"{rep['efficiency_best_of_repeats']:.3f} best of repeats, {_fig(rep['efficiency_cpu'], '{:.3f}')} by CPU seconds  (target >= 0.9)"
    )
    ev = rep["evidence"]
    per = ev["ms_per_event"]
    lines.append(
        f"evidence: {ev['events_per_run']} event(s) per run, {_fig(per, '{:.0f}')} ms per event ({ev['per_event_from']})"
        if per
        else f"evidence: not measured ({'; '.join(ev['notes']) or 'no event'})"
    )
    lines.extend(f"  {note}" for note in ev["notes"])
    mem = rep["memory"]["peak_rss_mb_per_worker"]
    lines.append(f"memory: peak RSS per worker {_fig(mem, '{:.0f}')} MB; bench process {rep['memory']['bench_process_peak_rss_mb']:.0f} MB")
    j = rep["jobs"]
    if j.get("jobs", 1) > 1:
        lines.append(
            f"jobs {j['jobs']}: aggregate {_fig(j['aggregate_fps'], '{:.1f}')} fps (x{_fig(j['aggregate_realtime_x'])} real time), "
            f"{_fig(j['per_worker_fps'], '{:.1f}')} fps per worker"
        )
    if rep.get("comparison") is not None:
        lines.append("")
        lines.extend(format_comparison(rep["comparison"]))
    return "\n".join(lines)
