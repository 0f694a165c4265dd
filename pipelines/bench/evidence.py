"""Evidence inside the bench's timed loop, so its cost is charged to the frames that caused it.

The same hand-off as live and batch (pipelines.handoff), with the writer in the caller's thread
(``threads=0``): each event is packaged as soon as its clip's after-window has passed: stills
decoded from the clip file at the key frames' times, the clip stream-copied from it, JPEGs, the
composite, the signed manifest. Its CPU is this thread's plus the FFmpeg processes it waited for
(the clip copy), so the decoders running beside it are not charged to it.
"""

from __future__ import annotations

import math
import resource
import time
from datetime import datetime, timezone
from pathlib import Path

from pipelines.config import CameraConfig, SiteConfig


def packaging_cpu() -> float:
    """CPU seconds of the calling thread plus the child processes waited for so far."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.thread_time() + kids.ru_utime + kids.ru_stime


class BenchEvidence:
    def __init__(self, site: SiteConfig, camera: CameraConfig, pipe, footage, root: Path) -> None:  # noqa: ANN001 - CameraPipeline, Footage
        from evidence.signing import Signer, generate_keypair
        from pipelines.handoff.frames import CameraEvidence
        from pipelines.handoff.queue import EvidenceQueue
        from pipelines.handoff.writer import EvidenceWriter

        priv, _ = generate_keypair(root / "keys")
        self.cfg = site.evidence.model_copy(update={"output_dir": root / "evidence", "signing_key": priv, "verify_key": None})
        self.writer = EvidenceWriter(self.cfg, Signer.from_file(priv), lambda record: True, root / "failed", threads=0)
        self.queue = EvidenceQueue(self.cfg, self.writer)
        self.cam = CameraEvidence.of(pipe, site, footage)
        self.seconds = 0.0
        self.cpu_s = 0.0

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
        t0, c0 = time.perf_counter(), packaging_cpu()
        if self.queue.service(force=pts is None):
            self.seconds += time.perf_counter() - t0
            self.cpu_s += packaging_cpu() - c0

    def probe(self, pipe) -> tuple[float, float] | None:  # noqa: ANN001 - CameraPipeline
        """Package one made-up event on three indexed frames (no event fired); (wall ms, CPU ms), or None."""
        from evidence.event import Box, KeyFrame, ViolationEvent
        from pipelines.handoff.frames import package_request

        index = self.cam.index
        seqs = index.between(-math.inf, math.inf)
        if len(seqs) < 3:
            return None
        picks = [seqs[0], seqs[len(seqs) // 2], seqs[-1]]
        w, h = pipe.camera.frame_size
        tracks = pipe.last_tracks
        x1, y1, x2, y2 = w * 0.375, h * 0.375, w * 0.625, h * 0.625
        if len(tracks):
            bx = [float(v) for v in tracks.xyxy[0]]
            if min(bx[2], w) - max(bx[0], 0) >= 2 and min(bx[3], h) - max(bx[1], 0) >= 2:
                x1, y1, x2, y2 = max(0.0, bx[0]), max(0.0, bx[1]), min(float(w), bx[2]), min(float(h), bx[3])
        box = Box(x1=x1, y1=y1, x2=x2, y2=y2)
        walls = [datetime.fromtimestamp(index.at(s)[1], timezone.utc) for s in picks]
        kfs = [KeyFrame(seq=s, wall_time=t, role=r, box=box) for s, t, r in zip(picks, walls, ("approach", "turn", "exit"))]
        ev = ViolationEvent(
            site_id=pipe.site.id, camera_id=pipe.camera.id, rule="u_turn", track_id=-1, start_time=kfs[0].wall_time,
            end_time=kfs[-1].wall_time, vehicle_class="car", key_frames=kfs, facts={"bench_probe": True},
        )
        mid = index.pts_of(picks[1])
        t0, c0 = time.perf_counter(), packaging_cpu()
        ok = self.writer.submit(package_request(self.cam, ev, mid, self.cfg)).result()
        wall, cpu = 1000.0 * (time.perf_counter() - t0), 1000.0 * (packaging_cpu() - c0)
        self.writer.written -= int(ok)  # a probe is not one of the run's packages
        return (wall, cpu) if ok else None
