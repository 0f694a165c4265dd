"""`epolice eval plates`: plate reading accuracy and speed on labelled photos."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipelines.cli.app import eval_app, fail


@eval_app.command("plates")
def eval_plates(
    images: Path = typer.Option(..., "--images", help="Folder of the labelled photos (or the folder holding images/)."),
    truth: Path = typer.Option(..., "--truth", help="plates.jsonl: one JSON object per photo."),
    threads: int = typer.Option(1, "--threads", help="onnxruntime intra-op threads (1 = the single-core figure)."),
    timing_runs: int = typer.Option(3, "--timing-runs", min=1, help="Runs per plate for ms per plate (best kept)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of text."),
) -> None:
    """Exact-match and character accuracy (sure plates), detection recall, colour accuracy, ms per plate."""
    import cv2

    from models.registry import ModelMissingError
    from vision.plates.evaluation import evaluate
    from vision.plates.reader import PlateReader

    if not truth.is_file():
        raise fail(f"--truth {truth}: no such file")
    if not images.is_dir():
        raise fail(f"--images {images}: no such folder")
    cv2.setNumThreads(max(1, threads))  # resize/warp threads count too in a one-core figure
    try:
        reader = PlateReader.from_registry(threads=threads, providers=["CPUExecutionProvider"])
    except ModelMissingError as exc:
        raise fail(str(exc))
    try:
        report = evaluate(reader, truth, images, threads=threads, timing_runs=timing_runs)
    except (ValueError, FileNotFoundError) as exc:
        raise fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report.model_dump(), ensure_ascii=False))
        return
    r = report
    lines = [
        f"images {r.images}, sure plates {r.sure_plates}",
        f"exact match (sure)      {r.exact_match:6.1%}  ({r.exact_correct}/{r.sure_plates})",
        f"character accuracy      {r.char_accuracy:6.1%}",
        f"detection recall (sure) {r.detection_recall:6.1%}   (all labelled: {r.detection_recall_all:.1%})",
        f"colour accuracy         {r.color_accuracy:6.1%}  ({r.color_checked} detected plates)",
        f"wrong valid reads       {r.wrong_valid_reads}",
        f"track exact (1 crop)    {r.track_exact_match:6.1%}  (read_track on a vehicle-sized crop; no HK companion search)",
        f"ms per plate            {r.ms_per_plate:6.1f}  (median {r.ms_per_plate_median:.1f}, p90 {r.ms_per_plate_p90:.1f}; "
        f"vehicle crop, {r.threads} thread(s))",
        f"CPU ms per plate        {r.cpu_ms_per_plate:6.1f}  (process time of the same runs)",
        f"ms per photo            {r.ms_per_image:6.1f}",
        f"negatives               {r.negatives_with_false_plates}/{r.negative_images} with a false plate "
        f"({r.negatives_with_detections} with any detection)",
    ]
    for line in lines:
        typer.echo(line)
    if r.failures:
        typer.echo("failures:")
        for f in r.failures:
            got = f.read or (f"raw {f.raw!r}" if f.raw else "-")
            typer.echo(f"  {f.file}: {f.truth} -> {got}: {f.reason} [{', '.join(f.tags)}]")
