"""Reviewer app: the hash-chained audit log (and tampering), export, the statistics CSV, the
dashboard figures, administration, the language switch, and the `epolice review` CLI."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from evidence.review import audit, auth
from evidence.review.dashboard import per_day_chart, rate_chart
from evidence.review.i18n import MESSAGES
from evidence.store.schema import audit_log
from pipelines.cli.main import app as cli
from tests.support.evidence import keys  # noqa: F401
from tests.support.review import Env, csrf_of, env, login  # noqa: F401


def _decide(c, rid, body) -> int:
    c.get(f"/records/{rid}")
    return c.post(f"/api/records/{rid}/decision", json=body, headers={"X-CSRF-Token": csrf_of(c, "/")}).status_code


def _work(env: Env) -> None:
    """rita corrects a plate and approves two records, rob rejects one."""
    rita, rob = env.client("rita"), env.client("rob")
    rita.get(f"/records/{env.ids[0]}")
    assert rita.post(f"/api/records/{env.ids[0]}/plate", json={"text": "浙B54321", "color": "blue"},
                     headers={"X-CSRF-Token": csrf_of(rita, "/")}).status_code == 200
    assert _decide(rita, env.ids[0], {"decision": "approve"}) == 200
    assert _decide(rita, env.ids[2], {"decision": "approve"}) == 200  # the helmet record
    assert _decide(rob, env.ids[1], {"decision": "reject", "reason_code": "not_violation"}) == 200


# -- audit --------------------------------------------------------------------------------------
def test_synthetic_audit_records_views_decisions_and_corrections(env: Env):
    _work(env)
    entries = list(reversed(audit.entries(env.store.engine)))
    acts = [(e.actor, e.action, e.record_id) for e in entries]
    rid = str(env.ids[0])
    assert ("rita", "view", rid) in acts and ("rita", "correct_plate", rid) in acts and ("rita", "approve", rid) in acts
    assert ("rob", "reject", str(env.ids[1])) in acts and ("rita", "login", None) in acts
    corr = next(e for e in entries if e.action == "correct_plate")
    assert json.loads(corr.before)["reviewed_text"] is None and json.loads(corr.after)["reviewed_text"] == "浙B54321"
    assert json.loads(corr.after)["machine_text"] == "浙A12345"
    rej = next(e for e in entries if e.action == "reject")
    assert json.loads(rej.before)["status"] == "pending_review" and json.loads(rej.after)["reason_code"] == "not_violation"
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert all(e.prev_hash == p.hash for p, e in zip(entries, entries[1:]))
    assert audit.verify_chain(env.store.engine).ok


def _tamper_edit(conn, seq):
    conn.execute(audit_log.update().where(audit_log.c.seq == seq).values(after='{"status":"approved"}'))


def _tamper_delete(conn, seq):
    conn.execute(audit_log.delete().where(audit_log.c.seq == seq))


def _tamper_rehash(conn, seq):
    """Edit an entry AND recompute its own hash (even with the audit key): the next entry's prev_hash
    still gives it away."""
    row = conn.execute(sa.select(audit_log).where(audit_log.c.seq == seq)).first()
    key = audit.seal_of(conn.engine).key
    h = audit.entry_hash(row.seq, row.at, "mallory", row.action, row.record_id, row.before, row.after, row.prev_hash, key)
    conn.execute(audit_log.update().where(audit_log.c.seq == seq).values(actor="mallory", hash=h))


@pytest.mark.parametrize("tamper,broken_at,reason", [
    (_tamper_edit, 0, "entry edited"),
    (_tamper_delete, 0, "missing"),
    (_tamper_rehash, 1, "prev_hash"),
])
def test_synthetic_audit_tampering_is_found_and_named(env: Env, tamper, broken_at, reason):
    _work(env)
    n = audit.count(env.store.engine)
    victim = n // 2
    with env.store.engine.begin() as conn:
        tamper(conn, victim)
    report = audit.verify_chain(env.store.engine)
    assert not report.ok and report.broken_seq == victim + broken_at and reason in report.reason
    r = CliRunner().invoke(cli, ["review", "audit", "verify", "--db", env.settings.store.url,
                                 "--audit-key", str(env.settings.audit_key_path)])
    assert r.exit_code == 1 and f"BROKEN at entry {victim + broken_at}" in r.output
    page = env.client("ada").get("/admin/audit")
    assert page.status_code == 200 and f"第 {victim + broken_at} 条" in page.text


def test_synthetic_cli_audit_verify_ok_and_json(env: Env):
    _work(env)
    r = CliRunner().invoke(cli, ["review", "audit", "verify", "--db", env.settings.store.url, "--json",
                                 "--audit-key", str(env.settings.audit_key_path)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["ok"] and out["entries"] == audit.count(env.store.engine) and out["broken_seq"] is None
    missing = CliRunner().invoke(cli, ["review", "audit", "verify", "--db", f"sqlite:///{env.tmp / 'typo.db'}"])
    assert missing.exit_code == 2 and "no record store" in missing.output and not (env.tmp / "typo.db").exists()


@pytest.mark.parametrize("args,stdin,code,message", [
    (["carol", "--role", "supervisor", "--password-stdin"], "a long password\n", 0, "user carol (supervisor) created"),
    (["carol", "--role", "boss", "--password-stdin"], "a long password\n", 2, "--role must be one of"),
    (["carol", "--role", "reviewer", "--password-stdin"], "short\n", 2, "at least 10 characters"),
    (["rita", "--role", "reviewer", "--password-stdin"], "a long password\n", 2, "exists"),
])
def test_synthetic_cli_user_add(env: Env, args, stdin, code, message):
    r = CliRunner().invoke(cli, ["review", "user", "add", *args, "--db", env.settings.store.url,
                                 "--audit-key", str(env.settings.audit_key_path)], input=stdin)
    assert r.exit_code == code and message in r.output, r.output
    if code == 0:
        stored = {u.name: u.role for u in auth.list_users(env.store.engine)}
        assert stored["carol"] == "supervisor"
        with env.store.engine.connect() as conn:
            h = conn.execute(sa.text("SELECT password_hash FROM review_users WHERE name='carol'")).scalar_one()
        assert h.startswith("$argon2id$") and "a long password" not in h
        assert login(env.client(), "carol", "a long password").status_code == 303


# -- export -------------------------------------------------------------------------------------
def _done_token(location: str) -> str:
    """The export's download token from the redirect after an export (``/export?done=TOKEN&skipped=N``)."""
    m = re.fullmatch(r"/export\?done=([A-Za-z0-9_-]{20,})&skipped=0", location)
    assert m, location
    return m.group(1)


def test_synthetic_export_package_marks_records_exported(env: Env):
    _work(env)
    eve = env.client("eve")  # exports are the exporter's (issue 15 item 19)
    page = eve.get("/export")
    assert re.search(r'id="export-pending">2<', page.text)
    r = eve.post("/export", data={"csrf_token": csrf_of(eve, "/export")})
    assert r.status_code == 303
    token = _done_token(r.headers["location"])
    zipped = eve.get(f"/export/{token}/download")
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as zf:
        names = zf.namelist()
        lines = [json.loads(x) for x in zf.read(next(n for n in names if n.endswith("records.jsonl"))).splitlines()]
    assert sorted(x["id"] for x in lines) == sorted([env.ids[0], env.ids[2]])
    corrected = next(x for x in lines if x["id"] == env.ids[0])
    assert corrected["plate_text"] == "浙A12345" and corrected["plate_text_reviewed"] == "浙B54321"
    assert any(n.endswith("composite.jpg") for n in names) and any(n.endswith("manifest.sig") for n in names)
    assert {env.store.get(i).status for i in (env.ids[0], env.ids[2])} == {"exported"}
    assert env.store.get(env.ids[1]).status == "rejected"
    again = eve.post("/export", data={"csrf_token": csrf_of(eve, "/export")})
    assert again.headers["location"] == "/export?skipped=0"  # nothing left: no second package
    assert eve.get(f"/export/{token[::-1]}/download").status_code == 404
    assert any(e.action == "export" for e in audit.entries(env.store.engine))


def test_synthetic_export_refuses_a_zip_changed_on_disk(env: Env):
    _work(env)
    eve = env.client("eve")
    token = _done_token(eve.post("/export", data={"csrf_token": csrf_of(eve, "/export")}).headers["location"])
    zip_path = next((env.tmp / "exports").glob("*.zip"))
    zip_path.write_bytes(zip_path.read_bytes() + b"x")
    assert eve.get(f"/export/{token}/download").status_code == 409


def test_synthetic_statistics_csv(env: Env):
    _work(env)
    r = env.client("sam").get("/stats.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    text = r.content.decode("utf-8-sig")
    rows = {int(row["id"]): row for row in csv.DictReader(io.StringIO(text))}
    assert sorted(rows) == sorted(env.ids) and "evidence_path" not in next(iter(rows.values()))
    first = rows[env.ids[0]]
    assert (first["status"], first["decision"], first["decided_by"], first["plate"], first["plate_machine"]) == (
        "approved", "approve", "rita", "浙B54321", "浙A12345")
    assert rows[env.ids[1]]["reason_code"] == "not_violation" and rows[env.ids[3]]["decision"] == ""
    only = env.client("sam").get("/stats.csv?rule=helmet").content.decode("utf-8-sig")
    assert [int(x["id"]) for x in csv.DictReader(io.StringIO(only))] == [env.ids[2]]


# -- dashboard ----------------------------------------------------------------------------------
def test_synthetic_dashboard_figures(env: Env):
    _work(env)
    sam = env.client("sam")
    stats = sam.get("/api/stats").json()
    per = {(d["reviewer"], d["approved"], d["rejected"]) for d in stats["per_day"]}
    assert per == {("rita", 2, 0), ("rob", 0, 1)}
    by_rule = {r["rule"]: (r["approved"], r["rejected"]) for r in stats["approval_by_rule"]}
    assert by_rule == {"parking": (1, 1), "helmet": (1, 0)}
    by_cam = {r["camera_id"]: r["rate"] for r in stats["approval_by_camera"]}
    assert by_cam == {"cam-01": 1.0, "cam-02": 0.0}
    # the helmet-wearing rate counts every judged rider (rider_counts), not the riders of violations
    assert stats["helmet_rate_by_camera"] == [] and stats["helmet_rate_by_camera_hour"] == []
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    env.store.put_rider_counts("site-001", "cam-01", "batch:seg-1", {hour: (2, 1, 3)})
    env.store.put_rider_counts("site-001", "cam-01", "batch:seg-1", {hour: (2, 1, 3)})  # a re-run segment replaces its rows
    env.store.put_rider_counts("site-001", "cam-01", "live:w1", {hour: (2, 2, 0)})
    stats = sam.get("/api/stats").json()
    assert stats["helmet_rate_by_camera"] == [{"camera_id": "cam-01", "helmeted": 3, "judged": 4, "unjudged": 3, "rate": 0.75}]
    assert stats["helmet_rate_by_camera_hour"] == [
        {"camera_id": "cam-01", "hour": hour.isoformat(), "helmeted": 3, "judged": 4, "unjudged": 3, "rate": 0.75}]
    page = sam.get("/dashboard").text
    assert page.count("<svg") == 4 and "头盔佩戴率" in page and "75.0%" in page and "(3/4)" in page


def test_synthetic_charts_escape_labels():
    svg = rate_chart([("<script>alert(1)</script>", 0.5, "(1/2)")], "t")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and 'width="' in svg
    from datetime import date

    from evidence.review.dashboard import DayCount
    svg = per_day_chart([DayCount("a&b", 3, 1, date(2024, 5, 1))], "t")
    assert "a&amp;b" in svg and ">4<" in svg


# -- admin --------------------------------------------------------------------------------------
def test_synthetic_admin_adds_users_and_reason_codes(env: Env):
    ada = env.client("ada")
    token = csrf_of(ada)
    r = ada.post("/admin/users", data={"name": "newbie", "role": "reviewer", "password": "a long password", "csrf_token": token})
    assert r.status_code == 303
    bad = ada.post("/admin/users", data={"name": "x y", "role": "reviewer", "password": "a long password", "csrf_token": token})
    assert bad.status_code == 422 and "without spaces" in bad.text
    abe = env.client("abe")  # a second admin grants the role (issue 15 item 19)
    newbie = next(u.id for u in auth.list_users(env.store.engine) if u.name == "newbie")
    assert abe.post(f"/admin/users/{newbie}/approve", data={"csrf_token": csrf_of(abe)}).status_code == 303
    assert login(env.client(), "newbie", "a long password").status_code == 303
    r = ada.post("/admin/reasons", data={"code": "wrong_lane", "zh": "车道判断错误", "en": "Wrong lane", "csrf_token": token})
    assert r.status_code == 303
    rita = env.client("rita")
    assert "车道判断错误" in rita.get(f"/records/{env.ids[0]}").text
    assert ada.post("/admin/reasons/wrong_lane/active", data={"active": "false", "csrf_token": token}).status_code == 303
    assert "车道判断错误" not in rita.get(f"/records/{env.ids[0]}").text
    assert _decide(rita, env.ids[0], {"decision": "reject", "reason_code": "wrong_lane"}) == 422
    assert ada.post("/admin/reasons", data={"code": "Bad Code", "zh": "x", "en": "x", "csrf_token": token}).status_code == 422
    acts = [e.action for e in audit.entries(env.store.engine)]
    assert "user_add" in acts and "reason_set" in acts and "reason_active" in acts


def test_synthetic_reason_codes_come_from_config(env: Env):
    page = env.client("rita").get(f"/records/{env.ids[0]}").text
    for r in env.settings.review.reason_codes:
        assert f'value="{r.code}"' in page and r.zh in page


# -- language -----------------------------------------------------------------------------------
def test_synthetic_catalogues_have_the_same_keys():
    assert set(MESSAGES["zh"]) == set(MESSAGES["en"])
    assert all(v.strip() for lang in MESSAGES.values() for v in lang.values())


def test_synthetic_chinese_by_default_english_on_request(env: Env):
    rita = env.client("rita")
    assert "待审队列" in rita.get("/queue").text and 'lang="zh-CN"' in rita.get("/queue").text
    r = rita.post("/lang", data={"lang": "en", "next": "/queue", "csrf_token": csrf_of(rita, "/queue")})
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    page = rita.get("/queue").text
    assert "Review queue" in page and "待审队列" not in page and 'lang="en"' in page
    assert "Log in" in env.client().get("/login?lang=en").text


# -- serve --------------------------------------------------------------------------------------
def _site(env: Env) -> Path:
    site = env.tmp / "site.yaml"
    site.write_text(
        "id: site-001\ntimezone: Asia/Shanghai\ncameras:\n  - id: cam-01\n    source: recorded.mp4\n    frame_size: [320, 180]\n"
        f"store:\n  url: {env.settings.store.url}\n"
        f"evidence:\n  output_dir: {env.tmp / 'evidence'}\n  signing_key: {env.tmp / 'keys' / 'evidence.key'}\n",
        encoding="utf-8")
    return site


def test_synthetic_cli_serve_answers_on_loopback(env: Env):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    review = env.tmp / "review.yaml"
    review.write_text(f"second_review_rules: [parking]\nexport_dir: {env.tmp / 'exports'}\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli.main", "review", "serve", "--config", str(_site(env)),
                             "--review-config", str(review), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, body = time.monotonic() + 30, None
        while time.monotonic() < deadline and body is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).read().decode()
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.2)
        assert body is not None and 'name="csrf_token"' in body and "违法记录审核" in body
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/queue", timeout=2)
            raise AssertionError("/api/queue answered without a session")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("yaml_text,message", [
    ("second_review_rules: [jaywalking]\n", "second_review_rules.0"),
    ("claim_seconds: 1\n", "claim_seconds"),
    ("colour: red\n", "colour"),
])
def test_synthetic_cli_bad_review_config_names_the_field(env: Env, yaml_text, message):
    review = env.tmp / "review.yaml"
    review.write_text(yaml_text, encoding="utf-8")
    r = CliRunner().invoke(cli, ["review", "serve", "--config", str(_site(env)), "--review-config", str(review)])
    assert r.exit_code == 2 and message in r.output, r.output


def test_synthetic_cli_serve_without_the_trusted_key_says_so(env: Env, tmp_path: Path, monkeypatch):
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    monkeypatch.chdir(empty)  # the default key path keys/evidence.pub does not exist here
    assert not (empty / "keys" / "evidence.pub").exists()
    r = CliRunner().invoke(cli, ["review", "serve", "--db", env.settings.store.url])
    assert r.exit_code == 2 and "public key" in r.output and "checking it against this key" in r.output


def test_synthetic_two_concurrent_exports_do_not_collide(env: Env, monkeypatch: pytest.MonkeyPatch):
    """Issue 15 item 17: two exports started in the same second wrote one temp zip (a 500). Now they
    take turns: one package with every approved record, each record exported once."""
    import shutil
    import threading
    import time

    for rid in env.ids[:2]:
        env.store.set_status(rid, "approved", "rita")
    copytree = shutil.copytree

    def slow_copytree(*args, **kwargs):
        time.sleep(0.3)  # both exports are inside the copy at once
        return copytree(*args, **kwargs)

    monkeypatch.setattr(shutil, "copytree", slow_copytree)
    clients = [env.client("eve") for _ in range(2)]
    tokens = [csrf_of(c, "/export") for c in clients]
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def run(i: int) -> None:
        barrier.wait()
        codes.append(clients[i].post("/export", data={"csrf_token": tokens[i]}).status_code)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert codes == [303, 303]
    out = env.tmp / "exports"
    assert len(list(out.glob("*.zip"))) == 1 and not list(out.glob(".tmp-*"))
    for rid in env.ids[:2]:
        assert env.store.get(rid).status == "exported"
        assert [d.action for d in env.store.decisions(rid)].count("export") == 1
