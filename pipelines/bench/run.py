"""`epolice bench`: what a camera costs, in CPU-seconds per second of video, against the floor
set by decoding and the detector alone; memory for one and for several cameras; evidence per event.

Measured runs, each repeated ``repeat`` times (figures are mean, min, max, stdev over repeats):

- **decode**: ``ffmpeg -f null`` over the clip (demux + decode, no conversion, nothing piped).
- **decode + 640 BGR**: FFmpeg decodes every frame, scales it to 640 wide and converts it to BGR,
  piped out and dropped: the cheapest way to feed a 640 detector every frame.
- **source**: the engine's analysis source alone (frames of the detection schedule only, at the
  camera's analysis size), nothing done with them.
- **end to end**: a fresh worker process runs the production path (``pipelines.camera_feed``:
  analysis frames -> CameraPipeline -> evidence decoded and copied from the clip file, packaged
  inline as soon as each clip's after-window has passed). CPU is the process and its FFmpeg children.
- **detector only**: in the same worker right after, ``Detector.detect`` alone on a sample of the
  same analysis frames (same sessions, threads, thresholds); CPU per call times the calls per
  second of video is what detection costs.

floor = (decode + 640 BGR) + detector only, per second of video: decoding every frame and detecting
at the camera's rate, nothing else. The pipeline's cost against it (floor / end-to-end CPU) is the
efficiency; streams per core = 1 / (end-to-end CPU per video second). On a shared machine others'
load only adds time; CPU seconds are steadier than wall time, and the repeats give the range.

Memory: one worker process per camera count in ``cameras`` (e.g. 1 and 4) runs that many cameras
on the clip at once; its peak resident memory, FFmpeg children included, is reported per count.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import replace

from pipelines.bench.e2e import E2EJob, E2ERun, run_worker
from pipelines.bench.figures import BenchError, BenchLog, Figure, Timing
from pipelines.bench.inputs import BenchOptions, exact_end
from pipelines.bench.machine import machine_info
from pipelines.bench.measure import measure_decode_null, measure_decode_scaled, measure_source
from pipelines.bench.report import BenchReport, evidence_figures, memory_figures, per_video_second
from pipelines.bench.ultralytics_compare import compare


def run_bench(opts: BenchOptions, progress: BenchLog = lambda _: None) -> BenchReport:
    """Every measured run of the module docstring, and the report of their figures."""
    from models.registry import Registry
    from vision.sources.ffmpeg.probe import probe

    if opts.repeat < 1 or opts.frames < 0 or not opts.cameras or min(opts.cameras) < 1:
        raise BenchError("--repeat and --cameras must be >= 1 and --frames >= 0")
    site, camera = opts.site, opts.site.camera(opts.camera_id)
    info = probe(opts.video)
    clip_fps = info.fps or 25.0
    end_s, n = exact_end(opts.video, opts.frames)
    if n == 0:
        raise BenchError(f"no frames could be decoded from {opts.video}")
    video_s = n / clip_fps
    job = E2EJob(opts.video, site, camera.id, end_s, video_s, opts.threads, opts.plates, opts.evidence, opts.models_dir)
    load_start = tuple(round(v, 2) for v in os.getloadavg())

    decode_t: list[Timing] = []
    scaled_t: list[Timing] = []
    source_t: list[Timing] = []
    runs: list[E2ERun] = []
    for r in range(opts.repeat):
        progress(f"repeat {r + 1}/{opts.repeat}: decode alone, decode + 640 BGR, the analysis source")
        decode_t.append(measure_decode_null(opts.video, end_s))
        scaled_t.append(measure_decode_scaled(opts.video, end_s, tuple(camera.frame_size)))
        source_t.append(measure_source(opts.video, camera, end_s))
        progress(f"repeat {r + 1}/{opts.repeat}: end to end (one camera), then the detector alone, in a fresh worker")
        runs.append(run_worker(job))
    by_count: dict[int, E2ERun] = {1: runs[0]}
    for count in sorted(set(opts.cameras) - {1}):
        progress(f"memory: {count} cameras on the clip in one worker process")
        by_count[count] = run_worker(replace(job, cameras=count, detector_only=False))
    machine = replace(machine_info(opts.threads, runs[0].providers), load_avg_start=load_start)

    rates = per_video_second(decode_t, scaled_t, source_t, runs, video_s)
    settings = {
        "video": str(opts.video),
        "upscaled_from": str(opts.upscaled_from) if opts.upscaled_from else None,
        "clip_fps": round(clip_fps, 3),
        "frame_size": list(camera.frame_size),
        "analysis_size": list(camera.analysis_size() or camera.frame_size),
        "frames": n,
        "video_seconds": round(video_s, 2),
        "site": site.id,
        "camera": camera.id,
        "rules": sorted(site.rules_for(camera)),
        "detector": site.models.detector,
        "helmet_model": site.models.helmet if any(spec.needs_heads for spec in site.specs_for(camera)) else None,
        "plate_reader": opts.plates,
        "detect_fps": camera.detect_fps,
        "detection_frames": runs[0].stats.get("detect_frames", 0),
        "conf": site.models.detector_conf,
        "iou": site.models.detector_iou,
        "repeat": opts.repeat,
        "threads": opts.threads,
        "model_load_s": round(statistics.fmean(w.model_load_s for w in runs), 2),
    }
    report = BenchReport(
        machine=machine,
        settings=settings,
        rates=rates,
        evidence=evidence_figures(runs),
        memory=memory_figures(by_count),
        detector_only={
            "calls_per_run": runs[0].detector_only_calls,
            "ms_per_call": Figure.of([1000 * w.detector_only_s / max(w.detector_only_calls, 1) for w in runs]).as_dict(),
            "cpu_ms_per_call": Figure.of([1000 * w.detector_only_cpu_s / max(w.detector_only_calls, 1) for w in runs]).as_dict(),
        },
    )
    if opts.compare:
        progress(f"comparison with an ultralytics loop on {opts.compare_model}")
        report.comparison = compare(
            opts.video, site, camera, Registry(opts.models_dir), opts.compare_model, opts.compare_frames, opts.repeat, progress
        ).as_dict()
    report.machine = replace(machine, load_avg_end=tuple(round(v, 2) for v in os.getloadavg()))
    return report
