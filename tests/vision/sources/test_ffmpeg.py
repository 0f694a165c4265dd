"""The pure parts of the FFmpeg plumbing: sizes, selection expressions, log parsing, hwaccel choice."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from vision.sources.ffmpeg import hwaccel
from vision.sources.ffmpeg.command import PipeSpec, output_size, rawvideo_command, select_expression
from vision.sources.ffmpeg.decode_log import FFmpegLog, clean_log_line
from vision.sources.ffmpeg.hwaccel import mark_hwaccel_failed, resolve_hwaccel
from vision.sources.ffmpeg.probe import parse_creation_time


@pytest.mark.parametrize(
    "size,scale,max_width,expected",
    [
        ((640, 352), None, None, (640, 352)),
        ((640, 352), 0.5, None, (320, 176)),
        ((1920, 1080), None, 1280, (1280, 720)),
        ((1920, 1080), 0.5, 1280, (960, 540)),  # the smaller of the two wins
        ((1280, 720), None, 1920, (1280, 720)),  # never upscales for max_width
        ((768, 432), 0.333, None, (256, 144)),
        ((3, 3), 0.1, None, (2, 2)),
    ],
)
def test_synthetic_output_size(size, scale, max_width, expected):
    assert output_size(*size, scale=scale, max_width=max_width) == expected


@pytest.mark.parametrize("scale,max_width", [(0, None), (-1, None), (None, 0)])
def test_synthetic_output_size_rejects_bad_values(scale, max_width):
    with pytest.raises(ValueError):
        output_size(640, 352, scale=scale, max_width=max_width)


@pytest.mark.parametrize(
    "stride,target_fps,expected",
    [
        (None, None, None),
        (1, None, None),
        (5, None, "not(mod(n,5))"),
        (None, 5.0, "isnan(prev_selected_t)+gte(t-prev_selected_t,0.199500)"),
    ],
)
def test_synthetic_select_expression(stride, target_fps, expected):
    assert select_expression(stride=stride, target_fps=target_fps) == expected


@pytest.mark.parametrize("kwargs", [{"stride": 0}, {"target_fps": 0}, {"stride": 2, "target_fps": 5}])
def test_synthetic_select_expression_rejects(kwargs):
    with pytest.raises(ValueError):
        select_expression(**kwargs)


@pytest.mark.parametrize(
    "line,expected",
    [
        ("[h264 @ 0x55d0c0a1b2c0] [error] error while decoding MB 23 4", "h264: error while decoding MB 23 4"),
        ("[NULL @ 0x55d0c0a1b2c0] [error] Invalid NAL unit size", "Invalid NAL unit size"),
        ("[error] Device creation failed: -1.", "Device creation failed: -1."),
        ("[showinfo@post @ 0x5] [info] n: 1", "showinfo: n: 1"),
        ("plain text", "plain text"),
    ],
)
def test_synthetic_clean_log_line(line, expected):
    assert clean_log_line(line) == expected


def test_synthetic_log_reason_prefers_first_specific_error_and_splits_stream_errors():
    log = FFmpegLog()
    log.add("[h264 @ 0x1] [error] non-existing PPS 0 referenced")  # before the first frame: leading
    log.add("[h264 @ 0x1] [error] error while decoding MB 1 2", pts=3.5)
    log.add("[error] Error while decoding stream #0:0: Invalid data found when processing input", pts=3.6)
    log.add("[fatal] Conversion failed!", pts=3.6)
    assert log.error_count == 4
    assert log.stream_error_count == 3
    assert log.first_stream_error_pts == 3.5
    assert log.reason() == "h264: non-existing PPS 0 referenced"
    assert log.stream_reason() == "h264: error while decoding MB 1 2"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2017-09-05T13:53:54.000000Z", datetime(2017, 9, 5, 13, 53, 54, tzinfo=timezone.utc)),
        ("2026-01-01T08:00:00+08:00", datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)),
        ("1970-01-01T00:00:00.000000Z", None),  # unset tag written as the epoch
        ("1904-01-01T00:00:00.000000Z", None),  # QuickTime zero
        ("garbage", None),
        (None, None),
    ],
)
def test_synthetic_parse_creation_time(text, expected):
    assert parse_creation_time(text) == expected


def test_synthetic_hwaccel_resolution(monkeypatch):
    monkeypatch.setattr(hwaccel, "available_hwaccels", lambda: ("vdpau", "cuda", "vaapi"))
    monkeypatch.setattr(hwaccel, "_failed_hwaccels", set())
    assert resolve_hwaccel("none") is None
    assert resolve_hwaccel("software") is None
    assert resolve_hwaccel("auto") == "cuda"
    assert _input_args(resolve_hwaccel("vaapi")) == ["-hwaccel", "vaapi"]
    assert resolve_hwaccel("videotoolbox") is None  # not in this build: software
    mark_hwaccel_failed("cuda")
    assert resolve_hwaccel("auto") == "vaapi"
    mark_hwaccel_failed("vaapi")
    assert _input_args(resolve_hwaccel("auto")) == []


def _input_args(name: str | None) -> list[str]:
    """The arguments before ``-i`` in the decoder's command line for hwaccel ``name``."""
    cmd = rawvideo_command(PipeSpec(source="in.mp4", width=64, height=36, hwaccel=name))
    return cmd[cmd.index("level+info") + 1 : cmd.index("-i")]
