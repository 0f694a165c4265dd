"""The per-camera pipeline: frames in, ``ViolationEvent``s out.

Driven frame by frame and holding only its own camera's state, so a live worker or a batch
runner can drive many cameras in one process. Per frame:

    ring buffer <- frame
    detection frame (detect_fps):  detector -> tracker -> riders/helmet -> rules -> events
    other frames:                  tracker prediction only (tracks interpolate between detections)

A runner that batches the detector across cameras uses the split API::

    due = [(p, f) for p, f in pairs if p.needs_detection(f)]
    dets = detector.detect([f.image for _, f in due])
    for (p, f), d in zip(due, dets): events += p.on_detections(f, d)
    for p, f in others: p.on_frame(f)

``process(frame)`` does exactly that for one camera. Expensive readers run per track, not per
frame: the helmet model looks at a ridden vehicle at most ``rules.helmet.max_checks`` times
(crops batched per frame), and the plate reader runs once per event on the track's best crops.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
from typing import Protocol, Sequence

import cv2
import numpy as np

from evidence.checkpoint.images import PassCapture
from evidence.event import PlateCandidateFacts, PlateFacts, ViolationEvent
from models.domain import CLASS_ID, RIDDEN_CLASSES
from pipelines.checkpoint.recorder import PassRecorder
from pipelines.config import CameraConfig, SiteConfig
from pipelines.rider_tally import RiderTally, rider_tally
from pipelines.ring_buffer import RingBuffer
from pipelines.rules.base import Decision, KeyFrameRef
from pipelines.site_models import extra_detectors_for
from vision.detections import Detections, box_iou
from vision.frame import Frame
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
_PLATE_COLORS = ("blue", "yellow", "green", "white", "black")


def _color(color: str) -> str:
    return color if color in _PLATE_COLORS else "unknown"


def plate_facts(read: PlateRead) -> PlateFacts:
    """A vision PlateRead as the evidence record's PlateFacts (here, so vision never imports evidence):
    status, confirmed text (None unless confirmed), every candidate with its readers, the reason."""
    candidates = tuple(
        PlateCandidateFacts(text=c.text, color=_color(c.color), readers=c.readers, confidence=round(min(max(c.confidence, 0.0), 1.0), 4))
        for c in read.candidates
    )
    return PlateFacts(text=read.text, color=_color(read.color), agreement=round(float(read.agreement), 4), reason=read.reason,
                      reads=read.reads, status=read.status, candidates=candidates)


@dataclass
class StageStats:
    """Seconds spent per stage (decode is the source's), for benchmarks and health."""

    frames: int = 0
    detect_frames: int = 0
    detect_s: float = 0.0
    track_s: float = 0.0
    attributes_s: float = 0.0
    rules_s: float = 0.0
    helmet_crops: int = 0  # vehicles the helmet model looked at
    helmet_calls: int = 0  # helmet-model inferences (crops are packed several to one input)
    plate_reads: int = 0
    events: int = 0
    helmet_s: float = 0.0  # part of attributes_s spent in the helmet model
    plates_s: float = 0.0  # part of rules_s spent reading plates (once per event, in _event)

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def ms_per_frame(self) -> dict[str, float]:
        n = max(self.frames, 1)
        return {k: 1000.0 * getattr(self, f"{k}_s") / n for k in ("detect", "track", "attributes", "rules")}


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
        extra_detectors: Sequence[BoxDetector] | None = None,
        source_id: str = "",
    ) -> None:
        """``source_id``: the footage's identity (a file's content key), part of every event's key."""
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
        eng = site.engine
        keep = eng.trail_keep_s if eng.trail_keep_s is not None else site.rules.parking.min_dwell_s + 60.0
        stationary = any(spec.on_trail_tick for spec in self.specs)
        self.ring = RingBuffer(eng.ring_seconds, keep_seconds=keep if stationary else 0.0)
        self.stats = StageStats()
        self.interval = 1.0 / camera.detect_fps
        self.model_versions: dict[str, str] = {}
        for role, det in (("detector", detector), ("helmet", helmet_detector)):
            version = getattr(det, "model_version", None)
            if isinstance(version, str):
                self.model_versions[role] = version
        self.last_tracks = Detections.empty()  # tracked boxes at the latest frame (detected or predicted)
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
        """True when this frame is due for the detector (detect_fps on the frame's own clock)."""
        return self._next_detect_t is None or frame.pts >= self._next_detect_t - 1e-6

    def on_frame(self, frame: Frame) -> None:
        """A frame the detector skips: keep it for evidence and move tracks by prediction."""
        self.stats.frames += 1
        self.ring.push(frame)
        t0 = time.perf_counter()
        self.last_tracks = self.tracker.predict(frame.pts)
        self.stats.track_s += time.perf_counter() - t0

    def on_detections(self, frame: Frame, dets: Detections) -> list[ViolationEvent]:
        """A detection frame: track, read attributes, run the rules; returns new events."""
        if self.extra_detectors:
            t0 = time.perf_counter()
            dets = merge_models([dets] + [d.detect([frame.image])[0] for d in self.extra_detectors], self.site.models.detector_iou)
            self.stats.detect_s += time.perf_counter() - t0
        self.stats.frames += 1
        self.stats.detect_frames += 1
        nxt = (self._next_detect_t if self._next_detect_t is not None else frame.pts) + self.interval
        self._next_detect_t = max(nxt, frame.pts + 0.5 * self.interval)
        tick = frame.pts - self._last_trail_t >= self.site.engine.trail_interval_s - 1e-6
        if tick:
            self._last_trail_t = frame.pts
        self.ring.push(frame, keep=tick)
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
        dets = self.detector.detect([frame.image])[0]
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

    # -- evidence access ---------------------------------------------------------------------
    def frame(self, seq: int) -> Frame | None:
        return self.ring.get(seq)

    def frames_for(self, event: ViolationEvent) -> dict[int, Frame]:
        """The key frames of an event still held by the ring buffer, by seq."""
        out: dict[int, Frame] = {}
        for kf in event.key_frames:
            f = self.ring.get(kf.seq)
            if f is not None:
                out[kf.seq] = f
        return out

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
        if tick or self.passes:  # a checkpoint camera reads a plate at the crossing: keep fresh crops
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
            frame.image, vehicles, persons, heads, checked, frame.seq, frame.pts, classifier, eng.riders, eng.judge, headings, motion
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
        regions = rider_regions(vehicles.xyxy, persons, frame.size, eng.riders, eng.heads)
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
        looks = look_for_heads(frame.image, regions[due], self.helmet_detector, eng.heads)
        self.stats.helmet_s += time.perf_counter() - t0
        self.stats.helmet_crops += len(due)
        self.stats.helmet_calls += looks.model_calls
        checked[due] = True
        return looks.heads, checked

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
        d = replace(d, key_frames=self._held(d.key_frames))
        event = d.to_event(self.site.id, self.camera.id, plate=plate, model_versions=self.model_versions, source=self.source_id)
        if plate_crop is not None and plate_crop.size:
            self._plate_crops[event.event_key] = plate_crop
            while len(self._plate_crops) > PLATE_CROPS_KEPT:
                self._plate_crops.popitem(last=False)
        return event

    def _held(self, refs: tuple[KeyFrameRef, ...]) -> tuple[KeyFrameRef, ...]:
        """Point each key frame at a frame the ring buffer still holds (the nearest one if needed)."""
        out = []
        for ref in refs:
            frame = self.ring.nearest(ref.seq)
            if frame is None or frame.seq == ref.seq:
                out.append(ref)
            else:
                out.append(KeyFrameRef(frame.seq, frame.wall_time.timestamp(), ref.role, ref.box))
        return tuple(out)


__all__ = ["CameraPipeline", "StageStats", "BoxDetector", "TrackPlateReader", "RiderTally"]
