"""What an ffmpeg process said on stderr: log lines without decorations, and the errors that matter.

Processes run with ``-loglevel level+info`` so each line carries its level; FFmpegLog keeps a bounded
tail and the error lines, split into those before the first decoded frame and those after it, and
picks the one line that explains a failure (the cause, not its consequences).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

_LEVEL_RE = re.compile(r"\[(panic|fatal|error|warning|info|verbose|debug|trace)\]\s?")
_CONTEXT_RE = re.compile(r"^\[([^\]@]+?)(?:@\w+)?\s@\s(?:0x[0-9a-f]+|\(nil\))\]\s*")


def clean_log_line(line: str) -> str:
    """Strip ffmpeg's ``[ctx @ 0x...]`` and ``[level]`` decorations from a log line."""
    text = line.strip()
    for _ in range(3):
        before = text
        text = _LEVEL_RE.sub("", _CONTEXT_RE.sub(lambda m: "" if m.group(1) == "NULL" else f"{m.group(1)}: ", text), count=1).strip()
        if text == before:
            break
    return text


_GENERIC = (
    "conversion failed",
    "error while decoding stream",
    "nothing was written",
    "invalid argument",
    "error initializing complex filters",
    "error applying options",
    "error initializing filter",
    "error while filtering",
    "error marking filters as finished",
    "error while processing the decoded data",
    "device setup failed",
    "device creation failed",
)


@dataclass(slots=True)
class FFmpegLog:
    """What a decoder process said: a bounded tail plus error lines, split by when they happened.

    Errors logged before the first decoded frame are "leading" (a recording that starts mid-GOP, a
    seek landing between keyframes, a failed hwaccel probe) and usually harmless; errors after it
    ("stream errors") mean corrupt or missing data inside the part being decoded.
    """

    tail: deque[str] = field(default_factory=lambda: deque(maxlen=60))
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    error_count: int = 0
    stream_errors: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=200))
    stream_error_count: int = 0
    first_stream_error_pts: float | None = None

    def add(self, line: str, pts: float | None = None) -> None:
        """Record one log line; ``pts`` is the last decoded frame's pts when it was logged (None before any)."""
        self.tail.append(line)
        if "[error]" in line or "[fatal]" in line or "[panic]" in line:
            text = clean_log_line(line)
            self.error_count += 1
            self.errors.append(text)
            if pts is not None:
                self.stream_error_count += 1
                self.stream_errors.append((pts, text))
                if self.first_stream_error_pts is None:
                    self.first_stream_error_pts = pts

    @staticmethod
    def _pick(lines: list[str]) -> str | None:
        # The cause comes first; later lines are consequences ("Error initializing complex filters",
        # "Invalid argument", "Conversion failed!"), so take the first line that is not one of those.
        for line in lines:
            if not line.lower().startswith(_GENERIC):
                return line
        return lines[0] if lines else None

    def reason(self, default: str = "ffmpeg failed") -> str:
        """The most telling error: the first specific fatal/error line, else the last line of output."""
        picked = self._pick(list(self.errors))
        if picked:
            return picked
        for line in reversed(self.tail):
            if line.strip():
                return clean_log_line(line)
        return default

    def stream_reason(self) -> str | None:
        """The first specific error logged after decoding started (where corruption begins), if any."""
        return self._pick([text for _, text in self.stream_errors])
