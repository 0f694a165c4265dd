"""A pass's speed: km/h at the crossing from a calibrated camera, none from an uncalibrated one.

Synthetic: a car driven straight down a perspective road at a known steady speed, its boxes placed
through the camera's own homography, observed at the camera's detect rate by the engine's recorder.
"""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np
import pytest

from pipelines.checkpoint.recorder import PassRecorder
from pipelines.config import parse_site
from tests.support.checkpoint import CLIP_SIZE, checkpoint_site_doc
from vision.calibration import Homography
from vision.frame import Frame
from vision.track_history import TrackHistory

# a road 7 m wide, 0 to 40 m ahead of the camera, seen in perspective (it narrows up the frame)
CALIBRATION = {"points": [{"image": [240, 690], "ground": [-3.5, 0]}, {"image": [1040, 690], "ground": [3.5, 0]},
                          {"image": [560, 260], "ground": [-3.5, 40]}, {"image": [720, 260], "ground": [3.5, 40]}]}
WALL0 = datetime(2027, 1, 10, 2, 0, 0, tzinfo=timezone.utc).timestamp()


def drive(calibrated: bool, speed_kmh: float):  # noqa: ANN201 - the recorder's PassCaptures
    """The car from 40 m out toward the camera along the lane centre, past the capture line at y=400 px."""
    doc = checkpoint_site_doc()
    if calibrated:
        doc["cameras"][0]["calibration"] = CALIBRATION
    site = parse_site(doc)
    camera = site.cameras[0]
    recorder = PassRecorder.for_camera(camera, site)
    road = Homography.fit([p["image"] for p in CALIBRATION["points"]], [p["ground"] for p in CALIBRATION["points"]])
    history = TrackHistory(7, view=camera.view())
    track = SimpleNamespace(track_id=7, history=history)
    image = np.zeros((CLIP_SIZE[1], CLIP_SIZE[0], 3), np.uint8)
    rng = np.random.default_rng(3)
    for i in range(int(38 / (speed_kmh / 3.6) * camera.detect_fps)):
        t = i / camera.detect_fps
        x, y = road.to_image([[0.0, 38.0 - speed_kmh / 3.6 * t]])[0] + rng.normal(0, 1.0, 2)  # a pixel of detector jitter
        width = 180 * 690 / max(y, 1)  # nearer is larger
        history.add(i, t, WALL0 + t, (x - width / 2, y - width * 0.8, x + width / 2, y), True, 0.9, "car")
        recorder.observe(Frame("gate", i, t, datetime.fromtimestamp(WALL0 + t, tz=timezone.utc), image), [track], lambda _: None)
    return recorder.take()


@pytest.mark.parametrize(("calibrated", "speed_kmh"), [
    (True, 20.0),
    (True, 50.0),
    (True, 90.0),
    (False, 50.0),  # pixels per second say nothing about km/h: no speed
])
def test_synthetic_calibrated_pass_carries_its_speed(calibrated, speed_kmh):
    passes = drive(calibrated, speed_kmh)
    assert len(passes) == 1
    got = passes[0].event.speed_kmh
    if calibrated:
        assert got == pytest.approx(speed_kmh, rel=0.05)
    else:
        assert got is None
