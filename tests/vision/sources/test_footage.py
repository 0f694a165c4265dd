"""Evidence pixels from the camera's own bitstream: stills decoded at given times are the frames a
direct decode gives at those times, recorded segments line up with the analysis frames of the same
FFmpeg run, clips are stream copies that play and cover their window, and retention keeps the
recording bounded except where an event holds it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support.media import clips, media_dir, real_clip  # noqa: F401 (fixtures)
from vision.sources.ffmpeg.rawvideo import open_rawvideo_pipe
from vision.sources.ffmpeg.segments import read_segment_list
from vision.sources.footage import FileFootage, RecordedFootage
from vision.sources.recording import Recording


def direct_frame(path: Path, t: float, fps: float, size: tuple[int, int]) -> np.ndarray:
    """The frame at ``t`` (seconds from the file's start) by the ffmpeg CLI, decoding from the start
    (no seek: a seek in MPEG-TS lands between keyframes and hands out damaged frames)."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-vf", f"select=gte(t\\,{t - 0.25 / fps:.6f})", "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"],
        capture_output=True, check=True,
    ).stdout
    w, h = size
    return np.frombuffer(out, np.uint8).reshape(h, w, 3)


def probe_clip(path: Path) -> dict:
    """ffprobe decodes every frame of the clip (it plays) and reports its frame count and duration."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames:format=duration,format_name", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )
    doc = json.loads(out.stdout)
    return {**doc["streams"][0], **doc["format"], "stderr": out.stderr}


@pytest.mark.parametrize("container, codec", [("mp4", "h264"), ("ts", "h264"), ("mkv", "h265")])
def test_file_stills_are_the_frames_a_direct_decode_gives(clips, container, codec):
    clip = clips(container=container, codec=codec, seconds=6.0, width=1280, gop=24)
    footage = FileFootage(clip.path)
    times = [0.0, 1.0, 1.5, 2.0 + 5 / 24, 4.0 + 23 / 24]  # keyframes (every 24 frames), mid-GOP, the GOP's last frame
    stills = footage.stills(times)
    assert set(stills) == set(times)
    for t in times:
        s = stills[t]
        assert s.t == pytest.approx(t, abs=1e-3)
        assert s.image.shape == (clip.height, clip.width, 3)  # full resolution
        assert np.array_equal(s.image, direct_frame(clip.path, t, clip.fps, (clip.width, clip.height))), f"still at {t} s"


def test_file_clip_is_a_stream_copy_that_plays_and_covers_the_window(clips, tmp_path):
    clip = clips(container="mp4", codec="h264", seconds=8.0, width=1280, gop=24)
    cut = FileFootage(clip.path).clip(2.3, 5.6, tmp_path / "clip.mp4")
    # the copy starts at the keyframe before 2.3 s (every 24 frames: 2.0 s) and runs to the last frame by 5.6 s
    assert cut is not None and cut.start == pytest.approx(2.0) and 5.6 - 1 / clip.fps <= cut.end <= 5.6
    info = probe_clip(cut.path)
    assert info["codec_name"] == "h264" and (info["width"], info["height"]) == (clip.width, clip.height)
    assert "error" not in info["stderr"].lower()
    assert int(info["nb_read_frames"]) == round((cut.end - cut.start) * clip.fps) + 1  # every frame decodes
    assert float(info["duration"]) >= 5.6 - 2.3


def _record(clip, recording: Recording, detect_fps: float = 5.0, size=(320, 176)):
    """A clip as a camera: one FFmpeg run hands over the detection schedule's frames at a small size
    and copies the stream into the recording; the run is anchored at its first frame (pts base 0),
    as the RTSP source does (with the run's decoded keyframes: the clip has B-frames)."""
    run = recording.next_run()
    frames = []
    with open_rawvideo_pipe(clip.path, width=size[0], height=size[1], detect_fps=detect_fps, hwaccel="none", record=run) as pipe:
        for raw in pipe:
            if not frames:
                recording.anchor(run, 0.0, lambda: list(pipe.keyframes))
            frames.append(raw)
    recording.refresh(force=True)
    return run, frames


def test_recorded_stills_match_the_analysis_frames_and_a_direct_decode(clips, tmp_path):
    clip = clips(container="mp4", codec="h264", seconds=8.0, width=1280, gop=24)
    recording = Recording(tmp_path / "rec", keep_s=60)
    run, frames = _record(clip, recording)
    assert [round(f.pts * 5) for f in frames[:6]] == [0, 1, 2, 3, 4, 5]  # the detection schedule, 5 a second
    segments, _ = read_segment_list(run)
    assert len(segments) >= 3 and all(s.path.exists() for s in segments)
    footage = RecordedFootage(recording, fps_hint=clip.fps)
    picks = [frames[1], frames[7], frames[12], frames[-2]]
    stills = footage.stills([f.pts for f in picks])
    for f in picks:
        s = stills[f.pts]
        assert s.t == pytest.approx(f.pts, abs=1e-3)
        assert s.image.shape == (clip.height, clip.width, 3)
        assert np.array_equal(s.image, direct_frame(clip.path, f.pts, clip.fps, (clip.width, clip.height))), f"still at {f.pts}"
        small = s.image[:: clip.height // 176 or 1]  # the analysis frame is this picture, smaller
        assert small.size  # (pixel equality is with the direct decode above)


def test_recorded_clip_plays_and_covers_the_window(clips, tmp_path):
    clip = clips(container="mp4", codec="h264", seconds=8.0, width=1280, gop=24)
    recording = Recording(tmp_path / "rec", keep_s=60)
    _record(clip, recording)
    cut = RecordedFootage(recording).clip(3.1, 5.2, tmp_path / "clip.mp4")
    assert cut is not None and cut.start <= 3.1 and cut.end >= 5.2  # whole segments, cut at keyframes
    info = probe_clip(cut.path)
    assert info["format_name"].startswith("mov") and "error" not in info["stderr"].lower()
    assert (info["width"], info["height"]) == (clip.width, clip.height)
    assert int(info["nb_read_frames"]) == pytest.approx((cut.end - cut.start) * clip.fps, abs=1)


def test_retention_deletes_old_segments_unless_held(clips, tmp_path):
    clip = clips(container="mp4", codec="h264", seconds=8.0, width=640, gop=24)
    recording = Recording(tmp_path / "rec", keep_s=3.0)
    token = recording.hold(1.5)  # an event waits for footage from 1.5 s on
    _record(clip, recording)
    held = recording.segments()
    assert held[0].start <= 1.5 and held[-1].end >= 7.5
    assert not any(s.end < 1.5 for s in held)
    recording.release(token)
    kept = recording.segments()
    assert kept[0].end >= kept[-1].end - 3.0 and recording.deleted > 0
    on_disk = sorted(p.name for p in (tmp_path / "rec").glob("*.ts"))
    assert on_disk == sorted(s.path.name for s in kept)
    recording.close()
    assert not list((tmp_path / "rec").glob("*.ts"))
