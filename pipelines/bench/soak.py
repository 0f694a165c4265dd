"""`epolice soak`: stream for minutes and sample resident memory; it must stay flat.

Two modes: an RTSP source alone (decode, reconnect, the latest-frame queue; an optional simulated
detector delay shows that frame age stays bounded), or a whole live worker (detector, tracker,
rules, evidence, the recording of every camera) running in a thread. Memory is the process and its
FFmpeg children (decoders, recorders); drops are frames the latest-frame queues discarded, as a
share of those FFmpeg handed over. Not part of the test run: it takes as long as it is told.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.bench.figures import tree_cpu_s, tree_rss_mb

if TYPE_CHECKING:
    from pipelines.live.worker import LiveWorker
    from vision.sources.rtsp import RtspSource


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), NaN elsewhere."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def run_soak(
    *,
    worker: "LiveWorker | None" = None,
    source: "RtspSource | None" = None,
    minutes: float,
    interval_s: float,
    consumer_ms: float = 0.0,
    on_sample: Callable[[dict], None] = lambda _: None,
) -> dict:
    """Consume ``source`` frames (sleeping ``consumer_ms`` per frame) or run ``worker`` for ``minutes``,
    sampling RSS and counters every ``interval_s``; stops both at the end or on Ctrl-C. Returns the
    summary: RSS after warm-up (the second sample), at the end, the maximum, and every sample."""
    if (worker is None) == (source is None):
        raise ValueError("soak needs exactly one of a worker or a source")
    thread = None
    if worker is not None:
        thread = threading.Thread(target=worker.run, name="soak-worker", daemon=True)
        thread.start()
    samples: list[dict] = []
    start = time.monotonic()
    next_sample = start
    consumed = 0
    cpu_mark = (time.monotonic(), tree_cpu_s())
    ages: list[float] = []  # seconds between a frame's capture time and the consumer taking it
    try:
        while time.monotonic() - start < minutes * 60:
            if source is not None:
                frame = source.frames.get(timeout=0.5)
                if frame is not None:
                    consumed += 1
                    ages.append(time.time() - frame.wall_time.timestamp())
                    if consumer_ms:
                        time.sleep(consumer_ms / 1000)
            else:
                time.sleep(0.5)
            if time.monotonic() < next_sample:
                continue
            next_sample += interval_s
            now, cpu = time.monotonic(), tree_cpu_s()
            cores = (cpu - cpu_mark[1]) / max(now - cpu_mark[0], 1e-6)
            cpu_mark = (now, cpu)
            sample: dict = {
                "t_s": round(now - start, 1), "rss_mb": round(tree_rss_mb(), 1), "python_rss_mb": round(rss_mb(), 1),
                "cores": round(cores, 3),  # CPU of the process and its FFmpeg children since the last sample
            }
            if source is not None:
                recent = sorted(ages[-200:]) or [0.0]
                sample.update(
                    decoded=source.stats.decoded, consumed=consumed, dropped=source.frames.dropped, reconnects=source.stats.reconnects,
                    state=source.health.state, age_p50_ms=round(1000 * recent[len(recent) // 2]), age_max_ms=round(1000 * recent[-1]),
                )
            else:
                st = worker.status()
                decoded, dropped = sum(c.decoded for c in st.cameras), sum(c.dropped for c in st.cameras)
                sample.update(
                    decoded=decoded, dropped=dropped, dropped_pct=round(100.0 * dropped / max(decoded, 1), 3),
                    reconnects=sum(c.reconnects for c in st.cameras), records=st.records, state=",".join(c.state for c in st.cameras),
                )
            samples.append(sample)
            on_sample(sample)
    except KeyboardInterrupt:
        pass
    finally:
        if source is not None:
            source.stop()
        if worker is not None:
            worker.request_stop()
            thread.join(60)
    steady = [s["rss_mb"] for s in samples[1:]] or [s["rss_mb"] for s in samples]
    last = samples[-1] if samples else {}
    return {
        "mode": "ingest" if source is not None else "worker", "minutes": round((time.monotonic() - start) / 60, 2),
        "rss_after_warmup_mb": steady[0] if steady else None, "rss_end_mb": steady[-1] if steady else None,
        "rss_max_mb": max(steady) if steady else None, "decoded": last.get("decoded"), "dropped": last.get("dropped"),
        "cores_mean": round(sum(s["cores"] for s in samples[1:]) / max(len(samples) - 1, 1), 3) if samples else None,
        "dropped_pct": round(100.0 * last.get("dropped", 0) / max(last.get("decoded", 0), 1), 3) if samples else None,
        "samples": samples,
    }
