"""PP-OCRv4 text recogniser on rectified plate crops, CTC greedy decoding with per-character confidence.

Crops of one call are run as a single batch: each is resized to the model's 48-pixel height keeping
its aspect ratio and right-padded (zeros after normalisation, as the model was trained) to the widest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np

from vision.plates.grammar import Candidate

SEPARATORS = "·.-:：•∶—_ "  # the plate's dot and border noise: decoded so they split runs, then dropped


@dataclass(frozen=True)
class TextRead:
    """A recognised string as characters with confidences and runner-up candidates."""

    candidates: tuple[Candidate, ...]

    @property
    def text(self) -> str:
        return "".join(c.char for c in self.candidates)

    @property
    def char_confidences(self) -> tuple[float, ...]:
        return tuple(c.confidence for c in self.candidates)

    @property
    def confidence(self) -> float:
        return float(np.mean(self.char_confidences)) if self.candidates else 0.0


def charset_from_session(session: Any, key: str = "character", append_space: bool = True) -> list[str]:
    """The CTC classes: blank, the dictionary embedded in the ONNX metadata, then a space."""
    meta = session.get_modelmeta().custom_metadata_map
    if key not in meta:
        raise ValueError(f"OCR model has no '{key}' metadata: cannot know its character set")
    chars = meta[key].splitlines()
    return ["<blank>", *chars, *([" "] if append_space else [])]


def ctc_greedy(probs: np.ndarray, charset: Sequence[str], allowed: np.ndarray | None = None, top_k: int = 3) -> TextRead:
    """Greedy CTC over the ``allowed`` class indices (must include the blank, index 0).

    Repeats collapse and blanks drop. A character's confidence is the probability at its best frame,
    and its runner-ups are the next allowed classes at that frame, so the grammar can repair a
    character from what the model itself considered.
    """
    classes = np.arange(probs.shape[1]) if allowed is None else allowed
    sub = probs[:, classes]  # (T, K): only the classes a plate can show
    idx = sub.argmax(axis=1)
    runs: list[tuple[int, int]] = []  # (column in sub, best frame)
    prev = -1
    for t, k in enumerate(idx):
        if classes[k] != 0:
            if k == prev and runs:
                if sub[t, k] > sub[runs[-1][1], k]:
                    runs[-1] = (int(k), t)
            else:
                runs.append((int(k), t))
        prev = k
    cands = []
    for k, t in runs:
        ch = charset[classes[k]]
        if not ch.strip() or ch in SEPARATORS:
            continue
        row = sub[t]
        order = np.argsort(row)[::-1][: top_k + 2]
        alts = tuple(
            (charset[classes[j]], float(row[j])) for j in order if j != k and classes[j] != 0 and row[j] > 1e-4
        )[:top_k]
        cands.append(Candidate(ch, float(row[k]), alts))
    return TextRead(tuple(cands))


def allowed_classes(charset: Sequence[str], chars: str) -> np.ndarray:
    """Indices into ``charset`` of the blank (0), ``chars`` and the separators."""
    keep = set(chars) | set(SEPARATORS)
    return np.array([0] + [i for i, c in enumerate(charset) if i and c in keep], dtype=np.int64)


class TextRecognizer:
    """Batched recogniser. ``session``: onnxruntime session of a PaddleOCR CTC rec model."""

    def __init__(self, session: Any, charset: Sequence[str] | None = None, allowed: str | None = None,
                 height: int = 48, min_width: int = 0) -> None:
        self.session = session
        self.charset = list(charset) if charset is not None else charset_from_session(session)
        self.allowed = allowed_classes(self.charset, allowed) if allowed is not None else None
        self.height = height
        self.min_width = min_width
        self.input_name = session.get_inputs()[0].name

    def prepare(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 3, 48, W) float32 batch, W = widest resized crop (rounded up to a multiple of 8)."""
        widths = [max(8, math.ceil(self.height * c.shape[1] / max(1, c.shape[0]))) for c in crops]
        width = max(self.min_width, max(widths))
        width = -(-width // 8) * 8
        batch = np.zeros((len(crops), 3, self.height, width), dtype=np.float32)
        for i, (crop, w) in enumerate(zip(crops, widths)):
            if crop.ndim == 2:
                crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
            resized = cv2.resize(crop, (min(w, width), self.height), interpolation=cv2.INTER_LINEAR)
            batch[i, :, :, : resized.shape[1]] = resized.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
        return batch

    def read(self, crops: Sequence[np.ndarray]) -> list[TextRead]:
        if not crops:
            return []
        probs = self.session.run(None, {self.input_name: self.prepare(crops)})[0]
        return [ctc_greedy(p, self.charset, self.allowed) for p in probs]
