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
from dataclasses import asdict, dataclass
from typing import Protocol, Sequence

import cv2
import numpy as np

from evidence.checkpoint.images import PassCapture
from evidence.event import PlateCandidateFacts, PlateFacts, ViolationEvent
from models.domain import CLASS_ID, RIDDEN_CLASSES
from pipelines.checkpoint.recorder import PassRecorder
from pipelines.config import CameraConfig, SiteConfig
from pipelines.ring_buffer import RingBuffer
from pipelines.rules.base import Decision, KeyFrameRef
from vision.detections import Detections
from vision.frame import Frame
from vision.plates.reader import PlateRead
from vision.riders import look_for_heads, rider_observations, rider_regions
from vision.tracker import ByteTracker, Track, TrackState

_RIDDEN_IDS = np.array(sorted(CLASS_ID[c] for c in RIDDEN_CLASSES), np.int32)


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
        source_id: str = "",
    ) -> None:
        """``source_id``: the footage's identity (a file's content key), part of every event's key."""
        self.camera = camera
        self.source_id = source_id
        self.site = site
        self.detector = detector
        self.helmet_detector = helmet_detector
        self.plate_reader = plate_reader
        self.zones = site.zones_for(camera)
        self.specs = site.specs_for(camera)
        self.rules = {spec.name for spec in self.specs}
        self.reads_heads = any(spec.needs_heads for spec in self.specs)
        self.tracker = ByteTracker(site.tracker)
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
        # event_key -> plate crop, until the hand-off packages the event (the track may be gone by then)
        self._plate_crops: OrderedDict[str, np.ndarray] = OrderedDict()
        # checkpoint mode: passes over the camera's capture lines (speed needs a calibration: none yet)
        self.passes = PassRecorder(camera, site, to_metres=None, model_versions=self.model_versions) if camera.capture_lines else None

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
                self._extras.pop(tid, None)
            self._fired = {key for key in self._fired if key[1] not in gone}
            if self.passes is not None:
                self.passes.forget(gone)
        self.last_tracks = tracked
        t1 = time.perf_counter()
        self.stats.track_s += t1 - t0

        self._attributes(frame, dets, tracked, tick)
        t2 = time.perf_counter()
        self.stats.attributes_s += t2 - t1

        ids = set(int(i) for i in tracked.tracker_id)
        live = [tr for tr in self.tracker.tracks if tr.track_id in ids]
        if self.passes is not None:
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
        self._extras.clear()
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
        return self.passes.take() if self.passes is not None else []

    # -- attributes --------------------------------------------------------------------------
    def _attributes(self, frame: Frame, dets: Detections, tracked: Detections, tick: bool) -> None:
        if not len(tracked):
            return
        if tick or self.passes is not None:  # a checkpoint camera reads a plate at the crossing: keep fresh crops
            self._collect_crops(frame, tracked)
        ridden = np.isin(tracked.class_id, _RIDDEN_IDS)
        if not ridden.any():
            return
        vehicles = tracked[ridden]
        persons = dets.of_class("person")
        heads, checked = self._helmet_looks(frame, vehicles, persons)
        observations = rider_observations(vehicles, persons, heads, checked, frame.seq, frame.pts, self.site.engine.riders)
        for i, obs in enumerate(observations):
            tr = self.tracker.get(int(vehicles.tracker_id[i]))
            if tr is not None:
                tr.history.add_riders(obs)

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
            if extra.helmet_checks >= cfg.max_checks or frame.pts - extra.last_helmet_t < cfg.check_interval_s:
                continue
            x1, y1, x2, y2 = regions[i]
            if x2 - x1 < 8 or y2 - y1 < 8:
                continue
            due.append(i)
            extra.helmet_checks += 1
            extra.last_helmet_t = frame.pts
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
        d = Decision(d.rule, d.track_id, d.vehicle_class, d.start, d.end, self._held(d.key_frames), d.facts)
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


__all__ = ["CameraPipeline", "StageStats", "BoxDetector", "TrackPlateReader"]


def detectors_from_site(site: SiteConfig, cameras: Sequence[CameraConfig] | None = None, registry=None, threads: int | None = None):
    """(detector, helmet detector or None) named by the site's ``models`` section.

    The helmet model is only loaded when a rule of one of ``cameras`` (default: every camera of the
    site) reads heads. A missing model raises
    models.registry.ModelMissingError, whose message says how to fetch it.
    """
    from models.registry import Registry
    from vision.detector import Detector

    registry = registry or Registry()
    m = site.models
    detector = Detector(registry, m.detector, conf=m.detector_conf, iou=m.detector_iou, threads=threads)
    helmet = None
    cams = site.cameras if cameras is None else cameras
    if m.helmet and any(spec.needs_heads for cam in cams for spec in site.specs_for(cam)):
        helmet = Detector(registry, m.helmet, conf=m.helmet_conf, iou=m.detector_iou, threads=threads)
    return detector, helmet


def plate_reader_from_site(site: SiteConfig, registry=None, threads: int | None = None):  # noqa: ANN201 - a PlateReader
    """The double-reading plate reader with the site's ``plates`` section (e.g. its local province).

    It needs six models (two detectors, two recognisers, the colour classifier, the province
    referee); a missing one raises models.registry.ModelMissingError naming ``epolice models fetch <name>``."""
    from vision.plates.reader import PlateReader

    return PlateReader.from_registry(registry, config=site.plates, threads=threads)
