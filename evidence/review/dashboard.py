"""Dashboard figures and their charts (inline SVG drawn here: no plotting library, no JS build).

- Decisions per day and reviewer: the store's decision log (approve, reject, first approvals).
- Approval rate by rule and by camera: approved + exported / (approved + exported + rejected). A
  camera with many rejections needs recalibration.
- Helmet-wearing rate per camera and hour (头盔佩戴率): helmeted riders / judged riders over every
  two-wheeler the engine judged (``rider_counts``, written by batch segments and live workers),
  not only violators; shown with the judged-rider count and the riders that could not be judged.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from evidence.store import RecordStore
from evidence.store.schema import decisions, now_utc, records, rider_counts

DECISION_ACTIONS = ("approve", "reject", "approve_first")
PALETTE = ("#2f6fdf", "#e0752d", "#3a9a5b", "#b543b8", "#c9a227", "#1fa3a3", "#d64545", "#6b6b6b")


@dataclass(frozen=True)
class Rate:
    """Approved and rejected decisions under one key (a rule, a camera, a reviewer)."""

    key: str
    approved: int
    rejected: int

    @property
    def decided(self) -> int:
        return self.approved + self.rejected

    @property
    def rate(self) -> float | None:
        return self.approved / self.decided if self.decided else None


@dataclass(frozen=True)
class DayCount(Rate):
    """One reviewer's decisions (``key`` is the reviewer) on one local day."""

    day: date

    @property
    def actor(self) -> str:
        return self.key


@dataclass(frozen=True)
class HelmetRate:
    camera_id: str
    hour: datetime | None  # None: the camera's total over the period
    helmeted: int
    judged: int
    unjudged: int

    @property
    def rate(self) -> float | None:
        return self.helmeted / self.judged if self.judged else None


def per_day(store: RecordStore, tz: ZoneInfo, days: int = 14) -> list[DayCount]:
    """Decisions per local day and reviewer over the last ``days`` days, oldest day first.
    Only decisions by people count: the export step also writes the log, as actor of ``export``."""
    since = now_utc() - timedelta(days=days)
    stmt = sa.select(decisions.c.actor, decisions.c.at, decisions.c.action).where(
        decisions.c.at >= since, decisions.c.action.in_(DECISION_ACTIONS))
    tally: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    with store.engine.connect() as conn:
        for actor, at, action in conn.execute(stmt):
            day = at.astimezone(tz).date()
            tally[(day, actor)][0 if action != "reject" else 1] += 1
    return [DayCount(a, v[0], v[1], d) for (d, a), v in sorted(tally.items())]


def approval_by(store: RecordStore, column: str) -> list[Rate]:
    col = getattr(records.c, column)
    decided = sa.case((records.c.status.in_(("approved", "exported")), 1), else_=0)
    rejected = sa.case((records.c.status == "rejected", 1), else_=0)
    stmt = sa.select(col, sa.func.sum(decided), sa.func.sum(rejected)).group_by(col).order_by(col)
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [Rate(str(k), int(a or 0), int(r or 0)) for k, a, r in rows if (a or 0) + (r or 0) > 0]


def helmet_rate(store: RecordStore, hours: int = 24) -> tuple[list[HelmetRate], list[HelmetRate]]:
    """(per camera over the last ``hours``, per camera and hour newest first) from the rider counts."""
    since = now_utc() - timedelta(hours=hours)
    c = rider_counts.c
    stmt = (sa.select(c.camera_id, c.hour, sa.func.sum(c.helmeted), sa.func.sum(c.judged), sa.func.sum(c.unjudged))
            .where(c.hour >= since).group_by(c.camera_id, c.hour).order_by(c.camera_id, c.hour.desc()))
    with store.engine.connect() as conn:
        rows = [HelmetRate(str(cam), hour, int(h or 0), int(j or 0), int(u or 0)) for cam, hour, h, j, u in conn.execute(stmt)]
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        t = totals[r.camera_id]
        t[0] += r.helmeted
        t[1] += r.judged
        t[2] += r.unjudged
    return [HelmetRate(cam, None, t[0], t[1], t[2]) for cam, t in sorted(totals.items())], rows


# -- charts -------------------------------------------------------------------------------------
def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" class="chart"><title>{escape(title)}</title>{"".join(body)}</svg>')


def rate_chart(rows: list[tuple[str, float | None, str]], title: str, width: int = 560) -> str:
    """Horizontal bars, 0-100 %, one per (label, rate, annotation)."""
    bar_h, gap, left, right = 22, 8, 150, 120
    height = max(1, len(rows)) * (bar_h + gap) + gap
    inner = width - left - right
    body = []
    for i, (label, rate, note) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = 0 if rate is None else round(inner * rate)
        color = "#3a9a5b" if rate is not None and rate >= 0.8 else "#c9a227" if rate is not None and rate >= 0.5 else "#d64545"
        body.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="lbl">{escape(label)}</text>')
        body.append(f'<rect x="{left}" y="{y}" width="{inner}" height="{bar_h}" fill="#eef1f5"/>')
        body.append(f'<rect x="{left}" y="{y}" width="{w}" height="{bar_h}" fill="{color}"/>')
        pct = "—" if rate is None else f"{rate * 100:.1f}%"
        body.append(f'<text x="{left + inner + 8}" y="{y + 16}" class="val">{pct} {escape(note)}</text>')
    return _svg(width, height, body, title)


def per_day_chart(rows: list[DayCount], title: str, width: int = 720, height: int = 240) -> str:
    """Stacked columns per day, one colour per reviewer, with a legend."""
    days = sorted({r.day for r in rows})
    actors = sorted({r.actor for r in rows})
    color = {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(actors)}
    totals = {d: sum(r.decided for r in rows if r.day == d) for d in days}
    top = max(totals.values(), default=1) or 1
    left, bottom, legend_h = 40, 36, 24
    plot_h = height - bottom - legend_h
    col_w = min(64.0, (width - left - 10) / max(1, len(days)))  # a lone day stays a column, not a wall
    body = [f'<line x1="{left}" y1="{legend_h + plot_h}" x2="{width - 5}" y2="{legend_h + plot_h}" stroke="#999"/>',
            f'<text x="{left - 6}" y="{legend_h + 10}" text-anchor="end" class="val">{top}</text>',
            f'<text x="{left - 6}" y="{legend_h + plot_h}" text-anchor="end" class="val">0</text>']
    for k, a in enumerate(actors):
        body.append(f'<rect x="{left + k * 120}" y="4" width="12" height="12" fill="{color[a]}"/>'
                    f'<text x="{left + k * 120 + 16}" y="15" class="lbl">{escape(a)}</text>')
    for j, d in enumerate(days):
        x = left + j * col_w + col_w * 0.15
        y = legend_h + plot_h
        for a in actors:
            n = sum(r.decided for r in rows if r.day == d and r.actor == a)
            if n:
                h = plot_h * n / top
                y -= h
                body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{col_w * 0.7:.1f}" height="{h:.1f}" fill="{color[a]}">'
                            f'<title>{escape(a)} {d.isoformat()}: {n}</title></rect>')
        body.append(f'<text x="{x + col_w * 0.35:.1f}" y="{legend_h + plot_h + 14}" text-anchor="middle" class="val">{d:%m-%d}</text>')
        body.append(f'<text x="{x + col_w * 0.35:.1f}" y="{y - 3:.1f}" text-anchor="middle" class="val">{totals[d]}</text>')
    return _svg(width, height, body, title)


