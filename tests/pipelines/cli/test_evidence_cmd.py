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


def test_keys_rotate_keeps_records_signed_before_verifiable(world, monkeypatch: pytest.MonkeyPatch):
    """Issue 15 item 14: `epolice keys rotate` makes a new signing key; verification looks the key up by
    the signature's key_id in the keyring, so packages signed before the rotation still verify."""
    from evidence.signing import generate_keypair, key_id, load_public_key

    tmp, db, paths = world
    monkeypatch.chdir(tmp)  # the evidence defaults: keys/evidence.key, keys/evidence.pub, keys/trusted/
    old_id = key_id(load_public_key(tmp / "keys" / "evidence.pub"))
    r = run("keys", "rotate", "--out", tmp / "keys")
    assert r.exit_code == 0, r.output
    signer = Signer.from_file(tmp / "keys" / "evidence.key")
    assert signer.key_id != old_id and old_id in r.output and signer.key_id in r.output
    assert not list((tmp / "keys").glob("trusted/*.key"))  # only public keys are trusted
    ev = event(track_id=3)
    info = write_package(synthetic_input(ev), config(tmp), signer)
    with RecordStore(db) as store:
        new_id = store.add(NewRecord.from_package(ev, info)).id
        store.set_status(1, "approved", "alice")
    for target in (paths[0], info.path, "1", str(new_id)):
        ok = run("evidence", "verify", target, "--db", db)
        assert ok.exit_code == 0 and ok.output.startswith("OK "), ok.output
    exported = run("records", "export", "--db", db, "--out", tmp / "exports", "--json")
    assert exported.exit_code == 0 and json.loads(exported.output)["exported"] == [1], exported.output
    generate_keypair(tmp / "stranger")
    foreign = write_package(synthetic_input(event(track_id=4)), config(tmp / "x"), Signer.from_file(tmp / "stranger" / "evidence.key"))
    bad = run("evidence", "verify", foreign.path)
    assert bad.exit_code == 1 and "WRONG_KEY" in bad.output


def test_records_ingest_inserts_records_from_verified_packages_only(world):
    """Issue 15 item 2: a package whose record never reached the store (the store failed) is inserted
    from its signed manifest; a package that does not verify is refused, named; a re-run adds nothing."""
    tmp, db, paths = world
    signer = Signer.from_file(tmp / "keys" / "evidence.key")
    orphans = [event(track_id=10 + i, rule="helmet", times_s=(0.0, 1.0, 2.0), facts={"riders": 2}) for i in range(2)]
    infos = [write_package(synthetic_input(ev), config(tmp), signer) for ev in orphans]
    tampered = write_package(synthetic_input(event(track_id=20)), config(tmp), signer)
    (tampered.path / "closeup.jpg").write_bytes(b"x")
    pub = tmp / "keys" / "evidence.pub"
    r = run("records", "ingest", tmp / "evidence", "--db", db, "--key", pub, "--json")
    assert r.exit_code == 1, r.output
    res = json.loads(r.output)
    assert len(res["added"]) == 2 and len(res["existing"]) == 2
    assert [x["path"] for x in res["refused"]] == [str(tampered.path)] and "closeup.jpg" in res["refused"][0]["reason"]
    with RecordStore(db) as store:
        for ev, info in zip(orphans, infos):
            rec = store.get(ev.event_key)
            assert rec is not None and rec.model_dump(include=set(NewRecord.model_fields)) == NewRecord.from_package(ev, info).model_dump()
        assert store.count() == 4
    again = run("records", "ingest", infos[0].path, "--db", db, "--key", pub)
    assert again.exit_code == 0 and "0 added" in again.output and "1 already stored" in again.output
