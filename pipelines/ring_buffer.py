"""Recent frames of one camera, so evidence can show what happened before a rule fired.

Two tiers, both bounded in time:
- ``recent``: every frame of the last ``seconds`` (the approach and turn of a U-turn, the helmet
  looks), kept as decoded images;
- ``kept``: one frame per trail tick (about one a second) over a long span (a parking dwell of
  minutes), JPEG-compressed so minutes of 1080p cost tens of MB instead of gigabytes.
Frames are looked up by their sequence number, the key ``KeyFrame.seq`` carries.
"""

from __future__ import annotations

from collections import OrderedDict, deque

import cv2
import numpy as np

from vision.frame import Frame


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
