"""Live-site test helpers: a redis-server that can be killed and restarted on the same port (a Redis
outage; tests that need no outage use ``tests.support.redis``), synthetic records, and a waiting helper."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from evidence.store.records import NewRecord
from tests.conftest import IN_CI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond: Callable[[], object], timeout: float, what: str, step: float = 0.05) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class RedisServer:
    """redis-server on a fixed loopback port, without persistence: a stop loses everything, like a crash."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        import redis

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        """SIGKILL: an outage, not a clean shutdown."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        reason = "redis-server not installed (apt-get install redis-server)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


def synthetic_record(i: int, site_id: str = "site-1", camera_id: str = "cam-1") -> NewRecord:
    t0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc) + timedelta(seconds=10 * i)
    return NewRecord(
        event_key=f"{i:032x}", site_id=site_id, camera_id=camera_id, rule="parking", code="1039", code_name="违停",
        track_id=i, start_time=t0, end_time=t0 + timedelta(seconds=60), plate_text=f"京A{i:05d}", vehicle_class="car",
        evidence_path=f"/evidence/{i}", evidence_files=[], manifest_sha256="0" * 64, signature="sig", key_id="k",
    )
