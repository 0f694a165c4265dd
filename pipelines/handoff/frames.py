"""What an event's package is made from: its key frames and clip frames, taken from the ring buffer.

Collection runs on the inference thread (it reads the ring buffer the engine fills); the images are
references into the ring, not copies, so holding a ``PackageInput`` costs only what the ring would
otherwise have dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from evidence.config import EvidenceConfig
from evidence.event import ViolationEvent
from evidence.package import CaptureContext, ClipFrames, PackageInput
from pipelines.config import CameraConfig, SiteConfig
from pipelines.engine import CameraPipeline


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
    """(seq, pts) of the frames a camera's ring buffer received, for the last ``seconds``.

    The ring is looked up by seq; this index says which seqs fall in a clip's time window
    (a live camera's seqs have gaps where the latest-frame queue dropped frames).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._items: deque[tuple[int, float]] = deque()

    def add(self, seq: int, pts: float) -> None:
        self._items.append((seq, pts))
        while self._items and pts - self._items[0][1] > self.seconds:
            self._items.popleft()

    @property
    def last_pts(self) -> float:
        return self._items[-1][1] if self._items else float("-inf")

    def between(self, t0: float, t1: float) -> list[int]:
        return [seq for seq, pts in self._items if t0 <= pts <= t1]


@dataclass
class CameraEvidence:
    """One camera's side of the hand-off: its engine (and ring buffer), capture context and frame index."""

    pipeline: CameraPipeline
    context: CaptureContext
    index: FrameIndex

    @classmethod
    def of(cls, pipeline: CameraPipeline, site: SiteConfig, index_seconds: float | None = None) -> "CameraEvidence":
        seconds = site.engine.ring_seconds if index_seconds is None else index_seconds
        return cls(pipeline, capture_context(site, pipeline.camera), FrameIndex(seconds))

    @property
    def camera_id(self) -> str:
        return self.pipeline.camera.id


def package_input(cam: CameraEvidence, event: ViolationEvent, fire_pts: float, cfg: EvidenceConfig) -> PackageInput:
    """Key images and clip frames for an event, from the camera's ring buffer (on the inference thread)."""
    pipe = cam.pipeline
    key_images = {seq: f.image for seq, f in pipe.frames_for(event).items()}
    t0, t1 = fire_pts - cfg.clip_before_s, fire_pts + cfg.clip_after_s
    frames = [f for f in (pipe.frame(s) for s in cam.index.between(t0, t1)) if f is not None and f.image.size]
    clip = None
    if len(frames) >= 2:
        span = frames[-1].pts - frames[0].pts
        clip = ClipFrames(frames=[f.image for f in frames], fps=max(1.0, (len(frames) - 1) / span) if span > 0 else 1.0)
    return PackageInput(event=event, key_images=key_images, context=cam.context, clip=clip,
                        plate_image=pipe.plate_crop_for(event))
