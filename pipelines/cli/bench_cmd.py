"""`epolice bench`: per-stage cost, end-to-end speed, efficiency, memory, and an ultralytics comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import app
from pipelines.cli.common import StreamThreadsOpt, fail, load_site_or_exit


@app.command("bench")
def bench(
    video: Optional[Path] = typer.Option(
        None, "--video", help="Clip to benchmark (default: the shared street clip, upscaled to 1080p; see --upscale)."
    ),
    upscale: str = typer.Option(
        "auto", "--upscale",
        help="1080p or 1440p: benchmark the clip scaled up to that size by FFmpeg (made once, cached, reported as upscaled); "
        "none: the clip as it is; auto: 1080p for the default clip, none for --video.",
    ),
    site: Optional[Path] = typer.Option(None, "--site", help="Site YAML (default: one camera of the clip's size, no zones, every rule)."),
    camera: Optional[str] = typer.Option(None, "--camera", help="Camera id in the site file (default: the first)."),
    model: Optional[str] = typer.Option(None, "--model", help="Detector registry name (default: the site's models.detector)."),
    detect_fps: Optional[float] = typer.Option(None, "--detect-fps", help="Detector rate (default: the camera's detect_fps)."),
    frames: int = typer.Option(0, "--frames", min=0, help="Benchmark the first N frames (0 = the whole clip)."),
    repeat: int = typer.Option(3, "--repeat", min=1, help="Run every figure this many times (mean, min-max)."),
    threads: int = StreamThreadsOpt,
    cameras: str = typer.Option("1,4", "--cameras", help="Camera counts run in one worker process for peak memory, e.g. 1,4."),
    plates: bool = typer.Option(True, "--plates/--no-plates", help="Read plates of events (the plate models must be fetched)."),
    evidence: bool = typer.Option(True, "--evidence/--no-evidence", help="Package events (write_package) inside the timed loop."),
    compare: bool = typer.Option(True, "--compare/--no-compare", help="Also run the ultralytics loop side by side (needs ultralytics)."),
    compare_model: str = typer.Option("helmet_yolov12m", "--compare-model", help="YOLOv8-layout registry model for the comparison."),
    compare_frames: int = typer.Option(24, "--compare-frames", min=1, help="Frames for the comparison (every frame detected)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of tables."),
) -> None:
    """Benchmark the pipeline on a real clip: ms per frame and share per stage, fps, efficiency, memory."""
    from models.registry import ModelMissingError
    from pipelines.bench.figures import BenchError
    from pipelines.bench.inputs import UPSCALES, BenchOptions, default_video, prepare, upscaled_clip
    from pipelines.bench.report import format_report
    from pipelines.bench.run import run_bench
    from vision.sources.ffmpeg.errors import DecodeError

    mode = (upscale if upscale != "auto" else ("none" if video else "1080p")).lower()
    if mode != "none" and mode not in UPSCALES:
        raise fail(f"--upscale {upscale!r}: expected one of auto, none, {', '.join(UPSCALES)}")
    video = video or default_video()
    if not video.is_file():
        raise fail(f"video not found: {video} (give --video or set EPOLICE_SHARED)")
    try:
        counts = tuple(sorted({int(c) for c in cameras.split(",") if c.strip()}))
    except ValueError:
        raise fail(f"--cameras {cameras!r}: expected camera counts like 1,4") from None
    if not counts or min(counts) < 1:
        raise fail(f"--cameras {cameras!r}: counts must be >= 1")
    site_cfg = load_site_or_exit(site) if site is not None else None
    progress = (lambda msg: typer.echo(msg, err=True)) if not as_json else (lambda msg: None)
    try:
        base = None
        if mode != "none":
            base, video = video, upscaled_clip(video, UPSCALES[mode], progress)
        site_cfg, cam = prepare(video, site_cfg, camera, model, detect_fps, upscaled_from=base)
        opts = BenchOptions(
            video=video, site=site_cfg, camera_id=cam.id, upscaled_from=base, frames=frames, repeat=repeat, threads=threads,
            cameras=counts, plates=plates, evidence=evidence, compare=compare, compare_model=compare_model, compare_frames=compare_frames,
        )
        report = run_bench(opts, progress)
    except (BenchError, DecodeError, ModelMissingError) as exc:
        raise fail(str(exc))
    except KeyError as exc:  # unknown camera or model name
        raise fail(str(exc).strip("'\""))
    result = report.as_dict()
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    typer.echo(format_report(result))
