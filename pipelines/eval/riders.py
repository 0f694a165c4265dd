"""Rider attributes against labelled CCTV riders: rider counts, passenger violations, helmets.

Each labelled image goes through a fresh ``CameraPipeline`` exactly as a first detection frame:
detector -> tracker -> rider regions -> helmet model (packed crops) -> ``associate_riders`` ->
one ``RiderObservation`` per ridden vehicle. So the figures measure the engine's own attribute
path, not a re-implementation of it. Detected two-wheelers are matched to labelled boxes with
the detection eval's matcher, on the bike box united with its riders (labelled boxes include the
riders, COCO boxes do not).

Per-rider helmet scoring: the labels list riders driver first, but from a fixed camera the driver
is in front of the pillion going one way and behind it going the other, so labelled riders are
paired with detected heads as multisets: equal classes first, then the rest crosswise. That is the
most favourable pairing, an upper bound on per-rider accuracy; the per-bike "any rider without a
helmet" figure needs no pairing and is the one the helmet rule acts on.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from pydantic import Field, ValidationError

from models.domain import CLASS_ID, RIDDEN_CLASSES
from models.strict import StrictModel
from pipelines.config import CameraConfig, SiteConfig
from pipelines.eval.detection import TWO_WHEELER_SOURCES, match_predictions, two_wheelers_with_riders
from pipelines.eval.violations import RuleScore
from pipelines.rules.helmet import no_helmet_confidence
from vision.detections import Detections
from vision.frame import Frame
from vision.riders import RiderObservation

HelmetLabel = Literal["helmet", "no_helmet", "unclear"]
RIDER_OUTCOMES = ("helmet", "no_helmet", "missed")  # what a labelled rider was read as


class RiderTruthError(ValueError):
    """A riders truth file that cannot be used; the message names the file, line and field."""


class RiderTruth(StrictModel):
    """One labelled motorcycle box (a line of riders_train.jsonl)."""

    file: str = Field(min_length=1, description="image path relative to the truth file's folder, e.g. train/frame1008.jpg")
    bbox: tuple[float, float, float, float] = Field(description="xmin, ymin, xmax, ymax: bike and riders")
    judgeable: bool
    riders: int = Field(ge=0)
    helmets: list[HelmetLabel] = Field(default_factory=list, description="per rider, driver first")

    @property
    def any_no_helmet(self) -> bool | None:
        """Truth of "someone on this bike rides without a helmet"; None when unclear riders leave it open."""
        if "no_helmet" in self.helmets:
            return True
        return None if "unclear" in self.helmets else False


def load_rider_truth(path: str | Path) -> list[RiderTruth]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RiderTruthError(f"{path}: cannot read truth file ({exc.strerror or exc})") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(RiderTruth.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise RiderTruthError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(line)"
            raise RiderTruthError(f"{path}:{n}: {where}: {err['msg']}") from None
    if not out:
        raise RiderTruthError(f"{path}: no labelled boxes")
    return out


@dataclass(frozen=True)
class BikeResult:
    """One judgeable labelled box and what the attribute path saw on it (None: no detected bike matched)."""

    file: str
    bbox: tuple[float, float, float, float]
    riders: int
    helmets: tuple[str, ...]
    observation: RiderObservation | None

    @property
    def count(self) -> int | None:
        return None if self.observation is None else self.observation.count


@dataclass
class RiderEvalReport:
    images: int
    labelled_boxes: int
    judgeable: int
    matched: int  # judgeable boxes with a detected, tracked two-wheeler at IoU >= 0.5
    helmet_checked: int  # of those, the helmet model looked at (size and class gates of the engine)
    count_exact: float | None
    count_within_1: float | None
    count_confusion: dict[str, dict[str, int]]  # labelled riders -> predicted riders -> bikes
    passengers: dict  # per bike: riders > max_people (tp/fp/fn/precision/recall, positives)
    no_helmet_bikes: dict  # per bike, helmet model looked: any rider without helmet at min_confidence
    rider_confusion: dict[str, dict[str, int]]  # labelled helmet class -> helmet/no_helmet/missed
    extra_heads: int  # detected heads beyond the labelled riders of a bike
    helmet_conf: float
    min_confidence: float
    max_people: int
    detect_ms_per_image: float
    attributes_ms_per_vehicle: float  # riders + helmet model, per ridden vehicle the engine processed
    helmet_ms_per_vehicle: float  # helmet model only, per vehicle it looked at
    helmet_calls: int
    helmet_vehicles: int
    notes: list[str] = field(default_factory=list)
    bikes: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _score_dict(s: RuleScore, positives: int) -> dict:
    d = s.as_dict()
    d.pop("rule")
    d["positives"] = positives
    return d


def _rider_pairs(labels: Sequence[str], heads: Sequence[bool]) -> tuple[list[tuple[str, str]], int]:
    """Most favourable pairing of labelled riders with head classes (True = helmet): (label, outcome) pairs, extras."""
    left = Counter("helmet" if h else "no_helmet" for h in heads)
    pairs: list[tuple[str, str]] = []
    rest: list[str] = []
    for label in labels:
        if label in left and left[label] > 0:
            left[label] -= 1
            pairs.append((label, label))
        else:
            rest.append(label)
    rest.sort(key=lambda lb: lb == "unclear")  # definite labels take the crosswise heads first
    for label in rest:
        guess = next((g for g in ("helmet", "no_helmet") if left[g] > 0), None)
        if guess is None:
            pairs.append((label, "missed"))
        else:
            left[guess] -= 1
            pairs.append((label, guess))
    return pairs, sum(left.values())


def score_bikes(bikes: Sequence[BikeResult], min_confidence: float, max_people: int) -> dict:
    """The report's accuracy figures from per-bike results (pure: unit-testable without models)."""
    seen = [b for b in bikes if b.observation is not None]
    exact = [b.count == b.riders for b in seen]
    within = [abs(b.count - b.riders) <= 1 for b in seen]
    confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for b in seen:
        confusion[str(b.riders)][str(b.count)] += 1
    passengers = RuleScore("passengers")
    for b in seen:
        truth, said = b.riders > max_people, b.count > max_people
        passengers.tp += truth and said
        passengers.fp += said and not truth
        passengers.fn += truth and not said
    looked = [b for b in seen if b.observation.heads_checked]
    helmet = RuleScore("helmet")
    riders: dict[str, dict[str, int]] = {lb: {o: 0 for o in RIDER_OUTCOMES} for lb in ("helmet", "no_helmet", "unclear")}
    extra = 0
    positives = 0
    for b in looked:
        truth = RiderTruth(file=b.file, bbox=b.bbox, judgeable=True, riders=b.riders, helmets=list(b.helmets)).any_no_helmet
        pairs, more = _rider_pairs(b.helmets, [h.helmet for h in b.observation.heads])
        extra += more
        for label, outcome in pairs:
            riders[label][outcome] += 1
        if truth is None:
            continue
        positives += truth
        said = no_helmet_confidence(b.observation) >= min_confidence
        helmet.tp += truth and said
        helmet.fp += said and not truth
        helmet.fn += truth and not said
    return {
        "helmet_checked": len(looked),
        "count_exact": float(np.mean(exact)) if seen else None,
        "count_within_1": float(np.mean(within)) if seen else None,
        "count_confusion": {k: dict(sorted(v.items())) for k, v in sorted(confusion.items())},
        "passengers": _score_dict(passengers, sum(b.riders > max_people for b in seen)),
        "no_helmet_bikes": _score_dict(helmet, positives),
        "rider_confusion": riders,
        "extra_heads": extra,
    }


def image_path(images: Path, file: str) -> Path:
    """The truth names images relative to the dataset root (``train/x.jpg``); accept DIR as that root or the folder itself."""
    for candidate in (images / file, images / Path(file).name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"image {file} not found under {images}")


def evaluate(
    truth: Sequence[RiderTruth], images: Path, site: SiteConfig, detector, helmet_detector
) -> RiderEvalReport:
    """Run the engine's attribute path on every labelled image and score it (see the module doc)."""
    import cv2

    from pipelines.engine import CameraPipeline

    ridden_ids = [CLASS_ID[c] for c in RIDDEN_CLASSES]
    by_file: dict[str, list[RiderTruth]] = defaultdict(list)
    for row in truth:
        by_file[row.file].append(row)
    bikes: list[BikeResult] = []
    detect_s = attributes_s = helmet_s = 0.0
    ridden_total = helmet_calls = helmet_vehicles = 0
    for file, rows in sorted(by_file.items()):
        path = image_path(images, file)
        image = cv2.imread(str(path))
        if image is None:
            raise ValueError(f"cannot read image {path}")
        h, w = image.shape[:2]
        camera = CameraConfig(id="eval", source=str(path), frame_size=(w, h), rules=["helmet", "passengers"])
        pipe = CameraPipeline(camera, site.model_copy(update={"cameras": [camera]}), helmet_detector=helmet_detector)
        t0 = time.perf_counter()
        dets = detector.detect([image])[0]
        detect_s += time.perf_counter() - t0
        pipe.on_detections(Frame("eval", 0, 0.0, datetime.now(timezone.utc), image), dets)
        attributes_s += pipe.stats.attributes_s
        helmet_s += pipe.stats.helmet_s
        helmet_calls += pipe.stats.helmet_calls
        helmet_vehicles += pipe.stats.helmet_crops
        tracked = pipe.last_tracks
        ridden = tracked[np.isin(tracked.class_id, ridden_ids)]
        ridden_total += len(ridden)
        two = ridden.of_class(*TWO_WHEELER_SOURCES)
        grown = two_wheelers_with_riders(Detections.merge([two, dets.of_class("person")]), site.models.detector_conf)
        gt = np.array([r.bbox for r in rows], np.float32)
        status, matched_to = match_predictions(grown.xyxy, grown.confidence, gt, np.array([not r.judgeable for r in rows]), 0.5)
        found = {int(matched_to[i]): int(two.tracker_id[i]) for i in np.nonzero(status == 1)[0]}
        for j, row in enumerate(rows):
            if not row.judgeable:
                continue
            obs = None
            if j in found:
                track = pipe.tracker.get(found[j])
                obs = track.history.riders[-1] if track is not None and track.history.riders else None
            bikes.append(BikeResult(file, tuple(row.bbox), row.riders, tuple(row.helmets), obs))
    hcfg = site.rules.helmet
    max_people = site.rules.passengers.max_people.get("motorcycle", 2)
    figures = score_bikes(bikes, hcfg.min_confidence, max_people)
    matched = sum(b.observation is not None for b in bikes)
    positives = figures["passengers"]["positives"]
    notes = [
        f"passenger violations: {positives} labelled bike(s) over {max_people} riders among the matched ones; "
        "precision/recall on so few are anecdotes, not rates",
        "per-rider confusion pairs labelled riders with detected heads as multisets (most favourable pairing)",
    ]
    return RiderEvalReport(
        images=len(by_file),
        labelled_boxes=len(truth),
        judgeable=sum(r.judgeable for r in truth),
        matched=matched,
        helmet_conf=site.models.helmet_conf,
        min_confidence=hcfg.min_confidence,
        max_people=max_people,
        detect_ms_per_image=1000 * detect_s / max(len(by_file), 1),
        attributes_ms_per_vehicle=1000 * attributes_s / max(ridden_total, 1),
        helmet_ms_per_vehicle=1000 * helmet_s / max(helmet_vehicles, 1),
        helmet_calls=helmet_calls,
        helmet_vehicles=helmet_vehicles,
        notes=notes,
        bikes=[
            {
                "file": b.file, "bbox": list(b.bbox), "riders": b.riders, "helmets": list(b.helmets),
                "matched": b.observation is not None,
                "checked": b.observation is not None and b.observation.heads_checked,
                "persons": None if b.observation is None else b.observation.persons,
                "heads": [] if b.observation is None else [
                    {"helmet": h.helmet, "confidence": round(h.confidence, 3)} for h in b.observation.heads
                ],
                "count": b.count,
            }
            for b in bikes
        ],
        **figures,
    )
