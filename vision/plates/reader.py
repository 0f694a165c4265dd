"""Plate reading end to end: two detectors -> rectify -> two recognisers (batched) -> grammar -> decision -> vote.

``PlateReader.read_track`` is what the engine calls, once per track, with BGR crops of the vehicle
(box plus a margin): running the detectors on the vehicle crop ties the plate to its vehicle and
costs a fraction of a full frame. ``read_image`` reads every plate in a photo (evaluation, single
images).

Double reading (issue 12): ``clp_det`` and HyperLPR3's ``y5fu`` both look for plates (union,
``fuse``); every plate is rectified once and read by PP-OCRv4 and by HyperLPR's recogniser, each
batched over all plates; each read passes the grammar alone; ``decision`` confirms a plate only
when both agree, or when they differ only in the province and a third recogniser (PP-OCRv6, the
referee, run on those plates only) backs the reader sure of it. The y5fu row flag says when to read
a plate as two rows. Plates not confirmed by
the first view get a second, batched pass: a contrast-equalised view and, for squat quads, the
other row layout. See ``result.PlateRead`` for what comes back.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from pydantic import Field, field_validator

from models.strict import StrictModel
from vision.plates.color import ColorClassifier, classify_color, combine_color
from vision.plates.companion import read_companion
from vision.plates.decision import REFEREE, Decision, decide, decide_track, province_dispute
from vision.plates.detect import DetectorParams, PlateDetection, PlateDetector
from vision.plates.detect_y5fu import Y5fuDetector, Y5fuParams
from vision.plates.fuse import fuse_detections
from vision.plates.grammar import (
    KIND_COLOR,
    PLATE_CHARSET,
    PROVINCES,
    Candidate,
    GrammarResult,
    normalise,
    refine_kind,
    runner_ups,
)
from vision.plates.ocr import TextRecognizer, charset_from_session
from vision.plates.rectify import quad_aspect, rectify
from vision.plates.result import PlateCandidate, PlateRead, ReaderRead
from vision.plates.segfree import SegFreeRecognizer
from vision.plates.views import (
    Plate,
    View,
    ViewSpec,
    context_crop,
    corner_tuple,
    double_view,
    inset_rows,
    is_squat,
    score_quality,
    sharpness,
    single_view,
    vehicle_plate,
)

if TYPE_CHECKING:
    from models.registry import Registry

DETECTOR_MODEL = "plate_det_clp"
SECOND_DETECTOR_MODEL = "plate_det_y5fu_320"
OCR_MODEL = "ocr_rec_ppocrv4"
SECOND_OCR_MODEL = "ocr_rec_hyperlpr"
COLOR_MODEL = "plate_color_hyperlpr3"
REFEREE_MODEL = "ocr_rec_ppocrv6"
MODELS = (DETECTOR_MODEL, SECOND_DETECTOR_MODEL, OCR_MODEL, SECOND_OCR_MODEL, COLOR_MODEL, REFEREE_MODEL)
# formats that are only ever printed on these colours; a read on another colour is a misread
_FORMAT_COLORS = {"military": {"white"}}
_RANK = {"confirmed": 2, "unconfirmed": 1, "unreadable": 0}


class PlateReaderConfig(StrictModel):
    """Tuning of plate reading; defaults were set on the tuned part of the shared plate data (see eval plates)."""

    det_min_score: float = Field(0.5, ge=0, le=1, description="clp_det score to keep a plate")
    second_min_score: float = Field(0.6, ge=0, le=1, description="y5fu score (objectness x row class) to keep a plate")
    fuse_iou: float = Field(0.3, gt=0, le=1, description="IoU at which the two detectors' plates are one plate")
    double_row_flag: float = Field(0.5, ge=0, le=1, description="y5fu double-row probability to read a plate as two rows")
    crop_max_side: int = Field(416, ge=64, description="vehicle crops are downscaled to this before detection")
    crop_retry_max_side: int = Field(832, ge=64, description="finer detection scale when nothing was readable at crop_max_side")
    image_max_side: int = Field(2048, ge=64, description="whole photos are downscaled to this before detection")
    min_plate_width: float = Field(16.0, ge=0, description="plates narrower than this (input px) are not read")
    margin_x: float = Field(0.04, ge=0, le=0.3, description="rectification margin, fraction of plate width")
    margin_y: float = Field(0.1, ge=0, le=0.5, description="rectification margin, fraction of plate height")
    second_inset_y: float = Field(0.1, ge=0, lt=0.3, description="HyperLPR's crop: this share of the plate height inside its edges")
    second_inset_x: float = Field(0.0, ge=-0.3, lt=0.1, description="... and this share of its width (negative: a margin)")
    crop_second_inset_x: float = Field(-0.04, ge=-0.3, lt=0.1, description="second_inset_x for read_crops (tight cut-outs)")
    single_aspect: float = Field(3.2, gt=1, description="width/height of a rectified single-row plate")
    double_row_max_aspect: float = Field(2.8, gt=0, description="quads squatter than this are also tried as double-row")
    double_row_top: float = Field(0.36, gt=0.1, lt=0.6, description="top row share of a double-row plate's height")
    max_repairs: int = Field(2, ge=0, description="most characters the grammar may repair in one read")
    min_char_confidence: float = Field(0.1, ge=0, le=1, description="a weaker character makes a reader's read invalid")
    max_runner_up: float = Field(0.35, ge=0, le=1, description="no confirmation if a reader gave another character this much")
    province_sure: dict[str, float] = Field(
        default_factory=lambda: {"ppocr": 0.8, "hyperlpr": 0.9},
        description="per reader: province confidence one reader must reach for a confirmation")
    color_min_prob: float = Field(0.9, ge=0, le=1, description="colour classifier probability to override HSV")
    track_candidates: int = Field(6, ge=1, description="vehicle crops of a track that get plate detection")
    track_reads: int = Field(3, ge=1, description="best plate crops of a track that are read and voted")
    min_agreement: float = Field(0.5, ge=0, le=1, description="a confirmed track below this vote agreement is unconfirmed")
    confirm_agreement: float = Field(0.75, ge=0, le=1, description="vote agreement confirming a track no crop confirmed")
    local_province: str | None = Field(None, min_length=1, max_length=1, description="site province: tie-break of unsure provinces")
    tie_break_below: float = Field(0.8, ge=0, le=1, description="province confidence below which a tie may be broken")
    companion_plates: bool = Field(True, description="read_image also reads the HK/Macau local plate beside a 粤Z…港/澳 plate")

    @field_validator("local_province")
    @classmethod
    def _province(cls, value: str | None) -> str | None:
        if value is not None and value not in PROVINCES:
            raise ValueError(f"{value!r} is not a province abbreviation ({PROVINCES})")
        return value


class PlateReader:
    def __init__(self, detector: PlateDetector, recognizer: TextRecognizer, config: PlateReaderConfig | None = None,
                 second_detector: Y5fuDetector | None = None, second_recognizer: SegFreeRecognizer | None = None,
                 color_classifier: ColorClassifier | None = None, referee: TextRecognizer | None = None):
        self.detector = detector
        self.recognizer = recognizer
        self.second_detector = second_detector
        self.second_recognizer = second_recognizer
        self.color_classifier = color_classifier
        self.referee = referee  # PP-OCRv6: reads only the views whose province the other two dispute
        self.config = config or PlateReaderConfig()
        c = self.config
        self.spec = ViewSpec(recognizer.height, c.margin_x, c.margin_y, c.single_aspect, c.double_row_top)

    @classmethod
    def from_registry(cls, registry: "Registry | None" = None, config: PlateReaderConfig | None = None,
                      threads: int | None = None, providers: list[str] | None = None,
                      second_detector_model: str = SECOND_DETECTOR_MODEL) -> "PlateReader":
        """All six models through the registry (raises ModelMissingError naming the fetch command);
        ``second_detector_model`` may name the 640 y5fu instead of the 320 one."""
        from models.registry import Registry
        from models.session import create_session

        registry = registry or Registry()
        names = [second_detector_model if n == SECOND_DETECTOR_MODEL else n for n in MODELS]
        paths: dict[str, Path] = {name: registry.path(name) for name in names}
        manifests = {name: registry.manifest(name) for name in names}

        def session(name: str) -> Any:
            return create_session(paths[name], providers, threads)

        detector = PlateDetector(session(DETECTOR_MODEL), DetectorParams.from_manifest(manifests[DETECTOR_MODEL].params))
        y5 = manifests[second_detector_model]
        second_detector = Y5fuDetector(session(second_detector_model), Y5fuParams.from_manifest(y5.name, y5.input.width, y5.params))
        def ppocr(name: str) -> TextRecognizer:
            s, m = session(name), manifests[name]
            charset = charset_from_session(s, key=m.params.get("character_metadata_key", "character"),
                                           append_space=bool(m.params.get("append_space", True)))
            return TextRecognizer(s, charset, allowed=PLATE_CHARSET, height=m.input.height or 48)

        recognizer = ppocr(OCR_MODEL)
        hl = manifests[SECOND_OCR_MODEL]
        second = SegFreeRecognizer(session(SECOND_OCR_MODEL), list(hl.params["characters"]), allowed=PLATE_CHARSET,
                                   width=hl.input.height or 160, height=hl.input.width or 40,
                                   skip_steps=int(hl.params.get("skip_steps", 2)))
        colors = ColorClassifier(session(COLOR_MODEL), size=manifests[COLOR_MODEL].input.width or 96,
                                 labels=tuple(manifests[COLOR_MODEL].class_names[i] for i in sorted(manifests[COLOR_MODEL].class_names)))
        return cls(detector, recognizer, config, second_detector, second, colors, ppocr(REFEREE_MODEL))

    # ---------------------------------------------------------------- public API

    def read_image(self, image: np.ndarray) -> list[PlateRead]:
        """Every plate the detectors find in a photo, each read on its own (unreadable ones included)."""
        plates = [self._plate(image, d) for d in self._detect(image, self.config.image_max_side)]
        self._read(plates)
        out = [self._single_result(p) for p in plates]
        if self.config.companion_plates:
            out += [c for p, r in zip(plates, out) if r.candidates and r.candidates[0].kind == "hk_macau_crossborder"
                    for c in [self._companion(p)] if c is not None]
        return out

    def read_track(self, crops: Sequence[np.ndarray]) -> PlateRead:
        """One plate for a track from BGR vehicle crops: the best few plate views, read and voted."""
        cfg = self.config
        usable = [c for c in crops if c is not None and c.ndim == 3 and min(c.shape[:2]) >= 16]
        if not usable:
            return PlateRead(None, reason="no usable vehicle crop")
        ranked = usable
        if len(usable) > cfg.track_candidates:  # cheap pre-selection before the detectors: big, sharp crops
            ranked = sorted(usable, key=lambda c: -(c.shape[0] * c.shape[1]) * (sharpness(c) ** 0.5))[: cfg.track_candidates]
        plates = self._track_plates(ranked, cfg.crop_max_side)
        result = self._vote(plates) if plates else None
        if result is None or result.status == "unreadable":
            # nothing readable at the fast scale: large crops get one look at a finer scale, where
            # clp_det finds more plates and places corners better (no province cut off)
            finer = [c for c in ranked if max(c.shape[:2]) > cfg.crop_max_side * 1.25]
            if finer and cfg.crop_retry_max_side > cfg.crop_max_side:
                again = self._track_plates(finer, cfg.crop_retry_max_side)
                retry = self._vote(again) if again else None
                if retry is not None and (result is None or _RANK[retry.status] > _RANK[result.status]):
                    result = retry
        return result or PlateRead(None, reason="no plate found on the vehicle", reads=0)

    def read_crops(self, crops: Sequence[np.ndarray]) -> list[PlateRead]:
        """Plates already cut out (one per image, no margin), read by both recognisers in one batch:
        scores the recognisers alone (``eval plates --crops``) and serves crops from another system."""
        plates = []
        for crop in crops:
            h, w = crop.shape[:2]
            corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
            plates.append(self._plate(crop, PlateDetection((0.0, 0.0, float(w), float(h)), corners, 1.0, sources=("crop",))))
        self._read(plates, replace(self.spec, margin_y=0.0), crops=True)
        return [self._single_result(p) for p in plates]

    # ---------------------------------------------------------------- detection

    def _detect(self, image: np.ndarray, max_side: int) -> list[PlateDetection]:
        cfg = self.config
        first = self.detector.detect(image, cfg.det_min_score, max_side)
        second = self.second_detector.detect(image, cfg.second_min_score) if self.second_detector else []
        dets = fuse_detections(first, cfg.det_min_score, second, cfg.second_min_score, cfg.fuse_iou)
        return [d for d in dets if d.width >= cfg.min_plate_width]

    def _track_plates(self, crops: Sequence[np.ndarray], max_side: int) -> list[Plate]:
        """Detect the vehicle's plate in each crop at ``max_side``; read the best ``track_reads``."""
        plates = [self._plate(crop, vehicle_plate(dets, crop.shape)) for crop in crops for dets in [self._detect(crop, max_side)] if dets]
        if not plates:
            return []
        score_quality(plates, self.config.single_aspect)
        plates = sorted(plates, key=lambda p: -p.quality)[: self.config.track_reads]
        self._read(plates)
        return plates

    def _plate(self, image: np.ndarray, det: PlateDetection) -> Plate:
        flat = rectify(image, det.corners, height=24, margin_x=0, margin_y=0, aspect=self.config.single_aspect)
        return Plate(det=det, image=image, corners=det.corners, color=classify_color(flat).color)

    # ---------------------------------------------------------------- reading

    def _read(self, plates: list[Plate], spec: ViewSpec | None = None, crops: bool = False) -> None:
        """Pass 1: the detector's row layout for all; pass 2 (one batch) for the plates not confirmed."""
        cfg = self.config
        spec = spec or self.spec
        for p in plates:
            flag = p.double_flag
            p.pending = [double_view(p, spec) if flag is not None and flag >= cfg.double_row_flag else single_view(p, spec)]
            if self.color_classifier is not None:
                p.color = combine_color(classify_color(rectify(p.image, p.corners, 24, 0, 0, cfg.single_aspect)),
                                        self.color_classifier.probabilities(p.pending[0].images[0]), cfg.color_min_prob)
        self._run(plates, crops)
        # a retry view can only confirm a plate whose first reads were not both valid (a second valid
        # plate, or a contested read, keeps it unconfirmed whatever the retry reads): retry only those
        retry = [p for p in plates if self._chosen(p)[1].status != "confirmed" and not self._settled(p)]
        for p in retry:
            tried = {v.name for v in p.views}
            p.pending = [single_view(p, spec, "equalised")]
            if "double" not in tried and is_squat(p.corners, cfg.double_row_max_aspect):
                p.pending.append(double_view(p, spec))
            elif "single" not in tried:
                p.pending.append(single_view(p, spec))
        self._run(retry, crops)

    @staticmethod
    def _settled(p: Plate) -> bool:
        """Every recogniser gave a valid read on the first view (they disagree, or one was contested)."""
        reads = [r for r in p.views[0].reads if r.reader != REFEREE] if p.views else []
        return len(reads) >= 2 and all(r.text for r in reads)

    def _readers(self, crops: bool = False) -> list[tuple[str, Any, Any]]:
        """(name, recogniser, framing of (image, its vertical margin, its horizontal margin)) per recogniser."""
        out: list[tuple[str, Any, Any]] = [("ppocr", self.recognizer, lambda img, m, mx: img)]
        if self.second_recognizer is not None:
            c = self.config
            inset_x = c.crop_second_inset_x if crops else c.second_inset_x
            out.append((self.second_recognizer.name, self.second_recognizer,
                        lambda img, m, mx: inset_rows(img, m, c.second_inset_y, mx, inset_x)))
        return out

    def _run(self, plates: list[Plate], crops: bool = False) -> None:
        """Every pending view of every plate through each recogniser as one batch, then the decision."""
        views = [(p, v) for p in plates for v in p.pending]
        images = [(img, m, v.margin_x) for _, v in views for img, m in zip(v.images, v.margins_y)]
        if not images:
            return
        streams = [(name, iter(rec.read([frame(i, m, mx) for i, m, mx in images]))) for name, rec, frame in self._readers(crops)]
        for p, v in views:
            v.reads = tuple(self._reader_read(name, [next(stream) for _ in v.images], p, v) for name, stream in streams)
        # the province referee reads, in one batch, the PP-OCRv4 images of the views whose two reads
        # differ only in the province (about one plate in seven)
        disputed = [(p, v) for p, v in views if self.referee is not None and province_dispute(v.reads)]
        if disputed:
            stream = iter(self.referee.read([img for _, v in disputed for img in v.images]))
            for p, v in disputed:
                v.reads += (self._reader_read(REFEREE, [next(stream) for _ in v.images], p, v),)
        for p, v in views:
            v.decision = self._decide(v.reads)
            p.views.append(v)
        for p in plates:
            p.pending = []

    def _reader_read(self, name: str, parts: Sequence[Any], p: Plate, v: View) -> ReaderRead:
        """One recogniser's read of a view (its rows joined), through the grammar."""
        cands = tuple(c for r in parts for c in r.candidates)
        res = validate_read(cands, p.color, self.config, rows=v.rows)
        return ReaderRead(name, "".join(r.text for r in parts), res.text, res.kind, res.char_confidences,
                          res.reason, res.repairs, runner_ups(cands, res.text) if res.text else ())

    def _decide(self, reads: Sequence[ReaderRead]) -> Decision:
        c = self.config
        return decide(reads, c.local_province, c.tie_break_below, c.max_runner_up, c.province_sure)

    def _chosen(self, p: Plate) -> tuple[View, Decision]:
        """The view to report: confirmed before unconfirmed before unreadable, then the surest first read.
        A retry view only rescues plates whose first reads were invalid: any view reading another valid
        plate, or a contested view, leaves the plate unconfirmed with all the candidates."""
        if not p.views:
            return View("none", []), Decision("unreadable", None, reason="not read")
        confirmed = {v.decision.text for v in p.views if v.decision and v.decision.status == "confirmed"}
        # a confirmed view has already weighed its own reads (a province the referee overruled)
        valid = confirmed | {r.text for v in p.views if v.decision.status != "confirmed" for r in v.reads if r.text}
        best = max(p.views, key=lambda v: (_RANK[v.decision.status], _first_quality(v)))
        contested = next((v.decision for v in p.views if v.decision.contested), None)
        if confirmed and contested is not None:
            return best, replace(best.decision, status="unconfirmed", text=None, reason=contested.reason)
        if len(confirmed) <= 1 and (not confirmed or valid == confirmed):
            return best, best.decision
        cands: dict[str, PlateCandidate] = {}
        for v in sorted(p.views, key=lambda v: -_RANK[v.decision.status]):
            for c in v.decision.candidates:
                cands.setdefault(c.text, c)
        reason = f"views of the plate read different valid plates: {', '.join(sorted(valid))}"
        return best, replace(best.decision, status="unconfirmed", text=None, candidates=tuple(cands.values()), reason=reason)

    # ---------------------------------------------------------------- results

    def _colors(self, d: Decision, p: Plate) -> tuple[str, tuple[PlateCandidate, ...]]:
        cands = tuple(replace(c, color=KIND_COLOR.get(c.kind or "") or p.color) for c in d.candidates)
        return (cands[0].color if cands else p.color), cands

    def _single_result(self, p: Plate) -> PlateRead:
        view, d = self._chosen(p)
        color, cands = self._colors(d, p)
        return PlateRead(
            text=d.text, color=color, agreement=d.agreement if d.status != "unreadable" else 0.0, reason=d.reason,
            char_confidences=d.char_confidences, rows=view.rows,
            kind=refine_kind(d.kind, view.rows, color, quad_aspect(p.corners)), box=p.det.box,
            corners=corner_tuple(p.corners), detection_score=p.det.score, raw=view.reads[0].raw if view.reads else "",
            reads=1, status=d.status, candidates=cands, reader_reads=view.reads, detectors=p.det.sources,
        )

    def _companion(self, p: Plate) -> PlateRead | None:
        found = read_companion(p.image, p.corners, self.recognizer)
        if found is None:
            return None
        reads = [ReaderRead("ppocr", found.text, found.text, "hk_macau_local", found.char_confidences)]
        if self.second_recognizer is not None:
            parts = self.second_recognizer.read([inset_rows(i, 0.0, self.config.second_inset_y) for i in found.images])
            res = normalise(tuple(c for r in parts for c in r.candidates), max_repairs=0, min_char_confidence=0.5)
            ok = res.valid and res.kind == "hk_macau_local"
            reads.append(ReaderRead("hyperlpr", "".join(r.text for r in parts), res.text if ok else None,
                                    res.kind, res.char_confidences, None if ok else (res.reason or "not a HK/Macau plate")))
        d = self._decide(reads)
        xs, ys = found.corners[:, 0], found.corners[:, 1]
        cands = tuple(replace(c, color=found.color) for c in d.candidates)
        return PlateRead(
            text=d.text, color=found.color, agreement=d.agreement, reason=d.reason, char_confidences=d.char_confidences,
            rows=found.rows, kind="hk_macau_local", box=(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())),
            corners=corner_tuple(found.corners), raw=found.text, reads=1, status=d.status, candidates=cands,
            reader_reads=tuple(reads), detectors=("companion",),
        )

    def _vote(self, plates: list[Plate]) -> PlateRead:
        chosen = [(p, *self._chosen(p)) for p in plates]
        c = self.config
        d = decide_track([(v.reads, p.quality) for p, v, _ in chosen], c.confirm_agreement, c.local_province,
                         c.tie_break_below, c.max_runner_up, c.province_sure)
        if d.status == "confirmed" and d.agreement < self.config.min_agreement:
            d = replace(d, status="unconfirmed", text=None, reason=f"reads disagree (agreement {d.agreement:.2f})")
        top = d.text or (d.candidates[0].text if d.candidates else None)
        backing = [(p, v) for p, v, _ in chosen if top and any(r.text == top for r in v.reads)]
        p, v = max(backing or [(p, v) for p, v, _ in chosen], key=lambda pv: pv[0].quality)
        color, cands = self._colors(d, p)
        if not d.candidates:
            color = _track_color(plates)
        return PlateRead(
            text=d.text, color=color, agreement=d.agreement, reason=d.reason, char_confidences=d.char_confidences,
            rows=v.rows, kind=refine_kind(d.kind, v.rows, color, quad_aspect(p.corners)) if top else None,
            box=p.det.box, corners=corner_tuple(p.corners), detection_score=p.det.score,
            raw=v.reads[0].raw if v.reads else "", reads=len(plates), status=d.status, candidates=cands,
            reader_reads=v.reads, detectors=p.det.sources, crop=context_crop(p.image, p.corners),
        )


# -------------------------------------------------------------------- helpers


def validate_read(cands: Sequence[Candidate] | str, color: str, config: PlateReaderConfig | None = None,
                  rows: int | None = None) -> GrammarResult:
    """The grammar, plus what the plate's colour and row layout rule out (see ``_FORMAT_COLORS``).

    HK/Macau local plates are refused here: in mainland traffic they only ride beside a 粤Z…港/澳
    plate (the companion search reads them); alone, the same shape is far likelier a mainland plate
    whose province was not read. Seven characters on a green plate are a new-energy plate missing one.
    Agricultural/tractor plates are double-row: a single-row read of that shape is refused.
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
    if res.kind == "tractor" and rows == 1:
        return replace(res, text=None, reason=f"{res.text!r} has the agricultural format, but read as one row (they have two)")
    return res


def _first_quality(v: View) -> tuple[bool, int, float]:
    """Validity, fewest repairs, then confidence of the first reader's read (PP-OCRv4)."""
    r = v.reads[0] if v.reads else None
    if r is None:
        return (False, 0, 0.0)
    return (r.text is not None, -r.repairs, r.confidence)


def _track_color(plates: list[Plate]) -> str:
    weights: dict[str, float] = {}
    for p in plates:
        weights[p.color] = weights.get(p.color, 0.0) + p.quality
    return max(weights, key=lambda c: weights[c])
