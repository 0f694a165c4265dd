"""What goes wrong with FFmpeg, as exceptions whose ``reason`` is one line fit for a summary."""

from __future__ import annotations


class FFmpegError(RuntimeError):
    """FFmpeg could not open or decode a source. ``reason`` is one line fit for a summary."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = str(source)
        self.reason = reason


class DecodeError(FFmpegError):
    """A source failed to decode (corrupt, truncated, unreadable). Frames already yielded stay valid."""

    @property
    def path(self) -> str:
        return self.source


class ProbeError(DecodeError):
    """The source is unreadable, not media, or has no video stream (raised before any frame)."""


class PipeTimeout(TimeoutError):
    """No frame arrived within the read timeout (stalled stream)."""
