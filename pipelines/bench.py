"""`epolice bench`: what each stage of the pipeline costs on a real clip, and how close the whole
pipeline gets to the detector alone.

Measured runs, each repeated ``repeat`` times (figures are mean, min, max, stdev over repeats):

- **decode**: ``ffmpeg -f null`` on the same frames (demux + decode, no pixel conversion, no pipe).
- **source**: ``FileSource`` handing the same frames over as BGR arrays, nothing done with them.
  FileSource cannot time its own conversion (it happens inside the ffmpeg child), so
  **convert = source - decode**: swscale yuv420p -> bgr24, the showinfo pts logging, and the
  rawvideo pipe hand-over (W*H*3 bytes per frame) into numpy.
- **end to end**: a fresh worker *process* (spawned, so its peak RSS is the pipeline's own) runs
  FileSource -> CameraPipeline.process -> evidence: every event is packaged synchronously with
  ``write_package`` once the clip's "after" frames have arrived (the live runner does this in a thread
  pool; here it is charged to the loop). Its engine stats give detect, track, attributes, rules;
  plate reading (once per event, inside the engine's rules pass) is moved to attributes.
  ``--jobs N`` runs N such workers at once on the same clip (peak RSS per worker, total throughput).
- **detector-only**: in the same worker right after its end-to-end run (same sessions, same machine
  load), the clip decoded once into memory, then ``Detector.detect`` alone on exactly the frames the
  engine detected (same detect_fps schedule, model, thresholds, threads).

Pipeline efficiency = end-to-end fps / detector-only fps, both counted over all frames of the clip,
paired per repeat. On a shared machine, load from others only ever adds time, so the report also
gives the best-of-repeats ratio (fastest end-to-end run / fastest detector-only run) and the ratio
of CPU seconds (detector-only CPU / end-to-end CPU, ffmpeg children included), which contention
disturbs far less than wall time.
Evidence is reported per event and amortised per frame over the events of the run; when no event
fires in the frames benchmarked, one probe event (three held frames, a tracked box) is packaged
after the timed loop so the per-event cost is still measured (amortised cost is then 0).
"""

from __future__ import annotations

import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pipelines.config import CameraConfig, SiteConfig

STAGES = ("decode", "convert", "detect", "track", "attributes", "rules", "evidence")
DEFAULT_CLIP = "data/videos/street_parking_a.mp4"


class BenchError(RuntimeError):
    """The benchmark cannot run (bad input, missing model, crashed worker); one line for the CLI."""


# ---------------------------------------------------------------------------------------------
# figures


@dataclass(frozen=True)
class Figure:
    """One figure over repeated runs."""

    mean: float
    min: float
    max: float
    stdev: float
    runs: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> "Figure":
        vals = tuple(float(v) for v in values)
        if not vals:
            raise ValueError("a figure needs at least one run")
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return cls(statistics.fmean(vals), min(vals), max(vals), sd, vals)

    def as_dict(self, digits: int = 4) -> dict:
        r = lambda v: round(v, digits)  # noqa: E731
        return {"mean": r(self.mean), "min": r(self.min), "max": r(self.max), "stdev": r(self.stdev), "runs": [r(v) for v in self.runs]}


@dataclass(frozen=True)
class Timing:
    """Wall and CPU seconds (this process plus waited-for children) of one measured run."""

    frames: int
    wall_s: float
    cpu_s: float

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.wall_s / max(self.frames, 1)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else float("inf")


class TimedFrames:
    """A source's frames, adding the time spent waiting for each one to ``wait_s`` (decode cost seen by the loop)."""

    def __init__(self, source) -> None:  # noqa: ANN001 - any object with .frames()
        self._it = source.frames()
        self.wait_s = 0.0

    def __iter__(self):  # noqa: ANN204
        while True:
            t = time.perf_counter()
            frame = next(self._it, None)
            self.wait_s += time.perf_counter() - t
            if frame is None:
                return
            yield frame


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children (ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb() -> float:
    """Peak resident set of this process (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------------------------------------
# machine


@dataclass(frozen=True)
class MachineInfo:
    cpu_model: str
    cpu_count: int
    cpus_usable: int
    python: str
    platform: str
    onnxruntime: str
    providers: list[str]
    threads: str  # ONNX Runtime intra-op threads per session as requested
    ffmpeg: str
    load_avg_start: tuple[float, float, float]
    load_avg_end: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ffmpeg_version() -> str:
    exe = shutil.which("ffmpeg")
    if not exe:
        return "not found"
    out = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True, timeout=10).stdout
    return out.splitlines()[0] if out else "unknown"


def machine_info(threads: int | None, providers: list[str]) -> MachineInfo:
    import onnxruntime as ort

    return MachineInfo(
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count() or 1,
        cpus_usable=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
        python=platform.python_version(),
        platform=platform.platform(),
        onnxruntime=ort.__version__,
        providers=list(providers),
        threads=str(threads) if threads else "onnxruntime default (one per core)",
        ffmpeg=_ffmpeg_version(),
        load_avg_start=tuple(round(v, 2) for v in os.getloadavg()),
    )


# ---------------------------------------------------------------------------------------------
# inputs


def _shared_bases() -> list[Path]:
    """Where the shared third-party data may live: $EPOLICE_SHARED, ../shared, beside the repository."""
    env = os.environ.get("EPOLICE_SHARED")
    return ([Path(env)] if env else []) + [Path("../shared"), Path(__file__).resolve().parents[2] / "shared"]


def find_shared(relative: str) -> Path | None:
    for base in _shared_bases():
        if (base / relative).exists():
            return base / relative
    return None


def default_video() -> Path:
    """The shared street clip (the first candidate path when it is nowhere, for the error message)."""
    return find_shared(DEFAULT_CLIP) or _shared_bases()[0] / DEFAULT_CLIP


def default_site(width: int, height: int, source: str) -> SiteConfig:
    """No site file: one camera of the video's size, no zones, every rule on, default models."""
    return SiteConfig(id="bench", cameras=[CameraConfig(id="bench", source=source, frame_size=(width, height))])


@dataclass(frozen=True)
class BenchOptions:
    video: Path
    site: SiteConfig
    camera_id: str
    frames: int = 0  # 0 = the whole clip
    repeat: int = 3
    threads: int | None = None
    jobs: int = 1
    plates: bool = True
    evidence: bool = True
    compare: bool = True
    compare_model: str = "helmet_yolov12m"
    compare_frames: int = 24
    models_dir: Path | None = None


def prepare(
    video: Path,
    site: SiteConfig | None,
    camera_id: str | None = None,
    model: str | None = None,
    detect_fps: float | None = None,
) -> tuple[SiteConfig, CameraConfig]:
    """The site and camera to benchmark, with --model/--detect-fps applied; checks the frame size."""
    from vision.sources.ffmpeg.command import output_size
    from vision.sources.ffmpeg.probe import probe

    info = probe(video)  # ProbeError (a DecodeError) with one line for a bad file
    size = output_size(info.width, info.height)
    if site is None:
        site = default_site(size[0], size[1], str(video))
    camera = site.camera(camera_id) if camera_id else site.cameras[0]
    if tuple(size) != tuple(camera.frame_size):
        raise BenchError(
            f"video {video} decodes to {size[0]}x{size[1]} but camera {camera.id!r} declares frame_size "
            f"{list(camera.frame_size)}; zones are in the camera's pixels (give a matching --site or none)"
        )
    if detect_fps is not None:
        if not 0 < detect_fps <= 60:
            raise BenchError(f"--detect-fps must be in (0, 60], got {detect_fps}")
        camera = camera.model_copy(update={"detect_fps": float(detect_fps)})
    if model is not None:
        site = site.model_copy(update={"models": site.models.model_copy(update={"detector": model})})
    cameras = [camera if c.id == camera.id else c for c in site.cameras]
    site = site.model_copy(update={"cameras": cameras})
    return site, camera


# ---------------------------------------------------------------------------------------------
# decode and convert


def measure_decode_null(video: Path, frames: int) -> Timing:
    """Demux + decode only: ffmpeg to the null muxer (no pixel conversion, nothing piped out)."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(video), "-map", "0:v:0"]
    if frames:
        cmd += ["-frames:v", str(frames)]
    cmd += ["-f", "null", "-"]
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    if proc.returncode != 0:
        raise BenchError(f"ffmpeg -f null failed on {video}: {proc.stderr.strip().splitlines()[-1:]}")
    return Timing(frames, wall, cpu)


def frame_source(video: Path, camera_id: str, end_s: float | None = None):
    """FileSource over the clip up to ``end_s`` seconds (None = all), ended by FFmpeg itself.

    Benchmarks never break out of a running FileSource: its close then waits for FFmpeg (blocked
    writing into the pipe) until the kill timeout, seconds that would swamp a short benchmark.
    """
    from vision.sources.file import FileSource

    return FileSource(video, camera_id, end_seconds=end_s)


def exact_end(video: Path, camera_id: str, frames: int) -> tuple[float | None, int]:
    """(segment end, frame count) for the first ``frames`` frames (0 = all): the end lies halfway
    between the pts of the last wanted frame and the next one (None when the clip has no more)."""
    from vision.sources.ffmpeg.probe import probe

    fps = probe(video).fps or 25.0
    limit = (frames + 1) / fps * 1.1 + 1.0 if frames else None
    pts = [f.pts for f in frame_source(video, camera_id, limit).frames()]
    if not frames or len(pts) <= frames:
        return None, len(pts)
    return (pts[frames - 1] + pts[frames]) / 2.0, frames


def measure_source(video: Path, camera_id: str, end_s: float | None) -> Timing:
    """Decode + convert + hand-over: FileSource frames, nothing done with them."""
    source = frame_source(video, camera_id, end_s)
    n = 0
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    for _ in source.frames():
        n += 1
    return Timing(n, time.perf_counter() - t0, cpu_seconds() - cpu0)


def measure_detector_only(detector, video: Path, camera_id: str, end_s: float | None, seqs: set[int]) -> Timing:
    """Detector.detect alone on the frames the engine detected, decoded once into memory beforehand
    (one call per frame, as the engine makes); ``frames`` counts the detected frames."""
    images = [f.image for f in frame_source(video, camera_id, end_s).frames() if f.seq in seqs]
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    for image in images:
        detector.detect([image])
    return Timing(len(images), time.perf_counter() - t0, cpu_seconds() - cpu0)


# ---------------------------------------------------------------------------------------------
# end to end (worker process)


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


class _Evidence:
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


def run_e2e(job: E2EJob, barrier=None) -> E2ERun:
    """FileSource -> CameraPipeline -> evidence over the clip; meant for a fresh worker process."""
    from models.registry import Registry
    from pipelines.engine import CameraPipeline, detectors_from_site

    site = job.site
    camera = site.camera(job.camera_id)
    t_load = time.perf_counter()
    registry = Registry(job.models_dir)
    detector, helmet = detectors_from_site(site, camera, registry, job.threads)
    plates = None
    if job.plates:
        from vision.plates.reader import PlateReader

        plates = PlateReader.from_registry(registry, threads=job.threads)
    source = frame_source(job.video, camera.id, job.end_s)
    import numpy as np

    warm = np.zeros((camera.frame_size[1], camera.frame_size[0], 3), np.uint8)
    detector.detect([warm])  # first run allocates; not part of any frame's cost
    if helmet is not None:
        helmet.detect([warm[:128, :128]])
    model_load_s = time.perf_counter() - t_load

    pipe = CameraPipeline(camera, site, detector, helmet, plates)
    with tempfile.TemporaryDirectory(prefix="epolice-bench-") as tmp:
        ev = _Evidence(site, camera, pipe, Path(tmp)) if job.evidence else None
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


# ---------------------------------------------------------------------------------------------
# report


@dataclass(frozen=True)
class StageRow:
    stage: str
    ms_per_frame: Figure
    share: float  # of the sum of stage means
    note: str = ""


@dataclass
class BenchReport:
    machine: MachineInfo
    settings: dict
    stages: list[StageRow]
    stage_total_ms: float
    e2e_fps: Figure
    e2e_ms_per_frame: Figure
    e2e_breakdown_ms: dict[str, Figure]  # where the loop's wall time went; sums to e2e ms/frame
    detector_only_fps: Figure
    efficiency: Figure
    efficiency_best: float  # fastest end-to-end fps / fastest detector-only fps over the repeats
    efficiency_cpu: Figure  # detector-only CPU seconds / end-to-end CPU seconds
    realtime_x: Figure
    cores_used: Figure
    realtime_x_per_core: Figure
    decode: dict
    evidence: dict
    memory: dict
    jobs: dict
    comparison: dict | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        fig = lambda f: f.as_dict()  # noqa: E731
        return {
            "machine": asdict(self.machine),
            "settings": self.settings,
            "stages": [
                {"stage": r.stage, "ms_per_frame": fig(r.ms_per_frame), "share": round(r.share, 4), "note": r.note} for r in self.stages
            ],
            "stage_total_ms_per_frame": round(self.stage_total_ms, 4),
            "end_to_end": {
                "fps": fig(self.e2e_fps),
                "ms_per_frame": fig(self.e2e_ms_per_frame),
                "breakdown_ms_per_frame": {k: fig(v) for k, v in self.e2e_breakdown_ms.items()},
                "realtime_x": fig(self.realtime_x),
                "cores_used": fig(self.cores_used),
                "realtime_x_per_core": fig(self.realtime_x_per_core),
            },
            "detector_only": {"fps": fig(self.detector_only_fps)},
            "efficiency": fig(self.efficiency),
            "efficiency_best_of_repeats": round(self.efficiency_best, 4),
            "efficiency_cpu": fig(self.efficiency_cpu),
            "decode": self.decode,
            "evidence": self.evidence,
            "memory": self.memory,
            "jobs": self.jobs,
            "comparison": self.comparison,
            "notes": self.notes,
        }


def stage_rows(decode_ms: Sequence[float], convert_ms: Sequence[float], runs: Sequence[E2ERun]) -> list[StageRow]:
    """Per-stage cost in ms per frame (each stage's own cost), with shares of their sum."""
    per = lambda key: [1000.0 * r.stats[key] / max(r.frames, 1) for r in runs]  # noqa: E731
    attributes = [1000.0 * (r.stats["attributes_s"] + r.stats.get("plates_s", 0.0)) / max(r.frames, 1) for r in runs]
    rules = [1000.0 * (r.stats["rules_s"] - r.stats.get("plates_s", 0.0)) / max(r.frames, 1) for r in runs]
    evidence = [1000.0 * r.evidence_s / max(r.frames, 1) for r in runs]
    figures = {
        "decode": (Figure.of(decode_ms), "ffmpeg -f null: demux + decode, standalone"),
        "convert": (Figure.of(convert_ms), "FileSource minus decode: yuv420p->bgr24, pts logging, pipe hand-over"),
        "detect": (Figure.of(per("detect_s")), "Detector.detect on detection frames, amortised over all frames"),
        "track": (Figure.of(per("track_s")), "tracker update / prediction"),
        "attributes": (Figure.of(attributes), "crops for plates, riders, helmet model, plate reads"),
        "rules": (Figure.of(rules), "the four rules (plate reads moved to attributes)"),
        "evidence": (Figure.of(evidence), "write_package of the run's events, amortised over all frames"),
    }
    total = sum(f.mean for f, _ in figures.values())
    return [StageRow(name, f, (f.mean / total) if total > 0 else 0.0, note) for name, (f, note) in figures.items()]


def e2e_breakdown(runs: Sequence[E2ERun]) -> dict[str, Figure]:
    """Where each end-to-end loop's wall time went, ms per frame; 'other' is the rest (loop, ring buffer)."""
    parts: dict[str, list[float]] = {k: [] for k in ("source_wait", "detect", "track", "attributes", "rules", "evidence", "other")}
    for r in runs:
        n = max(r.frames, 1)
        s = r.stats
        vals = {
            "source_wait": r.source_wait_s,
            "detect": s["detect_s"],
            "track": s["track_s"],
            "attributes": s["attributes_s"] + s.get("plates_s", 0.0),
            "rules": s["rules_s"] - s.get("plates_s", 0.0),
            "evidence": r.evidence_s,
        }
        vals["other"] = r.wall_s - sum(vals.values())
        for k, v in vals.items():
            parts[k].append(1000.0 * v / n)
    return {k: Figure.of(v) for k, v in parts.items()}


ProgressFn = Callable[[str], None]


def run_bench(opts: BenchOptions, progress: ProgressFn = lambda _: None) -> BenchReport:
    from models.registry import Registry
    from vision.sources.ffmpeg.probe import probe

    if opts.repeat < 1 or opts.jobs < 1 or opts.frames < 0:
        raise BenchError("--repeat and --jobs must be >= 1 and --frames >= 0")
    site, camera = opts.site, opts.site.camera(opts.camera_id)
    info = probe(opts.video)
    clip_fps = info.fps or 25.0
    m = site.models
    end_s, n = exact_end(opts.video, camera.id, opts.frames)
    if n == 0:
        raise BenchError(f"no frames could be decoded from {opts.video}")
    job = E2EJob(opts.video, site, camera.id, end_s, opts.threads, opts.plates, opts.evidence, opts.models_dir)
    load_start = tuple(round(v, 2) for v in os.getloadavg())

    decode_t: list[Timing] = []
    source_t: list[Timing] = []
    runs: list[list[E2ERun]] = []
    for r in range(opts.repeat):
        progress(f"repeat {r + 1}/{opts.repeat}: decode (ffmpeg -f null), FileSource")
        decode_t.append(measure_decode_null(opts.video, n))
        source_t.append(measure_source(opts.video, camera.id, end_s))
        progress(f"repeat {r + 1}/{opts.repeat}: end to end, then detector only, in {opts.jobs} worker process(es)")
        runs.append(run_workers(job, opts.jobs))
    machine = replace(machine_info(opts.threads, runs[0][0].providers), load_avg_start=load_start)

    first = [rs[0] for rs in runs]  # worker 0 of each repeat: the single-pipeline figures
    all_runs = [w for rs in runs for w in rs]
    decode_ms = [t.ms_per_frame for t in decode_t]
    convert_ms = [s.ms_per_frame - d.ms_per_frame for s, d in zip(source_t, decode_t)]
    rows = stage_rows(decode_ms, convert_ms, all_runs)
    e2e_fps = Figure.of([w.fps for w in first])
    det_fps = Figure.of([w.frames / w.detector_only_s for w in first])
    efficiency = Figure.of([w.detector_only_s / w.wall_s for w in first])
    realtime = Figure.of([w.fps / clip_fps for w in first])
    cores = Figure.of([w.cpu_s / w.wall_s for w in first])
    per_core = Figure.of([(w.fps / clip_fps) / max(w.cpu_s / w.wall_s, 1e-9) for w in first])

    events = [w.events for w in all_runs]
    written = sum(w.packages for w in all_runs)
    per_event = [1000.0 * w.evidence_s / w.packages for w in all_runs if w.packages]
    probes = [w.probe_ms for w in all_runs if w.probe_ms is not None]
    notes = sorted({w.evidence_note for w in all_runs if w.evidence_note})
    ev_fig = Figure.of(per_event) if per_event else (Figure.of(probes) if probes else None)
    evidence = {
        "events_per_run": events[0],
        "packages_written": written,
        "ms_per_event": ev_fig.as_dict() if ev_fig else None,
        "per_event_from": "run events" if per_event else ("probe event" if probes else "none"),
        "amortised": "evidence ms per frame = write_package seconds of the run's events / all frames of the run",
        "notes": notes,
    }
    decode = {
        "decode_fps": Figure.of([t.fps for t in decode_t]).as_dict(),
        "decode_cpu_ms_per_frame": Figure.of([1000.0 * t.cpu_s / max(t.frames, 1) for t in decode_t]).as_dict(),
        "source_fps": Figure.of([t.fps for t in source_t]).as_dict(),
        "source_cpu_ms_per_frame": Figure.of([1000.0 * t.cpu_s / max(t.frames, 1) for t in source_t]).as_dict(),
        "method": "decode = ffmpeg -f null (no conversion); convert = FileSource rawvideo bgr24 pipe minus decode, both standalone",
    }
    memory = {
        "peak_rss_mb_per_worker": Figure.of([w.peak_rss_mb for w in all_runs]).as_dict(),
        "bench_process_peak_rss_mb": round(peak_rss_mb(), 1),
        "note": "ru_maxrss of each spawned end-to-end worker (models, ring buffer, frames in flight), before its detector-only pass",
    }
    jobs = {"jobs": opts.jobs}
    if opts.jobs > 1:
        agg = [sum(w.frames for w in rs) / max(w.wall_s for w in rs) for rs in runs]
        jobs.update(
            aggregate_fps=Figure.of(agg).as_dict(),
            aggregate_realtime_x=Figure.of([a / clip_fps for a in agg]).as_dict(),
            per_worker_fps=Figure.of([w.fps for w in all_runs]).as_dict(),
        )
    settings = {
        "video": str(opts.video),
        "clip_fps": round(clip_fps, 3),
        "frame_size": list(camera.frame_size),
        "frames": n,
        "clip_seconds": round(n / clip_fps, 2),
        "site": site.id,
        "camera": camera.id,
        "rules": sorted(site.rules_for(camera)),
        "detector": m.detector,
        "helmet_model": m.helmet if "helmet" in site.rules_for(camera) else None,
        "plate_reader": opts.plates,
        "detect_fps": camera.detect_fps,
        "detection_frames": len(first[0].detected_seqs),
        "conf": m.detector_conf,
        "iou": m.detector_iou,
        "repeat": opts.repeat,
        "threads": opts.threads,
        "model_load_s": round(statistics.fmean(w.model_load_s for w in all_runs), 2),
    }
    report = BenchReport(
        machine=machine,
        settings=settings,
        stages=rows,
        stage_total_ms=sum(r.ms_per_frame.mean for r in rows),
        e2e_fps=e2e_fps,
        e2e_ms_per_frame=Figure.of([1000.0 * w.wall_s / max(w.frames, 1) for w in first]),
        e2e_breakdown_ms=e2e_breakdown(first),
        detector_only_fps=det_fps,
        efficiency=efficiency,
        efficiency_best=e2e_fps.max / det_fps.max,
        efficiency_cpu=Figure.of([w.detector_only_cpu_s / w.cpu_s for w in first]),
        realtime_x=realtime,
        cores_used=cores,
        realtime_x_per_core=per_core,
        decode=decode,
        evidence=evidence,
        memory=memory,
        jobs=jobs,
    )
    if opts.compare:
        from pipelines.bench_ultralytics import compare

        progress(f"comparison with an ultralytics loop on {opts.compare_model}")
        report.comparison = compare(
            opts.video, site, camera, Registry(opts.models_dir), opts.compare_model, opts.compare_frames, opts.repeat, progress
        ).as_dict()
    machine_end = replace(machine, load_avg_end=tuple(round(v, 2) for v in os.getloadavg()))
    report.machine = machine_end
    return report


# ---------------------------------------------------------------------------------------------
# text


def _fig(d: dict, fmt: str = "{:.2f}") -> str:
    """A figure dict (Figure.as_dict) as 'mean (min-max)'."""
    if len(d["runs"]) == 1:
        return fmt.format(d["mean"])
    return f"{fmt.format(d['mean'])} ({fmt.format(d['min'])}-{fmt.format(d['max'])})"


def format_report(rep: dict) -> str:
    """The text tables of a report, from the same dict that --json prints."""
    m, s = rep["machine"], rep["settings"]
    e2e = rep["end_to_end"]
    lines = [
        f"machine: {m['cpu_model']}, {m['cpus_usable']}/{m['cpu_count']} cores, Python {m['python']}, onnxruntime {m['onnxruntime']} "
        f"({', '.join(m['providers'])}), threads {m['threads']}",
        f"         {m['ffmpeg'][:40]}; load average {m['load_avg_start'][0]:.2f} at start, {m['load_avg_end'][0]:.2f} at end",
        f"clip: {s['video']} {s['frame_size'][0]}x{s['frame_size'][1]} @ {s['clip_fps']} fps, {s['frames']} frames ({s['clip_seconds']} s); "
        f"detector {s['detector']} at {s['detect_fps']} fps ({s['detection_frames']} detection frames); "
        f"rules {','.join(s['rules'])}; helmet {s['helmet_model'] or 'off'}; plates {'on' if s['plate_reader'] else 'off'}; "
        f"repeat {s['repeat']}, figures are mean (min-max)",
        "",
        f"{'stage':<11} {'ms/frame':>24} {'share':>6}  what",
    ]
    for r in rep["stages"]:
        lines.append(f"{r['stage']:<11} {_fig(r['ms_per_frame'], '{:.3f}'):>24} {100 * r['share']:5.1f}%  {r['note']}")
    lines.append(f"{'sum':<11} {rep['stage_total_ms_per_frame']:>24.3f} {100.0:5.1f}%")
    lines.append("")
    lines.append(
        f"end to end: {_fig(e2e['fps'], '{:.1f}')} fps = {_fig(e2e['ms_per_frame'])} ms/frame; "
        f"real time x{_fig(e2e['realtime_x'])} on {_fig(e2e['cores_used'])} cores = x{_fig(e2e['realtime_x_per_core'])} per core"
    )
    lines.append("  loop wall time, ms/frame: " + ", ".join(f"{k} {v['mean']:.2f}" for k, v in e2e["breakdown_ms_per_frame"].items()))
    lines.append(f"detector only: {_fig(rep['detector_only']['fps'], '{:.1f}')} fps (same worker, right after: the engine's detection frames decoded into memory)")
    lines.append(
        f"pipeline efficiency (end-to-end fps / detector-only fps): {_fig(rep['efficiency'], '{:.3f}')} paired per repeat, "
        f"{rep['efficiency_best_of_repeats']:.3f} best of repeats, {_fig(rep['efficiency_cpu'], '{:.3f}')} by CPU seconds  (target >= 0.9)"
    )
    ev = rep["evidence"]
    per = ev["ms_per_event"]
    lines.append(
        f"evidence: {ev['events_per_run']} event(s) per run, {_fig(per, '{:.0f}')} ms per event ({ev['per_event_from']})"
        if per
        else f"evidence: not measured ({'; '.join(ev['notes']) or 'no event'})"
    )
    lines.extend(f"  {note}" for note in ev["notes"])
    mem = rep["memory"]["peak_rss_mb_per_worker"]
    lines.append(f"memory: peak RSS per worker {_fig(mem, '{:.0f}')} MB; bench process {rep['memory']['bench_process_peak_rss_mb']:.0f} MB")
    j = rep["jobs"]
    if j.get("jobs", 1) > 1:
        lines.append(
            f"jobs {j['jobs']}: aggregate {_fig(j['aggregate_fps'], '{:.1f}')} fps (x{_fig(j['aggregate_realtime_x'])} real time), "
            f"{_fig(j['per_worker_fps'], '{:.1f}')} fps per worker"
        )
    if rep.get("comparison") is not None:
        from pipelines.bench_ultralytics import format_comparison

        lines.append("")
        lines.extend(format_comparison(rep["comparison"]))
    return "\n".join(lines)
