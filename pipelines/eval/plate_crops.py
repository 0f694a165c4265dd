"""The two recognisers alone on labelled plate crops (``epolice eval plates --crops labels.jsonl``).

No detection: each crop is taken as the plate (``PlateReader.read_crops``), read by PP-OCRv4 and
HyperLPR in batches of ``batch`` crops, each read through the grammar, then the double-read decision.
Per reader, ``raw_exact`` is its characters as output (after PP-OCR's I/O -> 1/0 look-alikes are
resolved by the grammar only in ``grammar_exact``) and ``grammar_exact`` its grammar-valid text.
``ms_per_crop`` is wall time per crop of the whole double read (batched), ``cpu_ms_per_crop`` the
process CPU time of the same calls (one core when ONNX Runtime runs one thread).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from models.strict import StrictModel
from pipelines.eval.plate_figures import HELD_OUT_RULE, StatusFigures, by_part, load_jsonl, part
from vision.plates.decision import REFEREE
from vision.plates.reader import PlateReader
from vision.plates.result import PlateRead


class CropLabel(StrictModel):
    file: str
    plate: str
    source: str = ""


class ReaderFigures(StrictModel):
    raw_exact: float
    grammar_exact: float
    valid_share: float  # grammar accepted the read


class RefereeFigures(StrictModel):
    """The province referee (PP-OCRv6): crops it read (province disputes), confirmations it made, wrong ones."""

    read: int
    confirmed: int
    wrong_confirmed: int


class CropFailure(StrictModel):
    file: str
    part: str
    truth: str
    status: str
    candidates: list[str]
    reads: dict[str, str]  # reader -> raw


class CropEvalReport(StrictModel):
    crops: int
    held_out_rule: str
    figures: dict[str, StatusFigures]  # "tuned", "held_out", "all"
    readers: dict[str, dict[str, ReaderFigures]]  # part -> reader -> figures
    agreement_raw: dict[str, float]  # part -> share of crops where the two raw reads are identical
    referee: dict[str, RefereeFigures]  # part -> what the province referee did
    ms_per_crop: float
    cpu_ms_per_crop: float
    batch: int
    threads: int | None
    wrong_confirmed: list[CropFailure]
    first_candidate_wrong: list[CropFailure]  # unconfirmed plates whose first candidate is wrong (sample)
    reader_failures: dict[str, dict[str, int]]  # reader -> failure class -> count (all crops)


def load_labels(path: Path) -> list[CropLabel]:
    return load_jsonl(path, CropLabel, "crop label")


def _failure_class(truth: str, raw: str, text: str | None) -> str:
    """Where a reader went wrong: province, length, serial, or the grammar refusing a right raw read."""
    if text == truth:
        return "right"
    if raw == truth:
        return "grammar refused a right read"
    if len(raw) != len(truth):
        return "dropped the province" if raw == truth[1:] else "wrong length"
    if raw[0] != truth[0] and raw[1:] == truth[1:]:
        return "province only"
    return "other characters"


def evaluate_crops(reader: PlateReader, labels_path: Path, batch: int = 8, limit: int | None = None,
                   threads: int | None = None) -> CropEvalReport:
    labels = load_labels(labels_path)[:limit]
    root = labels_path.parent
    reads: list[PlateRead] = []
    wall = cpu = 0.0
    for start in range(0, len(labels), batch):
        chunk = labels[start:start + batch]
        images = []
        for item in chunk:
            image = cv2.imdecode(np.fromfile(str(root / item.file), np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{item.file}: not a readable image")
            images.append(image)
        t0, c0 = time.perf_counter(), time.process_time()
        reads += reader.read_crops(images)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
    pairs = [(item.file, item.plate, r) for item, r in zip(labels, reads)]
    readers: dict[str, dict[str, ReaderFigures]] = {}
    agreement: dict[str, float] = {}
    referee: dict[str, RefereeFigures] = {}
    classes: dict[str, Counter] = {}
    for name in ("tuned", "held_out", "all"):
        sel = [(item, r) for item, r in zip(labels, reads) if name == "all" or part(item.file) == name]
        per: dict[str, list[tuple[str, str, str | None]]] = {}
        for item, r in sel:
            for rr in r.reader_reads:
                if rr.reader != REFEREE:  # it reads only the disputed crops: no "alone" figure
                    per.setdefault(rr.reader, []).append((item.plate, rr.raw, rr.text))
        n = max(len(sel), 1)
        refereed = [(item, r) for item, r in sel if r.status == "confirmed" and REFEREE in r.candidates[0].readers]
        referee[name] = RefereeFigures(read=sum(any(rr.reader == REFEREE for rr in r.reader_reads) for _, r in sel),
                                       confirmed=len(refereed), wrong_confirmed=sum(r.text != i.plate for i, r in refereed))
        readers[name] = {
            k: ReaderFigures(raw_exact=sum(raw == t for t, raw, _ in v) / n, grammar_exact=sum(x == t for t, _, x in v) / n,
                             valid_share=sum(x is not None for _, _, x in v) / n)
            for k, v in per.items()
        }
        agreement[name] = sum(len({rr.raw for rr in r.reader_reads if rr.reader != REFEREE}) == 1 for _, r in sel) / n
        if name == "all":
            classes = {k: Counter(_failure_class(t, raw, x) for t, raw, x in v) for k, v in per.items()}

    def failure(item: CropLabel, r: PlateRead) -> CropFailure:
        return CropFailure(file=item.file, part=part(item.file), truth=item.plate, status=r.status,
                           candidates=[c.text for c in r.candidates], reads={rr.reader: rr.raw for rr in r.reader_reads})

    wrong = [failure(i, r) for i, r in zip(labels, reads) if r.status == "confirmed" and r.text != i.plate]
    first_wrong = [failure(i, r) for i, r in zip(labels, reads) if r.status == "unconfirmed" and r.best != i.plate]
    return CropEvalReport(
        crops=len(labels), held_out_rule=HELD_OUT_RULE, figures=by_part(pairs), readers=readers, agreement_raw=agreement, referee=referee,
        ms_per_crop=1000 * wall / max(len(labels), 1), cpu_ms_per_crop=1000 * cpu / max(len(labels), 1), batch=batch,
        threads=threads, wrong_confirmed=wrong, first_candidate_wrong=first_wrong[:30],
        reader_failures={k: dict(v) for k, v in classes.items()},
    )
