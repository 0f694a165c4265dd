"""A camera analysed on its sub-stream while its main stream is only recorded (``detect_source``).

The test camera serves a main stream (1280x704) and a sub-stream (640x352) of the same real street
footage on one clock, as a camera's sensor feeds both. The analysis frames come from the sub-stream;
the main stream goes to rolling segments through its own recorder, placed on the analysis clock by
wall time. Stills decoded from the main stream at analysis times show the same moment (to within the
alignment the test measures and bounds), a live worker records a parked car with panoramas at the
main stream's resolution, and bad configurations are errors naming the field."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from evidence.manifest import verify_package
from evidence.signing import Signer, generate_keypair, load_public_key
from evidence.store import RecordStore
from pipelines.config import SiteConfigError, parse_site
from pipelines.live.config import LiveConfig
from pipelines.live.worker import LiveWorker
from pipelines.site_models import detectors_from_site
from tests.support.live import wait_for
from tests.support.media import make_clip, media_dir, real_clip, thumbs, which_frame  # noqa: F401 (fixtures)
from tests.support.models import registry, require_model  # noqa: F401 (fixture)
from tests.support.rtsp import RtspServer, _video, take_frames
from vision.sources.backoff import BackoffConfig
from vision.sources.footage import RecordedFootage
from vision.sources.recorder import StreamRecorder
from vision.sources.recording import Recording
from vision.sources.rtsp import RtspConfig, RtspSource

MAIN, SUB = (1280, 704), (640, 352)
FAST = RtspConfig(
    io_timeout_s=2.0, stall_after_s=1.0, reconnect_after_s=4.0, alert_after_s=5.0, analyze_s=0.5,
    backoff=BackoffConfig(initial_s=0.1, cap_s=0.5),
)


@pytest.fixture(scope="module")
def streams(shared_data: Path, real_clip: Path, media_dir: Path):
    """(main clip, sub clip): the same 12 s of the street, same frame times and keyframes, two sizes."""
    _video(shared_data)  # skips/fails when GStreamer's RTSP server is missing
    main = make_clip(real_clip, media_dir, seconds=12.0, start=8.0, width=MAIN[0], gop=12, name="main.mp4", bframes=False)
    sub = make_clip(real_clip, media_dir, seconds=12.0, start=8.0, width=SUB[0], gop=12, name="sub.mp4", bframes=False)
    return main, sub


@pytest.fixture
def camera(streams):
    main, sub = streams
    server = RtspServer(None, mounts={"/main": main.path, "/sub": sub.path}, live=True).start()
    try:
        yield server
    finally:
        server.stop()


def test_main_stream_stills_show_the_moment_of_the_sub_stream_frames(camera, streams, tmp_path):
    main, sub = streams
    truth = thumbs(sub.path)
    recording = Recording(tmp_path / "rec", keep_s=60)
    source = RtspSource("cam", camera.url_of("/sub"), FAST, detect_fps=4, aspect=MAIN, decoder_threads=1).start()
    recorder = StreamRecorder("cam", camera.url_of("/main"), recording, lambda: source.wall_at_zero, FAST).start()
    try:
        frames = take_frames(source, 40)
        wait_for(lambda: recording.available_until() >= frames[-1].pts, 20, "the main stream recorded past the last frame")
    finally:
        source.stop()
        recorder.stop()
    assert len(frames) >= 30 and frames[0].image.shape[:2] == (SUB[1], SUB[0])  # analysis on the sub-stream, its own size
    picks = [f for f in frames[10:] if f.pts > recording.segments()[0].first + 0.5][::3]
    stills = RecordedFootage(recording, fps_hint=main.fps).stills([f.pts for f in picks])
    offsets = []
    for f in picks:
        still = stills[f.pts]
        assert still.image.shape[:2] == (MAIN[1], MAIN[0])  # the main stream's full resolution
        n_sub, n_main = which_frame(f.image, truth), which_frame(still.image, truth)
        loop = len(truth)
        offsets.append((n_main - n_sub + loop // 2) % loop - loop // 2)
    print("main-stream still minus sub-stream frame, in frames:", offsets)
    # two RTSP sessions placed on one clock by arrival times: the same moment to within a few frames
    assert len(offsets) >= 5 and max(abs(o) for o in offsets) <= 3, offsets
    assert np.median(np.abs(offsets)) <= 2, offsets


def site_doc(main_url: str, sub_url: str, tmp_path: Path) -> dict:
    priv, _ = generate_keypair(tmp_path / "keys")
    return {
        "id": "live-sub",
        "cameras": [
            {
                "id": "street-a", "source": main_url, "detect_source": sub_url, "detect_fps": 3, "frame_size": list(MAIN),
                "zones": [{"id": "driveway", "kind": "no_parking", "polygon": [[1160, 270], [1280, 270], [1280, 410], [1160, 410]]}],
                "rules": ["parking"],
            }
        ],
        "rules": {"parking": {"min_dwell_s": 5}},
        "engine": {"trail_keep_s": 30},
        "models": {"detector": "yolov5n_coco", "helmet": None},
        "evidence": {"output_dir": str(tmp_path / "evidence"), "signing_key": str(priv), "clip_before_s": 2.0, "clip_after_s": 1.0,
                     "parking_min_span_s": 4},
        "store": {"url": f"sqlite:///{tmp_path / 'records.db'}"},
    }


def test_worker_on_a_sub_stream_records_evidence_from_the_main_stream(camera, tmp_path, registry):
    require_model(registry, "yolov5n_coco")
    site = parse_site(site_doc(camera.url_of("/main"), camera.url_of("/sub"), tmp_path))
    store = RecordStore(site.store.url)
    detector, _ = detectors_from_site(site, registry=registry)
    live = LiveConfig(rtsp=FAST, spool_dir=tmp_path / "spool", shutdown_grace_s=20)
    worker = LiveWorker(site, live, detector, evidence_cfg=site.evidence, signer=Signer.from_file(site.evidence.signing_key), store=store)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: store.count() >= 1, 120, "a parking record from the sub-stream camera")
        cam = worker.cams["street-a"]
        assert cam.feed.recorder is not None and cam.feed.recorder.runs >= 1  # the main stream has its own recorder
        assert cam.source.stats.width == SUB[0]  # the worker decodes only the sub-stream
    finally:
        worker.request_stop()
        thread.join(60)
    record = store.query()[0]
    package = Path(record.evidence_path)
    assert verify_package(package, load_public_key(site.evidence.public_key_path)).ok
    manifest = json.loads((package / "manifest.json").read_text())
    sizes = {(f["width"], f["height"]) for f in manifest["files"] if f["kind"] in ("panorama", "clip")}
    assert sizes == {MAIN}  # panoramas and the clip come from the main stream, at its resolution
    assert not list((tmp_path / "spool" / "recordings" / "street-a").glob("*.ts"))  # the recording is gone with the worker


@pytest.mark.parametrize(
    "camera_fields, message",
    [
        ({"detect_source": "/videos/sub.mp4"}, "cameras.0.detect_source: must be an rtsp:// or rtsps:// URL"),
        ({"detect_source": "rtsp://cam/main"}, "cameras.0.detect_source: is the same URL as source"),
        ({"source": "/videos/main.mp4", "detect_source": "rtsp://cam/sub"}, "cameras.0.detect_source: only a live camera"),
        ({"detect_source": "rtsp://cam/sub", "rules": ["helmet"]}, "cameras.0.detect_source: the helmet rule reads rider heads"),
        ({"analysis": [640, 360], "rules": ["helmet", "parking"]}, "cameras.0.analysis: the helmet rule reads rider heads"),
        ({"analysis": [640, 480]}, "cameras.0.analysis: [640, 480] has another shape than frame_size [1280, 720]"),
        ({"analysis": [2560, 1440]}, "cameras.0.analysis: [2560, 1440] is larger than frame_size"),
    ],
)
def test_bad_sub_stream_and_analysis_configurations_name_the_field(camera_fields, message):
    cam = {"id": "c", "source": "rtsp://cam/main", "frame_size": [1280, 720], "rules": ["parking"], **camera_fields}
    with pytest.raises(SiteConfigError) as err:
        parse_site({"id": "s", "cameras": [cam]})
    assert message in str(err.value)


def test_a_sub_stream_camera_with_the_helmet_model_off_may_run_every_rule():
    site = parse_site({"id": "s", "models": {"helmet": None},
                       "cameras": [{"id": "c", "source": "rtsp://cam/main", "detect_source": "rtsp://cam/sub", "frame_size": [1280, 720]}]})
    cam = site.cameras[0]
    assert not cam.analysis_is_full and cam.analysis_size() is None and cam.analysis_size((704, 576)) == (704, 396)
