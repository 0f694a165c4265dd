"""Packages made from the camera's own bitstream, through the hand-off every runner uses: analysis frames
at a quarter of the camera's size, evidence decoded and copied from the recorded segments (live) or
the file (batch). Packages verify; panoramas are at the recording's full resolution and are the
frames at the key frames' times (a direct decode at those times matches, the neighbours do not);
boxes are mapped to the panoramas' pixels; the clip is a copy that plays and covers the event."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from evidence.event import Box, KeyFrame, ViolationEvent
from evidence.manifest import verify_package
from evidence.store import RecordStore
from pipelines.config import parse_site
from pipelines.engine import CameraPipeline
from pipelines.handoff.frames import CameraEvidence
from pipelines.handoff.queue import EvidenceQueue
from pipelines.handoff.writer import EvidenceWriter
from tests.support.evidence import T0, config, keys  # noqa: F401 (fixture)
from tests.support.media import clips, media_dir, real_clip  # noqa: F401 (fixtures)
from vision.frame import Frame
from vision.sources.ffmpeg.rawvideo import open_rawvideo_pipe
from vision.sources.footage import FileFootage, RecordedFootage
from vision.sources.recording import Recording

FRAME = (1280, 704)  # the camera's frame (zones and boxes are in these pixels)
ANALYSIS = (320, 176)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def decoded_from_start(path: Path, size: tuple[int, int]) -> dict[float, np.ndarray]:
    """Every frame of the file with its time (seconds from the start), decoded straight through."""
    cap = cv2.VideoCapture(str(path))
    out = {}
    while cap.grab():
        out[cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0] = cap.retrieve()[1]
    cap.release()
    return out


def camera(site_dir: Path, analysis: tuple[int, int] = ANALYSIS):
    site = parse_site({
        "id": "site-001",
        "cameras": [{"id": "cam-01", "source": "rtsp://cam/main", "frame_size": list(FRAME), "analysis": list(analysis),
                     "rules": ["u_turn"], "detect_fps": 5}],
        "evidence": {"output_dir": str(site_dir / "evidence"), "clip_before_s": 1.5, "clip_after_s": 1.5},
    })
    return site, CameraPipeline(site.cameras[0], site, source_selects=True)


def analysis_frames(clip, recording: Recording | None) -> list[Frame]:
    """The clip as the engine sees it: the detection schedule's frames at the analysis size (and, live,
    the same FFmpeg run recording the stream, anchored at its first frame like the RTSP source)."""
    run = recording.next_run() if recording is not None else None
    frames: list[Frame] = []
    with open_rawvideo_pipe(clip.path, width=ANALYSIS[0], height=ANALYSIS[1], detect_fps=5, hwaccel="none", record=run) as pipe:
        for raw in pipe:
            if run is not None and not frames:
                recording.anchor(run, 0.0, lambda: list(pipe.keyframes))
            frames.append(Frame("cam-01", len(frames), raw.pts, T0 + timedelta(seconds=raw.pts), raw.image))
    return frames


def u_turn(frames: list[Frame], picks: list[int]) -> ViolationEvent:
    box = Box(x1=500.0, y1=300.0, x2=780.0, y2=520.0)  # frame_size pixels
    kfs = [KeyFrame(seq=frames[i].seq, wall_time=frames[i].wall_time, role=r, box=box) for i, r in zip(picks, ("approach", "turn", "exit"))]
    return ViolationEvent(site_id="site-001", camera_id="cam-01", rule="u_turn", track_id=3, start_time=kfs[0].wall_time,
                          end_time=kfs[-1].wall_time, vehicle_class="car", key_frames=kfs, facts={"turn_deg": 170.0})


def batch_camera(clip, tmp_path: Path, picks: list[int]):
    """A camera over a recorded file, its analysis frames indexed, and a U-turn at ``picks``."""
    site, pipe = camera(tmp_path)
    cam = CameraEvidence.of(pipe, site, FileFootage(clip.path))
    frames = analysis_frames(clip, None)
    for f in frames:
        cam.observe(f)
    return site, pipe, cam, frames, u_turn(frames, picks)


def package(tmp_path: Path, signer, site, cam: CameraEvidence, event: ViolationEvent, fire_pts: float) -> Path:
    store = RecordStore(f"sqlite:///{tmp_path / 'r.db'}")
    cfg = config(tmp_path, clip_before_s=site.evidence.clip_before_s, clip_after_s=site.evidence.clip_after_s)
    writer = EvidenceWriter(cfg, signer, lambda r: store.add(r).created, tmp_path / "failed", threads=0)
    queue = EvidenceQueue(cfg, writer)
    queue.add(cam, event, fire_pts)
    assert queue.drain(timeout=120)
    assert writer.failed == 0, writer.last_error
    [record] = store.query()
    return Path(record.evidence_path)


def check_package(path: Path, pub: Path, clip, event: ViolationEvent, frames: list[Frame], fire_pts: float, before: float, after: float):
    from evidence.signing import load_public_key

    result = verify_package(path, load_public_key(pub))
    assert result.ok, result.problems
    manifest = json.loads((path / "manifest.json").read_text())
    truth = decoded_from_start(clip.path, FRAME)
    times = sorted(truth)
    by_seq = {f.seq: f for f in frames}
    panoramas = [f for f in manifest["files"] if f["kind"] == "panorama"]
    assert len(panoramas) == 3
    for entry, kf in zip(sorted(panoramas, key=lambda e: e["seq"]), sorted(event.key_frames, key=lambda k: k.seq)):
        assert (entry["width"], entry["height"]) == FRAME  # the recording's full resolution, not the analysis size
        image = cv2.imread(str(path / entry["name"]))
        t = by_seq[kf.seq].pts
        i = min(range(len(times)), key=lambda j: abs(times[j] - t))
        right = psnr(image, truth[times[i]])
        neighbours = [psnr(image, truth[times[j]]) for j in (i - 1, i + 1) if 0 <= j < len(times)]
        assert right > 35 and all(right > n + 3 for n in neighbours), (t, right, neighbours)  # that frame, not the next
    boxes = [k["box"] for k in manifest["record"]["key_frames"]]
    assert all(b == {"x1": 500.0, "y1": 300.0, "x2": 780.0, "y2": 520.0} for b in boxes)  # frame_size == recording size here
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,width,height,nb_read_frames:format=duration",
         "-of", "json", str(path / "clip.mp4")], capture_output=True, text=True, check=True,
    )
    doc = json.loads(probe.stdout)
    assert "error" not in probe.stderr.lower()
    stream = doc["streams"][0]
    assert stream["codec_name"] == "h264" and (stream["width"], stream["height"]) == FRAME  # the camera's own stream, copied
    assert float(doc["format"]["duration"]) >= before + after - 0.1
    assert int(stream["nb_read_frames"]) >= (before + after) * clip.fps - 2


def test_live_package_from_recorded_segments_verifies_at_full_resolution_and_the_right_times(clips, tmp_path, keys):
    signer, pub = keys
    clip = clips(container="mp4", codec="h264", seconds=8.0, width=FRAME[0], gop=24)
    site, pipe = camera(tmp_path)
    recording = Recording(tmp_path / "rec", keep_s=60)
    cam = CameraEvidence.of(pipe, site, RecordedFootage(recording, fps_hint=clip.fps))
    frames = analysis_frames(clip, recording)
    for f in frames:
        cam.observe(f)
    event = u_turn(frames, [6, 11, 17])
    fire = frames[17].pts
    path = package(tmp_path, signer, site, cam, event, fire)
    check_package(path, pub, clip, event, frames, fire, 1.5, 1.5)
    assert not list((tmp_path / "evidence").glob(".clip-*")), "temporary clips are cleaned up"


def test_batch_package_from_the_file_verifies_at_full_resolution_and_the_right_times(clips, tmp_path, keys):
    signer, pub = keys
    clip = clips(container="mp4", codec="h264", seconds=8.0, width=FRAME[0], gop=24)
    site, _, cam, frames, event = batch_camera(clip, tmp_path, [4, 20, 31])
    path = package(tmp_path, signer, site, cam, event, frames[20].pts)
    check_package(path, pub, clip, event, frames, frames[20].pts, 1.5, 1.5)


def test_plates_are_read_from_the_panoramas_when_the_analysis_frames_are_small(clips, tmp_path, keys):
    """A camera analysed below its full size keeps no plate crops; its plate is read in the hand-off
    from the vehicle in each full-resolution panorama."""
    import numpy as np

    from vision.plates.reader import PlateRead

    class Reader:
        def __init__(self):
            self.crops = []

        def read_track(self, crops):
            self.crops = [c.shape for c in crops]
            return PlateRead(text="浙A12345", color="blue", agreement=1.0, reads=len(crops), status="confirmed",
                             crop=np.full((24, 72, 3), 200, np.uint8))

    signer, _ = keys
    clip = clips(container="mp4", codec="h264", seconds=8.0, width=FRAME[0], gop=24)
    site, pipe, cam, frames, event = batch_camera(clip, tmp_path, [4, 20, 31])
    reader = Reader()
    pipe.plate_reader = reader
    assert not pipe.crops_from_frames and event.plate is None
    store_path = package(tmp_path, signer, site, cam, event, frames[20].pts)
    manifest = json.loads((store_path / "manifest.json").read_text())
    assert manifest["record"]["plate"]["text"] == "浙A12345"
    assert [(f["width"], f["height"]) for f in manifest["files"] if f["kind"] == "plate"] == [(72, 24)]  # the reader's plate crop
    assert len(reader.crops) == 3 and all(h >= 220 and w >= 280 for h, w, _ in reader.crops)  # full-resolution crops


@pytest.mark.parametrize("recorded_size", [(1920, 1056)])
def test_boxes_are_mapped_to_a_recording_larger_than_the_frame_size(clips, tmp_path, keys, recorded_size):
    """Zones drawn on a smaller picture than the camera records: panoramas stay at the recorded size
    and the boxes are scaled into their pixels."""
    signer, pub = keys
    clip = clips(container="mp4", codec="h264", seconds=4.0, width=recorded_size[0], gop=24)
    site, _, cam, frames, event = batch_camera(clip, tmp_path, [2, 6, 10])
    path = package(tmp_path, signer, site, cam, event, frames[6].pts)
    manifest = json.loads((path / "manifest.json").read_text())
    assert {(f["width"], f["height"]) for f in manifest["files"] if f["kind"] == "panorama"} == {(clip.width, clip.height)}
    sx = clip.width / FRAME[0]
    box = manifest["record"]["key_frames"][0]["box"]
    assert box["x1"] == pytest.approx(500 * sx) and box["x2"] == pytest.approx(780 * sx)


def test_a_site_asking_for_a_burned_in_overlay_gets_the_clip_re_encoded(clips, tmp_path, keys):
    """The only case the clip is encoded: the site asks for time and event text burned into it."""
    signer, pub = keys
    clip = clips(container="mp4", codec="h264", seconds=4.0, width=FRAME[0], gop=24)
    _, _, cam, frames, event = batch_camera(clip, tmp_path, [2, 6, 10])
    store = RecordStore(f"sqlite:///{tmp_path / 'r.db'}")
    cfg = config(tmp_path, clip_before_s=1.0, clip_after_s=1.0, clip_overlay=True)
    writer = EvidenceWriter(cfg, signer, lambda r: store.add(r).created, tmp_path / "failed", threads=0)
    queue = EvidenceQueue(cfg, writer)
    queue.add(cam, event, frames[6].pts)
    assert queue.drain(timeout=120) and writer.failed == 0, writer.last_error
    path = Path(store.query()[0].evidence_path)
    from evidence.signing import load_public_key

    assert verify_package(path, load_public_key(pub)).ok
    copy = FileFootage(clip.path).clip(frames[6].pts - 1.0, frames[6].pts + 1.0, tmp_path / "plain.mp4")
    burned = cv2.VideoCapture(str(path / "clip.mp4"))
    plain = cv2.VideoCapture(str(copy.path))
    ok1, a = burned.read()
    ok2, b = plain.read()
    assert ok1 and ok2 and a.shape == b.shape
    top, bottom = np.abs(a.astype(int) - b)[:60].mean(), np.abs(a.astype(int) - b)[-200:].mean()
    assert top > 10 > bottom  # text in the top bar, the picture below it as the camera sent it (re-encoded)
