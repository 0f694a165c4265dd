"""Plate double reading on the real photos of ../shared/data/plates (exact text asserted).

Since the double read (issue 12) a plate's ``text`` is set only when PP-OCRv4 and HyperLPR agree
(``confirmed``). The plates only PP-OCRv4 reads right are now ``unconfirmed`` with the right text as
their first candidate: HyperLPR's 2017 model misreads the 港 suffix of cross-border plates as 1, cannot
read double-row or HK local plates, and predates 8-character new-energy plates.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipelines.engine import plate_facts
from pipelines.eval.plates import vehicle_crop
from tests.conftest import require
from tests.support.models import require_model

# Sure plates both recognisers read alike: (file, text, colour, rows), confirmed with their exact text.
CONFIRMED = [
    ("ccpd_demo_0.jpg", "皖A195K9", "blue", 1),
    ("ccpd_demo_2.jpg", "皖AT022C", "blue", 1),
    ("ccpd_gt_1.jpg", "闽GM1862", "blue", 1),
    ("clpdr_Quicker_20220930_180919.png", "粤NBM959", "blue", 1),
    ("clpdr_Quicker_20220930_181044.png", "粤B6R678", "blue", 1),
    ("clpdr_police.jpg", "鄂F8888警", "white", 1),
    ("clpdr_single_yellow.jpg", "皖K66666", "yellow", 1),
    ("clpdr_old_16.jpg", "鲁L88888", "black", 1),
    ("clpdr_old_19.jpg", "闽EVL838", "blue", 1),
    ("clpdr_old_8.jpg", "VA30093", "white", 1),
    ("clpdr_old_18.jpg", "黑AD03210", "green", 1),  # new-energy: HyperLPR reads it when cut to the corners
]
# Sure plates both recognisers read alike, but neither was sure of the province (below its
# ``province_sure`` level): unconfirmed with the one candidate.
UNSURE_PROVINCE = [
    ("hyperlpr_2.jpg", "藏DT5022", "blue", 1),
]
# Sure plates where the readers disagree: unconfirmed, the right text first among the candidates, and
# whether HyperLPR read another valid plate (True: e.g. 港 read as a digit) or none (False).
# Before the double read these were output as read (one reader).
UNCONFIRMED = [
    ("clpdr_old_14.jpg", "皖1946673", "green", 2, False),  # double-row tractor plate
    ("clpdr_old_251.jpg", "粤ZEP33港", "black", 1, True),  # 港 read as 1
    ("clpdr_old_251.jpg", "UW6532", "white", 1, False),  # HK local plate, found beside the 粤Z…港 plate
    ("clpdr_old_3M港.jpg", "粤ZDJ76港", "black", 1, True),
    ("clpdr_old_3M港.jpg", "MS6735", "white", 1, False),
    ("clpdr_old_BD60港.jpg", "粤ZBD60港", "black", 1, True),
    ("clpdr_old_BD60港.jpg", "DZ7333", "white", 2, False),
    # the night photo with flash glare: clp_det misses it, HyperLPR3's y5fu finds it
    ("clpdr_hongkang1.jpg", "粤ZR066港", "black", 1, True),
    ("clpdr_hongkang1.jpg", "SN6497", "white", 2, False),
]
READ_RIGHT = [*CONFIRMED, *UNSURE_PROVINCE, *((f, t, c, r) for f, t, c, r, _ in UNCONFIRMED)]  # best candidate right
NEGATIVES = ["ccpd_np_np1.jpg", "ccpd_np_np3.jpg", "ccpd_np_np5.jpg"]


@pytest.fixture(scope="module")
def truth(plates_dir: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (plates_dir / "plates.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    return {Path(r["file"]).name: r for r in rows}


def require_plate_models() -> None:
    """Skip (dev) or fail (CI) with the fetch command when the plate models are not fetched."""
    from models.registry import Registry
    from vision.plates.reader import MODELS

    for name in MODELS:
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


@pytest.mark.parametrize(("name", "text", "color", "rows"), CONFIRMED, ids=[r[1] for r in CONFIRMED])
def test_read_image_confirmed_exact_text(reader, plates_dir: Path, name: str, text: str, color: str, rows: int) -> None:
    reads = reader.read_image(_image(plates_dir, name))
    hits = [r for r in reads if r.text == text]
    assert hits, [(r.status, r.best, r.raw, r.reason) for r in reads]
    hit = hits[0]
    assert hit.status == "confirmed" and hit.reason is None
    assert {rr.reader: rr.text for rr in hit.reader_reads} == {"ppocr": text, "hyperlpr": text}
    assert [c.text for c in hit.candidates] == [text] and set(hit.candidates[0].readers) == {"ppocr", "hyperlpr"}
    assert hit.color == color
    assert hit.rows == rows
    assert len(hit.char_confidences) == len(text)
    assert 0.5 < hit.agreement <= 1.0
    assert hit.corners is not None and len(hit.corners) == 4


@pytest.mark.parametrize(("name", "text", "color", "rows", "second"), UNCONFIRMED, ids=[r[1] for r in UNCONFIRMED])
def test_read_image_unconfirmed_where_the_readers_disagree(reader, plates_dir: Path, name: str, text: str, color: str,
                                                         rows: int, second: bool) -> None:
    reads = reader.read_image(_image(plates_dir, name))
    hits = [r for r in reads if r.best == text]
    assert hits, [(r.status, r.best, r.raw, r.reason) for r in reads]
    hit = hits[0]
    assert hit.status == "unconfirmed" and hit.text is None  # never recorded as read
    assert "disagree" in hit.reason
    by_reader = {rr.reader: rr.text for rr in hit.reader_reads}
    assert by_reader["ppocr"] == text and by_reader["hyperlpr"] != text
    assert (by_reader["hyperlpr"] is not None) == second
    assert [c.text for c in hit.candidates] == [text] + ([by_reader["hyperlpr"]] if second else [])
    assert hit.color == color
    assert hit.rows == rows


@pytest.mark.parametrize(("name", "text", "color", "rows"), UNSURE_PROVINCE, ids=[r[1] for r in UNSURE_PROVINCE])
def test_read_image_unconfirmed_where_no_reader_is_sure_of_the_province(reader, plates_dir: Path, name: str, text: str,
                                                                         color: str, rows: int) -> None:
    hit = next(r for r in reader.read_image(_image(plates_dir, name)) if r.best == text)
    assert hit.status == "unconfirmed" and hit.text is None
    assert "no reader is sure of the province" in hit.reason
    assert {rr.reader: rr.text for rr in hit.reader_reads} == {"ppocr": text, "hyperlpr": text}
    assert [c.text for c in hit.candidates] == [text] and (hit.color, hit.rows) == (color, rows)


@pytest.mark.parametrize("name", NEGATIVES)
def test_negatives_give_no_plate(reader, plates_dir: Path, name: str) -> None:
    assert reader.read_image(_image(plates_dir, name)) == []


def test_agricultural_plate_is_read_as_two_rows_by_the_row_flag(reader, plates_dir: Path) -> None:
    """y5fu flags the tractor plate double-row: it is read row by row on the first pass."""
    image = _image(plates_dir, "clpdr_old_14.jpg")
    dets = reader._detect(image, reader.config.image_max_side)
    assert dets and dets[0].double_row is not None and dets[0].double_row > 0.9
    read = next(r for r in reader.read_image(image) if r.best == "皖1946673")
    assert read.rows == 2 and read.kind == "tractor" and read.color == "green"


def test_night_glare_plate_is_found_by_the_second_detector_only(reader, plates_dir: Path) -> None:
    reads = reader.read_image(_image(plates_dir, "clpdr_hongkang1.jpg"))
    mainland = next(r for r in reads if r.best == "粤ZR066港")
    assert mainland.detectors == ("plate_det_y5fu_320",)


def test_local_province_never_overrides_and_never_confirms(plates_dir: Path) -> None:
    """clpdr_single_blue.jpg: PP-OCRv4 reads 浙, HyperLPR 湘 (an unsure province); a 湘 site puts 湘 first,
    a confident read is kept first elsewhere, and the plate stays unconfirmed either way."""
    from vision.plates import PlateReader, PlateReaderConfig

    require_plate_models()
    image = _image(plates_dir, "clpdr_single_blue.jpg")
    plain = next(r for r in PlateReader.from_registry(threads=1).read_image(image) if r.best and r.best.endswith("B2V9L7"))
    assert plain.status == "unconfirmed" and {c.text for c in plain.candidates} == {"浙B2V9L7", "湘B2V9L7"}
    province_conf = {rr.reader: rr.char_confidences[0] for rr in plain.reader_reads if rr.char_confidences}
    site = PlateReader.from_registry(threads=1, config=PlateReaderConfig(local_province="湘", tie_break_below=1.0))
    local = next(r for r in site.read_image(image) if r.best and r.best.endswith("B2V9L7"))
    assert local.status == "unconfirmed" and local.best == "湘B2V9L7" and "local province" in local.reason
    strict = PlateReader.from_registry(threads=1, config=PlateReaderConfig(local_province="湘", tie_break_below=0.01))
    kept = next(r for r in strict.read_image(image) if r.best and r.best.endswith("B2V9L7"))
    assert kept.best == plain.best and "local province" not in kept.reason  # confident reads are not overridden
    assert min(province_conf.values()) > 0.01


def test_hyperlpr_recogniser_reads_a_real_crop_like_the_original(shared_data: Path) -> None:
    """The converted ONNX reads real crops from the shared crop set (the conversion's own check compared it
    with the Caffe original on 200 of them)."""
    from vision.plates import PlateReader

    require_plate_models()
    crops = shared_data / "plate_crops"
    labels = [json.loads(line) for line in (crops / "labels.jsonl").read_text(encoding="utf-8").splitlines()[:5]]
    reader = PlateReader.from_registry(threads=1)
    reads = reader.read_crops([cv2.imdecode(np.fromfile(str(crops / x["file"]), np.uint8), cv2.IMREAD_COLOR) for x in labels])
    assert [r.text for r in reads] == [x["plate"] for x in labels]  # the first five are confirmed and right
    assert all(r.status == "confirmed" for r in reads)


# Real crops of ../shared/data/plate_crops where the two readers differ only in the province (tuned
# part) or agree on a province neither is sure of (the held-out crop once confirmed wrong).
PROVINCE_CASES = [
    ("lprnet_sirius_ai/0082.jpg", "皖A2G119", "confirmed", [("皖A2G119", ("ppocr", "ppocr6")), ("闽A2G119", ("hyperlpr",))]),
    ("lprnet_sirius_ai/0103.jpg", "皖A393H5", "confirmed", [("皖A393H5", ("ppocr", "ppocr6")), ("京A393H5", ("hyperlpr",))]),
    ("lprnet_chenweijiang99/2195.jpg", "浙GQ6A99", "unconfirmed", [("湘GQ6A99", ("ppocr", "hyperlpr"))]),
]


@pytest.mark.parametrize(("file", "truth", "status", "candidates"), PROVINCE_CASES, ids=[c[0] for c in PROVINCE_CASES])
def test_province_referee_and_gate_on_real_crops(reader, shared_data: Path, file: str, truth: str, status: str,
                                                 candidates: list) -> None:
    crop = cv2.imdecode(np.fromfile(str(require(shared_data / "plate_crops" / file, file)), np.uint8), cv2.IMREAD_COLOR)
    read = reader.read_crops([crop])[0]
    assert read.status == status and [(c.text, c.readers) for c in read.candidates] == candidates
    if status == "confirmed":
        assert read.text == truth  # PP-OCRv4 sure of the province, PP-OCRv6 reads it alike, HyperLPR agrees on the rest
    else:
        assert read.text is None and "no reader is sure of the province" in read.reason  # never 湘 for 浙


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
    assert plate.status == "confirmed"
    assert plate.color == "blue"
    assert plate.reads == 3  # track_reads best views are read
    assert 0.7 < plate.agreement <= 1.0
    facts = plate_facts(plate)
    assert (facts.text, facts.color, facts.reads) == ("闽GM1862", "blue", 3)
    assert facts.agreement == pytest.approx(plate.agreement, abs=1e-4)


@pytest.mark.parametrize(
    ("name", "text", "status"),
    # the new-energy plate is confirmed on the photo, but not on the vehicle crop (downscaled to 416 px)
    [("clpdr_old_18.jpg", "黑AD03210", "unconfirmed"), ("clpdr_police.jpg", "鄂F8888警", "confirmed")],
)
def test_read_track_single_vehicle_crop(reader, plates_dir: Path, truth: dict[str, dict], name: str, text: str,
                                        status: str) -> None:
    image = _image(plates_dir, name)
    bbox = next(p["bbox"] for p in truth[name]["plates"] if p["text"] == text)
    read = reader.read_track([vehicle_crop(image, bbox)])
    assert read.best == text
    assert read.status == status
    assert read.text == (text if status == "confirmed" else None)


def test_companion_search_off_reads_only_detected_plates(plates_dir: Path) -> None:
    from vision.plates import PlateReader, PlateReaderConfig

    require_plate_models()
    plain = PlateReader.from_registry(config=PlateReaderConfig(companion_plates=False), threads=1)
    texts = {r.best for r in plain.read_image(_image(plates_dir, "clpdr_old_251.jpg"))}
    assert "粤ZEP33港" in texts and "UW6532" not in texts


def test_read_track_without_plate_is_unreadable_with_reason(reader, plates_dir: Path) -> None:
    image = _image(plates_dir, "ccpd_np_np1.jpg")
    plate = reader.read_track([image[:400, :400], image[300:700, 200:600]])
    assert plate.text is None
    assert plate.reason
    facts = plate_facts(plate)
    assert facts.text is None and facts.reason == plate.reason
    assert reader.read_track([]).text is None
