"""The scenario suite's figures: one per-rule table per mode, tuning and held-out halves apart.

``suite_report(results)`` gives a JSON-ready dict; ``suite_lines(report)`` the text the CLI prints:
per mode, a row per rule and half (tp, fp, fn, precision, recall), the speed error over matched
events with a known speed (calibrated), and every scene that went wrong with what it produced.
"""

from __future__ import annotations

import statistics

from pipelines.eval.scenes.suite import MODES, SceneResult, totals


def _speed(results: list[SceneResult], split: str | None) -> dict | None:
    errors = [e for r in results if split is None or r.split == split for e in r.speed_errors]
    if not errors:
        return None
    return {"events": len(errors), "median_pct": round(100 * statistics.median(errors), 1), "max_pct": round(100 * max(errors), 1)}


def suite_report(results: list[SceneResult]) -> dict:
    out: dict = {"modes": {}}
    for mode in MODES:
        mine = [r for r in results if r.mode == mode]
        if not mine:
            continue
        halves = {}
        for split in ("tuning", "held_out", None):
            key = split or "all"
            halves[key] = {
                "scenes": sum(1 for r in mine if split is None or r.split == split),
                "rules": {rule: s.as_dict() for rule, s in totals(mine, mode, split).items()},
                "speed_error": _speed(mine, split),
            }
        wrong = []
        for r in mine:
            bad = {rule: s.as_dict() for rule, s in r.scores.items() if s.fp or s.fn}
            if bad:
                wrong.append({
                    "scene": r.name, "split": r.split, "rules": bad,
                    "events": [{"rule": e.rule, "track_id": e.track_id, "start_s": round(e.start_s, 1), "end_s": round(e.end_s, 1)}
                               for e in r.events],
                })
        out["modes"][mode] = {"halves": halves, "wrong": wrong}
    return out


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def suite_lines(report: dict) -> list[str]:
    lines = []
    for mode, body in report["modes"].items():
        lines.append(f"mode {mode}")
        lines.append(f"  {'half':<9} {'rule':<10} {'tp':>3} {'fp':>3} {'fn':>3} {'precision':>9} {'recall':>7}")
        for half, h in body["halves"].items():
            for rule, s in h["rules"].items():
                lines.append(
                    f"  {half:<9} {rule:<10} {s['tp']:>3} {s['fp']:>3} {s['fn']:>3} {_pct(s['precision']):>9} {_pct(s['recall']):>7}"
                )
        for half, h in body["halves"].items():
            sp = h["speed_error"]
            if sp:
                lines.append(f"  speed error ({half}): median {sp['median_pct']}%, max {sp['max_pct']}% over {sp['events']} events")
        for w in body["wrong"]:
            got = ", ".join(f"{e['rule']} {e['start_s']}-{e['end_s']} s" for e in w["events"]) or "nothing"
            lines.append(f"  WRONG {w['scene']} ({w['split']}): {w['rules']}; engine gave {got}")
    return lines
