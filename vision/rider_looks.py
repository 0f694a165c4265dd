"""One look at the riders of a frame's ridden vehicles: who rides which vehicle, each rider's head,
whether it can be judged, what it wears, and the rider's role.

Riders are counted from heads and person boxes together. The detector often boxes a driver and a
pillion as one person; the helmet model then still finds two heads in that box, so each person
box counts as the number of heads inside its head zone (at least one). Heads that fall in no
person's head zone (a missed person) are riders of their own. A head inside the head zone of a
person who rides no vehicle (a pedestrian, or a rider of a bike the detector did not box) follows
that person: it is not given to a vehicle it does not sit on.

Every head is measured (size, sharpness) and judged only when large and sharp enough
(``vision.heads``). Riders of an ambiguous attachment (a person who fits two vehicles) are not
judgeable. Roles: the rider furthest forward along the direction of travel is the driver, the
others are passengers; with no known direction the roles stay empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from vision.co_motion import people_on_vehicles
from vision.detections import Detections
from vision.heads import HeadJudgeConfig, classify_regions, head_quality, heads_from_persons, heads_inside, judgeable
from vision.riders import HeadObservation, PersonOnBoard, RiderAssociationConfig, RiderObservation, associate_riders

HEAD_ZONE = 0.45  # the top share of a person box where that person's head is


@dataclass(frozen=True)
class _Slot:
    """A rider's head before classification: a model head (index) or a derived region (box)."""

    box: np.ndarray
    model_head: int | None  # index into the model heads, None for a derived region
    ambiguous: bool


@dataclass(frozen=True)
class RiderLooks:
    observations: list[RiderObservation]
    model_calls: int  # helmet-model calls spent classifying derived head regions


def head_zones(persons: np.ndarray) -> np.ndarray:
    p = np.asarray(persons, np.float32).reshape(-1, 4)
    out = p.copy()
    out[:, 3] = p[:, 1] + HEAD_ZONE * (p[:, 3] - p[:, 1])
    out[:, 1] = p[:, 1] - 0.1 * (p[:, 3] - p[:, 1])
    return out


def _head_owners(persons: Detections, heads: Detections) -> np.ndarray:
    """For each head, the person whose head zone holds it (the smallest such box), -1 for none."""
    owners = np.full(len(heads), -1, np.int64)
    if not len(heads) or not len(persons):
        return owners
    inside = heads_inside(heads, head_zones(persons.xyxy))
    area = persons.area
    for i in range(len(heads)):
        cand = np.nonzero(inside[i])[0]
        if len(cand):
            owners[i] = int(cand[np.argmin(area[cand])])
    return owners


def _distinct(slots: list[_Slot], conf: np.ndarray, near: float = 0.4) -> list[_Slot]:
    """One slot per head: two overlapping boxes of one head can both survive NMS, and the detector
    often boxes a rider twice (whole and in part). A head whose centre lies within ``near`` head
    heights of a head already kept is the same rider. Model heads first (most confident first),
    then derived regions (duplicate person boxes are dropped before, see ``_duplicates``)."""
    order = sorted(slots, key=lambda s: (s.model_head is None, -(conf[s.model_head] if s.model_head is not None and s.model_head >= 0 else 0)))
    kept: list[_Slot] = []
    for s in order:
        c = (s.box[:2] + s.box[2:]) / 2
        size = float(s.box[3] - s.box[1])
        if any(np.hypot(*(c - (k.box[:2] + k.box[2:]) / 2)) < near * max(size, float(k.box[3] - k.box[1])) for k in kept):
            continue
        if s.model_head is None and any(_covered(s.box, k.box) >= 0.25 for k in kept):
            continue  # a derived region a quarter covered by a kept head: a duplicate, or too hidden to judge
        kept.append(s)
    return kept


def _covered(box: np.ndarray, other: np.ndarray) -> float:
    """Share of ``box`` that ``other`` covers."""
    w = max(0.0, min(box[2], other[2]) - max(box[0], other[0]))
    h = max(0.0, min(box[3], other[3]) - max(box[1], other[1]))
    return w * h / max(float((box[2] - box[0]) * (box[3] - box[1])), 1e-6)


def _duplicates(persons: np.ndarray, members: Sequence[int], overlap: float = 0.7, lower: float = 0.25) -> set[int]:
    """Persons of one vehicle whose box is a partial second box of another rider: it overlaps the
    other box across most of its width and starts well below the other's top (at the shoulders).
    Its derived head would land on that rider's shoulders, and a shoulder must never be read as a
    bare head. (A child sitting low in front of the driver is dropped with them unless the helmet
    model found its head: a missed rider, never a false accusation.)"""
    out: set[int] = set()
    for a in members:
        pa = persons[a]
        wa = max(float(pa[2] - pa[0]), 1e-6)
        for b in members:
            pb = persons[b]
            if a == b or b in out:
                continue
            across = max(0.0, min(pa[2], pb[2]) - max(pa[0], pb[0])) / wa
            hb = float(pb[3] - pb[1])
            if across >= overlap and pb[1] + lower * hb <= pa[1] <= pb[3]:
                out.add(a)
                break
    return out


def roles_by_heading(boxes: Sequence[Sequence[float]], heading_deg: float | None) -> list[str]:
    """driver for the head furthest forward along the heading, passenger for the others; '' without a heading."""
    if heading_deg is None or not len(boxes):
        return [""] * len(boxes)
    ux, uy = math.cos(math.radians(heading_deg)), math.sin(math.radians(heading_deg))
    ahead = [((b[0] + b[2]) / 2) * ux + ((b[1] + b[3]) / 2) * uy for b in boxes]
    front = int(np.argmax(ahead))
    return ["driver" if i == front else "passenger" for i in range(len(boxes))]


def read_riders(
    image: np.ndarray,
    vehicles: Detections,
    persons: Detections,
    model_heads: Detections,
    checked: np.ndarray,
    seq: int,
    t: float,
    classifier=None,
    assoc: RiderAssociationConfig | None = None,
    judge: HeadJudgeConfig | None = None,
    headings: Sequence[float | None] | None = None,
    motion: tuple[np.ndarray, np.ndarray] | None = None,
    scale: tuple[float, float] = (1.0, 1.0),
) -> RiderLooks:
    """One ``RiderObservation`` per vehicle (see the module doc). ``model_heads``: the helmet model's
    heads in frame pixels for the ``checked`` vehicles; ``classifier``: the helmet model, for head
    regions derived from person boxes (None: only model heads are read); ``motion``: (vehicle
    velocities, person velocities) in pixels per second, with ``persons.tracker_id`` the person
    tracks, for the co-motion facts (``vision.co_motion``); None: no co-motion facts. ``scale``: frame
    pixels per ``image`` pixel (an analysis frame smaller than the camera's frame): pixels are read
    at the boxes scaled down, sizes stay in frame pixels."""
    to_image = np.array([1 / scale[0], 1 / scale[1]] * 2, np.float32)
    assoc = assoc or RiderAssociationConfig()
    judge = judge or HeadJudgeConfig()
    m = len(vehicles)
    headings = list(headings) if headings is not None else [None] * m
    person_sets = associate_riders(vehicles, persons, Detections.empty(), assoc)
    people: list[tuple[PersonOnBoard, ...]] = [()] * m
    if motion is not None:
        people = people_on_vehicles(
            vehicles.xyxy, motion[0], persons.xyxy, persons.tracker_id, motion[1], [rs.persons for rs in person_sets], assoc
        )
    owners = _head_owners(persons, model_heads)
    orphans = model_heads[owners < 0] if len(model_heads) else model_heads
    orphan_index = np.nonzero(owners < 0)[0]
    orphan_sets = associate_riders(vehicles, Detections.empty(), orphans, assoc) if len(orphans) else [None] * m
    derived = heads_from_persons(persons.xyxy, judge) if len(persons) else np.zeros((0, 4), np.float32)
    slots: list[list[_Slot]] = []
    for i, rs in enumerate(person_sets):
        mine: list[_Slot] = []
        if checked[i]:
            twins = _duplicates(persons.xyxy, rs.persons)
            for p in rs.persons:
                amb = p in rs.ambiguous
                owned = np.nonzero(owners == p)[0]
                if len(owned):
                    mine += [_Slot(model_heads.xyxy[h], int(h), amb) for h in owned]
                elif p in twins:
                    continue
                elif judge.person_heads and classifier is not None:
                    mine.append(_Slot(derived[p], None, amb))
                else:
                    mine.append(_Slot(derived[p], -1, amb))  # a rider whose head was not read
            if orphan_sets[i] is not None:
                mine += [_Slot(model_heads.xyxy[orphan_index[h]], int(orphan_index[h]), False) for h in orphan_sets[i].heads]
        slots.append(_distinct(mine, model_heads.confidence))
    regions = [s.box for mine in slots for s in mine if s.model_head is None]
    readings, calls = classify_regions(image, np.array(regions, np.float32) * to_image, classifier, judge) if regions else ([], 0)
    reading = iter(readings)
    names = model_heads.class_name if len(model_heads) else np.zeros(0, object)
    out: list[RiderObservation] = []
    for i, (rs, mine) in enumerate(zip(person_sets, slots)):
        heads = []
        roles = roles_by_heading([s.box for s in mine], headings[i])
        for s, role in zip(mine, roles):
            box = tuple(float(v) for v in s.box)
            q = head_quality(image, np.asarray(box, np.float32) * to_image)
            q = replace(q, size_px=float(box[3] - box[1]))
            if s.model_head is None:
                r = next(reading)
                helmet, conf, source = r.helmet, r.confidence, "person"
            elif s.model_head < 0:
                helmet, conf, source = None, 0.0, "person"
            else:
                helmet = bool(names[s.model_head] == "head_helmet")
                conf, source = float(model_heads.confidence[s.model_head]), "model"
            reason = "ambiguous" if s.ambiguous else judgeable(q, judge) or ("" if helmet is not None else "no_head")
            heads.append(HeadObservation(helmet, conf, box, q.size_px, q.sharpness, source, reason, role))
        riders = len(heads) if checked[i] else None
        out.append(RiderObservation(
            seq=seq, t=t, persons=len(rs.persons), heads=tuple(heads), heads_checked=bool(checked[i]), riders=riders,
            ambiguous=bool(rs.ambiguous), people=tuple(people[i]),
        ))
    return RiderLooks(out, calls)
