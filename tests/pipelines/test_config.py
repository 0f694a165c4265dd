"""Site file validation: good files load, bad ones fail with the field path and what was expected."""

from __future__ import annotations

import copy

import pytest
import yaml

from pipelines.config import SiteConfigError, load_site, parse_site
from tests.support.paths import DATA

GOOD = {
    "id": "site-1",
    "name": "Test crossing",
    "location": {"address": "somewhere", "latitude": 31.2, "longitude": 121.5},
    "timezone": "Asia/Shanghai",
    "cameras": [
        {
            "id": "cam1",
            "source": "rtsp://example/1",
            "detect_fps": 5,
            "direction": "northbound",
            "frame_size": [640, 352],
            "zones": [
                {"id": "curb", "kind": "no_parking", "polygon": [[10, 10], [100, 10], [100, 80], [10, 80]],
                 "allowed": [{"start": "20:00", "end": "07:00"}]},
                {"id": "junction", "kind": "no_u_turn", "polygon": [[200, 100], [400, 100], [300, 300]]},
            ],
        }
    ],
    "rules": {"parking": {"min_dwell_s": 120}, "helmet": {"k": 2, "n": 4}},
}


def with_change(path: str, value, delete: bool = False) -> dict:
    data = copy.deepcopy(GOOD)
    keys = path.split(".")
    node = data
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    last = keys[-1]
    if delete:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def test_config_good_site_loads(tmp_path):
    f = tmp_path / "site.yaml"
    f.write_text(yaml.safe_dump(GOOD))
    site = load_site(f)
    assert site.rules.parking.min_dwell_s == 120
    assert site.rules.passengers.max_people["motorcycle"] == 2  # documented default survives
    cam = site.camera("cam1")
    zones = site.zones_for(cam)
    assert [z.kind for z in zones] == ["no_parking", "no_u_turn"]
    assert zones[0].contains(50, 50) and not zones[0].contains(150, 50)
    assert site.rules_for(cam) == {"helmet", "passengers", "u_turn", "parking", "wrong_way"}


def test_config_repo_site_files_load():
    site = load_site(DATA / "street_parking_a.site.yaml")
    assert site.cameras[0].zones[0].kind == "no_parking"


@pytest.mark.parametrize(
    "data, path, expected",
    [
        (with_change("cameras.0.zones.1.polygon", [[0, 0], [100, 100], [100, 0], [0, 100]]),
         "cameras.0.zones.1.polygon", "self-intersecting"),
        (with_change("cameras.0.zones.0.polygon", [[10, 10], [700, 10], [100, 80]]),
         "cameras.0.zones.0.polygon.1", "outside the 640x352 frame"),
        (with_change("cameras.0.zones.0.polygon", [[10, 10], [20, 20]]), "cameras.0.zones.0.polygon", "at least 3"),
        (with_change("cameras.0.zones.0.kind", "no_parkng"), "cameras.0.zones.0.kind", "'no_parking', 'no_u_turn' or 'road'"),
        (with_change("rules.speeding", {}), "rules.speeding", "unknown rule 'speeding'"),
        (with_change("rules.parking.min_dwell_s", -5), "rules.parking.min_dwell_s", "greater than 0"),
        (with_change("rules.parking.colour", "red"), "rules.parking.colour", "unknown field"),
        (with_change("cameras.0.detect_fps", "fast"), "cameras.0.detect_fps", "valid number"),
        (with_change("cameras.0.frame_size", None, delete=True), "cameras.0.frame_size", "required"),
        (with_change("id", None, delete=True), "id", "required"),
        (with_change("timezone", "Mars/Olympus"), "timezone", "IANA"),
        (with_change("cameras", []), "cameras", "at least 1"),
        (with_change("cameras.0.rules", ["helmet", "spitting"]), "cameras.0.rules.1", "'helmet'"),
        (with_change("cameras.0.zones.0.allowed", [{"start": 1200, "end": "07:00"}]),
         "cameras.0.zones.0.allowed.0.start", "quoted"),
        (with_change("cameras.0.zones.0.allowed", [{"start": "07:00", "end": "07:00"}]),
         "cameras.0.zones.0.allowed.0", "equal"),
        (with_change("rules.helmet.k", 9), "rules.helmet", "must not exceed n"),
        (with_change("cameras.0.zones.1.id", "curb"), "cameras.0.zones.1.id", "duplicate zone id"),
        (with_change("camera", {}), "camera", "unknown field"),
        (with_change("live.rtsp.io_timeout", 5), "live.rtsp.io_timeout", "unknown field"),
        (with_change("live.lease_ttl_s", 0.01), "live.lease_ttl_s", "greater than or equal"),
        (with_change("review.claim_seconds", "soon"), "review.claim_seconds", "valid"),
        (with_change("evidence.codes", {"parkng": {"code": "1", "name": "x"}}), "evidence.codes.parkng", "unknown rule 'parkng'"),
        (with_change("review.second_review_rules", ["uturn"]), "review.second_review_rules.0", "unknown rule 'uturn'"),
        (with_change("plates.local_province", "Z"), "plates.local_province", "not a province abbreviation"),
        (with_change("plates.local_provinc", "浙"), "plates.local_provinc", "unknown field"),
    ],
)
def test_config_errors_name_the_field(data, path, expected):
    with pytest.raises(SiteConfigError) as info:
        parse_site(data, "site.yaml")
    message = str(info.value)
    assert f"{path}: " in message, message
    assert expected in message, message
    assert "Traceback" not in message and "pydantic" not in message


@pytest.mark.parametrize(
    "text, expected",
    [
        ("id: [unclosed", "not valid YAML at line"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_config_unreadable_files(tmp_path, text, expected):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(SiteConfigError, match=expected):
        load_site(f)


def test_config_missing_file(tmp_path):
    with pytest.raises(SiteConfigError, match="cannot read site file"):
        load_site(tmp_path / "nope.yaml")


def test_rule_tables_come_from_the_registry():
    """Codes and review labels of every registered rule are filled in; a site's own rows win."""
    from pipelines.rules.registry import RULE_NAMES

    site = parse_site(with_change("evidence", {"codes": {"parking": {"code": "10390", "name": "违法停车"}}}))
    assert set(site.evidence.codes) == set(RULE_NAMES) == set(site.review.rule_labels)
    assert site.evidence.code_for("parking").code == "10390" and site.evidence.code_for("u_turn").code == "1044"
    assert site.review.rule_labels["parking"] == {"zh": "违法停车", "en": "Illegal parking"}


def test_live_motion_moved_to_the_engine_is_named():
    with pytest.raises(SiteConfigError) as err:
        parse_site({"id": "s", "cameras": [{"id": "c", "source": "x.mp4", "frame_size": [640, 352]}], "live": {"motion": {"enabled": True}}})
    assert "live.motion: moved to engine.motion" in str(err.value)
    site = parse_site({"id": "s", "cameras": [{"id": "c", "source": "x.mp4", "frame_size": [640, 352]}], "engine": {"motion": {"enabled": True}}})
    assert site.engine.motion.enabled


CALIBRATED = copy.deepcopy(GOOD)
CALIBRATED["cameras"][0]["calibration"] = {
    "points": [
        {"image": [281.8, 291.3], "ground": [0.0, 10.0]},
        {"image": [499.8, 280.4], "ground": [4.0, 10.0]},
        {"image": [234.3, 168.9], "ground": [0.0, 35.0]},
        {"image": [302.6, 167.9], "ground": [4.0, 35.0]},
        {"image": [516.9, 226.6], "ground": [7.0, 15.0]},
    ]
}
CALIBRATED["cameras"][0]["zones"][1]["lanes"] = [
    {"id": "up", "polygon": [[250, 150], [350, 150], [350, 290], [250, 290]], "direction": [[300, 280], [300, 160]]},
    {"id": "down", "polygon": [[350, 150], [399, 150], [399, 290], [350, 290]], "direction": [[375, 160], [375, 280]]},
]
CALIBRATED["cameras"][0]["zones"][1]["polygon"] = [[240, 140], [400, 140], [400, 300], [240, 300]]


def calibrated(path: str, value, delete: bool = False) -> dict:
    global GOOD
    saved, GOOD = GOOD, CALIBRATED
    try:
        return with_change(path, value, delete)
    finally:
        GOOD = saved


def test_config_calibrated_camera_loads_with_metres():
    site = parse_site(CALIBRATED)
    cam = site.cameras[0]
    view = cam.view()
    assert view.frame_size == (640, 352) and view.homography is not None
    assert view.homography.ground_point(281.8, 291.3) == pytest.approx((0.0, 10.0), abs=0.05)
    road = site.zones_for(cam)[1]
    assert [lane.lane_id for lane in road.lanes] == ["up", "down"]
    assert all(lane.ground_direction is not None for lane in road.lanes)
    assert parse_site(GOOD).cameras[0].view().homography is None


@pytest.mark.parametrize(
    "data, path, expected",
    [
        (calibrated("cameras.0.calibration.points", [{"image": [1, 1], "ground": [0, 0]}] * 3),
         "cameras.0.calibration.points", "at least 4 points"),
        (calibrated("cameras.0.calibration.points", [{"image": [10 * i, 100], "ground": [i, 2 * i + (i > 2)]} for i in range(5)]),
         "cameras.0.calibration.points", "image points are (nearly) collinear"),
        (calibrated("cameras.0.calibration.points.2", {"image": [234.3, 168.9], "ground": [0.0, 60.0]}),
         "cameras.0.calibration.points", "reprojection error"),
        (calibrated("cameras.0.calibration.points.4", {"image": [801.4, 265.4], "ground": [10.5, 10.0]}),
         "cameras.0.calibration.points.4.image", "outside the 640x352 frame"),
        (calibrated("cameras.0.calibration.max_error_px", 0), "cameras.0.calibration.max_error_px", "greater than 0"),
        (calibrated("cameras.0.calibration.points.0.pixel", [1, 2]), "cameras.0.calibration.points.0.pixel", "unknown field"),
        (calibrated("cameras.0.zones.1.lanes.0.direction", [[300, 280]]), "cameras.0.zones.1.lanes.0.direction", "at least 2"),
        (calibrated("cameras.0.zones.1.lanes.0.direction", [[300, 280], [300, 280]]),
         "cameras.0.zones.1.lanes.0.direction", "the same"),
        (calibrated("cameras.0.zones.1.lanes.1.id", "up"), "cameras.0.zones.1.lanes.1.id", "duplicate lane id"),
        (calibrated("cameras.0.zones.1.lanes.0.direction", [[300, 280], [300, 60]]),
         "cameras.0.zones.1.lanes.0.direction.1", "above the calibrated horizon"),
        (calibrated("cameras.0.zones.1.lanes.0.polygon", [[250, 150], [650, 150], [350, 290]]),
         "cameras.0.zones.1.lanes.0.polygon.1", "outside the 640x352 frame"),
    ],
)
def test_config_bad_calibration_names_the_field(data, path, expected):
    test_config_errors_name_the_field(data, path, expected)


def test_config_site_declares_its_local_province_for_the_plate_reader():
    """The site file's ``plates`` section is the plate reader's config: the local province is a tie-break."""
    site = parse_site(with_change("plates", {"local_province": "浙"}), "site.yaml")
    assert site.plates.local_province == "浙" and site.plates.tie_break_below == 0.8
    assert parse_site(GOOD, "site.yaml").plates.local_province is None
