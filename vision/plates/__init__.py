"""Chinese licence plates: detection with corners, rectification, OCR, grammar, colour, per-track voting."""

from vision.plates.reader import PlateRead, PlateReader, PlateReaderConfig

__all__ = ["PlateRead", "PlateReader", "PlateReaderConfig"]
