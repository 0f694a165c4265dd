"""Chinese licence plates: two detectors, rectification, two recognisers, grammar, colour, decision, per-track voting."""

from vision.plates.reader import PlateReader, PlateReaderConfig
from vision.plates.result import PLATE_STATUSES, PlateCandidate, PlateRead, PlateStatus, ReaderRead

__all__ = ["PLATE_STATUSES", "PlateCandidate", "PlateRead", "PlateReader", "PlateReaderConfig", "PlateStatus", "ReaderRead"]
