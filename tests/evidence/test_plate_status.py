"""The plate's status and candidates through the evidence path (synthetic frames): the event's
PlateFacts, the signed manifest, the plate crop in the package, the composite overlay, the record."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from evidence.composite import BAR_ACCENT, BAR_FG, BAR_WARN, Panel, plate_line, render_composite
from evidence.event import Box, PlateCandidateFacts, PlateFacts
from evidence.manifest import Manifest, verify_package
from evidence.package import PackageError, validate_input, write_package
from evidence.signing import load_public_key
from evidence.store import NewRecord, RecordStore
from tests.support.evidence import config, event, keys, synthetic_input  # noqa: F401
from tests.support.postgres import postgres_server, postgres_url, store_url  # noqa: F401

ZHE = PlateCandidateFacts(text="浙A12345", color="blue", readers=("ppocr",), confidence=0.91)
XIANG = PlateCandidateFacts(text="湘A12345", color="blue", readers=("hyperlpr",), confidence=0.88)
UNCONFIRMED = PlateFacts(text=None, color="blue", agreement=0.6, reads=3, status="unconfirmed", candidates=(ZHE, XIANG),
                         reason="readers disagree: ppocr '浙A12345'; hyperlpr '湘A12345'")


@pytest.mark.parametrize(
    ("given", "status"),
    [
        ({"text": "浙A12345", "status": "confirmed"}, "confirmed"),
        ({"text": None, "candidates": (ZHE,)}, "unconfirmed"),
        ({"text": None}, "unreadable"),
        ({"text": None, "status": "unreadable", "reason": "too small"}, "unreadable"),
    ],
)
def test_synthetic_plate_status_follows_from_the_facts(given: dict, status: str):
    assert PlateFacts(**given).status == status


@pytest.mark.parametrize(
    "given",
    [
        {"text": "浙A12345", "status": "unconfirmed", "candidates": (ZHE, XIANG)},  # an unconfirmed read is never the text
        {"text": None, "status": "confirmed"},
        {"text": "浙A12345", "status": "unreadable"},
    ],
)
def test_synthetic_plate_text_is_set_exactly_when_confirmed(given: dict):
    with pytest.raises(ValidationError, match="text is set exactly when confirmed"):
        PlateFacts(**given)


@pytest.mark.parametrize(
    ("plate", "line"),
    [
        (PlateFacts(text="浙A12345", color="blue", status="confirmed"), "号牌 浙A12345  蓝牌  车型 小型汽车"),
        (UNCONFIRMED, "号牌待确认（候选 浙A12345 / 湘A12345）  车型 小型汽车"),
        (UNCONFIRMED.model_copy(update={"candidates": (ZHE, XIANG, ZHE, XIANG)}),
         "号牌待确认（候选 浙A12345 / 湘A12345 / 浙A12345 等4个）  车型 小型汽车"),
        (PlateFacts(text=None, reason="too small"), "号牌 未识别  车型 小型汽车"),
        (None, "号牌 未识别  车型 小型汽车"),
    ],
)
def test_synthetic_overlay_plate_line_never_prints_an_unconfirmed_read_as_the_plate(plate, line):
    assert plate_line(plate, "car") == line


def _bar_colors(lines: list[str]) -> set[tuple[int, int, int]]:
    from evidence.config import EvidenceConfig

    cfg = EvidenceConfig()
    image = np.full((180, 320, 3), 90, np.uint8)
    panels = [Panel(image, Box(x1=10, y1=10, x2=50, y2=50), lines) for _ in range(4)]
    sheet = np.asarray(render_composite(panels, "2x2", cfg.font_path, cfg.font_face))
    bar = sheet[: sheet.shape[0] // 2 - 180].reshape(-1, 3)  # the first panel's text bar
    return {tuple(int(v) for v in px) for px in np.unique(bar, axis=0)}


def test_synthetic_composite_draws_an_unconfirmed_plate_in_the_warning_colour():
    unconfirmed = _bar_colors(["1/3 首帧", plate_line(UNCONFIRMED, "car")])
    confirmed = _bar_colors(["1/3 首帧", plate_line(PlateFacts(text="浙A12345", status="confirmed"), "car")])
    assert BAR_WARN in unconfirmed and BAR_WARN not in confirmed
    assert BAR_ACCENT in unconfirmed and BAR_FG in confirmed


def test_synthetic_package_signs_status_and_candidates_and_keeps_the_plate_crop(tmp_path: Path, keys, store_url: str):
    signer, pub = keys
    ev = event(plate=UNCONFIRMED)
    crop = np.random.default_rng(3).integers(0, 255, size=(40, 120, 3), dtype=np.uint8)
    info = write_package(replace(synthetic_input(ev), plate_image=crop), config(tmp_path), signer)
    res = verify_package(info.path, load_public_key(pub))
    assert res.ok, res.problems
    manifest = Manifest.model_validate_json((info.path / "manifest.json").read_bytes())
    plate = manifest.record["plate"]
    assert plate["status"] == "unconfirmed" and plate["text"] is None
    assert [(c["text"], c["readers"]) for c in plate["candidates"]] == [("浙A12345", ["ppocr"]), ("湘A12345", ["hyperlpr"])]
    entry = next(f for f in manifest.files if f.kind == "plate")
    assert (entry.name, entry.width, entry.height) == ("plate.jpg", 120, 40)
    assert any(w.startswith("plate unconfirmed (readers disagree") for w in info.warnings)

    with RecordStore(store_url) as store:
        rec = store.get(store.add(NewRecord.from_package(ev, info)).id)
        assert (rec.plate_status, rec.plate_text, rec.plate) == ("unconfirmed", None, None)
        assert rec.plate_candidates == [ZHE, XIANG] and rec.plate_choices == [ZHE, XIANG]
        assert not rec.plate_settled and rec.plate_source == "none"
        assert rec.facts["plate_reason"].startswith("readers disagree")


def test_synthetic_package_without_a_plate_crop_has_no_plate_file(tmp_path: Path, keys):
    signer, _ = keys
    info = write_package(synthetic_input(event()), config(tmp_path), signer)
    assert [f.kind for f in info.files if f.kind == "plate"] == []
    assert not (info.path / "plate.jpg").exists()


def test_synthetic_plate_crop_must_be_a_bgr_image(tmp_path: Path):
    inp = replace(synthetic_input(event()), plate_image=np.zeros((40, 120), np.uint8))
    with pytest.raises(PackageError, match="plate image"):
        validate_input(inp, config(tmp_path))


def test_synthetic_facts_from_before_double_reading_are_never_confirmed():
    """A plate text without a status (an event written by an older epolice, replayed) was read once:
    it becomes the one candidate of an unconfirmed plate; a record without one is legacy."""
    old = PlateFacts.model_validate({"text": "浙A12345", "color": "blue", "agreement": 0.8, "reads": 3})
    assert (old.status, old.text, old.reason) == ("unconfirmed", None, "read once, before double reading")
    assert [(c.text, c.color, c.confidence) for c in old.candidates] == [("浙A12345", "blue", 0.8)]
    from tests.evidence.store.test_records import new_record

    record = new_record("old").model_dump(exclude={"plate_status"})
    assert NewRecord.model_validate(record).plate_status == "legacy"
    assert NewRecord.model_validate({**record, "plate_text": None}).plate_status == "unreadable"
