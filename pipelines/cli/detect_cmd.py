"""`epolice detect IMAGE...` and `epolice eval detect`: run a registry detector, print or score its boxes."""

from __future__ import annotations

import json
import math
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import app, eval_app, fail


class LabelFormat(str, Enum):
    voc = "voc"
    yolo = "yolo"


def _detector(model: str, conf: float, iou: float, threads: Optional[int]):
    """A Detector, or one clean error line naming the fix (missing/corrupt/unknown model)."""
    from models.registry import ModelMissingError, Registry
    from vision.detector import Detector

    registry = Registry()
    if model not in registry.names():
        raise fail(f"unknown model {model!r}; known: {', '.join(registry.names())}")
    try:
        return Detector(registry, model, conf=conf, iou=iou, threads=threads)
    except ModelMissingError as exc:
        raise fail(str(exc))
    except ValueError as exc:
        raise fail(str(exc))


@app.command("detect")
def detect(
    images: list[Path] = typer.Argument(..., help="Image files."),
    model: str = typer.Option("yolov5n_coco", "--model", "-m", help="Registry model name (see `epolice models list`)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write annotated copies here."),
    conf: float = typer.Option(0.25, "--conf", help="Confidence threshold."),
    iou: float = typer.Option(0.45, "--iou", help="NMS IoU threshold."),
    threads: Optional[int] = typer.Option(None, "--threads", help="ONNX Runtime intra-op threads."),
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
    detector = _detector(model, conf, iou, threads)
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


def _fmt(value: float) -> str:
    return "  -  " if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _json_safe(obj):
    """NaN (an undefined precision/recall) becomes null so the output is strict JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


@eval_app.command("detect")
def eval_detect(
    images: Path = typer.Option(..., "--images", help="Image folder (YOLO: the folder holding images/ and labels/)."),
    labels: LabelFormat = typer.Option(..., "--labels", help="Label format: voc (xml per image) or yolo (txt per image)."),
    labels_dir: Optional[Path] = typer.Option(None, "--labels-dir", help="Label folder if not beside the images."),
    model: str = typer.Option("yolov5n_coco", "--model", "-m", help="Registry model name."),
    yolo_names: Optional[str] = typer.Option(
        None, "--yolo-names", help="Comma-separated domain class per YOLO label id (default: the model's class map)."
    ),
    conf: float = typer.Option(0.25, "--conf", help="Operating threshold for precision/recall."),
    ap_conf: float = typer.Option(0.001, "--ap-conf", help="Lowest confidence kept for the AP curve."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N labelled images (sorted by name)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="ONNX Runtime intra-op threads."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object with the same figures."),
) -> None:
    """Per-class precision, recall and AP50 on labelled images, plus rider boxes and head accuracy."""
    from models.domain import DOMAIN_CLASSES
    from pipelines.detection_eval import evaluate
    from pipelines.labelled_images import LabelError, read_voc_dir, read_yolo_dir

    detector = _detector(model, ap_conf, 0.45, threads)
    try:
        if labels is LabelFormat.voc:
            items = read_voc_dir(images, labels_dir)
        else:
            if yolo_names:
                names = [n.strip() or None for n in yolo_names.split(",")]
                bad = [n for n in names if n is not None and n not in DOMAIN_CLASSES]
                if bad:
                    raise fail(f"--yolo-names: {', '.join(bad)} not domain classes ({', '.join(DOMAIN_CLASSES)})")
                class_names = dict(enumerate(names))
            else:
                class_names = dict(detector.manifest.class_map)
            items = read_yolo_dir(images, class_names, labels_dir)
    except LabelError as exc:
        raise fail(str(exc))
    if limit:
        items = items[:limit]
    if not items:
        raise fail(f"no labelled images found in {images} ({labels.value} labels)")
    model_classes = {n for n in detector.manifest.class_map.values() if n}
    if not ({n for item in items for n in item.names} & model_classes):
        raise fail(f"model {model!r} predicts none of the labelled classes; choose another --model")
    report = evaluate(detector.detect, detector.model_version, items, model_classes, conf=conf, ap_conf=ap_conf)
    if as_json:
        typer.echo(json.dumps(_json_safe(report.to_dict())))
        return
    typer.echo(f"{report.model} on {report.images} images from {images} (conf {conf}, IoU {report.iou}; {report.ms_per_image:.0f} ms/image)")
    typer.echo(f"{'class':<20} {'labels':>6} {'preds':>6} {'TP':>5} {'prec':>6} {'recall':>6} {'AP50':>6}")
    rows = list(report.classes) + ([report.two_wheeler] if report.two_wheeler else [])
    for r in rows:
        typer.echo(f"{r.name:<20} {r.labels:>6} {r.predictions:>6} {r.true_positives:>5} {_fmt(r.precision):>6} {_fmt(r.recall):>6} {_fmt(r.ap50):>6}")
    typer.echo(f"mAP50 (labelled classes): {_fmt(report.mean_ap50)}")
    if report.head_accuracy:
        h = report.head_accuracy
        typer.echo(f"head classification: {h.correct}/{h.matched} matched heads right = {_fmt(h.accuracy)} ({h.labelled_heads} labelled heads)")
        for truth, guesses in sorted(h.per_class.items()):
            typer.echo(f"  labelled {truth}: " + ", ".join(f"{g} {n}" for g, n in sorted(guesses.items())))
    if report.ignored_labels:
        typer.echo("ignored label classes: " + ", ".join(f"{k} ({v} images)" for k, v in sorted(report.ignored_labels.items())))
