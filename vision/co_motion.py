"""Who moves with a vehicle: the per-frame facts behind "people on board" for any vehicle class.

A person on board a vehicle (a pillion, people in a tricycle's or a truck's cargo bed, on a
tractor) overlaps its box and moves with it; a person walking beside it overlaps it for a moment
at a different velocity. The engine tracks persons with a second tracker and, for every vehicle
on every detection frame, records each overlapping person track with its velocity relative to the
vehicle (``PersonOnBoard``). The passenger rule decides over a window of those facts who is on
board (``on_board``), so it stays a pure function of the track's history.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from vision.riders import PersonOnBoard, RiderAssociationConfig, RiderObservation, _inside_share, extended_boxes


def people_on_vehicles(
    vehicles: np.ndarray, vehicle_vel: np.ndarray, persons: np.ndarray, person_ids: np.ndarray, person_vel: np.ndarray,
    riders: Sequence[Sequence[int]] | None = None, cfg: RiderAssociationConfig | None = None, min_overlap: float = 0.5,
) -> list[tuple[PersonOnBoard, ...]]:
    """For each vehicle box, the tracked persons at least ``min_overlap`` inside its extended box,
    with their speed relative to the vehicle and the vehicle's own speed, in vehicle box heights per second.
    ``riders``: per vehicle, the person indices geometry counted as its riders. Untracked persons
    (id -1) are left out: co-motion needs a track."""
    cfg = cfg or RiderAssociationConfig()
    v = np.asarray(vehicles, np.float32).reshape(-1, 4)
    out: list[tuple[PersonOnBoard, ...]] = [() for _ in range(len(v))]
    p = np.asarray(persons, np.float32).reshape(-1, 4)
    if not len(v) or not len(p):
        return out
    share = _inside_share(p, extended_boxes(v, cfg))
    vh = np.maximum(v[:, 3] - v[:, 1], 1.0)
    for j in range(len(v)):
        own = float(np.hypot(*vehicle_vel[j])) / vh[j]
        found = []
        mine = set(riders[j]) if riders is not None else set()
        for i in np.nonzero((share[:, j] >= min_overlap) & (np.asarray(person_ids) >= 0))[0]:
            rel = float(np.hypot(*(person_vel[i] - vehicle_vel[j]))) / vh[j]
            found.append(PersonOnBoard(int(person_ids[i]), round(float(share[i, j]), 3), round(rel, 3), round(own, 3), int(i) in mine))
        out[j] = tuple(found)
    return out


def on_board(
    window: Sequence[RiderObservation], min_vehicle_speed: float, max_rel_speed: float, min_looks: int, share: float
) -> tuple[set[int], set[int]]:
    """(person tracks on board, person tracks walking beside) over a window of observations.

    Only observations where the vehicle moves (``vehicle_speed`` at least ``min_vehicle_speed``
    box heights per second) say anything: a still vehicle and a still person match trivially. A
    person seen in at least ``min_looks`` such observations is on board when their relative speed
    stays within ``max_rel_speed`` in at least ``share`` of them, else walking beside.
    """
    seen: dict[int, list[bool]] = {}
    for o in window:
        for p in o.people:
            if p.rel_speed is None or p.vehicle_speed < min_vehicle_speed:
                continue
            seen.setdefault(p.track_id, []).append(p.rel_speed <= max_rel_speed)
    aboard, beside = set(), set()
    for tid, matches in seen.items():
        if len(matches) < min_looks:
            continue
        (aboard if sum(matches) >= share * len(matches) else beside).add(tid)
    return aboard, beside
