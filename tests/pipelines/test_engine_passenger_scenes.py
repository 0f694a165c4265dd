"""People riding in the back of a truck or tricycle fire the passenger rule; people standing beside
the road as the vehicle passes do not (co-motion), end to end through the engine.

Rendered scenes (tests/support/scenario.py ``cargo_scene``): a real truck crop from
../shared/data/cctv/train driving across the clean background of street_parking_a.mp4, with two
real person crops (cut where YOLOv5n boxes persons in the CCTV frames) either riding in its back
or standing at the roadside. Persons come from the real YOLOv5n. COCO has no tricycle and YOLOv5n
does not box these crops as trucks at this size, so the vehicle box comes from a stand-in for a
site model (``extra_detectors``: a model a site trained with tricycle/truck classes), which reports
the rendered vehicle's true box; its output merges with YOLOv5n's through the engine's class-aware
NMS, the path a real site model takes.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.config import parse_site
from pipelines.engine import CameraPipeline
from tests.conftest import require
from tests.support import scenario as sc
from tests.support.models import registry, yolov5n_detector  # noqa: F401,F811  (fixtures)
from vision.detections import Detections


class SiteModelStandIn:
    """A site model that boxes the scene's vehicle where it was rendered (``t`` set before each frame)."""

    def __init__(self, vehicle: sc.Vehicle):
        self.vehicle = vehicle
        self.t = 0.0

    def detect(self, images, conf=None):
        box = self.vehicle.box_at(self.t)
        if box is None:
            return [Detections.empty() for _ in images]
        return [Detections.from_names(np.array([box], np.float32), [0.9], [self.vehicle.class_name]) for _ in images]


@pytest.fixture(scope="module")
def stage(shared_data, yolov5n_detector):
    video = require(shared_data / "videos" / "street_parking_a.mp4", "street_parking_a.mp4 (scene background)")
    train = require(shared_data / "cctv" / "train", "cctv/train (vehicle and person crops)")
    trucks = sc.voc_crops(train, "truck", min_w=120, max_count=1)
    people = sc.person_crops(yolov5n_detector, train)
    assert trucks and len(people) >= 2
    return sc.clean_background(str(video)), trucks[0], people


@pytest.mark.parametrize("class_name", ["truck", "tricycle"])
@pytest.mark.parametrize("on_board", [True, False])
def test_engine_scene_people_on_board_fire_and_people_beside_do_not(class_name, on_board, stage, yolov5n_detector):
    background, truck, people = stage
    scene = sc.cargo_scene(background, truck, people, class_name, on_board)
    site = parse_site({
        "id": "scenes",
        "cameras": [{"id": "scene", "source": "rendered", "detect_fps": 5, "frame_size": [640, 352], "rules": ["passengers"]}],
        "models": {"helmet": None},
    })
    model = SiteModelStandIn(scene.actors[0].vehicle)
    pipe = CameraPipeline(site.cameras[0], site, yolov5n_detector, extra_detectors=[model])
    events = []
    for frame in scene.frames():
        model.t = frame.pts
        events += pipe.process(frame)
    events += pipe.flush()
    fired = [e for e in events if e.rule == "passengers"]
    if on_board:
        assert len(fired) == 1 and fired[0].vehicle_class == class_name
        assert fired[0].facts["riders"] >= 2 and fired[0].facts["moving_with_vehicle"] >= 1
    else:
        assert fired == []
