"""Evidence inside the bench's timed loop, so its cost is charged to the frames that caused it.

The same hand-off as live and batch (pipelines.handoff), with the writer in the caller's thread
(``threads=0``): each event is packaged as soon as its clip's after-window has passed, and timed.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from pipelines.config import CameraConfig, SiteConfig


class BenchEvidence:
    def __init__(self, site: SiteConfig, camera: CameraConfig, pipe, root: Path) -> None:  # noqa: ANN001 - CameraPipeline
        from evidence.signing import Signer, generate_keypair
        from pipelines.handoff.frames import CameraEvidence, FrameIndex, capture_context
        from pipelines.handoff.queue import EvidenceQueue
        from pipelines.handoff.writer import EvidenceWriter

        priv, _ = generate_keypair(root / "keys")
        self.cfg = site.evidence.model_copy(update={"output_dir": root / "evidence", "signing_key": priv, "verify_key": None})
        self.writer = EvidenceWriter(self.cfg, Signer.from_file(priv), lambda record: True, root / "failed", threads=0)
        self.queue = EvidenceQueue(self.cfg, self.writer)
        self.cam = CameraEvidence(pipe, capture_context(site, camera), FrameIndex(self.cfg.clip_before_s + self.cfg.clip_after_s + 1.0))
        self.seconds = 0.0

    @property
    def written(self) -> int:
        return self.writer.written

    @property
    def error(self) -> str | None:
        return self.writer.last_error

    def add(self, events, pts: float) -> None:  # noqa: ANN001 - ViolationEvents
        for ev in events:
            self.queue.add(self.cam, ev, pts)

    def due(self, pts: float | None) -> None:
        """Package every event whose clip is complete (all of them when ``pts`` is None), timed."""
        if not len(self.queue):
            return
        t0 = time.perf_counter()
        if self.queue.service(force=pts is None):
            self.seconds += time.perf_counter() - t0

    def probe(self, pipe) -> float | None:  # noqa: ANN001 - CameraPipeline
        """Package one made-up event on three held frames (no event fired); ms, or None if impossible."""
        from evidence.event import Box, KeyFrame, ViolationEvent
        from pipelines.handoff.frames import package_input

        seqs = self.cam.index.between(-math.inf, math.inf)
        frames = [f for f in (pipe.frame(s) for s in seqs) if f is not None and f.image.size]
        if len(frames) < 3:
            return None
        picks = [frames[0], frames[len(frames) // 2], frames[-1]]
        h, w = picks[0].image.shape[:2]
        tracks = pipe.last_tracks
        if len(tracks):
            x1, y1, x2, y2 = (float(v) for v in tracks.xyxy[0])
            x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
        else:
            x1, y1, x2, y2 = w * 0.375, h * 0.375, w * 0.625, h * 0.625
        if x2 - x1 < 2 or y2 - y1 < 2:
            x1, y1, x2, y2 = w * 0.375, h * 0.375, w * 0.625, h * 0.625
        box = Box(x1=x1, y1=y1, x2=x2, y2=y2)
        kfs = [KeyFrame(seq=f.seq, wall_time=f.wall_time, role=r, box=box) for f, r in zip(picks, ("approach", "turn", "exit"))]
        ev = ViolationEvent(
            site_id=pipe.site.id, camera_id=pipe.camera.id, rule="u_turn", track_id=-1, start_time=kfs[0].wall_time,
            end_time=kfs[-1].wall_time, vehicle_class="car", key_frames=kfs, facts={"bench_probe": True},
        )
        t0 = time.perf_counter()
        ok = self.writer.submit(package_input(self.cam, ev, picks[1].pts, self.cfg)).result()
        ms = 1000.0 * (time.perf_counter() - t0)
        self.writer.written -= int(ok)  # a probe is not one of the run's packages
        return ms if ok else None
