"""Wall-clock resolution for recorded files (synthetic names and times; no video needed)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from vision.sources.clock import ClockConfig, ClockError, FilenamePattern, parse_start_time, resolve_start

SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    "name,expected",
    [
        ("cam1_20260101_083000.mp4", datetime(2026, 1, 1, 8, 30, 0, tzinfo=SH)),
        ("ch01_20260315174501.ts", datetime(2026, 3, 15, 17, 45, 1, tzinfo=SH)),
        ("gate-20261231T235959.mkv", datetime(2026, 12, 31, 23, 59, 59, tzinfo=SH)),
        ("2026-02-03_04-05-06_north.avi", datetime(2026, 2, 3, 4, 5, 6, tzinfo=SH)),
    ],
)
def test_synthetic_filename_patterns_give_site_local_start(tmp_path, name, expected):
    start = resolve_start(tmp_path / name, ClockConfig())
    assert start.source == "filename"
    assert start.start == expected
    assert start.start.utcoffset() == timedelta(hours=8)


def test_synthetic_filename_with_bad_date_falls_through_to_creation_time(tmp_path):
    created = datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)
    start = resolve_start(tmp_path / "cam1_20261340_250000.mp4", ClockConfig(), creation_time=created)
    assert start.source == "creation_time"
    assert start.start == created and start.start.tzinfo == SH


def test_synthetic_custom_pattern_and_timezone(tmp_path):
    config = ClockConfig(
        timezone="Europe/Berlin",
        filename_patterns=[FilenamePattern(regex=r"rec-(?P<ts>\d{2}\.\d{2}\.\d{4}-\d{4})", format="%d.%m.%Y-%H%M")],
    )
    start = resolve_start(tmp_path / "rec-05.07.2026-0930.flv", config)
    assert start.start == datetime(2026, 7, 5, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert start.at(90.5) == start.start + timedelta(seconds=90.5)


def test_synthetic_order_prefers_creation_time_when_configured(tmp_path):
    created = datetime(2025, 5, 5, 1, 2, 3, tzinfo=timezone.utc)
    config = ClockConfig(order=["creation_time", "filename"])
    start = resolve_start(tmp_path / "cam1_20260101_083000.mp4", config, creation_time=created)
    assert start.source == "creation_time" and start.start == created


def test_synthetic_explicit_start_time_beats_everything(tmp_path):
    config = ClockConfig(start_time=datetime(2026, 4, 1, 7, 0))  # naive: site-local
    start = resolve_start(tmp_path / "cam1_20260101_083000.mp4", config, creation_time=datetime.now(timezone.utc))
    assert start.source == "start_time" and start.start == datetime(2026, 4, 1, 7, 0, tzinfo=SH)


def test_synthetic_mtime_is_the_end_of_the_recording(tmp_path):
    path = tmp_path / "export.mp4"
    path.write_bytes(b"x")
    end = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()
    os.utime(path, (end, end))
    start = resolve_start(path, ClockConfig(), duration=600.0)
    assert start.source == "mtime"
    assert start.start == datetime(2026, 1, 2, 10, 54, 5, tzinfo=SH)  # 03:04:05Z + 8 h - 10 min


def test_synthetic_no_source_is_a_clear_error(tmp_path):
    with pytest.raises(ClockError, match="--start-time"):
        resolve_start(tmp_path / "clip.mp4", ClockConfig(order=["filename", "creation_time"]))


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2026-01-01T08:30:00", datetime(2026, 1, 1, 8, 30, tzinfo=SH)),
        ("2026-01-01T00:30:00Z", datetime(2026, 1, 1, 8, 30, tzinfo=SH)),
        ("2026-01-01 09:30:00+09:00", datetime(2026, 1, 1, 8, 30, tzinfo=SH)),
    ],
)
def test_synthetic_parse_start_time(text, expected):
    value = parse_start_time(text, "Asia/Shanghai")
    assert value == expected and value.tzinfo == SH


def test_synthetic_parse_start_time_rejects_garbage():
    with pytest.raises(ClockError, match="ISO-8601"):
        parse_start_time("yesterday", "Asia/Shanghai")


@pytest.mark.parametrize(
    "config,field",
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"filename_patterns": [{"regex": r"(\d+)", "format": "%Y"}]}, "filename_patterns"),
        ({"filename_patterns": [{"regex": r"(?P<ts>[", "format": "%Y"}]}, "filename_patterns"),
        ({"order": ["sundial"]}, "order"),
        ({"tz": "UTC"}, "tz"),
    ],
)
def test_synthetic_bad_clock_config_names_the_field(config, field):
    with pytest.raises(ValidationError) as err:
        ClockConfig.model_validate(config)
    assert field in str(err.value)
