"""Soak: stream a real RTSP camera for minutes and check memory stays flat. Not in the default run:

    .venv/bin/pytest tests/pipelines/live/test_soak.py -m soak          # EPOLICE_SOAK_MINUTES (default 3)

For the figure in docs/benchmarks.md use the CLI, which also runs the full worker:
``epolice soak --site SITE.yaml --minutes 30``.
"""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from pipelines.cli.main import app
from tests.support.rtsp import RtspServer, rtsp_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.soak


@pytest.fixture(autouse=True)
def _only_when_selected(request: pytest.FixtureRequest) -> None:
    if "soak" not in (request.config.getoption("-m") or ""):
        pytest.skip("soak test: select with -m soak")


def test_soak_ingest_memory_stays_flat(rtsp_server: RtspServer) -> None:
    minutes = float(os.environ.get("EPOLICE_SOAK_MINUTES", "3"))
    result = CliRunner().invoke(
        app, ["soak", "--url", rtsp_server.url, "--minutes", str(minutes), "--interval-s", str(max(5.0, minutes * 6)), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    samples = summary["samples"]
    print("\n".join(json.dumps(s) for s in samples))  # RSS over time, with -s
    assert samples[-1]["decoded"] > (samples[-1]["t_s"] - 5) * 10  # ~12.5 fps all along, after connecting
    assert samples[-1]["reconnects"] == 0
    # after warm-up, growth stays within a few MB (allocator noise), not proportional to frames
    assert summary["rss_end_mb"] - summary["rss_after_warmup_mb"] < 15.0
