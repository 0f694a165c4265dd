"""End to end on the real clip: a parking package for the car in the driveway of street_parking_a.mp4."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evidence.manifest import MANIFEST, SIGNATURE, Manifest, verify_package
from evidence.package import PackageError, write_package
from evidence.signing import Signer, generate_keypair, load_public_key
from tests.support.evidence import PARKED_CAR, PARKING_VIDEO, config, real_parking_input

FILES = ["panorama_1_first.jpg", "panorama_2_middle.jpg", "panorama_3_last.jpg", "closeup.jpg", "composite.jpg", "clip.mp4", MANIFEST, SIGNATURE]


@pytest.fixture(scope="module")
def built(shared_data: Path, tmp_path_factory):
    """One package from the real clip, built once; tests copy it before touching it."""
    root = tmp_path_factory.mktemp("real")
    priv, pub = generate_keypair(root / "keys")
    signer = Signer.from_file(priv)
    inp = real_parking_input(shared_data / PARKING_VIDEO)
    info = write_package(inp, config(root), signer)
    return inp, info, signer, load_public_key(pub)


def test_real_clip_package_verifies_and_holds_every_part(built):
    inp, info, signer, public = built
    assert sorted(p.name for p in info.path.iterdir()) == sorted(FILES)
    res = verify_package(info.path, public)
    assert res.ok, res.problems
    assert res.files_checked == 6
    manifest = Manifest.model_validate_json((info.path / MANIFEST).read_bytes())
    assert manifest.event_key == inp.event.event_key
    assert manifest.record["code"] == "1039" and manifest.record["plate"]["text"] == "浙A12345"
    assert manifest.context["site_name"] == "示例路口东侧"
    # 640x352 camera: recorded as below GA/T 832, not upscaled
    assert any("below the GA/T 832 minimum 1280x720" in w for w in manifest.warnings)
    for k, n in zip(sorted(inp.event.key_frames, key=lambda k: k.seq), (1, 2, 3)):
        stored = np.asarray(Image.open(info.path / f"panorama_{n}_{k.role}.jpg"))
        assert stored.shape == (352, 640, 3)  # full camera resolution
        original = inp.key_images[k.seq][:, :, ::-1].astype(np.float32)
        assert np.abs(stored.astype(np.float32) - original).mean() < 4.0  # the same frame, JPEG-close


def test_real_clip_parking_panoramas_span_at_least_20_s(built):
    inp, info, *_ = built
    times = sorted(k.wall_time for k in inp.event.key_frames)
    assert (times[-1] - times[0]).total_seconds() >= 20
    manifest = Manifest.model_validate_json((info.path / MANIFEST).read_bytes())
    seqs = [f.seq for f in manifest.files if f.kind == "panorama"]
    assert seqs == sorted(k.seq for k in inp.event.key_frames)


def test_real_clip_closeup_is_the_parked_car_upscaled(built):
    inp, info, *_ = built
    manifest = Manifest.model_validate_json((info.path / MANIFEST).read_bytes())
    x1, y1, x2, y2 = manifest.closeup["crop_xyxy"]
    assert x1 <= PARKED_CAR.x1 and y1 <= PARKED_CAR.y1 and x2 >= PARKED_CAR.x2 - 1 and y2 >= PARKED_CAR.y2
    assert manifest.closeup["scale"] > 3  # a ~60 px car blown up for the reviewer
    close = Image.open(info.path / "closeup.jpg")
    assert close.height == 352 or close.width == 640


def test_real_clip_composite_is_2x2_with_bars_outside_the_pictures(built):
    inp, info, *_ = built
    comp = np.asarray(Image.open(info.path / "composite.jpg").convert("RGB")).astype(int)
    h, w = comp.shape[:2]
    assert w == 2 * 640 + 2
    bar_h = (h - 2) // 2 - 352
    assert bar_h >= 60  # four lines of text
    # The first panel's picture (below its bar) is the untouched panorama, except the box outline:
    first = inp.key_images[inp.event.key_frames[0].seq][:, :, ::-1].astype(int)
    region = comp[bar_h : bar_h + 352, 0:560]  # left of the vehicle outline
    assert np.abs(region - first[:, :560]).mean() < 6
    # The bar itself is the dark background with light text, not picture.
    bar = comp[0:bar_h, 0:640]
    assert (bar.max(axis=2) < 60).mean() > 0.7 and (bar.min(axis=2) > 200).any()


def test_real_clip_clip_is_h264_yuv420p_faststart(built):
    inp, info, *_ = built
    clip = info.path / "clip.mp4"
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(clip)],
        capture_output=True, check=True, text=True).stdout)["streams"][0]
    assert probe["codec_name"] == "h264" and probe["pix_fmt"] == "yuv420p"
    assert int(probe["nb_read_frames"]) == len(inp.clip.frames)
    data = clip.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")  # +faststart: index before media


@pytest.mark.parametrize("name", FILES)
def test_real_clip_one_flipped_byte_fails_and_names_the_file(built, tmp_path: Path, name: str):
    _, info, _, public = built
    pkg = tmp_path / info.path.name
    shutil.copytree(info.path, pkg)
    target = pkg / name
    data = bytearray(target.read_bytes())
    # the manifest's middle byte may fall in a listed file's name, which also (rightly) reports that
    # file missing: flip a byte of its creation time instead, whatever the manifest's layout
    middle = data.index(b'"created_at": "') + 20 if name == MANIFEST else len(data) // 2
    data[middle] ^= 0x01
    target.write_bytes(bytes(data))
    res = verify_package(pkg, public)
    assert not res.ok
    assert [p.file for p in res.problems] == [name], res.problems
    assert res.problems[0].kind in ("modified", "signature_invalid", "unreadable")


@pytest.mark.parametrize("name", FILES[:6])
def test_real_clip_missing_file_is_named(built, tmp_path: Path, name: str):
    _, info, _, public = built
    pkg = tmp_path / info.path.name
    shutil.copytree(info.path, pkg)
    (pkg / name).unlink()
    res = verify_package(pkg, public)
    assert [(p.file, p.kind) for p in res.problems] == [(name, "missing")]


def test_real_clip_extra_file_is_named(built, tmp_path: Path):
    _, info, _, public = built
    pkg = tmp_path / info.path.name
    shutil.copytree(info.path, pkg)
    (pkg / "note.txt").write_text("added later")
    res = verify_package(pkg, public)
    assert [(p.file, p.kind) for p in res.problems] == [("note.txt", "extra")]


def test_real_clip_rewrite_is_idempotent_and_refuses_to_overwrite_tampered(built, tmp_path: Path):
    inp, info, signer, public = built
    cfg = config(tmp_path)
    first = write_package(inp, cfg, signer)
    again = write_package(inp, cfg, signer)
    assert again.reused and again.path == first.path and again.manifest_sha256 == first.manifest_sha256
    # deterministic content: same frames give the same files as the module's package
    assert {f.name: f.sha256 for f in again.files} == {f.name: f.sha256 for f in info.files}
    (first.path / "closeup.jpg").write_bytes(b"not the closeup")
    with pytest.raises(PackageError, match="closeup.jpg: modified"):
        write_package(inp, cfg, signer)
