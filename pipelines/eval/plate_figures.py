"""Labelled plate sets: reading them, the fixed held-out split, and the double-read figures of both evaluations.

Held out: a labelled item whose ``file`` (as written in its label file) hashes, by the first eight hex
digits of its SHA-1 taken as an integer, to 0, 1 or 2 modulo 10 -- about 30% of every labelled set,
fixed forever and independent of content. Thresholds are tuned on the other 70% ("tuned") only;
every figure is reported for both parts separately.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence, TypeVar

from models.strict import StrictModel
from vision.plates.result import PlateRead

HELD_OUT_RULE = "sha1(file)[:8] as int mod 10 in {0, 1, 2}"
Label = TypeVar("Label", bound=StrictModel)


def load_jsonl(path: Path, model: type[Label], what: str) -> list[Label]:
    """One label per non-empty line; a malformed one names the file and line."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(model.model_validate_json(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not a {what}: {exc}") from None
    return out


def held_out(file: str) -> bool:
    return int(hashlib.sha1(file.encode("utf-8")).hexdigest()[:8], 16) % 10 < 3


def part(file: str) -> str:
    return "held_out" if held_out(file) else "tuned"


class StatusFigures(StrictModel):
    """Over labelled plates (each with the read matched to it, or none when not found)."""

    plates: int
    wrong_confirmed: int  # confirmed as a text other than the label: the error that must not happen
    confirmed: int
    confirmed_share: float
    exact_on_confirmed: float  # right among the confirmed
    exact_overall: float  # the confirmed text, else the first candidate, equals the label
    confirmed_exact_overall: float  # confirmed AND right, over all plates
    unconfirmed_share: float
    unreadable_share: float  # unreadable or not found


def status_figures(pairs: Sequence[tuple[str, PlateRead | None]]) -> StatusFigures:
    n = len(pairs)
    confirmed = [(t, r) for t, r in pairs if r is not None and r.status == "confirmed"]
    right_confirmed = sum(r.text == t for t, r in confirmed)
    unconfirmed = sum(r is not None and r.status == "unconfirmed" for _, r in pairs)
    best_right = sum(r is not None and r.best == t for t, r in pairs)
    return StatusFigures(
        plates=n, wrong_confirmed=len(confirmed) - right_confirmed, confirmed=len(confirmed),
        confirmed_share=len(confirmed) / max(n, 1), exact_on_confirmed=right_confirmed / max(len(confirmed), 1),
        exact_overall=best_right / max(n, 1), confirmed_exact_overall=right_confirmed / max(n, 1),
        unconfirmed_share=unconfirmed / max(n, 1), unreadable_share=(n - len(confirmed) - unconfirmed) / max(n, 1),
    )


def by_part(pairs: Sequence[tuple[str, str, PlateRead | None]]) -> dict[str, StatusFigures]:
    """``(file, label, read)`` -> figures for "tuned", "held_out" and "all"."""
    out = {name: status_figures([(t, r) for f, t, r in pairs if part(f) == name]) for name in ("tuned", "held_out")}
    out["all"] = status_figures([(t, r) for _, t, r in pairs])
    return out
