"""A vision ``PlateRead`` as the evidence record's ``PlateFacts`` (here in pipelines, so vision never
imports evidence)."""

from __future__ import annotations

from evidence.event import PlateCandidateFacts, PlateFacts
from vision.plates.reader import PlateRead

_PLATE_COLORS = ("blue", "yellow", "green", "white", "black")


def _color(color: str) -> str:
    return color if color in _PLATE_COLORS else "unknown"


def plate_facts(read: PlateRead) -> PlateFacts:
    """A vision PlateRead as the evidence record's PlateFacts (here, so vision never imports evidence):
    status, confirmed text (None unless confirmed), every candidate with its readers, the reason."""
    candidates = tuple(
        PlateCandidateFacts(text=c.text, color=_color(c.color), readers=c.readers, confidence=round(min(max(c.confidence, 0.0), 1.0), 4))
        for c in read.candidates
    )
    return PlateFacts(text=read.text, color=_color(read.color), agreement=round(float(read.agreement), 4), reason=read.reason,
                      reads=read.reads, status=read.status, candidates=candidates)
