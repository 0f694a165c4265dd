"""The per-camera pipeline on synthetic scenes with a scripted detector: rates, in-memory footage,
events with resolvable key frames, once-per-track readers, batching of helmet looks, no globals,
analysis frames smaller than the camera's frame."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from pipelines.config import parse_site
from pipelines.engine import CameraPipeline, plate_facts
from pipelines.handoff.frames import CameraEvidence
from tests.support import scenario as sc
from vision.detections import Detections
from vision.frame import Frame
from vision.plates.reader import PlateRead
from vision.plates.result import PlateCandidate

W, H = 640, 352
IMAGE = np.zeros((H, W, 3), np.uint8)


def site(rules=None, zones=None, detect_fps=5, **extra):
    data = {
        "id": "site-x",
        "cameras": [
            {
                "id": "cam-a",
                "source": "synthetic",
                "detect_fps": detect_fps,
                "frame_size": [W, H],
                "zones": zones
                if zones is not None
                else [
                    {"id": "junction", "kind": "no_u_turn", "polygon": [[300, 150], [640, 150], [640, 352], [300, 352]]},
                    {"id": "curb", "kind": "no_parking", "polygon": [[400, 260], [560, 260], [560, 340], [400, 340]]},
                ],
            }
        ],
        "rules": rules or {"parking": {"min_dwell_s": 20}},
    }
    data.update(extra)
    return parse_site(data)


class ScriptedDetector:
    """Returns the scripted vehicles' (and riders') boxes at the time the test says it is."""

    def __init__(self, vehicles, riders_for=None):
        self.vehicles = vehicles
        self.riders_for = riders_for or (lambda v, box: [])
        self.now = 0.0
        self.calls = 0
        self.model_version = "scripted@000000000000"

    def detect(self, images):
        self.calls += 1
        out = []
        for _ in images:
            boxes, names = [], []
            for v in self.vehicles:
                b = v.box_at(self.now)
                if b is not None:
                    boxes.append(b)
                    names.append(v.class_name)
                    for pb in self.riders_for(v, b):
                        boxes.append(pb)
                        names.append("person")
            out.append(
                Detections.from_names(np.array(boxes, np.float32).reshape(-1, 4), [0.9] * len(boxes), names)
                if boxes
                else Detections.empty()
            )
        return out


def frames(duration, fps=25.0):
    for i in range(int(duration * fps) + 1):
        t = i / fps
        yield Frame("cam-a", i, t, sc.T0 + timedelta(seconds=t), IMAGE)


def run(pipe, det, duration, fps=25.0, cam: CameraEvidence | None = None):
    """Feed synthetic frames as a runner does (engine first, then the camera's evidence side)."""
    events = []
    for f in frames(duration, fps):
        det.now = f.pts
        events += pipe.process(f)
        if cam is not None:
            cam.observe(f)
    events += pipe.flush()
    return events


@pytest.mark.parametrize(
    "name, path, expected",
    [
        ("u_turn", sc.u_turn_path(), ["u_turn"]),
        ("left_turn", sc.left_turn_path(), []),
        ("pass_through", sc.pass_through_path(), []),
        ("park", sc.park_path(30), ["parking"]),
        ("park_occluded", sc.park_with_occlusion_path(40, hide_at=8, hide_s=5), ["parking"]),
        ("short_stop", sc.park_path(12), []),
    ],
)
def test_engine_synthetic_scenes(name, path, expected):
    s = site()
    det = ScriptedDetector([sc.Vehicle(path)])
    pipe = CameraPipeline(s.cameras[0], s, det)
    cam = CameraEvidence.of(pipe, s)  # synthetic frames have no bitstream: footage in memory
    events = run(pipe, det, path.duration + 1, cam=cam)
    assert [e.rule for e in events] == expected
    for e in events:
        assert e.site_id == "site-x" and e.camera_id == "cam-a"
        assert e.model_versions["detector"] == "scripted@000000000000"
        times = {k.seq: cam.index.pts_of(k.seq) for k in e.key_frames}
        stills = cam.footage.stills(list(times.values()))
        held = {seq for seq, t in times.items() if t in stills and stills[t].t == t}
        assert held == {k.seq for k in e.key_frames}, "every key frame must be fetchable from the camera's footage"
        if e.rule == "parking":
            assert len(e.key_frames) >= 3
            assert (e.key_frames[-1].wall_time - e.key_frames[0].wall_time).total_seconds() >= 20
        if e.rule == "u_turn":
            assert [k.role for k in e.key_frames] == ["approach", "turn", "exit"]


def test_engine_synthetic_detects_at_detect_fps_and_bounds_ring():
    s = site(detect_fps=5)
    det = ScriptedDetector([sc.Vehicle(sc.pass_through_path())])
    pipe = CameraPipeline(s.cameras[0], s, det)
    cam = CameraEvidence.of(pipe, s)
    run(pipe, det, 30.0, cam=cam)  # 751 frames at 25 fps
    assert det.calls == pytest.approx(30 * 5 + 1, abs=2)
    assert pipe.stats.frames == 751 and pipe.stats.detect_frames == det.calls
    ring = cam.footage.ring
    # 12 s of frames at 25 fps, plus one kept panorama a second over parking T + 60 s
    assert len(ring) <= (12 * 25 + 1) + 31
    assert sum(ring.get(seq) is not None for seq in range(0, 750 - 13 * 25)) <= 31  # older: kept panoramas only
    clip = ring.between(25.0, 27.0)
    assert [f.seq for f in clip] == list(range(625, 676))  # every frame, in order
    st = pipe.stats.as_dict()
    assert set(st) >= {"detect_s", "track_s", "attributes_s", "rules_s"}


def test_engine_synthetic_interpolates_tracks_between_detections():
    s = site(detect_fps=5)
    path = sc.pass_through_path()
    v = sc.Vehicle(path)
    det = ScriptedDetector([v])
    pipe = CameraPipeline(s.cameras[0], s, det)
    errors = []
    for f in frames(2.0):
        det.now = f.pts
        pipe.process(f)
        if f.pts > 0.6 and not pipe.needs_detection(f) and len(pipe.last_tracks):
            errors.append(np.abs(pipe.last_tracks.xyxy[0] - np.array(v.box_at(f.pts))).max())
    assert errors and max(errors) < 5.0


def test_engine_synthetic_two_cameras_share_nothing():
    s = site()
    dets = [ScriptedDetector([sc.Vehicle(sc.u_turn_path())]) for _ in range(2)]
    pipes = [CameraPipeline(s.cameras[0], s, d) for d in dets]
    out = [[], []]
    for f in frames(sc.u_turn_path().duration + 1):
        for k in (0, 1):
            dets[k].now = f.pts
            out[k] += pipes[k].process(f)
    assert [e.rule for e in out[0]] == [e.rule for e in out[1]] == ["u_turn"]
    assert out[0][0].track_id == out[1][0].track_id == 1  # ids are per camera
    assert out[0][0].event_key == out[1][0].event_key


def test_engine_synthetic_batching_split_api():
    """A runner detects for many cameras in one call and feeds on_detections / on_frame."""
    s = site()
    det = ScriptedDetector([sc.Vehicle(sc.u_turn_path())])
    pipes = [CameraPipeline(s.cameras[0], s) for _ in range(3)]
    events = []
    for f in frames(sc.u_turn_path().duration + 1):
        det.now = f.pts
        due = [p for p in pipes if p.needs_detection(f)]
        results = det.detect([f.image for _ in due]) if due else []
        for p, d in zip(due, results):
            events += p.on_detections(f, d)
        for p in pipes:
            if p not in due:
                p.on_frame(f)
    assert [e.rule for e in events] == ["u_turn"] * 3
    assert det.calls == pipes[0].stats.detect_frames  # one batched call per frame for all cameras


class HeadModel:
    """Fake helmet model: a no-helmet head at the top-centre of every crop it is given."""

    def __init__(self):
        self.batches = []
        self.model_version = "heads@111111111111"

    def detect(self, crops):
        self.batches.append(len(crops))
        out = []
        for c in crops:
            h, w = c.shape[:2]
            box = [w * 0.4, h * 0.05, w * 0.6, h * 0.2]
            out.append(Detections.from_names(np.array([box], np.float32), [0.8], ["head_no_helmet"]))
        return out


def rider(v, box):
    x1, y1, x2, y2 = box
    h = y2 - y1
    return [[x1 + 2, y1 - 0.9 * h, x2 - 2, y2 - 0.2 * h]]


def two_riders(v, box):
    x1, y1, x2, y2 = box
    h = y2 - y1
    return [[x1, y1 - 0.9 * h, x2 - 8, y2 - 0.2 * h], [x1 + 8, y1 - 0.9 * h, x2, y2 - 0.2 * h]]


def bikes(n=2):
    return [
        sc.Vehicle(sc.PathBuilder((620, 200 + 60 * k)).line_to(100, 200 + 60 * k, 80).build(), size=(40, 60), class_name="motorcycle")
        for k in range(n)
    ]


class CountingPlateReader:
    def __init__(self):
        self.calls = []

    def read_track(self, crops):
        self.calls.append(len(crops))
        return PlateRead(text="沪A12345", color="blue", agreement=1.0, reads=len(crops), status="confirmed",
                         crop=np.full((20, 60, 3), 200, np.uint8))


# the synthetic frames are flat grey and their heads about 18 px: judge them anyway
SMALL_FLAT_HEADS = {"judge": {"min_head_px": 8, "min_sharpness": 0}}


def test_engine_synthetic_helmet_batched_and_once_per_track():
    s = site(zones=[], rules={"helmet": {"k": 3, "n": 5}}, engine=SMALL_FLAT_HEADS)
    vehicles = bikes(2)
    det = ScriptedDetector(vehicles, rider)
    heads = HeadModel()
    plates = CountingPlateReader()
    pipe = CameraPipeline(s.cameras[0], s, det, helmet_detector=heads, plate_reader=plates)
    events = run(pipe, det, 6.0)
    helmet = [e for e in events if e.rule == "helmet"]
    assert sorted(e.track_id for e in helmet) == [1, 2]  # one event per track, not per frame
    assert all(e.facts["no_helmet_votes"] >= 3 for e in helmet)
    assert max(heads.batches) == 2  # both bikes' crops in one model call
    assert sum(heads.batches) <= 2 * s.rules.helmet.max_checks
    assert all(e.facts["rider_status"] == ["no_helmet"] and e.facts["rider_look"] == ["model"] for e in helmet)
    assert all(e.plate is not None and e.plate.text == "沪A12345" for e in helmet)
    assert len(plates.calls) == 2 and all(1 <= n <= s.engine.plate_crops for n in plates.calls)
    assert all(e.plate.status == "confirmed" for e in helmet)
    # the plate crop waits for the hand-off, once per event
    assert pipe.plate_crop_for(helmet[0]).shape == (20, 60, 3) and pipe.plate_crop_for(helmet[0]) is None
    assert helmet[0].model_versions == {"detector": "scripted@000000000000", "helmet": "heads@111111111111"}


def test_engine_synthetic_passengers():
    s = site(zones=[])
    det = ScriptedDetector(bikes(1), lambda v, b: two_riders(v, b) + [[b[0] + 4, b[1] - 50, b[2] - 4, b[3] - 10]])
    pipe = CameraPipeline(s.cameras[0], s, det)
    events = run(pipe, det, 6.0)
    assert [e.rule for e in events] == ["passengers"]
    assert events[0].facts["riders"] == 3 and events[0].facts["max_allowed"] == 2


def test_engine_synthetic_camera_rule_subset():
    s = parse_site(
        {
            "id": "s",
            "cameras": [
                {"id": "cam-a", "source": "x", "frame_size": [W, H], "rules": ["parking"],
                 "zones": [{"id": "j", "kind": "no_u_turn", "polygon": [[300, 150], [640, 150], [640, 352], [300, 352]]}]}
            ],
        }
    )
    det = ScriptedDetector([sc.Vehicle(sc.u_turn_path())])
    pipe = CameraPipeline(s.cameras[0], s, det)
    assert run(pipe, det, 8.0) == []


def test_engine_synthetic_flush_frees_tracks():
    s = site()
    det = ScriptedDetector([sc.Vehicle(sc.park_path(30, leave=False))])
    pipe = CameraPipeline(s.cameras[0], s, det)
    run(pipe, det, 10.0)
    assert pipe.tracker.flush() == [] and not pipe._extras  # flush returns every live id, tentative ones too


def test_engine_synthetic_maps_small_analysis_frames_to_the_camera_frame():
    """Analysis frames at a quarter of the camera's size: detections come back in frame_size pixels,
    and so do the rule's key-frame boxes; no plate crops are taken from the small frames."""
    s = site(rules={"parking": {"enabled": False}})
    s = s.model_copy(update={"cameras": [s.cameras[0].model_copy(update={"frame_size": (W * 2, H * 2), "analysis": (W // 2, H // 2),
        "zones": [z.model_copy(update={"polygon": [(x * 2, y * 2) for x, y in z.polygon]}) for z in s.cameras[0].zones]})]})
    path = sc.u_turn_path()

    class Half(ScriptedDetector):  # sees the scene at the analysis size (the scenario's pixels halved)
        def detect(self, images):
            out = super().detect(images)
            return [Detections(d.xyxy * 0.5, d.confidence, d.class_id) for d in out]

    det = Half([sc.Vehicle(path)])
    pipe = CameraPipeline(s.cameras[0], s, det, plate_reader=CountingPlateReader())
    small = np.zeros((H // 2, W // 2, 3), np.uint8)
    events = []
    for f in frames(path.duration + 1):
        det.now = f.pts
        events += pipe.process(Frame(f.camera_id, f.seq, f.pts, f.wall_time, small))
    events += pipe.flush()
    assert [e.rule for e in events] == ["u_turn"]
    box = events[0].key_frames[0].box
    truth = sc.Vehicle(path).box_at(events[0].key_frames[0].seq / 25.0)  # the scenario's 640-wide pixels
    assert (box.x1, box.y1) == pytest.approx((truth[0] * 2, truth[1] * 2), abs=12)  # frame_size (1280-wide) pixels
    assert not pipe.crops_from_frames and all(not e.crops for e in pipe._extras.values())


def test_engine_synthetic_detects_in_the_zones_region_and_maps_boxes_back():
    s = site(rules={"parking": {"min_dwell_s": 20}}, engine={"detect_region": "zones", "region_margin": 0.1})
    s = s.model_copy(update={"cameras": [s.cameras[0].model_copy(update={"rules": ["parking", "u_turn"]})]})  # rules that act in zones
    pipe = CameraPipeline(s.cameras[0], s)
    assert pipe.region == pytest.approx((266.0, 129.8, 640.0, 352.0))  # both zones' bounding box, grown 10 %, clipped
    frame = next(frames(0.1))
    crop = pipe.detection_image(frame)
    assert crop.shape[:2] == (352 - 129, 640 - 266)
    dets = Detections.from_names(np.array([[10, 20, 110, 90]], np.float32), [0.9], ["car"])  # in the crop's pixels
    pipe.on_detections(frame, dets)
    pipe.on_detections(frame, dets)  # a second look without detection_image: taken as whole-frame pixels
    (tr,) = [t for t in pipe.tracker.tracks]
    assert tr.history.points[0].box == pytest.approx((276, 149, 376, 219))
    none = site(rules={"helmet": {}}, engine={"detect_region": "zones"})
    assert CameraPipeline(none.cameras[0], none).region is None  # helmet needs no zone: the whole frame


@pytest.mark.parametrize(
    ("read", "status", "text", "candidates"),
    [
        (PlateRead("沪A12345", "blue", 0.9, status="confirmed", reads=3,
                   candidates=(PlateCandidate("沪A12345", ("ppocr", "hyperlpr"), 0.97, "standard", "blue"),)),
         "confirmed", "沪A12345", [("沪A12345", ("ppocr", "hyperlpr"), "blue")]),
        (PlateRead(None, "blue", 0.6, reason="readers disagree", status="unconfirmed", reads=2,
                   candidates=(PlateCandidate("浙A12345", ("ppocr",), 0.91, "standard", "blue"),
                               PlateCandidate("湘A12345", ("hyperlpr",), 0.88, "standard", "purple"))),
         "unconfirmed", None, [("浙A12345", ("ppocr",), "blue"), ("湘A12345", ("hyperlpr",), "unknown")]),
        (PlateRead(None, reason="no plate found on the vehicle"), "unreadable", None, []),
    ],
)
def test_plate_facts_carry_status_and_candidates_synthetic(read, status, text, candidates):
    facts = plate_facts(read)
    assert (facts.status, facts.text) == (status, text)
    assert [(c.text, c.readers, c.color) for c in facts.candidates] == candidates
    assert facts.reason == read.reason


def test_plate_reader_from_site_reads_with_the_site_plates_section():
    from pipelines.site_models import plate_reader_from_site
    from tests.vision.plates.test_reader_real import require_plate_models

    require_plate_models()
    s = parse_site({"id": "s", "cameras": [{"id": "c", "source": "x.mp4", "frame_size": [640, 352]}],
                    "plates": {"local_province": "浙"}})
    reader = plate_reader_from_site(s, threads=1)
    assert reader.config.local_province == "浙" and reader.referee is not None and reader.second_recognizer is not None
