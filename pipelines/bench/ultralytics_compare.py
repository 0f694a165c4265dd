"""The side-by-side part of `epolice bench`: the same clip through a plain ultralytics loop.

Baseline, as people write it::

    cap = cv2.VideoCapture(video)
    model = YOLO(onnx_path, task="detect")
    while ok: ok, frame = cap.read(); model.track(frame, persist=True, imgsz=..., conf=..., iou=...)

epolice runs the same ONNX file through its engine path: the analysis source (pipelines.camera_feed)
-> CameraPipeline.process (Detector.detect, ByteTracker, rules) with detect_fps raised so that every
frame is detected. Both
get the same frames (the first N of the clip), the same input size (the model's static input),
the same confidence and NMS IoU thresholds, and ONNX Runtime's default threads (ultralytics does
not expose them). Detector equivalence is checked on a few frames with ``YOLO.predict`` against
``Detector.detect``. Runs alternate (baseline, epolice, epolice, baseline, ...) so load drift on a
shared machine hits both alike.

ultralytics reads only YOLOv8-layout ONNX outputs, so the model must have that layout (the
exported helmet YOLOv12m does). Without ultralytics (the runtime venv is torch-free) the
comparison is skipped with a note, never an error.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pipelines.bench.figures import BenchLog, Figure, TimedFrames, cpu_seconds
from pipelines.bench.inputs import exact_end, find_shared
from pipelines.config import CameraConfig, SiteConfig

# Beside the clip's first frames (a street: few heads), these give the equivalence check boxes to compare.
EQUIVALENCE_IMAGES = "data/helmet/valid/images"


def ultralytics_missing() -> str | None:
    """Why the comparison cannot run here, or None when it can."""
    if importlib.util.find_spec("ultralytics") is None:
        return "ultralytics is not installed in this interpreter (it needs torch; run the bench from the export venv to compare)"
    if importlib.util.find_spec("lap") is None:
        return "ultralytics tracking needs the 'lap' package (pip install lap) and would try to install it itself"
    return None


@dataclass
class LoopRun:
    """One timed loop over the frames; the parts are seconds summed over frames."""

    frames: int
    wall_s: float
    cpu_s: float
    decode_s: float  # waiting for the next frame (cv2.VideoCapture.read / FileSource)
    inference_s: float  # ONNX Runtime session.run only
    boxes: int  # tracked boxes output over all frames

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else float("inf")

    @property
    def other_s(self) -> float:
        """Pre/post-processing, NMS, tracking, rules, Python: everything but decode and inference."""
        return self.wall_s - self.decode_s - self.inference_s


@dataclass
class Equivalence:
    images: int
    baseline_boxes: int
    epolice_boxes: int
    matched: int  # same class, IoU >= 0.9, |confidence difference| < 0.02
    mean_iou: float | None


@dataclass
class Comparison:
    model: str
    imgsz: list[int]
    conf: float
    iou: float
    frames: int
    ultralytics_version: str = ""
    torch_version: str = ""
    baseline: list[LoopRun] = field(default_factory=list)
    epolice: list[LoopRun] = field(default_factory=list)
    # epolice as deployed: the camera's detect_fps, tracks predicted between (the baseline still
    # detects every frame); reported beside, never instead of, the same-frames figure
    epolice_configured: list[LoopRun] = field(default_factory=list)
    configured_detect_fps: float | None = None
    equivalence: Equivalence | None = None
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        out: dict = {
            "model": self.model,
            "imgsz": self.imgsz,
            "conf": self.conf,
            "iou": self.iou,
            "frames": self.frames,
            "skipped": self.skipped,
            "notes": self.notes,
        }
        if self.skipped:
            return out
        out["ultralytics_version"] = self.ultralytics_version
        out["torch_version"] = self.torch_version
        for name, runs in (("ultralytics", self.baseline), ("epolice", self.epolice), ("epolice_configured", self.epolice_configured)):
            if not runs:
                continue
            out[name] = {
                "fps": Figure.of([r.fps for r in runs]).as_dict(),
                "ms_per_frame": {
                    part: Figure.of([1000.0 * getattr(r, f"{part}_s") / max(r.frames, 1) for r in runs]).as_dict()
                    for part in ("wall", "decode", "inference", "other")
                },
                "cores_used": Figure.of([r.cpu_s / r.wall_s for r in runs]).as_dict(),
                "cpu_ms_per_frame": Figure.of([1000.0 * r.cpu_s / max(r.frames, 1) for r in runs]).as_dict(),
                "boxes": [r.boxes for r in runs],
            }
        out["speedup"] = Figure.of([e.fps / b.fps for b, e in zip(self.baseline, self.epolice)]).as_dict()
        # load from others only adds time: the fastest runs, and CPU seconds, are steadier than pairs
        out["speedup_best_of_repeats"] = round(max(e.fps for e in self.epolice) / max(b.fps for b in self.baseline), 4)
        out["speedup_cpu"] = Figure.of([b.cpu_s / e.cpu_s for b, e in zip(self.baseline, self.epolice)]).as_dict()
        if self.epolice_configured:
            out["configured_detect_fps"] = self.configured_detect_fps
            out["speedup_configured"] = Figure.of([e.fps / b.fps for b, e in zip(self.baseline, self.epolice_configured)]).as_dict()
        out["equivalence"] = asdict(self.equivalence) if self.equivalence else None
        return out


def _timed_run(detector) -> list[float]:
    """Wrap this Detector's session call so the loop can tell inference from the rest (bench only)."""
    acc = [0.0]
    run = detector._run

    def timed(batch):  # noqa: ANN001, ANN202
        t0 = time.perf_counter()
        try:
            return run(batch)
        finally:
            acc[0] += time.perf_counter() - t0

    detector._run = timed
    return acc


def epolice_loop(
    detector, site: SiteConfig, camera: CameraConfig, video: Path, end_s: float | None, infer: list[float], every_frame: bool = True
) -> LoopRun:
    from pipelines.camera_feed import file_feed
    from pipelines.engine import CameraPipeline

    feed = file_feed(camera, video, hwaccel="none", end_seconds=end_s)
    pipe = CameraPipeline(camera, site, detector, source_selects=feed.source_selects)
    source = feed.source
    infer[0] = 0.0
    n = boxes = 0
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    frames = TimedFrames(source)
    for frame in frames:
        pipe.process(frame)
        boxes += len(pipe.last_tracks)
        n += 1
    pipe.flush()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    if every_frame and pipe.stats.detect_frames != n:
        raise RuntimeError(f"epolice detected {pipe.stats.detect_frames} of {n} frames; the comparison needs every frame")
    return LoopRun(n, wall, cpu, frames.wait_s, infer[0], boxes)


def _reset_tracker(model) -> None:
    predictor = getattr(model, "predictor", None)
    for tracker in getattr(predictor, "trackers", None) or []:
        tracker.reset()
    for tracker in getattr(predictor, "trackers", None) or []:
        reset_id = getattr(tracker, "reset_id", None)
        if reset_id:
            reset_id()


def baseline_loop(model, video: Path, frames: int, imgsz: list[int], conf: float, iou: float) -> LoopRun:
    import cv2

    _reset_tracker(model)
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise RuntimeError(f"cv2.VideoCapture cannot open {video}")
    n = boxes = 0
    decode = infer = 0.0
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    try:
        while n < frames:
            td = time.perf_counter()
            ok, image = cap.read()
            decode += time.perf_counter() - td
            if not ok:
                break
            res = model.track(image, persist=True, imgsz=imgsz, conf=conf, iou=iou, verbose=False)[0]
            infer += res.speed.get("inference", 0.0) / 1000.0
            boxes += len(res.boxes)
            n += 1
    finally:
        cap.release()
    return LoopRun(n, time.perf_counter() - t0, cpu_seconds() - cpu0, decode, infer, boxes)


def equivalence_images(limit: int = 5) -> list[np.ndarray]:
    """A few shared helmet photos (heads for the helmet model to find), when the shared data is here."""
    import cv2

    folder = find_shared(EQUIVALENCE_IMAGES)
    if folder is None:
        return []
    images = [cv2.imread(str(p)) for p in sorted(folder.glob("*.jpg"))[:limit]]
    return [im for im in images if im is not None]


def check_equivalence(model, detector, images: list[np.ndarray], imgsz: list[int], conf: float, iou: float) -> Equivalence:
    """YOLO.predict and Detector.detect on the same images: same boxes, classes and scores?"""
    from vision.detections import box_iou

    base_n = ours_n = matched = 0
    ious: list[float] = []
    for image in images:
        res = model.predict(image, imgsz=imgsz, conf=conf, iou=iou, verbose=False)[0]
        bx = res.boxes.xyxy.cpu().numpy().reshape(-1, 4)
        bc = res.boxes.cls.cpu().numpy().astype(int)
        bs = res.boxes.conf.cpu().numpy()
        det = detector.detect([image])[0]
        oc = det.data["model_class"]
        base_n += len(bx)
        ours_n += len(det)
        if not len(bx) or not len(det):
            continue
        m = box_iou(bx, det.xyxy)
        for i in range(len(bx)):
            same = np.where(oc == bc[i])[0]
            if not len(same):
                continue
            j = same[np.argmax(m[i, same])]
            ious.append(float(m[i, j]))
            if m[i, j] >= 0.9 and abs(float(bs[i]) - float(det.confidence[j])) < 0.02:
                matched += 1
    return Equivalence(len(images), base_n, ours_n, matched, round(float(np.mean(ious)), 4) if ious else None)


def compare(
    video: Path,
    site: SiteConfig,
    camera: CameraConfig,
    registry,
    model_name: str,
    frames: int,
    repeat: int,
    progress: BenchLog = lambda _: None,
) -> Comparison:
    """Both loops ``repeat`` times each on the first ``frames`` frames, alternating order."""
    from vision.detector import Detector

    m = site.models
    result = Comparison(model=model_name, imgsz=[], conf=m.detector_conf, iou=m.detector_iou, frames=frames)
    missing = ultralytics_missing()
    if missing:
        result.skipped = missing
        return result
    manifest = registry.manifest(model_name)
    if manifest.output_layout != "yolov8":
        result.skipped = f"{model_name} has a {manifest.output_layout} output; ultralytics reads only YOLOv8-layout ONNX"
        return result
    from models.registry import ModelMissingError

    try:
        path = registry.path(model_name)
    except ModelMissingError as exc:
        result.skipped = str(exc)
        return result
    import logging

    import torch
    import ultralytics
    from ultralytics import YOLO

    logging.getLogger("ultralytics").setLevel(logging.WARNING)  # its "Loading ..." lines would break --json stdout

    result.ultralytics_version = ultralytics.__version__
    result.torch_version = torch.__version__
    detector = Detector(registry, model_name, conf=m.detector_conf, iou=m.detector_iou)  # ORT default threads, like ultralytics
    imgsz = [detector.height, detector.width]
    result.imgsz = imgsz
    infer = _timed_run(detector)
    every = camera.model_copy(update={"detect_fps": 60.0})
    configured_site = site
    site = site.model_copy(update={"cameras": [every if c.id == camera.id else c for c in site.cameras]})
    result.configured_detect_fps = camera.detect_fps

    from pipelines.camera_feed import file_feed

    end_s, _ = exact_end(video, frames)
    sample = [f.image for f in file_feed(every, video, hwaccel="none", end_seconds=exact_end(video, 3)[0]).source.frames()]
    probe_images = sample + equivalence_images()
    progress(f"  detector equivalence: YOLO.predict vs Detector.detect on {len(probe_images)} images")
    result.equivalence = check_equivalence(YOLO(str(path), task="detect"), detector, probe_images, imgsz, m.detector_conf, m.detector_iou)

    model = YOLO(str(path), task="detect")
    model.track(sample[0], persist=True, imgsz=imgsz, conf=m.detector_conf, iou=m.detector_iou, verbose=False)  # warm-up
    detector.detect([sample[0]])
    for r in range(repeat):
        order = ("baseline", "epolice", "configured") if r % 2 == 0 else ("configured", "epolice", "baseline")
        for which in order:
            progress(f"  repeat {r + 1}/{repeat}: {which} loop on {frames} frames")
            if which == "baseline":
                result.baseline.append(baseline_loop(model, video, frames, imgsz, m.detector_conf, m.detector_iou))
            elif which == "epolice":
                result.epolice.append(epolice_loop(detector, site, every, video, end_s, infer))
            else:
                result.epolice_configured.append(
                    epolice_loop(detector, configured_site, camera, video, end_s, infer, every_frame=False)
                )
    if result.baseline and result.epolice and result.baseline[0].frames != result.epolice[0].frames:
        result.notes.append(f"frame counts differ: ultralytics {result.baseline[0].frames}, epolice {result.epolice[0].frames}")
    return result


def format_comparison(d: dict) -> list[str]:
    head = f"vs ultralytics loop ({d['model']}, imgsz {d['imgsz']}, conf {d['conf']}, iou {d['iou']}, {d['frames']} frames, every frame detected):"
    if d.get("skipped"):
        return [f"vs ultralytics loop: skipped: {d['skipped']}"]
    lines = [head, f"  ultralytics {d['ultralytics_version']}, torch {d['torch_version']}"]
    lines.append(f"  {'loop':<18} {'fps':>22} {'wall':>8} {'decode':>8} {'inference':>10} {'other':>8} {'cpu':>8} ms/frame  cores")
    for name in ("ultralytics", "epolice", "epolice_configured"):
        if name not in d:
            continue
        x = d[name]
        ms = x["ms_per_frame"]
        fps = x["fps"]
        lines.append(
            f"  {name:<18} {fps['mean']:7.3f} ({fps['min']:.3f}-{fps['max']:.3f}) {ms['wall']['mean']:8.1f} {ms['decode']['mean']:8.2f} "
            f"{ms['inference']['mean']:10.1f} {ms['other']['mean']:8.2f} {x['cpu_ms_per_frame']['mean']:8.1f}           {x['cores_used']['mean']:.2f}"
        )
    sp = d["speedup"]
    lines.append(
        f"  epolice / ultralytics end-to-end speed: x{sp['mean']:.3f} ({sp['min']:.3f}-{sp['max']:.3f}) paired, "
        f"x{d['speedup_best_of_repeats']:.3f} best of repeats, x{d['speedup_cpu']['mean']:.3f} by CPU seconds  (target >= 2)"
    )
    if "speedup_configured" in d:
        sc = d["speedup_configured"]
        lines.append(
            f"  epolice at its configured detect_fps {d['configured_detect_fps']} (tracks predicted between) / ultralytics "
            f"detecting every frame: x{sc['mean']:.3f} ({sc['min']:.3f}-{sc['max']:.3f}) paired"
        )
    eq = d.get("equivalence")
    if eq:
        lines.append(
            f"  detector equivalence on {eq['images']} frames: ultralytics {eq['baseline_boxes']} boxes, epolice {eq['epolice_boxes']}, "
            f"{eq['matched']} matched (same class, IoU >= 0.9, score within 0.02), mean IoU {eq['mean_iou']}"
        )
    lines.extend(f"  note: {n}" for n in d.get("notes", []))
    return lines
