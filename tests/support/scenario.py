"""Scripted vehicle paths with known ground truth for the tests, as trajectories or as rendered video.

The machinery (paths, the pinhole camera, rendering real crops on a real background, the scenario
suite) lives in ``pipelines.eval.scenes``, where ``epolice eval scenes`` uses it too; this module
keeps what only tests need:
- the flat scripted scenes of the 640x352 street frame in image pixels (``u_turn_path`` ...), which
  rule tests feed straight into a ``TrackHistory`` (``replay(Vehicle(route).observations(fps), evaluate)``);
- ``replay``, which feeds observations to a history the way the engine does.

Nothing here is written to the repository; rendered frames live in memory.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from pipelines.eval.scenes.paths import PathBuilder, Route, Vehicle  # noqa: F401  (re-exported for tests)
from pipelines.eval.scenes.render import (  # noqa: F401  (re-exported for tests)
    T0,
    Actor,
    Crop,
    GroundVehicle,
    Scene,
    clean_background,
    crop_size,
    voc_crops,
)
from vision.calibration import CameraView
from vision.track_history import TrackHistory


# -- the scripted scenes (640x352 street frame; road from bottom-right up to the top-middle) --
def u_turn_path() -> Route:
    return (
        PathBuilder((610, 300), heading=180).line_to(420, 300, 90).arc(180, 45, 60).line_to(610, 210, 90).build()
    )


def left_turn_path() -> Route:
    # moving left along the road, then turning down-screen (heading 180 -> 90) = a 90 degree turn
    return PathBuilder((610, 250), heading=180).line_to(420, 250, 90).arc(-90, 50, 60).line_to(370, 350, 90).build()


def right_turn_path() -> Route:
    return PathBuilder((610, 300), heading=180).line_to(420, 300, 90).arc(90, 50, 60).line_to(370, 160, 90).build()


def pass_through_path() -> Route:
    return PathBuilder((620, 330), heading=180).line_to(260, 200, 110).build()


def lane_change_path() -> Route:
    return PathBuilder((620, 300), heading=180).line_to(470, 300, 100).line_to(380, 260, 100).line_to(200, 260, 100).build()


def park_path(dwell_s: float = 30.0, spot: tuple[float, float] = (470, 300), leave: bool = True) -> Route:
    b = PathBuilder((640, 320), heading=180).line_to(spot[0] + 40, spot[1] + 5, 80).line_to(*spot, 15).wait(dwell_s)
    if leave:
        b.line_to(200, 300, 80)
    return b.build()


def park_with_occlusion_path(dwell_s: float = 40.0, hide_at: float = 12.0, hide_s: float = 4.0) -> Route:
    spot = (470, 300)
    b = PathBuilder((640, 320), heading=180).line_to(spot[0] + 40, spot[1] + 5, 80).line_to(*spot, 15)
    b.wait(hide_at).hidden(hide_s).wait(dwell_s - hide_at - hide_s)
    return b.build()


def slow_traffic_path() -> Route:
    """Creeping through a queue: 2 px/s with short stops, never still for long."""
    b = PathBuilder((600, 300), heading=180)
    for _ in range(12):
        b.forward(12, 4).wait(3)
    return b.build()


def lost_refound_path() -> Route:
    """Leftward, unseen for 3 s, then a vehicle going the other way re-found as the same id."""
    return (
        PathBuilder((610, 300), heading=180)
        .line_to(430, 300, 90)
        .hidden(3.0, to=(430, 230))
        .face(0)
        .line_to(610, 230, 90)
        .build()
    )


def parked_jitter_path(seconds: float = 40.0) -> Route:
    return PathBuilder((470, 300), heading=180).wait(seconds).build()


def replay(
    observations: list[tuple[float, tuple[float, float, float, float]]],
    evaluate,
    class_name: str = "car",
    trail_interval_s: float = 1.0,
    wall0: datetime = T0,
    riders=None,
    wall_rate: float = 1.0,
    view: CameraView | None = None,
):
    """Feed observations one by one and call ``evaluate(history)`` after each, as the engine does.

    Returns (first decision or None, the history). ``riders(t, seq)`` may return a
    RiderObservation to attach at that frame. ``wall_rate`` < 1 makes the capture clock run slower
    than the stream's pts (a live camera's clock skew). ``view``: the camera's frame size and
    calibration, as the engine's tracker hands it to every history.
    """
    hist = TrackHistory(1, view=view)
    last_tick = -1e9
    for t, box in observations:
        tick = t - last_tick >= trail_interval_s - 1e-6
        if tick:
            last_tick = t
        seq = int(round(t * 25))
        hist.add(seq, t, wall0.timestamp() + t * wall_rate, box, True, 0.9, class_name, trail_tick=tick)
        if riders is not None:
            obs = riders(t, seq)
            if obs is not None:
                hist.add_riders(obs)
        decision = evaluate(hist)
        if decision is not None:
            return decision, hist
    return None, hist


def catalogue_drive(name: str, calibrated: bool, lanes: bool = True, jitter_px: float = 1.0, fps: float = 5.0):
    """A suite scene's first vehicle as synthetic observations (its exact image box, jittered), with
    the scene site's zones and camera view: (observations, zones, view). No pixels are rendered."""
    from pipelines.config import parse_site
    from pipelines.eval.scenes.catalogue import all_scenes
    from pipelines.eval.scenes.stages import STAGES
    from pipelines.eval.scenes.suite import site_for_mode, site_of

    spec = next(s for s in all_scenes() if s.name == name)
    data = site_for_mode(site_of(spec), "calibrated" if calibrated else "uncalibrated", Path("."))
    if not lanes:
        data["cameras"][0]["zones"] = [{k: v for k, v in z.items() if k != "lanes"} for z in data["cameras"][0]["zones"]]
    site = parse_site(data)
    cam = site.cameras[0]
    drive = spec.drives[0]
    vehicle = GroundVehicle(drive.route, STAGES[spec.stage].camera, drive.body, jitter_px=jitter_px, seed=7)
    return vehicle.observations(fps), site.zones_for(cam), cam.view()


# -- people on board and beside a vehicle (passenger scenes; kept apart so scene moves merge easily) --
def shifted(route: Route, dx: float, dy: float, dt: float = 0.0) -> Route:
    """The same route moved by (dx, dy) pixels (and ``dt`` seconds): someone riding on the vehicle."""
    return Route([(t + dt, x + dx, y + dy, vis, body) for t, x, y, vis, body in route.keys])


def person_crops(detector, train_dir: Path, frames: tuple[str, ...] = ("frame1008.jpg", "frame1297.jpg", "frame1125.jpg"),
                 min_h: int = 90, max_count: int = 8) -> list[Crop]:
    """Person crops cut from real CCTV frames where the detector boxes a person confidently (riders,
    mostly: their upper bodies are what shows above a cargo bed)."""
    out: list[tuple[float, Crop]] = []
    for name in frames:
        image = cv2.imread(str(Path(train_dir) / name))
        if image is None:
            continue
        found = detector.detect([image])[0].of_class("person")
        for (x1, y1, x2, y2), conf in zip(found.xyxy.astype(int), found.confidence):
            if conf >= 0.6 and y2 - y1 >= min_h:
                out.append((float(conf), Crop(image[y1:y2, x1:x2].copy(), "person", name)))
    out.sort(key=lambda c: -c[0])
    return [c for _, c in out[:max_count]]


def upper_body(crop: Crop, share: float = 0.6) -> Crop:
    """The top ``share`` of a person crop: what shows of someone standing in a cargo bed."""
    h = crop.image.shape[0]
    return Crop(crop.image[: max(1, int(h * share))].copy(), crop.label, crop.source)


def cargo_scene(background: np.ndarray, vehicle_crop: Crop, people: list[Crop], class_name: str, on_board: bool,
                width: float = 240.0, fps: float = 10.0) -> Scene:
    """A vehicle driving across the street with two people: riding in its back (``on_board``: upper
    bodies above the cargo bed, moving with it) or standing at the roadside while it passes beside them."""
    route = PathBuilder((660, 340), heading=180).line_to(300, 330, 70).build()
    vehicle = Vehicle(route, size=crop_size(vehicle_crop, width), class_name=class_name)
    w, h = vehicle.size
    actors = [Actor(vehicle, vehicle_crop)]
    for k, person in enumerate(people[:2]):
        if on_board:
            body = upper_body(person)
            size = crop_size(body, 0.22 * w)
            rider = Vehicle(shifted(route, (0.1 + 0.22 * k) * w, -0.45 * h), size=size, class_name="person")
            actors.append(Actor(rider, body))
        else:
            size = crop_size(person, 0.2 * w)
            spot = (420 + 90 * k, 335)
            standing = Route([(0.0, spot[0], spot[1], True, 180.0), (route.duration, spot[0] - 10, spot[1], True, 180.0)])
            actors.append(Actor(Vehicle(standing, size=size, class_name="person"), person))
    return Scene(background, actors, route.duration + 0.5, fps=fps, camera_id="scene")
