"""The review app's checkpoint pages over HTTP: watchlist changes by supervisors and admins only,
audited; alerts moved through their states with version checks, audited; a clone shows both passes;
pass pictures served only while they match their sha256; the checkpoint figures."""

from __future__ import annotations

from pathlib import Path

from evidence.checkpoint import alerts, watchlist
from evidence.checkpoint.config import PassesConfig
from evidence.review import audit
from pipelines.checkpoint.config import CheckpointConfig
from pipelines.checkpoint.sink import CheckpointSink
from tests.support.checkpoint import capture, entry, plate
from tests.support.evidence import keys  # noqa: F401
from tests.support.review import Env, csrf_of, env  # noqa: F401


def raise_alerts(env: Env) -> list:
    """A watchlist hit, then a suspected clone of the same plate 20 km away two minutes later."""
    watchlist.add(env.store.engine, entry("京A12345", note="逃逸车辆"), "sam")
    sink = CheckpointSink(env.store.engine, CheckpointConfig(), PassesConfig(output_dir=env.tmp / "passes"))
    first = sink.handle([capture(plate("京A12345"), track=1)])
    clone = sink.handle([capture(plate("京A12345"), track=2, seconds=120, site="site-b", camera="cam-9", lat=30.18)])
    return first + clone


def test_synthetic_watchlist_page_supervisor_adds_and_removes_audited(env: Env):
    sam = env.client("sam")
    token = csrf_of(sam, "/watchlist")
    r = sam.post("/watchlist", data={"plate": "沪b 8d0z2", "reason": "overdue_inspection", "priority": "2",
                                     "valid_until": "2027-03-01T08:00", "csrf_token": token})
    assert r.status_code == 303
    (e,) = watchlist.entries(env.store.engine)
    assert (e.plate, e.priority, e.created_by, e.valid_until.isoformat()) == ("沪B8D0Z2", 2, "sam", "2027-03-01T00:00:00+00:00")
    assert "沪B8D0Z2" in sam.get("/watchlist").text
    bad = sam.post("/watchlist", data={"plate": "京A1", "reason": "other", "csrf_token": token})
    assert bad.status_code == 422 and "needs a note" in bad.text
    assert sam.post(f"/watchlist/{e.id}/remove", data={"csrf_token": token}).status_code == 303
    assert watchlist.entries(env.store.engine) == []
    acts = [(x.actor, x.action) for x in reversed(audit.entries(env.store.engine, record_id=f"watchlist:{e.id}"))]
    assert acts == [("sam", "watchlist_add"), ("sam", "watchlist_remove")]
    rita = env.client("rita")  # a reviewer may not change the watchlist
    assert rita.get("/watchlist").status_code == 403
    assert rita.post("/watchlist", data={"plate": "京A12345", "reason": "hit_and_run",
                                         "csrf_token": csrf_of(rita, "/queue")}).status_code == 403


def test_synthetic_alerts_move_through_their_states_audited(env: Env):
    raised = raise_alerts(env)
    assert [a.kind for a in raised] == ["watchlist", "watchlist", "clone"]  # the second pass is a hit and a clone
    hit, clone = raised[0], raised[2]
    ada = env.client("ada")
    page = ada.get("/alerts").text
    assert f'data-alert="{hit.id}"' in page and f'data-alert="{clone.id}"' in page
    token = csrf_of(ada, "/alerts")
    assert ada.post(f"/alerts/{hit.id}/state", data={"state": "dispatched", "version": "1", "csrf_token": token}).status_code == 409
    assert ada.post(f"/alerts/{hit.id}/state", data={"state": "acknowledged", "version": "1", "note": "收到",
                                                     "csrf_token": token}).status_code == 303
    assert ada.post(f"/alerts/{hit.id}/state", data={"state": "dispatched", "version": "1", "csrf_token": token}).status_code == 409  # stale
    assert ada.post(f"/alerts/{hit.id}/state", data={"state": "dispatched", "version": "2", "csrf_token": token}).status_code == 303
    detail = ada.get(f"/alerts/{hit.id}").text
    assert 'data-state="dispatched"' in detail and "alert_acknowledge" in detail and "收到" in detail
    assert alerts.get(env.store.engine, hit.id).updated_by == "ada"
    assert audit.verify_chain(env.store.engine).ok


def test_synthetic_clone_shows_both_passes_and_their_verified_pictures(env: Env):
    clone = next(a for a in raise_alerts(env) if a.kind == "clone")
    sam = env.client("sam")
    page = sam.get(f"/alerts/{clone.id}").text
    assert page.count('class="panel pass"') == 2
    assert f'data-pass="{clone.pass_key}"' in page and f'data-pass="{clone.other_pass_key}"' in page
    r = sam.get(f"/passes/{clone.other_pass_key}/vehicle")
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
    from evidence.checkpoint.passes import PassStore

    Path(PassStore(env.store.engine).get(clone.other_pass_key).vehicle.path).write_bytes(b"not the picture")
    assert sam.get(f"/passes/{clone.other_pass_key}/vehicle").status_code == 409


def test_synthetic_checkpoint_figures(env: Env):
    raise_alerts(env)
    page = env.client("sam").get("/checkpoint").text
    assert 'id="open-alerts">3<' in page  # the passes are dated 2027, outside the last 24 h
