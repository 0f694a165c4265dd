"""Checkpoint mode end to end on a rendered clip: real plate photos from ../shared/data/plates
driven through a frame, the real detector and the real double plate reader, the pass sink into a
real store. One pass per vehicle, a hit for the listed plate and none for the others, and a fuzzy
hit (an entry one character off) scored below the exact one."""

from __future__ import annotations

from pathlib import Path

from evidence.checkpoint import watchlist
from evidence.checkpoint.passes import PassStore
from evidence.store import RecordStore
from pipelines.checkpoint.sink import CheckpointSink
from pipelines.config import parse_site
from pipelines.engine import CameraPipeline
from pipelines.site_models import plate_reader_from_site
from tests.conftest import require
from tests.support.checkpoint import CLIP_VEHICLES, checkpoint_scene, checkpoint_site_doc, entry
from tests.support.models import registry, require_model, yolov5n_detector  # noqa: F401  (fixtures)
from vision.plates.reader import MODELS as PLATE_MODELS


def test_rendered_checkpoint_clip_one_pass_per_vehicle_hits_scored(shared_data: Path, registry, yolov5n_detector, tmp_path):  # noqa: F811
    for name in PLATE_MODELS:
        require_model(registry, name)
    require(shared_data / "plates" / "plates.jsonl", "plate photos")
    site = parse_site(checkpoint_site_doc(passes={"output_dir": str(tmp_path / "passes")},
                                          store={"url": f"sqlite:///{tmp_path / 'records.db'}"}))
    store = RecordStore.from_config(site.store)
    listed = CLIP_VEHICLES[0][1]
    watchlist.add(store.engine, entry(listed, note="肇事逃逸"), "sup")
    fuzzy = listed[:-1] + "B"  # 皖A195KB: one character off the listed plate
    watchlist.add(store.engine, entry(fuzzy, reason="overdue_inspection", priority=4), "sup")
    sink = CheckpointSink.from_site(site, store.engine)
    pipe = CameraPipeline(site.cameras[0], site, yolov5n_detector, None, plate_reader_from_site(site, registry, threads=2))
    raised = []
    for frame in checkpoint_scene(shared_data).frames():
        pipe.process(frame)
        raised += sink.handle(pipe.take_passes())

    passes = sorted(PassStore(store.engine).query(), key=lambda p: p.pass_time)
    assert len(passes) == len(CLIP_VEHICLES), [(p.pass_time, p.plate, p.plate_status) for p in passes]
    for p, (photo, plate_text), i in zip(passes, CLIP_VEHICLES, range(len(CLIP_VEHICLES))):
        assert 4.0 * i < (p.pass_time - passes[0].pass_time).total_seconds() + 2.3 < 4.0 * (i + 1), photo
        texts = [p.plate] + [c.text for c in p.plate_candidates]
        assert plate_text in texts, (photo, p.plate_status, texts)  # confirmed, or among an unconfirmed read's candidates
        assert p.panorama.width == 1280 and p.vehicle.width > 200 and Path(p.vehicle.path).is_file()
    assert passes[0].plate_status == "confirmed"

    hits = [(a.pass_key, a.matched_text, a.match, a.score, a.details["entry_plate"]) for a in raised]
    assert {h[0] for h in hits} == {passes[0].pass_key}  # the listed vehicle only, none for the others
    by_entry = {h[4]: h for h in hits}
    assert by_entry[listed][2:4] == ("exact", 1.0)
    assert by_entry[fuzzy][2] == "edit" and by_entry[fuzzy][3] < by_entry[listed][3]
    store.close()
