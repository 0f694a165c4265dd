"""Region detection: on a camera whose rules all act in zones, the detector may look only at the
zones' bounding box (``engine.detect_region: zones``)."""

from __future__ import annotations

import numpy as np

from pipelines.config import CameraConfig, SiteConfig


def detect_region(camera: CameraConfig, site: SiteConfig, specs) -> tuple[float, float, float, float] | None:  # noqa: ANN001
    """The zones' bounding box grown by ``engine.region_margin`` (frame_size pixels), when the site
    asks for region detection and every rule of the camera acts only in zones; else None."""
    if site.engine.detect_region != "zones" or not camera.zones or not specs or not all(s.zone_kinds for s in specs):
        return None
    pts = np.array([p for z in camera.zones for p in z.polygon], np.float32)
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    m = site.engine.region_margin
    mx, my = m * (x2 - x1), m * (y2 - y1)
    w, h = camera.frame_size
    return (max(0.0, x1 - mx), max(0.0, y1 - my), min(float(w), x2 + mx), min(float(h), y2 + my))
