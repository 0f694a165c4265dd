"""Road-plane calibration (synthetic): the homography from points, its checks, and ground positions,
headings and speeds in the track history."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.eval.scenes.camera import PinholeCamera
from pipelines.eval.scenes.paths import PathBuilder
from pipelines.eval.scenes.render import GroundVehicle
from pipelines.eval.scenes.stages import LOT, STREET
from vision.calibration import CalibrationError, CameraView, Homography, box_scale_ground, general_position
from vision.geometry import angle_diff
from vision.track_history import TrackHistory

CAMERAS = {
    "street": STREET.camera,  # low and looking along the road: strong perspective
    "lot": LOT.camera,
    "steep": PinholeCamera(1920, 1080, 1400.0, (0.0, 0.0, 12.0), 90.0, 55.0),
    "panned_rolled": PinholeCamera(1280, 720, 900.0, (2.0, -3.0, 6.0), 70.0, 15.0, roll_deg=3.0),
}
GROUND = [(-2.0, 12.0), (6.0, 12.0), (-2.0, 30.0), (6.0, 30.0), (2.0, 20.0)]


def fitted(camera: PinholeCamera, ground=GROUND) -> tuple[Homography, np.ndarray]:
    img = camera.project([(x, y, 0.0) for x, y in ground])
    return Homography.fit(img, ground), img


@pytest.mark.parametrize("name", list(CAMERAS))
def test_homography_synthetic_round_trip(name):
    camera = CAMERAS[name]
    hom, img = fitted(camera)
    assert hom.reprojection_error(img, GROUND).rms_px < 1e-6
    probe = [(0.0, 15.0), (4.0, 25.0), (-1.0, 18.5)]
    got = hom.to_ground(camera.project([(x, y, 0.0) for x, y in probe]))
    assert np.allclose(got, probe, atol=1e-6)
    assert np.allclose(hom.to_image(probe), camera.project([(x, y, 0.0) for x, y in probe]), atol=1e-6)


def test_homography_synthetic_noisy_points_report_their_error():
    hom, img = fitted(STREET.camera)
    noisy = img + np.array([[0.8, -0.5], [0.0, 0.6], [-0.7, 0.0], [0.3, 0.4], [0.0, -0.9]])
    err = Homography.fit(noisy, GROUND).reprojection_error(noisy, GROUND)
    assert 0.1 < err.rms_px < 1.0 and 0 <= err.worst < len(GROUND) and err.max_m > 0


@pytest.mark.parametrize(
    "image, ground, message",
    [
        ([(0, 0), (10, 0), (0, 10)], [(0, 0), (1, 0), (0, 1)], "at least 4 points"),
        ([(0, 0), (10, 0), (20, 0), (30, 0)], [(0, 0), (1, 0), (0, 1), (1, 1)], "image points are (nearly) collinear"),
        ([(0, 0), (10, 0), (0, 10), (10, 10)], [(0, 0), (1, 0), (2, 0), (3, 0)], "ground points are (nearly) collinear"),
        ([(0, 0), (10, 0), (20, 0.1), (0, 10)], [(0, 0), (1, 0), (2, 0), (0, 1)], "collinear"),  # three on one line
        ([(0, 0), (10, 0), (0, 10), (10, 10)], [(0, 0), (1, 0), (0, 1)], "4 image points but 3 ground points"),
    ],
)
def test_homography_synthetic_bad_points(image, ground, message):
    with pytest.raises(CalibrationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Homography.fit(image, ground)


def test_homography_synthetic_general_position():
    assert general_position([(0, 0), (1, 0), (2, 0), (0, 1), (1, 1)]) is not None
    assert general_position([(0, 0), (1, 0), (2, 0), (3, 0), (1, 1)]) is None


def test_homography_synthetic_sky_has_no_ground_and_scale_grows_with_distance():
    hom, _ = fitted(STREET.camera)
    horizon = hom.horizon_y(640)
    assert horizon is not None and 0 < horizon < 176
    assert np.isnan(hom.to_ground([(320, horizon - 20)])).all()
    assert hom.ground_point(320, horizon - 20) is None
    near, far = hom.metres_per_pixel(320, 340), hom.metres_per_pixel(320, horizon + 40)
    assert near is not None and far is not None
    assert far[0] > 2 * near[0] and far[1] > 10 * near[1]  # along the road a far pixel covers much more


def _replay(vehicle, view: CameraView, fps: float = 5.0) -> TrackHistory:
    hist = TrackHistory(1, view=view)
    for t, box in vehicle.observations(fps):
        hist.add(int(t * 25), t, t, box, True, 0.9, "car")
    return hist


@pytest.mark.parametrize("heading", [90.0, 270.0, 0.0])
@pytest.mark.parametrize("jitter", [0.0, 1.0])
def test_ground_headings_synthetic_straight_drive(heading, jitter):
    cam = STREET.camera
    view = CameraView((cam.width, cam.height), fitted(cam)[0])
    start = {90.0: (8.75, 12.0), 270.0: (1.75, 32.0), 0.0: (0.0, 20.0)}[heading]
    route = PathBuilder(start, heading=heading).forward(14.0, 20 / 3.6).build()
    hist = _replay(GroundVehicle(route, cam, jitter_px=jitter, seed=2), view)
    moving = [p for p in hist.points if p.heading_m is not None and p.t > 0.8]
    assert len(moving) >= 5
    assert all(abs(angle_diff(p.heading_m, heading)) < 15 for p in moving)
    speeds = sorted(p.speed_m for p in moving)
    assert abs(speeds[len(speeds) // 2] * 3.6 - 20) < 2.0
    # the image heading of a car driving along the road is far from its road heading (perspective)
    assert all(p.ground_m is not None for p in hist.points)


def test_ground_headings_synthetic_still_car_has_none():
    cam = STREET.camera
    view = CameraView((cam.width, cam.height), fitted(cam)[0])
    hist = _replay(GroundVehicle(PathBuilder((1.2, 30.0), heading=270).wait(20).build(), cam, jitter_px=2.0, seed=4), view)
    assert all(p.heading_m is None for p in hist.points)
    assert max(p.speed_m for p in hist.points) < 3.0


def test_track_history_synthetic_boxes_cut_by_the_frame_edge_have_no_heading():
    view = CameraView((640, 352))
    hist = TrackHistory(1, view=view)
    for i in range(10):
        x2 = 700 - 20 * i  # leaving through the right edge: the box is cut at x = 640
        hist.add(i, i * 0.2, i * 0.2, (x2 - 90, 200, min(x2, 640), 260), True, 0.9, "car")
    edge = [p for p in hist.points if p.edge]
    assert edge and all(p.heading is None for p in edge)
    assert not hist.points[-1].edge and hist.points[-1].heading is not None


def test_box_scale_ground_synthetic_keeps_opposite_directions_opposite():
    """Driving up one lane and down the other: opposite in the box-scaled plane, not in the image."""
    cam = STREET.camera
    size = (cam.width, cam.height)

    def plane_and_image(x, y0, y1):
        boxes = [cam.vehicle_box(x, y, 90.0 if y1 > y0 else 270.0, (4.5, 1.8, 1.5)) for y in (y0, y1)]
        pts = [((b[0] + b[2]) / 2, b[3]) for b in boxes]
        plane = [box_scale_ground(p, b[3] - b[1], size) for p, b in zip(pts, boxes)]
        return plane[1] - plane[0], np.subtract(pts[1], pts[0])

    up_plane, up_img = plane_and_image(8.75, 15.0, 25.0)
    down_plane, down_img = plane_and_image(1.75, 25.0, 15.0)

    def angle(a, b):
        return math.degrees(math.acos(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)))

    assert angle(up_plane, down_plane) > 165
    assert angle(up_img, down_img) < 160
