"""`epolice eval plates`: double-read plate figures on labelled photos, or the recognisers alone on crops."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import eval_app, fail


def _figure_lines(title: str, figures: dict) -> list[str]:
    lines = [f"{title}:", f"  {'part':<9} {'plates':>6} {'wrong conf':>10} {'confirmed':>9} {'exact conf':>10} "
             f"{'exact all':>9} {'unconf':>7} {'unread':>7}"]
    for part in ("tuned", "held_out", "all"):
        f = figures[part]
        lines.append(f"  {part:<9} {f.plates:>6} {f.wrong_confirmed:>10} {f.confirmed_share:>9.1%} {f.exact_on_confirmed:>10.1%} "
                     f"{f.exact_overall:>9.1%} {f.unconfirmed_share:>7.1%} {f.unreadable_share:>7.1%}")
    return lines


@eval_app.command("plates")
def eval_plates(
    images: Optional[Path] = typer.Option(None, "--images", help="Folder of the labelled photos (or the folder holding images/)."),
    truth: Optional[Path] = typer.Option(None, "--truth", help="plates.jsonl: one JSON object per photo."),
    crops: Optional[Path] = typer.Option(None, "--crops", help="labels.jsonl of plate crops: score the two recognisers alone."),
    threads: int = typer.Option(1, "--threads", help="onnxruntime intra-op threads (1 = the single-core figure)."),
    timing_runs: int = typer.Option(3, "--timing-runs", min=1, help="Runs per plate for ms per plate (best kept)."),
    batch: int = typer.Option(8, "--batch", min=1, help="--crops: crops read per batch."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="--crops: only the first N crops."),
    second_detector: str = typer.Option("plate_det_y5fu_320", "--second-detector", help="y5fu model: plate_det_y5fu_320 or _640."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of text."),
) -> None:
    """Wrong confirmed reads, confirmed share, exact on confirmed / overall, unconfirmed share, ms per plate
    (tuned and held-out parts apart); detection recall and colour accuracy on photos."""
    import cv2

    from models.registry import ModelMissingError
    from vision.plates.reader import PlateReader

    if crops is None and (truth is None or images is None):
        raise fail("give --images and --truth (labelled photos), or --crops labels.jsonl (plate crops)")
    if crops is not None and not crops.is_file():
        raise fail(f"--crops {crops}: no such file")
    if crops is None and not truth.is_file():
        raise fail(f"--truth {truth}: no such file")
    if crops is None and not images.is_dir():
        raise fail(f"--images {images}: no such folder")
    cv2.setNumThreads(max(1, threads))  # resize/warp threads count too in a one-core figure
    try:
        reader = PlateReader.from_registry(threads=threads, providers=["CPUExecutionProvider"],
                                           second_detector_model=second_detector)
    except (ModelMissingError, KeyError) as exc:
        raise fail(str(exc).strip("'\""))
    if crops is not None:
        _crops(reader, crops, batch, limit, threads, as_json)
        return
    from vision.plates.evaluation import evaluate

    try:
        report = evaluate(reader, truth, images, threads=threads, timing_runs=timing_runs)
    except (ValueError, FileNotFoundError) as exc:
        raise fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report.model_dump(), ensure_ascii=False))
        return
    r = report
    lines = [
        f"images {r.images}, sure plates {r.sure_plates}; held out: {r.held_out_rule}",
        *_figure_lines("photo path (read_image)", r.figures),
        *_figure_lines("product path (read_track, one vehicle-sized crop)", r.track_figures),
        f"wrong confirmed reads   {r.wrong_confirmed_reads}  (sure plates + negatives)",
        f"exact (best candidate)  {r.exact_match:6.1%}  ({r.exact_correct}/{r.sure_plates})",
        f"character accuracy      {r.char_accuracy:6.1%}",
        f"detection recall (sure) {r.detection_recall:6.1%}   (all labelled: {r.detection_recall_all:.1%})",
        f"colour accuracy         {r.color_accuracy:6.1%}  ({r.color_checked} detected plates)",
        f"ms per plate            {r.ms_per_plate:6.1f}  (median {r.ms_per_plate_median:.1f}, p90 {r.ms_per_plate_p90:.1f}; "
        f"vehicle crop, {r.threads} thread(s))",
        f"CPU ms per plate        {r.cpu_ms_per_plate:6.1f}  (process time of the same runs)",
        f"ms per photo            {r.ms_per_image:6.1f}",
        f"negatives               {r.negatives_with_confirmed}/{r.negative_images} with a confirmed plate, "
        f"{r.negatives_with_false_plates} with any candidate ({r.negatives_with_detections} with any detection)",
    ]
    for line in lines:
        typer.echo(line)
    if r.failures:
        typer.echo("not confirmed right:")
        for f in r.failures:
            got = f.read or (f"candidates {', '.join(f.candidates)}" if f.candidates else "-")
            typer.echo(f"  {f.file}: {f.truth} -> {f.status} {got}: {f.reason} [{', '.join(f.tags)}]")


def _crops(reader, labels: Path, batch: int, limit: int | None, threads: int, as_json: bool) -> None:
    from vision.plates.crops_eval import evaluate_crops

    try:
        r = evaluate_crops(reader, labels, batch=batch, limit=limit, threads=threads)
    except (ValueError, FileNotFoundError) as exc:
        raise fail(str(exc))
    if as_json:
        typer.echo(json.dumps(r.model_dump(), ensure_ascii=False))
        return
    lines = [f"crops {r.crops}; held out: {r.held_out_rule}", *_figure_lines("double read", r.figures), "readers alone:"]
    for part in ("tuned", "held_out", "all"):
        for name, f in r.readers[part].items():
            lines.append(f"  {part:<9} {name:<9} raw exact {f.raw_exact:6.1%}  grammar exact {f.grammar_exact:6.1%}  "
                         f"grammar-valid {f.valid_share:6.1%}")
        lines.append(f"  {part:<9} raw reads identical {r.agreement_raw[part]:6.1%}")
    lines.append(f"ms per crop {r.ms_per_crop:.1f} (CPU {r.cpu_ms_per_crop:.1f}; batches of {r.batch}, {r.threads} thread(s))")
    for name, classes in r.reader_failures.items():
        lines.append(f"{name} failures: " + ", ".join(f"{k} {v}" for k, v in sorted(classes.items(), key=lambda kv: -kv[1]) if k != "right"))
    for f in r.wrong_confirmed:
        lines.append(f"  WRONG CONFIRMED {f.file} [{f.part}]: {f.truth} -> {f.candidates[0]} (reads {f.reads})")
    for line in lines:
        typer.echo(line)
