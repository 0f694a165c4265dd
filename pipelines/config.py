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

from pathlib import Path
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
from pipelines.rules.base import RuleSpec, TimeWindow, Zone
from pipelines.rules.lanes import Lane
from pipelines.rules.registry import RULE_NAMES, RULES, RuleName, RulesConfig, ZoneKind, default_codes, rule_labels
from vision.calibration import CalibrationError, CameraView, Homography
from vision.geometry import Polygon
from vision.heads import HeadJudgeConfig
from vision.plates.reader import PlateReaderConfig
from vision.riders import HeadCropConfig, RiderAssociationConfig
from vision.tracker import TrackerConfig


class SiteConfigError(ValueError):
    """A site file that cannot be used; the message names each bad field and what was expected."""


class Location(StrictModel):
    address: str = ""
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


def _simple_polygon(value: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(value) < 3:
        raise ValueError(f"a polygon needs at least 3 [x, y] points, got {len(value)}")
    poly = Polygon.of(value)
    crossing = poly.self_intersection()
    if crossing is not None:
        i, j = crossing
        raise ValueError(f"polygon is self-intersecting (edge {i} crosses edge {j}); list the vertices in order")
    if poly.area <= 0:
        raise ValueError("polygon has zero area")
    return value


class LaneConfig(StrictModel):
    id: str = Field(min_length=1)
    polygon: list[tuple[float, float]] = Field(description="the lane's area in image pixels")
    direction: list[tuple[float, float]] = Field(
        description="the lane's centre line in the direction of travel, image pixels (at least 2 points)"
    )

    _simple = field_validator("polygon")(_simple_polygon)

    @field_validator("direction")
    @classmethod
    def _line(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(value) < 2:
            raise ValueError(f"a direction line needs at least 2 [x, y] points in the direction of travel, got {len(value)}")
        for i, (a, b) in enumerate(zip(value, value[1:])):
            if a == b:
                raise ValueError(f"points {i} and {i + 1} are the same; a direction needs distinct points")
        return value


class ZoneConfig(StrictModel):
    id: str = Field(min_length=1)
    kind: ZoneKind
    polygon: list[tuple[float, float]] = Field(description="vertices in image pixels of the camera's frame")
    allowed: list[TimeWindow] = Field(
        default_factory=list, description="times when the restricted act is allowed (e.g. night parking)"
    )
    lanes: list[LaneConfig] = Field(default_factory=list, description="directional lanes (U-turn by lanes, wrong-way)")

    _simple = field_validator("polygon")(_simple_polygon)

    @model_validator(mode="after")
    def _lane_ids(self) -> "ZoneConfig":
        ids = [lane.id for lane in self.lanes]
        for i, lane_id in enumerate(ids):
            if lane_id in ids[:i]:
                raise ValueError(f"lanes.{i}.id: duplicate lane id {lane_id!r}")
        return self

    def to_zone(self, tz: ZoneInfo, homography: Homography | None = None) -> Zone:
        lanes = tuple(
            Lane(
                lane.id, Polygon.of(lane.polygon), np.asarray(lane.direction, dtype=np.float64),
                None if homography is None else homography.to_ground(lane.direction),
            )
            for lane in self.lanes
        )
        return Zone(self.id, self.kind, Polygon.of(self.polygon), tuple(self.allowed), tz, lanes)


class CalibrationPoint(StrictModel):
    image: tuple[float, float] = Field(description="[x, y] pixel in the camera's frame")
    ground: tuple[float, float] = Field(description="[x, y] position of the same spot on the road, metres")


class CalibrationConfig(StrictModel):
    """Road-plane calibration: at least 4 image points (no three on a line) with their positions in metres."""

    max_error_px: float = Field(3.0, gt=0, description="largest allowed rms reprojection error, pixels")
    points: list[CalibrationPoint] = Field(description="image points and their road positions in metres")

    @field_validator("points")
    @classmethod
    def _fits(cls, value: list[CalibrationPoint], info) -> list[CalibrationPoint]:  # noqa: ANN001
        try:
            hom = Homography.fit([p.image for p in value], [p.ground for p in value])
        except CalibrationError as exc:
            raise ValueError(str(exc)) from None
        err = hom.reprojection_error([p.image for p in value], [p.ground for p in value])
        limit = info.data.get("max_error_px", 3.0)
        if err.rms_px > limit:
            raise ValueError(
                f"reprojection error {err.rms_px:.1f} px rms exceeds max_error_px {limit:g} (worst: point {err.worst}, "
                f"{err.max_px:.1f} px); one of the points' image or ground position is wrong"
            )
        return value

    def homography(self) -> Homography:
        return Homography.fit([p.image for p in self.points], [p.ground for p in self.points])


class CameraConfig(StrictModel):
    id: str = Field(min_length=1)
    source: str = Field(min_length=1, description="file path or rtsp:// URL")
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
    ring_seconds: float = Field(12.0, gt=0, description="recent frames kept in full for evidence (per camera)")
    trail_interval_s: float = Field(1.0, gt=0, description="one long-term trail point (and kept panorama) this often")
    trail_keep_s: float | None = Field(
        None, gt=0, description="how long kept panoramas live; default: parking min_dwell_s + 60 s"
    )
    plate_crops: int = Field(3, ge=1, le=10, description="best vehicle crops kept per track for the plate reader")
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


def _describe(err: dict) -> str:
    """One line per pydantic error: dotted field path, then what was wrong/expected."""
    loc = [str(p) for p in err["loc"]]
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    # validators on a parent report a sub-path first ("zones.1.polygon.3: ...")
    head, sep, rest = msg.partition(": ")
    if sep and " " not in head and "." in head:
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
