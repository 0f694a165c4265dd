"""The real segment processor: decode -> engine -> evidence packages -> record store.

Built once per worker process (models, plate reader, signing key and store opened once), then
called per segment. Evidence goes through the same hand-off as the live site (pipelines.handoff:
events wait for their clip, then key frames and clip frames from the camera's ring buffer are
packaged by a small bounded thread pool), so batch and live records are the same. Only events this segment owns are packaged (see
pipelines.batch.segments); records are keyed by event, so re-running a segment adds nothing.

Frames are decoded at the camera's detection rate and analysis size (``pipelines.camera_feed``;
zones are in ``frame_size`` pixels, boxes are mapped to them); evidence stills are decoded from the
file itself at the key frames' times and the clip is copied from it. A file whose aspect ratio
differs from ``frame_size`` fails with a reason instead of producing misplaced zones.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pipelines.batch.jobs import ProgressFn, SegmentJob, SegmentResult, core_progress, new_result
from pipelines.handoff.rider_counts import hourly

log = logging.getLogger(__name__)


class EngineProcessor:
    @classmethod
    def check(cls, site: str, threads: int | None = None, evidence_threads: int = 2) -> None:
        """Everything a worker needs, checked without loading models: site, signing key, model files, store."""
        from evidence.signing import Signer
        from models.registry import Registry
        from pipelines.config import load_site
        from vision.plates.reader import MODELS as PLATE_MODELS

        cfg = load_site(site)
        Signer.from_file(cfg.evidence.signing_key)
        registry = Registry()
        names = [cfg.models.detector, *PLATE_MODELS]
        if cfg.models.helmet and any(spec.needs_heads for c in cfg.cameras for spec in cfg.specs_for(c)):
            names.append(cfg.models.helmet)
        for name in names:
            registry.path(name, verify=False)  # ModelMissingError names `epolice models fetch ...`

    def __init__(self, site: str, threads: int | None = None, evidence_threads: int = 2):
        from evidence.signing import Signer
        from evidence.store import RecordStore
        from pipelines.config import load_site
        from pipelines.handoff.queue import EvidenceQueue
        from pipelines.handoff.writer import EvidenceWriter
        from pipelines.site_models import detectors_from_site, plate_reader_from_site
        from vision.sources.clock import ClockConfig

        self.site = load_site(site)
        self.clock = ClockConfig(timezone=self.site.timezone)
        self.detector, self.helmet = detectors_from_site(self.site, threads=threads)
        self.plates = plate_reader_from_site(self.site, threads=threads)
        self.store = RecordStore.from_config(self.site.store)
        self.evidence_cfg = self.site.evidence
        self._lock = threading.Lock()
        self._created = 0
        self.writer = EvidenceWriter(
            self.evidence_cfg, Signer.from_file(self.evidence_cfg.signing_key), self._deliver,
            failed_dir=Path(self.evidence_cfg.output_dir) / "_failed", threads=evidence_threads,
        )
        self.handoff = EvidenceQueue(self.evidence_cfg, self.writer)
        self.checkpoint = None  # checkpoint mode: passes stored and matched as the clip is read
        if any(c.capture_lines for c in self.site.cameras):
            from pipelines.checkpoint.sink import CheckpointSink

            self.checkpoint = CheckpointSink.from_site(self.site, self.store.engine)

    def _deliver(self, record) -> bool:  # noqa: ANN001 - NewRecord; runs on an evidence thread
        added = self.store.add(record)
        if added.created:
            with self._lock:
                self._created += 1
        return True

    def process(self, job: SegmentJob, progress: ProgressFn) -> SegmentResult:
        from pipelines.camera_feed import file_feed
        from pipelines.config import same_aspect
        from pipelines.engine import CameraPipeline
        from pipelines.handoff.frames import CameraEvidence
        from vision.sources.ffmpeg.errors import DecodeError
        from vision.sources.ffmpeg.probe import probe

        camera = self.site.camera(job.camera_id)
        width, height = camera.frame_size
        info = probe(job.path)
        if not same_aspect((info.width, info.height), (width, height)):
            return new_result(
                job, status="failed",
                error=f"video is {info.width}x{info.height} but camera {camera.id} is configured for {width}x{height} (zones are in those pixels)",
            )
        d = job.decode  # --scale/--max-width do not apply: frames are at the camera's analysis size
        feed = file_feed(
            camera, job.path, clock=self.clock, start_time=d.start_time, hwaccel=d.hwaccel, stride=d.stride, target_fps=d.target_fps,
            start_seconds=job.start if job.start > 0 else None, end_seconds=job.end,
        )
        source = feed.source
        pipeline = CameraPipeline(camera, self.site, self.detector, self.helmet, self.plates, source_selects=feed.source_selects,
                                  source_id=job.file_key)
        cam = CameraEvidence.of(pipeline, self.site, feed.footage)
        window = job.window
        origin = source.clock_start.start
        with self._lock:
            self._created = 0
        failed_before = self.writer.failed
        owned: dict[str, int] = {}
        dropped = 0
        frames = 0
        status, error = "done", None

        def hand_off(events, pts: float) -> None:  # noqa: ANN001 - ViolationEvents
            nonlocal dropped
            passes = [p for p in pipeline.take_passes() if window.owns((p.event.pass_time - origin).total_seconds())]
            if passes and self.checkpoint is not None:
                self.checkpoint.handle(passes)
            for ev in events:
                if not window.owns((ev.start_time - origin).total_seconds()):
                    dropped += 1  # the neighbouring segment records it
                    continue
                owned[ev.rule] = owned.get(ev.rule, 0) + 1
                self.handoff.add(cam, ev, pts)

        last_pts = 0.0
        try:
            for frame in source.frames():
                frames += 1
                last_pts = frame.pts
                events = pipeline.process(frame)
                cam.observe(frame)
                hand_off(events, frame.pts)
                self.handoff.service()
                progress(core_progress(job, frame.pts), frames)
        except DecodeError as exc:
            status, error = "failed", exc.reason  # keep what the good frames produced
        hand_off(pipeline.flush(), last_pts)
        self.handoff.drain()
        owned_riders = [t for t in pipeline.rider_tallies if window.owns(t.wall - origin.timestamp())]
        self.store.put_rider_counts(self.site.id, camera.id, f"batch:{job.segment_id}", hourly(owned_riders))
        lost = self.writer.failed - failed_before
        if lost and status == "done":
            status, error = "error", f"{lost} event(s) could not be packaged (saved under {self.evidence_cfg.output_dir}/_failed); re-run to retry"
        with self._lock:
            created = self._created
        return new_result(
            job, status=status, error=error, frames=frames, footage_seconds=job.footage_seconds,
            events=sum(owned.values()), dropped=dropped, new_records=created, by_rule=owned, warnings=source.warnings,
        )

    def close(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint.dispatcher.run_once()  # what is due now; the rest waits in the store's outbox
        self.writer.shutdown(timeout=60)
        self.store.close()

