"""Read labelled image folders (Pascal VOC xml or YOLO txt) into domain-class ground truth.

Evaluation and tests compare detectors against these; label names are translated into the
domain vocabulary here so that every metric speaks the same class names as the pipeline.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.domain import DOMAIN_CLASSES

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

# Dataset label names -> domain classes (VOC/COCO spellings and the helmet set's names).
LABEL_ALIASES: dict[str, str] = {
    **{name: name for name in DOMAIN_CLASSES},
    "motorbike": "motorcycle",
    "scooter": "motorcycle",
    "pedestrian": "person",
    "with helmet": "head_helmet",
    "without helmet": "head_no_helmet",
    "helmet": "head_helmet",
    "no_helmet": "head_no_helmet",
}


class LabelError(ValueError):
    """A label file that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class LabelledImage:
    image: Path
    xyxy: np.ndarray  # (N, 4) float32, image pixels
    names: tuple[str, ...]  # domain class names
    difficult: np.ndarray  # (N,) bool: VOC "difficult" boxes count neither as hit nor miss
    ignored: tuple[str, ...] = ()  # label names with no domain class


def domain_name(label: str) -> str | None:
    return LABEL_ALIASES.get(label.strip().lower())


def _images(images_dir: Path) -> list[Path]:
    if not images_dir.is_dir():
        raise LabelError(f"images directory {images_dir} does not exist")
    return sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_voc(xml_path: Path, image: Path) -> LabelledImage:
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise LabelError(f"{xml_path}: not valid VOC xml ({exc})") from None
    boxes, names, difficult, ignored = [], [], [], []
    for obj in root.iter("object"):
        label = (obj.findtext("name") or "").strip()
        name = domain_name(label)
        if name is None:
            ignored.append(label)
            continue
        bb = obj.find("bndbox")
        if bb is None:
            raise LabelError(f"{xml_path}: object {label!r} has no bndbox")
        try:
            boxes.append([float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])
        except (TypeError, ValueError):
            raise LabelError(f"{xml_path}: object {label!r} has a non-numeric bndbox") from None
        names.append(name)
        difficult.append((obj.findtext("difficult") or "0").strip() == "1")
    return LabelledImage(image, np.asarray(boxes, np.float32).reshape(-1, 4), tuple(names), np.asarray(difficult, bool), tuple(ignored))


def read_voc_dir(images_dir: Path, labels_dir: Path | None = None) -> list[LabelledImage]:
    """Images with a ``<stem>.xml`` in ``labels_dir`` (default: beside the image); unlabelled images are skipped."""
    labels_dir = labels_dir or images_dir
    out = []
    for image in _images(images_dir):
        xml = labels_dir / f"{image.stem}.xml"
        if xml.exists():
            out.append(read_voc(xml, image))
    return out


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size  # (width, height)


def read_yolo(txt_path: Path, image: Path, class_names: dict[int, str | None]) -> LabelledImage:
    """``class cx cy w h`` per line, normalised to the image size."""
    width, height = _image_size(image)
    boxes, names, ignored = [], [], []
    for line_no, line in enumerate(txt_path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            cls = int(parts[0])
            cx, cy, w, h = (float(v) for v in parts[1:5])
        except (ValueError, IndexError):
            raise LabelError(f"{txt_path}:{line_no}: expected 'class cx cy w h', got {line!r}") from None
        name = class_names.get(cls)
        if name is None:
            ignored.append(str(cls))
            continue
        boxes.append([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
        names.append(name)
    return LabelledImage(
        image, np.asarray(boxes, np.float32).reshape(-1, 4), tuple(names), np.zeros(len(names), bool), tuple(ignored)
    )


def read_yolo_dir(images_dir: Path, class_names: dict[int, str | None], labels_dir: Path | None = None) -> list[LabelledImage]:
    """YOLO layout: ``DIR/images/*.jpg`` + ``DIR/labels/*.txt`` (or images and labels dirs given directly).

    An image without a label file has no objects (YOLO convention), so it still counts.
    """
    if (images_dir / "images").is_dir():
        labels_dir = labels_dir or images_dir / "labels"
        images_dir = images_dir / "images"
    if labels_dir is None:
        sibling = images_dir.parent / "labels"
        labels_dir = sibling if sibling.is_dir() else images_dir
    out = []
    for image in _images(images_dir):
        txt = labels_dir / f"{image.stem}.txt"
        if txt.exists():
            out.append(read_yolo(txt, image, class_names))
        else:
            out.append(LabelledImage(image, np.zeros((0, 4), np.float32), (), np.zeros(0, bool)))
    return out
