"""Every judged rider reaches the store per camera and hour (helmet-wearing rate), synthetic."""

from __future__ import annotations

from datetime import datetime, timezone

from evidence.store import RecordStore
from pipelines.engine import CameraPipeline, RiderTally
from pipelines.handoff.rider_counts import RiderCounts, hour_of, hourly
from tests.pipelines.test_engine import SMALL_FLAT_HEADS, HeadModel, ScriptedDetector, bikes, rider, run, site

H10 = datetime(2025, 6, 2, 10, tzinfo=timezone.utc).timestamp()


def test_rider_counts_synthetic_hourly():
    tallies = [RiderTally(0.0, H10 + 5, 2, 1, 0), RiderTally(1.0, H10 + 3599, 1, 1, 1), RiderTally(2.0, H10 + 3600, 1, 0, 0)]
    assert hourly(tallies) == {hour_of(H10): (3, 2, 1), hour_of(H10 + 3600): (1, 0, 0)}


def test_rider_counts_synthetic_engine_tallies_ended_tracks_into_the_store(tmp_path):
    s = site(zones=[], rules={"helmet": {"k": 3, "n": 5}}, engine=SMALL_FLAT_HEADS)
    vehicles = bikes(2)
    det = ScriptedDetector(vehicles, rider)
    pipe = CameraPipeline(s.cameras[0], s, det, helmet_detector=HeadModel())
    run(pipe, det, 6.0)
    pipe.flush()
    assert len(pipe.rider_tallies) == 2 and all((t.judged, t.helmeted) == (1, 0) for t in pipe.rider_tallies)
    counts = RiderCounts("live:w1", every_s=0.0)
    counts.take("cam-a", pipe)
    assert pipe.rider_tallies == []  # taken once
    with RecordStore(f"sqlite:///{tmp_path / 'records.db'}") as store:
        counts.write(store, s.id)
        counts.write(store, s.id, force=True)  # nothing new: nothing written twice
        from evidence.review.dashboard import helmet_rate

        (total,), _ = helmet_rate(store, hours=24 * 365 * 100)
        assert (total.camera_id, total.judged, total.helmeted, total.rate) == ("cam-a", 2, 0, 0.0)
