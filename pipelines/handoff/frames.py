"""What an event's package is made from: its key-frame times and clip window, and the camera's footage.

On the inference thread an event only becomes a ``PackageRequest``: the engine times of its key
frames (from the camera's ``FrameIndex``), the clip window, and a hold on the footage so the
segments it needs outlive the wait. The pixels are fetched later, on an evidence thread
(``resolve``): full-resolution stills decoded from the camera's own bitstream and a clip copied from
it. Nothing full-resolution is held per camera while events wait.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from evidence.config import EvidenceConfig
from evidence.event import ViolationEvent
from evidence.package import CaptureContext
from pipelines.config import CameraConfig, SiteConfig
from pipelines.engine import CameraPipeline
from pipelines.ring_buffer import MemoryFootage
from vision.frame import Frame
from vision.sources.footage import Footage


def capture_context(site: SiteConfig, camera: CameraConfig) -> CaptureContext:
    return CaptureContext(
        site_id=site.id,
        site_name=site.name or site.id,
        device_id=camera.id,
        direction=camera.direction,
        lane=camera.lane or "",
        timezone=site.timezone,
    )


class FrameIndex:
    """(seq, pts, wall) of the frames a camera's engine received, for the last ``seconds``.

    Key frames are referenced by seq; this says at what engine time (and wall time) each was, so its
    full-resolution still can be decoded from the footage.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._items: deque[tuple[int, float, float]] = deque()
        self._by_seq: dict[int, tuple[float, float]] = {}

    def add(self, seq: int, pts: float, wall: float | None = None) -> None:
        self._items.append((seq, pts, pts if wall is None else wall))
        self._by_seq[seq] = (pts, pts if wall is None else wall)
        while self._items and pts - self._items[0][1] > self.seconds:
            old = self._items.popleft()
            self._by_seq.pop(old[0], None)

    @property
    def last_pts(self) -> float:
        return self._items[-1][1] if self._items else float("-inf")

    def pts_of(self, seq: int) -> float | None:
        hit = self._by_seq.get(seq)
        return None if hit is None else hit[0]

    def at(self, seq: int) -> tuple[float, float] | None:
        """(pts, wall) of frame ``seq`` while indexed."""
        return self._by_seq.get(seq)

    def nearest(self, pts: float) -> tuple[int, float, float] | None:
        """(seq, pts, wall) of the indexed frame closest in time to ``pts``."""
        return min(self._items, key=lambda item: abs(item[1] - pts), default=None)

    def between(self, t0: float, t1: float) -> list[int]:
        return [seq for seq, pts, _ in self._items if t0 <= pts <= t1]

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class CameraEvidence:
    """One camera's side of the hand-off: its engine, capture context, frame index and footage."""

    pipeline: CameraPipeline
    context: CaptureContext
    index: FrameIndex
    footage: Footage | MemoryFootage

    @classmethod
    def of(
        cls, pipeline: CameraPipeline, site: SiteConfig, footage: Footage | None = None, index_seconds: float | None = None
    ) -> "CameraEvidence":
        """Without ``footage`` the camera's frames are kept in memory (``MemoryFootage``: sources that
        have no bitstream, e.g. synthetic frames); the runner then passes every frame to ``observe``."""
        camera = pipeline.camera
        keep = site.footage_keep_s(camera) if index_seconds is None else index_seconds
        if footage is None:
            stationary = any(spec.on_trail_tick for spec in site.specs_for(camera))
            ev = site.evidence
            footage = MemoryFootage(site.engine.ring_seconds, site.trail_keep_s if stationary else 0.0, ev.clip_crf, ev.clip_preset)
        return cls(pipeline, capture_context(site, camera), FrameIndex(keep), footage)

    @property
    def camera_id(self) -> str:
        return self.pipeline.camera.id

    def observe(self, frame: Frame) -> None:
        """A frame the engine has handled (call after it): indexed, and kept when footage is in memory."""
        self.index.add(frame.seq, frame.pts, frame.wall_time.timestamp())
        if isinstance(self.footage, MemoryFootage):
            self.footage.push(frame, keep=self.pipeline.last_tick_seq == frame.seq)

    def ready_pts(self) -> float:
        """Engine time up to which both the analysis and the footage have arrived."""
        return min(self.index.last_pts, self.footage.available_until())


@dataclass
class PackageRequest:
    """An event and where its pixels are: key-frame times, the clip window, the footage (held)."""

    event: ViolationEvent
    camera: CameraEvidence
    key_times: dict[int, float]  # KeyFrame.seq -> engine time; key frames the index no longer has are absent
    clip_window: tuple[float, float]
    cfg: EvidenceConfig
    hold: int | None = None
    plate_image: np.ndarray | None = None  # the plate crop the engine read (analysis frames at full size)
    released: bool = field(default=False, repr=False)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.camera.footage.release(self.hold)


def package_request(cam: CameraEvidence, event: ViolationEvent, fire_pts: float, cfg: EvidenceConfig) -> PackageRequest:
    """The event's key-frame times and clip window, with the footage held from the earliest of them
    (on the inference thread; cheap)."""
    times = {k.seq: t for k in event.key_frames if (t := cam.index.pts_of(k.seq)) is not None}
    window = (fire_pts - cfg.clip_before_s, fire_pts + cfg.clip_after_s)
    earliest = min([*times.values(), window[0]])
    return PackageRequest(event, cam, times, window, cfg, cam.footage.hold(earliest), cam.pipeline.plate_crop_for(event))
