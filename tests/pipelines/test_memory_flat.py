"""Memory stays flat over a long run of the live frame path (synthetic footage, scripted detector).

Ten minutes of synthetic 1280x720 video go through the production pieces as a live camera uses
them: one FFmpeg run hands over the detection schedule's frames at a small analysis size and copies
the stream into rolling segments; the engine tracks a car making a U-turn every 40 s; each event is
packaged from the recorded segments. Resident memory (FFmpeg children included), the recording on
disk, the frame index and the engine's tracks all stay bounded; the holds of packaged events are
released."""

from __future__ import annotations

import statistics
import subprocess
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from evidence.store import RecordStore
from pipelines.bench.figures import tree_rss_mb
from pipelines.config import parse_site
from pipelines.engine import CameraPipeline
from pipelines.handoff.frames import CameraEvidence
from pipelines.handoff.queue import EvidenceQueue
from pipelines.handoff.writer import EvidenceWriter
from tests.support import scenario as sc
from tests.support.evidence import config, keys  # noqa: F401 (fixture)
from tests.support.media import media_dir  # noqa: F401 (fixture)
from vision.detections import Detections
from vision.frame import Frame
from vision.sources.ffmpeg.rawvideo import open_rawvideo_pipe
from vision.sources.footage import RecordedFootage
from vision.sources.recording import Recording

MINUTES = 10
PERIOD_S = 40.0  # a U-turn starts every 40 s of video
FRAME, ANALYSIS = (1280, 720), (640, 360)


class Periodic:
    """The scripted U-turn again and again, in frame_size pixels scaled to the analysis frame."""

    def __init__(self) -> None:
        self.route = sc.u_turn_path()
        self.now = 0.0

    def detect(self, images):
        t = self.now % PERIOD_S
        box = sc.Vehicle(self.route).box_at(t) if t <= self.route.duration else None
        out = []
        for _ in images:
            if box is None:
                out.append(Detections.empty())
            else:
                b = np.array([box], np.float32) * (ANALYSIS[0] / 640)  # the scenario's pixels are 640 wide
                b[:, [0, 2]] = b[:, [0, 2]].clip(0, ANALYSIS[0])  # a detector's boxes stay inside the frame
                b[:, [1, 3]] = b[:, [1, 3]].clip(0, ANALYSIS[1])
                out.append(Detections.from_names(b, [0.9], ["car"]))
        return out


@pytest.mark.slow
def test_memory_stays_flat_over_ten_minutes_of_live_frames_synthetic(media_dir: Path, tmp_path: Path, keys) -> None:
    video = media_dir / "synthetic_10min_720p.mp4"
    if not video.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={FRAME[0]}x{FRAME[1]}:rate=25", "-t", str(60 * MINUTES),
             "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-bf", "0", "-pix_fmt", "yuv420p", str(video)],
            check=True,
        )
    signer, _ = keys
    zones = [{"id": "junction", "kind": "no_u_turn", "polygon": [[600, 300], [1280, 300], [1280, 720], [600, 720]]}]
    site = parse_site({
        "id": "site-x", "cameras": [{"id": "cam-a", "source": "rtsp://cam/main", "frame_size": list(FRAME), "analysis": list(ANALYSIS),
                                     "zones": zones, "rules": ["u_turn"], "detect_fps": 5}],
        "engine": {"footage_margin_s": 10},
    })
    recording = Recording(tmp_path / "rec", keep_s=site.footage_keep_s(site.cameras[0]))
    detector = Periodic()
    pipe = CameraPipeline(site.cameras[0], site, detector, source_selects=True)
    cam = CameraEvidence.of(pipe, site, RecordedFootage(recording, fps_hint=25))
    store = RecordStore(f"sqlite:///{tmp_path / 'r.db'}")
    cfg = config(tmp_path, clip_before_s=2.0, clip_after_s=2.0)
    writer = EvidenceWriter(cfg, signer, lambda r: store.add(r).created, tmp_path / "failed", threads=0)
    queue = EvidenceQueue(cfg, writer)

    rss: list[float] = []
    files: list[int] = []
    run = recording.next_run()
    n = 0
    with open_rawvideo_pipe(video, width=ANALYSIS[0], height=ANALYSIS[1], detect_fps=5, hwaccel="none", record=run) as raw_frames:
        for raw in raw_frames:
            if n == 0:
                recording.anchor(run, 0.0, lambda: list(raw_frames.keyframes))
            recording.refresh(force=True)  # as the RTSP source does on its reader thread; forced, since this runs faster than real time and the 0.25 s throttle would lag by seconds of video
            frame = Frame("cam-a", n, raw.pts, sc.T0 + timedelta(seconds=raw.pts), raw.image)
            n += 1
            detector.now = frame.pts
            events = pipe.process(frame)
            cam.observe(frame)
            for ev in events:
                queue.add(cam, ev, frame.pts)
            queue.service()
            if n % (5 * 30) == 0:  # every 30 s of video
                rss.append(tree_rss_mb())
                files.append(len(list((tmp_path / "rec").glob("*.ts"))))
    queue.drain(timeout=120)

    assert n == pytest.approx(5 * 60 * MINUTES, abs=2)  # only the detection schedule's frames came out
    assert writer.failed == 0, writer.last_error
    assert writer.written >= 60 * MINUTES / PERIOD_S - 1  # a U-turn package every 40 s, from the recorded segments
    print("RSS every 30 s of video, MB:", [round(r) for r in rss])
    warm = rss[4:-1]  # after two minutes, before FFmpeg ends with the video
    third = len(warm) // 3
    early, late = statistics.median(warm[:third]), statistics.median(warm[-third:])
    assert late - early < 25, [round(r) for r in rss]  # flat: no growth with time (a leak per package would add up)
    assert max(warm) < early + 80, [round(r) for r in rss]  # packaging's passing peaks stay bounded
    assert max(files) <= site.footage_keep_s(site.cameras[0]) / 2 + 6  # 2 s segments over the kept window, a few held
    assert len(cam.index) <= 5 * site.footage_keep_s(site.cameras[0]) + 2
    assert len(pipe.tracker.tracks) <= 2 and len(pipe._extras) <= 2
    assert not recording._holds  # every packaged event let go of its footage
