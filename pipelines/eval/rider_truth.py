"""Labelled riders (``riders_train.jsonl``) and their fixed split into a tuning part and a held-out part.

Figures tuned on the frames they report say little. Every threshold of the rider path is chosen on
the ``tune`` part only; ``held_out`` is reported beside it and never looked at while tuning (the
head classifier trains on ``tune`` heads only). The split is deterministic and keeps a scene on
one side: labelled frames whose numbers follow each other (frame1338 … frame1360 are 23
consecutive frames of one scene, the same riders over and over) form one scene; scenes, in frame
order, go alternately to ``tune`` and ``held_out``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal, Sequence

from pydantic import Field, ValidationError

from models.strict import StrictModel

HelmetLabel = Literal["helmet", "no_helmet", "unclear"]
Part = Literal["tune", "held_out"]
PARTS: tuple[Part, ...] = ("tune", "held_out")


class RiderTruthError(ValueError):
    """A riders truth file that cannot be used; the message names the file, line and field."""


class RiderTruth(StrictModel):
    """One labelled motorcycle box (a line of riders_train.jsonl)."""

    file: str = Field(min_length=1, description="image path relative to the truth file's folder, e.g. train/frame1008.jpg")
    bbox: tuple[float, float, float, float] = Field(description="xmin, ymin, xmax, ymax: bike and riders")
    judgeable: bool
    riders: int = Field(ge=0)
    helmets: list[HelmetLabel] = Field(default_factory=list, description="per rider, driver first")

    @property
    def any_no_helmet(self) -> bool | None:
        """Truth of "someone on this bike rides without a helmet"; None when unclear riders leave it open."""
        if "no_helmet" in self.helmets:
            return True
        return None if "unclear" in self.helmets else False


def load_rider_truth(path: str | Path) -> list[RiderTruth]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RiderTruthError(f"{path}: cannot read truth file ({exc.strerror or exc})") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(RiderTruth.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise RiderTruthError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(line)"
            raise RiderTruthError(f"{path}:{n}: {where}: {err['msg']}") from None
    if not out:
        raise RiderTruthError(f"{path}: no labelled boxes")
    return out


def _number(file: str) -> int | None:
    digits = re.findall(r"\d+", Path(file).stem)
    return int(digits[-1]) if digits else None


def scenes(files: Sequence[str]) -> list[list[str]]:
    """Labelled frames grouped into scenes: frames whose numbers follow each other belong together."""
    ordered = sorted(set(files), key=lambda f: (_number(f) is None, _number(f) or 0, f))
    out: list[list[str]] = []
    for f in ordered:
        n, prev = _number(f), _number(out[-1][-1]) if out else None
        if out and n is not None and prev is not None and n - prev == 1:
            out[-1].append(f)
        else:
            out.append([f])
    return out


def split(files: Sequence[str]) -> dict[str, Part]:
    """Each labelled frame's part: scenes in frame order go alternately to tune and held_out."""
    return {f: PARTS[i % 2] for i, scene in enumerate(scenes(files)) for f in scene}


def image_path(images: Path, file: str) -> Path:
    """The truth names images relative to the dataset root (``train/x.jpg``); accept DIR as that root or the folder itself."""
    for candidate in (images / file, images / Path(file).name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"image {file} not found under {images}")
