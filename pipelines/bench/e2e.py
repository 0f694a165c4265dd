"""The end-to-end run: FileSource -> CameraPipeline -> evidence in fresh worker processes, then the detector alone."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.bench.evidence import BenchEvidence
from pipelines.bench.figures import BenchError, TimedFrames, cpu_seconds, peak_rss_mb
from pipelines.bench.inputs import frame_source
from pipelines.bench.measure import measure_detector_only
from pipelines.config import SiteConfig


@dataclass(frozen=True)
class E2EJob:
    video: Path
    site: SiteConfig
    camera_id: str
    end_s: float | None  # segment end that yields exactly the benchmarked frames
    threads: int | None
    plates: bool
    evidence: bool
    models_dir: Path | None


@dataclass
class E2ERun:
    """What one end-to-end worker measured."""

    frames: int
    wall_s: float
    cpu_s: float
    source_wait_s: float  # main thread blocked on the next frame (decode/convert not hidden by the ffmpeg child)
    stats: dict  # engine StageStats.as_dict()
    evidence_s: float  # write_package time of the events of this run (inside the timed loop)
    events: int
    packages: int
    probe_ms: float | None  # per-event cost from a probe event when no event fired (outside the loop)
    evidence_note: str
    detected_seqs: list[int]
    peak_rss_mb: float  # of the end-to-end run, taken before the detector-only pass decodes frames into memory
    model_load_s: float
    detector_only_s: float = 0.0  # same worker, right after the end-to-end run: Detector.detect alone
    detector_only_cpu_s: float = 0.0
    providers: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else float("inf")


def run_e2e(job: E2EJob, barrier=None) -> E2ERun:
    """FileSource -> CameraPipeline -> evidence over the clip; meant for a fresh worker process."""
    from models.registry import Registry
    from pipelines.engine import CameraPipeline
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
    source = frame_source(job.video, camera.id, job.end_s)
    import numpy as np

    warm = np.zeros((camera.frame_size[1], camera.frame_size[0], 3), np.uint8)
    detector.detect([warm])  # first run allocates; not part of any frame's cost
    if helmet is not None:
        helmet.detect([warm[:128, :128]])
    model_load_s = time.perf_counter() - t_load

    pipe = CameraPipeline(camera, site, detector, helmet, plates)
    with tempfile.TemporaryDirectory(prefix="epolice-bench-") as tmp:
        ev = BenchEvidence(site, camera, pipe, Path(tmp)) if job.evidence else None
        detected: list[int] = []
        events = 0
        n = 0
        last_pts = 0.0
        if barrier is not None:
            barrier.wait()
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        frames = TimedFrames(source)
        for frame in frames:
            n += 1
            last_pts = frame.pts
            before = pipe.stats.detect_frames
            new = pipe.process(frame)
            if pipe.stats.detect_frames > before:
                detected.append(frame.seq)
            events += len(new)
            if ev is not None:
                ev.cam.index.add(frame.seq, frame.pts)
                ev.add(new, frame.pts)
                ev.due(frame.pts)
        tail = pipe.flush()
        events += len(tail)
        if ev is not None:
            ev.add(tail, last_pts)
            ev.due(None)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        probe_ms = None
        note = ""
        if ev is None:
            note = "evidence off (--no-evidence)"
        elif events == 0 and ev.error is None:
            probe_ms = ev.probe(pipe)
            note = "no event fired in these frames: per-event cost from one probe event packaged after the timed loop"
        if ev is not None and ev.error:
            note = f"evidence failed: {ev.error}"
        peak = peak_rss_mb()
    # Detector alone right after, in the same process and sessions, so both see the same machine load.
    alone = measure_detector_only(detector, job.video, camera.id, job.end_s, set(detected))
    return E2ERun(
        frames=n,
        wall_s=wall,
        cpu_s=cpu,
        source_wait_s=frames.wait_s,
        stats=pipe.stats.as_dict(),
        evidence_s=ev.seconds if ev is not None else 0.0,
        events=events,
        packages=ev.written if ev is not None else 0,
        probe_ms=probe_ms,
        evidence_note=note,
        detected_seqs=detected,
        peak_rss_mb=peak,
        model_load_s=model_load_s,
        detector_only_s=alone.wall_s,
        detector_only_cpu_s=alone.cpu_s,
        providers=detector.providers,
    )


def _worker_main(job: E2EJob, barrier, results, index: int) -> None:
    """Entry point of a spawned worker: one E2ERun (or the error text) onto ``results``."""
    try:
        results.put((index, run_e2e(job, barrier), None))
    except BaseException as exc:  # noqa: BLE001 - the parent reports it as one line
        if barrier is not None:
            barrier.abort()
        results.put((index, None, f"{type(exc).__name__}: {exc}"))


def run_workers(job: E2EJob, jobs: int, timeout_s: float = 3600.0) -> list[E2ERun]:
    """``jobs`` spawned workers run the same clip at once; each loads its models once."""
    import multiprocessing as mp
    import queue as queue_mod

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    barrier = ctx.Barrier(jobs) if jobs > 1 else None
    procs = [ctx.Process(target=_worker_main, args=(job, barrier, results, i), daemon=True) for i in range(jobs)]
    for p in procs:
        p.start()
    out: dict[int, E2ERun] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < jobs:
            try:
                index, run, error = results.get(timeout=1.0)
            except queue_mod.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise BenchError(f"bench worker died with exit code {dead[0].exitcode} before reporting (out of memory?)") from None
                if time.monotonic() > deadline:
                    raise BenchError(f"bench workers gave no result within {timeout_s:.0f} s") from None
                continue
            if error is not None:
                raise BenchError(f"bench worker {index} failed: {error}")
            out[index] = run
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()
    return [out[i] for i in range(jobs)]
