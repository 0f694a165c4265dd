"""Checking a camera's calibration by eye: the road grid, zones and lanes drawn over a real frame.

A calibration is right when the 1 m and 5 m grid lies flat on the road: lane lines run along grid
lines, a lane is as wide as the grid says, and grid squares stay square as they recede. The picture
also marks each calibration point (circle: where it was clicked; cross: where its road position
lands through the fitted homography) and the horizon. ``report`` gives the numbers the command
prints: the reprojection error and how many metres one pixel covers near and far.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipelines.config import CameraConfig, SiteConfig
from vision.calibration import Homography

GRID_1M = (90, 200, 90)
GRID_5M = (40, 255, 40)
HORIZON = (255, 255, 255)
POINT = (255, 60, 200)
KIND_COLORS = {"no_parking": (255, 80, 80), "no_u_turn": (255, 200, 0), "road": (80, 160, 255)}
LANE_COLOR = (0, 230, 255)
MIN_SPACING_PX = {1.0: 7.0, 5.0: 5.0}  # grid lines closer than this (toward the horizon) are left out


@dataclass(frozen=True)
class CalibrationReport:
    points: int
    rms_px: float
    max_px: float
    worst: int
    max_m: float
    near: tuple[float, float]  # image point where "near" is measured (bottom centre)
    near_mpp: tuple[float, float] | None  # metres per pixel (across, along) there
    far: tuple[float, float]  # image point where "far" is measured (the farthest calibration point)
    far_mpp: tuple[float, float] | None
    horizon_y: float | None

    def lines(self) -> list[str]:
        def mpp(v):  # noqa: ANN001, ANN202
            return "beyond the horizon" if v is None else f"{v[0]:.3f} m across, {v[1]:.3f} m along"

        out = [
            f"calibration points: {self.points}",
            f"reprojection error: {self.rms_px:.2f} px rms, worst {self.max_px:.2f} px (point {self.worst}); "
            f"{self.max_m:.2f} m on the road",
            f"metres per pixel near (x={self.near[0]:.0f}, y={self.near[1]:.0f}): {mpp(self.near_mpp)}",
            f"metres per pixel far  (x={self.far[0]:.0f}, y={self.far[1]:.0f}): {mpp(self.far_mpp)}",
        ]
        if self.horizon_y is not None:
            out.append(f"horizon at y = {self.horizon_y:.0f} (image rows above it are not on the road)")
        return out


def report(camera: CameraConfig) -> CalibrationReport:
    """The numbers of a calibrated camera (raises ValueError when it has no calibration)."""
    if camera.calibration is None:
        raise ValueError(f"camera {camera.id!r} has no calibration: add cameras.N.calibration.points to the site file")
    hom = camera.homography()
    assert hom is not None
    img = [p.image for p in camera.calibration.points]
    err = hom.reprojection_error(img, [p.ground for p in camera.calibration.points])
    w, h = camera.frame_size
    near = (w / 2.0, h - 1.0)
    far = min(img, key=lambda p: p[1])  # the far edge of the calibrated area
    return CalibrationReport(
        len(img), err.rms_px, err.max_px, err.worst, err.max_m, near, hom.metres_per_pixel(*near),
        (float(far[0]), float(far[1])), hom.metres_per_pixel(*far), hom.horizon_y(w),
    )


def camera_frame(camera: CameraConfig, at_s: float = 0.0, timeout_s: float = 10.0) -> np.ndarray:
    """One real frame of the camera, at its configured frame size: from the file at ``at_s``, or the stream."""
    size = tuple(camera.frame_size)
    if camera.source.startswith(("rtsp://", "rtsps://")):
        from vision.sources.rtsp import RtspSource

        src = RtspSource(camera.id, camera.source, size=size).start()
        try:
            frame = src.frames.get(timeout=timeout_s)
        finally:
            src.stop()
        if frame is None:
            raise ValueError(f"no frame from camera {camera.id!r} within {timeout_s:g} s")
        return frame.image
    from vision.sources.file import FileSource

    for frame in FileSource(camera.source, camera.id, size=size, start_seconds=at_s or None, hwaccel="none").frames():
        return frame.image
    raise ValueError(f"{camera.source}: no frame at {at_s:g} s")


def _font(site: SiteConfig, size: int) -> ImageFont.ImageFont:
    from evidence.composite import FontError, load_font

    try:
        return load_font(Path(site.evidence.font_path), site.evidence.font_face, size)
    except FontError:
        return ImageFont.load_default()


def _ground_extent(camera: CameraConfig) -> tuple[float, float, float, float]:
    """Road area to grid: around the calibration points (beyond them the calibration is a guess)."""
    a = np.asarray([p.ground for p in camera.calibration.points], dtype=np.float64)  # type: ignore[union-attr]
    lo, hi = np.floor(a.min(axis=0)) - 5, np.ceil(a.max(axis=0)) + 5
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def _grid_line(hom: Homography, a: tuple[float, float], b: tuple[float, float], spacing_m: float, size) -> list[list[tuple]]:
    """Image polylines of the ground segment a-b, cut where it leaves the frame or the grid gets too dense."""
    n = 200
    g = np.linspace(a, b, n)
    img = hom.to_image(g)
    side = np.array([b[1] - a[1], a[0] - b[0]], dtype=np.float64)
    side = side / max(np.linalg.norm(side), 1e-9) * spacing_m
    img_side = hom.to_image(g + side)
    spacing = np.linalg.norm(img_side - img, axis=1)
    w, h = size
    ok = np.all(np.isfinite(img), axis=1) & (spacing >= MIN_SPACING_PX[spacing_m])
    ok &= (img[:, 0] >= -w) & (img[:, 0] <= 2 * w) & (img[:, 1] >= -h) & (img[:, 1] <= 2 * h)
    runs, cur = [], []
    for keep, p in zip(ok, img):
        if keep:
            cur.append((float(p[0]), float(p[1])))
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return [r for r in runs if len(r) >= 2]


def draw(site: SiteConfig, camera: CameraConfig, frame: np.ndarray, scale: float | None = None) -> Image.Image:
    """The frame (BGR) with the ground grid, horizon, calibration points, zones and lanes drawn on it."""
    hom = camera.homography()
    if hom is None:
        raise ValueError(f"camera {camera.id!r} has no calibration")
    h0, w0 = frame.shape[:2]
    s = scale if scale is not None else (2.0 if w0 < 1280 else 1.0)  # small frames are enlarged so labels stay legible
    base = cv2.resize(frame, (round(w0 * s), round(h0 * s)), interpolation=cv2.INTER_CUBIC) if s != 1 else frame
    dim = (base.astype(np.float32) * 0.75).astype(np.uint8)  # a darker frame lets the lines stand out
    img = Image.fromarray(cv2.cvtColor(dim, cv2.COLOR_BGR2RGB))
    draw_ = ImageDraw.Draw(img, "RGBA")
    font = _font(site, max(12, round(13 * s)))
    small = _font(site, max(10, round(10 * s)))

    def px(points):  # noqa: ANN001, ANN202
        return [(x * s, y * s) for x, y in points]

    x0, y0, x1, y1 = _ground_extent(camera)
    labels: list[float] = []
    for step, color, width in ((1.0, GRID_1M + (110,), 1), (5.0, GRID_5M + (230,), 2)):
        for x in np.arange(np.ceil(x0 / step) * step, x1 + 1e-6, step):
            if step == 1.0 and x % 5 == 0:
                continue
            for run in _grid_line(hom, (x, y0), (x, y1), step, (w0, h0)):
                draw_.line(px(run), fill=color, width=width)
                bx, by = max(run, key=lambda p: p[1] if 0 <= p[0] <= w0 and p[1] <= h0 else -1)
                if step == 5.0 and 0 <= bx <= w0 and 0 <= by <= h0:
                    draw_.text((bx * s + 3, min(by, h0 - 1) * s - 3 - small.size), f"x {x:g} m", font=small, fill=GRID_5M + (255,))
        for y in np.arange(np.ceil(y0 / step) * step, y1 + 1e-6, step):
            if step == 1.0 and y % 5 == 0:
                continue
            for run in _grid_line(hom, (x0, y), (x1, y), step, (w0, h0)):
                draw_.line(px(run), fill=color, width=width)
                lx, ly = min(run, key=lambda p: abs(p[0] - w0 * 0.02))
                # distance labels on the 5 m lines, where they do not crowd each other
                if step == 5.0 and 0 <= ly <= h0 and all(abs(ly * s - o) > small.size + 2 for o in labels):
                    labels.append(ly * s)
                    draw_.text((max(lx, 0) * s + 3, ly * s - 2 - small.size), f"{y:g} m", font=small, fill=GRID_5M + (255,))
    hy = hom.horizon_y(w0)
    if hy is not None and 0 <= hy <= h0:
        for xs in range(0, round(w0 * s), 16):
            draw_.line([(xs, hy * s), (xs + 8, hy * s)], fill=HORIZON + (200,), width=1)
        draw_.text((4, hy * s + 2), "horizon", font=small, fill=HORIZON + (255,))
    _draw_zones(draw_, camera, px, font, small, s)
    _draw_points(draw_, camera, hom, px, small, s)
    rep = report(camera)
    legend = [
        f"{camera.id}: road grid every 1 m (thin) and 5 m (bold)",
        rep.lines()[1].split(";")[0],
        "points: circle = clicked, cross = fitted",
        "zones: no_u_turn orange, no_parking red, road blue; lanes cyan, arrow = direction",
    ]
    box_w = max(draw_.textlength(t, font=small) for t in legend) + 12
    box_h = len(legend) * (small.size + 4) + 8
    draw_.rectangle([0, 0, box_w, box_h], fill=(0, 0, 0, 170))
    for i, text in enumerate(legend):
        draw_.text((6, 4 + i * (small.size + 4)), text, font=small, fill=(255, 255, 255, 255))
    return img


def _draw_zones(draw_: ImageDraw.ImageDraw, camera: CameraConfig, px, font, small, s: float) -> None:  # noqa: ANN001
    for zone in camera.zones:
        color = KIND_COLORS.get(zone.kind, (255, 255, 255))
        poly = px(zone.polygon)
        draw_.polygon(poly, outline=color + (255,), fill=color + (28,), width=max(2, round(1.5 * s)))
        tx, ty = min(poly, key=lambda p: (p[1], p[0]))
        draw_.text((tx + 4, ty + 2), f"{zone.id} ({zone.kind})", font=font, fill=color + (255,))
        for lane in zone.lanes:
            draw_.polygon(px(lane.polygon), outline=LANE_COLOR + (160,), width=1)
            line = px(lane.direction)
            draw_.line(line, fill=LANE_COLOR + (255,), width=max(2, round(s)))
            _arrowhead(draw_, line[-2], line[-1], 7 * s)
            mx, my = line[len(line) // 2]
            draw_.text((mx + 4, my - small.size), lane.id, font=small, fill=LANE_COLOR + (255,))


def _arrowhead(draw_: ImageDraw.ImageDraw, a, b, size: float) -> None:  # noqa: ANN001
    d = np.array(b, dtype=np.float64) - np.array(a, dtype=np.float64)
    n = float(np.linalg.norm(d))
    if n < 1e-6:
        return
    u = d / n
    base = np.array(b) - size * u
    left, right = base + 0.6 * size * np.array([-u[1], u[0]]), base - 0.6 * size * np.array([-u[1], u[0]])
    draw_.polygon([tuple(b), tuple(left), tuple(right)], fill=LANE_COLOR + (255,))


def _draw_points(draw_: ImageDraw.ImageDraw, camera: CameraConfig, hom: Homography, px, small, s: float) -> None:  # noqa: ANN001
    points = camera.calibration.points  # type: ignore[union-attr]
    back = hom.to_image([p.ground for p in points])
    r = 5 * s
    for i, (p, q) in enumerate(zip(points, back)):
        (x, y), = px([p.image])
        draw_.ellipse([x - r, y - r, x + r, y + r], outline=POINT + (255,), width=2)
        if np.all(np.isfinite(q)):
            (qx, qy), = px([tuple(q)])
            draw_.line([(qx - r, qy), (qx + r, qy)], fill=POINT + (255,), width=2)
            draw_.line([(qx, qy - r), (qx, qy + r)], fill=POINT + (255,), width=2)
            draw_.line([(x, y), (qx, qy)], fill=POINT + (255,), width=1)
        draw_.text((x + r + 2, y + 2), f"{i}: ({p.ground[0]:g}, {p.ground[1]:g}) m", font=small, fill=POINT + (255,))
