"""Which people and heads ride which two-/three-wheeler, by geometry alone.

A rider sits on the vehicle, so their box overlaps the vehicle box extended upward (a COCO
motorcycle box covers the bike, the person box rises above it), and their head lies above the
seat. Each person and each head goes to at most one vehicle (Hungarian assignment on overlap),
so two bikes side by side never both count the same rider. Counts are voted over a track's
frames by the rules, not here: one frame's miss or false person must not decide anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import linear_sum_assignment

from vision.detections import Detections


class RiderAssociationConfig(BaseModel):
    """Geometry of "riding". Ratios are of the vehicle box's height/width."""

    model_config = ConfigDict(extra="forbid")
    extend_up: float = Field(1.2, ge=0, description="extend the vehicle box upward by this many box heights")
    extend_side: float = Field(0.15, ge=0, description="and sideways by this share of its width, each side")
    min_person_overlap: float = Field(0.5, gt=0, le=1, description="share of a person box inside the extended box")
    seat_ratio: float = Field(
        0.65, gt=0, le=1, description="a head's centre must be above vehicle top + seat_ratio x height"
    )
    min_head_overlap: float = Field(0.6, gt=0, le=1, description="share of a head box inside the extended box")


@dataclass(frozen=True, slots=True)
class HeadObservation:
    helmet: bool  # True: head_helmet, False: head_no_helmet
    confidence: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class RiderObservation:
    """Riders seen on one vehicle in one frame."""

    seq: int
    t: float
    persons: int
    heads: tuple[HeadObservation, ...] = ()
    heads_checked: bool = False  # the helmet model looked at this vehicle in this frame

    @property
    def count(self) -> int:
        """People on board: persons and heads are two views of the same riders, take the larger."""
        return max(self.persons, len(self.heads))


@dataclass(frozen=True, slots=True)
class RiderSet:
    """Indices into the frame's person and head Detections that ride one vehicle."""

    persons: tuple[int, ...] = ()
    heads: tuple[int, ...] = field(default_factory=tuple)


def extended_boxes(vehicles: np.ndarray, cfg: RiderAssociationConfig) -> np.ndarray:
    """Vehicle boxes grown upward (and a little sideways) to where riders' bodies and heads are."""
    v = np.asarray(vehicles, np.float32).reshape(-1, 4)
    w = v[:, 2] - v[:, 0]
    h = v[:, 3] - v[:, 1]
    out = v.copy()
    out[:, 0] -= cfg.extend_side * w
    out[:, 2] += cfg.extend_side * w
    out[:, 1] -= cfg.extend_up * h
    return out


def _inside_share(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """(N inner, M outer) share of each inner box's area that lies inside each outer box."""
    tl = np.maximum(inner[:, None, :2], outer[None, :, :2])
    br = np.minimum(inner[:, None, 2:], outer[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area = np.prod(np.clip(inner[:, 2:] - inner[:, :2], 0, None), axis=1)
    return inter / np.maximum(area[:, None], 1e-9)


def _assign(score: np.ndarray, valid: np.ndarray) -> list[tuple[int, int]]:
    """Max-score one-to-many-free assignment of rows (people/heads) to columns (vehicles).

    A vehicle can carry several riders, so columns are repeated (one slot per possible rider)
    before the Hungarian step; each row still goes to at most one vehicle.
    """
    n, m = score.shape
    if n == 0 or m == 0 or not valid.any():
        return []
    slots = n  # at most n riders on any one vehicle
    big = np.where(valid, score, -1.0)
    tiled = np.repeat(big, slots, axis=1)  # column j*slots + k = vehicle j, slot k
    # prefer lower slots so ties spread predictably
    tiled = tiled - np.tile(np.arange(slots) * 1e-6, m)[None, :]
    rows, cols = linear_sum_assignment(-tiled)
    return [(int(r), int(c // slots)) for r, c in zip(rows, cols) if valid[r, c // slots]]


def associate_riders(
    vehicles: Detections, persons: Detections, heads: Detections, cfg: RiderAssociationConfig | None = None
) -> list[RiderSet]:
    """For each vehicle box, the persons and heads riding it (each used at most once)."""
    cfg = cfg or RiderAssociationConfig()
    m = len(vehicles)
    if m == 0:
        return []
    ext = extended_boxes(vehicles.xyxy, cfg)
    v = vehicles.xyxy
    vh = v[:, 3] - v[:, 1]
    person_sets: list[list[int]] = [[] for _ in range(m)]
    head_sets: list[list[int]] = [[] for _ in range(m)]
    if len(persons):
        p = persons.xyxy
        share = _inside_share(p, ext)
        cx = (p[:, 0] + p[:, 2]) / 2
        # a rider's body reaches down onto the vehicle (not a pedestrian standing above/behind it)
        reaches = p[:, 3][:, None] >= (v[:, 1] + 0.1 * vh)[None, :]
        centred = (cx[:, None] >= ext[None, :, 0]) & (cx[:, None] <= ext[None, :, 2])
        valid = (share >= cfg.min_person_overlap) & reaches & centred
        for r, c in _assign(share, valid):
            person_sets[c].append(r)
    if len(heads):
        h = heads.xyxy
        share = _inside_share(h, ext)
        hcy = (h[:, 1] + h[:, 3]) / 2
        above_seat = hcy[:, None] <= (v[:, 1] + cfg.seat_ratio * vh)[None, :]
        valid = (share >= cfg.min_head_overlap) & above_seat
        for r, c in _assign(share, valid):
            head_sets[c].append(r)
    return [RiderSet(tuple(sorted(ps)), tuple(sorted(hs))) for ps, hs in zip(person_sets, head_sets)]


def head_observations(heads: Detections, indices) -> tuple[HeadObservation, ...]:
    names = heads.class_name
    return tuple(
        HeadObservation(
            helmet=names[i] == "head_helmet",
            confidence=float(heads.confidence[i]),
            box=tuple(float(x) for x in heads.xyxy[i]),
        )
        for i in indices
    )
