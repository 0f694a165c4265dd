"""Model fixtures: the real fetched models, through the registry, or a skip/fail that names the fix.

Usage in a test module::

    from tests.support.models import registry, require_model  # noqa: F401  (fixture import)

    def test_x(registry):
        path = require_model(registry, "plate_det_clp")

The registry is the one the runtime uses ($EPOLICE_MODELS_DIR or ~/.cache/epolice/models), filled
by ``epolice models fetch``. A missing or corrupt model skips the test on a dev machine and fails
it under CI=true, with the registry's one-line fix command as the reason.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from models.registry import ModelMissingError, Registry
from tests.conftest import IN_CI


def require_model(registry: Registry, name: str) -> Path:
    """The verified model file, or skip (dev) / fail (CI) with the fix command."""
    try:
        return registry.path(name)
    except ModelMissingError as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry()


@pytest.fixture(scope="session")
def yolov5n_detector(registry: Registry):
    from vision.detector import Detector

    require_model(registry, "yolov5n_coco")
    return Detector(registry, "yolov5n_coco")


@pytest.fixture(scope="session")
def helmet_detector(registry: Registry):
    from vision.detector import Detector

    require_model(registry, "helmet_yolov12m")
    return Detector(registry, "helmet_yolov12m")


def export_python() -> str:
    """The export interpreter (torch + ultralytics + onnx; `.ci/install` makes it): skip without it, fail under CI."""
    python = os.environ.get("EPOLICE_EXPORT_PYTHON") or str(Path("~/.cache/epolice/venv-export/bin/python").expanduser())
    probe = subprocess.run([python, "-c", "import torch, ultralytics"], capture_output=True) if Path(python).is_file() else None
    if probe is None or probe.returncode != 0:
        message = f"export interpreter with torch + ultralytics not found at {python} (bash .ci/install creates it; or set EPOLICE_EXPORT_PYTHON)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return python
