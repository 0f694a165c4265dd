"""A live camera whose stream has B-frames is recorded while it is analysed.

Many IP cameras send B-frames (H.264 main/high profile). Over RTSP a stream with B-frames arrives
with its first packets lacking decode times, which the segment muxer refuses. The test camera serves
a real street clip with B-frames, as a camera sends it (decode order, presentation timestamps), and
the RTSP source analyses it while copying it into rolling segments: the camera goes online, the
recording fills, stills decoded from it at analysis times show the very frames analysed, and a clip
cut from it plays without errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.live import wait_for
from tests.support.media import make_clip, media_dir, real_clip, thumbs, which_frame  # noqa: F401 (fixtures)
from tests.support.rtsp import RtspServer, _video, take_frames
from vision.sources.backoff import BackoffConfig
from vision.sources.footage import RecordedFootage
from vision.sources.recording import Recording
from vision.sources.rtsp import RtspConfig, RtspSource

FAST = RtspConfig(
    io_timeout_s=2.0, stall_after_s=1.0, reconnect_after_s=4.0, alert_after_s=5.0, analyze_s=0.5,
    backoff=BackoffConfig(initial_s=0.1, cap_s=0.5),
)


@pytest.fixture(scope="module")
def bframe_clip(shared_data: Path, real_clip: Path, media_dir: Path):
    _video(shared_data)  # skips/fails when GStreamer's RTSP server is missing
    clip = make_clip(real_clip, media_dir, seconds=8.0, start=4.0, width=1280, gop=24, name="bframes.mp4", bframes=True)
    has_b = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=has_b_frames", "-of", "csv=p=0", str(clip.path)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert int(has_b) > 0, "the clip must have B-frames"
    return clip


def test_a_camera_with_b_frames_is_recorded_and_its_stills_are_the_analysed_frames(bframe_clip, tmp_path):
    server = RtspServer(bframe_clip.path).start()
    recording = Recording(tmp_path / "rec", keep_s=60)
    health = []
    source = RtspSource("cam", server.url, FAST, on_health=health.append, size=(640, 360), detect_fps=6, record=recording).start()
    try:
        frames = take_frames(source, 40)
        wait_for(lambda: recording.available_until() >= frames[-1].pts, 20, "the stream recorded past the last frame")
    finally:
        source.stop()
        server.stop()
    reasons = [h.reason for h in health if h.reason]
    assert len(frames) >= 30 and source.stats.reconnects == 0, f"{len(frames)} frames; the camera dropped: {reasons}"

    truth = thumbs(bframe_clip.path)
    first = recording.segments()[0].first
    picks = [f for f in frames if f.pts >= first][1::3]
    stills = RecordedFootage(recording, fps_hint=bframe_clip.fps).stills([f.pts for f in picks])
    assert len(picks) >= 8 and set(stills) == {f.pts for f in picks}
    loop = len(truth)
    offsets = []
    for f in picks:
        still = stills[f.pts]
        assert still.image.shape[:2] == (bframe_clip.height, bframe_clip.width)  # the camera's full resolution
        offsets.append((which_frame(still.image, truth) - which_frame(f.image, truth) + loop // 2) % loop - loop // 2)
    assert offsets == [0] * len(offsets), f"still minus analysed frame, in frames: {offsets}"

    cut = RecordedFootage(recording).clip(picks[2].pts, picks[-2].pts, tmp_path / "clip.mp4")
    assert cut is not None
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
         str(cut.path)],
        capture_output=True, text=True, check=True,
    )
    assert "error" not in probe.stderr.lower(), probe.stderr
    assert int(probe.stdout.strip()) == pytest.approx((cut.end - cut.start) * bframe_clip.fps, abs=2)
