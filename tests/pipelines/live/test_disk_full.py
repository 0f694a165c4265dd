"""Fault test (issue 15, "Also"): a full disk under the evidence packages, the Redis spool and the
export. Nothing is silently lost: every failure is logged and counted, the inference loop is held
while the disk is full (back-pressure), and once there is room again every event ends as a package
with its record, or as a saved event.

The disk is a real 16 MiB tmpfs mounted on a test folder when the sandbox allows mounting, else
ENOSPC is injected into every write under that folder (tests/support/disk.py)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from evidence.event import ViolationEvent
from evidence.export import export_records
from evidence.package import write_package
from evidence.signing import load_public_key
from evidence.store import NewRecord, RecordStore
from pipelines.handoff.writer import EvidenceWriter
from pipelines.live.bus import DeliveryError, EventBus, LiveMessage
from pipelines.live.metrics import LiveMetrics, failure_readings
from pipelines.live.spool import DiskSpool
from tests.support.disk import SmallDisk, small_disk  # noqa: F401  (fixture)
from tests.support.evidence import config, event, keys, synthetic_input  # noqa: F401  (fixture)
from tests.support.live import wait_for
from tests.support.review import SMALL_BOX


class RedisDown:
    def xadd(self, *args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")


def _metric(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def _spooled_keys(spool: DiskSpool) -> set[str]:
    out = set()
    for path in spool.pending():
        item = LiveMessage.model_validate_json(__import__("json").loads(path.read_text())["data"])
        out.add(item.key)
    return out


def test_a_full_disk_loses_nothing_silently_synthetic(small_disk: SmallDisk, tmp_path: Path, keys,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    signer, _ = keys
    cfg = _cfg(tmp_path).model_copy(update={"output_dir": small_disk.path / "evidence"})
    spool = DiskSpool(small_disk.path / "spool")
    bus = EventBus(RedisDown(), "site-001", spool)  # Redis is down too: records go to the spool on the small disk
    writer = EvidenceWriter(cfg, signer, bus.publish_record, small_disk.path / "failed", threads=1, disk_retry_s=0.1,
                            room_bytes=64 << 10)
    metrics = LiveMetrics(lambda: [], lambda: failure_readings(writer, bus))
    events = [event(track_id=i, box=SMALL_BOX) for i in range(6)]
    inputs = [synthetic_input(ev, size=(320, 180)) for ev in events]

    caplog.set_level(logging.WARNING)
    for inp in inputs[:2]:  # room: packaged, record spooled
        assert writer.submit(inp).result(timeout=60) is True
    small_disk.fill()
    assert writer.submit(inputs[2]).result(timeout=60) is False  # no room for the package, nor the saved event
    assert writer.disk_full and writer.unsaved == 1
    with pytest.raises(DeliveryError):  # a record that can reach neither Redis nor the spool is not dropped silently
        bus.publish_record(NewRecord.model_validate(_any_record(tmp_path, signer)))
    text = metrics.render().decode()
    assert _metric(text, "epolice_disk_full") == 1.0 and _metric(text, "epolice_evidence_unsaved") == 1.0
    assert _metric(text, "epolice_spool_failures_total") == 1.0 and _metric(text, "epolice_evidence_unsaved_total") == 1.0
    assert events[2].event_key in caplog.text and "No space left on device" in caplog.text

    rest = threading.Thread(target=lambda: [writer.submit(inp) for inp in inputs[3:]], daemon=True)
    rest.start()
    rest.join(1.0)
    assert rest.is_alive() and writer.disk_waits >= 1  # back-pressure: the loop is held, not fed into a full disk
    small_disk.free()
    rest.join(60)
    assert not rest.is_alive()
    wait_for(lambda: writer.in_flight == 0, 60, "the held-back packages")
    assert not writer.disk_full and writer.unsaved == 0
    saved = {ViolationEvent.model_validate_json(p.read_bytes()).event_key for p in (small_disk.path / "failed").glob("*.json")}
    spooled = _spooled_keys(spool)
    assert saved == {events[2].event_key}  # the one that met the full disk, saved once there was room
    assert spooled == {ev.event_key for ev in events} - saved  # every other one packaged, its record spooled
    text = metrics.render().decode()
    assert _metric(text, "epolice_disk_full") == 0.0 and _metric(text, "epolice_evidence_disk_waits_total") >= 1.0


def _cfg(tmp_path: Path):
    return config(tmp_path, min_panorama_width=320, min_panorama_height=180)


def _any_record(tmp_path: Path, signer) -> dict:
    ev = event(track_id=99, box=SMALL_BOX)
    info = write_package(synthetic_input(ev, size=(320, 180)), _cfg(tmp_path / "other"), signer)
    return NewRecord.from_package(ev, info).model_dump()


def test_an_export_into_a_full_disk_fails_cleanly_and_marks_nothing_synthetic(small_disk: SmallDisk, tmp_path: Path, keys) -> None:
    signer, pub = keys
    store = RecordStore(f"sqlite:///{tmp_path / 'records.db'}")
    ids = []
    for i in range(2):
        ev = event(track_id=i, box=SMALL_BOX)
        info = write_package(synthetic_input(ev, size=(320, 180)), _cfg(tmp_path), signer)
        ids.append(store.add(NewRecord.from_package(ev, info)).id)
        store.set_status(ids[-1], "approved", "rita")
    out = small_disk.path / "exports"
    out.mkdir()
    small_disk.fill()
    with pytest.raises(OSError, match="No space left"):
        export_records(store, load_public_key(pub), out)
    assert {store.get(i).status for i in ids} == {"approved"}  # nothing marked exported
    assert [p.name for p in out.iterdir()] == []  # no half export left behind
    small_disk.free()
    res = export_records(store, load_public_key(pub), out)
    assert sorted(res.exported) == ids and res.path is not None and res.path.is_dir()
