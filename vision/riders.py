"""Which people and heads ride which two-/three-wheeler, by geometry alone.

A rider sits on the vehicle, so their box overlaps the vehicle box extended upward (a COCO
motorcycle box covers the bike, the person box rises above it), and their head lies above the
seat. Each person and each head goes to at most one vehicle (Hungarian assignment on overlap),
so two bikes side by side never both count the same rider. Counts are voted over a track's
frames by the rules, not here: one frame's miss or false person must not decide anything.

Heads come from the helmet model run on rider crops (``look_for_heads``). How those crops are
made decides whether it works on CCTV: letterboxing a 150 px rider crop into the model's 640
input blows a 25 px head up to ~100 px of blur, and on labelled CCTV riders
(``epolice eval riders``) the model then found fewer than a third of the no-helmet riders.
Crops of the rider region (bike plus its persons), scaled to ~200 px high (heads ~30 px, about
native CCTV resolution) and packed several to a model input, found about twice as many at higher
precision, for a fraction of the model calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import cv2
import numpy as np
from pydantic import Field
from scipy.optimize import linear_sum_assignment

from models.strict import StrictModel
from vision.detections import Detections
from vision.nms import nms


class RiderAssociationConfig(StrictModel):
    """Geometry of "riding". Ratios are of the vehicle box's height/width."""

    extend_up: float = Field(1.2, ge=0, description="extend the vehicle box upward by this many box heights")
    extend_side: float = Field(0.15, ge=0, description="and sideways by this share of its width, each side")
    min_person_overlap: float = Field(0.5, gt=0, le=1, description="share of a person box inside the extended box")
    seat_ratio: float = Field(
        0.65, gt=0, le=1, description="a head's centre must be above vehicle top + seat_ratio x height"
    )
    min_head_overlap: float = Field(0.6, gt=0, le=1, description="share of a head box inside the extended box")
    feet_below: float = Field(
        0.15, ge=0, description="a rider's person box ends at most this many vehicle heights below the vehicle box "
        "(riders' feet are on the vehicle; a person reaching further down sits on a vehicle nearer the camera)"
    )
    ambiguous_margin: float = Field(
        0.15, ge=0, le=1, description="a person who fits a second vehicle within this much overlap share of the first "
        "is an ambiguous rider: attached to one, judged on neither"
    )


class HeadCropConfig(StrictModel):
    """How rider crops are shown to the helmet model (measured with ``epolice eval riders``)."""

    margin: float = Field(0.15, ge=0, le=1, description="rider region grown by this share of its size (sides and top)")
    crop_height_px: int = Field(
        192, ge=32, description="rider crops are scaled to this height in the model input (heads ~30 px, the size the "
        "helmet model told helmets apart best on CCTV riders)"
    )
    max_upscale: float = Field(2.0, ge=1, description="never enlarge a crop more than this (upsampled blur hurts)")
    tile: bool = Field(True, description="pack several crops into one model input: one inference for many vehicles")
    gap_px: int = Field(4, ge=0, description="padding between packed crops")


@dataclass(frozen=True, slots=True)
class HeadObservation:
    """One rider's head in one look: where, how well it can be seen, and what it wears."""

    helmet: bool | None  # True: helmet, False: no helmet, None: not read (see ``reason``)
    confidence: float
    box: tuple[float, float, float, float]
    size_px: float = 0.0  # head box height in frame pixels (0: not measured)
    sharpness: float = 0.0  # variance of the Laplacian of the head at 32 px (0: not measured)
    source: str = "model"  # vision.heads.HEAD_SOURCES: the helmet model's own head, or derived from a person box
    reason: str = ""  # why not judgeable: small, blurred, ambiguous, no_head; "" = judgeable
    role: str = ""  # driver, passenger, or "" when the direction of travel is unknown

    @property
    def judgeable(self) -> bool:
        return not self.reason and self.helmet is not None

    @property
    def status(self) -> str:
        """helmet, no_helmet or not_judgeable."""
        return "not_judgeable" if not self.judgeable else "helmet" if self.helmet else "no_helmet"


@dataclass(frozen=True, slots=True)
class RiderObservation:
    """Riders seen on one vehicle in one frame."""

    seq: int
    t: float
    persons: int
    heads: tuple[HeadObservation, ...] = ()
    heads_checked: bool = False  # the helmet model looked at this vehicle in this frame
    riders: int | None = None  # riders counted from heads and person boxes together (None: not merged)
    ambiguous: bool = False  # a rider of this look may sit on another vehicle: not judgeable here
    people: tuple["PersonOnBoard", ...] = ()  # tracked persons overlapping the vehicle, for co-motion

    @property
    def count(self) -> int:
        """People on board: the merged rider count, else the larger of persons and heads."""
        return self.riders if self.riders is not None else max(self.persons, len(self.heads))

    @property
    def judged(self) -> tuple[HeadObservation, ...]:
        """The heads of this look that can be judged."""
        return tuple(h for h in self.heads if h.judgeable)

    @property
    def quality(self) -> float:
        """How good this look is for judging helmets: its smallest judgeable head's size times a
        sharpness factor (0 when nothing can be judged). Best looks are kept by it."""
        judged = self.judged
        if not judged:
            return 0.0
        return min(h.size_px * min(1.0, h.sharpness / 100.0 + 0.5) if h.size_px else 1.0 for h in judged)


@dataclass(frozen=True, slots=True)
class PersonOnBoard:
    """A tracked person whose box overlaps a vehicle in one frame, with how they move relative to it."""

    track_id: int
    overlap: float  # share of the person box inside the vehicle's extended box
    rel_speed: float | None  # |person velocity - vehicle velocity| in vehicle box heights per second
    vehicle_speed: float  # the vehicle's own speed, box heights per second
    rider: bool = False  # counted among the vehicle's riders by geometry in this frame


@dataclass(frozen=True, slots=True)
class RiderSet:
    """Indices into the frame's person and head Detections that ride one vehicle."""

    persons: tuple[int, ...] = ()
    heads: tuple[int, ...] = field(default_factory=tuple)
    ambiguous: tuple[int, ...] = ()  # of ``persons``: those that fit another vehicle almost as well


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
    ambiguous: list[list[int]] = [[] for _ in range(m)]
    if len(persons):
        p = persons.xyxy
        share = _inside_share(p, ext)
        cx = (p[:, 0] + p[:, 2]) / 2
        # a rider's body reaches down onto the vehicle (not a pedestrian standing above/behind it)
        reaches = p[:, 3][:, None] >= (v[:, 1] + 0.1 * vh)[None, :]
        on_it = p[:, 3][:, None] <= (v[:, 3] + cfg.feet_below * vh)[None, :]
        centred = (cx[:, None] >= ext[None, :, 0]) & (cx[:, None] <= ext[None, :, 2])
        valid = (share >= cfg.min_person_overlap) & reaches & on_it & centred
        for r, c in _assign(share, valid):
            person_sets[c].append(r)
            rivals = valid[r] & (share[r] >= share[r, c] - cfg.ambiguous_margin)
            if rivals.sum() > 1:
                ambiguous[c].append(r)
    if len(heads):
        h = heads.xyxy
        share = _inside_share(h, ext)
        hcy = (h[:, 1] + h[:, 3]) / 2
        above_seat = hcy[:, None] <= (v[:, 1] + cfg.seat_ratio * vh)[None, :]
        valid = (share >= cfg.min_head_overlap) & above_seat
        for r, c in _assign(share, valid):
            head_sets[c].append(r)
    return [
        RiderSet(tuple(sorted(ps)), tuple(sorted(hs)), tuple(sorted(am)))
        for ps, hs, am in zip(person_sets, head_sets, ambiguous)
    ]


def head_observations(heads: Detections, indices) -> tuple[HeadObservation, ...]:
    names = heads.class_name
    return tuple(
        HeadObservation(
            helmet=bool(names[i] == "head_helmet"),
            confidence=float(heads.confidence[i]),
            box=tuple(float(x) for x in heads.xyxy[i]),
        )
        for i in indices
    )


def rider_observations(
    vehicles: Detections, persons: Detections, heads: Detections, checked: np.ndarray, seq: int, t: float,
    cfg: RiderAssociationConfig | None = None,
) -> list[RiderObservation]:
    """One frame's ``RiderObservation`` per vehicle: who rides it, and the heads the helmet model saw on it."""
    sets = associate_riders(vehicles, persons, heads, cfg)
    return [
        RiderObservation(seq=seq, t=t, persons=len(rs.persons), heads=head_observations(heads, rs.heads), heads_checked=bool(ok))
        for rs, ok in zip(sets, checked)
    ]


class HeadDetector(Protocol):
    """What head reading needs of the helmet model (vision.detector.Detector fits). A detector
    with integer ``width``/``height`` (a fixed input size) gets packed canvases of that size;
    one without gets the raw crops, one per image."""

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]: ...


def rider_regions(
    vehicles: np.ndarray,
    persons: Detections,
    frame_size: tuple[int, int],
    assoc: RiderAssociationConfig | None = None,
    crop: HeadCropConfig | None = None,
) -> np.ndarray:
    """(N, 4) frame boxes where each vehicle's riders' heads are: the vehicle united with the persons
    riding it, grown by ``margin`` on the sides and top; the upward-extended box when no person
    rides it (a missed or merged person must not hide a head). Clipped to the frame."""
    assoc = assoc or RiderAssociationConfig()
    crop = crop or HeadCropConfig()
    v = np.asarray(vehicles, np.float32).reshape(-1, 4)
    out = extended_boxes(v, assoc)
    if len(v) and len(persons):
        vdets = Detections(v, np.ones(len(v), np.float32), np.zeros(len(v), np.int32))
        for i, rs in enumerate(associate_riders(vdets, persons, Detections.empty(), assoc)):
            if not rs.persons:
                continue
            boxes = np.vstack([v[i : i + 1], persons.xyxy[list(rs.persons)]])
            box = np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()], np.float32)
            mw, mh = crop.margin * (box[2] - box[0]), crop.margin * (box[3] - box[1])
            out[i] = box + np.array([-mw, -mh, mw, 0.0], np.float32)
    w, h = frame_size
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
    return out


@dataclass(frozen=True, slots=True)
class _Placed:
    canvas: int
    x: int
    y: int
    w: int
    h: int
    scale: float


def _pack(crops: Sequence[np.ndarray], size: tuple[int, int], cfg: HeadCropConfig) -> tuple[list[np.ndarray], list[_Placed]]:
    """Shelf-pack crops, each scaled toward ``crop_height_px``, into model-input canvases (pad 114 as the letterbox)."""
    cw, ch = size
    g = cfg.gap_px
    canvases: list[np.ndarray] = []
    placed: list[_Placed] = []
    x = y = row = 0
    for crop in crops:
        h, w = crop.shape[:2]
        s = min(cfg.crop_height_px / h, cfg.max_upscale, (cw - 2 * g) / w, (ch - 2 * g) / h)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        new = not canvases or not cfg.tile
        if not new and x + nw + g > cw:  # next shelf
            x, y, row = g, y + row + g, 0
        if new or y + nh + g > ch:
            canvases.append(np.full((ch, cw, 3), 114, np.uint8))
            x, y, row = g, g, 0
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        canvases[-1][y : y + nh, x : x + nw] = crop if (nw, nh) == (w, h) else cv2.resize(crop, (nw, nh), interpolation=interp)
        placed.append(_Placed(len(canvases) - 1, x, y, nw, nh, s))
        x, row = x + nw + g, max(row, nh)
    return canvases, placed


@dataclass(frozen=True)
class HeadLooks:
    """Heads the helmet model found in one frame's rider regions, in frame pixels."""

    heads: Detections  # all regions merged, overlapping duplicates removed
    per_region: list[Detections]
    model_calls: int


def look_for_heads(
    image: np.ndarray, regions: np.ndarray, detector: HeadDetector, cfg: HeadCropConfig | None = None
) -> HeadLooks:
    """Run the helmet model once over all rider regions of a frame (packed when it has a fixed input size).

    A head belongs to the packed crop its centre falls in; boxes are clipped to that crop and mapped
    back to the frame. Neighbouring regions overlap, so the same head found twice is kept once (NMS).
    """
    cfg = cfg or HeadCropConfig()
    h_img, w_img = image.shape[:2]
    crops, origins, used = [], [], []
    boxes = np.asarray(regions, np.float32).reshape(-1, 4)
    for k, box in enumerate(boxes):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w_img), min(y2, h_img)
        if x2 - x1 < 2 or y2 - y1 < 2:  # nothing to look at (region off the frame)
            continue
        crops.append(image[y1:y2, x1:x2])
        origins.append((x1, y1))
        used.append(k)
    per_region = [Detections.empty() for _ in range(len(boxes))]
    if not crops:
        return HeadLooks(Detections.empty(), per_region, 0)
    width, height = getattr(detector, "width", None), getattr(detector, "height", None)
    if isinstance(width, int) and isinstance(height, int):
        canvases, placed = _pack(crops, (width, height), cfg)
        results = detector.detect(canvases)
    else:  # no fixed input: the detector sizes each crop itself
        canvases = crops
        placed = [_Placed(i, 0, 0, c.shape[1], c.shape[0], 1.0) for i, c in enumerate(crops)]
        results = detector.detect(crops)
    for k, p, (ox, oy) in zip(used, placed, origins):
        res = results[p.canvas].of_class("head_helmet", "head_no_helmet")
        c = res.center
        inside = (c[:, 0] >= p.x) & (c[:, 0] < p.x + p.w) & (c[:, 1] >= p.y) & (c[:, 1] < p.y + p.h)
        res = res[inside]
        xy = res.xyxy.copy()
        xy[:, [0, 2]] = (xy[:, [0, 2]].clip(p.x, p.x + p.w) - p.x) / p.scale + ox
        xy[:, [1, 3]] = (xy[:, [1, 3]].clip(p.y, p.y + p.h) - p.y) / p.scale + oy
        per_region[k] = Detections(xy, res.confidence, res.class_id)
    heads = Detections.merge(per_region)
    if len(heads) > 1:
        heads = heads[np.sort(nms(heads.xyxy, heads.confidence, 0.5))]
    return HeadLooks(heads, per_region, len(canvases))
