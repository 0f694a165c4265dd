"""End to end in a real browser: Debian's headless Chromium driven by Playwright against uvicorn.

A reviewer signs in, filters the queue to the street camera, opens the record built from the real
clip (street_parking_a.mp4: the car parked in the driveway), checks that the evidence actually
loaded (decoded images, playable clip), corrects the plate and approves with the keyboard alone,
then exports. Screenshots go to /tmp/review_*.png for a person to look at.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from evidence.event import PlateCandidateFacts, PlateFacts
from evidence.package import write_package
from evidence.store import NewRecord
from tests.conftest import IN_CI, require
from tests.support.evidence import PARKING_VIDEO, config, real_parking_input
from tests.support.review import PASSWORD, cheap_hashing, make_env

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = Path("/tmp")


def _until(page, expression: str, timeout_s: float = 15.0):
    """Poll an expression with page.evaluate (wait_for_function compiles strings with eval, which the
    app's Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {expression}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _serving(app):
    """The app on a loopback port; yields its base URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def open_page(browser, errors: list[str], **context):
    """A page in a fresh context (1440×1000, zh-CN unless given) whose script errors land in ``errors``."""
    page = browser.new_context(**{"viewport": {"width": 1440, "height": 1000}, "locale": "zh-CN", **context}).new_page()
    page.set_default_timeout(15000)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def sign_in(page, name: str, landing: str) -> None:
    """Fill the login form the page shows as ``name`` and wait until the app lands on ``landing`` (URL or glob)."""
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(landing)


def _needs_browser() -> None:
    if not CHROMIUM.exists() or shutil.which("ffmpeg") is None:
        message = "Debian chromium (/usr/bin/chromium) and ffmpeg are needed for the browser test"
        pytest.fail(message) if IN_CI else pytest.skip(message)


def _real_record(env, video: Path, tmp_path: Path, plate: PlateFacts, plate_image=None) -> int:
    """A record built from the real clip (the car parked in the driveway, camera cam-street)."""
    inp = real_parking_input(video)
    ev = inp.event.model_copy(update={"camera_id": "cam-street", "track_id": 42, "plate": plate})
    inp = type(inp)(event=ev, key_images=inp.key_images, context=inp.context.model_copy(update={"device_id": "cam-street"}),
                    clip=inp.clip, plate_image=plate_image)
    info = write_package(inp, config(tmp_path), env.signer)
    return env.store.add(NewRecord.from_package(ev, info)).id


@pytest.fixture
def served(tmp_path: Path, shared_data: Path, monkeypatch):
    """The app on a loopback port, with one real-clip record (camera cam-street) among synthetic ones."""
    _needs_browser()
    video = require(shared_data / PARKING_VIDEO, "street_parking_a.mp4")
    cheap_hashing(monkeypatch)
    env = make_env(tmp_path, specs=[{"rule": "parking", "camera_id": "cam-01"}, {"rule": "helmet", "camera_id": "cam-02"}])
    real_id = _real_record(env, video, tmp_path, PlateFacts(text="浙A1234S", color="blue", agreement=0.55, reads=3, status="confirmed"))
    try:
        with _serving(env.app) as base:
            yield env, base, real_id
    finally:
        env.store.close()


def test_reviewer_filters_corrects_approves_with_keyboard_and_the_exporter_exports_in_chromium(served):
    from playwright.sync_api import sync_playwright

    env, base, real_id = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            errors: list[str] = []
            page = open_page(browser, errors, accept_downloads=True)
            page.on("console", lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None)

            # sign in
            page.goto(base + "/queue")
            assert page.url.startswith(base + "/login?next=")
            sign_in(page, "rita", base + "/queue")
            assert page.locator('[data-status="pending_review"] b').inner_text() == "3"

            # filter to the street camera
            page.select_option('select[name="camera"]', "cam-street")
            page.click('form.filters button[type="submit"]')
            page.wait_for_url("**/queue?*camera=cam-street*")
            rows = page.locator("table.list tbody tr")
            assert rows.count() == 1 and "浙A1234S" in rows.first.inner_text()
            page.screenshot(path=str(SHOTS / "review_queue.png"), full_page=True)

            # open it with the keyboard
            page.keyboard.press("n")
            page.wait_for_url(f"**/records/{real_id}?camera=cam-street")
            page.wait_for_load_state("networkidle")
            imgs = page.eval_on_selector_all(".evidence img", "els => els.map(e => [e.alt, e.naturalWidth, e.naturalHeight])")
            assert len(imgs) == 5 and all(w > 0 and h > 0 for _, w, h in imgs), imgs  # composite, 3 panoramas, close-up
            panoramas = [(w, h) for alt, w, h in imgs if alt.startswith("全景图")]
            assert panoramas == [(640, 352)] * 3  # full size, untouched frames of the real clip
            _until(page, "document.querySelector('video').readyState >= 1")
            assert page.eval_on_selector("video", "v => v.duration") > 3.5  # the 4 s clip plays
            assert page.locator(".actionbar kbd").count() >= 5  # the shortcuts are on the page
            shortcuts = page.locator(".actionbar .keys").inner_text()
            assert "通过" in shortcuts and "驳回" in shortcuts and "下一条" in shortcuts
            page.screenshot(path=str(SHOTS / "review_record.png"), full_page=False)

            # zoom the first panorama where the parked car is (x 580-640, y 135-205 of 640x352)
            box = page.locator(".zoombox").nth(1)
            box.scroll_into_view_if_needed()
            fit = box.bounding_box()
            box.click(position={"x": fit["width"] * 610 / 640, "y": fit["height"] * 170 / 352})
            assert "zoomed" in box.get_attribute("class")
            left, width, view = box.evaluate("b => [b.scrollLeft, b.querySelector('img').clientWidth, b.clientWidth]")
            assert width > 2 * view and left <= width * 610 / 640 <= left + view  # the car stays in view, magnified
            page.screenshot(path=str(SHOTS / "review_zoom.png"), full_page=False)
            box.click()

            # correct the plate: e, type, Enter
            page.keyboard.press("e")
            assert page.evaluate("document.activeElement.id") == "plate-input"
            page.keyboard.type("浙A12345")
            page.keyboard.press("Enter")
            _until(page, "document.getElementById('plate-reviewed').textContent.includes('浙A12345')")
            page.keyboard.press("Escape")
            rec = env.store.get(real_id)
            assert rec.plate_text == "浙A1234S" and rec.plate_text_reviewed == "浙A12345"
            page.screenshot(path=str(SHOTS / "review_corrected.png"), full_page=False)

            # approve with a: the page moves on by itself
            page.keyboard.press("a")
            page.wait_for_url("**/queue?camera=cam-street&empty=1")
            assert env.store.get(real_id).status == "approved"

            # export: the exporter's job (a reviewer cannot export; issue 15 item 19)
            assert page.goto(base + "/export").status == 403
            errors[:] = [e for e in errors if "403 (Forbidden)" not in e]  # that refusal was the point
            page.goto(base + "/queue")
            page.click('form[action="/logout"] button')
            page.wait_for_url(base + "/login")
            sign_in(page, "eve", base + "/export")
            assert page.locator("#export-pending").inner_text() == "1"
            page.click("#export-run")
            page.wait_for_url("**/export?done=*")
            with page.expect_download() as dl:
                page.click("#export-download")
            path = env.tmp / "downloaded.zip"
            dl.value.save_as(path)
            page.screenshot(path=str(SHOTS / "review_export.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    with zipfile.ZipFile(path) as zf:
        lines = [json.loads(x) for x in zf.read(next(n for n in zf.namelist() if n.endswith("records.jsonl"))).splitlines()]
        clip = [n for n in zf.namelist() if n.endswith("clip.mp4")]
    assert [(x["id"], x["plate_text"], x["plate_text_reviewed"]) for x in lines] == [(real_id, "浙A1234S", "浙A12345")]
    assert len(clip) == 1
    assert env.store.get(real_id).status == "exported"


def test_supervisor_rejects_with_keyboard_reason_and_reads_dashboard_in_chromium(served):
    from playwright.sync_api import sync_playwright

    env, base, real_id = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = open_page(browser, [], locale="en-US")
            page.goto(base + "/login")
            sign_in(page, "sam", base + "/queue")
            page.goto(f"{base}/records/{real_id}")
            page.keyboard.press("r")
            assert page.locator("#reject-panel").is_visible()
            page.screenshot(path=str(SHOTS / "review_reject.png"), full_page=False)
            page.keyboard.press("3")  # the third reason: duplicate
            page.keyboard.press("Enter")
            page.wait_for_url(lambda url: f"/records/{real_id}" not in url)  # moved on to the next record
            page.wait_for_load_state("networkidle")
            rec = env.store.get(real_id)
            assert rec.status == "rejected" and env.store.decisions(real_id)[-1].reason_code == "duplicate"
            page.goto(base + "/dashboard")
            bars = page.locator("svg.chart rect").count()
            assert page.locator("svg.chart").count() == 3 and bars >= 5  # per day, by rule, by camera
            assert "违法停车" in page.locator("svg.chart").nth(1).inner_html()
            page.screenshot(path=str(SHOTS / "review_dashboard.png"), full_page=True)
        finally:
            browser.close()


@pytest.fixture
def served_unconfirmed(tmp_path: Path, shared_data: Path, monkeypatch):
    """One real-clip record whose two readers disagreed, with a real plate crop in its package."""
    _needs_browser()
    import cv2

    video = require(shared_data / PARKING_VIDEO, "street_parking_a.mp4")
    labels = require(shared_data / "plate_crops" / "labels.jsonl", "plate crops")
    first = json.loads(labels.read_text(encoding="utf-8").splitlines()[0])  # 京PL3N67
    crop = cv2.imread(str(labels.parent / first["file"]))
    plate = PlateFacts(text=None, color="blue", agreement=0.7, reads=3, status="unconfirmed",
                       reason="readers disagree: ppocr '京PL3N67'; hyperlpr '京PL3N61'",
                       candidates=(PlateCandidateFacts(text="京PL3N67", color="blue", readers=("ppocr",), confidence=0.93),
                                   PlateCandidateFacts(text="京PL3N61", color="blue", readers=("hyperlpr",), confidence=0.81)))
    cheap_hashing(monkeypatch)
    env = make_env(tmp_path, specs=[])
    real_id = _real_record(env, video, tmp_path, plate, crop)
    try:
        with _serving(env.app) as base:
            yield env, base, real_id, crop.shape
    finally:
        env.store.close()


def test_reviewer_picks_a_candidate_beside_the_plate_crop_before_approving_in_chromium(served_unconfirmed):
    from playwright.sync_api import sync_playwright

    env, base, real_id, crop_shape = served_unconfirmed
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            errors: list[str] = []
            page = open_page(browser, errors)
            page.goto(base + "/login")
            sign_in(page, "rita", base + "/queue")
            page.keyboard.press("n")
            page.wait_for_url(f"**/records/{real_id}")
            page.wait_for_load_state("networkidle")

            # the plate as captured, decoded, beside the two candidates, best first; nothing is the plate yet
            size = page.eval_on_selector("#plate-crop", "e => [e.naturalWidth, e.naturalHeight]")
            assert size == [crop_shape[1], crop_shape[0]]
            crop_box = page.locator("#plate-crop").bounding_box()
            first_box = page.locator("#candidates .candidate").first.bounding_box()
            assert first_box["x"] > crop_box["x"] + crop_box["width"] - 1  # side by side
            texts = page.locator("#candidates .candidate .plate").all_inner_texts()
            assert texts == ["京PL3N67", "京PL3N61"]
            assert page.locator("#plate-status").inner_text() == "号牌待确认"
            assert page.locator("#plate-current").inner_text() == "—"
            assert page.locator("#plate-must-settle").is_visible()
            page.screenshot(path=str(SHOTS / "review_plate_candidates.png"), full_page=False)

            # approving first is refused, and says why
            page.keyboard.press("a")
            _until(page, "document.getElementById('status').className.includes('bad')")
            assert "pick a candidate" in page.locator("#status").inner_text()
            assert env.store.get(real_id).status == "pending_review"

            # 2 picks the second candidate; the machine reading stays beside it
            page.keyboard.press("2")
            _until(page, "document.getElementById('plate-reviewed').textContent.includes('京PL3N61')")
            assert "chosen" in page.locator("#candidates .candidate").nth(1).get_attribute("class")
            assert page.locator("#plate-must-settle").is_hidden()
            rec = env.store.get(real_id)
            assert (rec.plate_text, rec.plate_text_reviewed, rec.plate_status) == (None, "京PL3N61", "unconfirmed")
            page.screenshot(path=str(SHOTS / "review_plate_picked.png"), full_page=False)

            page.keyboard.press("a")
            page.wait_for_url("**/queue?empty=1")
            assert env.store.get(real_id).status == "approved"
            assert [d.action for d in env.store.decisions(real_id)] == ["pick_plate", "approve"]
            assert not errors, errors
        finally:
            browser.close()
