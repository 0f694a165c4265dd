"""Plate detection + OCR on the real photos of ../shared/data/plates (exact text asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipelines.engine import plate_facts
from pipelines.eval.plates import vehicle_crop
from tests.support.models import require_model

# The sure plates the reader gets right today: (file, text, colour, rows). The ones it misses are
# listed by `epolice eval plates` (both plates of one night photo, which the detector does not find).
READ_RIGHT = [
    ("ccpd_demo_0.jpg", "皖A195K9", "blue", 1),
    ("ccpd_demo_2.jpg", "皖AT022C", "blue", 1),
    ("ccpd_gt_1.jpg", "闽GM1862", "blue", 1),
    ("clpdr_Quicker_20220930_180919.png", "粤NBM959", "blue", 1),
    ("clpdr_Quicker_20220930_181044.png", "粤B6R678", "blue", 1),
    ("clpdr_police.jpg", "鄂F8888警", "white", 1),
    ("clpdr_single_yellow.jpg", "皖K66666", "yellow", 1),
    ("clpdr_old_14.jpg", "皖1946673", "green", 2),
    ("clpdr_old_16.jpg", "鲁L88888", "black", 1),
    ("clpdr_old_18.jpg", "黑AD03210", "green", 1),
    ("clpdr_old_19.jpg", "闽EVL838", "blue", 1),
    ("clpdr_old_251.jpg", "粤ZEP33港", "black", 1),
    ("clpdr_old_251.jpg", "UW6532", "white", 1),  # HK local plate, found beside the 粤Z…港 plate
    ("clpdr_old_3M港.jpg", "粤ZDJ76港", "black", 1),
    ("clpdr_old_3M港.jpg", "MS6735", "white", 1),
    ("clpdr_old_8.jpg", "VA30093", "white", 1),
    ("clpdr_old_BD60港.jpg", "粤ZBD60港", "black", 1),
    ("clpdr_old_BD60港.jpg", "DZ7333", "white", 2),
    ("hyperlpr_2.jpg", "藏DT5022", "blue", 1),
]
NEGATIVES = ["ccpd_np_np1.jpg", "ccpd_np_np3.jpg", "ccpd_np_np5.jpg"]


@pytest.fixture(scope="module")
def truth(plates_dir: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (plates_dir / "plates.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    return {Path(r["file"]).name: r for r in rows}


def require_plate_models() -> None:
    """Skip (dev) or fail (CI) with the fetch command when the plate models are not fetched."""
    from models.registry import Registry

    for name in ("plate_det_clp", "ocr_rec_ppocrv4"):
        require_model(Registry(), name)


@pytest.fixture(scope="module")
def reader():
    from vision.plates import PlateReader

    require_plate_models()
    return PlateReader.from_registry(threads=1, providers=["CPUExecutionProvider"])


def _image(plates_dir: Path, name: str) -> np.ndarray:
    image = cv2.imread(str(plates_dir / "images" / name))
    assert image is not None, name
    return image


def test_read_right_plates_are_sure_labels(truth: dict[str, dict]) -> None:
    for name, text, color, rows in READ_RIGHT:
        labels = {(p["text"], p["color"], p["rows"], p["confidence"]) for p in truth[name]["plates"]}
        assert (text, color, rows, "sure") in labels, name


@pytest.mark.parametrize(("name", "text", "color", "rows"), READ_RIGHT, ids=[r[1] for r in READ_RIGHT])
def test_read_image_exact_text(reader, plates_dir: Path, name: str, text: str, color: str, rows: int) -> None:
    reads = reader.read_image(_image(plates_dir, name))
    hits = [r for r in reads if r.text == text]
    assert hits, [(r.text, r.raw, r.reason) for r in reads]
    hit = hits[0]
    assert hit.color == color
    assert hit.rows == rows
    assert len(hit.char_confidences) == len(text)
    assert 0.5 < hit.agreement <= 1.0
    assert hit.corners is not None and len(hit.corners) == 4


@pytest.mark.parametrize("name", NEGATIVES)
def test_negatives_give_no_plate(reader, plates_dir: Path, name: str) -> None:
    assert reader.read_image(_image(plates_dir, name)) == []


def test_read_track_votes_vehicle_crops(reader, plates_dir: Path, truth: dict[str, dict]) -> None:
    """Several views of one vehicle (as a track gives them) vote into one plate with its agreement."""
    image = _image(plates_dir, "ccpd_gt_1.jpg")
    bbox = truth["ccpd_gt_1.jpg"]["plates"][0]["bbox"]
    crop = vehicle_crop(image, bbox)
    h, w = crop.shape[:2]
    views = [
        crop,
        cv2.resize(crop, (w * 2 // 3, h * 2 // 3)),
        crop[: h - 10, 8:],
        cv2.GaussianBlur(crop, (5, 5), 0),
    ]
    plate = reader.read_track(views)
    assert plate.text == "闽GM1862"
    assert plate.color == "blue"
    assert plate.reads == 3  # track_reads best views are read
    assert 0.7 < plate.agreement <= 1.0
    facts = plate_facts(plate)
    assert (facts.text, facts.color, facts.reads) == ("闽GM1862", "blue", 3)
    assert facts.agreement == pytest.approx(plate.agreement, abs=1e-4)


@pytest.mark.parametrize(("name", "text"), [("clpdr_old_18.jpg", "黑AD03210"), ("clpdr_police.jpg", "鄂F8888警")])
def test_read_track_single_vehicle_crop(reader, plates_dir: Path, truth: dict[str, dict], name: str, text: str) -> None:
    image = _image(plates_dir, name)
    bbox = next(p["bbox"] for p in truth[name]["plates"] if p["text"] == text)
    assert reader.read_track([vehicle_crop(image, bbox)]).text == text


def test_companion_search_off_reads_only_detected_plates(plates_dir: Path) -> None:
    from vision.plates import PlateReader, PlateReaderConfig

    require_plate_models()
    plain = PlateReader.from_registry(config=PlateReaderConfig(companion_plates=False), threads=1)
    texts = {r.text for r in plain.read_image(_image(plates_dir, "clpdr_old_251.jpg"))}
    assert "粤ZEP33港" in texts and "UW6532" not in texts


def test_read_track_without_plate_is_unreadable_with_reason(reader, plates_dir: Path) -> None:
    image = _image(plates_dir, "ccpd_np_np1.jpg")
    plate = reader.read_track([image[:400, :400], image[300:700, 200:600]])
    assert plate.text is None
    assert plate.reason
    facts = plate_facts(plate)
    assert facts.text is None and facts.reason == plate.reason
    assert reader.read_track([]).text is None
