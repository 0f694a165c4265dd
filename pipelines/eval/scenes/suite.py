"""The scenario suite on disk: render the catalogue into a folder, read it back, score the engine on it.

``write_suite(out, shared_data)`` renders every scene of the catalogue to ``out/<scene>/`` as
``scene.mp4`` (H.264, like a recording), ``site.yaml`` (the stage's zones and lanes, and its
calibration points) and ``truth.yaml`` (the violations, with the vehicle's speed where it is
steady), and lists the scenes with their half in ``out/suite.yaml``. ``run_suite`` runs the engine
with the real detector on every scene, with the site's calibration or without it (``mode``), and
scores it per rule, per half.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from evidence.clip import ClipWriter
from pipelines.eval.scenes.catalogue import SceneSpec, all_scenes
from pipelines.eval.scenes.render import Actor, GroundVehicle, Scene, clean_background, voc_crops
from pipelines.eval.scenes.stages import STAGES
from pipelines.eval.violations import RuleScore, SpanEvent, TruthFile, load_truth, run_video, score

SUITE_FILE = "suite.yaml"
SCORED_RULES = ["u_turn", "wrong_way", "parking"]
MODES = ("calibrated", "uncalibrated", "no_lanes")
FPS = 10.0


def scene_of(spec: SceneSpec, shared_data: Path) -> Scene:
    """The renderable scene of a catalogue entry (background and crops from ``shared_data``)."""
    stage = STAGES[spec.stage]
    background = clean_background(str(shared_data / "videos" / stage.video))
    crops = voc_crops(shared_data / "cctv" / "train", "car", min_w=120, max_count=12)
    actors = [
        Actor(GroundVehicle(d.route, stage.camera, d.body, d.class_name, seed=i), crops[d.crop % len(crops)])
        for i, d in enumerate(spec.drives)
    ]
    return Scene(background, actors, spec.duration, fps=FPS, camera_id="scene")


def site_of(spec: SceneSpec, video: str = "scene.mp4") -> dict:
    stage = STAGES[spec.stage]
    camera = {
        "id": "scene", "source": video, "detect_fps": 5, "frame_size": list(stage.frame_size), "zones": stage.zones(),
        "calibration": {"points": stage.calibration_points()},
    }
    return {"id": f"suite-{spec.name}", "name": spec.name, "cameras": [camera], "models": {"helmet": None}}


def truth_of(spec: SceneSpec, scene: Scene) -> dict:
    events = []
    for tr in spec.truth:
        vehicle = scene.actors[tr.drive].vehicle
        boxes = [b for t in _times(tr.start_s, tr.end_s) if (b := vehicle.box_at(t)) is not None]
        box = [round(min(b[0] for b in boxes), 1), round(min(b[1] for b in boxes), 1),
               round(max(b[2] for b in boxes), 1), round(max(b[3] for b in boxes), 1)]
        event = {"rule": tr.rule, "start_s": round(tr.start_s, 2), "end_s": round(tr.end_s, 2), "box": box}
        if tr.speed_kmh is not None:
            event["speed_kmh"] = tr.speed_kmh
        events.append(event)
    return {"video": "scene.mp4", "camera": "scene", "rules": SCORED_RULES, "events": events, "notes": spec.note}


def _times(t0: float, t1: float, step: float = 0.1) -> list[float]:
    return [t0 + i * step for i in range(int((t1 - t0) / step) + 1)]


def write_suite(out: Path, shared_data: Path, names: list[str] | None = None, progress=None) -> list[str]:
    """Render the catalogue (or the scenes ``names``) into ``out``; returns the scene names written."""
    specs = [s for s in all_scenes() if names is None or s.name in names]
    unknown = sorted(set(names or []) - {s.name for s in specs})
    if unknown:
        raise ValueError(f"unknown scenes {unknown}; the catalogue has {[s.name for s in all_scenes()]}")
    out.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        folder = out / spec.name
        folder.mkdir(exist_ok=True)
        scene = scene_of(spec, shared_data)
        h, w = scene.background.shape[:2]
        with ClipWriter(folder / "scene.mp4", (w, h), FPS, crf=18) as writer:
            for frame in scene.frames():
                writer.write(frame.image)
        (folder / "site.yaml").write_text(yaml.safe_dump(site_of(spec), allow_unicode=True, sort_keys=False))
        (folder / "truth.yaml").write_text(yaml.safe_dump(truth_of(spec, scene), allow_unicode=True, sort_keys=False))
        if progress is not None:
            progress(spec.name)
    # the listing names every rendered scene of the catalogue, so scenes can be re-rendered one at a time
    listing = [
        {"name": s.name, "split": s.split, "stage": s.stage, "note": s.note}
        for s in all_scenes() if (out / s.name / "truth.yaml").is_file()
    ]
    (out / SUITE_FILE).write_text(yaml.safe_dump({"scenes": listing}, allow_unicode=True, sort_keys=False))
    return [s.name for s in specs]


@dataclass
class SceneResult:
    name: str
    split: str
    mode: str
    scores: dict[str, RuleScore]
    events: list[SpanEvent]
    matched: list[tuple[int, int]]
    truth: TruthFile
    speed_errors: list[float] = field(default_factory=list)  # |measured - true| / true, per matched event with a speed


def site_for_mode(data: dict, mode: str, folder: Path) -> dict:
    """The scene's site in one of the suite's modes: as written, without calibration, or also without lanes."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    cam = dict(data["cameras"][0])
    cam["source"] = str(folder / cam["source"])
    if mode != "calibrated":
        cam.pop("calibration", None)
    if mode == "no_lanes":
        cam["zones"] = [{k: v for k, v in z.items() if k != "lanes"} for z in cam["zones"]]
    return {**data, "cameras": [cam]}


def rules_for_mode(mode: str) -> list[str]:
    """Rules a mode can judge: wrong-way needs lanes."""
    return [r for r in SCORED_RULES if not (mode == "no_lanes" and r == "wrong_way")]


def run_scene(
    folder: Path, split: str, mode: str, registry=None, threads: int | None = None, detectors=None, cache: dict | None = None
) -> SceneResult:
    """One scene in one mode (``detectors`` and ``cache`` as for ``run_video``)."""
    from pipelines.config import parse_site

    data = yaml.safe_load((folder / "site.yaml").read_text())
    site = parse_site(site_for_mode(data, mode, folder), str(folder / "site.yaml"))
    truth = load_truth(folder / "truth.yaml")
    rules = rules_for_mode(mode)
    truth = truth.model_copy(update={"rules": rules, "events": [e for e in truth.events if e.rule in rules]})
    spans, _ = run_video(folder / "scene.mp4", site, registry=registry, threads=threads, detectors=detectors, cache=cache)
    report = score(spans, truth)
    errors = []
    for i, j in report.matches:
        want, got = truth.events[j].speed_kmh, spans[i].facts.get("speed_kmh")
        if want is not None and got is not None:
            errors.append(abs(float(got) - want) / want)
    return SceneResult(folder.name, split, mode, report.scores, spans, report.matches, truth, errors)


def load_listing(suite: Path) -> list[dict]:
    path = suite / SUITE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; render the suite first with `epolice eval scenes --out {suite}`")
    return yaml.safe_load(path.read_text())["scenes"]


def run_suite(suite: Path, modes=MODES, registry=None, threads: int | None = None, progress=None) -> list[SceneResult]:
    """Every scene of the suite folder in every mode; one result per (scene, mode).

    The detector runs once per scene frame; the modes share its detections.
    """
    from pipelines.config import parse_site
    from pipelines.site_models import detectors_from_site

    listing = load_listing(suite)
    results, detectors = [], None
    for entry in listing:
        folder = suite / entry["name"]
        if detectors is None:
            site = parse_site(yaml.safe_load((folder / "site.yaml").read_text()), str(folder / "site.yaml"))
            detectors = detectors_from_site(site, registry=registry, threads=threads)
        cache: dict = {}
        for mode in modes:
            res = run_scene(folder, entry["split"], mode, registry, threads, detectors, cache)
            results.append(res)
            if progress is not None:
                progress(res)
    return results


def totals(results: list[SceneResult], mode: str, split: str | None = None) -> dict[str, RuleScore]:
    """Per-rule sums over the scenes of one mode (and one half, or both)."""
    out = {r: RuleScore(r) for r in rules_for_mode(mode)}
    for res in results:
        if res.mode != mode or (split is not None and res.split != split):
            continue
        for rule, s in res.scores.items():
            if rule in out:
                out[rule].tp += s.tp
                out[rule].fp += s.fp
                out[rule].fn += s.fn
    return out
