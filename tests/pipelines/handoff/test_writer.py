"""Evidence off the hot path: packages written by the pool; on shutdown, unfinished events are persisted."""

from __future__ import annotations

import json
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
