"""``epolice run`` / ``status`` / ``soak`` refuse bad input with one clean line (no traceback, no secret)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from evidence.signing import generate_keypair
from pipelines.cli.main import app
from tests.conftest import require
from tests.support.live import free_port


def _site(tmp_path: Path, source: str, key: bool = True) -> Path:
    priv = generate_keypair(tmp_path / "keys")[0] if key else tmp_path / "keys" / "missing.key"
    doc = {
        "id": "cli-site",
        "cameras": [{"id": "gate-1", "source": source, "frame_size": [640, 352]}],
        "evidence": {"output_dir": str(tmp_path / "ev"), "signing_key": str(priv)},
        "store": {"url": f"sqlite:///{tmp_path / 'r.db'}"},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("source", "args", "key", "expected"),
    [
        ("/videos/recorded.mp4", [], True, "must start with rtsp://"),
        ("rtsp://admin:Hunter2x@127.0.0.1:554/s", ["--cameras", "gate-9"], True, "no camera 'gate-9'"),
        ("rtsp://admin:Hunter2x@127.0.0.1:554/s", [], False, "signing key"),
        ("rtsp://admin:Hunter2x@127.0.0.1:554/s", ["--redis", "redis://:Hunter2x@127.0.0.1:{port}/0"], True, "cannot reach Redis at redis://:***@127.0.0.1"),
        ("rtsp://admin:Hunter2x@127.0.0.1:554/s", ["--live-config", "{bad_live}"], True, "rtsp.io_timeout_s"),
    ],
    ids=["file-source", "unknown-camera", "missing-key", "redis-down", "bad-live-config"],
)
def test_run_bad_input_is_one_clean_line_synthetic(tmp_path: Path, source: str, args: list[str], key: bool, expected: str) -> None:
    bad_live = tmp_path / "live.yaml"
    bad_live.write_text("rtsp: {io_timeout_s: -1}\n")
    args = [a.format(port=free_port(), bad_live=bad_live) for a in args]
    result = CliRunner().invoke(app, ["run", "--site", str(_site(tmp_path, source, key)), "--metrics-port", "0", *args])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output and "Hunter2x" not in result.output


def test_status_needs_one_target_and_reports_unreachable_worker_synthetic() -> None:
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2 and "give either --url" in result.output
    result = CliRunner().invoke(app, ["status", "--url", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 2 and "cannot read worker health" in result.output


def test_soak_rejects_a_non_rtsp_url_synthetic() -> None:
    result = CliRunner().invoke(app, ["soak", "--url", "http://u:Hunter2x@h/x", "--minutes", "0.01"])
    assert result.exit_code == 2 and "must start with rtsp://" in result.output and "Hunter2x" not in result.output


def test_run_serves_metrics_and_health_on_loopback_by_default_synthetic() -> None:
    """Issue 15 item 18: `epolice run` served /metrics and /healthz on 0.0.0.0 unless told otherwise."""
    import inspect

    from pipelines.cli import live_cmd

    option = inspect.signature(live_cmd.run).parameters["metrics_host"].default
    assert option.default == "127.0.0.1"


@pytest.mark.parametrize("command", [["run", "--metrics-port", "0"], ["process", "{video}"]], ids=["live", "batch"])
def test_a_missing_plate_model_is_one_line_naming_the_fetch_command(tmp_path: Path, shared_data: Path, command: list[str]) -> None:
    """The live and batch paths read plates twice (five models): with one missing, the start fails
    in one line that names the command fetching it."""
    from models.registry import Registry
    from tests.support.models import require_model
    from vision.plates.reader import MODELS, SECOND_OCR_MODEL

    registry = Registry()
    models = tmp_path / "models"
    for name in ("yolov5n_coco", "helmet_yolov12m", *MODELS):
        path = require_model(registry, name)
        if name == SECOND_OCR_MODEL:
            continue
        for source in (path, path.with_name(path.name + ".sha256")):  # exported models carry their hash beside them
            if source.exists():
                target = models / source.relative_to(registry.models_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(source)
    site = _site(tmp_path, "rtsp://127.0.0.1:554/s")
    video = require(shared_data / "videos" / "street_parking_a.mp4", "street_parking_a.mp4")  # planned, never decoded
    args = [a.format(video=video) for a in command[1:]]
    result = CliRunner().invoke(app, [command[0], "--site", str(site), *args], env={"EPOLICE_MODELS_DIR": str(models)})
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output
    assert f"epolice models fetch {SECOND_OCR_MODEL}" in lines[0]
