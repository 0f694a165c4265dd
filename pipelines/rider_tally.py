"""One two-wheeler's riders as its best look judged them: what the engine hands out when a track
ends, so the helmet-wearing rate counts every judged rider, not only violators."""

from __future__ import annotations

from dataclasses import dataclass

from vision.riders import RiderObservation


@dataclass(frozen=True)
class RiderTally:
    """One two-wheeler's riders as its best look judged them, handed out when the track ends: the
    helmet-wearing rate counts every judged rider, not only violators."""

    pts: float  # source time of the track's first look (batch segments own a track by it)
    wall: float  # epoch seconds of that look (the hour it counts in)
    judged: int
    helmeted: int
    unjudged: int


def rider_tally(obs: RiderObservation, min_confidence: float, first: tuple[float, float]) -> "RiderTally":
    """Tally one look: a judged head reads "no helmet" as the helmet rule does (at ``min_confidence``)."""
    judged = obs.judged
    bare = sum(1 for h in judged if h.helmet is False and h.confidence >= min_confidence)
    return RiderTally(first[0], first[1], len(judged), len(judged) - bare, len(obs.heads) - len(judged))
