"""Detector accuracy against labelled images: per-class precision, recall and AP50, rider boxes, head accuracy.

* AP50 is VOC all-point interpolated AP at IoU 0.5, computed from predictions down to a low
  confidence (``ap_conf``) so the whole precision/recall curve is seen; precision and recall are
  reported at the operating threshold (``conf``), the one the pipeline actually runs at.
* Many datasets (our cctv set included) draw a two-wheeler box around the bike AND its riders,
  while COCO detectors box the bike and each person separately. The "two_wheeler_riders" row
  unions each predicted motorcycle/bicycle box with the persons riding it (vision.riders) and
  scores that against the labelled motorcycle/bicycle boxes.
* Head accuracy (helmet sets): heads matched class-agnostically at IoU 0.5, then the share whose
  predicted helmet class equals the label. It separates "finds heads" from "tells helmets apart".
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from models.domain import CLASS_ID, HEAD_CLASSES
from pipelines.eval.labelled_images import LabelledImage
from vision.detections import Detections, box_iou

TWO_WHEELER = "two_wheeler_riders"
TWO_WHEELER_SOURCES = ("motorcycle", "bicycle")


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    labels: int  # non-difficult ground-truth boxes
    predictions: int  # at the operating threshold
    true_positives: int  # at the operating threshold
    precision: float
    recall: float
    ap50: float


@dataclass(frozen=True)
class HeadAccuracy:
    labelled_heads: int
    matched: int  # labelled heads with a predicted head at IoU >= 0.5 (any helmet class)
    correct: int  # of those, predicted helmet class == label
    accuracy: float  # correct / matched
    per_class: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> {predicted: count}


@dataclass(frozen=True)
class DetectEvalReport:
    model: str
    images: int
    conf: float
    ap_conf: float
    iou: float
    classes: list[ClassMetrics]
    mean_ap50: float
    two_wheeler: ClassMetrics | None
    head_accuracy: HeadAccuracy | None
    ignored_labels: dict[str, int]
    ms_per_image: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Scored:
    """Predictions of one class over all images, each marked hit or miss by greedy matching."""

    scores: list[float] = field(default_factory=list)
    hits: list[bool] = field(default_factory=list)
    labels: int = 0


def match_predictions(pred_xyxy: np.ndarray, pred_scores: np.ndarray, gt_xyxy: np.ndarray, gt_difficult: np.ndarray, iou: float):
    """Greedy VOC matching by descending score: each label taken once; hits on difficult labels are ignored.

    Returns (hit per prediction: 1 hit, 0 miss, -1 ignored) and, per prediction, the matched label index.
    """
    order = np.argsort(-pred_scores, kind="stable")
    status = np.zeros(len(pred_scores), np.int8)
    matched_to = np.full(len(pred_scores), -1, np.int64)
    if not len(gt_xyxy):
        return status, matched_to
    ious = box_iou(pred_xyxy, gt_xyxy)
    taken = np.zeros(len(gt_xyxy), bool)
    for i in order:
        j = int(np.argmax(ious[i]))
        if ious[i, j] < iou:
            continue
        if gt_difficult[j]:
            status[i] = -1
        elif not taken[j]:
            taken[j] = True
            status[i] = 1
            matched_to[i] = j
    return status, matched_to


def average_precision(scores: Sequence[float], hits: Sequence[bool], labels: int) -> float:
    """VOC all-point interpolated AP (area under the monotone precision envelope)."""
    if labels == 0:
        return float("nan")
    if not len(scores):
        return 0.0
    order = np.argsort(-np.asarray(scores), kind="stable")
    tp = np.asarray(hits, np.float64)[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    recall = ctp / labels
    precision = ctp / np.maximum(ctp + cfp, 1e-12)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def _metrics(name: str, acc: _Scored, conf: float) -> ClassMetrics:
    scores = np.asarray(acc.scores, np.float64)
    hits = np.asarray(acc.hits, bool)
    at_conf = scores >= conf
    tp = int(hits[at_conf].sum())
    n_pred = int(at_conf.sum())
    return ClassMetrics(
        name=name,
        labels=acc.labels,
        predictions=n_pred,
        true_positives=tp,
        precision=tp / n_pred if n_pred else float("nan"),
        recall=tp / acc.labels if acc.labels else float("nan"),
        ap50=average_precision(acc.scores, acc.hits, acc.labels),
    )


def _accumulate(acc: _Scored, pred: Detections, gt_xyxy, gt_difficult, iou: float) -> None:
    status, _ = match_predictions(pred.xyxy, pred.confidence, gt_xyxy, gt_difficult, iou)
    keep = status >= 0
    acc.scores.extend(pred.confidence[keep].tolist())
    acc.hits.extend((status[keep] == 1).tolist())
    acc.labels += int((~gt_difficult).sum())


def two_wheelers_with_riders(dets: Detections, person_conf: float) -> Detections:
    """Each motorcycle/bicycle box grown to cover the persons riding it (confidence: the bike's)."""
    from vision.riders import associate_riders

    bikes = dets.of_class(*TWO_WHEELER_SOURCES)
    persons = dets.of_class("person")
    persons = persons[persons.confidence >= person_conf]
    if not len(bikes):
        return bikes
    xyxy = bikes.xyxy.copy()
    for k, riders in enumerate(associate_riders(bikes, persons, Detections.empty())):
        if riders.persons:
            boxes = np.vstack([xyxy[k : k + 1], persons.xyxy[list(riders.persons)]])
            xyxy[k] = [boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()]
    return Detections(xyxy, bikes.confidence, bikes.class_id)


def head_accuracy(
    pairs: Iterable[tuple[Detections, LabelledImage]], conf: float, iou: float
) -> HeadAccuracy | None:
    labelled = matched = correct = 0
    confusion: dict[str, dict[str, int]] = {}
    for pred, gt in pairs:
        heads_gt = np.array([n in HEAD_CLASSES for n in gt.names], bool)
        if not heads_gt.any():
            continue
        gt_xyxy = gt.xyxy[heads_gt]
        gt_names = [n for n in gt.names if n in HEAD_CLASSES]
        heads = pred.of_class(*HEAD_CLASSES)
        heads = heads[heads.confidence >= conf]
        labelled += len(gt_xyxy)
        status, matched_to = match_predictions(heads.xyxy, heads.confidence, gt_xyxy, np.zeros(len(gt_xyxy), bool), iou)
        for i in np.where(status == 1)[0]:
            truth, guess = gt_names[matched_to[i]], str(heads.class_name[i])
            matched += 1
            correct += truth == guess
            confusion.setdefault(truth, {}).setdefault(guess, 0)
            confusion[truth][guess] += 1
    if not labelled:
        return None
    return HeadAccuracy(labelled, matched, correct, correct / matched if matched else float("nan"), confusion)


def evaluate(
    detect: Callable[[Sequence[np.ndarray]], list[Detections]],
    model: str,
    labelled: Sequence[LabelledImage],
    model_classes: Iterable[str],
    conf: float = 0.25,
    ap_conf: float = 0.001,
    iou: float = 0.5,
    batch: int = 4,
) -> DetectEvalReport:
    """Run ``detect`` (predictions down to ``ap_conf``) over ``labelled`` and score it.

    Only classes both labelled in the set and produced by the model are scored: a helmet model is
    not penalised for cars it was never meant to see.
    """
    import cv2

    model_classes = set(model_classes)
    labelled_classes = {n for item in labelled for n in item.names}
    classes = sorted(labelled_classes & model_classes, key=lambda n: CLASS_ID[n])
    rider_row = bool(labelled_classes & set(TWO_WHEELER_SOURCES)) and bool(model_classes & set(TWO_WHEELER_SOURCES))
    acc = {name: _Scored() for name in classes}
    rider_acc = _Scored()
    ignored: dict[str, int] = {}
    pairs: list[tuple[Detections, LabelledImage]] = []
    elapsed = 0.0
    for start in range(0, len(labelled), batch):
        chunk = labelled[start : start + batch]
        images = []
        for item in chunk:
            img = cv2.imread(str(item.image))
            if img is None:
                raise ValueError(f"cannot read image {item.image}")
            images.append(img)
        t0 = time.perf_counter()
        preds = detect(images)
        elapsed += time.perf_counter() - t0
        for pred, item in zip(preds, chunk):
            for label in item.ignored:
                ignored[label] = ignored.get(label, 0) + 1
            names = np.array(item.names, dtype=object)
            for name in classes:
                mask = names == name
                _accumulate(acc[name], pred.of_class(name), item.xyxy[mask], item.difficult[mask], iou)
            if rider_row:
                mask = np.isin(names, TWO_WHEELER_SOURCES)
                _accumulate(rider_acc, two_wheelers_with_riders(pred, conf), item.xyxy[mask], item.difficult[mask], iou)
            pairs.append((pred, item))
    rows = [_metrics(name, acc[name], conf) for name in classes]
    aps = [r.ap50 for r in rows if r.labels]
    return DetectEvalReport(
        model=model,
        images=len(labelled),
        conf=conf,
        ap_conf=ap_conf,
        iou=iou,
        classes=rows,
        mean_ap50=float(np.mean(aps)) if aps else float("nan"),
        two_wheeler=_metrics(TWO_WHEELER, rider_acc, conf) if rider_row else None,
        head_accuracy=head_accuracy(pairs, conf, iou),
        ignored_labels=ignored,
        ms_per_image=1000 * elapsed / max(len(labelled), 1),
    )
