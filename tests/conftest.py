"""Shared fixtures: where the third-party data and models live, and how tests treat their absence.

Real data and models are referenced at run time from ``../shared`` (override: EPOLICE_SHARED).
When they are missing a test skips with the reason, except under CI=true, where it fails: CI must
never go green by skipping the tests that matter.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.paths import REPO

SHARED = Path(os.environ.get("EPOLICE_SHARED", REPO.parent / "shared")).resolve()
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(path: Path, what: str) -> Path:
    """Return ``path`` if it exists; otherwise skip (dev) or fail (CI) naming what is missing."""
    if path.exists():
        return path
    message = f"{what} not found at {path} (set EPOLICE_SHARED or place ../shared beside the repo)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return require(SHARED, "shared data directory")


def shared_fixture(name: str, relative: str, what: str):  # noqa: ANN201 - a pytest fixture
    """A session fixture ``name``: ``relative`` under ../shared, skipped (failed in CI) when missing."""

    @pytest.fixture(scope="session", name=name)
    def _path(shared_dir: Path) -> Path:
        return require(shared_dir / relative, what)

    return _path


shared_data = shared_fixture("shared_data", "data", "shared data")
shared_models = shared_fixture("shared_models", "models", "shared models")
plates_dir = shared_fixture("plates_dir", "data/plates", "plate photos")
cctv = shared_fixture("cctv", "data/cctv", "labelled CCTV frames")
rider_truth = shared_fixture("rider_truth", "data/cctv/riders_train.jsonl", "rider labels")
helmet_set = shared_fixture("helmet_set", "data/helmet/valid", "helmet heads set")
