"""Road geometry in the site file: zones with their directional lanes, and the road-plane
calibration (image points with their positions in metres, fitted and checked at load time)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
from pydantic import Field, field_validator, model_validator

from models.strict import StrictModel
from pipelines.rules.base import TimeWindow, Zone
from pipelines.rules.lanes import Lane
from pipelines.rules.registry import ZoneKind
from vision.calibration import CalibrationError, Homography
from vision.geometry import Polygon


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
