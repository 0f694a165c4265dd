"""`epolice watchlist ...` and `epolice passes ...` on a real SQLite store: changes audited under the
actor, a bad CSV refused whole, passes listed, shown, exported and purged by retention."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from typer.testing import CliRunner

from evidence.checkpoint.passes import PassStore
from evidence.checkpoint.values import NewPass
from evidence.review import audit
from evidence.store import RecordStore
from pipelines.cli.main import app
from tests.support.checkpoint import capture, plate

runner = CliRunner()


def epolice(*args: str):
    return runner.invoke(app, list(args))


def test_watchlist_commands_audit_every_change(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    RecordStore(db).close()
    r = epolice("watchlist", "add", "京a12345", "--reason", "肇事逃逸嫌疑", "--priority", "1", "--db", db, "--actor", "duty")
    assert r.exit_code == 0 and "added watchlist entry 1: 京A12345 (hit_and_run)" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("plate,reason\n沪B12345,overdue_inspection\n沪B1,stolen\n", encoding="utf-8")
    r = epolice("watchlist", "import", str(bad), "--db", db)
    assert r.exit_code == 2 and "line 3: reason 'stolen'" in r.output
    good = tmp_path / "good.csv"
    good.write_text("plate,reason,priority\n沪B12345,逾期未检验,2\n粤C*88,fake_or_cloned,1\n", encoding="utf-8")
    assert "imported 2 watchlist entries" in epolice("watchlist", "import", str(good), "--db", db, "--actor", "duty").output
    assert epolice("watchlist", "remove", "2", "--db", db, "--actor", "duty").exit_code == 0
    listed = [json.loads(x) for x in epolice("watchlist", "list", "--db", db, "--json").output.splitlines()]
    assert [e["plate"] for e in listed] == ["粤C*88", "京A12345"]  # most urgent first, then newest
    with RecordStore(db) as s:
        acts = [(e.actor, e.action) for e in reversed(audit.entries(s.engine))]
    assert acts == [("duty", "watchlist_add"), ("duty", "watchlist_import"), ("duty", "watchlist_import"), ("duty", "watchlist_remove")]


def test_passes_list_show_export_purge(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    now = datetime.now(timezone.utc)
    with RecordStore(db) as s:
        ps = PassStore(s.engine)
        fresh = [NewPass.of(capture(plate(f"京A0000{i}"), track=i, seconds=i).event, None, None) for i in range(3)]
        fresh = [p.model_copy(update={"pass_time": now - timedelta(minutes=i)}) for i, p in enumerate(fresh)]
        old = NewPass.of(capture(plate("京A99999"), track=9).event, None, None).model_copy(
            update={"pass_time": now - timedelta(days=100), "pass_key": "f" * 32})
        ps.add_many(fresh + [old])
    r = epolice("passes", "list", "--db", db, "--plate", "京a00001", "--format", "jsonl")
    (found,) = [json.loads(x) for x in r.output.splitlines()]
    assert found["pass_key"] == fresh[1].pass_key
    shown = json.loads(epolice("passes", "show", fresh[1].pass_key, "--db", db, "--json").output)
    assert shown["plate"] == "京A00001" and shown["alerts"] == []
    out = tmp_path / "passes.csv"
    assert epolice("passes", "export", "--db", db, "--out", str(out), "--camera", "cam-1").exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["plate"] for r in rows] == ["京A00000", "京A00001", "京A00002", "京A99999"]
    r = epolice("passes", "purge", "--db", db, "--json")  # retain_days 90 by default
    assert json.loads(r.output)["passes_removed"] == 1
    assert epolice("passes", "show", "f" * 32, "--db", db).exit_code == 2
