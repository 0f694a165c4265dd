"""The pass table, the watchlist and the alerts in the record store, on SQLite and PostgreSQL:
idempotent batched inserts, lookups, retention (day partitions dropped on PostgreSQL), dashboard
figures, audited watchlist changes and alert moves, pictures hashed and checked."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from evidence.checkpoint import alerts, watchlist
from evidence.checkpoint.config import PassesConfig
from evidence.checkpoint.images import PassImageError, purge_pictures, read_verified, write_pictures
from evidence.checkpoint.passes import PassStore
from evidence.checkpoint.values import NewAlert, NewPass, PassQuery
from evidence.review import audit
from evidence.store import RecordStore
from tests.support.checkpoint import T0, capture, entry, plate
from tests.support.postgres import postgres_server, postgres_url, store_url  # noqa: F401,F811


@pytest.fixture
def store(store_url: str):
    with RecordStore(store_url) as s:
        yield s


def passes_of(n: int, hours: float = 0.0, camera: str = "cam-1") -> list[NewPass]:
    return [NewPass.of(capture(plate(f"京A{i:05d}"), seconds=hours * 3600 + i, track=i, camera=camera).event, None, None)
            for i in range(n)]


def test_inserts_are_idempotent_and_found_by_plate_time_camera(store):
    ps = PassStore(store.engine)
    first = passes_of(5) + passes_of(3, hours=30, camera="cam-2")  # two UTC days: two partitions on PostgreSQL
    assert ps.add_many(first) == [True] * 8
    assert ps.add_many(first[:2] + passes_of(1, hours=1)) == [False, False, True]
    assert ps.count() == 9
    found = ps.query(PassQuery(plate="京A00002", camera_id="cam-1"))
    assert [p.pass_key for p in found] == [first[2].pass_key]
    assert ps.count(PassQuery(plate="京A00000")) == 3  # one per batch
    assert ps.count(PassQuery(camera_id="cam-2")) == 3
    assert ps.count(PassQuery(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))) == 1
    got = ps.get(first[0].pass_key, first[0].pass_time)
    assert got is not None and got.plate == "京A00000" and got.plate_status == "confirmed"
    if store.dialect == "postgresql":
        assert ps.partitions() == [T0.date(), (T0 + timedelta(hours=30)).date()]


def test_unconfirmed_candidates_round_trip(store):
    ps = PassStore(store.engine)
    p = NewPass.of(capture(plate(None, "unconfirmed", ("沪B12345", "沪B12845"))).event, None, None)
    ps.add(p)
    got = ps.get(p.pass_key)
    assert got.plate == "沪B12345" and got.plate_status == "unconfirmed"
    assert [c.text for c in got.plate_candidates] == ["沪B12345", "沪B12845"]


def test_purge_drops_old_days(store):
    ps = PassStore(store.engine)
    ps.add_many(passes_of(4) + passes_of(2, hours=30))
    removed = ps.purge(T0 + timedelta(hours=24))
    assert removed == 4 and ps.count() == 2
    if store.dialect == "postgresql":
        assert ps.partitions() == [(T0 + timedelta(hours=30)).date()]
    assert ps.purge(T0 + timedelta(hours=24)) == 0


def test_dashboard_figures(store):
    ps = PassStore(store.engine)
    ps.add_many(passes_of(3) + passes_of(2, hours=1) + passes_of(1, camera="cam-2")
                + [NewPass.of(capture(plate(None, "unreadable"), camera="cam-2", track=99).event, None, None)])
    hours = [(h.camera_id, h.hour, h.passes) for h in ps.per_hour(T0 - timedelta(hours=1))]
    assert hours == [("cam-1", T0, 3), ("cam-2", T0, 2), ("cam-1", T0 + timedelta(hours=1), 2)]
    shares = {s.camera_id: s.share for s in ps.confirmed_share(T0 - timedelta(hours=1))}
    assert shares == {"cam-1": 1.0, "cam-2": 0.5}


def test_watchlist_changes_are_audited(store):
    e = watchlist.add(store.engine, entry("京A12345", note="逃逸"), "sup")
    many = watchlist.add_many(store.engine, watchlist.parse_csv(
        "plate,reason,valid_until,priority,note\n沪B8D0Z2,逾期未检验,2027-03-01T00:00+08:00,4,\n粤C*88,fake_or_cloned,,1,\n"), "admin")
    assert [w.plate for w in watchlist.entries(store.engine)] == ["粤C*88", "京A12345", "沪B8D0Z2"]
    watchlist.remove(store.engine, many[0].id, "admin")
    assert [w.plate for w in watchlist.entries(store.engine)] == ["粤C*88", "京A12345"]
    with pytest.raises(watchlist.WatchlistError, match="already removed"):
        watchlist.remove(store.engine, many[0].id, "admin")
    actions = [(a.actor, a.action, a.record_id) for a in reversed(audit.entries(store.engine))]
    assert actions == [("sup", "watchlist_add", f"watchlist:{e.id}"), ("admin", "watchlist_import", f"watchlist:{many[0].id}"),
                       ("admin", "watchlist_import", f"watchlist:{many[1].id}"), ("admin", "watchlist_remove", f"watchlist:{many[0].id}")]
    assert audit.verify_chain(store.engine).ok


def test_a_bad_csv_names_every_bad_line():
    with pytest.raises(watchlist.WatchlistError) as err:
        watchlist.parse_csv("plate,reason,valid_from\n京A12345,stolen,\n京A1,other,\n沪B12345,hit_and_run,2027-01-01\n")
    text = str(err.value)
    assert "line 2: reason 'stolen'" in text and "line 3" in text and "line 4: valid_from" in text


def test_alert_states_and_their_audit(store):
    ps = PassStore(store.engine)
    p = passes_of(1)[0]
    ps.add(p)
    a, new = alerts.create(store.engine, NewAlert(alert_key="k1", kind="watchlist", pass_key=p.pass_key, pass_time=p.pass_time,
                                                  site_id="site-a", camera_id="cam-1", plate=p.plate, score=1.0, match="exact"), ["hook"])
    again, new2 = alerts.create(store.engine, NewAlert(alert_key="k1", kind="watchlist", pass_key=p.pass_key, pass_time=p.pass_time,
                                                       site_id="site-a", camera_id="cam-1", plate=p.plate, score=1.0, match="exact"), ["hook"])
    assert new and not new2 and again.id == a.id and len(alerts.deliveries_of(store.engine, a.id)) == 1
    with pytest.raises(alerts.AlertError, match="cannot become dispatched"):
        alerts.transition(store.engine, a.id, "dispatched", "sup")
    for state in ("acknowledged", "dispatched", "closed"):
        a = alerts.transition(store.engine, a.id, state, "sup", expected_version=a.row_version)
    assert a.state == "closed" and alerts.counts(store.engine)["closed"] == 1
    acts = [e.action for e in reversed(audit.entries(store.engine, record_id=f"alert:{a.id}"))]
    assert acts == ["alert_raise", "alert_acknowledge", "alert_dispatch", "alert_close"]


def test_pictures_are_full_resolution_hashed_checked_and_purged(tmp_path: Path):
    cfg = PassesConfig(output_dir=tmp_path / "passes", vehicle_margin=0.0)
    c = capture(plate("京A12345"))
    pano, veh = write_pictures(c, cfg)
    assert (pano.width, pano.height, veh.width, veh.height) == (640, 360, 220, 150)
    assert write_pictures(c, cfg) == (pano, veh)  # a re-run finds what was written
    assert read_verified(veh)[:2] == b"\xff\xd8"
    Path(veh.path).write_bytes(b"tampered")
    with pytest.raises(PassImageError, match="does not match"):
        read_verified(veh)
    assert purge_pictures(cfg, T0 + timedelta(days=1)) == 1 and not Path(pano.path).exists()
