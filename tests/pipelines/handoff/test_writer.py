"""Evidence off the hot path: packages written by the pool; on shutdown, unfinished events are persisted."""

from __future__ import annotations

import errno
import json
import logging
from pathlib import Path

import pytest

from evidence.event import ViolationEvent
from evidence.store import RecordStore
from pipelines.handoff.frames import FrameIndex
from pipelines.handoff.writer import EvidenceWriter
from tests.support.evidence import config, event, keys, synthetic_input  # noqa: F401  (fixture)
from tests.support.live import wait_for


def test_shutdown_persists_events_whose_evidence_did_not_finish_synthetic(tmp_path: Path, keys) -> None:
    signer, _ = keys
    store = RecordStore(f"sqlite:///{tmp_path / 'r.db'}")
    done: list[tuple[str, bool, bool]] = []
    writer = EvidenceWriter(
        config(tmp_path), signer, lambda rec: store.add(rec).created, tmp_path / "failed", threads=1,
        on_done=lambda cam, ok, delivered: done.append((cam, ok, delivered)),
    )
    events = [event(track_id=i) for i in range(4)]
    for ev in events:
        writer.submit(synthetic_input(ev, clip_frames=24))
    left = writer.shutdown(timeout=0.0)  # SIGTERM right now: one package is being written, three wait
    assert left >= 1
    saved = {ViolationEvent.model_validate_json(p.read_bytes()).event_key for p in (tmp_path / "failed").glob("*.json")}
    assert len(saved) == left
    wait_for(lambda: writer.in_flight == 0, 60, "the running package to finish")
    stored = {r.event_key for r in store.query()}
    # every event is either a stored record or a saved event file: none lost
    assert stored | saved == {ev.event_key for ev in events}
    assert all(ok for _, ok, _ in done) and len(done) == len(stored)


def test_failed_package_is_saved_not_lost_synthetic(tmp_path: Path, keys) -> None:
    signer, _ = keys
    writer = EvidenceWriter(config(tmp_path), signer, lambda rec: True, tmp_path / "failed", threads=1)
    too_short = event(times_s=(0.0, 3.0, 6.0), facts={"dwell_s": 6.0, "min_dwell_s": 20.0})  # parking span < 10 s
    assert writer.submit(synthetic_input(too_short)).result(timeout=60) is False
    [saved] = (tmp_path / "failed").glob("*.json")
    assert json.loads(saved.read_text())["track_id"] == too_short.track_id and writer.failed == 1


def test_frame_index_windows_by_stream_time_synthetic() -> None:
    idx = FrameIndex(seconds=2.0)
    for seq in range(0, 50, 2):  # a camera with drops: only even seqs reached the ring
        idx.add(seq, seq * 0.1)
    assert idx.last_pts == pytest.approx(4.8)
    assert idx.between(4.0, 4.5) == [40, 42, 44]
    assert idx.between(0.0, 2.7) == []  # older than the 2 s window: forgotten


def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_an_event_that_can_be_neither_packaged_nor_saved_is_logged_counted_and_held_synthetic(
    tmp_path: Path, keys, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15 item 2: when packaging failed and saving the event failed too (disk full), the
    exception died in a Future nobody read: no log, no metric, no file. Now the error is logged
    first (with the event), counted, the event held in memory and saved once there is room; while
    the disk is full, submit() holds the caller (back-pressure)."""
    import threading

    from pipelines.handoff import writer as writer_mod

    signer, _ = keys
    writer = EvidenceWriter(config(tmp_path), signer, lambda rec: True, tmp_path / "failed", threads=1, disk_retry_s=0.05)
    too_short = event(times_s=(0.0, 3.0, 6.0), facts={"dwell_s": 6.0, "min_dwell_s": 20.0})  # the package fails
    monkeypatch.setattr(writer_mod, "replace_durable", _enospc)  # ... and so does saving the event
    with caplog.at_level(logging.ERROR):
        assert writer.submit(synthetic_input(too_short)).result(timeout=60) is False
    assert writer.failed == 1 and writer.unsaved == 1 and writer.disk_full
    assert too_short.event_key in caplog.text and "could not be saved" in caplog.text
    blocked = threading.Thread(target=lambda: writer.submit(synthetic_input(event(track_id=2))), daemon=True)
    blocked.start()
    blocked.join(0.5)
    assert blocked.is_alive() and writer.disk_waits == 1  # held while the disk is full
    monkeypatch.undo()  # room again
    blocked.join(30)
    assert not blocked.is_alive() and not writer.disk_full and writer.unsaved == 0
    [saved] = (tmp_path / "failed").glob("*.json")
    assert ViolationEvent.model_validate_json(saved.read_bytes()).event_key == too_short.event_key
    assert writer.join(60) and writer.written == 1


def test_a_record_the_store_refuses_names_its_package_for_records_ingest_synthetic(
    tmp_path: Path, keys, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15 item 2: without Redis, a store error left a package on disk without a record, silently."""
    signer, _ = keys

    def busy_store(rec):
        raise RuntimeError("database is locked")

    writer = EvidenceWriter(config(tmp_path), signer, busy_store, tmp_path / "failed", threads=0)
    with caplog.at_level(logging.ERROR):
        assert writer.submit(synthetic_input(event())).result() is False
    assert writer.record_failures == 1 and writer.failed == 1
    [package] = (tmp_path / "evidence").glob("*/*/*")
    assert f"epolice records ingest {package}" in caplog.text
