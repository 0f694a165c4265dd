"""Export to the national platform, the statistics CSV and the dashboard.

The export package is the record store's own export (``evidence.export.export_records``, zip
form): approved records whose evidence verifies, as JSON lines + CSV + evidence files, then marked
exported. The app only remembers which zip it made, so the download is by its export's token (random,
never a sequential id to walk), never by name. Only the exporter role exports: it marks records
exported, irreversibly.
"""

from __future__ import annotations

import csv
import io
import logging
import secrets
from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from evidence.export import CSV_FIELDS, export_records, record_row
from evidence.manifest import sha256_file
from evidence.review import audit, dashboard
from evidence.review.auth import Permission, Session
from evidence.review.i18n import translator
from evidence.review.web import ctx_of, filter_query, guard, language, parse_filter, render
from evidence.review.workflow import WorkflowError
from evidence.store import RecordQuery
from evidence.store.schema import decisions, exports, now_utc

router = APIRouter()
log = logging.getLogger(__name__)
# The store's CSV columns without the server-side evidence path, plus who decided what, when.
STATS_FIELDS = [f for f in CSV_FIELDS if f != "evidence_path"] + ["decision", "decided_by", "decided_at", "reason_code",
                                                                   "second_reviewer"]


def _history(request: Request) -> list[dict]:
    with ctx_of(request).store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(exports).order_by(exports.c.id.desc()).limit(50))]


@router.get("/export")
def export_page(request: Request, sess: Session = Depends(guard(Permission.EXPORT))) -> Response:
    ctx = ctx_of(request)
    pending = ctx.store.count(RecordQuery(status="approved", limit=None))
    done = request.query_params.get("done")
    history = _history(request)
    done_row = next((h for h in history if done and h["token"] == done), None)
    return render(request, "export.html", sess, pending=pending, history=history, done_row=done_row,
                  skipped=request.query_params.get("skipped"), fq=filter_query(request))


@router.post("/export")
def export_run(request: Request, sess: Session = Depends(guard(Permission.EXPORT))) -> Response:
    ctx = ctx_of(request)
    out_dir = ctx.cfg.export_dir
    try:
        res = export_records(ctx.store, ctx.public_key, out_dir, actor=sess.user.name, as_zip=True)
    except OSError as exc:  # a full or unwritable export disk: nothing was marked exported
        log.error("export failed: %s", exc, extra={"folder": str(out_dir)})
        audit.append_retrying(ctx.store.engine, sess.user.name, "export_failed", after={"error": str(exc)[:200]})
        raise WorkflowError(507, f"export failed, nothing was marked exported: {exc}") from None
    skipped = [{"id": s.id, "reason": s.reason} for s in res.skipped]
    if res.path is None:
        audit.append_retrying(ctx.store.engine, sess.user.name, "export", after={"exported": [], "skipped": skipped})
        return RedirectResponse(f"/export?skipped={len(skipped)}", status_code=303)
    digest = sha256_file(res.path)
    token = secrets.token_urlsafe(24)
    with ctx.store.engine.begin() as conn:
        eid = conn.execute(sa.insert(exports).values(actor=sess.user.name, at=now_utc(), kind="zip", file_name=res.path.name,
                                                     count=len(res.exported), sha256=digest, token=token)).inserted_primary_key[0]
        audit.append(conn, sess.user.name, "export", None, None,
                     {"export_id": int(eid), "file": res.path.name, "sha256": digest, "exported": res.exported,
                      "skipped": skipped})
    return RedirectResponse(f"/export?done={token}&skipped={len(skipped)}", status_code=303)


@router.get("/export/{token}/download")
def export_download(request: Request, token: str, sess: Session = Depends(guard(Permission.EXPORT))) -> Response:
    ctx = ctx_of(request)
    with ctx.store.engine.connect() as conn:
        row = conn.execute(sa.select(exports).where(exports.c.token == token[:64])).first()
    if row is None or "/" in row.file_name or "\\" in row.file_name or row.file_name.startswith("."):
        raise WorkflowError(404, "no such export")
    path = ctx.cfg.export_dir / row.file_name
    if not path.is_file():
        raise WorkflowError(404, f"export {row.id} ({row.file_name}) is no longer on disk")
    if sha256_file(path) != row.sha256:
        raise WorkflowError(409, f"export {row.id} changed on disk since it was made")
    audit.append_retrying(ctx.store.engine, sess.user.name, "download_export", after={"export_id": row.id})
    return FileResponse(path, media_type="application/zip", filename=row.file_name)


def stats_rows(request: Request) -> list[dict[str, str]]:
    """One row per record under the filter: the store's CSV columns plus who decided what, when."""
    ctx = ctx_of(request)
    recs = ctx.store.query(parse_filter(request).query(ctx.tz))
    ids = [r.id for r in recs]
    latest: dict[int, dict] = {}
    second: dict[int, str] = {}
    with ctx.store.engine.connect() as conn:
        for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
            for d in conn.execute(sa.select(decisions).where(decisions.c.record_id.in_(chunk),
                                                             decisions.c.action.in_(("approve", "reject", "approve_first")))
                                  .order_by(decisions.c.id)):
                if d.action == "approve_first":
                    latest[d.record_id] = {"first": d.actor}
                    continue
                prev = latest.get(d.record_id, {})
                if prev.get("first"):
                    second[d.record_id] = d.actor
                latest[d.record_id] = {"decision": d.action, "decided_by": prev.get("first") or d.actor,
                                       "decided_at": d.at.astimezone(ctx.tz).isoformat(timespec="seconds"),
                                       "reason_code": d.reason_code or ""}
    rows = []
    for r in recs:
        row = record_row(r)
        dec = latest.get(r.id, {})
        row.update(decision=dec.get("decision", ""), decided_by=dec.get("decided_by", ""),
                   decided_at=dec.get("decided_at", ""), reason_code=dec.get("reason_code", ""),
                   second_reviewer=second.get(r.id, ""))
        rows.append(row)
    return rows


@router.get("/stats.csv")
def stats_csv(request: Request, sess: Session = Depends(guard(Permission.STATS))) -> Response:
    ctx = ctx_of(request)
    rows = stats_rows(request)
    buf = io.StringIO()
    buf.write("\ufeff")  # BOM: spreadsheet programs then read the Chinese text as UTF-8
    writer = csv.DictWriter(buf, fieldnames=STATS_FIELDS, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    audit.append_retrying(ctx.store.engine, sess.user.name, "stats_csv", after={"rows": len(rows), "filter": filter_query(request)})
    name = f"epolice-stats-{datetime.now(ctx.tz):%Y%m%d-%H%M%S}.csv"
    return Response(buf.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def figures(request: Request) -> dict:
    ctx = ctx_of(request)
    return {"per_day": dashboard.per_day(ctx.store, ctx.tz), "by_rule": dashboard.approval_by(ctx.store, "rule"),
            "by_camera": dashboard.approval_by(ctx.store, "camera_id"), "helmet": dashboard.helmet_rate(ctx.store)[0],
            "helmet_hours": dashboard.helmet_rate(ctx.store)[1]}


@router.get("/dashboard")
def dashboard_page(request: Request, sess: Session = Depends(guard(Permission.STATS))) -> Response:
    f = figures(request)
    t = translator(language(request), ctx_of(request).cfg.rule_labels)

    charts = {
        "per_day": dashboard.per_day_chart(f["per_day"], t("dashboard.per_day")) if f["per_day"] else None,
        "by_rule": dashboard.rate_chart([(t(f"rule.{r.key}"), r.rate, f"({r.approved}/{r.decided})") for r in f["by_rule"]],
                                        t("dashboard.approval_rule")) if f["by_rule"] else None,
        "by_camera": dashboard.rate_chart([(r.key, r.rate, f"({r.approved}/{r.decided})") for r in f["by_camera"]],
                                          t("dashboard.approval_camera")) if f["by_camera"] else None,
        "helmet": dashboard.rate_chart([(h.camera_id, h.rate, f"({h.helmeted}/{h.judged})") for h in f["helmet"]],
                                       t("dashboard.helmet_rate")) if f["helmet"] else None,
    }
    return render(request, "dashboard.html", sess, f=f, charts=charts)


@router.get("/api/stats")
def stats_api(request: Request, sess: Session = Depends(guard(Permission.STATS))) -> dict:
    f = figures(request)
    return {
        "per_day": [{"day": d.day.isoformat(), "reviewer": d.actor, "approved": d.approved, "rejected": d.rejected}
                    for d in f["per_day"]],
        "approval_by_rule": [{"rule": r.key, "approved": r.approved, "rejected": r.rejected, "rate": r.rate} for r in f["by_rule"]],
        "approval_by_camera": [{"camera_id": r.key, "approved": r.approved, "rejected": r.rejected, "rate": r.rate}
                               for r in f["by_camera"]],
        "helmet_rate_by_camera": [{"camera_id": h.camera_id, "helmeted": h.helmeted, "judged": h.judged, "unjudged": h.unjudged,
                                   "rate": h.rate} for h in f["helmet"]],
        "helmet_rate_by_camera_hour": [{"camera_id": h.camera_id, "hour": h.hour.isoformat(), "helmeted": h.helmeted, "judged": h.judged,
                                        "unjudged": h.unjudged, "rate": h.rate} for h in f["helmet_hours"]],
    }
