"""From event to package to record to export, on both store backends (synthetic frames)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from evidence.export import export_records, verify_record
from evidence.package import write_package
from evidence.signing import load_public_key
from evidence.store import NewRecord, RecordQuery, RecordStore
from tests.support.evidence import config, event, keys, synthetic_input  # noqa: F401
from tests.support.postgres import postgres_server, postgres_url, store_url  # noqa: F401

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def _packaged(tmp_path: Path, signer, store: RecordStore, track_id: int, site_id: str = "site-001") -> int:
    ev = event(track_id=track_id, site_id=site_id)
    info = write_package(synthetic_input(ev), config(tmp_path), signer)
    return store.add(NewRecord.from_package(ev, info)).id


def test_same_event_twice_gives_one_package_and_one_record(tmp_path: Path, keys, store_url: str):
    signer, pub = keys
    ev = event()
    with RecordStore(store_url) as store:
        ids = []
        for _ in range(2):  # a re-run of the same footage
            info = write_package(synthetic_input(ev), config(tmp_path), signer)
            ids.append(store.add(NewRecord.from_package(ev, info)))
        assert ids[0].created and not ids[1].created and ids[0].id == ids[1].id
        assert store.count() == 1
        rec = store.get(ids[0].id)
        assert verify_record(rec, load_public_key(pub)).ok
        assert rec.code == "1039" and rec.facts["plate_reads"] == 5 and rec.model_versions == {"detector": "yolov5n_coco@0123456789ab"}


def test_record_verification_notices_a_swapped_package(tmp_path: Path, keys, store_url: str):
    """A package replaced by another validly signed one is caught by the hash kept in the record."""
    signer, pub = keys
    with RecordStore(store_url) as store:
        rid = _packaged(tmp_path / "a", signer, store, 1)
        rec = store.get(rid)
        other = write_package(synthetic_input(event(track_id=2)), config(tmp_path / "b"), signer)
        for f in Path(rec.evidence_path).iterdir():
            f.unlink()
        for f in other.path.iterdir():
            (Path(rec.evidence_path) / f.name).write_bytes(f.read_bytes())
        res = verify_record(rec, load_public_key(pub))
        assert not res.ok and [(p.file, p.kind) for p in res.problems] == [("manifest.json", "record_mismatch")]


@pytest.mark.parametrize("as_zip", [False, True])
def test_export_ships_approved_verifying_records_and_marks_them(tmp_path: Path, keys, store_url: str, as_zip: bool):
    signer, pub = keys
    public = load_public_key(pub)
    with RecordStore(store_url) as store:
        good = _packaged(tmp_path, signer, store, 1)
        tampered = _packaged(tmp_path, signer, store, 2)
        pending = _packaged(tmp_path, signer, store, 3)
        other_site = _packaged(tmp_path, signer, store, 4, site_id="site-002")
        for rid in (good, tampered, other_site):
            store.set_status(rid, "approved", "alice")
        (Path(store.get(tampered).evidence_path) / "composite.jpg").write_bytes(b"edited")

        res = export_records(store, public, tmp_path / "out", RecordQuery(site_id="site-001"), actor="exporter", as_zip=as_zip, now=NOW)

        assert res.exported == [good]
        assert [s.id for s in res.skipped] == [tampered] and "composite.jpg: modified" in res.skipped[0].reason
        assert res.batch == "epolice-export-20240601-120000"
        assert store.get(good).status == "exported" and store.get(good).export_batch == res.batch
        assert store.get(tampered).status == "approved"  # stays for a human to look at
        assert store.get(pending).status == "pending_review" and store.get(other_site).status == "approved"
        assert [d.action for d in store.decisions(good)] == ["approve", "export"]
        key = store.get(good).event_key

    if as_zip:
        assert res.path == tmp_path / "out" / f"{res.batch}.zip"
        with zipfile.ZipFile(res.path) as zf:
            names = set(zf.namelist())
            rows = list(csv.DictReader(io.StringIO(zf.read(f"{res.batch}/records.csv").decode())))
            zf.extractall(tmp_path / "unzipped")
        assert f"{res.batch}/evidence/site-001/{key}/manifest.json" in names
        pkg = tmp_path / "unzipped" / res.batch / "evidence" / "site-001" / key
    else:
        assert res.path == tmp_path / "out" / res.batch and res.path.is_dir()
        rows = list(csv.DictReader(io.StringIO((res.path / "records.csv").read_text())))
        lines = [json.loads(x) for x in (res.path / "records.jsonl").read_text().splitlines()]
        assert [x["event_key"] for x in lines] == [key]
        pkg = res.path / "evidence" / "site-001" / key
    assert [r["event_key"] for r in rows] == [key] and rows[0]["plate"] == "浙A12345"
    from evidence.manifest import verify_package

    assert verify_package(pkg, public).ok  # the exported copy still verifies
    assert not list((tmp_path / "out").glob(".tmp-*"))


def test_export_with_nothing_approved_writes_nothing(tmp_path: Path, keys, store_url: str):
    signer, pub = keys
    with RecordStore(store_url) as store:
        _packaged(tmp_path, signer, store, 1)
        res = export_records(store, load_public_key(pub), tmp_path / "out", now=NOW)
    assert res.path is None and res.exported == [] and not any((tmp_path / "out").iterdir())


def test_a_forged_record_carrying_another_records_package_fails_and_is_not_exported(tmp_path: Path, keys, store_url: str):
    """Issue 15 item 1: a copy of record A under another event key, camera and plate, pointing at A's
    genuine package, must not verify (every field the manifest signs is compared) nor be exported."""
    signer, pub = keys
    public = load_public_key(pub)
    with RecordStore(store_url) as store:
        real_id = _packaged(tmp_path, signer, store, 1)
        real = store.get(real_id)
        forged_fields = real.model_dump(include=set(NewRecord.model_fields))
        forged_fields.update(event_key="f" * 32, camera_id="cam-99", plate_text="京X00000")
        forged_id = store.add(NewRecord.model_validate(forged_fields)).id
        forged = store.get(forged_id)
        assert verify_record(real, public).ok
        res = verify_record(forged, public)
        assert not res.ok
        mismatch = " ".join(p.detail for p in res.problems if p.kind == "record_mismatch")
        assert "event_key" in mismatch and "camera_id" in mismatch and "plate_text" in mismatch
        for rid in (real_id, forged_id):
            store.set_status(rid, "approved", "alice")
        out = export_records(store, public, tmp_path / "out", now=NOW)
        assert out.exported == [real_id] and [s.id for s in out.skipped] == [forged_id]
        assert store.get(forged_id).status == "approved"
