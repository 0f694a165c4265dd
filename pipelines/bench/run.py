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

import os
import statistics
from dataclasses import replace

from pipelines.bench.e2e import E2EJob, E2ERun, run_workers
from pipelines.bench.figures import BenchError, BenchLog, Figure, Timing, peak_rss_mb
from pipelines.bench.inputs import BenchOptions, exact_end
from pipelines.bench.machine import machine_info
from pipelines.bench.measure import measure_decode_null, measure_source
from pipelines.bench.report import BenchReport, e2e_breakdown, stage_rows
from pipelines.bench.ultralytics_compare import compare


def run_bench(opts: BenchOptions, progress: BenchLog = lambda _: None) -> BenchReport:
    """Every measured run of the module docstring, ``opts.repeat`` times, and the report of their figures."""
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
        "helmet_model": m.helmet if any(spec.needs_heads for spec in site.specs_for(camera)) else None,
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
        progress(f"comparison with an ultralytics loop on {opts.compare_model}")
        report.comparison = compare(
            opts.video, site, camera, Registry(opts.models_dir), opts.compare_model, opts.compare_frames, opts.repeat, progress
        ).as_dict()
    machine_end = replace(machine, load_avg_end=tuple(round(v, 2) for v in os.getloadavg()))
    report.machine = machine_end
    return report
