"""Recent frames of one camera held in memory, for frame sources without a bitstream of their own.

Live cameras and recorded files keep evidence in their compressed stream (``vision.sources.footage``);
frames made in memory (synthetic scenes, tests, a custom source) have none, and ``MemoryFootage``
keeps them here instead, answering the same questions (stills at times, a clip, encoded).

Two tiers, both bounded in time:
- ``recent``: every frame of the last ``seconds`` (the approach and turn of a U-turn, the helmet
  looks), kept as decoded images;
- ``kept``: one frame per trail tick (about one a second) over a long span (a parking dwell of
  minutes), JPEG-compressed so minutes of 1080p cost tens of MB instead of gigabytes.
Frames are looked up by their sequence number, the key ``KeyFrame.seq`` carries.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from evidence.clip import encode_clip
from vision.frame import Frame
from vision.sources.footage import ClipCut
from vision.sources.stills import Still


class RingBuffer:
    def __init__(self, seconds: float, keep_seconds: float = 0.0, jpeg_quality: int = 92) -> None:
        self.seconds = float(seconds)
        self.keep_seconds = float(keep_seconds)
        self.jpeg_quality = int(jpeg_quality)
        self._recent: deque[Frame] = deque()
        self._kept: OrderedDict[int, tuple[Frame, bytes]] = OrderedDict()  # seq -> (frame without pixels, jpeg)

    def __len__(self) -> int:
        return len(self._recent) + len(self._kept)

    def push(self, frame: Frame, keep: bool = False) -> None:
        """Add a frame; ``keep`` also stores it in the long tier. Drops what fell out of either window."""
        self._recent.append(frame)
        while self._recent and frame.pts - self._recent[0].pts > self.seconds:
            self._recent.popleft()
        if keep and self.keep_seconds > 0 and frame.seq not in self._kept:
            ok, buf = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if ok:
                stub = Frame(frame.camera_id, frame.seq, frame.pts, frame.wall_time, np.zeros((0, 0, 3), np.uint8))
                self._kept[frame.seq] = (stub, buf.tobytes())
        while self._kept:
            first = next(iter(self._kept.values()))[0]
            if frame.pts - first.pts <= self.keep_seconds:
                break
            self._kept.popitem(last=False)

    def get(self, seq: int) -> Frame | None:
        """The frame with this sequence number, decoding a kept JPEG if needed; None once dropped."""
        if self._recent and self._recent[0].seq <= seq <= self._recent[-1].seq:
            # frames are pushed in seq order; a short scan from the matching end
            for f in (reversed(self._recent) if seq > (self._recent[0].seq + self._recent[-1].seq) / 2 else self._recent):
                if f.seq == seq:
                    return f
        kept = self._kept.get(seq)
        if kept is not None:
            stub, data = kept
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            return Frame(stub.camera_id, stub.seq, stub.pts, stub.wall_time, image)
        return None

    def between(self, t0: float, t1: float) -> list[Frame]:
        """Every full-rate frame with ``t0 <= pts <= t1`` still held (for an evidence clip)."""
        return [f for f in self._recent if t0 <= f.pts <= t1]

    def nearest(self, seq: int) -> Frame | None:
        """The exact frame if held, else the closest held frame (kept tier frames are about 1 s apart)."""
        exact = self.get(seq)
        if exact is not None:
            return exact
        candidates = [f.seq for f in self._recent] + list(self._kept)
        if not candidates:
            return None
        return self.get(min(candidates, key=lambda s: abs(s - seq)))

    def clear(self) -> None:
        self._recent.clear()
        self._kept.clear()


class MemoryFootage:
    """``vision.sources.footage.Footage`` over a RingBuffer: frames pushed by the runner, the clip encoded."""

    def __init__(self, seconds: float, keep_seconds: float = 0.0, crf: int = 23, preset: str = "veryfast") -> None:
        self.ring = RingBuffer(seconds, keep_seconds)
        self.crf, self.preset = crf, preset
        self._last_pts = float("-inf")

    def push(self, frame: Frame, keep: bool = False) -> None:
        self.ring.push(frame, keep)
        self._last_pts = frame.pts

    def available_until(self) -> float:
        return self._last_pts

    def hold(self, t0: float) -> int | None:
        return None

    def release(self, token: int | None) -> None:
        pass

    def stills(self, times: Sequence[float]) -> dict[float, Still]:
        held = [(f.pts, f.seq) for f in self.ring._recent] + [(stub.pts, seq) for seq, (stub, _) in self.ring._kept.items()]
        out: dict[float, Still] = {}
        for t in times:
            if not held:
                break
            _, seq = min(held, key=lambda ps: abs(ps[0] - t))
            frame = self.ring.get(seq)
            if frame is not None and frame.image.size:
                out[t] = Still(frame.pts, frame.image)
        return out

    def clip(self, t0: float, t1: float, out: Path) -> ClipCut | None:
        frames = [f for f in self.ring.between(t0, t1) if f.image.size]
        if len(frames) < 2:
            return None
        span = frames[-1].pts - frames[0].pts
        fps = max(1.0, (len(frames) - 1) / span) if span > 0 else 1.0
        encode_clip([f.image for f in frames], fps, out, self.crf, self.preset)
        return ClipCut(out, frames[0].pts, frames[-1].pts)
