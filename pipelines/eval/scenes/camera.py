"""A pinhole camera over a flat road, for rendering scenes with ground truth in metres.

The scene suite places vehicles on the road plane (metres) and needs where they appear in the
image: the box a vehicle of given length, width and height makes at a position and heading
(the box's shape changes as it turns, as a real one does), and the homography of the road plane,
from which a scene's calibration points are taken. Ground frame: X to the right of the road's
axis, Y along it away from the camera, Z up; headings in degrees, 0 = +X, 90 = +Y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PinholeCamera:
    width: int
    height: int
    focal_px: float
    position: tuple[float, float, float]  # (X, Y, Z) metres; Z is the mounting height
    yaw_deg: float  # azimuth of the optical axis on the ground (0 = +X, 90 = +Y)
    pitch_deg: float  # tilt below the horizon
    roll_deg: float = 0.0

    @property
    def rotation(self) -> np.ndarray:
        """World -> camera rotation (camera x right, y down, z forward)."""
        yaw, pitch = math.radians(self.yaw_deg), math.radians(self.pitch_deg)
        fwd = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), -math.sin(pitch)])
        right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
        down = np.cross(fwd, right)
        r = np.stack([right, down, fwd])
        if self.roll_deg:
            c, s = math.cos(math.radians(self.roll_deg)), math.sin(math.radians(self.roll_deg))
            r = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ r
        return r

    @property
    def k(self) -> np.ndarray:
        return np.array([[self.focal_px, 0, self.width / 2.0], [0, self.focal_px, self.height / 2.0], [0, 0, 1]])

    def project(self, points3d) -> np.ndarray:
        """(N, 3) world metres -> (N, 2) pixels; NaN for points behind the camera."""
        p = np.asarray(points3d, dtype=np.float64).reshape(-1, 3) - np.asarray(self.position)
        c = p @ self.rotation.T
        z = c[:, 2:3]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (c[:, :2] / z) * self.focal_px + np.array([self.width / 2.0, self.height / 2.0])
        uv[z[:, 0] <= 0.05] = np.nan
        return uv

    def ground_to_image(self) -> np.ndarray:
        """3x3 homography road (X, Y) -> image pixels; its w is the depth (positive in front of the camera)."""
        r = self.rotation
        t = -r @ np.asarray(self.position)
        return self.k @ np.c_[r[:, 0], r[:, 1], t]

    def image_to_ground(self) -> np.ndarray:
        """3x3 homography image pixels -> road (X, Y); w is positive below the horizon."""
        return np.linalg.inv(self.ground_to_image())

    def depth(self, x: float, y: float) -> float:
        """Distance along the optical axis of a ground point (for painting far vehicles first)."""
        p = np.array([x, y, 0.0]) - np.asarray(self.position)
        return float((self.rotation @ p)[2])

    def vehicle_box(
        self, x: float, y: float, heading_deg: float, size: tuple[float, float, float]
    ) -> tuple[float, float, float, float] | None:
        """Image bounding box (xyxy) of a vehicle cuboid (length, width, height metres) centred at (x, y)."""
        length, width, height = size
        h = math.radians(heading_deg)
        fwd = np.array([math.cos(h), math.sin(h)]) * length / 2
        side = np.array([-math.sin(h), math.cos(h)]) * width / 2
        corners = []
        for a in (-1, 1):
            for b in (-1, 1):
                gx, gy = np.array([x, y]) + a * fwd + b * side
                corners += [(gx, gy, 0.0), (gx, gy, height)]
        uv = self.project(corners)
        if np.isnan(uv).any():
            return None
        return float(uv[:, 0].min()), float(uv[:, 1].min()), float(uv[:, 0].max()), float(uv[:, 1].max())
