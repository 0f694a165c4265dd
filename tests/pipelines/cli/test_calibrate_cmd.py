"""`epolice calibrate`: the grid, zones and lanes over a frame into a PNG, and the figures printed."""

from __future__ import annotations

import re

import cv2
import numpy as np
from PIL import Image
from typer.testing import CliRunner

from pipelines.cli.main import app
from tests.support.paths import DATA

SITE = DATA / "street_parking_a.calibrated.site.yaml"


def test_calibrate_synthetic_still_writes_the_picture_and_prints_figures(tmp_path):
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), np.full((352, 640, 3), 90, np.uint8))
    out = tmp_path / "calib.png"
    result = CliRunner().invoke(app, ["calibrate", "--site", str(SITE), "--camera", "street-a", "--image", str(still), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "reprojection error: 0.0" in result.output and "px rms" in result.output
    near = next(line for line in result.output.splitlines() if line.startswith("metres per pixel near"))
    far = next(line for line in result.output.splitlines() if line.startswith("metres per pixel far"))
    along = [float(re.search(r"([\d.]+) m along", line).group(1)) for line in (near, far)]
    assert along[1] > 10 * along[0]  # a far pixel covers much more road than a near one
    img = Image.open(out)
    assert img.size == (1280, 704)  # small frames are drawn at twice the size
    pixels = np.asarray(img.convert("RGB")).astype(int)
    assert np.any(np.all(np.abs(pixels - (40, 255, 40)) < 30, axis=2))  # the 5 m grid is there


def test_calibrate_real_frame(tmp_path, shared_data):
    """A real frame of the clip the site names (its source path is relative to ../shared)."""
    out = tmp_path / "calib.png"
    video = shared_data / "videos" / "street_parking_a.mp4"
    site = tmp_path / "site.yaml"
    site.write_text(SITE.read_text().replace("../shared/data/videos/street_parking_a.mp4", str(video)))
    result = CliRunner().invoke(app, ["calibrate", "--site", str(site), "--camera", "street-a", "--at", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 100_000


def test_calibrate_errors_are_one_line(tmp_path):
    runner = CliRunner()
    uncalibrated = runner.invoke(app, ["calibrate", "--site", str(DATA / "street_parking_a.site.yaml"), "--camera", "street-a"])
    assert uncalibrated.exit_code == 2 and "has no calibration" in uncalibrated.output
    unknown = runner.invoke(app, ["calibrate", "--site", str(SITE), "--camera", "nope"])
    assert unknown.exit_code == 2 and "no camera 'nope'" in unknown.output
    no_frame = runner.invoke(app, ["calibrate", "--site", str(SITE), "--camera", "street-a", "--image", str(tmp_path / "x.png")])
    assert no_frame.exit_code == 2 and "cannot read image" in no_frame.output
