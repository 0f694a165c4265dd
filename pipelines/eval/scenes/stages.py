"""Where scenes are played: a real clip's emptied background, a camera fitted to its road, and the road's layout.

The street camera was fitted by hand to ``street_parking_a.mp4``: the left kerb and the lane line
beside it are the ground lines X = 0 and X = 4 m; the fitted camera stands 3 m up, 1.1 m left of
the kerb, looking 10 degrees right of the road's axis and 5.6 degrees down. The lot camera looks
steeply down on ``parking_lot_lane.mp4``. Lanes, zones and calibration points are laid out in metres
and projected into the image, so a site file for the scene follows from the stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipelines.eval.scenes.camera import PinholeCamera


@dataclass(frozen=True)
class GroundLane:
    id: str
    x: tuple[float, float]  # across the road, metres
    heading: float  # direction of travel on the ground: 90 = away from the camera (+Y), 270 = towards it


@dataclass(frozen=True)
class Stage:
    name: str
    video: str  # file name in ../shared/data/videos
    camera: PinholeCamera
    lanes: tuple[GroundLane, ...]
    span: tuple[float, float]  # Y range of the road the zones cover, metres
    road_x: tuple[float, float]  # X range of the no-U-turn zone
    curb: tuple[tuple[float, float], tuple[float, float]]  # no-parking zone: X range, Y range
    calibration: tuple[tuple[float, float], ...]  # ground points (metres) whose image points calibrate the site

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.camera.width, self.camera.height

    def to_image(self, points) -> np.ndarray:
        return self.camera.project([(x, y, 0.0) for x, y in points])

    def polygon(self, xs: tuple[float, float], ys: tuple[float, float]) -> list[list[float]]:
        """A ground rectangle as an image polygon clipped to the frame (vertices rounded to 0.1 px)."""
        y0, y1 = ys
        pts = self.to_image([(xs[0], y0), (xs[1], y0), (xs[1], y1), (xs[0], y1)]).astype(np.float32)
        w, h = self.frame_size
        frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        _, clipped = cv2.intersectConvexConvex(pts, frame)
        if clipped is None or len(clipped) < 3:
            raise ValueError(f"ground rectangle {xs} x {ys} is not in view of stage {self.name}")
        out = [[round(min(max(float(x), 0.0), w), 1), round(min(max(float(y), 0.0), h), 1)] for x, y in clipped.reshape(-1, 2)]
        return out

    def flow(self, lane: GroundLane, n: int = 6) -> list[list[float]]:
        """The lane's centre line in the image, in its direction of travel (points inside the frame)."""
        c = (lane.x[0] + lane.x[1]) / 2
        ys = np.linspace(self.span[0], self.span[1], 40)
        if lane.heading > 180:
            ys = ys[::-1]
        pts = self.to_image([(c, y) for y in ys])
        w, h = self.frame_size
        inside = [p for p in pts if 0 <= p[0] <= w and 0 <= p[1] <= h]
        idx = np.linspace(0, len(inside) - 1, min(n, len(inside))).round().astype(int)
        return [[round(float(inside[i][0]), 1), round(float(inside[i][1]), 1)] for i in idx]

    def zones(self) -> list[dict]:
        """The site file's zones: one no-U-turn zone over the road carrying the lanes, one no-parking kerb."""
        lanes = [
            {"id": lane.id, "polygon": self.polygon(lane.x, self.span), "direction": self.flow(lane)} for lane in self.lanes
        ]
        return [
            {"id": "road", "kind": "no_u_turn", "polygon": self.polygon(self.road_x, self.span), "lanes": lanes},
            {"id": "kerb", "kind": "no_parking", "polygon": self.polygon(*self.curb)},
        ]

    def calibration_points(self) -> list[dict]:
        img = self.to_image(self.calibration)
        return [
            {"image": [round(float(u), 1), round(float(v), 1)], "ground": [float(x), float(y)]}
            for (u, v), (x, y) in zip(img, self.calibration)
        ]


STREET = Stage(
    name="street",
    video="street_parking_a.mp4",
    camera=PinholeCamera(640, 352, 600.0, (-1.087, 0.0, 2.964), 80.063, 5.570),
    lanes=(
        GroundLane("S1", (0.0, 3.5), 270.0),
        GroundLane("S2", (3.5, 7.0), 270.0),
        GroundLane("N1", (7.0, 10.5), 90.0),
        GroundLane("N2", (10.5, 14.0), 90.0),
    ),
    span=(8.5, 34.0),  # beyond ~36 m the clip's own parked cars stand on the far side of the road
    road_x=(-0.5, 14.5),
    curb=((0.0, 2.6), (18.0, 30.0)),
    # kerb and lane-line marks a person would pick on the frame: near and far ends of three lines
    calibration=((0.0, 10.0), (4.0, 10.0), (0.0, 35.0), (4.0, 35.0), (7.0, 15.0), (7.0, 30.0)),
)

LOT = Stage(
    name="lot",
    video="parking_lot_lane.mp4",
    # the clip looks straight down from close by; a camera 8 m up looking 30 degrees down is assumed
    # instead, so the (side-on) vehicle crops look like vehicles; the asphalt is only a backdrop
    camera=PinholeCamera(768, 432, 600.0, (0.0, 0.0, 8.0), 90.0, 30.0),
    lanes=(GroundLane("out", (-5.0, 0.0), 270.0), GroundLane("in", (0.0, 5.0), 90.0)),
    span=(8.0, 30.0),
    road_x=(-5.5, 5.5),
    curb=((-8.0, -5.5), (12.0, 20.0)),
    calibration=((-4.0, 9.0), (4.0, 9.0), (-4.0, 25.0), (4.0, 25.0)),
)

STAGES = {s.name: s for s in (STREET, LOT)}
