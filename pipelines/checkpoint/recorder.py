"""One camera's passes: each tracked vehicle crossing a capture line its way gives exactly one.

The engine calls ``observe`` on every detection frame with the tracks updated in it and a function
that reads a track's plate (once per track, shared with the violation rules). A crossing becomes a
``PassCapture``: the ``PassEvent`` (site, camera, line, lane, direction, interpolated crossing time,
plate, class, speed when calibrated, box) and the frame of the crossing for its two pictures. The
runner (live worker, batch processor) takes them with ``take`` and hands them to the checkpoint sink.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone

from evidence.checkpoint.images import PassCapture
from evidence.checkpoint.values import PassEvent
from evidence.event import Box, PlateFacts
from pipelines.checkpoint.lines import CaptureLine
from pipelines.checkpoint.speed import ToMetres, crossing_speed_kmh
from pipelines.config import CameraConfig, SiteConfig
from vision.frame import Frame
from vision.tracker import Track

ReadPlate = Callable[[int], PlateFacts | None]


class PassRecorder:
    def __init__(self, camera: CameraConfig, site: SiteConfig, to_metres: ToMetres | None = None,
                 model_versions: dict[str, str] | None = None) -> None:
        self.camera = camera
        self.site = site
        self.lines = [CaptureLine.of(c, camera.direction, camera.lane) for c in camera.capture_lines]
        self.to_metres = to_metres  # the camera's calibration (image -> metres); None: no speed
        self.model_versions = model_versions if model_versions is not None else {}
        self._done: set[tuple[str, int]] = set()  # (line, track): one pass per line and track
        self._pending: list[PassCapture] = []
        self.passes = 0

    @classmethod
    def for_camera(cls, camera: CameraConfig, site: SiteConfig, model_versions: dict[str, str] | None = None) -> "PassRecorder":
        """The camera's recorder: its calibration, when it has one, gives passes their speed."""
        hom = camera.homography()
        return cls(camera, site, to_metres=None if hom is None else hom.ground_point, model_versions=model_versions)

    def __bool__(self) -> bool:
        return bool(self.lines)

    def observe(self, frame: Frame, tracks: Iterable[Track], read_plate: ReadPlate) -> int:
        """Check the tracks updated at ``frame`` against every line; returns how many passes it made."""
        made = 0
        for tr in tracks:
            pts = tr.history.points
            if len(pts) < 2 or pts[-1].seq != frame.seq:
                continue
            p0, p1 = pts[-2], pts[-1]
            for line in self.lines:
                key = (line.line_id, tr.track_id)
                if key in self._done:
                    continue
                u = line.crossing(p0.ground, p1.ground)
                if u is None:
                    continue
                self._done.add(key)
                wall = p0.wall + u * (p1.wall - p0.wall)
                self._pending.append(PassCapture(self._event(line, tr, wall, read_plate), frame.image))
                made += 1
        self.passes += made
        return made

    def _event(self, line: CaptureLine, tr: Track, wall: float, read_plate: ReadPlate) -> PassEvent:
        box = tr.history.points[-1].box
        loc = self.site.location
        return PassEvent(
            site_id=self.site.id, camera_id=self.camera.id, line_id=line.line_id, lane=line.lane, direction=line.direction,
            track_id=tr.track_id, pass_time=datetime.fromtimestamp(wall, tz=timezone.utc), vehicle_class=tr.history.class_name,
            plate=read_plate(tr.track_id), speed_kmh=crossing_speed_kmh(tr.history, self.to_metres),
            box=Box(x1=box[0], y1=box[1], x2=box[2], y2=box[3]), latitude=loc.latitude, longitude=loc.longitude,
            model_versions=dict(self.model_versions),
        )

    def take(self) -> list[PassCapture]:
        """The passes made since the last call (the caller hands them on)."""
        out, self._pending = self._pending, []
        return out

    def forget(self, track_ids: Iterable[int]) -> None:
        """Tracks the tracker removed: their crossings need not be remembered."""
        gone = set(track_ids)
        if gone:
            self._done = {k for k in self._done if k[1] not in gone}
