"""Evidence inside the bench's timed loop, so its cost is charged to the frames that caused it.

The live worker packages in a thread pool; the bench packages synchronously, each event as soon as
its clip's after-window has passed, and times it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from pipelines.config import CameraConfig, SiteConfig


class BenchEvidence:
    """Synchronous evidence for the bench loop: the live runner's package_input, written in-line."""

    def __init__(self, site: SiteConfig, camera: CameraConfig, pipe, root: Path) -> None:
        from evidence.signing import Signer, generate_keypair
        from pipelines.live.evidence import CameraEvidence, FrameIndex, capture_context

        priv, _ = generate_keypair(root / "keys")
        self.signer = Signer.from_file(priv)
        self.cfg = site.evidence.model_copy(update={"output_dir": root / "evidence", "signing_key": priv, "verify_key": None})
        self.cam = CameraEvidence(pipe, capture_context(site, camera), FrameIndex(self.cfg.clip_before_s + self.cfg.clip_after_s + 1.0))
        self.pending: list = []
        self.seconds = 0.0
        self.written = 0
        self.error: str | None = None

    def add(self, events, pts: float) -> None:
        from pipelines.live.evidence import PendingEvent

        for ev in events:
            self.pending.append(PendingEvent(ev, pts, pts + self.cfg.clip_after_s, math.inf))

    def due(self, pts: float | None) -> None:
        """Package every pending event whose clip is complete (all of them when ``pts`` is None)."""
        if not self.pending:
            return
        ready = [p for p in self.pending if pts is None or pts >= p.due_pts]
        if not ready:
            return
        self.pending = [p for p in self.pending if p not in ready]
        for p in ready:
            t0 = time.perf_counter()
            self.write(p)
            self.seconds += time.perf_counter() - t0

    def write(self, pending) -> None:
        from evidence.package import write_package
        from pipelines.live.evidence import package_input

        if self.error is not None:
            return
        try:
            write_package(package_input(self.cam, pending, self.cfg), self.cfg, self.signer)
            self.written += 1
        except Exception as exc:  # noqa: BLE001 - report why evidence could not be measured, keep benchmarking
            self.error = f"{type(exc).__name__}: {exc}"

    def probe(self, pipe) -> float | None:
        """Package one made-up event on three held frames (no event fired); ms, or None if impossible."""
        from evidence.event import Box, KeyFrame, ViolationEvent
        from pipelines.live.evidence import PendingEvent

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
        before = self.written
        t0 = time.perf_counter()
        self.write(PendingEvent(ev, picks[1].pts, picks[1].pts, math.inf))
        ms = 1000.0 * (time.perf_counter() - t0)
        ok = self.written > before
        self.written = before  # a probe is not one of the run's packages
        return ms if ok else None
