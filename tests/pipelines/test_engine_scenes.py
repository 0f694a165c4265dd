"""The whole engine with the real YOLOv5n detector on rendered scenes (real crops on a real road).

Scenes come from tests/support/scenario.py: real car crops from ../shared/data/cctv/train pasted on a clean
background of ../shared/data/videos/street_parking_a.mp4, moved along scripted paths with known
ground truth. The engine must find the U-turn and the parked car, and nothing in the pass-through
and left-turn scenes (the background's own parked cars stand inside the zones too, and must not fire).
"""

from __future__ import annotations

import pytest

from pipelines.config import parse_site
from pipelines.engine import CameraPipeline
from pipelines.handoff.frames import CameraEvidence
from tests.conftest import require
from tests.support import scenario as sc
from tests.support.models import registry, yolov5n_detector  # noqa: F401,F811  (fixtures)
from vision.detections import box_iou

ZONES = [
    {"id": "junction", "kind": "no_u_turn", "polygon": [[300, 140], [640, 140], [640, 352], [300, 352]]},
    {"id": "curb", "kind": "no_parking", "polygon": [[400, 250], [560, 250], [560, 340], [400, 340]]},
]


@pytest.fixture(scope="module")
def stage(shared_data):
    video = require(shared_data / "videos" / "street_parking_a.mp4", "street_parking_a.mp4 (scene background)")
    train = require(shared_data / "cctv" / "train", "cctv/train (vehicle crops)")
    return sc.clean_background(str(video)), sc.voc_crops(train, "car", min_w=120, max_count=12)


SCENES = {
    # name: (route, crop index, expected rules)
    "u_turn": (sc.u_turn_path(), 0, ["u_turn"]),
    "park": (sc.park_path(16), 2, ["parking"]),
    "pass_through": (sc.pass_through_path(), 3, []),
    "left_turn": (sc.left_turn_path(), 6, []),
}


@pytest.mark.parametrize("name", list(SCENES))
def test_engine_scene_with_real_detector(name, stage, yolov5n_detector):
    background, crops = stage
    route, crop_index, expected = SCENES[name]
    crop = crops[crop_index]
    vehicle = sc.Vehicle(route, size=sc.crop_size(crop, 90))
    scene = sc.Scene(background, [sc.Actor(vehicle, crop)], route.duration + 1.0, fps=10.0, camera_id="scene")
    site = parse_site(
        {
            "id": "scenes",
            "cameras": [{"id": "scene", "source": "rendered", "detect_fps": 5, "frame_size": [640, 352], "zones": ZONES}],
            "rules": {"parking": {"min_dwell_s": 10}},
            "models": {"helmet": None},
        }
    )
    pipe = CameraPipeline(site.cameras[0], site, yolov5n_detector)
    cam = CameraEvidence.of(pipe, site)  # rendered frames have no bitstream: footage in memory
    events = []
    for frame in scene.frames():
        events += pipe.process(frame)
        cam.observe(frame)
    events += pipe.flush()
    assert sorted(e.rule for e in events) == expected, [(e.rule, e.facts) for e in events]
    for e in events:
        # the event is about our pasted vehicle: its key-frame boxes sit on the scripted path
        for kf in e.key_frames:
            t = (kf.wall_time - sc.T0).total_seconds()
            truth = vehicle.box_at(t)
            assert truth is not None
            got = [kf.box.x1, kf.box.y1, kf.box.x2, kf.box.y2]
            assert box_iou([got], [truth])[0, 0] > 0.5
        times = [cam.index.pts_of(k.seq) for k in e.key_frames]
        assert None not in times and len(cam.footage.stills(times)) == len(e.key_frames)  # every key frame still held
    if expected == ["parking"]:
        assert events[0].facts["dwell_s"] >= 10
    if expected == ["u_turn"]:
        assert events[0].facts["heading_change_deg"] >= 150
