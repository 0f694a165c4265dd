"""The site file: one YAML per site, validated at start so a bad file never half-runs.

``load_site(path)`` returns a ``SiteConfig`` or raises ``SiteConfigError`` whose message names
every bad field by its path in the file (``cameras.0.zones.1.polygon: ...``) and what was
expected. Zones are checked against the camera's frame (inside it, not self-intersecting), and
rule sections are closed: a misspelt or unknown rule name is an error, not a silently ignored key.
A camera's calibration (image points with their road positions in metres) is fitted at load time:
collinear or mismatched points, points outside the frame and a large reprojection error are
errors naming the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from evidence.checkpoint.config import PassesConfig
from evidence.config import EvidenceConfig, StoreConfig
from evidence.review.config import ReviewConfig
from evidence.timezone import TimeZoneName
from models.strict import StrictModel
from pipelines.checkpoint.config import CaptureLineConfig, CheckpointConfig
from pipelines.live.config import LiveConfig
from pipelines.road_config import CalibrationConfig, ZoneConfig
from pipelines.rules.base import RuleSpec, Zone
from pipelines.rules.registry import RULE_NAMES, RULES, RuleName, RulesConfig, default_codes, rule_labels
from vision.calibration import CameraView, Homography
from vision.heads import HeadJudgeConfig
from vision.motion import MotionConfig
from vision.plates.reader import PlateReaderConfig
from vision.riders import HeadCropConfig, RiderAssociationConfig
from vision.tracker import TrackerConfig


class SiteConfigError(ValueError):
    """A site file that cannot be used; the message names each bad field and what was expected."""


class Location(StrictModel):
    address: str = ""
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)



LIVE_PREFIXES = ("rtsp://", "rtsps://")
ASPECT_TOLERANCE = 0.02  # relative difference of width/height ratios still taken as the same picture


def same_aspect(a: tuple[int, int], b: tuple[int, int], tolerance: float = ASPECT_TOLERANCE) -> bool:
    return abs(a[0] / a[1] - b[0] / b[1]) <= tolerance * (b[0] / b[1])


class CameraConfig(StrictModel):
    id: str = Field(min_length=1)
    source: str = Field(min_length=1, description="file path or rtsp:// URL; recorded (stream copy) for evidence")
    detect_source: str | None = Field(
        None, description="rtsp:// sub-stream the detector reads instead of `source`, which is then only recorded"
    )
    analysis: Literal["full"] | tuple[int, int] = Field(
        "full",
        description="size of the frames the detector and tracker see: `full` (frame_size; the sub-stream's own width "
        "with detect_source) or [width, height] (smaller is cheaper; plates are then read from the panoramas)",
    )
    detect_fps: float = Field(5.0, gt=0, le=60, description="detector runs this often; tracks are predicted between")
    direction: str = Field("", description="direction of travel the camera watches, e.g. 'northbound'")
    lane: str | None = None
    frame_size: tuple[int, int] = Field(description="[width, height] of the decoded frame; zones must lie inside")
    zones: list[ZoneConfig] = Field(default_factory=list)
    rules: list[RuleName] | None = Field(None, description="rules run on this camera; None = every enabled rule")
    capture_lines: list[CaptureLineConfig] = Field(
        default_factory=list, description="checkpoint mode: a vehicle crossing one of these its way makes a pass record")
    calibration: CalibrationConfig | None = Field(None, description="road-plane calibration; rules then measure in metres")
    extra_detectors: list[str] = Field(
        default_factory=list, description="registry names of site models run beside models.detector on this camera "
        "(e.g. one trained on the site's footage with tricycle, tractor and e_bike classes); outputs merge into the "
        "domain classes with class-aware NMS (`epolice models add` registers one)"
    )
    heading_deg: float | None = Field(
        None, ge=0, lt=360, description="image direction traffic moves in (0 = right, 90 = down): rider roles use it "
        "while a track has not moved enough to have a heading of its own"
    )

    @field_validator("frame_size")
    @classmethod
    def _positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] <= 0 or value[1] <= 0:
            raise ValueError("width and height must be positive")
        return value

    @property
    def live(self) -> bool:
        return self.source.lower().startswith(LIVE_PREFIXES)

    @property
    def analysis_is_full(self) -> bool:
        """The analysis frames carry every pixel of ``frame_size`` (crops for heads and plates come from them)."""
        return self.detect_source is None and (self.analysis == "full" or tuple(self.analysis) == tuple(self.frame_size))

    def analysis_size(self, native: tuple[int, int] | None = None) -> tuple[int, int] | None:
        """The analysis frame size: ``analysis`` when given, ``frame_size`` when full; None for a
        sub-stream at its own size, known only once it is probed (``native``, scaled to the frame's shape)."""
        if self.analysis != "full":
            return (int(self.analysis[0]), int(self.analysis[1]))
        if self.detect_source is None:
            return (int(self.frame_size[0]), int(self.frame_size[1]))
        if native is None:
            return None
        w = int(native[0])
        return w, max(2, int(round(w * self.frame_size[1] / self.frame_size[0] / 2)) * 2)

    @model_validator(mode="after")
    def _analysis_fits(self) -> "CameraConfig":
        if self.analysis != "full":
            w, h = self.analysis
            if w < 32 or h < 32 or w % 2 or h % 2:
                raise ValueError(f"analysis: [{w}, {h}] must be even sizes of at least 32 px")
            if self.detect_source is None and (w > self.frame_size[0] or h > self.frame_size[1]):
                raise ValueError(f"analysis: [{w}, {h}] is larger than frame_size {list(self.frame_size)}; use `full`")
            if not same_aspect((w, h), self.frame_size):
                raise ValueError(f"analysis: [{w}, {h}] has another shape than frame_size {list(self.frame_size)} (zones would not map)")
        if self.detect_source is not None:
            if not self.detect_source.lower().startswith(LIVE_PREFIXES):
                raise ValueError("detect_source: must be an rtsp:// or rtsps:// URL (a camera's sub-stream)")
            if not self.live:
                raise ValueError("detect_source: only a live camera (source rtsp://) has a sub-stream; recorded files are analysed directly")
            if self.detect_source == self.source:
                raise ValueError("detect_source: is the same URL as source; leave it out to analyse the main stream")
        return self

    @model_validator(mode="after")
    def _zones_fit(self) -> "CameraConfig":
        w, h = self.frame_size
        seen: set[str] = set()
        for i, zone in enumerate(self.zones):
            if zone.id in seen:
                raise ValueError(f"zones.{i}.id: duplicate zone id {zone.id!r}")
            seen.add(zone.id)
            for j, (x, y) in enumerate(zone.polygon):
                if not (0 <= x <= w and 0 <= y <= h):
                    raise ValueError(f"zones.{i}.polygon.{j}: point ({x:g}, {y:g}) is outside the {w}x{h} frame")
            for k, lane in enumerate(zone.lanes):
                for part in ("polygon", "direction"):
                    for j, (x, y) in enumerate(getattr(lane, part)):
                        if not (0 <= x <= w and 0 <= y <= h):
                            raise ValueError(f"zones.{i}.lanes.{k}.{part}.{j}: point ({x:g}, {y:g}) is outside the {w}x{h} frame")
        if self.calibration is not None:
            self._calibration_fits()
        lines: set[str] = set()
        for i, line in enumerate(self.capture_lines):
            if line.id in lines:
                raise ValueError(f"capture_lines.{i}.id: duplicate line id {line.id!r}")
            lines.add(line.id)
            for j, (x, y) in enumerate(line.points):
                if not (0 <= x <= w and 0 <= y <= h):
                    raise ValueError(f"capture_lines.{i}.points.{j}: point ({x:g}, {y:g}) is outside the {w}x{h} frame")
        return self

    def _calibration_fits(self) -> None:
        w, h = self.frame_size
        for j, p in enumerate(self.calibration.points):
            x, y = p.image
            if not (0 <= x <= w and 0 <= y <= h):
                raise ValueError(f"calibration.points.{j}.image: point ({x:g}, {y:g}) is outside the {w}x{h} frame")
        hom = self.homography()
        for i, zone in enumerate(self.zones):
            for k, lane in enumerate(zone.lanes):
                ground = hom.to_ground(lane.direction)
                for j in np.nonzero(~np.all(np.isfinite(ground), axis=1))[0]:
                    raise ValueError(
                        f"zones.{i}.lanes.{k}.direction.{j}: point {tuple(lane.direction[j])} is above the calibrated horizon "
                        "(not on the road plane)"
                    )

    def homography(self) -> Homography | None:
        """The road-plane homography of this camera, or None when it is not calibrated."""
        return None if self.calibration is None else self.calibration.homography()

    def view(self) -> CameraView:
        """What the tracker hands every track history: frame size and calibration."""
        return CameraView(tuple(self.frame_size), self.homography())


class ModelsConfig(StrictModel):
    detector: str = Field("yolov5n_coco", description="registry name of the vehicle/person detector")
    helmet: str | None = Field("helmet_yolov12m", description="registry name of the helmet head detector; null = off")
    head_classifier: str | None = Field(
        None, description="registry name of a head classifier for head regions derived from person boxes "
        "(e.g. head_cls_cctv, trained by `epolice models train-head`); null = the helmet model reads them"
    )
    detector_conf: float = Field(0.25, gt=0, le=1)
    detector_iou: float = Field(0.45, gt=0, le=1)
    helmet_conf: float = Field(
        0.2, gt=0, le=1, description="helmet-model threshold: heads above it count as riders (the helmet rule has its own)"
    )


class EngineConfig(StrictModel):
    ring_seconds: float = Field(
        12.0, gt=0, description="how far back evidence of moving vehicles reaches (recorded footage is kept this long, plus the margin)"
    )
    footage_margin_s: float = Field(
        30.0, ge=0, description="recorded footage is kept this much longer than evidence needs (events waiting to be packaged)"
    )
    trail_interval_s: float = Field(1.0, gt=0, description="one long-term trail point (and kept panorama) this often")
    trail_keep_s: float | None = Field(
        None, gt=0, description="how long kept panoramas live; default: parking min_dwell_s + 60 s"
    )
    plate_crops: int = Field(3, ge=1, le=10, description="best vehicle crops kept per track for the plate reader")
    motion: MotionConfig = Field(default_factory=MotionConfig, description="skip detection on frames where nothing moves (batch and live)")
    detect_region: Literal["frame", "zones"] = Field(
        "frame", description="zones: on a camera whose rules all act in zones, detect only in the zones' bounding box (plus a margin)"
    )
    region_margin: float = Field(0.25, ge=0, le=2, description="the zones' bounding box grown by this share of its size on every side")
    riders: RiderAssociationConfig = Field(default_factory=RiderAssociationConfig)
    heads: HeadCropConfig = Field(default_factory=HeadCropConfig, description="how rider crops are shown to the helmet model")
    judge: HeadJudgeConfig = Field(default_factory=HeadJudgeConfig, description="when a head can be judged; heads from person boxes")


def _registered(path: str, names: object) -> None:
    for i, name in enumerate(names):
        if name not in RULE_NAMES:
            where = f"{path}.{i}" if isinstance(names, list) else f"{path}.{name}"
            raise ValueError(f"{where}: unknown rule {name!r}; expected one of {', '.join(RULE_NAMES)}")


def evidence_with_rules(evidence: EvidenceConfig) -> EvidenceConfig:
    """Codes name registered rules; rules the site does not set get the registry's default row."""
    _registered("evidence.codes", evidence.codes)
    return evidence.model_copy(update={"codes": {**default_codes(), **evidence.codes}})


def review_with_rules(review: ReviewConfig, prefix: str = "") -> ReviewConfig:
    """Review rule lists name registered rules; display labels come from the registry unless set."""
    _registered(f"{prefix}second_review_rules", review.second_review_rules)
    _registered(f"{prefix}rule_labels", review.rule_labels)
    labels = rule_labels()
    labels.update({k: {**labels[k], **v} for k, v in review.rule_labels.items()})
    return review.model_copy(update={"rule_labels": labels})


class SiteConfig(StrictModel):
    id: str = Field(min_length=1, description="site identifier, stamped on every record")
    name: str = ""
    location: Location = Field(default_factory=Location)
    timezone: TimeZoneName = Field("Asia/Shanghai", description="IANA zone for time windows and the evidence clock")
    cameras: list[CameraConfig] = Field(min_length=1)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    plates: PlateReaderConfig = Field(
        default_factory=PlateReaderConfig,
        description="plate double reading; local_province (e.g. 浙) breaks ties between unsure province reads",
    )
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    passes: PassesConfig = Field(default_factory=PassesConfig, description="checkpoint mode: pass pictures and retention")
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig, description="watchlist matching, clones, alerts")

    @model_validator(mode="after")
    def _unique_cameras(self) -> "SiteConfig":
        seen: set[str] = set()
        for i, cam in enumerate(self.cameras):
            if cam.id in seen:
                raise ValueError(f"cameras.{i}.id: duplicate camera id {cam.id!r}")
            seen.add(cam.id)
        return self

    @model_validator(mode="after")
    def _heads_at_full_resolution(self) -> "SiteConfig":
        for i, cam in enumerate(self.cameras):
            heads = [s.name for s in self.specs_for(cam) if s.needs_heads]
            if heads and self.models.helmet and not cam.analysis_is_full:
                field = "detect_source" if cam.detect_source is not None else "analysis"
                raise ValueError(
                    f"cameras.{i}.{field}: the {', '.join(heads)} rule reads rider heads at the camera's full resolution; "
                    f"analyse the main stream at full size (analysis: full, no detect_source) or drop the rule from this camera"
                )
            if cam.capture_lines and not cam.analysis_is_full:  # pass pictures are the frame of the crossing
                field = "detect_source" if cam.detect_source is not None else "analysis"
                raise ValueError(
                    f"cameras.{i}.{field}: capture lines take the pass pictures from the analysed frame at the camera's full "
                    f"resolution; analyse the main stream at full size (analysis: full, no detect_source) or drop the capture lines"
                )
        return self

    @model_validator(mode="after")
    def _rule_tables(self) -> "SiteConfig":
        self.evidence = evidence_with_rules(self.evidence)
        self.review = review_with_rules(self.review, prefix="review.")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(f"site {self.id!r} has no camera {camera_id!r}; cameras: {[c.id for c in self.cameras]}")

    def zones_for(self, camera: CameraConfig) -> list[Zone]:
        hom = camera.homography()
        return [z.to_zone(self.tz, hom) for z in camera.zones]

    def rules_for(self, camera: CameraConfig) -> set[str]:
        return {spec.name for spec in self.specs_for(camera)}

    def specs_for(self, camera: CameraConfig) -> tuple[RuleSpec, ...]:
        """The registered rules this camera runs, in registry order: enabled, and chosen by the camera."""
        chosen = set(RULE_NAMES if camera.rules is None else camera.rules)
        return tuple(s for s in RULES if s.name in chosen and getattr(self.rules, s.name).enabled)

    def rule_config(self, name: str):  # noqa: ANN201 - the rule's own config model
        return getattr(self.rules, name)

    def footage_keep_s(self, camera: CameraConfig) -> float:
        """How long a camera's recorded footage must reach back: the evidence window of its rules
        (moving: ``ring_seconds``; stationary: ``trail_keep_s`` for parking's first panorama), the
        clip, plus the margin."""
        eng, ev = self.engine, self.evidence
        window = max(eng.ring_seconds, ev.clip_before_s + ev.clip_after_s)
        if any(spec.on_trail_tick for spec in self.specs_for(camera)):
            window = max(window, self.trail_keep_s)
        return window + eng.footage_margin_s

    @property
    def trail_keep_s(self) -> float:
        """How long kept panoramas of a parking dwell live (default: parking min_dwell_s + 60 s)."""
        eng = self.engine
        return eng.trail_keep_s if eng.trail_keep_s is not None else self.rules.parking.min_dwell_s + 60.0


def _describe(err: dict) -> str:
    """One line per pydantic error: dotted field path, then what was wrong/expected."""
    loc = [str(p) for p in err["loc"]]
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    # validators on a parent report a sub-path first ("zones.1.polygon.3: ...")
    head, sep, rest = msg.partition(": ")
    if sep and re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*", head):
        loc += head.split(".")
        msg = rest
    if err["type"] == "extra_forbidden":
        if loc[:1] == ["rules"] and len(loc) == 2:
            msg = f"unknown rule {loc[1]!r}; expected one of {', '.join(RULE_NAMES)}"
        else:
            msg = "unknown field (check the spelling; see the documented site file fields)"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "literal_error" and "expected" in err.get("ctx", {}):
        msg = f"got {err.get('input')!r}; expected {err['ctx']['expected']}"
    path = ".".join(loc) or "(top level)"
    return f"{path}: {msg}"


def parse_site(data: object, source: str = "<site>") -> SiteConfig:
    """Validate already-parsed YAML; errors are collected into one readable SiteConfigError."""
    if not isinstance(data, dict):
        raise SiteConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors()]
        raise SiteConfigError(f"{source}: " + ("\n  ".join(lines) if len(lines) == 1 else "\n  " + "\n  ".join(lines))) from None


def load_site(path: str | Path) -> SiteConfig:
    """Read and validate a site file; raises SiteConfigError naming the file and every bad field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SiteConfigError(f"{path}: cannot read site file ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SiteConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_site(data, str(path))
