"""Typed values going in and out of the record store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from evidence.event import PlateCandidateFacts, ViolationEvent
from evidence.manifest import FileEntry, Manifest, SignatureFile
from evidence.package import PackageInfo
from models.strict import StrictModel

Status = Literal["pending_review", "approved", "rejected", "exported"]
# A stored record's plate status: the reader's, or ``legacy`` for records written before double
# reading (one reader, never double-checked: treated like ``unconfirmed``)
StoredPlateStatus = Literal["confirmed", "unconfirmed", "unreadable", "legacy"]

# Which status changes the store allows; the review app may widen this deliberately, not by accident.
TRANSITIONS: dict[str, set[str]] = {
    "pending_review": {"approved", "rejected"},
    "approved": {"exported", "pending_review"},
    "rejected": {"pending_review"},
    "exported": set(),
}


class NewRecord(StrictModel):
    """A record as written once an event's package exists."""

    event_key: str
    site_id: str
    camera_id: str
    rule: str
    code: str
    code_name: str
    track_id: int
    start_time: datetime
    end_time: datetime
    plate_text: str | None
    plate_color: str = "unknown"
    plate_agreement: float = 0.0
    plate_status: StoredPlateStatus = "unreadable"  # derived from the rest when left out, see _plate_status
    plate_candidates: list[PlateCandidateFacts] = Field(default_factory=list)
    vehicle_class: str
    facts: dict[str, Any] = Field(default_factory=dict)
    evidence_path: str
    evidence_files: list[FileEntry]
    manifest_sha256: str
    signature: str
    key_id: str
    model_versions: dict[str, str] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _plate_status(cls, data: Any) -> Any:
        """A record given without a plate status (one spooled or queued by an epolice from before
        double reading) is never taken to be confirmed: a machine plate text makes it ``legacy``,
        as the store's migration does for stored records."""
        if isinstance(data, dict) and data.get("plate_status") is None:
            status = "legacy" if data.get("plate_text") else "unconfirmed" if data.get("plate_candidates") else "unreadable"
            data = {**data, "plate_status": status}
        return data

    @field_validator("plate_candidates", mode="before")
    @classmethod
    def _no_candidates(cls, value: Any) -> Any:
        return [] if value is None else value  # legacy rows hold NULL

    @classmethod
    def from_package(cls, event: ViolationEvent, info: PackageInfo) -> "NewRecord":
        if info.event_key != event.event_key:
            raise ValueError(f"package {info.event_key} belongs to another event than {event.event_key}")
        facts: dict[str, Any] = dict(event.facts)
        plate = event.plate
        if plate is not None:
            facts["plate_reads"] = plate.reads
            if plate.reason:
                facts["plate_reason"] = plate.reason
        return cls(
            event_key=event.event_key,
            site_id=event.site_id,
            camera_id=event.camera_id,
            rule=event.rule,
            code=info.code,
            code_name=info.code_name,
            track_id=event.track_id,
            start_time=event.start_time,
            end_time=event.end_time,
            plate_text=plate.text if plate else None,
            plate_color=plate.color if plate else "unknown",
            plate_agreement=plate.agreement if plate else 0.0,
            plate_status=plate.status if plate else "unreadable",
            plate_candidates=list(plate.candidates) if plate else [],
            vehicle_class=event.vehicle_class,
            facts=facts,
            evidence_path=str(info.path.resolve()),
            evidence_files=info.files,
            manifest_sha256=info.manifest_sha256,
            signature=info.signature,
            key_id=info.key_id,
            model_versions=dict(event.model_versions),
            warnings=list(info.warnings),
        )

    @classmethod
    def from_manifest(cls, path: Path, manifest: Manifest, signature: SignatureFile) -> "NewRecord":
        """The record a package's signed manifest describes: what ``epolice records ingest`` inserts,
        and what a stored record is compared with field by field. Raises ValueError when the
        manifest's event fields do not give its event key."""
        fields = dict(manifest.record)
        code, code_name, listed_key = fields.pop("code"), fields.pop("code_name"), fields.pop("event_key", None)
        event = ViolationEvent.model_validate(fields)
        if listed_key != manifest.event_key:
            raise ValueError(f"manifest lists event key {listed_key} in its record and {manifest.event_key} outside it")
        info = PackageInfo(
            event_key=manifest.event_key, path=path, files=manifest.files, manifest_sha256=signature.manifest_sha256,
            signature=signature.signature, key_id=signature.key_id, code=code, code_name=code_name,
            warnings=manifest.warnings, created_at=manifest.created_at,
        )
        record = cls.from_package(event, info)
        plate = fields.get("plate")
        if isinstance(plate, dict) and plate.get("status") is None:
            # signed before double reading: the writer then stored its one reader's text as the plate
            # (what the store's migration calls a legacy record), and only its own reason in the facts
            facts = dict(event.facts)
            facts["plate_reads"] = plate.get("reads", 0)
            if plate.get("reason"):
                facts["plate_reason"] = plate["reason"]
            text = plate.get("text")
            record = record.model_copy(update={"plate_text": text, "plate_status": "legacy" if text else "unreadable",
                                               "plate_candidates": [], "facts": facts})
        return record


class ViolationRecord(NewRecord):
    """A stored record, with its review state."""

    id: int
    status: Status
    created_at: datetime
    plate_text_reviewed: str | None = None  # reviewer's correction; the machine reading stays in plate_text
    plate_color_reviewed: str | None = None
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    row_version: int = 1  # bumped on every change: optimistic concurrency for reviewers
    updated_at: datetime | None = None
    exported_at: datetime | None = None
    export_batch: str | None = None

    @property
    def plate(self) -> str | None:
        """The plate to act on (and the only one export carries): the reviewer's when set, else the
        machine's only when confirmed. An unconfirmed or legacy read is never the plate by itself."""
        if self.plate_text_reviewed:
            return self.plate_text_reviewed
        return self.plate_text if self.plate_status == "confirmed" else None

    @property
    def plate_source(self) -> Literal["reviewer", "machine", "none"]:
        return "reviewer" if self.plate_text_reviewed else "machine" if self.plate is not None else "none"

    @property
    def plate_settled(self) -> bool:
        """Whether the plate may go out as it stands: set by a reviewer, confirmed by the readers, or
        unreadable (exported without a plate). Unconfirmed and legacy reads wait for a reviewer."""
        return bool(self.plate_text_reviewed) or self.plate_status in ("confirmed", "unreadable")

    @property
    def plate_choices(self) -> list[PlateCandidateFacts]:
        """What the reviewer picks from: the candidates, or a legacy record's single machine read."""
        if self.plate_candidates:
            return list(self.plate_candidates)
        if self.plate_status == "legacy" and self.plate_text:
            color = self.plate_color if self.plate_color in ("blue", "yellow", "green", "white", "black") else "unknown"
            return [PlateCandidateFacts(text=self.plate_text, color=color, confidence=min(max(self.plate_agreement, 0.0), 1.0))]
        return []


class AddResult(StrictModel):
    model_config = ConfigDict(frozen=True)
    id: int
    created: bool  # False: the event_key was already stored (re-run / redelivery)


class RecordQuery(StrictModel):
    site_id: str | None = None
    camera_id: str | None = None
    rule: str | None = None
    status: Status | None = None
    plate: str | None = None  # matches the machine reading or the reviewer's correction, exactly
    since: datetime | None = None  # start_time >= since
    until: datetime | None = None  # start_time < until
    limit: int | None = Field(default=100, ge=1)
    offset: int = Field(default=0, ge=0)


class ReviewDecision(StrictModel):
    """One row of a record's decisions log (``review_decisions``): who changed it, when, why.

    Not a rule's ``pipelines.rules.base.Decision`` (the machine's conclusion that a violation happened)."""

    id: int
    record_id: int
    actor: str
    at: datetime
    action: str
    reason_code: str | None = None
    note: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
