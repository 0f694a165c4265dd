"""`epolice detect IMAGE...`: run a registry detector on images, print (and optionally draw) its boxes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import app
from pipelines.cli.common import ThreadsOpt, detector_or_exit, fail


@app.command("detect")
def detect(
    images: list[Path] = typer.Argument(..., help="Image files."),
    model: str = typer.Option("yolov5n_coco", "--model", "-m", help="Registry model name (see `epolice models list`)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write annotated copies here."),
    conf: float = typer.Option(0.25, "--conf", help="Confidence threshold."),
    iou: float = typer.Option(0.45, "--iou", help="NMS IoU threshold."),
    threads: Optional[int] = ThreadsOpt,
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of text."),
) -> None:
    """Detect objects in images: prints class, confidence and box per detection."""
    import cv2

    from vision.annotate import draw_detections

    frames = []
    for path in images:
        frame = cv2.imread(str(path)) if path.is_file() else None
        if frame is None:
            raise fail(f"cannot read image {path} (missing or not an image)")
        frames.append(frame)
    detector = detector_or_exit(model, conf, iou, threads)
    results = detector.detect(frames)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    report = {"model": detector.model_version, "images": []}
    for path, frame, dets in zip(images, frames, results):
        entry = {
            "image": str(path),
            "detections": [
                {"class": str(name), "confidence": round(float(c), 4), "xyxy": [round(float(v), 1) for v in box]}
                for name, c, box in zip(dets.class_name, dets.confidence, dets.xyxy)
            ],
        }
        if out is not None:
            target = out / f"{path.stem}_det{path.suffix or '.jpg'}"
            cv2.imwrite(str(target), draw_detections(frame, dets))
            entry["annotated"] = str(target)
        report["images"].append(entry)
    if as_json:
        typer.echo(json.dumps(report))
        return
    for entry in report["images"]:
        counts: dict[str, int] = {}
        for d in entry["detections"]:
            counts[d["class"]] = counts.get(d["class"], 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing"
        typer.echo(f"{entry['image']}: {summary} ({report['model']})")
        for d in entry["detections"]:
            x1, y1, x2, y2 = d["xyxy"]
            typer.echo(f"  {d['class']:<15} {d['confidence']:.2f}  [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}]")
        if "annotated" in entry:
            typer.echo(f"  -> {entry['annotated']}")
