"""A pass's speed, only when the camera is calibrated: pixels per second say nothing about km/h.

The one seam to the camera's calibration is ``ToMetres``, a mapping from a road point in frame
pixels to metres on the ground plane (the camera's homography; None above the horizon).
``PassRecorder.for_camera`` gives it the calibrated camera's ``Homography.ground_point``, or None for
an uncalibrated camera, whose passes then carry no speed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

from vision.track_history import TrackHistory

ToMetres = Callable[[float, float], tuple[float, float] | None]
WINDOW_S = 1.0  # the speed at a crossing is taken over the track's last second


def median_speed_kmh(samples: Sequence[tuple[float, float, float]]) -> float | None:
    """Median of the step speeds of (t seconds, x metres, y metres) samples in time order, in km/h;
    None when fewer than two samples or no time passes."""
    steps = [math.hypot(x1 - x0, y1 - y0) / (t1 - t0)
             for (t0, x0, y0), (t1, x1, y1) in zip(samples, samples[1:]) if t1 > t0]
    return round(3.6 * statistics.median(steps), 1) if steps else None


def crossing_speed_kmh(history: TrackHistory, to_metres: ToMetres | None, window_s: float = WINDOW_S) -> float | None:
    """The track's ground speed over its last ``window_s`` of detections, in km/h (None uncalibrated)."""
    if to_metres is None or not history.points:
        return None
    end = history.points[-1].t
    on_road = ((p.t, to_metres(*p.ground)) for p in history.points if p.detected and p.t >= end - window_s)
    return median_speed_kmh([(t, *m) for t, m in on_road if m is not None])
