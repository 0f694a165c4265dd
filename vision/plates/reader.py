"""Plate reading end to end: detect (with corners) -> rectify -> OCR (batched) -> grammar -> colour -> vote.

``PlateReader.read_track`` is what the engine calls, once per track, with BGR crops of the vehicle
(box plus a margin): running the detector on the vehicle crop ties the plate to its vehicle and costs a
fraction of a full frame. ``read_image`` reads every plate in a photo (evaluation, single images).

Each plate is first read as a single row in the image's colours. Only reads that fail the grammar get
a second, batched pass: a contrast-equalised grey version and, for quads squat enough to be double-row
plates, the two rows read separately and joined (province + letter on top, the serial below).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np
from pydantic import Field

from models.strict import StrictModel
from vision.plates.color import PlateColorName, classify_color
from vision.plates.companion import read_companion
from vision.plates.detect import DetectorParams, PlateDetection, PlateDetector
from vision.plates.grammar import KIND_COLOR, PLATE_CHARSET, Candidate, GrammarResult, normalise
from vision.plates.ocr import TextRecognizer, charset_from_session
from vision.plates.rectify import quad_aspect, rectify, split_rows
from vision.plates.vote import Ballot, vote

if TYPE_CHECKING:
    from models.registry import Registry

DETECTOR_MODEL = "plate_det_clp"
OCR_MODEL = "ocr_rec_ppocrv4"
# detector corner order (BR, BL, TL, TR, as trained on CCPD) -> TL, TR, BR, BL
_CORNER_ORDER = [2, 3, 0, 1]
# formats that are only ever printed on these colours; a read on another colour is a misread
_FORMAT_COLORS = {"military": {"white"}}


class PlateReaderConfig(StrictModel):
    """Tuning of plate reading; defaults were set on the shared plate photos (see eval plates)."""

    det_min_score: float = Field(0.5, ge=0, le=1, description="plate detector score to keep a plate")
    crop_max_side: int = Field(416, ge=64, description="vehicle crops are downscaled to this before detection")
    crop_retry_max_side: int = Field(832, ge=64, description="finer detection scale when nothing was readable at crop_max_side")
    image_max_side: int = Field(2048, ge=64, description="whole photos are downscaled to this before detection")
    min_plate_width: float = Field(16.0, ge=0, description="plates narrower than this (input px) are not read")
    margin_x: float = Field(0.04, ge=0, le=0.3, description="rectification margin, fraction of plate width")
    margin_y: float = Field(0.1, ge=0, le=0.5, description="rectification margin, fraction of plate height")
    single_aspect: float = Field(3.2, gt=1, description="width/height of a rectified single-row plate")
    double_row_max_aspect: float = Field(2.8, gt=0, description="quads squatter than this are also tried as double-row")
    double_row_top: float = Field(0.36, gt=0.1, lt=0.6, description="top row share of a double-row plate's height")
    max_repairs: int = Field(2, ge=0, description="most characters the grammar may repair in one read")
    min_char_confidence: float = Field(0.3, ge=0, le=1, description="a weaker character makes the read unreadable")
    track_candidates: int = Field(6, ge=1, description="vehicle crops of a track that get plate detection")
    track_reads: int = Field(3, ge=1, description="best plate crops of a track that are read and voted")
    min_agreement: float = Field(0.5, ge=0, le=1, description="voted plates below this agreement are unreadable")
    companion_plates: bool = Field(True, description="read_image also reads the HK/Macau local plate beside a 粤Z…港/澳 plate")


@dataclass(frozen=True)
class PlateRead:
    """A plate as read: what ``PlateReader.read_track`` returns once per track, and ``read_image``
    once per plate in a photo. Consumers (the engine's evidence facts, the plate evaluation) rely on:

    - ``text``: the plate as it validated against the grammar (e.g. ``"沪A12345"``), or None when
      unreadable; ``reason`` then says why in one line (no plate found, no valid read, reads disagree).
    - ``color``: the background colour; fixed by the format where it is (police: white), else from
      the pixels.
    - ``agreement``: 0..1. For a track, the confidence mass behind the voted characters over the most
      there could be (reads below the reader's ``min_agreement`` leave ``text`` None); for a photo
      plate, its mean character confidence. 0 when nothing valid was read.
    - ``reads``: how many plate crops were read (and voted, for a track); 0 when no plate was found.

    The rest describes the chosen view: ``char_confidences`` per character, ``rows`` (1 or 2),
    ``kind`` (the grammar's plate format, e.g. ``"standard"``, ``"new_energy_small"``), ``box`` and
    ``corners`` (TL, TR, BR, BL) in pixels of the image read (the chosen vehicle crop for a track),
    the detector's ``detection_score``, and ``raw``, what the recogniser output before the grammar.
    """

    text: str | None
    color: PlateColorName = "unknown"
    agreement: float = 0.0
    reason: str | None = None
    char_confidences: tuple[float, ...] = ()
    rows: int = 1
    kind: str | None = None
    box: tuple[float, float, float, float] | None = None
    corners: tuple[tuple[float, float], ...] | None = None
    detection_score: float = 0.0
    raw: str = ""
    reads: int = 0


@dataclass
class _Plate:
    """One detected plate being read: its views, and the best grammar result so far."""

    det: PlateDetection
    image: np.ndarray
    corners: np.ndarray  # TL, TR, BR, BL in image pixels
    color: str = "unknown"
    result: GrammarResult | None = None
    raw: str = ""
    rows: int = 1
    quality: float = 1.0
    views: list[tuple[str, list[np.ndarray]]] = field(default_factory=list)


class PlateReader:
    def __init__(self, detector: PlateDetector, recognizer: TextRecognizer, config: PlateReaderConfig | None = None):
        self.detector = detector
        self.recognizer = recognizer
        self.config = config or PlateReaderConfig()

    @classmethod
    def from_registry(cls, registry: "Registry | None" = None, config: PlateReaderConfig | None = None,
                      threads: int | None = None, providers: list[str] | None = None) -> "PlateReader":
        """Both models through the registry (raises ModelMissingError naming the fetch command)."""
        from models.registry import Registry
        from models.session import create_session

        registry = registry or Registry()
        det_path: Path = registry.path(DETECTOR_MODEL)
        ocr_path: Path = registry.path(OCR_MODEL)
        det_manifest = registry.manifest(DETECTOR_MODEL)
        ocr_manifest = registry.manifest(OCR_MODEL)
        detector = PlateDetector(create_session(det_path, providers, threads), DetectorParams.from_manifest(det_manifest.params))
        ocr_session = create_session(ocr_path, providers, threads)
        charset = charset_from_session(
            ocr_session,
            key=ocr_manifest.params.get("character_metadata_key", "character"),
            append_space=bool(ocr_manifest.params.get("append_space", True)),
        )
        recognizer = TextRecognizer(ocr_session, charset, allowed=PLATE_CHARSET, height=ocr_manifest.input.height or 48)
        return cls(detector, recognizer, config)

    # ---------------------------------------------------------------- public API

    def read_image(self, image: np.ndarray) -> list[PlateRead]:
        """Every plate the detector finds in a photo, each read on its own (unreadable ones included)."""
        dets = self.detector.detect(image, self.config.det_min_score, self.config.image_max_side)
        plates = [self._plate(image, d) for d in dets if d.width >= self.config.min_plate_width]
        self._read(plates)
        out = [self._single_result(p) for p in plates]
        if self.config.companion_plates:
            out += [c for p in plates if p.result and p.result.kind == "hk_macau_crossborder"
                    for c in [self._companion(p)] if c is not None]
        return out

    def read_track(self, crops: Sequence[np.ndarray]) -> PlateRead:
        """One plate for a track from BGR vehicle crops: the best few plate views, read and voted."""
        cfg = self.config
        usable = [c for c in crops if c is not None and c.ndim == 3 and min(c.shape[:2]) >= 16]
        if not usable:
            return PlateRead(None, reason="no usable vehicle crop")
        ranked = usable
        if len(usable) > cfg.track_candidates:  # cheap pre-selection before the detector: big, sharp crops
            ranked = sorted(usable, key=lambda c: -(c.shape[0] * c.shape[1]) * (_sharpness(c) ** 0.5))[: cfg.track_candidates]
        plates = self._track_plates(ranked, cfg.crop_max_side)
        if not any(p.result and p.result.valid for p in plates):
            # nothing readable at the fast scale: large crops get one look at a finer scale, where
            # the detector finds more plates and places corners better (no province cut off)
            finer = [c for c in ranked if max(c.shape[:2]) > cfg.crop_max_side * 1.25]
            if finer and cfg.crop_retry_max_side > cfg.crop_max_side:
                plates = self._track_plates(finer, cfg.crop_retry_max_side) or plates
        if not plates:
            return PlateRead(None, reason="no plate found on the vehicle", reads=0)
        return self._vote(plates)

    def _track_plates(self, crops: Sequence[np.ndarray], max_side: int) -> list[_Plate]:
        """Detect the vehicle's plate in each crop at ``max_side``; read the best ``track_reads``."""
        cfg = self.config
        plates: list[_Plate] = []
        for crop in crops:
            dets = [d for d in self.detector.detect(crop, cfg.det_min_score, max_side) if d.width >= cfg.min_plate_width]
            if dets:
                plates.append(self._plate(crop, _vehicle_plate(dets, crop.shape)))
        if not plates:
            return []
        self._score_quality(plates)
        plates = sorted(plates, key=lambda p: -p.quality)[: cfg.track_reads]
        self._read(plates)
        return plates

    # ---------------------------------------------------------------- internals

    def _plate(self, image: np.ndarray, det: PlateDetection) -> _Plate:
        corners = det.corners[_CORNER_ORDER]
        flat = rectify(image, corners, height=24, margin_x=0, margin_y=0, aspect=self.config.single_aspect)
        return _Plate(det=det, image=image, corners=corners, color=classify_color(flat).color)

    def _read(self, plates: list[_Plate]) -> None:
        """Pass 1: single-row colour crop for all; pass 2 (one batch) for the ones the grammar rejected."""
        cfg = self.config
        h = self.recognizer.height
        for p in plates:
            p.views = [("single", [rectify(p.image, p.corners, h, cfg.margin_x, cfg.margin_y, cfg.single_aspect)])]
        self._run_views(plates)
        retry = [p for p in plates if not (p.result and p.result.valid)]
        if not retry:
            return
        for p in retry:
            single = p.views[0][1][0]
            p.views = [("single", [_equalised(single)])]
            if quad_aspect(p.corners) < cfg.double_row_max_aspect:
                top, bottom = split_rows(p.corners, cfg.double_row_top)
                top_img = rectify(p.image, top, h, cfg.margin_x, cfg.margin_y * 2, cfg.single_aspect * 1.4)
                bottom_img = rectify(p.image, bottom, h, cfg.margin_x, cfg.margin_y / 2, cfg.single_aspect)
                p.views.append(("double", [top_img, bottom_img]))
        self._run_views(retry)

    def _run_views(self, plates: list[_Plate]) -> None:
        images = [img for p in plates for _, imgs in p.views for img in imgs]
        reads = iter(self.recognizer.read(images))
        for p in plates:
            for kind, imgs in p.views:
                parts = [next(reads) for _ in imgs]
                cands = tuple(c for r in parts for c in r.candidates)
                result = self._grammar(cands, p.color)
                if _better(result, p.result):
                    p.result, p.raw, p.rows = result, "".join(r.text for r in parts), 2 if kind == "double" else 1

    def _grammar(self, cands: Sequence[Candidate], color: str) -> GrammarResult:
        return validate_read(cands, color, self.config)

    def _single_result(self, p: _Plate) -> PlateRead:
        res = p.result or GrammarResult(None, None, "not read")
        color = _plate_color(res, p.color)
        agreement = float(np.mean(res.char_confidences)) if res.valid and res.char_confidences else 0.0
        return PlateRead(
            text=res.text, color=color, agreement=agreement, reason=res.reason, char_confidences=res.char_confidences,
            rows=p.rows, kind=res.kind, box=p.det.box, corners=_corner_tuple(p.corners), detection_score=p.det.score,
            raw=p.raw, reads=1,
        )

    def _companion(self, p: _Plate) -> PlateRead | None:
        found = read_companion(p.image, p.corners, self.recognizer)
        if found is None:
            return None
        xs, ys = found.corners[:, 0], found.corners[:, 1]
        return PlateRead(
            text=found.text, color=found.color, agreement=float(np.mean(found.char_confidences)),
            char_confidences=found.char_confidences, rows=found.rows, kind="hk_macau_local",
            box=(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())),
            corners=_corner_tuple(found.corners), raw=found.text, reads=1,
        )

    def _score_quality(self, plates: list[_Plate]) -> None:
        """Weight of each view: detector score x relative size x relative sharpness x frontal-ness."""
        widths = np.array([p.det.width for p in plates])
        sharp = np.array([_sharpness(rectify(p.image, p.corners, 32, 0, 0, self.config.single_aspect)) for p in plates])
        for p, w, s in zip(plates, widths / max(widths.max(), 1e-6), sharp / max(sharp.max(), 1e-6)):
            p.quality = float(p.det.score * w * np.sqrt(s) * _frontal(p.corners))

    def _vote(self, plates: list[_Plate]) -> PlateRead:
        ballots, reasons = [], []
        for p in plates:
            if p.result and p.result.valid:
                ballots.append(Ballot(p.result.text, p.result.char_confidences, p.quality))
            elif p.result and p.result.reason:
                reasons.append(p.result.reason)
        best = max(plates, key=lambda p: p.quality)
        if not ballots:
            return PlateRead(None, color=best.color, reason=reasons[0] if reasons else "no valid read", reads=len(plates),
                             box=best.det.box, corners=_corner_tuple(best.corners), detection_score=best.det.score, raw=best.raw)
        voted = vote(ballots, self.config.min_agreement)
        backing = [p for p in plates if p.result and p.result.valid and p.result.text == voted.text] or [best]
        chosen = max(backing, key=lambda p: p.quality)
        kind = chosen.result.kind if chosen.result else None
        color = _vote_color(plates, kind)
        return PlateRead(
            text=voted.text, color=color, agreement=voted.agreement, reason=voted.reason,
            char_confidences=voted.char_confidences, rows=chosen.rows, kind=kind if voted.text else None,
            box=chosen.det.box, corners=_corner_tuple(chosen.corners), detection_score=chosen.det.score,
            raw=chosen.raw, reads=len(plates),
        )


# -------------------------------------------------------------------- helpers


def validate_read(cands: Sequence[Candidate] | str, color: str, config: PlateReaderConfig | None = None) -> GrammarResult:
    """The grammar, plus what the plate's colour rules out (see ``_FORMAT_COLORS``).

    HK/Macau local plates are refused here: in mainland traffic they only ride beside a 粤Z…港/澳
    plate (the companion search reads them); alone, the same shape is far likelier a mainland plate
    whose province was not read. Seven characters on a green plate are a new-energy plate missing one.
    """
    cfg = config or PlateReaderConfig()
    res = normalise(cands, max_repairs=cfg.max_repairs, min_char_confidence=cfg.min_char_confidence)
    if not res.valid:
        return res
    if res.kind == "hk_macau_local":
        return replace(res, text=None, reason=f"{res.text!r} has the shape of a HK/Macau local plate, "
                       "but no 粤Z…港/澳 plate was read beside it (province missing?)")
    if res.kind in _FORMAT_COLORS and color not in _FORMAT_COLORS[res.kind]:
        return replace(res, text=None, reason=f"{res.text!r} reads as a {res.kind} plate but the plate is {color}")
    if res.kind == "standard" and color == "green":
        return replace(res, text=None, reason=f"7 characters ({res.text!r}) on a green plate: new-energy plates have 8")
    return res



def _better(new: GrammarResult, old: GrammarResult | None) -> bool:
    if old is None:
        return True
    if new.valid != old.valid:
        return new.valid
    if new.valid:
        return (new.repairs, -_mean(new.char_confidences)) < (old.repairs, -_mean(old.char_confidences))
    return False


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def _plate_color(res: GrammarResult, pixels: str) -> str:
    fixed = KIND_COLOR.get(res.kind) if res.valid and res.kind else None
    return fixed or pixels


def _vote_color(plates: list[_Plate], kind: str | None) -> str:
    fixed = KIND_COLOR.get(kind) if kind else None
    if fixed:
        return fixed
    weights: dict[str, float] = {}
    for p in plates:
        weights[p.color] = weights.get(p.color, 0.0) + p.quality
    return max(weights, key=lambda c: weights[c])


def _sharpness(image: np.ndarray) -> float:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    if max(gray.shape) > 256:
        s = 256 / max(gray.shape)
        gray = cv2.resize(gray, (max(1, int(gray.shape[1] * s)), max(1, int(gray.shape[0] * s))), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_32F).var()) + 1e-6


def _frontal(corners: np.ndarray) -> float:
    """1 for a rectangle seen head-on; lower when opposite edges differ (perspective, skew)."""
    c = corners.astype(np.float32)
    top, bottom = np.linalg.norm(c[1] - c[0]), np.linalg.norm(c[2] - c[3])
    left, right = np.linalg.norm(c[3] - c[0]), np.linalg.norm(c[2] - c[1])
    ratio_w = min(top, bottom) / max(top, bottom, 1e-6)
    ratio_h = min(left, right) / max(left, right, 1e-6)
    edge = c[1] - c[0]
    tilt = abs(np.arctan2(edge[1], edge[0]))
    return float(ratio_w * ratio_h * max(0.2, np.cos(tilt)))


def _equalised(plate: np.ndarray) -> np.ndarray:
    """Contrast-equalised grey: rescues over-saturated colours and dim plates the colour read missed."""
    gray = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
    eq = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(gray)
    return cv2.cvtColor(eq, cv2.COLOR_GRAY2BGR)


def _vehicle_plate(dets: list[PlateDetection], shape: tuple[int, ...]) -> PlateDetection:
    """The vehicle's own plate in its crop: confident, large, and nearest the horizontal centre."""
    cx = shape[1] / 2

    def score(d: PlateDetection) -> float:
        off = abs((d.box[0] + d.box[2]) / 2 - cx) / max(shape[1], 1)
        return d.score * np.sqrt(max(d.width, 1.0)) * (1.0 - off)

    return max(dets, key=score)


def _corner_tuple(c: np.ndarray) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in c)
