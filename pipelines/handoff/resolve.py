"""On an evidence thread: a ``PackageRequest`` becomes a ``PackageInput`` with pixels.

The key frames' full-resolution stills are decoded from the camera's footage at their engine times
and the clip is copied from it (see ``vision.sources.footage``). Boxes go from the camera's
``frame_size`` pixels to the stills' own pixels (a camera recorded at a higher resolution than its
zones were drawn on gets panoramas at the recorded resolution). A key frame whose footage is gone is
moved to the nearest frame that is still there, as the old in-memory ring buffer did. Cameras whose
analysis frames are smaller than the picture read the plate here, from the panoramas.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from evidence.event import Box, KeyFrame, ViolationEvent
from evidence.package import ClipFile, PackageError, PackageInput
from pipelines.engine import plate_facts
from pipelines.handoff.frames import PackageRequest
from vision.sources.stills import Still

log = logging.getLogger(__name__)

PLATE_MARGIN = 0.08  # the vehicle box grown by this share for the plate reader (as the engine's crops)


@contextmanager
def resolved(request: PackageRequest):  # noqa: ANN201 - Iterator[PackageInput]
    """The request's PackageInput; its temporary clip and its hold on the footage go on exit."""
    work = Path(tempfile.mkdtemp(prefix=".clip-", dir=_clip_dir(request)))
    try:
        yield build_input(request, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        request.release()


def _clip_dir(request: PackageRequest) -> Path:
    """Beside the packages (same filesystem: the package takes the clip over by a rename)."""
    root = Path(request.cfg.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    return root


def build_input(request: PackageRequest, work: Path) -> PackageInput:
    cam, event = request.camera, request.event
    footage = cam.footage
    wanted = {k.seq: request.key_times.get(k.seq) for k in event.key_frames}
    stills = footage.stills([t for t in wanted.values() if t is not None])
    key_frames: list[KeyFrame] = []
    images: dict[int, np.ndarray] = {}
    for kf in event.key_frames:
        t = wanted[kf.seq]
        still = stills.get(t) if t is not None else None
        if still is None:
            kf, still = _nearest_held(request, kf)
        if still is None:
            raise PackageError(f"no footage left for key frame seq {kf.seq} ({kf.role}); the recording no longer reaches back to it")
        key_frames.append(_in_pixels_of(kf, still.image, cam.pipeline.camera.frame_size))
        images[key_frames[-1].seq] = still.image
    event = event.model_copy(update={"key_frames": key_frames})
    plate_image = request.plate_image
    if event.plate is None and cam.pipeline.plate_reader is not None and not cam.pipeline.crops_from_frames:
        plate, plate_image = _plate_from(cam.pipeline.plate_reader, event, images)
        event = event.model_copy(update={"plate": plate})
    clip = None
    t0, t1 = request.clip_window
    cut = footage.clip(t0, t1, work / "clip.mp4")
    if cut is not None:
        h, w = next(iter(images.values())).shape[:2]
        near = cam.index.nearest(cut.start)
        start = datetime.fromtimestamp(near[2] - (near[1] - cut.start), timezone.utc) if near is not None else None
        clip = ClipFile(cut.path, w, h, start=start)
    return PackageInput(event=event, key_images=images, context=cam.context, clip=clip, plate_image=plate_image)


def _nearest_held(request: PackageRequest, kf: KeyFrame) -> tuple[KeyFrame, Still | None]:
    """The key frame moved to the nearest indexed frame the footage still has (seq and time with it)."""
    cam = request.camera
    want = request.key_times.get(kf.seq)
    if want is None:
        return kf, None
    until = cam.footage.available_until()
    near = cam.index.nearest(min(want, until))
    if near is None:
        return kf, None
    seq, pts, wall = near
    got = cam.footage.stills([pts]).get(pts)
    if got is None:
        return kf, None
    moved = kf.model_copy(update={"seq": seq, "wall_time": datetime.fromtimestamp(wall, timezone.utc)})
    log.info("key frame moved to the nearest held frame", extra={"event_key": request.event.event_key, "from_seq": kf.seq, "to_seq": seq})
    return moved, got


def _in_pixels_of(kf: KeyFrame, image: np.ndarray, frame_size: tuple[int, int]) -> KeyFrame:
    """The key frame's box (frame_size pixels) in the still's own pixels."""
    h, w = image.shape[:2]
    sx, sy = w / frame_size[0], h / frame_size[1]
    if sx == 1.0 and sy == 1.0:
        return kf
    b = kf.box
    box = Box(x1=b.x1 * sx, y1=b.y1 * sy, x2=min(b.x2 * sx, float(w)), y2=min(b.y2 * sy, float(h)))
    return kf.model_copy(update={"box": box})


def _plate_from(reader, event: ViolationEvent, images: Mapping[int, np.ndarray]):  # noqa: ANN001, ANN202 - TrackPlateReader
    """One voted plate read over the vehicle in each panorama (largest first): (PlateFacts, plate crop)."""
    crops = []
    for kf in sorted(event.key_frames, key=lambda k: -(k.box.x2 - k.box.x1) * (k.box.y2 - k.box.y1)):
        image = images[kf.seq]
        h, w = image.shape[:2]
        b = kf.box
        mx, my = PLATE_MARGIN * (b.x2 - b.x1), PLATE_MARGIN * (b.y2 - b.y1)
        x1, y1 = max(0, int(round(b.x1 - mx))), max(0, int(round(b.y1 - my)))
        x2, y2 = min(w, int(round(b.x2 + mx))), min(h, int(round(b.y2 + my)))
        if x2 - x1 >= 16 and y2 - y1 >= 16:
            crops.append(image[y1:y2, x1:x2])
    if not crops:
        return None, None
    read = reader.read_track(crops)
    return plate_facts(read), read.crop
