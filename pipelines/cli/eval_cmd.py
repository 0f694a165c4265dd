"""`epolice eval detect|violations|plates|riders|scenes`: accuracy against labelled data, as text or one JSON object.

Each command checks its inputs (one error line each), calls one evaluation in ``pipelines.eval``
and prints its report.
"""

from __future__ import annotations

import json
import math
import time
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import eval_app
from pipelines.cli.common import ThreadsOpt, detector_or_exit, fail, load_site_or_exit


class LabelFormat(str, Enum):
    voc = "voc"
    yolo = "yolo"


def _num(value: Optional[float], digits: int, missing: str = "-") -> str:
    """A figure with ``digits`` decimals; ``missing`` for an undefined one (None or NaN)."""
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _cell(value: Optional[float]) -> str:
    """A cell of the detection table (its dash keeps the columns aligned)."""
    return _num(value, 3, missing="  -  ")


def _json_safe(obj):  # noqa: ANN001, ANN202
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
    threads: Optional[int] = ThreadsOpt,
    as_json: bool = typer.Option(False, "--json", help="One JSON object with the same figures."),
) -> None:
    """Per-class precision, recall and AP50 on labelled images, plus rider boxes and head accuracy."""
    from models.domain import DOMAIN_CLASSES
    from pipelines.eval.detection import evaluate
    from pipelines.eval.labelled_images import LabelError, read_voc_dir, read_yolo_dir

    detector = detector_or_exit(model, ap_conf, 0.45, threads)
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
        typer.echo(f"{r.name:<20} {r.labels:>6} {r.predictions:>6} {r.true_positives:>5} {_cell(r.precision):>6} {_cell(r.recall):>6} {_cell(r.ap50):>6}")
    typer.echo(f"mAP50 (labelled classes): {_cell(report.mean_ap50)}")
    if report.head_accuracy:
        h = report.head_accuracy
        typer.echo(f"head classification: {h.correct}/{h.matched} matched heads right = {_cell(h.accuracy)} ({h.labelled_heads} labelled heads)")
        for truth, guesses in sorted(h.per_class.items()):
            typer.echo(f"  labelled {truth}: " + ", ".join(f"{g} {n}" for g, n in sorted(guesses.items())))
    if report.ignored_labels:
        typer.echo("ignored label classes: " + ", ".join(f"{k} ({v} images)" for k, v in sorted(report.ignored_labels.items())))


@eval_app.command("violations")
def eval_violations(
    video: Optional[Path] = typer.Option(None, "--video", help="Recorded video to run the engine on."),
    site: Optional[Path] = typer.Option(None, "--site", help="Site YAML (zones in the video's pixels)."),
    truth: Optional[Path] = typer.Option(None, "--truth", help="Ground-truth YAML: events by rule, time span, box."),
    suite: Optional[Path] = typer.Option(
        None, "--suite", help="A rendered scenario suite (epolice eval scenes --out DIR) instead of one video."
    ),
    mode: list[str] = typer.Option(
        [], "--mode", help="Suite modes to run: calibrated, uncalibrated, no_lanes (repeat; default all)."
    ),
    camera: Optional[str] = typer.Option(None, "--camera", help="Camera id in the site file (default: the first)."),
    slack: float = typer.Option(2.0, "--slack", help="Seconds of tolerance when matching time spans."),
    threads: Optional[int] = ThreadsOpt,
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of a table."),
) -> None:
    """Per-rule precision and recall of the violation engine on one video, or on the scenario suite."""
    if suite is not None:
        return _eval_suite(suite, mode, threads, as_json)
    if video is None or site is None or truth is None:
        raise fail("give --video, --site and --truth, or --suite DIR")
    from models.registry import ModelMissingError
    from pipelines.eval.violations import TruthError, load_truth, run_video, score
    from vision.sources.ffmpeg.errors import DecodeError

    if not video.is_file():
        raise fail(f"video not found: {video}")
    site_cfg = load_site_or_exit(site)
    try:
        truth_file = load_truth(truth)
        if camera is not None:
            site_cfg.camera(camera)
    except (TruthError, KeyError) as exc:
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
        typer.echo(f"{s.rule:<11} {s.tp:>3} {s.fp:>3} {s.fn:>3} {_num(s.precision, 2):>9} {_num(s.recall, 2):>7}")
    for e in result["events"]:
        mark = "match" if e["matched"] else "FALSE"
        typer.echo(f"  {mark:<5} {e['rule']:<10} track {e['track_id']:<4} {e['start_s']:7.2f}-{e['end_s']:7.2f} s  {e['facts']}")
    ms = stats["ms_per_frame"]
    typer.echo(
        f"{stats['frames']} frames ({stats['detect_frames']} detected) of {stats['video_seconds']} s in {stats['wall_s']} s; "
        f"ms/frame detect {ms['detect']:.1f} track {ms['track']:.2f} attributes {ms['attributes']:.2f} rules {ms['rules']:.2f}"
    )
    for w in stats.get("decode_warnings", []):
        typer.echo(f"video ok, with {w}")


def _eval_suite(suite: Path, modes: list[str], threads: Optional[int], as_json: bool) -> None:
    from models.registry import ModelMissingError
    from pipelines.config import SiteConfigError
    from pipelines.eval.scenes.report import suite_lines, suite_report
    from pipelines.eval.scenes.suite import MODES, run_suite

    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise fail(f"unknown --mode {unknown[0]!r}; expected one of {', '.join(MODES)}")

    def progress(res) -> None:  # noqa: ANN001
        if not as_json:
            bad = any(s.fp or s.fn for s in res.scores.values())
            typer.echo(f"  {res.mode:<12} {res.split:<8} {'WRONG' if bad else 'ok':<5} {res.name}", err=True)

    try:
        results = run_suite(suite, tuple(modes) or MODES, threads=threads, progress=progress)
    except (FileNotFoundError, ModelMissingError, SiteConfigError, ValueError) as exc:
        raise fail(str(exc))
    report = suite_report(results)
    if as_json:
        typer.echo(json.dumps(_json_safe({"suite": str(suite), **report}), ensure_ascii=False))
        return
    for line in suite_lines(report):
        typer.echo(line)


@eval_app.command("scenes")
def eval_scenes(
    out: Path = typer.Option(..., "--out", help="Folder to render the scenario suite into."),
    data: Path = typer.Option(Path("../shared/data"), "--data", help="The shared data folder (videos, cctv crops)."),
    only: list[str] = typer.Option([], "--only", help="Render only these scenes (repeat)."),
) -> None:
    """Render the scenario suite (perspective scenes on the real clips' backgrounds, a truth file each)."""
    from pipelines.eval.scenes.suite import write_suite

    for need in (data / "videos", data / "cctv" / "train"):
        if not need.is_dir():
            raise fail(f"{need} not found; pass --data with the shared data folder")
    try:
        names = write_suite(out, data, list(only) or None, progress=lambda n: typer.echo(f"  rendered {n}", err=True))
    except ValueError as exc:
        raise fail(str(exc))
    typer.echo(f"{len(names)} scenes in {out}; score them with: epolice eval violations --suite {out}")


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
    from pipelines.eval.plates import evaluate

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
    from pipelines.eval.plate_crops import evaluate_crops

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
        ref = r.referee[part]
        lines.append(f"  {part:<9} province referee: read {ref.read}, confirmed {ref.confirmed}, wrong {ref.wrong_confirmed}")
    lines.append(f"ms per crop {r.ms_per_crop:.1f} (CPU {r.cpu_ms_per_crop:.1f}; batches of {r.batch}, {r.threads} thread(s))")
    for name, classes in r.reader_failures.items():
        lines.append(f"{name} failures: " + ", ".join(f"{k} {v}" for k, v in sorted(classes.items(), key=lambda kv: -kv[1]) if k != "right"))
    for f in r.wrong_confirmed:
        lines.append(f"  WRONG CONFIRMED {f.file} [{f.part}]: {f.truth} -> {f.candidates[0]} (reads {f.reads})")
    for line in lines:
        typer.echo(line)


@eval_app.command("riders")
def eval_riders(
    images: Path = typer.Option(..., "--images", help="Image folder (the truth's `file` paths are resolved under it or by name)."),
    truth: Path = typer.Option(..., "--truth", help="riders.jsonl: one labelled motorcycle box per line."),
    site: Optional[Path] = typer.Option(None, "--site", help="Site YAML whose models/rules/engine/tracker sections to use (default: built-in defaults)."),
    frame: Optional[list[str]] = typer.Option(None, "--frame", help="Only images with this file name (repeatable), e.g. frame1125.jpg."),
    part: Optional[str] = typer.Option(None, "--part", help="Only one part of the fixed split: tune or held_out (default: both)."),
    heading: Optional[list[str]] = typer.Option(
        None, "--heading", help="WxH=DEG: traffic direction in frames of that size (0 = right, 90 = down), for rider roles (repeatable)."
    ),
    helmet_conf: Optional[float] = typer.Option(None, "--helmet-conf", min=0.001, max=1.0, help="Override models.helmet_conf (helmet-model threshold)."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", min=0.001, max=1.0, help="Override rules.helmet.min_confidence."),
    min_head_px: Optional[float] = typer.Option(None, "--min-head-px", min=1.0, help="Override engine.judge.min_head_px."),
    head_classifier: Optional[str] = typer.Option(
        None, "--head-classifier", help="Override models.head_classifier ('none': the helmet model reads head regions)."
    ),
    single_crops: bool = typer.Option(
        False, "--single-crops", help="One helmet-model call per rider region instead of packed tiles (engine.heads.tile: false), to compare."
    ),
    threads: Optional[int] = ThreadsOpt,
    show_bikes: bool = typer.Option(False, "--bikes", help="Also list every labelled bike with what was seen on it."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object with the same figures."),
) -> None:
    """Judged share, helmets per rider and per bike, rider counts, roles and cost, tuning and held-out parts apart."""
    from models.registry import ModelMissingError
    from pipelines.config import CameraConfig, SiteConfig
    from pipelines.eval.rider_truth import PARTS, RiderTruthError, image_path, load_rider_truth
    from pipelines.eval.riders import evaluate
    from pipelines.site_models import detectors_from_site

    if not images.is_dir():
        raise fail(f"--images: {images} is not a folder")
    if part is not None and part not in PARTS:
        raise fail(f"--part: {part!r}; expected one of {', '.join(PARTS)}")
    headings: dict[tuple[int, int], float] = {}
    for text in heading or []:
        try:
            size, deg = text.split("=")
            w, h = (int(v) for v in size.lower().split("x"))
            headings[(w, h)] = float(deg) % 360
        except ValueError:
            raise fail(f"--heading: {text!r}; expected WxH=DEG, e.g. 1920x1080=210")
    try:
        rows = load_rider_truth(truth)
    except RiderTruthError as exc:
        raise fail(str(exc))
    site_cfg = load_site_or_exit(site) if site else SiteConfig(id="eval", cameras=[CameraConfig(id="eval", source="-", frame_size=(1, 1))])
    wanted = set(frame) if frame else None
    if wanted and not any(Path(r.file).name in wanted for r in rows):
        raise fail(f"--frame: none of {', '.join(sorted(wanted))} is labelled in {truth}")
    if helmet_conf is not None:
        site_cfg.models.helmet_conf = helmet_conf
    if min_confidence is not None:
        site_cfg.rules.helmet.min_confidence = min_confidence
    if min_head_px is not None:
        site_cfg.engine.judge.min_head_px = min_head_px
    if head_classifier is not None:
        site_cfg.models.head_classifier = None if head_classifier == "none" else head_classifier
    if single_crops:
        site_cfg.engine.heads.tile = False
    try:  # cheap checks before the models load
        for name in sorted({r.file for r in rows}):
            image_path(images, name)
    except FileNotFoundError as exc:
        raise fail(str(exc))
    if not site_cfg.models.helmet:
        raise fail("models.helmet is null in the site file: the helmet model is needed to evaluate riders")
    camera = site_cfg.cameras[0].model_copy(update={"rules": ["helmet", "passengers"]})
    try:
        detector, helmet = detectors_from_site(site_cfg.model_copy(update={"cameras": [camera]}), threads=threads)
        report = evaluate(rows, images, site_cfg, detector, helmet, headings, wanted, part)
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
    _print_riders(report, data if show_bikes else None)


def _print_riders(r, data: Optional[dict]) -> None:  # noqa: ANN001 - a RiderEvalReport
    typer.echo(
        f"{r.images} images, {r.labelled_boxes} labelled bikes, {r.judgeable} judgeable (helmet_conf {r.helmet_conf}, "
        f"min_confidence {r.min_confidence}, min_head_px {r.min_head_px}, {'packed tiles' if r.tiles else 'single crops'})"
    )
    for part, p in r.parts.items():
        if not p["bikes"]:
            continue
        typer.echo(f"== {part}: {p['bikes']} bikes, {p['matched']} matched to a detected two-wheeler, helmet model looked at {p['helmet_checked']}")
        typer.echo(f"  judged riders: {p['judged_riders']} of {p['labelled_riders']} labelled (share {_num(p['judged_share'], 3)}); "
                   f"judged bikes {p['judged_bikes']}")
        nr, nb = p["no_helmet_riders"], p["no_helmet_bikes"]
        typer.echo(f"  no-helmet riders (judged): tp {nr['tp']} fp {nr['fp']} fn {nr['fn']}; precision {_num(nr['precision'], 3)} "
                   f"recall {_num(nr['recall'], 3)}")
        typer.echo(f"  bikes with a rider without helmet: {nb['positives']} labelled; tp {nb['tp']} fp {nb['fp']} fn {nb['fn']}; "
                   f"precision {_num(nb['precision'], 3)} recall {_num(nb['recall'], 3)}")
        typer.echo(f"  rider count: exact {_num(p['count_exact'], 3)} (judged bikes {_num(p['count_exact_judged'], 3)}), "
                   f"within 1 {_num(p['count_within_1'], 3)}; role accuracy {_num(p['role_accuracy'], 3)} on {p['role_bikes']} bikes")
        for label, row in p["rider_confusion"].items():
            typer.echo(f"    {label:<10} " + "  ".join(f"{k} {v:>3}" for k, v in row.items()))
        s = p["passengers"]
        typer.echo(f"  passengers (riders > {r.max_people}): {s['positives']} labelled; tp {s['tp']} fp {s['fp']} fn {s['fn']}")
        for cam, c in r.cameras.get(part, {}).items():
            nr = c["no_helmet_riders"]
            typer.echo(f"  camera {cam}: {c['bikes']} bikes, judged share {_num(c['judged_share'], 3)}, no-helmet riders "
                       f"tp {nr['tp']} fp {nr['fp']} fn {nr['fn']}, count exact (judged bikes) {_num(c['count_exact_judged'], 3)}")
    typer.echo(
        f"cost: detector {r.detect_ms_per_image:.0f} ms/image; attributes {r.attributes_ms_per_vehicle:.0f} ms per ridden vehicle; "
        f"helmet model {r.helmet_ms_per_vehicle:.0f} ms per vehicle looked at ({r.helmet_vehicles} vehicles in {r.helmet_calls} calls)"
    )
    for note in r.notes:
        typer.echo(f"note: {note}")
    for b in (data or {}).get("bikes", []):
        short = {"helmet": "H", "no_helmet": "N", "not_judgeable": "?"}
        heads = ", ".join(f"{short[h['status']]}{h['confidence']:.2f}/{h['size_px']:.0f}px/{h['source'][0]}{('/' + h['role'][0]) if h['role'] else ''}"
                          for h in b["heads"]) or "-"
        typer.echo(f"  [{b['part']}] {b['file']} {b['bbox']} riders {b['riders']} {b['helmets']} -> count {b['count']} persons {b['persons']} heads {heads}")
