"""``epolice passes bench``: the pass table at volume, on whatever store URL it is given.

Seeds synthetic passes (5 cameras, plates drawn from a pool so each plate has a few passes, times
over 30 days, so PostgreSQL makes 30 day partitions) through ``PassStore.add_many`` (the path the
checkpoint sink uses), timing the inserts, then times exact plate lookups (``PassQuery(plate=...)``,
newest 100, the path of ``epolice passes list --plate`` and the review app) for random seeded plates.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from evidence.checkpoint.passes import PassStore
from evidence.checkpoint.values import NewPass, PassQuery
from evidence.event import PlateCandidateFacts

PROVINCES = "京沪粤浙苏鲁川豫鄂湘"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DAYS = 30


def synthetic_plate(rng: random.Random) -> str:
    return rng.choice(PROVINCES) + rng.choice(LETTERS) + "".join(rng.choice("0123456789" + LETTERS[:10]) for _ in range(5))


def synthetic_pass(i: int, plate: str, start: datetime, span_s: float, rng: random.Random) -> NewPass:
    status = rng.choices(("confirmed", "unconfirmed", "unreadable"), (0.8, 0.15, 0.05))[0]
    cands = [PlateCandidateFacts(text=plate, color="blue")] if status == "unconfirmed" else []
    return NewPass(
        pass_key=f"{i:032x}", pass_time=start + timedelta(seconds=span_s * i), site_id="bench",
        camera_id=f"cam-{i % 5}", line_id="stop", lane=str(1 + i % 3), direction="由南向北", track_id=i,
        plate=None if status == "unreadable" else plate, plate_status=status, plate_color="blue",
        plate_candidates=cands, vehicle_class="car", latitude=30.0, longitude=120.0)


def bench_passes(engine: sa.Engine, count: int, batch: int, lookups: int,
                 progress: Callable[[str], None] = lambda _: None, seed: int = 7) -> dict[str, Any]:
    store = PassStore(engine)
    rng = random.Random(seed)
    pool = [synthetic_plate(rng) for _ in range(max(count // 3, 1))]
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=DAYS)
    span_s = DAYS * 86400 / count
    before = store.count()
    insert_s = 0.0
    for lo in range(0, count, batch):
        items = [synthetic_pass(before + i, rng.choice(pool), start, span_s, rng) for i in range(lo, min(lo + batch, count))]
        t0 = time.perf_counter()
        store.add_many(items)
        insert_s += time.perf_counter() - t0
        if (lo // batch) % 100 == 0:
            progress(f"seeded {lo + len(items):,} / {count:,} ({(lo + len(items)) / insert_s:,.0f} inserts/s)")
    total = store.count()
    times = []
    for plate in rng.sample(pool, min(lookups, len(pool))):
        t0 = time.perf_counter()
        store.query(PassQuery(plate=plate, limit=100))
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "dialect": engine.dialect.name, "seeded": count, "batch": batch, "rows_in_table": total,
        "insert_s": round(insert_s, 2), "inserts_per_s": round(count / insert_s),
        "lookups": len(times), "lookup_ms_median": round(statistics.median(times), 2),
        "lookup_ms_p95": round(times[int(0.95 * (len(times) - 1))], 2), "lookup_ms_max": round(times[-1], 2),
    }
