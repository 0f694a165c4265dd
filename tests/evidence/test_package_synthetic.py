"""Package rules, layout, signing and crash safety on synthetic frames."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evidence import package as package_mod
from evidence.atomic import TMP_PREFIX
from evidence.composite import FontError, format_time, make_closeup
from evidence.config import ViolationCode
from evidence.event import Box
from evidence.manifest import MANIFEST, Manifest, verify_package
from evidence.package import PackageError, validate_input, write_package
from evidence.signing import KeyFileError, Signer, generate_keypair, load_public_key
from tests.conftest import REPO
from tests.support.evidence import config, event, keys, synthetic_input  # noqa: F401

REFUSED = [
    ("two key frames", dict(times_s=(0.0, 30.0)), {}, "at least 3 panoramas"),
    ("parking span below 10 s", dict(times_s=(0.0, 4.0, 9.0), facts={}), {}, "at least 10.0 s apart"),
    ("parking span below min dwell", dict(times_s=(0.0, 10.0, 25.0), facts={"min_dwell_s": 60.0}), {}, "at least 60.0 s apart"),
    ("box outside frame", dict(box=Box(x1=1300, y1=10, x2=1400, y2=50)), {}, "outside the 1280x720 frame"),
]


@pytest.mark.parametrize("label,ev_kw,cfg_kw,message", REFUSED, ids=[r[0] for r in REFUSED])
def test_synthetic_invalid_events_are_refused(tmp_path: Path, label, ev_kw, cfg_kw, message):
    inp = synthetic_input(event(**ev_kw))
    with pytest.raises(PackageError, match=message):
        validate_input(inp, config(tmp_path, **cfg_kw))


@pytest.mark.parametrize(
    "rule,times_s,ok",
    [("parking", (0.0, 5.0, 10.0), True), ("parking", (0.0, 5.0, 9.9), False), ("u_turn", (0.0, 0.5, 1.0), True)],
)
def test_synthetic_parking_span_only_binds_parking(tmp_path: Path, rule, times_s, ok):
    inp = synthetic_input(event(rule=rule, times_s=times_s, facts={}))
    if ok:
        validate_input(inp, config(tmp_path))
    else:
        with pytest.raises(PackageError):
            validate_input(inp, config(tmp_path))


def test_synthetic_missing_key_image_is_refused(tmp_path: Path):
    inp = synthetic_input(event())
    del inp.key_images[inp.event.key_frames[1].seq]  # type: ignore[attr-defined]
    with pytest.raises(PackageError, match="no image for key frame"):
        validate_input(inp, config(tmp_path))


@pytest.mark.parametrize("size,warned", [((1280, 720), False), ((1920, 1080), False), ((640, 352), True)])
def test_synthetic_small_camera_is_a_warning_not_an_upscale(tmp_path: Path, size, warned):
    ev = event(box=Box(x1=100, y1=100, x2=300, y2=250))
    warnings = validate_input(synthetic_input(ev, size=size), config(tmp_path))
    assert any("GA/T 832" in w for w in warnings) == warned


def test_synthetic_unreadable_plate_is_recorded(tmp_path: Path):
    from evidence.event import PlateFacts

    ev = event(plate=PlateFacts(text=None, reason="too small"))
    warnings = validate_input(synthetic_input(ev), config(tmp_path))
    assert "plate unreadable (too small)" in warnings


@pytest.mark.parametrize("layout,cols,rows", [("2x2", 2, 2), ("1x3+closeup", 4, 1)])
def test_synthetic_layouts(tmp_path: Path, keys, layout, cols, rows):
    signer, _ = keys
    info = write_package(synthetic_input(event()), config(tmp_path, layout=layout), signer)
    comp = Image.open(info.path / "composite.jpg")
    assert comp.width == cols * 1280 + (cols - 1) * 2
    assert comp.height > rows * 720  # pictures plus a text bar above each


def test_synthetic_code_table_is_configurable(tmp_path: Path, keys):
    signer, pub = keys
    cfg = config(tmp_path, codes={"parking": ViolationCode(code="10390", name="违法停车")})
    info = write_package(synthetic_input(event()), cfg, signer)
    assert (info.code, info.code_name) == ("10390", "违法停车")
    manifest = Manifest.model_validate_json((info.path / MANIFEST).read_bytes())
    assert manifest.record["code"] == "10390"
    assert cfg.code_for("u_turn").code == "1044"  # rows not given keep their defaults


def test_synthetic_package_with_clip_verifies(tmp_path: Path, keys):
    signer, pub = keys
    info = write_package(synthetic_input(event(), clip_frames=12), config(tmp_path), signer)
    assert (info.path / "clip.mp4").stat().st_size > 0
    assert verify_package(info.path, load_public_key(pub)).ok


def test_synthetic_other_key_is_rejected(tmp_path: Path, keys):
    signer, _ = keys
    info = write_package(synthetic_input(event()), config(tmp_path), signer)
    _, other_pub = generate_keypair(tmp_path / "other")
    res = verify_package(info.path, load_public_key(other_pub))
    assert not res.ok and [(p.file, p.kind) for p in res.problems] == [("manifest.sig", "wrong_key")]


@pytest.mark.parametrize(
    "box,margin,crop",
    [
        (Box(x1=100, y1=100, x2=200, y2=150), 0.5, (50, 75, 250, 175)),
        (Box(x1=0, y1=0, x2=40, y2=40), 0.5, (0, 0, 60, 60)),  # clipped at the frame edge
        (Box(x1=600, y1=300, x2=640, y2=352), 0.0, (600, 300, 640, 352)),
    ],
)
def test_synthetic_closeup_crop_and_box(box, margin, crop):
    frame = np.zeros((352, 640, 3), np.uint8)
    c = make_closeup(frame, box, margin, 640, 352)
    assert c.crop == crop
    assert c.scale == pytest.approx(min(640 / (crop[2] - crop[0]), 352 / (crop[3] - crop[1])))
    assert c.box.x1 == pytest.approx((box.x1 - crop[0]) * c.scale)
    assert c.image.shape[1] <= 640 and c.image.shape[0] <= 352


@pytest.mark.parametrize(
    "tz,expected",
    [("Asia/Shanghai", "2024-05-01 08:30:12.345 +08:00 Asia/Shanghai"), ("UTC", "2024-05-01 00:30:12.345 +00:00 UTC")],
)
def test_synthetic_overlay_time_has_ms_and_zone(tz, expected):
    from tests.support.evidence import T0

    assert format_time(T0, tz) == expected


def test_synthetic_missing_font_is_a_clear_error(tmp_path: Path, keys):
    signer, _ = keys
    with pytest.raises(FontError, match="fonts-noto-cjk"):
        write_package(synthetic_input(event()), config(tmp_path, font_path=tmp_path / "nope.ttc"), signer)
    assert not any((tmp_path / "evidence").rglob("*.jpg"))  # nothing half-written left behind


# -- keys ---------------------------------------------------------------------------------------
def test_synthetic_keypair_modes_and_no_overwrite(tmp_path: Path):
    priv, pub = generate_keypair(tmp_path)
    assert (priv.stat().st_mode & 0o777) == 0o600
    s = Signer.from_file(priv)
    assert s.key_id == Signer.from_file(priv).key_id and len(s.key_id) == 16
    with pytest.raises(FileExistsError):
        generate_keypair(tmp_path)
    os.chmod(priv, 0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        Signer.from_file(priv)
    with pytest.raises(KeyFileError, match="epolice keys new"):
        Signer.from_file(tmp_path / "absent.key")
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        load_public_key(priv)


# -- crash safety -------------------------------------------------------------------------------
@pytest.mark.parametrize("fail_after", [0, 1, 3, 5, 6])
def test_synthetic_crash_mid_write_leaves_nothing_that_verifies(tmp_path: Path, keys, monkeypatch, fail_after):
    """An exception after N files (5 = before the manifest, 6 = before the signature) publishes nothing."""
    signer, pub = keys
    real = package_mod.write_durable
    written = []

    def crashing(path, data, mode=0o644):
        if len(written) == fail_after:
            raise OSError("injected crash")
        written.append(path.name)
        real(path, data, mode)

    monkeypatch.setattr(package_mod, "write_durable", crashing)
    inp = synthetic_input(event())
    cfg = config(tmp_path)
    with pytest.raises(OSError, match="injected crash"):
        write_package(inp, cfg, signer)
    final = package_mod.package_dir(cfg, inp.event, inp.context)
    assert not final.exists()
    assert not list(final.parent.glob(f"{TMP_PREFIX}*"))  # cleaned up on an orderly failure
    monkeypatch.setattr(package_mod, "write_durable", real)
    info = write_package(inp, cfg, signer)  # the retry succeeds
    assert verify_package(info.path, load_public_key(pub)).ok


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from evidence import package as package_mod
    from evidence.signing import Signer
    from tests.support.evidence import config, event, synthetic_input
    real = package_mod.write_durable
    count = [0]
    def slow(path, data, mode=0o644):
        real(path, data, mode)
        count[0] += 1
        if count[0] == 3:
            print("HALFWAY", flush=True)
            time.sleep(60)
    package_mod.write_durable = slow
    tmp = Path(sys.argv[2])
    package_mod.write_package(synthetic_input(event()), config(tmp), Signer.from_file(tmp / "keys" / "evidence.key"))
    """
)


def test_synthetic_killed_writer_leaves_nothing_that_verifies(tmp_path: Path, keys):
    """SIGKILL a writer process halfway: no final package; the leftover temp folder does not verify."""
    signer, pub = keys
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(REPO), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "HALFWAY"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    inp = synthetic_input(event())
    cfg = config(tmp_path)
    final = package_mod.package_dir(cfg, inp.event, inp.context)
    assert not final.exists()
    leftovers = list(final.parent.glob(f"{TMP_PREFIX}*"))
    assert len(leftovers) == 1 and len(list(leftovers[0].iterdir())) == 3
    res = verify_package(leftovers[0], load_public_key(pub))
    assert not res.ok and {p.file for p in res.problems} >= {MANIFEST, "manifest.sig"}
    # a new writer is not fooled by the leftover, and an old leftover is swept
    old = time.time() - 7200
    os.utime(leftovers[0], (old, old))
    info = write_package(inp, cfg, signer)
    assert verify_package(info.path, load_public_key(pub)).ok
    assert not leftovers[0].exists()


def test_synthetic_concurrent_writers_of_one_event_publish_one_package(tmp_path: Path, keys):
    """Two workers handed the same (redelivered) event: one package, both get its description."""
    from concurrent.futures import ThreadPoolExecutor

    signer, pub = keys
    inp, cfg = synthetic_input(event()), config(tmp_path)
    with ThreadPoolExecutor(max_workers=3) as pool:
        infos = list(pool.map(lambda _: write_package(inp, cfg, signer), range(3)))
    assert len({i.path for i in infos}) == 1 and len({i.manifest_sha256 for i in infos}) == 1
    assert sum(not i.reused for i in infos) == 1
    parent = infos[0].path.parent
    assert [p.name for p in parent.iterdir()] == [infos[0].path.name]  # no temp folders left
    assert verify_package(infos[0].path, load_public_key(pub)).ok


def test_synthetic_context_without_name_lane_or_direction(tmp_path: Path, keys):
    from evidence.package import CaptureContext, PackageInput

    signer, pub = keys
    inp = synthetic_input(event())
    bare = PackageInput(inp.event, inp.key_images, CaptureContext(site_id="site-001", device_id="cam-01"))
    info = write_package(bare, config(tmp_path), signer)
    assert verify_package(info.path, load_public_key(pub)).ok
    with pytest.raises(ValueError, match="unknown time zone"):
        CaptureContext(site_id="s", device_id="c", timezone="Mars/Olympus")


def test_synthetic_complete_but_unpublished_temp_folder_does_not_verify(tmp_path: Path, keys):
    """Killed between the signature and the rename: every file is there, but it is not a package."""
    signer, pub = keys
    info = write_package(synthetic_input(event()), config(tmp_path), signer)
    tmp = info.path.with_name(f"{TMP_PREFIX}{info.path.name}-deadbeef")
    info.path.rename(tmp)
    res = verify_package(tmp, load_public_key(pub))
    assert not res.ok and [p.kind for p in res.problems] == ["unreadable"] and "unfinished write" in res.problems[0].detail


def test_synthetic_composite_draws_the_path_with_arrows(tmp_path: Path, keys):
    """A U-turn's path (frame pixels, in time order) is drawn on the panoramas and kept in the manifest."""
    from evidence.composite import PATH_COLOR

    signer, _ = keys
    path = [(200.0, 650.0), (640.0, 640.0), (1000.0, 560.0), (1100.0, 400.0), (900.0, 250.0), (300.0, 200.0)]
    base = event(rule="u_turn", facts={"heading_change_deg": 178.0, "speed_kmh": 14.6})

    def cyan_share(ev, name: str) -> float:
        info = write_package(synthetic_input(ev), config(tmp_path / name), signer)
        comp = np.asarray(Image.open(info.path / "composite.jpg").convert("RGB")).astype(int)
        near = np.all(np.abs(comp - np.array(PATH_COLOR)) < 60, axis=2)
        return float(near.mean()), info

    with_path, info = cyan_share(base.model_copy(update={"path": path}), "with")
    without, _ = cyan_share(base, "without")
    assert without < 1e-4 < with_path
    manifest = Manifest.model_validate_json((info.path / MANIFEST).read_bytes())
    assert [tuple(p) for p in manifest.record["path"]] == path


def test_synthetic_helmet_composite_boxes_each_head_red_without_helmet(tmp_path: Path, keys):
    """Per-rider overlay: on the panel showing the look the riders were read in, each head is boxed,
    red without a helmet, green with one, and labelled with the role."""
    signer, _ = keys
    ev = event(rule="helmet", times_s=(0.0, 1.0, 2.0), facts={
        "rider_status": ["no_helmet", "helmet"], "rider_roles": ["driver", "passenger"],
        "rider_heads": [520.0, 310.0, 560.0, 350.0, 600.0, 312.0, 640.0, 352.0], "rider_look_seq": 0,
    })
    seq = ev.key_frames[0].seq
    ev = ev.model_copy(update={"facts": {**ev.facts, "rider_look_seq": seq}})
    info = write_package(synthetic_input(ev), config(tmp_path), signer)
    from evidence.composite import HEAD_COLORS, rider_marks

    marks = rider_marks(ev.facts, seq)
    assert [m.label for m in marks] == ["驾驶人未戴头盔", "乘客戴头盔"] and marks[0].color == HEAD_COLORS["no_helmet"]
    assert rider_marks(ev.facts, seq + 1) == []  # other frames show other positions: no marks

    def green(path):  # the helmet mark's colour; nothing else in these pictures is green
        comp = np.asarray(Image.open(path / "composite.jpg").convert("RGB")).astype(int)
        return int(((comp[:, :, 1] > 160) & (comp[:, :, 0] < 100) & (comp[:, :, 2] < 130)).sum())

    plain = write_package(synthetic_input(event(rule="helmet", times_s=(0.0, 1.0, 2.0), facts={}, track_id=8)), config(tmp_path), signer)
    assert green(info.path) > 50 and green(plain.path) == 0
