"""Union of two plate detectors' results: a plate either one finds is read once.

Detections of the two detectors overlapping by ``iou`` or more are one plate. Its corners come from
the surer detector -- each score rescaled against that detector's own threshold, since clp_det and
y5fu score on different scales -- and its row layout from the detector that has a row flag (y5fu).
A plate only one detector found is kept as it is: clp_det misses plates under night glare that
y5fu finds, y5fu misses some small or HK local plates clp_det finds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from vision.detections import box_iou
from vision.plates.detect import PlateDetection


def sureness(det: PlateDetection, threshold: float) -> float:
    """0 at the detector's threshold, 1 at a perfect score."""
    return (det.score - threshold) / max(1.0 - threshold, 1e-6)


def fuse_detections(first: Sequence[PlateDetection], first_min: float, second: Sequence[PlateDetection],
                    second_min: float, iou: float = 0.3) -> list[PlateDetection]:
    """Union of two detectors' plates (matched greedily by IoU), best first."""
    if not first or not second:
        return sorted([*first, *second], key=lambda d: -d.score)
    a = np.array([d.box for d in first], np.float32)
    b = np.array([d.box for d in second], np.float32)
    ious = box_iou(a, b)
    used_a: set[int] = set()
    used_b: set[int] = set()
    merged: list[tuple[float, PlateDetection]] = []
    for flat in np.argsort(-ious, axis=None):
        i, j = divmod(int(flat), len(second))
        if ious[i, j] < iou:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        da, db = first[i], second[j]
        sa, sb = sureness(da, first_min), sureness(db, second_min)
        base = da if sa >= sb else db
        double = db.double_row if db.double_row is not None else da.double_row
        fused = replace(base, double_row=double, sources=tuple(dict.fromkeys((*da.sources, *db.sources))))
        merged.append((max(sa, sb), fused))
    merged += [(sureness(d, first_min), d) for k, d in enumerate(first) if k not in used_a]
    merged += [(sureness(d, second_min), d) for k, d in enumerate(second) if k not in used_b]
    merged.sort(key=lambda m: -m[0])
    return [d for _, d in merged]
