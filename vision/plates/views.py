"""Views of one detected plate for the recognisers, and the weights of a track's plate crops.

A view is the rectified plate as one image (single row) or two (top and bottom rows of a
double-row plate). Both recognisers read the SAME rectified images: PP-OCRv4 the crop with its
margins, HyperLPR the same crop cut to the plate's edges and then ``inset`` further into the plate
(it was trained on tight crops: measured on the tuned part of the crop set, 81% exact on the crop
as is, 85-86% with a 10% inset top and bottom).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from vision.plates.decision import Decision
from vision.plates.detect import PlateDetection
from vision.plates.rectify import quad_aspect, rectify, split_rows
from vision.plates.result import ReaderRead


@dataclass(frozen=True)
class ViewSpec:
    """Rectification margins of a view (fractions of the plate's width / height)."""

    height: int
    margin_x: float
    margin_y: float
    single_aspect: float
    double_row_top: float


@dataclass
class View:
    name: str  # "single", "equalised", "double"
    images: list[np.ndarray]  # one per text row, at the first recogniser's height
    rows: int = 1
    margins_y: tuple[float, ...] = ()  # vertical margin of each image, fraction of its row's height
    margin_x: float = 0.0  # horizontal margin of every image, fraction of the plate's width
    reads: tuple[ReaderRead, ...] = ()
    decision: Decision | None = None


@dataclass
class Plate:
    """One detected plate being read: its image, corners, colour and the views read so far."""

    det: PlateDetection
    image: np.ndarray
    corners: np.ndarray  # TL, TR, BR, BL in image pixels
    color: str = "unknown"
    quality: float = 1.0
    views: list[View] = field(default_factory=list)
    pending: list[View] = field(default_factory=list)

    @property
    def double_flag(self) -> float | None:
        return self.det.double_row


def single_view(p: Plate, spec: ViewSpec, name: str = "single") -> View:
    img = rectify(p.image, p.corners, spec.height, spec.margin_x, spec.margin_y, spec.single_aspect)
    return View(name, [equalised(img) if name == "equalised" else img], rows=1, margins_y=(spec.margin_y,),
                margin_x=spec.margin_x)


def double_view(p: Plate, spec: ViewSpec) -> View:
    """Top row (province + letter, or province + area code) and bottom row (serial), read separately."""
    top, bottom = split_rows(p.corners, spec.double_row_top)
    top_img = rectify(p.image, top, spec.height, spec.margin_x, spec.margin_y * 2, spec.single_aspect * 1.4)
    bottom_img = rectify(p.image, bottom, spec.height, spec.margin_x, spec.margin_y / 2, spec.single_aspect)
    return View("double", [top_img, bottom_img], rows=2, margins_y=(spec.margin_y * 2, spec.margin_y / 2),
                margin_x=spec.margin_x)


def inset_rows(image: np.ndarray, margin_y: float, inset: float, margin_x: float = 0.0, inset_x: float = 0.0) -> np.ndarray:
    """The same crop cut to the plate's edges (it carries ``margin_y`` above and below, ``margin_x``
    left and right), then ``inset`` of the plate's height (``inset_x`` of its width) further in;
    a negative inset keeps part of the margin."""
    h, w = image.shape[:2]
    cut = int(round(h * (margin_y + inset) / (1 + 2 * margin_y)))
    cut_x = int(round(w * (margin_x + inset_x) / (1 + 2 * margin_x)))
    if 0 < cut < h // 3:
        image = image[cut: h - cut]
    if 0 < cut_x < w // 8:
        image = image[:, cut_x: w - cut_x]
    return image


def equalised(plate: np.ndarray) -> np.ndarray:
    """Contrast-equalised grey: rescues over-saturated colours and dim plates the colour read missed."""
    gray = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
    eq = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(gray)
    return cv2.cvtColor(eq, cv2.COLOR_GRAY2BGR)


def sharpness(image: np.ndarray) -> float:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    if max(gray.shape) > 256:
        s = 256 / max(gray.shape)
        gray = cv2.resize(gray, (max(1, int(gray.shape[1] * s)), max(1, int(gray.shape[0] * s))), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_32F).var()) + 1e-6


def frontal(corners: np.ndarray) -> float:
    """1 for a rectangle seen head-on; lower when opposite edges differ (perspective, skew)."""
    c = corners.astype(np.float32)
    top, bottom = np.linalg.norm(c[1] - c[0]), np.linalg.norm(c[2] - c[3])
    left, right = np.linalg.norm(c[3] - c[0]), np.linalg.norm(c[2] - c[1])
    ratio_w = min(top, bottom) / max(top, bottom, 1e-6)
    ratio_h = min(left, right) / max(left, right, 1e-6)
    edge = c[1] - c[0]
    tilt = abs(np.arctan2(edge[1], edge[0]))
    return float(ratio_w * ratio_h * max(0.2, np.cos(tilt)))


def score_quality(plates: list[Plate], single_aspect: float) -> None:
    """Weight of each view: detector score x relative size x relative sharpness x frontal-ness."""
    widths = np.array([p.det.width for p in plates])
    sharp = np.array([sharpness(rectify(p.image, p.corners, 32, 0, 0, single_aspect)) for p in plates])
    for p, w, s in zip(plates, widths / max(widths.max(), 1e-6), sharp / max(sharp.max(), 1e-6)):
        p.quality = float(p.det.score * w * np.sqrt(s) * frontal(p.corners))


def vehicle_plate(dets: list[PlateDetection], shape: tuple[int, ...]) -> PlateDetection:
    """The vehicle's own plate in its crop: confident, large, and nearest the horizontal centre."""
    cx = shape[1] / 2

    def score(d: PlateDetection) -> float:
        off = abs((d.box[0] + d.box[2]) / 2 - cx) / max(shape[1], 1)
        return d.score * np.sqrt(max(d.width, 1.0)) * (1.0 - off)

    return max(dets, key=score)


def context_crop(image: np.ndarray, corners: np.ndarray, margin: float = 0.5) -> np.ndarray:
    """The plate's pixels as captured, axis-aligned with ``margin`` of its size around it: what a
    reviewer compares the candidates against (not rectified, so a misplaced corner cannot hide a
    character)."""
    h, w = image.shape[:2]
    xs, ys = corners[:, 0], corners[:, 1]
    mx, my = (xs.max() - xs.min()) * margin, (ys.max() - ys.min()) * margin
    x1, y1 = int(max(0, np.floor(xs.min() - mx))), int(max(0, np.floor(ys.min() - my)))
    x2, y2 = int(min(w, np.ceil(xs.max() + mx))), int(min(h, np.ceil(ys.max() + my)))
    return image[y1:y2, x1:x2].copy()


def corner_tuple(c: np.ndarray) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in c)


def is_squat(corners: np.ndarray, max_aspect: float) -> bool:
    return quad_aspect(corners) < max_aspect
