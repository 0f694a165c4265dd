"""`epolice eval violations`: run the engine over a video and score its events against a truth file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import eval_app, fail


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


@eval_app.command("violations")
def eval_violations(
    video: Path = typer.Option(..., "--video", help="Recorded video to run the engine on."),
    site: Path = typer.Option(..., "--site", help="Site YAML (zones in the video's pixels)."),
    truth: Path = typer.Option(..., "--truth", help="Ground-truth YAML: events by rule, time span, box."),
    camera: Optional[str] = typer.Option(None, "--camera", help="Camera id in the site file (default: the first)."),
    slack: float = typer.Option(2.0, "--slack", help="Seconds of tolerance when matching time spans."),
    threads: Optional[int] = typer.Option(None, "--threads", help="ONNX Runtime intra-op threads."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of a table."),
) -> None:
    """Per-rule precision and recall of the violation engine on one video."""
    from models.registry import ModelMissingError
    from pipelines.config import SiteConfigError, load_site
    from pipelines.violation_eval import TruthError, load_truth, run_video, score
    from vision.sources.ffmpeg.errors import DecodeError

    if not video.is_file():
        raise fail(f"video not found: {video}")
    try:
        site_cfg = load_site(site)
        truth_file = load_truth(truth)
        if camera is not None:
            site_cfg.camera(camera)
    except (SiteConfigError, TruthError, KeyError) as exc:
        raise fail(str(exc).strip("'\""))
    started = time.perf_counter()
    try:
        spans, stats = run_video(video, site_cfg, camera or truth_file.camera, threads=threads)
    except ModelMissingError as exc:
        raise fail(str(exc))
    except (DecodeError, ValueError, KeyError) as exc:
        raise fail(str(exc).strip("'\""))
    stats["wall_s"] = round(time.perf_counter() - started, 2)
    report = score(spans, truth_file, slack_s=slack)
    report.stats = stats
    result = {"video": str(video), "site": str(site), "truth": str(truth), **report.as_dict()}
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    typer.echo(f"{'rule':<11} {'tp':>3} {'fp':>3} {'fn':>3} {'precision':>9} {'recall':>7}")
    for s in report.scores.values():
        typer.echo(f"{s.rule:<11} {s.tp:>3} {s.fp:>3} {s.fn:>3} {_fmt(s.precision):>9} {_fmt(s.recall):>7}")
    for e in result["events"]:
        mark = "match" if e["matched"] else "FALSE"
        typer.echo(f"  {mark:<5} {e['rule']:<10} track {e['track_id']:<4} {e['start_s']:7.2f}-{e['end_s']:7.2f} s  {e['facts']}")
    ms = stats["ms_per_frame"]
    typer.echo(
        f"{stats['frames']} frames ({stats['detect_frames']} detected) of {stats['video_seconds']} s in {stats['wall_s']} s; "
        f"ms/frame detect {ms['detect']:.1f} track {ms['track']:.2f} attributes {ms['attributes']:.2f} rules {ms['rules']:.2f}"
    )
