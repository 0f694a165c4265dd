"""`epolice calibrate --site S --camera C`: draw a camera's calibration over a real frame, print its figures.

The drawing is ``pipelines.calibration_view``; this module reads the options, gets a frame (from
``--image``, or the camera's own source) and writes the PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pipelines.cli.app import app
from pipelines.cli.common import fail, load_site_or_exit


@app.command("calibrate")
def calibrate(
    site: Path = typer.Option(..., "--site", help="Site YAML with the camera's calibration points."),
    camera: str = typer.Option(..., "--camera", help="Camera id in the site file."),
    out: Optional[Path] = typer.Option(None, "--out", help="PNG to write (default: calibration_<camera>.png)."),
    image: Optional[Path] = typer.Option(None, "--image", help="Draw over this picture instead of a frame of the camera."),
    at: float = typer.Option(0.0, "--at", min=0, help="Seconds into a file source to take the frame from."),
) -> None:
    """Ground grid (1 m, 5 m), zones, lanes and calibration points over a real frame; reprojection error and m/px."""
    import cv2

    from pipelines.calibration_view import camera_frame, draw, report
    from vision.sources.ffmpeg.errors import DecodeError

    site_cfg = load_site_or_exit(site)
    try:
        cam = site_cfg.camera(camera)
        rep = report(cam)
    except (KeyError, ValueError) as exc:
        raise fail(str(exc).strip("'\""))
    if image is not None:
        frame = cv2.imread(str(image))
        if frame is None:
            raise fail(f"cannot read image {image}")
        w, h = cam.frame_size
        if (frame.shape[1], frame.shape[0]) != (w, h):
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    else:
        try:
            frame = camera_frame(cam, at)
        except (DecodeError, ValueError, OSError) as exc:
            raise fail(f"no frame from camera {camera!r} ({exc}); pass --image PICTURE to draw over a still")
    out = out or Path(f"calibration_{camera}.png")
    draw(site_cfg, cam, frame).save(out)
    for line in rep.lines():
        typer.echo(line)
    typer.echo(f"wrote {out}: the 5 m grid should lie flat on the road, lane lines along it")
