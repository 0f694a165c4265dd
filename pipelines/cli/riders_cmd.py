"""`epolice eval riders`: the engine's rider attributes (counts, passengers, helmets) on labelled CCTV riders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import eval_app, fail


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@eval_app.command("riders")
def eval_riders(
    images: Path = typer.Option(..., "--images", help="Image folder (the truth's `file` paths are resolved under it or by name)."),
    truth: Path = typer.Option(..., "--truth", help="riders.jsonl: one labelled motorcycle box per line."),
    site: Optional[Path] = typer.Option(None, "--site", help="Site YAML whose models/rules/engine/tracker sections to use (default: built-in defaults)."),
    frame: Optional[list[str]] = typer.Option(None, "--frame", help="Only images with this file name (repeatable), e.g. frame1125.jpg."),
    helmet_conf: Optional[float] = typer.Option(None, "--helmet-conf", min=0.001, max=1.0, help="Override models.helmet_conf (helmet-model threshold)."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", min=0.001, max=1.0, help="Override rules.helmet.min_confidence."),
    threads: Optional[int] = typer.Option(None, "--threads", help="ONNX Runtime intra-op threads."),
    show_bikes: bool = typer.Option(False, "--bikes", help="Also list every labelled bike with what was seen on it."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object with the same figures."),
) -> None:
    """Rider-count accuracy, passenger-violation and no-helmet detection per labelled bike, ms per vehicle."""
    from models.registry import ModelMissingError
    from pipelines.cli.detect_cmd import _json_safe
    from pipelines.config import CameraConfig, SiteConfig, SiteConfigError, load_site
    from pipelines.engine import detectors_from_site
    from pipelines.rider_eval import RiderTruthError, evaluate, image_path, load_rider_truth

    if not images.is_dir():
        raise fail(f"--images: {images} is not a folder")
    try:
        rows = load_rider_truth(truth)
        site_cfg = load_site(site) if site else SiteConfig(id="eval", cameras=[CameraConfig(id="eval", source="-", frame_size=(1, 1))])
    except (RiderTruthError, SiteConfigError) as exc:
        raise fail(str(exc))
    if frame:
        wanted = set(frame)
        rows = [r for r in rows if Path(r.file).name in wanted]
        if not rows:
            raise fail(f"--frame: none of {', '.join(sorted(wanted))} is labelled in {truth}")
    if helmet_conf is not None:
        site_cfg.models.helmet_conf = helmet_conf
    if min_confidence is not None:
        site_cfg.rules.helmet.min_confidence = min_confidence
    try:  # cheap checks before the models load
        for name in sorted({r.file for r in rows}):
            image_path(images, name)
    except FileNotFoundError as exc:
        raise fail(str(exc))
    if not site_cfg.models.helmet:
        raise fail("models.helmet is null in the site file: the helmet model is needed to evaluate riders")
    camera = site_cfg.cameras[0].model_copy(update={"rules": ["helmet", "passengers"]})
    try:
        detector, helmet = detectors_from_site(site_cfg.model_copy(update={"cameras": [camera]}), camera, threads=threads)
        report = evaluate(rows, images, site_cfg, detector, helmet)
    except ModelMissingError as exc:
        raise fail(str(exc))
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc))
    data = report.to_dict()
    if not show_bikes:
        data.pop("bikes")
    if as_json:
        typer.echo(json.dumps(_json_safe(data)))
        return
    r = report
    typer.echo(
        f"{r.images} images, {r.labelled_boxes} labelled bikes, {r.judgeable} judgeable, {r.matched} matched to a detected "
        f"two-wheeler, helmet model looked at {r.helmet_checked} (helmet_conf {r.helmet_conf}, min_confidence {r.min_confidence})"
    )
    typer.echo(f"rider count: exact {_fmt(r.count_exact)}, within 1 {_fmt(r.count_within_1)}")
    for label, row in r.count_confusion.items():
        typer.echo(f"  {label} labelled: " + ", ".join(f"{n} counted {k}" for k, n in row.items()))
    for name, s in (("passengers (riders > %d)" % r.max_people, r.passengers), ("bikes with a rider without helmet", r.no_helmet_bikes)):
        typer.echo(
            f"{name}: {s['positives']} labelled; tp {s['tp']} fp {s['fp']} fn {s['fn']}; "
            f"precision {_fmt(s['precision'])} recall {_fmt(s['recall'])}"
        )
    typer.echo("riders by labelled helmet class -> read as (most favourable pairing):")
    for label, row in r.rider_confusion.items():
        typer.echo(f"  {label:<10} " + "  ".join(f"{k} {v:>3}" for k, v in row.items()))
    typer.echo(f"  heads beyond the labelled riders: {r.extra_heads}")
    typer.echo(
        f"cost: detector {r.detect_ms_per_image:.0f} ms/image; attributes {r.attributes_ms_per_vehicle:.0f} ms per ridden vehicle; "
        f"helmet model {r.helmet_ms_per_vehicle:.0f} ms per vehicle looked at ({r.helmet_vehicles} vehicles in {r.helmet_calls} calls)"
    )
    for note in r.notes:
        typer.echo(f"note: {note}")
    if show_bikes:
        for b in data["bikes"]:
            heads = ", ".join(("H" if h["helmet"] else "N") + f"{h['confidence']:.2f}" for h in b["heads"]) or "-"
            typer.echo(f"  {b['file']} {b['bbox']} riders {b['riders']} {b['helmets']} -> count {b['count']} persons {b['persons']} heads {heads}")
