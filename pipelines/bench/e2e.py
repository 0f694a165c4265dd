"""The end-to-end run in a fresh worker process: N cameras on the clip, as a live worker runs them.

Each camera is the production path (``pipelines.camera_feed.file_feed``: FFmpeg hands over the
detection schedule's frames at the analysis size; evidence from the clip file) through its own
``CameraPipeline`` and hand-off; the cameras share one set of models and take turns frame by frame.
Peak memory is that of the process and every FFmpeg child, sampled. Then the detector alone, in
the same process and sessions, on a sample of the same analysis frames.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.bench.evidence import BenchEvidence
from pipelines.bench.figures import BenchError, RssSampler, cpu_seconds, peak_rss_mb
from pipelines.bench.measure import measure_detector_only
from pipelines.config import SiteConfig


@dataclass(frozen=True)
class E2EJob:
    video: Path
    site: SiteConfig
    camera_id: str
    end_s: float | None  # segment end that yields exactly the benchmarked frames
    video_s: float  # seconds of video per camera
    threads: int | None
    plates: bool
    evidence: bool
    models_dir: Path | None
    cameras: int = 1
    detector_only: bool = True


@dataclass
class E2ERun:
    """What one end-to-end worker measured (all cameras together)."""

    cameras: int
    frames: int  # analysis frames handed over, all cameras
    video_s: float  # seconds of video processed, all cameras
    wall_s: float
    cpu_s: float  # process and its FFmpeg children
    source_wait_s: float  # loop blocked on the next frame
    stats: dict  # engine StageStats summed over cameras
    evidence_s: float  # packaging wall time of the run's events (inside the loop)
    evidence_cpu_s: float
    events: int
    packages: int
    probe: tuple[float, float] | None  # (wall ms, CPU ms) of a probe package when no event fired
    evidence_note: str
    peak_rss_mb: float  # this process (ru_maxrss)
    peak_tree_rss_mb: float  # this process and its FFmpeg children, sampled
    model_load_s: float
    detector_only_calls: int = 0
    detector_only_s: float = 0.0
    detector_only_cpu_s: float = 0.0
    providers: list[str] = field(default_factory=list)

    @property
    def cpu_per_video_s(self) -> float:
        return self.cpu_s / self.video_s if self.video_s > 0 else float("inf")

    @property
    def realtime_x(self) -> float:
        return self.video_s / self.wall_s if self.wall_s > 0 else float("inf")


class _Camera:
    def __init__(self, job: E2EJob, index: int, detector, helmet, plates, root: Path) -> None:  # noqa: ANN001 - models
        from pipelines.camera_feed import file_feed
        from pipelines.engine import CameraPipeline

        camera = job.site.camera(job.camera_id)
        self.feed = file_feed(camera, job.video, hwaccel="none", end_seconds=job.end_s)
        self.pipe = CameraPipeline(camera, job.site, detector, helmet, plates, source_selects=self.feed.source_selects)
        self.ev = BenchEvidence(job.site, camera, self.pipe, self.feed.footage, root / f"cam{index}") if job.evidence else None
        self.frames = iter(self.feed.source.frames())
        self.events = 0
        self.last_pts = 0.0
        self.wait_s = 0.0

    def step(self) -> bool:
        """One frame through the engine and the hand-off; False at the end of the clip."""
        t = time.perf_counter()
        frame = next(self.frames, None)
        self.wait_s += time.perf_counter() - t
        if frame is None:
            tail = self.pipe.flush()
            self.events += len(tail)
            if self.ev is not None:
                self.ev.add(tail, self.last_pts)
                self.ev.due(None)
            return False
        self.last_pts = frame.pts
        new = self.pipe.process(frame)
        self.events += len(new)
        if self.ev is not None:
            self.ev.cam.observe(frame)
            self.ev.add(new, frame.pts)
            self.ev.due(frame.pts)
        return True


def run_e2e(job: E2EJob) -> E2ERun:
    """``job.cameras`` pipelines over the clip in this process; meant for a fresh worker process."""
    from models.registry import Registry
    from pipelines.site_models import detectors_from_site

    site = job.site
    camera = site.camera(job.camera_id)
    t_load = time.perf_counter()
    registry = Registry(job.models_dir)
    detector, helmet = detectors_from_site(site, [camera], registry, job.threads)
    plates = None
    if job.plates:
        from pipelines.site_models import plate_reader_from_site

        plates = plate_reader_from_site(site, registry, threads=job.threads)
    import numpy as np

    warm = np.zeros((camera.frame_size[1], camera.frame_size[0], 3), np.uint8)
    detector.detect([warm])  # first run allocates; not part of any frame's cost
    if helmet is not None:
        helmet.detect([warm[:128, :128]])
    model_load_s = time.perf_counter() - t_load

    with tempfile.TemporaryDirectory(prefix="epolice-bench-") as tmp, RssSampler() as rss:
        cams = [_Camera(job, i, detector, helmet, plates, Path(tmp)) for i in range(job.cameras)]
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        active = list(cams)
        while active:
            active = [c for c in active if c.step()]
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        first = cams[0]
        probe, note = None, ""
        if first.ev is None:
            note = "evidence off (--no-evidence)"
        elif sum(c.events for c in cams) == 0 and first.ev.error is None:
            probe = first.ev.probe(first.pipe)
            note = "no event fired in these frames: per-event cost from one probe event packaged after the timed loop"
        errors = [c.ev.error for c in cams if c.ev is not None and c.ev.error]
        if errors:
            note = f"evidence failed: {errors[0]}"
        peak = peak_rss_mb()
    stats: dict = {}
    for c in cams:
        for k, v in c.pipe.stats.as_dict().items():
            stats[k] = stats.get(k, 0) + v
    run = E2ERun(
        cameras=job.cameras, frames=int(stats.get("frames", 0)), video_s=job.video_s * job.cameras, wall_s=wall, cpu_s=cpu,
        source_wait_s=sum(c.wait_s for c in cams), stats=stats,
        evidence_s=sum(c.ev.seconds for c in cams if c.ev is not None), evidence_cpu_s=sum(c.ev.cpu_s for c in cams if c.ev is not None),
        events=sum(c.events for c in cams), packages=sum(c.ev.written for c in cams if c.ev is not None), probe=probe,
        evidence_note=note, peak_rss_mb=peak, peak_tree_rss_mb=rss.peak_mb, model_load_s=model_load_s, providers=detector.providers,
    )
    if job.detector_only:
        # the detector alone right after, in the same process and sessions, so both see the same machine load
        alone = measure_detector_only(detector, job.video, camera, job.end_s, expected=max(1, run.frames // job.cameras))
        run.detector_only_calls, run.detector_only_s, run.detector_only_cpu_s = alone.frames, alone.wall_s, alone.cpu_s
    return run


def _worker_main(job: E2EJob, results) -> None:  # noqa: ANN001 - a multiprocessing queue
    """Entry point of a spawned worker: one E2ERun (or the error text) onto ``results``."""
    try:
        results.put((run_e2e(job), None))
    except BaseException as exc:  # noqa: BLE001 - the parent reports it as one line
        results.put((None, f"{type(exc).__name__}: {exc}"))


def run_worker(job: E2EJob, timeout_s: float = 7200.0) -> E2ERun:
    """One spawned worker process runs ``job`` (models loaded once in it); its figures come back."""
    import multiprocessing as mp
    import queue as queue_mod

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_worker_main, args=(job, results), daemon=True)
    proc.start()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                run, error = results.get(timeout=1.0)
                break
            except queue_mod.Empty:
                if proc.exitcode not in (None, 0):
                    raise BenchError(f"bench worker died with exit code {proc.exitcode} before reporting (out of memory?)") from None
                if time.monotonic() > deadline:
                    raise BenchError(f"bench worker gave no result within {timeout_s:.0f} s") from None
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()
            proc.join()
    if error is not None:
        raise BenchError(f"bench worker failed: {error}")
    return run
