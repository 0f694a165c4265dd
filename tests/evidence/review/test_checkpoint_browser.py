"""The alerts page in a real browser (Debian's headless Chromium via Playwright against uvicorn): a
watchlist hit raised by the checkpoint sink appears, a supervisor acknowledges it, and the audit
shows it, on the alert's page and in the audit log. Screenshots go to /tmp/checkpoint_*.png."""

from __future__ import annotations

from pathlib import Path

from evidence.checkpoint import alerts, watchlist
from evidence.checkpoint.config import PassesConfig
from pipelines.checkpoint.config import CheckpointConfig
from pipelines.checkpoint.sink import CheckpointSink
from tests.evidence.review.test_browser import ARGS, CHROMIUM, SHOTS, _needs_browser, _serving, open_page, sign_in
from tests.support.checkpoint import capture, plate
from tests.support.review import cheap_hashing, make_env


def test_an_alert_appears_is_acknowledged_and_audited_in_chromium(tmp_path: Path, monkeypatch):
    from playwright.sync_api import sync_playwright

    _needs_browser()
    cheap_hashing(monkeypatch)
    env = make_env(tmp_path, specs=[])
    sink = CheckpointSink(env.store.engine, CheckpointConfig(), PassesConfig(output_dir=tmp_path / "passes"))
    try:
        with _serving(env.app) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
            try:
                errors: list[str] = []
                page = open_page(browser, errors)
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.goto(base + "/alerts")
                sign_in(page, "sam", base + "/alerts")
                assert page.locator("table.alerts").count() == 0

                # the supervisor puts a plate on the watchlist in the app; a camera then sees it pass
                page.goto(base + "/watchlist")
                page.fill('#watch-add input[name="plate"]', "京A12345")
                page.select_option('#watch-add select[name="reason"]', "hit_and_run")
                page.fill('#watch-add input[name="note"]', "肇事车辆")
                page.click('#watch-add button[type="submit"]')
                page.wait_for_url(base + "/watchlist")
                assert "京A12345" in page.locator("#watch-entries").inner_text()
                (hit,) = sink.handle([capture(plate("京A12345"), track=1), capture(plate("沪C99999"), track=2, seconds=1)])

                # it appears on the alerts page
                page.goto(base + "/alerts")
                row = page.locator(f'tr[data-alert="{hit.id}"]')
                assert "京A12345" in row.inner_text() and "完全一致" in row.inner_text()
                assert page.locator('a[data-state="open"] b').inner_text() == "1"
                page.screenshot(path=str(SHOTS / "checkpoint_alerts.png"), full_page=True)

                # open it: the pictures load, verified; acknowledge it
                row.locator("td.plate a").click()
                page.wait_for_url(f"**/alerts/{hit.id}")
                page.wait_for_load_state("networkidle")
                imgs = page.eval_on_selector_all(".pass img", "els => els.map(e => [e.className, e.naturalWidth, e.naturalHeight])")
                assert sorted(imgs) == [["panorama", 640, 360], ["vehicle", 264, 180]], imgs
                page.fill('input[name="note"]', "已通知巡逻")
                page.click("#do-acknowledged")
                page.wait_for_url(f"**/alerts/{hit.id}")
                assert page.locator("#alert-state").get_attribute("data-state") == "acknowledged"
                history = page.locator("#alert-history").inner_text()
                assert "alert_raise" in history and "alert_acknowledge" in history and "已通知巡逻" in history
                page.screenshot(path=str(SHOTS / "checkpoint_alert.png"), full_page=True)
                assert alerts.get(env.store.engine, hit.id).state == "acknowledged"

                # the audit log (an administrator's page) shows the acknowledgement by sam
                admin = browser.new_context(locale="zh-CN").new_page()
                admin.goto(base + f"/admin/audit?record=alert:{hit.id}")
                sign_in(admin, "ada", "**/admin/audit?record=alert*")
                text = admin.locator("table.audit").inner_text()
                assert "alert_acknowledge" in text and "sam" in text
                assert not errors, errors
            finally:
                browser.close()
        assert [e.plate for e in watchlist.entries(env.store.engine)] == ["京A12345"]
    finally:
        env.store.close()
