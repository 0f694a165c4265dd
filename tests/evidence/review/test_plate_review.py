"""Unconfirmed plates in the reviewer app and at export (synthetic records): the record page shows
the candidates beside the plate crop, approval waits until the reviewer picks or types the plate,
the reviewer's plate is recorded as such beside the machine reading, and export carries only
confirmed or reviewer-set plates (an unsettled one is held back)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from evidence.event import PlateCandidateFacts, PlateFacts
from evidence.export import PLATE_HELD, export_records
from evidence.review import audit
from evidence.signing import load_public_key
from tests.support.review import Env, cheap_hashing, csrf_of, make_env

ZHE = PlateCandidateFacts(text="浙A12345", color="blue", readers=("ppocr",), confidence=0.91)
XIANG = PlateCandidateFacts(text="湘A12345", color="blue", readers=("hyperlpr",), confidence=0.88)
UNCONFIRMED = PlateFacts(text=None, color="blue", agreement=0.6, reads=3, status="unconfirmed", candidates=(ZHE, XIANG),
                         reason="readers disagree: ppocr '浙A12345'; hyperlpr '湘A12345'")
CROP = np.random.default_rng(5).integers(0, 255, size=(30, 90, 3), dtype=np.uint8)


@pytest.fixture
def plates_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Record 1: unconfirmed plate with its crop; 2: confirmed plate; 3: unconfirmed, no crop."""
    cheap_hashing(monkeypatch)
    e = make_env(tmp_path, specs=[
        {"rule": "parking", "plate": UNCONFIRMED, "plate_image": CROP},
        {"rule": "parking", "camera_id": "cam-02"},
        {"rule": "parking", "plate": UNCONFIRMED},
    ])
    try:
        yield e
    finally:
        e.store.close()


def _post(env: Env, client, rid: int, what: str, body: dict):
    return client.post(f"/api/records/{rid}/{what}", json=body, headers={"X-CSRF-Token": csrf_of(client, "/queue")})


def test_synthetic_record_page_shows_candidates_beside_the_plate_crop(plates_env: Env):
    rita = plates_env.client("rita")
    rid = plates_env.ids[0]
    page = rita.get(f"/records/{rid}").text
    assert 'id="plate-crop" src="/records/%d/files/plate"' % rid in page
    assert page.index('data-text="浙A12345"') < page.index('data-text="湘A12345"')  # best first
    assert "PP-OCRv4" in page and "HyperLPR" in page and "号牌待确认" in page and 'id="plate-must-settle"' in page
    crop = rita.get(f"/records/{rid}/files/plate")
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    # without a plate crop in the package the close-up stands beside the candidates
    other = rita.get(f"/records/{plates_env.ids[2]}").text
    assert 'id="plate-crop" src="/records/%d/files/closeup"' % plates_env.ids[2] in other
    view = rita.get(f"/api/records/{rid}").json()
    assert view["plate"] is None and view["plate_settled"] is False
    assert [c["text"] for c in view["plate_choices"]] == ["浙A12345", "湘A12345"]
    assert view["record"]["plate_status"] == "unconfirmed" and "plate" in view["files"]
    confirmed = rita.get(f"/records/{plates_env.ids[1]}").text
    assert "两次识别一致" in confirmed and 'id="plate-must-settle"' not in confirmed


def test_synthetic_unconfirmed_plate_must_be_settled_before_approval(plates_env: Env):
    rita = plates_env.client("rita")
    rid = plates_env.ids[0]
    rita.get(f"/records/{rid}")
    refused = _post(plates_env, rita, rid, "decision", {"decision": "approve"})
    assert refused.status_code == 409 and "pick a candidate or type the plate" in refused.json()["error"]
    assert _post(plates_env, rita, rid, "plate", {"text": "京A12345", "color": "blue", "source": "candidate"}).status_code == 422
    picked = _post(plates_env, rita, rid, "plate", {"text": "湘A12345", "color": "blue", "source": "candidate"})
    assert picked.status_code == 200, picked.text
    assert picked.json()["plate_reviewed"] == "湘A12345" and picked.json()["plate_settled"] is True
    rec = plates_env.store.get(rid)
    assert (rec.plate_status, rec.plate_text, rec.plate_text_reviewed, rec.plate, rec.plate_source) == (
        "unconfirmed", None, "湘A12345", "湘A12345", "reviewer")  # the machine's status and reading stay
    log = [d for d in plates_env.store.decisions(rid) if d.action == "pick_plate"]
    assert log[0].before["machine_status"] == "unconfirmed" and log[0].after["source"] == "candidate"
    assert any(e.action == "pick_plate" and e.record_id == str(rid) for e in audit.entries(plates_env.store.engine))
    assert _post(plates_env, rita, rid, "decision", {"decision": "approve"}).status_code == 200
    # a typed plate settles it too; a rejection never needed a plate
    other = plates_env.ids[2]
    rita.get(f"/records/{other}")
    assert _post(plates_env, rita, other, "plate", {"text": "浙A12346", "color": "blue"}).status_code == 200
    assert plates_env.store.get(other).plate == "浙A12346"
    assert [d.action for d in plates_env.store.decisions(other)] == ["correct_plate"]


def test_synthetic_export_carries_only_confirmed_or_reviewer_set_plates(plates_env: Env):
    public = load_public_key(plates_env.pub)
    unsettled, confirmed, reviewed = plates_env.ids
    rita = plates_env.client("rita")
    rita.get(f"/records/{reviewed}")
    assert _post(plates_env, rita, reviewed, "plate", {"text": "湘A12345", "color": "blue", "source": "candidate"}).status_code == 200
    rita.post(f"/api/records/{reviewed}/release", headers={"X-CSRF-Token": csrf_of(rita, "/queue")})
    for rid in plates_env.ids:  # approved outside the app's check (the store allows it): export is the last gate
        plates_env.store.set_status(rid, "approved", "script")

    res = export_records(plates_env.store, public, plates_env.tmp / "out", as_zip=True)

    assert sorted(res.exported) == sorted([confirmed, reviewed])
    assert [s.id for s in res.skipped] == [unsettled] and res.skipped[0].reason.startswith(PLATE_HELD)
    assert plates_env.store.get(unsettled).status == "approved"  # held back, for a reviewer to settle
    with zipfile.ZipFile(res.path) as zf:
        rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(zf.read(f"{res.batch}/records.csv").decode()))}
    assert (rows[confirmed]["plate"], rows[confirmed]["plate_status"], rows[confirmed]["plate_source"]) == (
        "浙A12345", "confirmed", "machine")
    assert (rows[reviewed]["plate"], rows[reviewed]["plate_machine"], rows[reviewed]["plate_status"],
            rows[reviewed]["plate_source"]) == ("湘A12345", "", "unconfirmed", "reviewer")
