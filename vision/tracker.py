"""ByteTrack-style multi-object tracker on numpy + scipy, with time-based lost-track keeping.

Why our own: ultralytics' trackers import torch, which the runtime must never need, and the
``trackers`` package drags supervision and counts lost time in frames. A ByteTrack core is ~200
lines; owning it lets us (1) count time in seconds, so a detector running at 5 or 10 fps keeps
the same occlusion tolerance, (2) keep still vehicles longer through occlusions (a parked car
hidden by a passing bus keeps its id and its parking dwell), (3) keep associations
class-consistent (a car never becomes a person), and (4) free removed tracks so memory stays
bounded on runs of days.

Two-stage association as in ByteTrack: confident detections first against every live track
(tracked and lost), then the leftover weak detections against tracks still unmatched, which
recovers partly occluded vehicles without letting weak boxes start tracks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from pydantic import Field, field_validator
from scipy.optimize import linear_sum_assignment

from models.domain import CLASS_ID, DOMAIN_CLASSES
from models.strict import StrictModel
from vision.calibration import CameraView
from vision.detections import Detections, box_iou
from vision.track_history import TrackHistory

# Classes a detector may confuse for the same object; association never crosses groups.
CLASS_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"car", "bus", "truck"}),
    frozenset({"motorcycle", "bicycle", "e_bike", "tricycle"}),
    frozenset({"tractor"}),
    frozenset({"person"}),
    frozenset({"head_helmet", "head_no_helmet"}),
    frozenset({"plate"}),
)
_GROUP_OF = np.array(
    [next(i for i, g in enumerate(CLASS_GROUPS) if name in g) for name in DOMAIN_CLASSES], dtype=np.int32
)


class TrackerConfig(StrictModel):
    """Tracker parameters; times are in seconds so they hold at any detection rate."""

    classes: list[str] = Field(
        default_factory=lambda: ["car", "bus", "truck", "motorcycle", "bicycle", "e_bike", "tricycle", "tractor"],
        description="domain classes to track; others are ignored",
    )
    high_conf: float = Field(0.3, gt=0, le=1, description="first-stage detections (and the floor for new tracks)")
    low_conf: float = Field(0.1, gt=0, le=1, description="second-stage detections: only continue tracks")
    new_track_conf: float = Field(0.3, gt=0, le=1, description="an unmatched detection starts a track above this")
    match_iou: float = Field(0.2, gt=0, le=1, description="first-stage gate on (buffered) IoU")
    low_match_iou: float = Field(0.4, gt=0, le=1, description="second-stage gate on IoU")
    buffer: float = Field(0.3, ge=0, description="grow boxes by this share of their size before first-stage IoU")
    min_hits: int = Field(2, ge=1, description="detections before a new track is reported")
    duplicate_iou: float = Field(
        0.6, gt=0, le=1, description="no new track from a box overlapping a matched one of its class group this much "
        "(a detector's car and truck boxes on one vehicle)"
    )
    lost_seconds: float = Field(2.0, ge=0, description="keep a lost moving track this long for re-identification")
    lost_seconds_still: float = Field(
        30.0, ge=0, description="keep a lost still (parked) track this long: occlusion by passing traffic"
    )
    still_speed: float = Field(0.05, ge=0, description="'still' below this ground speed, in box heights per second")
    history_points: int = Field(300, ge=10, description="recent updates kept per track")
    history_trail: int = Field(1800, ge=10, description="long-term trail points kept per track (one per trail tick)")

    @field_validator("classes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in DOMAIN_CLASSES]
        if unknown:
            raise ValueError(f"unknown classes {unknown}; expected domain classes {list(DOMAIN_CLASSES)}")
        return value


class TrackState(enum.Enum):
    TENTATIVE = "tentative"
    TRACKED = "tracked"
    LOST = "lost"


# Kalman noise as in BoT-SORT's xywh filter, expressed per reference frame at 25 fps.
_REF_FPS = 25.0
_W_POS = 1.0 / 20
_W_VEL = 1.0 / 160


_EYE8 = np.eye(8)
_VEL_ROWS = np.arange(4)
_VEL_COLS = np.arange(4, 8)


class _Kalman:
    """Constant-velocity Kalman filter on (cx, cy, w, h) with velocities in pixels per second."""

    __slots__ = ("x", "P")

    def __init__(self, box: np.ndarray) -> None:
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        w, h = max(box[2] - box[0], 1.0), max(box[3] - box[1], 1.0)
        self.x = np.array([cx, cy, w, h, 0, 0, 0, 0], dtype=np.float64)
        s = np.array([w, h, w, h], dtype=np.float64)
        self.P = np.diag(np.concatenate([(2 * _W_POS * s) ** 2, (10 * _W_VEL * _REF_FPS * s) ** 2]))

    @staticmethod
    def _f(dt: float) -> np.ndarray:
        f = _EYE8.copy()
        f[_VEL_ROWS, _VEL_COLS] = dt
        return f

    def _q(self, dt: float) -> np.ndarray:
        w, h = max(self.x[2], 1.0), max(self.x[3], 1.0)
        s = np.array([w, h, w, h])
        n = max(dt * _REF_FPS, 1e-3)
        return np.diag(np.concatenate([n * (_W_POS * s) ** 2, n * (_W_VEL * _REF_FPS * s) ** 2]))

    def predicted(self, dt: float) -> np.ndarray:
        x = self.x.copy()
        x[:4] += dt * x[4:]
        return x

    def predict(self, dt: float) -> None:
        if dt <= 0:
            return
        f = self._f(dt)
        self.x = f @ self.x
        self.P = f @ self.P @ f.T + self._q(dt)
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)

    def update(self, box: np.ndarray) -> None:
        z = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0], box[3] - box[1]])
        s_ = np.array([self.x[2], self.x[3], self.x[2], self.x[3]])
        r = np.diag((_W_POS * s_) ** 2)
        hp = self.P[:4]  # H @ P with H = [I 0]
        s = hp[:, :4] + r
        k = np.linalg.solve(s, hp).T  # P H^T S^-1
        self.x = self.x + k @ (z - self.x[:4])
        self.P = self.P - k @ hp

    def box(self, x: np.ndarray | None = None) -> np.ndarray:
        x = self.x if x is None else x
        return np.array([x[0] - x[2] / 2, x[1] - x[3] / 2, x[0] + x[2] / 2, x[1] + x[3] / 2], dtype=np.float64)


@dataclass(eq=False)
class Track:
    track_id: int
    class_id: int  # domain class id of the track (majority vote of its detections)
    state: TrackState
    kf: _Kalman
    history: TrackHistory
    last_t: float  # time of the last Kalman step
    last_seen_t: float  # time of the last matched detection
    confidence: float
    hits: int = 1

    @property
    def box(self) -> np.ndarray:
        return self.kf.box()

    @property
    def class_name(self) -> str:
        return DOMAIN_CLASSES[self.class_id]

    def is_still(self, cfg: TrackerConfig) -> bool:
        last = self.history.last
        h = max(self.kf.x[3], 1.0)
        return last is not None and self.history.hits >= 3 and last.speed <= cfg.still_speed * h


def _buffered(boxes: np.ndarray, b: float) -> np.ndarray:
    if b <= 0 or len(boxes) == 0:
        return boxes
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return np.stack([boxes[:, 0] - b * w, boxes[:, 1] - b * h, boxes[:, 2] + b * w, boxes[:, 3] + b * h], axis=1)


def _match(tracks: list[Track], boxes: np.ndarray, classes: np.ndarray, gate: float, buffer: float, t: float):
    """Hungarian matching on 1 - IoU of predicted track boxes vs detections, class-group-consistent."""
    if not tracks or len(boxes) == 0:
        return [], list(range(len(tracks))), list(range(len(boxes)))
    pred = np.array([tr.kf.box(tr.kf.predicted(t - tr.last_t)) for tr in tracks], dtype=np.float32)
    iou = box_iou(_buffered(pred, buffer), _buffered(boxes, buffer))
    same = _GROUP_OF[np.array([tr.class_id for tr in tracks])][:, None] == _GROUP_OF[classes][None, :]
    valid = same & (iou >= gate)
    cost = np.where(valid, 1.0 - iou, 1e6)
    rows, cols = linear_sum_assignment(cost)
    matches = [(int(r), int(c)) for r, c in zip(rows, cols) if valid[r, c]]
    mt = {r for r, _ in matches}
    md = {c for _, c in matches}
    return matches, [i for i in range(len(tracks)) if i not in mt], [j for j in range(len(boxes)) if j not in md]


class ByteTracker:
    """One camera's tracker. Feed ``update`` on detection frames, ``predict`` in between."""

    def __init__(self, cfg: TrackerConfig | None = None, view: CameraView | None = None) -> None:
        """``view``: the camera's frame size and calibration, handed to every track history."""
        self.cfg = cfg or TrackerConfig()
        self.view = view
        self._tracked = np.zeros(len(DOMAIN_CLASSES), bool)
        self._tracked[[CLASS_ID[c] for c in self.cfg.classes]] = True
        self._tracks: list[Track] = []
        self._next_id = 1
        self._updates = 0
        self.removed: list[int] = []  # ids removed by the last update (callers free per-track state)

    # -- queries -----------------------------------------------------------------------------
    @property
    def tracks(self) -> list[Track]:
        """Live tracks that were reported (tracked or lost), not tentative ones."""
        return [t for t in self._tracks if t.state is not TrackState.TENTATIVE]

    def get(self, track_id: int) -> Track | None:
        for tr in self._tracks:
            if tr.track_id == track_id:
                return tr
        return None

    def predict(self, t: float) -> Detections:
        """Boxes of the currently tracked (not lost) tracks extrapolated to time ``t``; no state change."""
        live = [tr for tr in self._tracks if tr.state is TrackState.TRACKED]
        if not live:
            return Detections.empty()
        boxes = np.array([tr.kf.box(tr.kf.predicted(t - tr.last_t)) for tr in live], dtype=np.float32)
        return Detections(
            boxes,
            np.array([tr.confidence for tr in live], np.float32),
            np.array([tr.class_id for tr in live], np.int32),
            np.array([tr.track_id for tr in live], np.int64),
        )

    # -- update ------------------------------------------------------------------------------
    def update(self, dets: Detections, t: float, seq: int = 0, wall: float = 0.0, trail_tick: bool = False) -> Detections:
        """Associate one detection frame; returns the matched, reported detections with ``tracker_id`` set.

        The returned boxes keep their detection's ``data`` columns; ``class_id`` is the track's
        voted class, so one vehicle keeps one class across frames.
        """
        cfg = self.cfg
        self._updates += 1
        self.removed = []
        keep = self._tracked[dets.class_id] & (dets.confidence >= cfg.low_conf)
        idx_all = np.nonzero(keep)[0]
        conf = dets.confidence[idx_all]
        high = idx_all[conf >= cfg.high_conf]
        low = idx_all[conf < cfg.high_conf]

        confirmed = [tr for tr in self._tracks if tr.state is not TrackState.TENTATIVE]
        tentative = [tr for tr in self._tracks if tr.state is TrackState.TENTATIVE]
        matched: list[tuple[Track, int]] = []

        # stage 1: confident detections vs every confirmed track (tracked + lost)
        m1, un_tr, un_hi = _match(confirmed, dets.xyxy[high], dets.class_id[high], cfg.match_iou, cfg.buffer, t)
        matched += [(confirmed[r], int(high[c])) for r, c in m1]
        # stage 2: weak detections vs tracks that were tracked until now (lost ones need a confident box)
        rest = [confirmed[i] for i in un_tr if confirmed[i].state is TrackState.TRACKED]
        m2, un2, _ = _match(rest, dets.xyxy[low], dets.class_id[low], cfg.low_match_iou, 0.0, t)
        matched += [(rest[r], int(low[c])) for r, c in m2]
        still_unmatched = {id(rest[i]) for i in un2} | {
            id(confirmed[i]) for i in un_tr if confirmed[i].state is TrackState.LOST
        }
        # stage 3: tentative tracks vs leftover confident detections
        left_hi = high[un_hi]
        m3, un_tent, un_new = _match(tentative, dets.xyxy[left_hi], dets.class_id[left_hi], cfg.match_iou, cfg.buffer, t)
        matched += [(tentative[r], int(left_hi[c])) for r, c in m3]

        out_idx: list[int] = []
        out_ids: list[int] = []
        out_cls: list[int] = []
        for tr, j in matched:
            self._apply(tr, dets, j, t, seq, wall, trail_tick)
            if tr.state is TrackState.TRACKED:
                out_idx.append(j)
                out_ids.append(tr.track_id)
                out_cls.append(tr.class_id)

        # unmatched tracks: tentative die at once, confirmed go lost and are predicted forward
        for i in un_tent:
            self._remove(tentative[i])
        for tr in confirmed:
            if id(tr) in still_unmatched:
                tr.state = TrackState.LOST
                limit = cfg.lost_seconds_still if tr.is_still(cfg) else cfg.lost_seconds
                if t - tr.last_seen_t > limit:
                    self._remove(tr)

        # new tracks from confident leftovers, unless one duplicates a box just matched (same class group)
        first = self._updates == 1
        taken = [j for _, j in matched]
        for c in un_new:
            j = int(left_hi[c])
            if dets.confidence[j] < cfg.new_track_conf or self._duplicate(dets, j, taken):
                continue
            tr = self._new_track(dets, j, t, seq, wall, trail_tick)
            if first or cfg.min_hits <= 1:
                tr.state = TrackState.TRACKED
                out_idx.append(j)
                out_ids.append(tr.track_id)
                out_cls.append(tr.class_id)

        if not out_idx:
            return Detections.empty()
        order = np.array(out_idx)
        res = dets[order]
        res.tracker_id = np.array(out_ids, dtype=np.int64)
        res.class_id = np.array(out_cls, dtype=np.int32)
        return res

    def _duplicate(self, dets: Detections, j: int, taken: list[int]) -> bool:
        same = [k for k in taken if _GROUP_OF[dets.class_id[k]] == _GROUP_OF[dets.class_id[j]]]
        return bool(same) and float(box_iou(dets.xyxy[[j]], dets.xyxy[same]).max()) >= self.cfg.duplicate_iou

    def _new_track(self, dets: Detections, j: int, t: float, seq: int, wall: float, trail_tick: bool) -> Track:
        box = dets.xyxy[j].astype(np.float64)
        hist = TrackHistory(
            self._next_id, max_points=self.cfg.history_points, max_trail=self.cfg.history_trail, view=self.view
        )
        tr = Track(self._next_id, int(dets.class_id[j]), TrackState.TENTATIVE, _Kalman(box), hist, t, t, float(dets.confidence[j]))
        self._next_id += 1
        hist.add(seq, t, wall, box, True, tr.confidence, DOMAIN_CLASSES[tr.class_id], trail_tick)
        self._tracks.append(tr)
        return tr

    def _apply(self, tr: Track, dets: Detections, j: int, t: float, seq: int, wall: float, trail_tick: bool) -> None:
        tr.kf.predict(t - tr.last_t)
        tr.kf.update(dets.xyxy[j].astype(np.float64))
        tr.last_t = t
        tr.last_seen_t = t
        tr.confidence = float(dets.confidence[j])
        tr.hits += 1
        tr.history.add(seq, t, wall, tr.kf.box(), True, tr.confidence, DOMAIN_CLASSES[int(dets.class_id[j])], trail_tick)
        voted = tr.history.class_name
        tr.class_id = CLASS_ID[voted]
        if tr.state is TrackState.LOST or (tr.state is TrackState.TENTATIVE and tr.hits >= self.cfg.min_hits):
            tr.state = TrackState.TRACKED

    def _remove(self, tr: Track) -> None:
        self._tracks.remove(tr)
        if tr.state is not TrackState.TENTATIVE:  # never-reported tentative ids are nobody's business
            self.removed.append(tr.track_id)

    def flush(self) -> list[int]:
        """End of stream: remove every track; returns their ids."""
        ids = [tr.track_id for tr in self._tracks]
        self._tracks = []
        return ids
