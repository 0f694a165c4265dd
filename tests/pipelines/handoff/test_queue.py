"""The evidence hand-off shared by live, batch and bench: due on the camera clock, bounded, nothing lost."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from evidence.store import RecordStore
from pipelines.config import parse_site
from pipelines.engine import CameraPipeline
from pipelines.handoff.frames import CameraEvidence
from pipelines.handoff.queue import EvidenceQueue
from pipelines.handoff.writer import EvidenceWriter
from tests.support.evidence import T0, config, event, keys, synthetic_frame, synthetic_input  # noqa: F401  (fixture)
from vision.frame import Frame

FPS = 10.0
SIZE = (1280, 720)


def camera() -> CameraEvidence:
    site = parse_site({"id": "site-001", "cameras": [{"id": "cam-01", "source": "synthetic", "frame_size": list(SIZE)}],
                       "rules": {"parking": {"enabled": False}}})
    return CameraEvidence.of(CameraPipeline(site.cameras[0], site), site)


def feed(cam: CameraEvidence, until_s: float, start_s: float = 0.0) -> None:
    """Frames at 10 fps on the camera clock, as a runner feeds the engine and then the camera's evidence side."""
    box = event().key_frames[0].box
    for seq in range(int(round(start_s * FPS)), int(round(until_s * FPS)) + 1):
        pts = seq / FPS
        frame = Frame("cam-01", seq, pts, T0 + timedelta(seconds=pts), synthetic_frame(SIZE, box, seq))
        cam.pipeline.on_frame(frame)
        cam.observe(frame)


def helmet_event(track_id: int = 7):
    return event(rule="helmet", times_s=(0.0, 0.5, 1.0), fps=FPS, track_id=track_id, facts={"riders": 1})


def writer_for(tmp_path: Path, signer, store: RecordStore, **kw) -> EvidenceWriter:
    return EvidenceWriter(config(tmp_path, clip_before_s=1.0, clip_after_s=2.0), signer, lambda r: store.add(r).created,
                          tmp_path / "failed", **kw)


def test_events_wait_for_their_clip_on_the_camera_clock_synthetic(tmp_path: Path, keys) -> None:
    signer, _ = keys
    store = RecordStore(f"sqlite:///{tmp_path / 'r.db'}")
    writer = writer_for(tmp_path, signer, store, threads=0)
    queue = EvidenceQueue(writer.cfg, writer)
    cam = camera()
    feed(cam, 1.0)
    queue.add(cam, helmet_event(), fire_pts=1.0)
    feed(cam, 2.9, start_s=1.1)
    assert queue.service() == 0 and len(queue) == 1  # the clip's after-window (2 s) is not over
    feed(cam, 3.0, start_s=3.0)
    assert queue.service() == 1 and len(queue) == 0
    [rec] = store.query()
    assert writer.written == 1 and rec.rule == "helmet"
    assert "clip.mp4" in {f.name for f in rec.evidence_files}


def test_a_dark_camera_releases_its_events_after_the_grace_synthetic(tmp_path: Path, keys) -> None:
    signer, _ = keys
    store = RecordStore(f"sqlite:///{tmp_path / 'r.db'}")
    writer = writer_for(tmp_path, signer, store, threads=0)
    cam = camera()
    feed(cam, 1.0)
    live = EvidenceQueue(writer.cfg.model_copy(update={"clip_after_s": 0.1}), writer, grace_s=0.1)
    live.add(cam, helmet_event(), fire_pts=1.0)
    assert live.service() == 0  # no new frame, and not yet 0.2 s of wall time
    time.sleep(0.3)
    assert live.service() == 1 and writer.written == 1


def test_too_many_waiting_events_are_packaged_early_and_counted_synthetic(tmp_path: Path, keys) -> None:
    signer, _ = keys
    store = RecordStore(f"sqlite:///{tmp_path / 'r.db'}")
    writer = writer_for(tmp_path, signer, store, threads=0)
    queue = EvidenceQueue(writer.cfg, writer, max_waiting=2)
    cam = camera()
    feed(cam, 1.0)
    for track in (1, 2, 3):
        queue.add(cam, helmet_event(track), fire_pts=1.0)
    assert (len(queue), queue.forced_early, queue.submitted) == (2, 1, 1)
    assert queue.drain(timeout=60) and writer.written == 3 and len(store.query()) == 3


def test_writer_applies_back_pressure_instead_of_growing_synthetic(tmp_path: Path, keys) -> None:
    signer, _ = keys
    gate = threading.Event()
    writer = EvidenceWriter(config(tmp_path), signer, lambda r: gate.wait(60), tmp_path / "failed", threads=1, max_in_flight=1)
    writer.submit(synthetic_input(helmet_event(1)))
    second = threading.Thread(target=lambda: writer.submit(synthetic_input(helmet_event(2))))
    second.start()
    second.join(0.5)
    assert second.is_alive() and writer.in_flight == 1  # the second package waits for room
    gate.set()
    second.join(30)
    assert not second.is_alive() and writer.waits == 1
    assert writer.join(60) and writer.written == 2


def test_concurrent_failures_are_all_counted_and_saved_synthetic(tmp_path: Path, keys) -> None:
    signer, _ = keys
    writer = EvidenceWriter(config(tmp_path), signer, lambda r: True, tmp_path / "failed", threads=4, max_in_flight=64)
    short = [event(times_s=(0.0, 3.0, 6.0), track_id=i, facts={"dwell_s": 6.0, "min_dwell_s": 20.0}) for i in range(24)]
    for ev in short:  # parking evidence spanning 6 s: refused, saved as JSON
        writer.submit(synthetic_input(ev, size=(320, 180)))
    assert writer.join(120)
    assert writer.failed == 24 and writer.written == 0
    assert len(list((tmp_path / "failed").glob("*.json"))) == 24


@pytest.mark.parametrize("threads", [0, 2])
def test_drain_packages_everything_with_the_frames_it_has_synthetic(tmp_path: Path, keys, threads: int) -> None:
    signer, _ = keys
    store = RecordStore(f"sqlite:///{tmp_path / 'r.db'}")
    writer = writer_for(tmp_path, signer, store, threads=threads)
    queue = EvidenceQueue(writer.cfg, writer)
    cam = camera()
    feed(cam, 1.2)
    queue.add(cam, helmet_event(), fire_pts=1.0)  # the file ends before the clip's after-window
    assert queue.drain(timeout=60)
    assert len(queue) == 0 and [r.rule for r in store.query()] == ["helmet"]
