"""Plate reading against labelled photos (``plates.jsonl``): the figures of ``epolice eval plates``.

Accuracy counts the ``sure`` plates only. Detection recall counts a label found when a read's box
overlaps its approximate bbox (IoU >= 0.3) or either box's centre lies in the other. The double-read
figures (``figures.StatusFigures``, tuned and held-out parts apart) come first: wrong confirmed reads,
confirmed share, exact on confirmed, exact overall (the confirmed text, else the first candidate),
unconfirmed share. ``exact_match`` is that exact overall. Speed is measured on the product path: a
vehicle-sized crop around each sure plate goes through ``read_track`` (both detectors + rectify +
both recognisers + grammar + decision), so ``ms_per_plate`` is what one plate costs the engine;
``ms_per_image`` is the whole-photo ``read_image``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from models.strict import StrictModel
from pipelines.eval.plate_figures import HELD_OUT_RULE, StatusFigures, by_part, load_jsonl
from vision.detections import box_iou
from vision.plates.reader import PlateRead, PlateReader


class TruthPlate(StrictModel):
    text: str
    color: Literal["blue", "yellow", "green", "white", "black"]
    rows: int = 1
    bbox: tuple[float, float, float, float]
    confidence: Literal["sure", "unclear"]


class TruthImage(StrictModel):
    file: str
    plates: list[TruthPlate]
    source: str = ""


class PlateFailure(StrictModel):
    """A sure plate not confirmed right: unconfirmed, unreadable, missed, or (never wanted) wrong."""

    file: str
    truth: str
    read: str | None  # confirmed text
    raw: str = ""
    reason: str
    tags: list[str] = Field(default_factory=list)  # night, tilt, double-row, small, hk/macau local...
    status: str = "unreadable"
    candidates: list[str] = Field(default_factory=list)
    reads: dict[str, str] = Field(default_factory=dict)  # recogniser -> raw


class PlateEvalReport(StrictModel):
    images: int
    sure_plates: int
    held_out_rule: str
    figures: dict[str, StatusFigures]  # photo path (read_image): "tuned", "held_out", "all"
    track_figures: dict[str, StatusFigures]  # product path (read_track on one vehicle-sized crop)
    wrong_confirmed_reads: int  # sure plates confirmed as another text + confirmed plates on negatives
    exact_match: float  # over sure plates: the confirmed text, else the first candidate, is right
    exact_correct: int
    char_accuracy: float  # 1 - edit distance / length, over sure plates
    detection_recall: float  # over sure plates
    detection_recall_all: float  # over every labelled plate with a bbox
    color_accuracy: float  # over detected labelled plates
    color_checked: int
    wrong_valid_reads: int  # sure plates whose confirmed text or first candidate is a *different* plate
    track_exact_match: float  # product path: read_track on one vehicle-sized crop per sure plate (best candidate)
    ms_per_plate: float  # product path: read_track on a vehicle-sized crop, mean
    ms_per_plate_median: float
    ms_per_plate_p90: float
    cpu_ms_per_plate: float  # process CPU time of the same runs: the one-core cost even on a busy machine
    ms_per_image: float  # read_image on the whole photo, mean
    threads: int | None
    negative_images: int
    negatives_with_false_plates: int  # negative photos where any valid candidate came out
    negatives_with_confirmed: int  # negative photos where a plate was confirmed
    negatives_with_detections: int  # negative photos where the detector fired at all
    failures: list[PlateFailure]


def load_truth(path: Path) -> list[TruthImage]:
    return load_jsonl(path, TruthImage, "plate label")


def resolve_image(images_dir: Path, truth_dir: Path, file: str) -> Path:
    """Labels name files relative to the truth file (``images/x.jpg``); ``--images`` may point at that folder."""
    for candidate in (images_dir / file, images_dir / Path(file).name, truth_dir / file):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"image {file!r} not found under {images_dir} or {truth_dir}")


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _matches(read: PlateRead, bbox: tuple[float, float, float, float]) -> bool:
    if read.box is None:
        return False
    a, b = np.array(read.box, np.float32), np.array(bbox, np.float32)
    if box_iou(a, b)[0, 0] >= 0.3:
        return True

    def inside(box: np.ndarray, other: np.ndarray) -> bool:
        cx, cy = (other[0] + other[2]) / 2, (other[1] + other[3]) / 2
        return bool(box[0] <= cx <= box[2] and box[1] <= cy <= box[3])

    return inside(a, b) or inside(b, a)


def vehicle_crop(image: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """A crop shaped like a tracked vehicle's box around a labelled plate (the plate low and centred)."""
    x1, y1, x2, y2 = bbox
    w = x2 - x1
    cx = (x1 + x2) / 2
    side = 3.2 * w
    top, bottom = y2 - 0.8 * side, y2 + 0.2 * side
    H, W = image.shape[:2]
    xa, xb = int(max(0, cx - side / 2)), int(min(W, cx + side / 2))
    ya, yb = int(max(0, top)), int(min(H, bottom))
    return image[ya:yb, xa:xb]


def _tags(image: np.ndarray, plate: TruthPlate, read: PlateRead | None) -> list[str]:
    tags = []
    x1, y1, x2, y2 = (int(v) for v in plate.bbox)
    region = image[max(0, y1):y2, max(0, x1):x2]
    if float(np.median(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))) < 60:  # lit plate, dark scene
        tags.append("night")
    if plate.rows == 2:
        tags.append("double-row")
    if x2 - x1 < 80:
        tags.append("small")
    if region.size and float(cv2.Laplacian(cv2.cvtColor(region, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var()) < 100:
        tags.append("blur")
    if read is not None and read.corners is not None:
        c = np.array(read.corners, np.float32)
        edge = c[1] - c[0]
        if abs(np.degrees(np.arctan2(edge[1], edge[0]))) > 10:
            tags.append("tilt")
    if plate.text and plate.text[0].isascii():
        tags.append("hk/macau-local")
    return tags


_RANK = {"confirmed": 2, "unconfirmed": 1, "unreadable": 0}


def _pick(matched: list[PlateRead], truth: str) -> PlateRead | None:
    """The read reported for a label: the surest status first (a wrong confirmation is never hidden
    behind a right candidate), then the one whose best text is the label."""
    if not matched:
        return None
    return max(matched, key=lambda r: (_RANK[r.status], r.best == truth))


def evaluate(reader: PlateReader, truth_path: Path, images_dir: Path, threads: int | None = None,
             timing_runs: int = 3) -> PlateEvalReport:
    truth = load_truth(truth_path)
    sure = exact = wrong_valid = track_exact = 0
    char_scores: list[float] = []
    det_sure = det_all = n_all = 0
    color_ok = color_n = 0
    neg = neg_false = neg_det = neg_confirmed = 0
    image_ms: list[float] = []
    plate_ms: list[float] = []
    plate_cpu_ms: list[float] = []
    failures: list[PlateFailure] = []
    photo_pairs: list[tuple[str, str, PlateRead | None]] = []
    track_pairs: list[tuple[str, str, PlateRead | None]] = []
    for item in truth:
        image = cv2.imread(str(resolve_image(images_dir, truth_path.parent, item.file)))
        if image is None:
            raise ValueError(f"{item.file}: not a readable image")
        start = time.perf_counter()
        reads = reader.read_image(image)
        image_ms.append((time.perf_counter() - start) * 1000)
        if not item.plates:
            neg += 1
            neg_det += bool(reads)
            neg_false += any(r.best for r in reads)
            neg_confirmed += any(r.status == "confirmed" for r in reads)
            continue
        for plate in item.plates:
            matched = [r for r in reads if _matches(r, plate.bbox)]
            n_all += 1
            det_all += bool(matched)
            if matched:
                color_n += 1
                color_ok += any(r.color == plate.color for r in matched)
            if plate.confidence != "sure":
                continue
            sure += 1
            det_sure += bool(matched)
            shown = _pick(matched, plate.text)
            if (shown is None or shown.best != plate.text) and not any(r.status == "confirmed" for r in matched):
                # right text with the box off the label (e.g. a companion plate's window)
                shown = next((r for r in reads if r.best == plate.text), shown)
            photo_pairs.append((item.file, plate.text, shown))
            best = shown.best if shown else None
            if best == plate.text:
                exact += 1
                char_scores.append(1.0)
            else:
                got = best or (shown.raw if shown else "")
                char_scores.append(max(0.0, 1 - edit_distance(got, plate.text) / len(plate.text)))
                wrong_valid += best is not None
            if shown is None or shown.status != "confirmed" or shown.text != plate.text:
                reason = "not detected" if shown is None else (shown.reason or f"confirmed {shown.text!r}")
                failures.append(PlateFailure(
                    file=item.file, truth=plate.text, read=shown.text if shown else None, raw=shown.raw if shown else "",
                    reason=reason, tags=_tags(image, plate, shown), status=shown.status if shown else "unreadable",
                    candidates=[c.text for c in shown.candidates] if shown else [],
                    reads={rr.reader: rr.raw for rr in shown.reader_reads} if shown else {}))
            crop = vehicle_crop(image, plate.bbox)
            runs, cpu_runs = [], []
            for _ in range(timing_runs):
                start, cpu_start = time.perf_counter(), time.process_time()
                track_read = reader.read_track([crop])
                runs.append((time.perf_counter() - start) * 1000)
                cpu_runs.append((time.process_time() - cpu_start) * 1000)
            plate_ms.append(min(runs))
            plate_cpu_ms.append(min(cpu_runs))
            track_exact += track_read.best == plate.text
            track_pairs.append((item.file, plate.text, track_read))
    figures = by_part(photo_pairs)
    return PlateEvalReport(
        images=len(truth), sure_plates=sure, held_out_rule=HELD_OUT_RULE, figures=figures,
        track_figures=by_part(track_pairs), wrong_confirmed_reads=figures["all"].wrong_confirmed + neg_confirmed,
        exact_match=exact / max(sure, 1), exact_correct=exact,
        char_accuracy=float(np.mean(char_scores)) if char_scores else 0.0,
        detection_recall=det_sure / max(sure, 1), detection_recall_all=det_all / max(n_all, 1),
        color_accuracy=color_ok / max(color_n, 1), color_checked=color_n, wrong_valid_reads=wrong_valid,
        track_exact_match=track_exact / max(sure, 1),
        ms_per_plate=float(np.mean(plate_ms)) if plate_ms else 0.0,
        ms_per_plate_median=float(np.median(plate_ms)) if plate_ms else 0.0,
        ms_per_plate_p90=float(np.percentile(plate_ms, 90)) if plate_ms else 0.0,
        cpu_ms_per_plate=float(np.mean(plate_cpu_ms)) if plate_cpu_ms else 0.0,
        ms_per_image=float(np.mean(image_ms)) if image_ms else 0.0, threads=threads,
        negative_images=neg, negatives_with_false_plates=neg_false, negatives_with_confirmed=neg_confirmed,
        negatives_with_detections=neg_det, failures=failures,
    )
