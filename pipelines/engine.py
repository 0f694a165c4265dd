"""The per-camera pipeline: frames in, ``ViolationEvent``s out.

Driven frame by frame and holding only its own camera's state, so a live worker or a batch
runner can drive many cameras in one process. Per frame:

    detection frame (detect_fps):  detector -> tracker -> riders/helmet -> rules -> events
    other frames:                  tracker prediction only (tracks interpolate between detections)

Frames are analysis frames: the sources hand over only the detection schedule's frames
(``source_selects``), at the camera's analysis size. Boxes, tracks, zones, rule decisions and
evidence boxes are all in the camera's configured ``frame_size`` pixels; detections on a smaller
frame are mapped up on arrival. The engine holds no frames: evidence pixels come from the camera's
own bitstream (``vision.sources.footage``) when an event is packaged.

A runner that batches the detector across cameras uses the split API::

    due = [(p, f) for p, f in pairs if p.needs_detection(f)]
    dets = detector.detect([p.detection_image(f) for p, f in due])
    for (p, f), d in zip(due, dets): events += p.on_detections(f, d)
    for p, f in others: p.on_frame(f)

``process(frame)`` does exactly that for one camera. Expensive readers run per track, not per
frame: the helmet model looks at a ridden vehicle at most ``rules.helmet.max_checks`` times
(crops batched per frame), and the plate reader runs once per event on the track's best crops.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol, Sequence

import cv2
import numpy as np

from evidence.checkpoint.images import PassCapture
from evidence.event import PlateFacts, ViolationEvent
from models.domain import CLASS_ID, RIDDEN_CLASSES
from pipelines.checkpoint.recorder import PassRecorder
from pipelines.config import CameraConfig, SiteConfig
from pipelines.detect_region import detect_region
from pipelines.plate_facts import plate_facts
from pipelines.rider_tally import RiderTally, rider_tally
from pipelines.rules.base import Decision
from pipelines.site_models import extra_detectors_for
from pipelines.stage_stats import StageStats
from vision.detections import Detections, box_iou
from vision.frame import Frame
from vision.motion import MotionGate
from vision.nms import merge_models
from vision.plates.reader import PlateRead
from vision.rider_looks import read_riders
from vision.riders import look_for_heads, rider_regions
from vision.tracker import ByteTracker, Track, TrackState


class BoxDetector(Protocol):
    """What the engine needs of a detector (vision.detector.Detector fits)."""

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]: ...


class TrackPlateReader(Protocol):
    """What the engine needs of a plate reader (vision.plates.reader.PlateReader fits): one voted
    read from a track's best vehicle crops."""

    def read_track(self, crops: Sequence[np.ndarray]) -> PlateRead: ...


PLATE_CROPS_KEPT = 512  # plate crops of events not yet packaged (the hand-off holds at most 256 by default)


@dataclass
class _TrackExtras:
    """Per-track engine state beside the tracker's history; freed with the track."""

    helmet_checks: int = 0
    last_helmet_t: float = float("-inf")
    looked_height: float = 0.0  # tallest box the helmet model looked at
    riders: "RiderTally | None" = None  # the track's riders as its best look judged them (helmet-wearing rate)
    crops: list = None  # (score, crop) best-first, at most EngineConfig.plate_crops
    plate: PlateFacts | None = None
    plate_crop: np.ndarray | None = None  # the read plate as captured, for the evidence package

    def __post_init__(self) -> None:
        if self.crops is None:
            self.crops = []


def _sharpness(gray: np.ndarray) -> float:
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


class CameraPipeline:
    def __init__(
        self,
        camera: CameraConfig,
        site: SiteConfig,
        detector: BoxDetector | None = None,
        helmet_detector: BoxDetector | None = None,
        plate_reader: TrackPlateReader | None = None,
        source_selects: bool = False,
        extra_detectors: Sequence[BoxDetector] | None = None,
        source_id: str = "",
    ) -> None:
        """``source_selects``: the source hands over only the frames due for detection (FFmpeg selects
        them at ``detect_fps``), so every frame is a detection frame. ``source_id``: the footage's
        identity (a file's content key), part of every event's key."""
        self.camera = camera
        # site models named by the camera, merged into the main detector's output on every detection frame
        self.extra_detectors = list(extra_detectors) if extra_detectors is not None else extra_detectors_for(camera, site)
        self.source_id = source_id
        self.site = site
        self.detector = detector
        self.helmet_detector = helmet_detector
        self.plate_reader = plate_reader
        self.zones = site.zones_for(camera)
        self.specs = site.specs_for(camera)
        self.rules = {spec.name for spec in self.specs}
        self.reads_heads = any(spec.needs_heads for spec in self.specs)
        self.tracker = ByteTracker(site.tracker, camera.view())
        # persons get their own tracker when people on board are counted: co-motion needs person tracks
        self.person_tracker = ByteTracker(site.tracker.model_copy(update={"classes": ["person"]})) if "passengers" in self.rules else None
        people_classes = set(site.rules.passengers.max_people) if "passengers" in self.rules else set()
        self._rider_ids = np.array(sorted(CLASS_ID[c] for c in RIDDEN_CLASSES | people_classes), np.int32)
        self.source_selects = source_selects
        self.gate = MotionGate(site.engine.motion)
        self.region = detect_region(camera, site, self.specs)  # frame_size pixels, or None: the whole frame
        self._region_origin: dict[int, tuple[float, float]] = {}  # seq -> crop origin in that frame's pixels
        self.stats = StageStats()
        self.interval = 1.0 / camera.detect_fps
        self.model_versions: dict[str, str] = {}
        for role, det in (("detector", detector), ("helmet", helmet_detector)):
            version = getattr(det, "model_version", None)
            if isinstance(version, str):
                self.model_versions[role] = version
        self.last_tracks = Detections.empty()  # tracked boxes at the latest frame (detected or predicted)
        self.last_tick_seq: int | None = None  # the latest trail-tick frame (kept panoramas of in-memory footage)
        self._next_detect_t: float | None = None
        self._last_trail_t = float("-inf")
        self._extras: dict[int, _TrackExtras] = {}
        self._fired: set[tuple[str, int]] = set()
        self._first_look: dict[int, tuple[float, float]] = {}
        self.rider_tallies: list[RiderTally] = []  # ended tracks' riders; a runner takes and clears them
        # event_key -> plate crop, until the hand-off packages the event (the track may be gone by then)
        self._plate_crops: OrderedDict[str, np.ndarray] = OrderedDict()
        self.passes = PassRecorder.for_camera(camera, site, self.model_versions)  # checkpoint mode

    # -- frame-level API ---------------------------------------------------------------------
    def needs_detection(self, frame: Frame) -> bool:
        """True when this frame is due for the detector (detect_fps on the frame's own clock; every
        frame when the source selects them) and the motion gate (``engine.motion``) lets it through.
        Call once per frame: the gate keeps the last detected frame to compare with."""
        due = self.source_selects or self._next_detect_t is None or frame.pts >= self._next_detect_t - 1e-6
        if not due:
            return False
        if self.gate.should_detect(frame.image, frame.pts):
            return True
        self.stats.gated_frames += 1
        return False

    def on_frame(self, frame: Frame) -> None:
        """A frame the detector skips (off schedule, or motion-gated): move tracks by prediction."""
        self.stats.frames += 1
        t0 = time.perf_counter()
        self.last_tracks = self.tracker.predict(frame.pts)
        self.stats.track_s += time.perf_counter() - t0

    def detection_image(self, frame: Frame) -> np.ndarray:
        """What the detector looks at for this frame: the whole frame, or the zones' region of it
        (``engine.detect_region``); ``on_detections`` takes boxes in this image's pixels."""
        if self.region is None:
            return frame.image
        ix1, iy1, ix2, iy2 = self._region_pixels(frame)
        self._region_origin = {frame.seq: (ix1, iy1)}
        return frame.image[iy1:iy2, ix1:ix2]

    def _region_pixels(self, frame: Frame) -> tuple[int, int, int, int]:
        sx, sy = self.scale_of(frame)
        x1, y1, x2, y2 = self.region
        return int(x1 / sx), int(y1 / sy), int(np.ceil(x2 / sx)), int(np.ceil(y2 / sy))

    def scale_of(self, frame: Frame) -> tuple[float, float]:
        """(x, y) factors from this frame's pixels to the camera's ``frame_size`` pixels."""
        w, h = frame.size
        fw, fh = self.camera.frame_size
        return fw / w, fh / h

    def on_detections(self, frame: Frame, dets: Detections) -> list[ViolationEvent]:
        """A detection frame (``dets`` in the pixels of ``detection_image(frame)``): track, read
        attributes, run the rules; returns new events."""
        self.stats.frames += 1
        self.stats.detect_frames += 1
        nxt = (self._next_detect_t if self._next_detect_t is not None else frame.pts) + self.interval
        self._next_detect_t = max(nxt, frame.pts + 0.5 * self.interval)
        tick = frame.pts - self._last_trail_t >= self.site.engine.trail_interval_s - 1e-6
        if tick:
            self._last_trail_t = frame.pts
            self.last_tick_seq = frame.seq
        origin = self._region_origin.pop(frame.seq, None)
        if self.extra_detectors:  # site models look at the same image as the main detector did
            t0 = time.perf_counter()
            ix1, iy1, ix2, iy2 = self._region_pixels(frame) if origin is not None else (0, 0, None, None)
            image = frame.image[iy1:iy2, ix1:ix2]
            dets = merge_models([dets] + [d.detect([image])[0] for d in self.extra_detectors], self.site.models.detector_iou)
            self.stats.detect_s += time.perf_counter() - t0
        if origin is not None and len(dets):  # detected on the zones' region: back to the whole frame
            dets = Detections(dets.xyxy + np.array([*origin, *origin], np.float32), dets.confidence, dets.class_id, dets.tracker_id, dets.data)
        dets = dets.scaled(*self.scale_of(frame))
        wall = frame.wall_time.timestamp()

        t0 = time.perf_counter()
        tracked = self.tracker.update(dets, frame.pts, frame.seq, wall, trail_tick=tick)
        if self.tracker.removed:
            gone = set(self.tracker.removed)
            for tid in gone:
                self._tally(self._extras.pop(tid, None))
                self._first_look.pop(tid, None)
            self._fired = {key for key in self._fired if key[1] not in gone}
            self.passes.forget(gone)
        self.last_tracks = tracked
        t1 = time.perf_counter()
        self.stats.track_s += t1 - t0

        self._attributes(frame, dets, tracked, tick)
        t2 = time.perf_counter()
        self.stats.attributes_s += t2 - t1

        ids = set(int(i) for i in tracked.tracker_id)
        live = [tr for tr in self.tracker.tracks if tr.track_id in ids]
        if self.passes:  # the camera has capture lines
            self.passes.observe(frame, live, lambda tid: self._plate(tid)[0])
        events = self._run_rules(live, trail_tick=tick)
        self.stats.rules_s += time.perf_counter() - t2
        return events

    def process(self, frame: Frame) -> list[ViolationEvent]:
        """One camera, one frame: detect when due (needs a detector), else predict."""
        if not self.needs_detection(frame):
            self.on_frame(frame)
            return []
        if self.detector is None:
            raise RuntimeError("CameraPipeline.process needs a detector; a batching runner calls on_detections")
        t0 = time.perf_counter()
        dets = self.detector.detect([self.detection_image(frame)])[0]
        self.stats.detect_s += time.perf_counter() - t0
        return self.on_detections(frame, dets)

    def flush(self) -> list[ViolationEvent]:
        """End of stream: a last rule pass over every live track, then free all per-track state."""
        t0 = time.perf_counter()
        events = self._run_rules([tr for tr in self.tracker.tracks if tr.state is not TrackState.TENTATIVE], trail_tick=True)
        self.stats.rules_s += time.perf_counter() - t0
        self.tracker.flush()
        for extra in self._extras.values():
            self._tally(extra)
        self._extras.clear()
        self._first_look.clear()
        self._fired.clear()
        return events

    @property
    def crops_from_frames(self) -> bool:
        """Plates are read from crops of the analysis frames only when they carry the camera's full
        ``frame_size``; otherwise from the full-resolution panoramas when the event is packaged."""
        return self.camera.analysis_is_full

    def plate_crop_for(self, event: ViolationEvent) -> np.ndarray | None:
        """The plate crop read for the event's track (handed over once: the package keeps it)."""
        return self._plate_crops.pop(event.event_key, None)

    def take_passes(self) -> list[PassCapture]:
        """Checkpoint mode: the passes made since the last call (none without capture lines)."""
        return self.passes.take()

    # -- attributes --------------------------------------------------------------------------
    def _attributes(self, frame: Frame, dets: Detections, tracked: Detections, tick: bool) -> None:
        if not len(tracked):
            return
        # crops only from full-size frames; a checkpoint camera reads a plate at the crossing: keep fresh crops
        if (tick or self.passes) and frame.size == tuple(self.camera.frame_size):
            self._collect_crops(frame, tracked)
        persons = dets.of_class("person")
        person_vel = self._track_persons(frame, persons)
        ridden = np.isin(tracked.class_id, self._rider_ids)
        if not ridden.any():
            return
        vehicles = tracked[ridden]
        heads, checked = self._helmet_looks(frame, vehicles, persons)
        tracks = [self.tracker.get(int(tid)) for tid in vehicles.tracker_id]
        motion = None
        if person_vel is not None:
            motion = (np.array([tr.kf.x[4:6] if tr is not None else (0.0, 0.0) for tr in tracks], np.float64).reshape(-1, 2), person_vel)
        headings = [self._heading(tr) for tr in tracks]
        eng = self.site.engine
        t0 = time.perf_counter()
        classifier = getattr(self.helmet_detector, "classifier", self.helmet_detector) if self.reads_heads else None
        looks = read_riders(
            frame.image, vehicles, persons, heads, checked, frame.seq, frame.pts, classifier, eng.riders, eng.judge, headings, motion,
            scale=self.scale_of(frame),
        )
        self.stats.helmet_s += time.perf_counter() - t0
        self.stats.helmet_calls += looks.model_calls
        helmet_cfg = self.site.rules.helmet
        for tr, obs in zip(tracks, looks.observations):
            if tr is not None:
                tr.history.add_riders(obs)
                if obs.heads_checked and tr.history.class_name in helmet_cfg.classes:
                    first = self._first_look.setdefault(tr.track_id, (frame.pts, frame.wall_time.timestamp()))
                    best = tr.history.looks[0]
                    self._extras.setdefault(tr.track_id, _TrackExtras()).riders = rider_tally(best, helmet_cfg.min_confidence, first)

    def _track_persons(self, frame: Frame, persons: Detections) -> np.ndarray | None:
        """Track this frame's persons (sets ``persons.tracker_id``); their velocities in pixels per
        second, or None when this camera does not count people on board."""
        if self.person_tracker is None:
            return None
        tracked = self.person_tracker.update(persons, frame.pts, frame.seq, frame.wall_time.timestamp())
        vel = np.zeros((len(persons), 2), np.float64)
        if len(tracked) and len(persons):
            iou = box_iou(persons.xyxy, tracked.xyxy)
            for i in range(len(persons)):
                j = int(np.argmax(iou[i]))
                tr = self.person_tracker.get(int(tracked.tracker_id[j])) if iou[i, j] >= 0.9 else None
                if tr is not None:
                    persons.tracker_id[i] = tr.track_id
                    vel[i] = tr.kf.x[4:6]
        return vel

    def _tally(self, extra: "_TrackExtras | None") -> None:
        if extra is not None and extra.riders is not None and (extra.riders.judged or extra.riders.unjudged):
            self.rider_tallies.append(extra.riders)

    def _heading(self, track: Track | None) -> float | None:
        """The track's own direction of travel in the image, else the camera's configured one."""
        last = track.history.last if track is not None else None
        return last.heading if last is not None and last.heading is not None else self.camera.heading_deg

    def _helmet_looks(self, frame: Frame, vehicles: Detections, persons: Detections) -> tuple[Detections, np.ndarray]:
        """Run the helmet model on the rider regions of the vehicles due a look (packed into as few
        model inputs as they fit, see vision.riders.look_for_heads); heads in frame pixels."""
        checked = np.zeros(len(vehicles), bool)
        cfg = self.site.rules.helmet  # when and how often to look: the helmet rule's engine settings
        if self.helmet_detector is None or not self.reads_heads:
            return Detections.empty(), checked
        eng = self.site.engine
        regions = rider_regions(vehicles.xyxy, persons, self.camera.frame_size, eng.riders, eng.heads)
        due = []
        for i in range(len(vehicles)):
            tid = int(vehicles.tracker_id[i])
            tr = self.tracker.get(tid)
            if tr is None or tr.history.class_name not in cfg.classes:
                continue
            box = vehicles.xyxy[i]
            if box[3] - box[1] < cfg.min_vehicle_height_px:
                continue
            extra = self._extras.setdefault(tid, _TrackExtras())
            grown = box[3] - box[1] >= cfg.relook_growth * extra.looked_height
            if (extra.helmet_checks >= cfg.max_checks and not grown) or frame.pts - extra.last_helmet_t < cfg.check_interval_s:
                continue
            x1, y1, x2, y2 = regions[i]
            if x2 - x1 < 8 or y2 - y1 < 8:
                continue
            due.append(i)
            extra.helmet_checks += 1
            extra.last_helmet_t = frame.pts
            extra.looked_height = max(extra.looked_height, float(box[3] - box[1]))
        if not due:
            return Detections.empty(), checked
        t0 = time.perf_counter()
        sx, sy = self.scale_of(frame)
        looks = look_for_heads(frame.image, regions[due] / np.array([sx, sy, sx, sy], np.float32), self.helmet_detector, eng.heads)
        self.stats.helmet_s += time.perf_counter() - t0
        self.stats.helmet_crops += len(due)
        self.stats.helmet_calls += looks.model_calls
        checked[due] = True
        return looks.heads.scaled(sx, sy), checked

    def _collect_crops(self, frame: Frame, tracked: Detections) -> None:
        """Keep each track's best few crops (large and sharp, box plus a margin) for the plate reader."""
        k = self.site.engine.plate_crops
        h_img, w_img = frame.image.shape[:2]
        for i in range(len(tracked)):
            bx1, by1, bx2, by2 = (float(v) for v in tracked.xyxy[i])
            mx, my = 0.08 * (bx2 - bx1), 0.08 * (by2 - by1)
            x1, y1, x2, y2 = (int(round(v)) for v in (bx1 - mx, by1 - my, bx2 + mx, by2 + my))
            x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w_img), min(y2, h_img)
            if x2 - x1 < 16 or y2 - y1 < 16:
                continue
            extra = self._extras.setdefault(int(tracked.tracker_id[i]), _TrackExtras())
            crop = frame.image[y1:y2, x1:x2]
            small = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), (64, 64), interpolation=cv2.INTER_AREA)
            score = float((x2 - x1) * (y2 - y1)) * min(1.0, _sharpness(small) / 200.0 + 0.1)
            if len(extra.crops) < k or score > extra.crops[-1][0]:
                extra.crops.append((score, crop.copy()))
                extra.crops.sort(key=lambda c: -c[0])
                del extra.crops[k:]

    # -- rules ---------------------------------------------------------------------------------
    def _run_rules(self, tracks: list[Track], trail_tick: bool) -> list[ViolationEvent]:
        """Every registered rule of this camera on each track; at most one event per rule and track.
        Stationary rules (``on_trail_tick``) run only on trail ticks."""
        specs = [s for s in self.specs if trail_tick or not s.on_trail_tick]
        events: list[ViolationEvent] = []
        for tr in tracks:
            for spec in specs:
                if (spec.name, tr.track_id) in self._fired:
                    continue
                d = spec.evaluate(tr.history, self.zones, self.site.rule_config(spec.name))
                if d is None:
                    continue
                self._fired.add((d.rule, tr.track_id))
                events.append(self._event(d))
        self.stats.events += len(events)
        return events

    def _plate(self, track_id: int) -> tuple[PlateFacts | None, np.ndarray | None]:
        """The track's plate and plate crop, read once per track (a pass and a violation share it)."""
        extra = self._extras.setdefault(track_id, _TrackExtras())
        if self.plate_reader is not None and extra.plate is None and extra.crops:
            t0 = time.perf_counter()
            read = self.plate_reader.read_track([c for _, c in extra.crops])
            extra.plate, extra.plate_crop = plate_facts(read), read.crop
            self.stats.plates_s += time.perf_counter() - t0
            self.stats.plate_reads += 1
        return extra.plate, extra.plate_crop

    def _event(self, d: Decision) -> ViolationEvent:
        plate, plate_crop = self._plate(d.track_id)
        event = d.to_event(self.site.id, self.camera.id, plate=plate, model_versions=self.model_versions, source=self.source_id)
        if plate_crop is not None and plate_crop.size:
            self._plate_crops[event.event_key] = plate_crop
            while len(self._plate_crops) > PLATE_CROPS_KEPT:
                self._plate_crops.popitem(last=False)
        return event


__all__ = ["CameraPipeline", "StageStats", "BoxDetector", "TrackPlateReader", "RiderTally", "detect_region", "plate_facts"]
