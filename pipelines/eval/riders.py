"""Rider attributes against labelled CCTV riders: judged share, helmets per rider and per bike, rider
counts, roles, cost; the tuning part and the held-out part reported separately (``rider_truth``).

Each labelled image goes through a fresh ``CameraPipeline`` exactly as a first detection frame:
detector -> tracker -> rider regions -> helmet model (packed crops) -> heads from person boxes ->
``vision.rider_looks.read_riders`` -> one ``RiderObservation`` per ridden vehicle. So the figures
measure the engine's own attribute path. Detected two-wheelers are matched to labelled boxes with
the detection eval's matcher, on the bike box united with its riders (labelled boxes include the
riders, COCO boxes do not).

Per-rider helmet scoring: labelled riders are paired with the heads read on the bike as multisets
(equal classes first, then the rest crosswise), the most favourable pairing, so that a role error
does not count as a helmet error; roles are scored on their own (``role_accuracy``: on bikes with a
helmeted and an unhelmeted rider, both judged, whether the head called driver has the driver's
label). "No helmet" is the positive class. A rider is judged when a judgeable head was paired
with it; not judgeable riders are counted, never scored as right or wrong.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np

from models.domain import CLASS_ID, RIDDEN_CLASSES
from pipelines.config import CameraConfig, SiteConfig
from pipelines.eval.detection import TWO_WHEELER_SOURCES, match_predictions, two_wheelers_with_riders
from pipelines.eval.rider_truth import PARTS, RiderTruth, image_path, split
from pipelines.eval.violations import RuleScore
from pipelines.rules.helmet import no_helmet_confidence
from vision.detections import Detections
from vision.frame import Frame
from vision.riders import RiderObservation

OUTCOMES = ("helmet", "no_helmet", "not_judgeable", "missed")  # what a labelled rider was read as


@dataclass(frozen=True)
class BikeResult:
    """One judgeable labelled box and what the attribute path saw on it (None: no detected bike matched)."""

    file: str
    bbox: tuple[float, float, float, float]
    riders: int
    helmets: tuple[str, ...]
    observation: RiderObservation | None
    part: str = "tune"
    camera: str = ""  # the frame size, "1920x1080": in these labels it tells the cameras (and views) apart

    @property
    def count(self) -> int | None:
        return None if self.observation is None else self.observation.count


def _score(s: RuleScore, positives: int | None = None) -> dict:
    d = s.as_dict()
    d.pop("rule")
    if positives is not None:
        d["positives"] = positives
    return d


def rider_pairs(labels: Sequence[str], read: Sequence[str]) -> tuple[list[tuple[str, str]], int]:
    """Most favourable pairing of labelled riders with the statuses read on the bike (helmet,
    no_helmet, not_judgeable): (label, outcome) pairs ('missed' when no head is left), extras."""
    left = Counter(read)
    pairs: list[tuple[str, str]] = []
    rest: list[str] = []
    for label in labels:
        if label in ("helmet", "no_helmet") and left[label] > 0:
            left[label] -= 1
            pairs.append((label, label))
        else:
            rest.append(label)
    rest.sort(key=lambda lb: lb == "unclear")  # definite labels take the crosswise heads first
    for label in rest:
        guess = next((g for g in ("helmet", "no_helmet", "not_judgeable") if left[g] > 0), None)
        if guess is None:
            pairs.append((label, "missed"))
        else:
            left[guess] -= 1
            pairs.append((label, guess))
    return pairs, sum(left.values())


def _said_no_helmet(obs: RiderObservation, min_confidence: float) -> bool:
    return no_helmet_confidence(obs) >= min_confidence


def _statuses(obs: RiderObservation, min_confidence: float) -> list[str]:
    """Each head's reading at the rule's threshold (a no-helmet head below it reads as helmet: no accusation)."""
    out = []
    for h in obs.heads:
        if not h.judgeable:
            out.append("not_judgeable")
        else:
            out.append("no_helmet" if h.helmet is False and h.confidence >= min_confidence else "helmet")
    return out


def _role_hit(b: BikeResult, min_confidence: float) -> bool | None:
    """On a bike labelled [helmet, no_helmet] (either order) with two judged heads of those two
    statuses, whether the head called driver has the driver's label; None when not scorable."""
    if b.riders != 2 or sorted(b.helmets) != ["helmet", "no_helmet"] or b.observation is None:
        return None
    heads = b.observation.heads
    if len(heads) != 2 or not all(h.judgeable and h.role for h in heads):
        return None
    statuses = _statuses(b.observation, min_confidence)
    if sorted(statuses) != ["helmet", "no_helmet"]:
        return None
    driver = statuses[[h.role for h in heads].index("driver")] if "driver" in [h.role for h in heads] else None
    return driver == b.helmets[0]


def score_bikes(bikes: Sequence[BikeResult], min_confidence: float, max_people: int) -> dict:
    """One part's figures from per-bike results (pure: unit-testable without models)."""
    seen = [b for b in bikes if b.observation is not None]
    looked = [b for b in seen if b.observation.heads_checked]
    judged_bikes = [b for b in looked if b.observation.judged and not b.observation.ambiguous]
    confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for b in seen:
        confusion[str(b.riders)][str(b.count)] += 1
    passengers = RuleScore("passengers")
    for b in seen:
        truth, said = b.riders > max_people, b.count > max_people
        passengers.tp += truth and said
        passengers.fp += said and not truth
        passengers.fn += truth and not said
    bikes_no_helmet = RuleScore("helmet")
    riders: dict[str, dict[str, int]] = {lb: {o: 0 for o in OUTCOMES} for lb in ("helmet", "no_helmet", "unclear")}
    per_rider = RuleScore("rider")
    extra = positives = 0
    head_px: dict[str, list[float]] = defaultdict(list)
    for b in looked:
        statuses = _statuses(b.observation, min_confidence)
        pairs, more = rider_pairs(b.helmets, statuses)
        extra += more
        for label, outcome in pairs:
            riders[label][outcome] += 1
            if label != "unclear" and outcome in ("helmet", "no_helmet"):
                per_rider.tp += label == "no_helmet" and outcome == "no_helmet"
                per_rider.fp += label == "helmet" and outcome == "no_helmet"
                per_rider.fn += label == "no_helmet" and outcome == "helmet"
        for h in b.observation.heads:
            head_px[h.reason or "judged"].append(h.size_px)
        truth = RiderTruth(file=b.file, bbox=b.bbox, judgeable=True, riders=b.riders, helmets=list(b.helmets)).any_no_helmet
        if truth is None:
            continue
        positives += truth
        said = _said_no_helmet(b.observation, min_confidence)
        bikes_no_helmet.tp += truth and said
        bikes_no_helmet.fp += said and not truth
        bikes_no_helmet.fn += truth and not said
    labelled = sum(len(b.helmets) for b in bikes)
    judged = sum(riders[lb]["helmet"] + riders[lb]["no_helmet"] for lb in riders)
    roles = [r for r in (_role_hit(b, min_confidence) for b in looked) if r is not None]
    return {
        "bikes": len(bikes),
        "matched": len(seen),
        "helmet_checked": len(looked),
        "labelled_riders": labelled,
        "judged_riders": judged,
        "judged_share": judged / labelled if labelled else None,
        "judged_bikes": len(judged_bikes),
        "count_exact": float(np.mean([b.count == b.riders for b in seen])) if seen else None,
        "count_exact_judged": float(np.mean([b.count == b.riders for b in judged_bikes])) if judged_bikes else None,
        "count_within_1": float(np.mean([abs(b.count - b.riders) <= 1 for b in seen])) if seen else None,
        "count_confusion": {k: dict(sorted(v.items())) for k, v in sorted(confusion.items())},
        "no_helmet_riders": _score(per_rider, riders["no_helmet"]["helmet"] + riders["no_helmet"]["no_helmet"]),
        "no_helmet_bikes": _score(bikes_no_helmet, positives),
        "passengers": _score(passengers, sum(b.riders > max_people for b in seen)),
        "rider_confusion": riders,
        "extra_heads": extra,
        "role_accuracy": float(np.mean(roles)) if roles else None,
        "role_bikes": len(roles),
        "head_px_median": {k: round(float(np.median(v)), 1) for k, v in sorted(head_px.items())},
    }


@dataclass
class RiderEvalReport:
    images: int
    labelled_boxes: int
    judgeable: int
    parts: dict[str, dict]  # "tune" / "held_out" -> score_bikes figures
    cameras: dict[str, dict[str, dict]]  # part -> camera (frame size) -> the headline figures
    frames: dict[str, list[str]]  # part -> frame files
    helmet_conf: float
    min_confidence: float
    min_head_px: float
    max_people: int
    tiles: bool  # rider regions packed several to one helmet-model input (engine.heads.tile)
    detect_ms_per_image: float
    attributes_ms_per_vehicle: float  # riders + helmet model + head regions, per ridden vehicle the engine processed
    helmet_ms_per_vehicle: float  # helmet model only, per vehicle it looked at
    helmet_calls: int
    helmet_vehicles: int
    notes: list[str] = field(default_factory=list)
    bikes: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _bike_dict(b: BikeResult) -> dict:
    o = b.observation
    return {
        "file": b.file, "part": b.part, "camera": b.camera, "bbox": list(b.bbox), "riders": b.riders, "helmets": list(b.helmets),
        "matched": o is not None, "checked": o is not None and o.heads_checked,
        "persons": None if o is None else o.persons, "ambiguous": None if o is None else o.ambiguous,
        "heads": [] if o is None else [
            {"helmet": h.helmet, "confidence": round(h.confidence, 3), "status": h.status, "reason": h.reason,
             "role": h.role, "size_px": round(h.size_px, 1), "sharpness": round(h.sharpness, 1), "source": h.source,
             "box": [round(v, 1) for v in h.box]}
            for h in o.heads
        ],
        "count": b.count,
    }


def evaluate(
    truth: Sequence[RiderTruth], images: Path, site: SiteConfig, detector, helmet_detector,
    headings: dict[tuple[int, int], float] | None = None, files: set[str] | None = None, part: str | None = None,
) -> RiderEvalReport:
    """Run the engine's attribute path on the labelled images and score each part (see the module doc).
    ``headings``: the direction traffic moves in, per frame size (a camera's ``heading_deg``), for roles;
    ``files`` (file names) and ``part`` restrict the images run; the split is always that of the whole truth."""
    import cv2

    from pipelines.engine import CameraPipeline

    ridden_ids = [CLASS_ID[c] for c in RIDDEN_CLASSES]
    parts = split([r.file for r in truth])
    by_file: dict[str, list[RiderTruth]] = defaultdict(list)
    for row in truth:
        if (files is None or Path(row.file).name in files) and (part is None or parts[row.file] == part):
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
        heading = (headings or {}).get((w, h))
        camera = CameraConfig(id="eval", source=str(path), frame_size=(w, h), rules=["helmet", "passengers"], heading_deg=heading)
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
            bikes.append(BikeResult(file, tuple(row.bbox), row.riders, tuple(row.helmets), obs, parts[file], f"{w}x{h}"))
    hcfg = site.rules.helmet
    max_people = site.rules.passengers.max_people.get("motorcycle", 2)
    figures = {p: score_bikes([b for b in bikes if b.part == p], hcfg.min_confidence, max_people) for p in PARTS}
    headline = ("bikes", "judged_share", "no_helmet_riders", "no_helmet_bikes", "count_exact", "count_exact_judged")
    cameras = {
        p: {cam: {k: v for k, v in score_bikes([b for b in bikes if b.part == p and b.camera == cam], hcfg.min_confidence,
                                                max_people).items() if k in headline}
            for cam in sorted({b.camera for b in bikes if b.part == p})}
        for p in PARTS
    }
    notes = [
        "tune: thresholds and the head classifier were chosen on this part; held_out: never used for tuning",
        f"passenger violations: {figures['held_out']['passengers']['positives']} held-out labelled bike(s) over {max_people} "
        "riders; precision/recall on so few are anecdotes, not rates",
        "per-rider figures pair labelled riders with heads as multisets (most favourable pairing); roles are scored apart",
    ]
    return RiderEvalReport(
        images=len(by_file),
        labelled_boxes=sum(len(v) for v in by_file.values()),
        judgeable=sum(r.judgeable for v in by_file.values() for r in v),
        parts=figures,
        cameras=cameras,
        frames={p: sorted(f for f in by_file if parts[f] == p) for p in PARTS},
        helmet_conf=site.models.helmet_conf,
        min_confidence=hcfg.min_confidence,
        min_head_px=site.engine.judge.min_head_px,
        max_people=max_people,
        tiles=site.engine.heads.tile,
        detect_ms_per_image=1000 * detect_s / max(len(by_file), 1),
        attributes_ms_per_vehicle=1000 * attributes_s / max(ridden_total, 1),
        helmet_ms_per_vehicle=1000 * helmet_s / max(helmet_vehicles, 1),
        helmet_calls=helmet_calls,
        helmet_vehicles=helmet_vehicles,
        notes=notes,
        bikes=[_bike_dict(b) for b in bikes],
    )
