"""A real RTSP camera for tests: ``tests/support/rtsp_server.py`` (GStreamer) in a child process on loopback.

The server keeps one fixed port for its whole life, so a test can kill it mid-stream and start it
again on the same address, which is exactly what a camera rebooting looks like to the reader.
Needs the system python with ``gi`` and GStreamer's RTSP server (Debian: python3-gi,
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-rtsp, gstreamer1.0-plugins-{base,good,bad}); the
fixture skips (fails under CI) when they are missing.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import IN_CI, require

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
CLIP = "videos/parking_lot_lane.mp4"


def take_frames(source, n: int, timeout: float = 40.0) -> list:
    """Up to ``n`` frames from a started ``RtspSource`` (fewer when ``timeout`` runs out)."""
    frames = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(frames) < n:
        f = source.frames.get(timeout=1.0)
        if f is not None:
            frames.append(f)
    return frames


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gst_rtsp_available() -> str | None:
    """None when the GStreamer RTSP server can run here, else why not."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"],
        capture_output=True, text=True,
    )
    if probe.returncode != 0:
        return "GStreamer RTSP server for python3 missing (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp)"
    return None


class RtspServer:
    """Start, kill and restart the test camera on one fixed loopback port."""

    def __init__(
        self, video: Path | None, port: int | None = None, path: str = "/cam", user: str | None = None, password: str | None = None,
        mounts: dict[str, Path] | None = None, live: bool = False,
    ):
        """``mounts``: more streams (path -> clip); ``live``: mounts follow the server clock, as a camera's
        main and sub-stream show the same moment (see rtsp_server.py)."""
        self.video, self.port, self.path = video, port or free_port(), path
        self.user, self.password = user, password
        self.mounts, self.live = dict(mounts or {}), live
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return self.url_of(self.path)

    def url_of(self, path: str) -> str:
        auth = f"{quote(self.user, safe='')}:{quote(self.password or '', safe='')}@" if self.user else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}{path}"

    def start(self, timeout: float = 30.0) -> RtspServer:
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        cmd = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port)]
        if self.video is not None:
            cmd += ["--path", self.path, "--video", str(self.video)]
        for path, video in self.mounts.items():
            cmd += ["--mount", f"{path}={video}"]
        if self.live:
            cmd.append("--live")
        if self.user:
            cmd += ["--user", self.user, "--password", self.password or ""]
        deadline = time.monotonic() + timeout
        while True:  # the port may linger briefly after a kill
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = self.proc.stdout.readline()
            if line.startswith("READY"):
                self.starts += 1
                return self
            self.proc.wait()
            err = self.proc.stderr.read()
            if time.monotonic() > deadline:
                raise RuntimeError(f"RTSP test server did not start: {line.strip()} {err.strip()}")
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL: the camera vanishes mid-stream without closing its sessions."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: the TCP connection stays open but nothing flows (a frozen camera)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream:
                    stream.close()


def _video(shared_data: Path) -> Path:
    reason = gst_rtsp_available()
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return require(shared_data / CLIP, "test clip")


@pytest.fixture
def rtsp_server(shared_data: Path) -> Iterator[RtspServer]:
    server = RtspServer(_video(shared_data)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rtsp_server_auth(shared_data: Path) -> Iterator[RtspServer]:
    """A camera behind basic auth whose password contains URL-special characters."""
    server = RtspServer(_video(shared_data), user="admin", password="Pa:ss@w0rd/Secret").start()
    try:
        yield server
    finally:
        server.stop()
