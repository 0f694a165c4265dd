"""Model registry: manifests, sha256 verification, fetch from a directory and from a wheel, CLI messages."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from models import fetch as fetch_mod
from models.domain import DOMAIN_CLASSES
from models.manifest import ModelManifest, WheelSource, builtin_manifests, load_manifest
from models.registry import ModelCorruptError, ModelMissingError, Registry, write_sidecar
from pipelines.cli.main import app
from tests.support.models import registry, require_model  # noqa: F401  (fixture import)

EXPECTED = {
    "yolov5n_coco", "helmet_yolov12m", "plate_det_clp", "ocr_rec_ppocrv4", "yolo11n",
    "plate_det_y5fu_320", "plate_det_y5fu_640", "plate_color_hyperlpr3", "ocr_rec_hyperlpr", "ocr_rec_ppocrv6",
    "yolov5n_coco_416", "yolov5n_coco_512", "yolov5n_coco_int8", "head_cls_cctv",
}


def _flip_byte(path: Path, offset: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_builtin_manifests_cover_the_models_and_map_to_domain_classes():
    manifests = builtin_manifests()
    assert set(manifests) == EXPECTED
    assert manifests["yolov5n_coco"].class_map[2] == "car"
    assert manifests["yolov5n_coco"].class_map[3] == "motorcycle"
    assert manifests["yolov5n_coco"].output_layout == "yolov5"
    assert manifests["helmet_yolov12m"].class_map == {0: "head_helmet", 1: "head_no_helmet"}
    assert manifests["helmet_yolov12m"].output_layout == "yolov8"
    assert manifests["plate_det_clp"].task == "plate_detect"
    assert manifests["ocr_rec_ppocrv4"].task == "ocr_rec"
    assert manifests["yolo11n"].optional and not manifests["yolov5n_coco"].optional
    assert manifests["plate_det_y5fu_320"].output_layout == "yolov5_face_plate"
    assert manifests["plate_det_y5fu_320"].class_names == {0: "single_row", 1: "double_row"}
    assert manifests["plate_det_y5fu_640"].optional and not manifests["plate_det_y5fu_320"].optional
    assert manifests["plate_color_hyperlpr3"].task == "classify"
    assert manifests["plate_color_hyperlpr3"].class_names == {0: "blue", 1: "green", 2: "yellow"}
    hl = manifests["ocr_rec_hyperlpr"]
    assert hl.output_layout == "ctc_nct" and hl.export.tool == "caffe" and len(hl.params["characters"]) == 83
    assert [s.companions for s in hl.sources if isinstance(s, WheelSource)][0]
    for m in manifests.values():
        assert all(v is None or v in DOMAIN_CLASSES for v in m.class_map.values())
        assert m.sha256 or m.made_here, f"{m.name}: a fetched (not exported, derived or trained) file must have a manifest sha256"
    assert manifests["head_cls_cctv"].trained and manifests["head_cls_cctv"].optional


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"class_map": {0: "lorry"}}, "class_map"),
        ({"sha256": "abc"}, "sha256"),
        ({"output_layout": "yolov7"}, "output_layout"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_synthetic_malformed_manifest_names_the_field(tmp_path, patch, field):
    data = builtin_manifests()["yolov5n_coco"].model_dump(mode="json")
    data.update(patch)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=field):
        load_manifest(path)


def test_missing_model_error_is_one_line_with_the_fix(tmp_path):
    reg = Registry(tmp_path)
    with pytest.raises(ModelMissingError) as info:
        reg.path("plate_det_clp")
    message = str(info.value)
    assert "\n" not in message
    assert "plate_det_clp" in message and str(tmp_path) in message
    assert "epolice models fetch plate_det_clp" in message
    assert f"EPOLICE_MODELS_DIR={tmp_path}" in message  # the fix must target this registry's directory


def test_missing_export_model_fix_names_the_export_interpreter(tmp_path):
    with pytest.raises(ModelMissingError, match="--export-python"):
        Registry(tmp_path).path("helmet_yolov12m")


def test_missing_caffe_model_fix_names_the_conversion_interpreter(tmp_path):
    with pytest.raises(ModelMissingError, match="opencv-python-headless<5"):
        Registry(tmp_path).path("ocr_rec_hyperlpr")


def test_fetch_from_dir_into_a_subfolder(shared_models, tmp_path):
    reg = Registry(tmp_path / "models")
    result = fetch_mod.fetch(reg, "plate_det_y5fu_320", from_dirs=[shared_models])
    assert result.path == tmp_path / "models" / "hyperlpr3" / "y5fu_320x_sim.onnx"
    assert reg.path("plate_det_y5fu_320") == result.path


def test_synthetic_caffe_wheel_members_are_converted_in_the_export_interpreter(tmp_path, monkeypatch):
    """Both members (caffemodel + prototxt companion) are extracted and verified, and the converter
    runs in the given interpreter with --check synthetic plus the real crops named by the env var."""
    weights, proto = b"caffe weights" * 10, b'input: "data"\n'
    wm, pm = "pkg/models/net.caffemodel", "pkg/models/net.prototxt"
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(wm, weights)
        zf.writestr(pm, proto)
    source = WheelSource(package="pkg", version="1.0", member=wm, sha256=_sha_bytes(weights), companions={pm: _sha_bytes(proto)})
    manifest = builtin_manifests()["ocr_rec_hyperlpr"].model_copy(update={"sources": [source]})
    monkeypatch.setattr(fetch_mod, "_pip_download", lambda package, version, into: Path(shutil.copy(wheel, into)))
    log = tmp_path / "args.txt"
    fake = tmp_path / "fake-python"  # stands in for the conversion interpreter: records its arguments
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {log}\n'
        'while [ $# -gt 0 ]; do if [ "$1" = "--out" ]; then out="$2"; fi; shift; done\n'
        'printf converted > "$out"\necho "check: synthetic ok"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv(fetch_mod.ENV_CONVERT_CHECK_IMAGES, "/crops")
    reg = Registry(tmp_path / "models")
    reg._manifests = {**reg._manifests, "ocr_rec_hyperlpr": manifest}
    result = fetch_mod.fetch(reg, "ocr_rec_hyperlpr", export_python=str(fake))
    assert result.path.read_bytes() == b"converted" and "check: synthetic ok" in result.source
    args = log.read_text()
    assert "convert_caffe.py" in args and "--prototxt" in args and "net.prototxt" in args
    assert "--check synthetic --check /crops" in args
    assert reg.path("ocr_rec_hyperlpr") == result.path  # verified by the sidecar written at conversion
    bad = manifest.model_copy(update={"sources": [source.model_copy(update={"companions": {pm: "0" * 64}})]})
    reg._manifests["ocr_rec_hyperlpr"] = bad
    with pytest.raises(fetch_mod.FetchError, match="net.prototxt"):
        fetch_mod.fetch(reg, "ocr_rec_hyperlpr", export_python=str(fake), force=True)


def _sha_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_flipped_byte_is_caught_by_sha256(registry, tmp_path):
    src = require_model(registry, "yolov5n_coco")
    copy = tmp_path / src.name
    shutil.copyfile(src, copy)
    reg = Registry(tmp_path)
    assert reg.path("yolov5n_coco") == copy
    _flip_byte(copy)
    with pytest.raises(ModelCorruptError) as info:
        reg.path("yolov5n_coco")
    assert "corrupt" in str(info.value) and "epolice models fetch yolov5n_coco" in str(info.value)
    assert reg.path("yolov5n_coco", verify=False) == copy
    states = {s.name: s.state for s in reg.status()}
    assert states["yolov5n_coco"] == "corrupt" and states["plate_det_clp"] == "missing"


def test_exported_model_is_verified_by_its_sidecar(tmp_path):
    reg = Registry(tmp_path)
    exported = reg.file_path("helmet_yolov12m")
    exported.write_bytes(b"synthetic exported model bytes" * 100)
    with pytest.raises(ModelCorruptError, match="no checksum"):
        reg.path("helmet_yolov12m")
    write_sidecar(exported)
    assert reg.path("helmet_yolov12m") == exported
    _flip_byte(exported, 10)
    with pytest.raises(ModelCorruptError, match="corrupt"):
        reg.path("helmet_yolov12m")


def test_fetch_from_dir_copies_and_verifies(shared_models, tmp_path):
    reg = Registry(tmp_path / "models")
    result = fetch_mod.fetch(reg, "yolov5n_coco", from_dirs=[shared_models])
    assert result.path == tmp_path / "models" / "yolov5n_coco_640.onnx"
    assert result.sha256 == reg.manifest("yolov5n_coco").sha256
    assert fetch_mod.fetch(reg, "yolov5n_coco").source == "already present"


def test_fetch_from_dir_rejects_a_corrupt_copy(shared_models, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copyfile(shared_models / "yolov5n_coco_640.onnx", bad / "yolov5n_coco_640.onnx")
    _flip_byte(bad / "yolov5n_coco_640.onnx")
    reg = Registry(tmp_path / "models")
    with pytest.raises(fetch_mod.FetchError, match="sha256"):
        fetch_mod.fetch(reg, "yolov5n_coco", from_dirs=[bad])
    assert not reg.file_path("yolov5n_coco").exists()  # nothing half-written left behind


def _synthetic_wheel(tmp_path: Path, member: str, payload: bytes) -> Path:
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(member, payload)
        zf.writestr("pkg-1.0.dist-info/METADATA", "Name: pkg\n")
    return wheel


def test_synthetic_wheel_member_is_extracted_and_verified(tmp_path, monkeypatch):
    payload = b"synthetic onnx payload" * 50
    member = "pkg/resources/model.onnx"
    digest = hashlib.sha256(payload).hexdigest()
    manifest = builtin_manifests()["plate_det_clp"].model_copy(
        update={"name": "plate_det_clp", "sha256": digest, "sources": [WheelSource(package="pkg", version="1.0", member=member, sha256=digest)]}
    )
    wheel = _synthetic_wheel(tmp_path, member, payload)

    def fake_download(package, version, into):  # the only network step; the rest runs for real
        assert (package, version) == ("pkg", "1.0")
        return Path(shutil.copy(wheel, into))

    monkeypatch.setattr(fetch_mod, "_pip_download", fake_download)
    reg = Registry(tmp_path / "models")
    reg._manifests = {**reg._manifests, "plate_det_clp": manifest}
    result = fetch_mod.fetch(reg, "plate_det_clp")
    assert result.path.read_bytes() == payload and result.source == "wheel pkg==1.0"

    tampered = ModelManifest.model_validate({**manifest.model_dump(), "sources": [{**manifest.sources[0].model_dump(), "sha256": "0" * 64}]})
    reg._manifests["plate_det_clp"] = tampered
    with pytest.raises(fetch_mod.FetchError, match="manifest expects 000000000000"):
        fetch_mod.fetch(reg, "plate_det_clp", force=True)


def test_export_without_a_torch_interpreter_says_how(tmp_path, monkeypatch):
    monkeypatch.delenv(fetch_mod.ENV_EXPORT_PYTHON, raising=False)
    reg = Registry(tmp_path)
    raw = tmp_path / "best.pt"
    raw.write_bytes(b"x")
    with pytest.raises(fetch_mod.FetchError, match="--export-python"):
        fetch_mod._export_and_install(reg, reg.manifest("helmet_yolov12m"), str(raw), "test", None)
    with pytest.raises(fetch_mod.FetchError, match="not found or not executable"):
        fetch_mod._export_and_install(reg, reg.manifest("helmet_yolov12m"), str(raw), "test", "no/such/python")


runner = CliRunner()


def test_cli_missing_model_is_one_clean_line(tmp_path, shared_data):
    frame = shared_data / "cctv" / "train" / "frame1008.jpg"
    result = runner.invoke(app, ["detect", str(frame)], env={"EPOLICE_MODELS_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith("error: model 'yolov5n_coco' missing") and "epolice models fetch yolov5n_coco" in lines[0]


def test_cli_corrupt_model_is_one_clean_line(registry, tmp_path, shared_data):
    src = require_model(registry, "yolov5n_coco")
    shutil.copyfile(src, tmp_path / src.name)
    _flip_byte(tmp_path / src.name)
    frame = shared_data / "cctv" / "train" / "frame1008.jpg"
    result = runner.invoke(app, ["detect", str(frame)], env={"EPOLICE_MODELS_DIR": str(tmp_path)})
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "is corrupt" in lines[0] and "epolice models fetch yolov5n_coco" in lines[0]


def test_cli_models_list_and_fetch_from_dir(tmp_path, shared_models):
    env = {"EPOLICE_MODELS_DIR": str(tmp_path)}
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"], env=env).output)
    assert {m["name"]: m["state"] for m in listed["models"]}["yolov5n_coco"] == "missing"
    fetched = runner.invoke(app, ["models", "fetch", "yolov5n_coco", "--from", str(shared_models)], env=env)
    assert fetched.exit_code == 0, fetched.output
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"], env=env).output)
    row = {m["name"]: m for m in listed["models"]}["yolov5n_coco"]
    assert row["state"] == "present" and row["fix"] == ""
    unknown = runner.invoke(app, ["models", "fetch", "no_such_model"], env=env)
    assert unknown.exit_code == 2 and "unknown model" in unknown.output
