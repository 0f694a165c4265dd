"""`epolice keys new`, `evidence verify`, `records list|show|export` through the Typer app (synthetic frames)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.package import write_package
from evidence.signing import Signer
from evidence.store import NewRecord, RecordStore
from pipelines.cli.main import app
from tests.support.evidence import config, event, synthetic_input

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def world(tmp_path: Path):
    """Keys made by the CLI, two packaged records in a SQLite store."""
    r = run("keys", "new", "--out", tmp_path / "keys")
    assert r.exit_code == 0, r.output
    signer = Signer.from_file(tmp_path / "keys" / "evidence.key")
    db = f"sqlite:///{tmp_path / 'records.db'}"
    paths = []
    with RecordStore(db) as store:
        for track, rule in ((1, "parking"), (2, "u_turn")):
            ev = event(track_id=track, rule=rule)
            info = write_package(synthetic_input(ev), config(tmp_path), signer)
            store.add(NewRecord.from_package(ev, info))
            paths.append(info.path)
    return tmp_path, db, paths


def test_keys_new_private_key_is_0600_and_never_overwritten(tmp_path: Path):
    r = run("keys", "new", "--out", tmp_path)
    assert r.exit_code == 0 and "key id:" in r.output
    assert (tmp_path / "evidence.key").stat().st_mode & 0o777 == 0o600
    again = run("keys", "new", "--out", tmp_path)
    assert again.exit_code == 2 and "refusing to overwrite" in again.output


def test_verify_path_ok_then_names_the_modified_file(world):
    tmp, _, paths = world
    pub = tmp / "keys" / "evidence.pub"
    ok = run("evidence", "verify", paths[0], "--key", pub)
    assert ok.exit_code == 0 and ok.output.startswith("OK ")
    (paths[0] / "closeup.jpg").write_bytes(b"x")
    bad = run("evidence", "verify", paths[0], "--key", pub)
    assert bad.exit_code == 1 and "MODIFIED" in bad.output and "closeup.jpg" in bad.output
    js = json.loads(run("evidence", "verify", paths[0], "--key", pub, "--json").output)
    assert js["ok"] is False and [(p["file"], p["kind"]) for p in js["problems"]] == [("closeup.jpg", "modified")]


def test_verify_by_record_id_and_event_key(world):
    tmp, db, paths = world
    pub = tmp / "keys" / "evidence.pub"
    assert run("evidence", "verify", "1", "--db", db, "--key", pub).exit_code == 0
    key = paths[1].name
    assert run("evidence", "verify", key, "--db", db, "--key", pub).exit_code == 0
    (paths[1] / "manifest.json").write_text("{}")
    r = run("evidence", "verify", key, "--db", db, "--key", pub)
    assert r.exit_code == 1 and "manifest.json" in r.output
    missing = run("evidence", "verify", "42", "--db", db, "--key", pub)
    assert missing.exit_code == 2 and "no record 42" in missing.output


def test_records_list_formats_and_filters(world):
    _, db, _ = world
    lines = run("records", "list", "--db", db, "--format", "jsonl").output.splitlines()
    assert [json.loads(x)["rule"] for x in lines] == ["u_turn", "parking"]  # same start: newest id first
    only = run("records", "list", "--db", db, "--format", "jsonl", "--rule", "u_turn").output.splitlines()
    assert [json.loads(x)["rule"] for x in only] == ["u_turn"]
    rows = list(csv.DictReader(io.StringIO(run("records", "list", "--db", db, "--format", "csv", "--plate", "浙A12345").output)))
    assert len(rows) == 2 and rows[0]["code"] in ("1039", "1044")
    none = run("records", "list", "--db", db, "--format", "csv", "--since", "2030-01-01T00:00+08:00").output
    assert none.strip().count("\n") == 0  # header only
    table = run("records", "list", "--db", db, "--status", "pending_review")
    assert table.exit_code == 0 and "2 record(s)" in table.output
    bad = run("records", "list", "--db", db, "--since", "yesterday")
    assert bad.exit_code == 2 and "--since" in bad.output


def test_records_show_and_missing_store(world, tmp_path: Path):
    _, db, _ = world
    data = json.loads(run("records", "show", "1", "--db", db, "--json").output)
    assert data["id"] == 1 and data["status"] == "pending_review" and data["decisions"] == []
    r = run("records", "list", "--db", f"sqlite:///{tmp_path / 'nope.db'}")
    assert r.exit_code == 2 and "no record store" in r.output


def test_records_export_marks_exported(world):
    tmp, db, _ = world
    with RecordStore(db) as store:
        store.set_status(1, "approved", "alice")
    r = run("records", "export", "--db", db, "--key", tmp / "keys" / "evidence.pub", "--out", tmp / "exports", "--zip", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["exported"] == [1] and res["path"].endswith(".zip") and Path(res["path"]).exists()
    listed = run("records", "list", "--db", db, "--status", "exported", "--format", "jsonl").output.splitlines()
    assert [json.loads(x)["id"] for x in listed] == [1]


def test_site_file_supplies_store_and_key(world):
    tmp, db, _ = world
    site = tmp / "site.yaml"
    site.write_text(
        f"""
id: site-001
name: 示例路口
cameras:
  - id: cam-01
    source: /dev/null
    frame_size: [1280, 720]
evidence:
  signing_key: {tmp / 'keys' / 'evidence.key'}
  output_dir: {tmp / 'evidence'}
store:
  url: {db}
""",
        encoding="utf-8",
    )
    r = run("evidence", "verify", "1", "--site", site)
    assert r.exit_code == 0, r.output
    assert len(run("records", "list", "--site", site, "--format", "jsonl").output.splitlines()) == 2
    site.write_text(site.read_text().replace("url:", "uri:"))
    bad = run("records", "list", "--site", site)
    assert bad.exit_code == 2 and "store.uri" in bad.output
