"""Scoring the engine's events against a hand-written ground truth of one video.

A truth file lists the violations a person saw in the video: rule, time span (seconds from the
start of the video) and an approximate box of the offending vehicle. An engine event matches a
truth event of the same rule when their time spans overlap (with ``slack_s`` of tolerance) and one
of its key-frame boxes overlaps the truth box; matching is one-to-one, so a second event for the
same vehicle counts as a false positive.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from evidence.event import ViolationEvent
from models.strict import StrictModel
from pipelines.rules.registry import RULE_NAMES, RuleName
from vision.detections import box_iou


class TruthError(ValueError):
    """A truth file that cannot be used; names the field."""


class TruthEvent(StrictModel):
    rule: RuleName
    start_s: float = Field(ge=0, description="seconds from the start of the video")
    end_s: float = Field(ge=0)
    box: tuple[float, float, float, float] = Field(description="approximate [x1, y1, x2, y2] of the vehicle, frame pixels")
    speed_kmh: float | None = Field(None, gt=0, description="the vehicle's steady speed over the event, when known")
    note: str = ""

    @model_validator(mode="after")
    def _order(self) -> "TruthEvent":
        if self.end_s < self.start_s:
            raise ValueError("end_s is before start_s")
        if self.box[2] <= self.box[0] or self.box[3] <= self.box[1]:
            raise ValueError("box must be [x1, y1, x2, y2] with x2 > x1 and y2 > y1")
        return self


class TruthFile(StrictModel):
    video: str = ""
    camera: str | None = None
    rules: list[RuleName] = Field(
        default_factory=lambda: list(RULE_NAMES), description="rules this truth covers (others are not scored)"
    )
    events: list[TruthEvent] = Field(default_factory=list)
    notes: str = ""


def load_truth(path: str | Path) -> TruthFile:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return TruthFile.model_validate(data if data is not None else {})
    except OSError as exc:
        raise TruthError(f"{path}: cannot read truth file ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise TruthError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(p) for p in e["loc"])
        raise TruthError(f"{path}: {loc}: {e['msg']}") from None


@dataclass(frozen=True)
class SpanEvent:
    """An engine event placed on the video's time axis."""

    rule: str
    track_id: int
    start_s: float
    end_s: float
    boxes: tuple[tuple[float, float, float, float], ...]
    facts: dict
    key_frames_s: tuple[float, ...] = ()


@dataclass
class RuleScore:
    rule: str
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def as_dict(self) -> dict:
        return {"rule": self.rule, "tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": self.precision, "recall": self.recall}


@dataclass
class EvalReport:
    scores: dict[str, RuleScore]
    events: list[SpanEvent]
    matches: list[tuple[int, int]] = field(default_factory=list)  # (event index, truth index)
    stats: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "rules": {r: s.as_dict() for r, s in self.scores.items()},
            "events": [
                {"rule": e.rule, "track_id": e.track_id, "start_s": round(e.start_s, 2), "end_s": round(e.end_s, 2),
                 "facts": e.facts, "key_frames_s": [round(k, 2) for k in e.key_frames_s],
                 "matched": any(i == k for k, _ in self.matches)}
                for i, e in enumerate(self.events)
            ],
            "stats": self.stats,
        }


def to_spans(events: list[ViolationEvent], first_wall, first_pts: float = 0.0) -> list[SpanEvent]:
    """Place events on the video's time axis using the first frame's wall time and pts."""
    out = []
    for e in events:
        out.append(
            SpanEvent(
                rule=e.rule,
                track_id=e.track_id,
                start_s=(e.start_time - first_wall).total_seconds() + first_pts,
                end_s=(e.end_time - first_wall).total_seconds() + first_pts,
                boxes=tuple((k.box.x1, k.box.y1, k.box.x2, k.box.y2) for k in e.key_frames),
                facts=dict(e.facts),
                key_frames_s=tuple((k.wall_time - first_wall).total_seconds() + first_pts for k in e.key_frames),
            )
        )
    return out


def _overlaps(ev: SpanEvent, truth: TruthEvent, slack_s: float, min_iou: float) -> bool:
    if ev.end_s < truth.start_s - slack_s or ev.start_s > truth.end_s + slack_s:
        return False
    tb = truth.box
    for b in ev.boxes:
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        if box_iou([b], [tb])[0, 0] >= min_iou or (tb[0] <= cx <= tb[2] and tb[1] <= cy <= tb[3]):
            return True
    return False


def score(events: list[SpanEvent], truth: TruthFile, slack_s: float = 2.0, min_iou: float = 0.3) -> EvalReport:
    """Per-rule precision and recall, one-to-one matching in time order."""
    rules = list(dict.fromkeys(truth.rules))
    scores = {r: RuleScore(r) for r in rules}
    used: set[int] = set()
    matches = []
    for i, ev in sorted(enumerate(events), key=lambda x: x[1].start_s):
        if ev.rule not in scores:
            continue
        hit = next(
            (j for j, t in enumerate(truth.events) if j not in used and t.rule == ev.rule and _overlaps(ev, t, slack_s, min_iou)),
            None,
        )
        if hit is None:
            scores[ev.rule].fp += 1
        else:
            used.add(hit)
            matches.append((i, hit))
            scores[ev.rule].tp += 1
    for j, t in enumerate(truth.events):
        if j not in used and t.rule in scores:
            scores[t.rule].fn += 1
    return EvalReport(scores, events, matches)


def run_video(
    video: str | Path, site, camera_id: str | None = None, registry=None, threads: int | None = None,
    detectors=None, cache: dict | None = None,
):
    """Run the engine over a recorded video as batch does (frames at the camera's detection rate and
    analysis size); returns (events on the video's time axis, stats dict).

    ``detectors``: (detector, helmet detector) already loaded; ``cache``: detections by frame
    seq, filled on the first run and reused by the next ones (the suite runs each scene in
    several modes; only the rules and tracks differ between them).
    """
    from pipelines.camera_feed import file_feed
    from pipelines.config import same_aspect
    from pipelines.engine import CameraPipeline
    from pipelines.site_models import detectors_from_site

    camera = site.camera(camera_id) if camera_id else site.cameras[0]
    detector, helmet = detectors or detectors_from_site(site, [camera], registry, threads)
    feed = file_feed(camera, video)
    info = feed.source.info
    if not same_aspect((info.width, info.height), tuple(camera.frame_size)):
        raise ValueError(
            f"video {video} is {info.width}x{info.height} but camera {camera.id!r} declares "
            f"frame_size {list(camera.frame_size)}; zones are in the camera's pixels"
        )
    pipe = CameraPipeline(camera, site, detector, helmet, source_selects=feed.source_selects)
    source = feed.source
    events: list[ViolationEvent] = []
    first = None
    for frame in source.frames():
        if first is None:
            first = frame
        if cache is None:
            events += pipe.process(frame)
            continue
        if not pipe.needs_detection(frame):
            pipe.on_frame(frame)
            continue
        image = pipe.detection_image(frame)  # the zones' region when the site detects only there
        key = (frame.seq, pipe.region)
        if key not in cache:
            t0 = time.perf_counter()
            cache[key] = detector.detect([image])[0]
            pipe.stats.detect_s += time.perf_counter() - t0
        events += pipe.on_detections(frame, cache[key])
    events += pipe.flush()
    if first is None:
        raise ValueError(f"video {video} has no decodable frames")
    stats = pipe.stats.as_dict()
    stats["ms_per_frame"] = {k: round(v, 3) for k, v in pipe.stats.ms_per_frame().items()}
    stats["video_seconds"] = round(frame.pts - first.pts, 3)
    stats["decode_warnings"] = [w for w in source.warnings if "decode warning" in w]  # scored all the same
    return to_spans(events, first.wall_time, first.pts), stats
