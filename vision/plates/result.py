"""What plate reading returns: one ``PlateRead`` per plate, with its status, candidates and per-reader reads.

The shape is what the record, the review app, export and the composite overlay carry (phase B of
issue 12), so it is plain frozen dataclasses of str/float/tuple, easy to serialise:

- ``status``: ``confirmed`` (two independent recognisers read the same valid plate, or a track's
  vote confirmed it, see ``decision``), ``unconfirmed`` (valid candidates that do not agree: every
  one is kept, best first, for a reviewer to pick) or ``unreadable`` (``reason`` says why).
- ``text`` is set ONLY when confirmed: code that predates the status (the engine's ``PlateFacts``)
  therefore never records an unconfirmed plate as if it were read. ``best`` is the first candidate.
- ``candidates``: each valid text with the readers behind it, their confidence, its kind and colour.
- ``reader_reads``: every recogniser's own read (raw string, grammar text or the reason it failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from vision.plates.color import PlateColorName

PlateStatus = Literal["confirmed", "unconfirmed", "unreadable"]
PLATE_STATUSES: tuple[PlateStatus, ...] = ("confirmed", "unconfirmed", "unreadable")


@dataclass(frozen=True)
class ReaderRead:
    """One recogniser's read of one plate (both rows joined for a double-row plate)."""

    reader: str  # "ppocr" (PP-OCRv4) or "hyperlpr" (HyperLPR segmentation-free)
    raw: str  # the recogniser's characters before the grammar
    text: str | None  # grammar-valid plate, None when the grammar refused the read
    kind: str | None = None
    char_confidences: tuple[float, ...] = ()
    reason: str | None = None  # why the grammar refused it
    repairs: int = 0
    runner_ups: tuple[float, ...] = ()  # per character: probability of a different plausible character

    @property
    def confidence(self) -> float:
        return float(np.mean(self.char_confidences)) if self.char_confidences else 0.0


@dataclass(frozen=True)
class PlateCandidate:
    """A valid plate text some reader(s) produced, with the support behind it."""

    text: str
    readers: tuple[str, ...]  # which recognisers read exactly this text (at least one)
    confidence: float  # mean character confidence of its best read (tracks: its vote share)
    kind: str | None = None
    color: PlateColorName = "unknown"


@dataclass(frozen=True)
class PlateRead:
    """A plate as read: what ``PlateReader.read_track`` returns once per track, and ``read_image``
    once per plate in a photo. Consumers (the engine's evidence facts, the plate evaluation) rely on:

    - ``status`` / ``candidates`` / ``reader_reads``: see the module docstring.
    - ``text``: the confirmed plate (e.g. ``"沪A12345"``), or None when unconfirmed or unreadable;
      ``reason`` then says why in one line (no plate found, no valid read, readers disagree).
    - ``color``: the background colour; fixed by the format where it is (police: white), else from
      the colour classifier or the pixels.
    - ``agreement``: 0..1. For a track, the confidence mass behind the voted characters over the most
      there could be; for a photo plate, its mean character confidence. 0 when nothing valid was read.
    - ``reads``: how many plate crops were read (and voted, for a track); 0 when no plate was found.

    The rest describes the chosen view: ``char_confidences`` per character, ``rows`` (1 or 2),
    ``kind`` (the grammar's plate format, e.g. ``"standard"``, ``"new_energy_small"``), ``box`` and
    ``corners`` (TL, TR, BR, BL) in pixels of the image read (the chosen vehicle crop for a track),
    the detector's ``detection_score``, and ``raw``, what the first recogniser output before the grammar.
    """

    text: str | None
    color: PlateColorName = "unknown"
    agreement: float = 0.0
    reason: str | None = None
    char_confidences: tuple[float, ...] = ()
    rows: int = 1
    kind: str | None = None
    box: tuple[float, float, float, float] | None = None
    corners: tuple[tuple[float, float], ...] | None = None
    detection_score: float = 0.0
    raw: str = ""
    reads: int = 0
    status: PlateStatus = "unreadable"
    candidates: tuple[PlateCandidate, ...] = ()
    reader_reads: tuple[ReaderRead, ...] = ()  # of the chosen crop
    detectors: tuple[str, ...] = ()  # detector(s) that found the plate
    # read_track only: the chosen plate as captured, with context (``views.context_crop``), for the
    # evidence package; never compared or printed
    crop: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def best(self) -> str | None:
        """The confirmed text, else the first candidate (what a reviewer is shown first), else None."""
        return self.text or (self.candidates[0].text if self.candidates else None)
