"""A stand-in segment processor for batch tests (no test functions here).

It really decodes the segment with FileSource (so damaged files fail for real) and emits synthetic
"violations" at fixed frame numbers, including ones that last several seconds and so straddle
segment cuts. Each is written with INSERT OR IGNORE under a deterministic key, exactly like the
record store's idempotent event keys, into a SQLite results file shared by all workers.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from pipelines.batch.jobs import ProgressFn, SegmentJob, SegmentResult, core_progress, new_result, open_source
from pipelines.batch.segments import owns

EVENT_EVERY = 30  # frames: a short event starts at every 30th frame
LONG_EVERY = 90  # frames: a long event starts here and is "decided" LONG_SECONDS later
LONG_SECONDS = 2.0


def expected_events(frame_count: int, fps: float) -> set[tuple[str, int]]:
    """(rule, start seq) of every synthetic event in a whole file of ``frame_count`` frames."""
    out = {("helmet", s) for s in range(0, frame_count, EVENT_EVERY)}
    last_pts = (frame_count - 1) / fps
    out |= {("parking", s) for s in range(0, frame_count, LONG_EVERY) if s / fps + LONG_SECONDS <= last_pts + 1e-6}
    return out


class FakeEventProcessor:
    def __init__(
        self, results_db: str, frame_sleep: float = 0.0, marker_dir: str | None = None,
        crash_once: str | None = None, crash_index: int = 1,
    ):
        self.crash_once = Path(crash_once) if crash_once else None  # marker: die hard once on segment crash_index
        self.crash_index = crash_index
        self.db_path = results_db
        self.frame_sleep = frame_sleep
        self.marker_dir = Path(marker_dir) if marker_dir else None
        # autocommit statements with a busy timeout: safe with several worker processes starting at
        # once (switching the journal to WAL here raced between them: "database is locked")
        self.db = sqlite3.connect(results_db, timeout=30, isolation_level=None)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS events (key TEXT PRIMARY KEY, file_key TEXT, rule TEXT, seq INTEGER, start_pts REAL, segment INTEGER)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS attempts (segment_id TEXT, worker TEXT, at REAL)")

    def process(self, job: SegmentJob, progress: ProgressFn) -> SegmentResult:
        from vision.sources.ffmpeg.errors import DecodeError

        self.db.execute("INSERT INTO attempts VALUES (?, ?, ?)", (job.segment_id, str(os.getpid()), time.time()))
        if self.marker_dir is not None:  # tells a test which process holds which segment
            (self.marker_dir / f"{os.getpid()}.{job.segment_id.replace('#', '_')}").touch()
        if self.crash_once is not None and job.index == self.crash_index and not self.crash_once.exists():
            self.crash_once.touch()
            os._exit(137)  # like the OOM killer: no cleanup, no result
        window = job.window
        events: list[tuple[str, int, float]] = []
        open_long: dict[int, float] = {}
        frames, status, error = 0, "done", None
        try:
            source = open_source(job)
            for frame in source.frames():
                frames += 1
                if frame.seq % EVENT_EVERY == 0:
                    events.append(("helmet", frame.seq, frame.pts))
                if frame.seq % LONG_EVERY == 0:
                    open_long[frame.seq] = frame.pts
                for seq, start in list(open_long.items()):
                    if frame.pts - start >= LONG_SECONDS - 1e-6:
                        events.append(("parking", seq, start))
                        del open_long[seq]
                progress(core_progress(job, frame.pts), frames)
                if self.frame_sleep:
                    time.sleep(self.frame_sleep)
        except DecodeError as exc:
            status, error = "failed", exc.reason
        owned = [e for e in events if owns(window, e[2])]
        new = 0
        by_rule: dict[str, int] = {}
        for rule, seq, start in owned:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)",
                (f"{job.file_key}|{rule}|{seq}", job.file_key, rule, seq, start, job.index),
            )
            new += cur.rowcount
            by_rule[rule] = by_rule.get(rule, 0) + 1
        return new_result(
            job, status=status, error=error, frames=frames, footage_seconds=job.footage_seconds,
            events=len(owned), dropped=len(events) - len(owned), new_records=new, by_rule=by_rule,
        )

    def close(self) -> None:
        self.db.close()


def read_events(results_db: Path) -> list[tuple[str, str, int, int]]:
    """(file_key, rule, seq, owning segment) of every stored event, sorted."""
    db = sqlite3.connect(results_db)
    try:
        return sorted(db.execute("SELECT file_key, rule, seq, segment FROM events").fetchall())
    finally:
        db.close()


def attempts(results_db: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(results_db)
    try:
        return db.execute("SELECT segment_id, worker FROM attempts ORDER BY at").fetchall()
    finally:
        db.close()


def nvr_folder(clips, folder: Path, second_container: str) -> Path:  # noqa: ANN001 - media.ClipFactory
    """Two 6 s recordings (144 frames each) named the way NVRs name them: an mp4 at 08:00 and one
    in ``second_container`` at 09:00."""
    folder.mkdir()
    a = clips(container="mp4", codec="h264", seconds=6.0)
    b = clips(container=second_container, codec="h264", seconds=6.0, start=20.0)
    (folder / "cam1_20260101_080000.mp4").symlink_to(a.path)
    (folder / f"cam1_20260101_090000.{second_container}").symlink_to(b.path)
    return folder
