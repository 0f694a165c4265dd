"""Record-level checks and the export of approved records with their evidence.

Export carries only confirmed or reviewer-set plates. An approved record whose plate is
unconfirmed (or ``legacy``, read once before double reading) and that no reviewer settled is held
back, not exported with an empty plate: a receiving platform takes an empty plate for an
unreadable one, while this vehicle is identifiable; the record stays approved and the skip says why.

Export is at-least-once: the dated folder (or zip) is published atomically first, then each record is
marked ``exported``. A crash between the two leaves records ``approved`` and a complete export on disk;
the next export ships them again (the receiving side dedups on event_key).

Exports into one folder take turns (a lock on the folder, for threads and processes alike), so two
started in the same second neither share a name nor ship the same records twice; temp names are
unique besides.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ConfigDict, Field

from evidence.atomic import TMP_PREFIX, fsync_path, make_temp_dir, publish_dir, write_durable
from evidence.manifest import MANIFEST, Problem, VerifyResult, sha256_file, verify_package
from evidence.signing import Trust
from evidence.store.records import NewRecord, RecordQuery, ViolationRecord
from evidence.store.store import RecordStore, StoreError
from models.strict import StrictModel

CSV_FIELDS = [
    "id", "event_key", "site_id", "camera_id", "rule", "code", "code_name", "start_time", "end_time",
    "plate", "plate_machine", "plate_color", "plate_agreement", "vehicle_class", "status", "evidence_path",
    "plate_status", "plate_source",
]
PLATE_HELD = "plate not settled"  # the start of an export's skip reason for an unconfirmed plate


def record_row(rec: ViolationRecord) -> dict[str, str]:
    """The flat view of a record used by tables and CSV: ``plate`` is the one to act on (the
    reviewer's, else a confirmed machine read, else empty); the machine reading is kept beside it,
    with its status (confirmed / unconfirmed / unreadable / legacy) and where ``plate`` came from."""
    return {
        "id": str(rec.id),
        "event_key": rec.event_key,
        "site_id": rec.site_id,
        "camera_id": rec.camera_id,
        "rule": rec.rule,
        "code": rec.code,
        "code_name": rec.code_name,
        "start_time": rec.start_time.isoformat(timespec="milliseconds"),
        "end_time": rec.end_time.isoformat(timespec="milliseconds"),
        "plate": rec.plate or "",
        "plate_machine": rec.plate_text or "",
        "plate_color": rec.plate_color_reviewed or rec.plate_color,
        "plate_agreement": f"{rec.plate_agreement:.2f}",
        "vehicle_class": rec.vehicle_class,
        "status": rec.status,
        "evidence_path": rec.evidence_path,
        "plate_status": rec.plate_status,
        "plate_source": rec.plate_source,
    }


def rows_to_csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


# What binds a record to its package: every field the signed manifest gives (the evidence path is
# only where the package lies).
BOUND_FIELDS = tuple(f for f in NewRecord.model_fields if f != "evidence_path")


def bound_mismatches(rec: NewRecord, result: VerifyResult) -> list[str]:
    """The record fields that differ from what the package's signed manifest says (a verified package)."""
    if result.manifest is None or result.signature is None:
        return []
    try:
        signed = NewRecord.from_manifest(Path(rec.evidence_path), result.manifest, result.signature)
    except ValueError as exc:
        return [f"event_key (the manifest's own fields do not give it: {exc})"]
    return [f for f in BOUND_FIELDS if f != "manifest_sha256" and getattr(rec, f) != getattr(signed, f)]


def verify_record(rec: NewRecord, trust: Trust) -> VerifyResult:
    """Verify the record's package, that it is the very package the record was stored with, and that
    the record says what that package's signed manifest says: a copy of a record under another event
    key, camera or plate, pointing at the genuine package, fails."""
    res = verify_package(Path(rec.evidence_path), trust)
    name = f"record {getattr(rec, 'id', rec.event_key)}"
    mpath = Path(rec.evidence_path) / MANIFEST
    if mpath.is_file() and sha256_file(mpath) != rec.manifest_sha256:
        res.problems.append(Problem(file=MANIFEST, kind="record_mismatch", detail=f"differs from the manifest stored with {name}"))
    elif res.ok and (fields := bound_mismatches(rec, res)):
        res.problems.append(Problem(file=MANIFEST, kind="record_mismatch",
                                    detail=f"{name} differs from its signed manifest in {', '.join(fields)}"))
    res.ok = res.ok and not res.problems
    return res


def record_problems(rec: NewRecord, trust: Trust) -> list[str]:
    """Why ``rec`` may not be stored (its package fails or says otherwise), or [] (the record writer's check)."""
    return [str(p) for p in verify_record(rec, trust).problems]


class Skipped(StrictModel):
    model_config = ConfigDict(frozen=True)
    id: int
    reason: str


class ExportResult(StrictModel):
    path: Path | None  # the dated folder or zip; None when nothing was approved
    batch: str
    exported: list[int] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)


@contextmanager
def export_lock(out_dir: Path) -> Iterator[None]:
    """Exclusive use of ``out_dir`` for one export at a time (threads and processes): flock on the folder itself."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _unique_batch(out_dir: Path, now: datetime, as_zip: bool) -> str:
    base = f"epolice-export-{now:%Y%m%d-%H%M%S}"
    name, n = base, 1
    while (out_dir / (name + (".zip" if as_zip else ""))).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def export_records(
    store: RecordStore,
    trust: Trust,
    out_dir: Path,
    query: RecordQuery | None = None,
    *,
    actor: str = "export",
    as_zip: bool = False,
    now: datetime | None = None,
) -> ExportResult:
    """Copy approved, verifying records and their packages into a dated folder (or zip), then mark them exported."""
    with export_lock(out_dir):
        return _export(store, trust, out_dir, query, actor=actor, as_zip=as_zip, now=now)


def _export(store: RecordStore, trust: Trust, out_dir: Path, query: RecordQuery | None, *, actor: str, as_zip: bool,
            now: datetime | None) -> ExportResult:
    now = now or datetime.now(timezone.utc)
    q = (query or RecordQuery()).model_copy(update={"status": "approved", "limit": None, "offset": 0})
    out_dir.mkdir(parents=True, exist_ok=True)
    batch = _unique_batch(out_dir, now, as_zip)
    result = ExportResult(path=None, batch=batch)
    chosen: list[ViolationRecord] = []
    for rec in store.query(q):
        if not rec.plate_settled:  # never ship a doubtful read, nor a record without the plate it has
            result.skipped.append(Skipped(id=rec.id, reason=f"{PLATE_HELD}: the plate is {rec.plate_status} and no reviewer "
                                                            "picked or typed it; reopen the record and settle the plate"))
            continue
        check = verify_record(rec, trust)
        if check.ok:
            chosen.append(rec)
        else:
            result.skipped.append(Skipped(id=rec.id, reason="evidence fails verification: " + "; ".join(map(str, check.problems))))
    if not chosen:
        return result
    tmp = make_temp_dir(out_dir / batch)
    try:
        rows = []
        lines = []
        for rec in chosen:
            rel = Path("evidence") / rec.site_id / rec.event_key
            shutil.copytree(rec.evidence_path, tmp / rel)
            row = record_row(rec)
            row["evidence_path"] = rel.as_posix()
            rows.append(row)
            lines.append(rec.model_copy(update={"evidence_path": rel.as_posix()}).model_dump_json())
        write_durable(tmp / "records.csv", rows_to_csv(rows).encode())
        write_durable(tmp / "records.jsonl", ("\n".join(lines) + "\n").encode())
        if as_zip:
            final = out_dir / f"{batch}.zip"
            tmp_zip = out_dir / f"{TMP_PREFIX}{batch}-{uuid.uuid4().hex[:8]}.zip"
            with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for path in sorted(tmp.rglob("*")):
                    if path.is_file():
                        zf.write(path, Path(batch) / path.relative_to(tmp))
            fsync_path(tmp_zip)
            os.rename(tmp_zip, final)
            fsync_path(out_dir)
            shutil.rmtree(tmp)
        else:
            final = out_dir / batch
            publish_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.path = final
    for rec in chosen:
        try:
            store.set_status(rec.id, "exported", actor, reason_code="export", note=batch,
                             expected_version=rec.row_version, extra={"exported_at": now, "export_batch": batch})
            result.exported.append(rec.id)
        except StoreError as exc:
            result.skipped.append(Skipped(id=rec.id, reason=f"copied into {batch} but not marked exported: {exc}"))
    return result
