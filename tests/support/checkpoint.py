"""Builders for checkpoint-mode tests: synthetic passes (facts + a frame), watchlist entries, and a
real local HTTP receiver for alert webhooks that can be told to fail and to recover."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from evidence.checkpoint.images import PassCapture
from evidence.checkpoint.values import NewWatchEntry, PassEvent
from evidence.event import Box, PlateCandidateFacts, PlateFacts

T0 = datetime(2027, 1, 10, 2, 0, 0, tzinfo=timezone.utc)
SECRET = "a-webhook-secret-of-some-length"


def plate(text: str | None, status: str = "confirmed", candidates: tuple[str, ...] = (), color: str = "blue") -> PlateFacts:
    cands = tuple(PlateCandidateFacts(text=c, color=color) for c in candidates)
    if status == "confirmed":
        return PlateFacts(text=text, color=color, status="confirmed", candidates=cands, agreement=1.0, reads=4)
    return PlateFacts(text=None, color=color if cands else "unknown", status=status, candidates=cands,
                      reason="readers disagree" if cands else "no plate found", reads=4)


def capture(plate_facts: PlateFacts | None, *, seconds: float = 0.0, track: int = 1, camera: str = "cam-1",
            site: str = "site-a", lat: float | None = 30.0, lon: float | None = 120.0, cls: str = "car") -> PassCapture:
    """A pass of a synthetic frame (a grey 640x360 image with a box) at T0 + seconds."""
    image = np.full((360, 640, 3), 90, np.uint8)
    image[150:300, 200:420] = (40, 60, 200)
    event = PassEvent(site_id=site, camera_id=camera, line_id="stop", lane="1", direction="由南向北", track_id=track,
                      pass_time=T0 + timedelta(seconds=seconds), vehicle_class=cls, plate=plate_facts,
                      box=Box(x1=200, y1=150, x2=420, y2=300), latitude=lat, longitude=lon)
    return PassCapture(event, image)


def entry(plate_text: str, reason: str = "hit_and_run", priority: int = 2, note: str = "") -> NewWatchEntry:
    return NewWatchEntry(plate=plate_text, reason=reason, priority=priority, note=note)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers 503 while ``down``, else 200 and keeps the request."""

    down: bool = False
    received: list[tuple[dict, bytes, dict[str, str]]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)  # epoch seconds each was taken
    refused: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def start(self) -> "Receiver":
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.down:
                    outer.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.received_at.append(time.time())
                outer.received.append((json.loads(body), body, {k: v for k, v in self.headers.items()}))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# -- rendered checkpoint clips: real plate photos moving down through a frame ----------------------
CLIP_SIZE = (1280, 704)
CAPTURE_LINE = [[100, 400], [1180, 400]]
# (photo under ../shared/data/plates, its plate): the vehicles of the rendered clip, one every 4 s
CLIP_VEHICLES = [("images/ccpd_demo_0.jpg", "皖A195K9"), ("images/ccpd_demo_2.jpg", "皖AT022C"),
                 ("images/clpdr_old_19.jpg", "闽EVL838")]
VEHICLE_GAP_S = 4.0


def checkpoint_site_doc(source: str = "rendered", **extra) -> dict:
    """One checkpoint camera over the rendered road: a capture line across it, vehicles coming down."""
    return {"id": "ck", "location": {"latitude": 30.0, "longitude": 120.0},
            "cameras": [{"id": "gate", "source": source, "detect_fps": 5, "frame_size": list(CLIP_SIZE),
                         "capture_lines": [{"id": "stop", "points": CAPTURE_LINE, "travel": "down", "direction": "由北向南"}]}],
            "models": {"helmet": None}, **extra}


def checkpoint_scene(shared_data, vehicles=CLIP_VEHICLES, fps: float = 10.0):  # noqa: ANN001, ANN201 - Path, Scene
    """The street clip's clean background at 2x, and each plate photo (the car as photographed, 300 px
    wide) driven down through the frame at 150 px/s, across the capture line, one after the other."""
    import cv2

    from tests.support import scenario as sc

    bg = cv2.resize(sc.clean_background(str(shared_data / "videos" / "street_parking_a.mp4")), CLIP_SIZE)
    actors = []
    for i, (name, _) in enumerate(vehicles):
        crop = sc.Crop(cv2.imread(str(shared_data / "plates" / name)), "car", name)
        route = sc.PathBuilder((640, 300), heading=90, t0=i * VEHICLE_GAP_S).line_to(640, 800, 150).build()
        actors.append(sc.Actor(sc.Vehicle(route, size=sc.crop_size(crop, 300)), crop))
    return sc.Scene(bg, actors, VEHICLE_GAP_S * len(vehicles) + 1.0, fps=fps, camera_id="gate")


def write_clip(scene, path) -> None:  # noqa: ANN001 - a Scene, a Path
    """Encode a rendered scene as an H.264 MP4 (what the RTSP test server streams), through ffmpeg.

    Without B-frames, like most IP cameras' streams (a camera with B-frames is recorded too, and
    tested in tests/vision/sources/test_rtsp_recording.py)."""
    import subprocess

    h, w = scene.background.shape[:2]
    proc = subprocess.Popen(["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}",
                             "-r", str(scene.fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-g", str(int(scene.fps)),
                             "-pix_fmt", "yuv420p", str(path)], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for frame in scene.frames():
        proc.stdin.write(frame.image.tobytes())
    proc.stdin.close()
    assert proc.wait() == 0, "ffmpeg could not encode the rendered clip"
