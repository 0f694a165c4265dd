"""Reviewer workflow: queue order and filters, claims, decisions, plate corrections, the two-person
rule, and concurrency (two reviewers never decide one record twice), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from evidence.review import auth, workflow
from evidence.review.config import ReviewConfig
from evidence.review.workflow import QueueFilter, WorkflowError
from evidence.store.schema import decisions
from tests.support.evidence import keys  # noqa: F401
from tests.support.postgres import postgres_server, postgres_url, store_url  # noqa: F401
from tests.support.review import Env, cheap_hashing, csrf_of, env, make_env  # noqa: F401


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<td><a href="/records/(\d+)', html)]


def _counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-status="(\w+)"><b>(\d+)</b>', html)}


@pytest.mark.parametrize("query,expected", [
    ("", [1, 2, 3, 4]),  # oldest first (records were made a minute apart)
    ("?rule=parking", [1, 2]),
    ("?camera=cam-02", [2, 4]),
    ("?site=site-002", [4]),
    ("?plate=浙A12345", [1, 2, 3, 4]),
    ("?plate=浙A99999", []),
    ("?from=2024-05-01&to=2024-05-01", [1, 2, 3, 4]),  # 08:30 local (Asia/Shanghai)
    ("?from=2024-05-02", []),
    ("?to=2024-04-30", []),
    ("?rule=helmet&camera=cam-01", [3]),
])
def test_synthetic_queue_oldest_first_with_filters(env: Env, query, expected):
    page = env.client("rita").get("/queue" + query)
    assert page.status_code == 200
    assert _ids(page.text) == [env.ids[i - 1] for i in expected]
    assert _counts(page.text)["pending_review"] == len(expected)


def test_synthetic_counts_by_status_follow_decisions(env: Env):
    rita = env.client("rita")
    token = csrf_of(rita, "/queue")
    for rid, body in zip(env.ids[:2], ({"decision": "approve"}, {"decision": "reject", "reason_code": "duplicate"})):
        assert rita.get(f"/records/{rid}").status_code == 200
        assert rita.post(f"/api/records/{rid}/decision", json=body, headers={"X-CSRF-Token": token}).status_code == 200
    counts = rita.get("/api/queue").json()["counts"]
    assert counts == {"pending_review": 2, "second_review": 0, "approved": 1, "rejected": 1, "exported": 0}
    assert _ids(rita.get("/queue").text) == env.ids[2:]


def test_synthetic_next_walks_the_queue_and_keeps_the_filter(env: Env):
    rita = env.client("rita")
    r = rita.get("/next?camera=cam-02")
    assert r.headers["location"] == f"/records/{env.ids[1]}?camera=cam-02"
    r = rita.get(f"/next?after={env.ids[1]}&camera=cam-02")
    assert r.headers["location"] == f"/records/{env.ids[3]}?camera=cam-02"
    r = rita.get(f"/next?after={env.ids[3]}&camera=cam-02")  # wraps around
    assert r.headers["location"] == f"/records/{env.ids[1]}?camera=cam-02"
    rec = env.store.get(env.ids[3])
    assert rec.claimed_by is None  # leaving a record releases it
    assert rita.get("/next?site=nowhere").headers["location"].startswith("/queue?site=nowhere")


def test_synthetic_record_page_shows_the_evidence_and_shortcuts(env: Env):
    page = env.client("rita").get(f"/records/{env.ids[0]}")
    html = page.text
    for kind in ("composite", "closeup", "clip", "panorama-1", "panorama-2", "panorama-3"):
        assert f"/records/{env.ids[0]}/files/{kind}" in html
    assert "<video" in html and "<kbd>a</kbd>" in html and "<kbd>r</kbd>" in html and "<kbd>e</kbd>" in html
    assert "停留时长（秒）" in html and "浙A12345" in html and 'data-can-decide="yes"' in html
    assert "✔" in html  # the signature check passed
    helmet = env.client("rita").get(f"/records/{env.ids[2]}").text
    assert "未戴头盔人数" in helmet and "未戴头盔投票数" in helmet


def test_synthetic_claimed_record_cannot_be_decided_by_another(env: Env):
    rita, rob = env.client("rita"), env.client("rob")
    rid = env.ids[0]
    assert 'data-can-decide="yes"' in rita.get(f"/records/{rid}").text
    page = rob.get(f"/records/{rid}").text
    assert 'data-can-decide="no"' in page and "rita" in page
    r = rob.post(f"/api/records/{rid}/decision", json={"decision": "approve"}, headers={"X-CSRF-Token": csrf_of(rob, "/queue")})
    assert r.status_code == 409 and "held by rita" in r.json()["error"]
    assert rob.get("/next").headers["location"].startswith(f"/records/{env.ids[1]}")  # rob gets the next free one
    assert env.store.get(rid).status == "pending_review"


@pytest.mark.parametrize("body,status,error", [
    ({"decision": "reject"}, 422, "needs a reason"),
    ({"decision": "reject", "reason_code": "made_up"}, 422, "unknown or disabled"),
    ({"decision": "approve", "reason_code": "duplicate"}, 422, "no reason"),
    ({"decision": "maybe"}, 422, None),
    ({"decision": "reject", "reason_code": "emergency_vehicle"}, 200, None),
])
def test_synthetic_decision_validation(env: Env, body, status, error):
    rita = env.client("rita")
    rid = env.ids[0]
    rita.get(f"/records/{rid}")
    r = rita.post(f"/api/records/{rid}/decision", json=body, headers={"X-CSRF-Token": csrf_of(rita, "/queue")})
    assert r.status_code == status, r.text
    if error:
        assert error in r.json()["error"]
    rec = env.store.get(rid)
    assert rec.status == ("rejected" if status == 200 else "pending_review")
    if status == 200:
        log = env.store.decisions(rid)
        assert [(d.actor, d.action, d.reason_code) for d in log] == [("rita", "reject", "emergency_vehicle")]


def test_synthetic_second_decision_is_refused(env: Env):
    rita = env.client("rita")
    token = csrf_of(rita, "/queue")
    rid = env.ids[0]
    rita.get(f"/records/{rid}")
    assert rita.post(f"/api/records/{rid}/decision", json={"decision": "approve"}, headers={"X-CSRF-Token": token}).status_code == 200
    r = rita.post(f"/api/records/{rid}/decision", json={"decision": "reject", "reason_code": "duplicate"},
                  headers={"X-CSRF-Token": token})
    assert r.status_code == 409 and env.store.get(rid).status == "approved"


@pytest.mark.parametrize("text,color,status,stored", [
    ("浙B54321", "blue", 200, "浙B54321"),
    ("浙b·543 21", "blue", 200, "浙B54321"),  # separators and case are normalised
    ("粤BD12345", "green", 200, "粤BD12345"),  # new-energy plate, 8 characters
    ("京A1234学", "yellow", 200, "京A1234学"),
    ("ZZ12345", "blue", 422, None),
    ("浙B5", "blue", 422, None),
    ("浙B54321", "purple", 422, None),
    ("<script>", "blue", 422, None),
])
def test_synthetic_plate_correction_keeps_the_machine_reading(env: Env, text, color, status, stored):
    rita = env.client("rita")
    rid = env.ids[0]
    rita.get(f"/records/{rid}")
    r = rita.post(f"/api/records/{rid}/plate", json={"text": text, "color": color}, headers={"X-CSRF-Token": csrf_of(rita, "/queue")})
    assert r.status_code == status, r.text
    rec = env.store.get(rid)
    assert rec.plate_text == "浙A12345" and rec.plate_color == "blue"  # machine reading untouched
    assert rec.plate_text_reviewed == stored
    if stored:
        assert rec.plate == stored
        log = [d for d in env.store.decisions(rid) if d.action == "correct_plate"]
        assert log[0].before["machine_text"] == "浙A12345" and log[0].after["reviewed_text"] == stored
        assert env.client("rita").get(f"/queue?plate={stored}").status_code == 200
        assert _ids(env.client("rita").get(f"/queue?plate={stored}").text) == [rid]


@pytest.fixture
def two_person(tmp_path: Path, monkeypatch):
    cheap_hashing(monkeypatch)
    e = make_env(tmp_path, review=ReviewConfig(export_dir=tmp_path / "exports", second_review_rules=["parking"]))
    try:
        yield e
    finally:
        e.store.close()


def _decide(c, rid, body) -> tuple[int, dict]:
    c.get(f"/records/{rid}")
    r = c.post(f"/api/records/{rid}/decision", json=body, headers={"X-CSRF-Token": csrf_of(c, "/")})
    return r.status_code, r.json()


@pytest.mark.parametrize("second,body,final", [
    ("sam", {"decision": "approve"}, "approved"),
    ("sue", {"decision": "reject", "reason_code": "not_violation"}, "rejected"),
])
def test_synthetic_two_person_rule(two_person: Env, second, body, final):
    e = two_person
    rid = e.ids[0]  # parking: needs a second person
    rita, rob, sup = e.client("rita"), e.client("rob"), e.client(second)
    status, out = _decide(rita, rid, {"decision": "approve"})
    assert status == 200 and out == {"ok": True, "record_id": rid, "status": "pending_review", "stage": "first",
                                     "action": "approve_first"}
    assert e.store.get(rid).status == "pending_review"
    assert rid not in _ids(rita.get("/queue").text)  # gone from the first-stage queue
    assert rid in _ids(sup.get("/queue?stage=second").text)
    assert _counts(rita.get("/queue").text)["second_review"] == 1
    assert _decide(rob, rid, {"decision": "approve"})[0] == 403  # a reviewer cannot give the second review
    sam_rita = e.client("rita")
    assert _decide(sam_rita, rid, {"decision": "approve"})[0] == 403  # nor the first reviewer herself
    status, out = _decide(sup, rid, body)
    assert status == 200 and out["stage"] == "second" and out["status"] == final
    log = [(d.actor, d.action) for d in e.store.decisions(rid)]
    assert log == [("rita", "approve_first"), (second, body["decision"])]


def test_synthetic_two_person_rule_spares_other_rules_and_rejections(two_person: Env):
    rita = two_person.client("rita")
    assert _decide(rita, two_person.ids[2], {"decision": "approve"})[1]["status"] == "approved"  # helmet: one person
    assert _decide(rita, two_person.ids[0], {"decision": "reject", "reason_code": "duplicate"})[1]["status"] == "rejected"


def test_synthetic_supervisor_cannot_second_review_own_first_approval(two_person: Env):
    sam = two_person.client("sam")
    rid = two_person.ids[0]
    assert _decide(sam, rid, {"decision": "approve"})[1]["action"] == "approve_first"
    assert rid not in _ids(sam.get("/queue?stage=second").text)
    assert _decide(sam, rid, {"decision": "approve"})[0] == 403
    assert sam.get("/next").headers["location"].startswith(f"/records/{two_person.ids[1]}")


# -- concurrency --------------------------------------------------------------------------------
def test_synthetic_two_reviewers_on_one_queue_never_decide_a_record_twice(tmp_path: Path, monkeypatch):
    """Two signed-in reviewers work the same queue as fast as they can, each in its own thread."""
    cheap_hashing(monkeypatch)
    specs = [{"rule": "parking", "camera_id": "cam-01", "track_id": 500 + i} for i in range(12)]
    e = make_env(tmp_path, specs=specs)
    try:
        decided: dict[str, list[int]] = {"rita": [], "rob": []}
        conflicts: list[int] = []
        errors: list[str] = []
        barrier = threading.Barrier(2)

        def work(name: str) -> None:
            c = e.client(name)
            token = csrf_of(c, "/queue")
            barrier.wait()
            for _ in range(30):
                r = c.get("/next")
                loc = r.headers["location"]
                if not loc.startswith("/records/"):
                    return
                rid = int(loc.split("/")[2].split("?")[0])
                d = c.post(f"/api/records/{rid}/decision", json={"decision": "approve"}, headers={"X-CSRF-Token": token})
                if d.status_code == 200:
                    decided[name].append(rid)
                elif d.status_code == 409:
                    conflicts.append(rid)
                else:
                    errors.append(f"{name} {rid} {d.status_code} {d.text}")

        threads = [threading.Thread(target=work, args=(n,)) for n in decided]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        both = decided["rita"] + decided["rob"]
        assert sorted(both) == sorted(e.ids)  # every record decided, none twice
        assert decided["rita"] and decided["rob"]  # both really worked the queue
        with e.store.engine.connect() as conn:
            rows = conn.execute(decisions.select()).all()
        assert sorted(r.record_id for r in rows) == sorted(e.ids)
        assert all(e.store.get(i).status == "approved" for i in e.ids)
    finally:
        e.store.close()


def test_synthetic_racing_claims_and_decisions_on_both_backends(tmp_path: Path, store_url: str, monkeypatch):
    """Many threads claim and decide the same record at once: exactly one claim, one decision."""
    cheap_hashing(monkeypatch)
    e = make_env(tmp_path, url=store_url, specs=[{"rule": "parking"}])
    try:
        users = [auth.add_user(e.store.engine, f"racer{i}", "long enough pw", "reviewer") for i in range(6)]
        rid = e.ids[0]
        barrier = threading.Barrier(len(users))
        claims: list[bool] = [False] * len(users)
        outcomes: list[str] = [""] * len(users)

        def race(i: int) -> None:
            barrier.wait()
            claims[i] = workflow.claim(e.store, rid, users[i], 60).ok
            try:
                workflow.decide(e.store, rid, users[i], "approve", None, set())
                outcomes[i] = "decided"
            except WorkflowError as exc:
                outcomes[i] = f"refused {exc.status}"

        threads = [threading.Thread(target=race, args=(i,)) for i in range(len(users))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert claims.count(True) == 1
        assert outcomes.count("decided") == 1 and outcomes.count("refused 409") == len(users) - 1
        winner = users[claims.index(True)].name
        log = e.store.decisions(rid)
        assert [(d.actor, d.action) for d in log] == [(winner, "approve")]
        from evidence.review.audit import verify_chain
        report = verify_chain(e.store.engine)
        assert report.ok and report.entries == 1
    finally:
        e.store.close()


def test_synthetic_expired_claim_can_be_taken_over(env: Env):
    rita = auth.get_user(env.store.engine, 1)
    rob = auth.get_user(env.store.engine, 2)
    rid = env.ids[0]
    assert workflow.claim(env.store, rid, rita, 60).ok
    assert not workflow.claim(env.store, rid, rob, 60).ok
    from datetime import timedelta

    from evidence.store.schema import now_utc, records
    with env.store.engine.begin() as conn:  # let rita's claim lapse
        conn.execute(records.update().where(records.c.id == rid).values(claimed_until=now_utc() - timedelta(seconds=1)))
    assert workflow.claim(env.store, rid, rob, 60).ok
    with pytest.raises(WorkflowError) as exc:
        workflow.decide(env.store, rid, rita, "approve", None, set())
    assert exc.value.status == 409
    assert workflow.decide(env.store, rid, rob, "approve", None, set()).status == "approved"


def test_synthetic_queue_filter_days_are_local(env: Env):
    from datetime import date
    from zoneinfo import ZoneInfo
    q = QueueFilter(day_from=date(2024, 5, 1), day_to=date(2024, 5, 1)).query(ZoneInfo("Asia/Shanghai"))
    assert q.since.isoformat() == "2024-05-01T00:00:00+08:00" and q.until.isoformat() == "2024-05-02T00:00:00+08:00"


def test_synthetic_queue_two_person_and_figures_on_both_backends(tmp_path: Path, store_url: str, monkeypatch):
    """The app's own SQL (queue order, stage subqueries, counts, dashboard, CSV) on SQLite and PostgreSQL."""
    cheap_hashing(monkeypatch)
    e = make_env(tmp_path, url=store_url, review=ReviewConfig(export_dir=tmp_path / "exports", second_review_rules=["parking"]))
    try:
        rita, sam = e.client("rita"), e.client("sam")
        assert _ids(rita.get("/queue").text) == e.ids
        assert _decide(rita, e.ids[0], {"decision": "approve"})[1]["action"] == "approve_first"
        assert _decide(rita, e.ids[2], {"decision": "approve"})[1]["status"] == "approved"  # helmet
        assert _ids(sam.get("/queue?stage=second").text) == [e.ids[0]]
        assert sam.get("/api/queue").json()["counts"] == {"pending_review": 2, "second_review": 1, "approved": 1,
                                                         "rejected": 0, "exported": 0}
        assert _decide(sam, e.ids[0], {"decision": "approve"})[1]["status"] == "approved"
        stats = sam.get("/api/stats").json()
        assert {(d["reviewer"], d["approved"]) for d in stats["per_day"]} == {("rita", 2), ("sam", 1)}
        hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        e.store.put_rider_counts("site-001", "cam-01", "batch:seg-1", {hour: (4, 3, 1)})
        assert sam.get("/api/stats").json()["helmet_rate_by_camera"][0]["rate"] == 0.75
        csv_text = sam.get("/stats.csv").content.decode("utf-8-sig")
        rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(csv_text))}
        assert (rows[e.ids[0]]["decision"], rows[e.ids[0]]["decided_by"], rows[e.ids[0]]["second_reviewer"]) == ("approve", "rita", "sam")
        assert (rows[e.ids[2]]["decided_by"], rows[e.ids[2]]["second_reviewer"]) == ("rita", "")
    finally:
        e.store.close()


def _plate(c, rid, text) -> int:
    c.get(f"/records/{rid}")
    return c.post(f"/api/records/{rid}/plate", json={"text": text, "color": "blue"},
                  headers={"X-CSRF-Token": csrf_of(c, "/")}).status_code


def test_synthetic_second_reviewer_cannot_confirm_their_own_plate_change(two_person: Env):
    """Issue 15 item 5: a plate change at the second stage sends the record back to the first stage,
    so the supervisor who changed it cannot also confirm it: two people still see the final plate."""
    e = two_person
    rid = e.ids[0]
    rita, sam, sue = e.client("rita"), e.client("sam"), e.client("sue")
    assert _decide(rita, rid, {"decision": "approve"})[1]["action"] == "approve_first"
    assert _plate(sam, rid, "浙B54321") == 200
    assert rid not in _ids(sam.get("/queue?stage=second").text) and rid in _ids(sam.get("/queue").text)  # back to stage one
    status, out = _decide(sam, rid, {"decision": "approve"})
    assert status == 200 and out["status"] == "pending_review" and out["action"] == "approve_first"
    assert e.store.get(rid).status == "pending_review"
    assert _decide(sam, rid, {"decision": "approve"})[0] == 403  # not the second review of his own plate
    status, out = _decide(sue, rid, {"decision": "approve"})
    assert status == 200 and out["status"] == "approved"
    assert e.store.get(rid).plate == "浙B54321"
    assert [d.action for d in e.store.decisions(rid)] == ["approve_first", "correct_plate", "return_first", "approve_first", "approve"]


def test_synthetic_a_record_whose_evidence_fails_verification_cannot_be_approved(env: Env):
    """Issue 15 item 6: the decision is refused while the evidence does not verify; rejecting it stays possible."""
    from pathlib import Path as _Path

    rid = env.ids[0]
    composite = _Path(env.store.get(rid).evidence_path) / "composite.jpg"
    composite.write_bytes(composite.read_bytes()[:-10])
    rita = env.client("rita")
    page = rita.get(f"/records/{rid}").text
    assert 'data-can-decide="no"' in page or 'data-can-approve="no"' in page
    status, out = _decide(rita, rid, {"decision": "approve"})
    assert status == 409 and "does not verify" in out["error"]
    assert env.store.get(rid).status == "pending_review"
    assert _decide(rita, rid, {"decision": "reject", "reason_code": "image_quality"})[1]["status"] == "rejected"
