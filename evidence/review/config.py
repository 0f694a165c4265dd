"""Reviewer-app settings.

``ReviewConfig`` is the part an operator tunes (reason codes, two-person rules, claim and session
lengths, login limits); ``ReviewSettings`` is what ``create_app`` needs in all: where the records
and the evidence live plus the ``ReviewConfig``. The CLI builds ``ReviewSettings`` from the site
config, so this package never imports ``pipelines``.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from evidence.config import EvidenceConfig, StoreConfig
from evidence.event import RuleName
from evidence.timezone import TimeZoneName
from models.strict import StrictModel


class ReasonCode(StrictModel):
    """One reject reason. Admins add and disable them in the app; these seed a new database."""

    model_config = ConfigDict(frozen=True)
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    zh: str = Field(min_length=1, max_length=64)
    en: str = Field(min_length=1, max_length=64)


def _default_reasons() -> list[ReasonCode]:
    return [
        ReasonCode(code="plate_unreadable", zh="号牌无法辨认", en="Plate unreadable"),
        ReasonCode(code="not_violation", zh="不构成违法", en="Not a violation"),
        ReasonCode(code="duplicate", zh="重复记录", en="Duplicate"),
        ReasonCode(code="emergency_vehicle", zh="执行任务的特种车辆", en="Emergency vehicle on duty"),
        ReasonCode(code="image_quality", zh="图像质量不合格", en="Image quality insufficient"),
        ReasonCode(code="wrong_vehicle", zh="车辆与号牌不符", en="Plate does not match vehicle"),
        ReasonCode(code="other", zh="其他", en="Other"),
    ]


class ReviewConfig(StrictModel):
    """Operator settings for the reviewer app (``review:`` in the site YAML when the site loader has it)."""

    reason_codes: list[ReasonCode] = Field(default_factory=_default_reasons, min_length=1)
    second_review_rules: list[RuleName] = Field(default_factory=list)  # rules whose approvals a second person confirms
    # display name by rule, then language ("zh"/"en"); the site loader fills in the rule registry's labels
    rule_labels: dict[RuleName, dict[str, str]] = Field(default_factory=dict)
    claim_seconds: int = Field(default=300, ge=10, le=3600)  # how long opening a record reserves it
    session_hours: float = Field(default=8.0, gt=0, le=24)  # idle sessions end after this
    login_max_failures: int = Field(default=5, ge=1)  # failed logins per user name or client ...
    login_window_seconds: int = Field(default=900, ge=10)  # ... within this window before 429
    # the TLS proxies in front of the app: only from these is X-Forwarded-For believed (the client
    # address the login limit counts); without them every request would count as the proxy's
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(default_factory=list)
    secure_cookies: bool = True  # False only for plain-http development on loopback
    language: Literal["zh", "en"] = "zh"  # default UI language; each user may switch
    page_size: int = Field(default=50, ge=5, le=500)
    export_dir: Path = Path("exports")  # where export zips and CSVs are written
    audit_key: Path | None = None  # secret the audit chain is sealed with (made 0600 on first start); default: audit.key beside the evidence public key
    audit_checkpoints: Path | None = None  # signed checkpoints of the chain's head (JSON lines); default: audit-checkpoints.jsonl beside the key
    audit_checkpoint_every: int = Field(default=100, ge=1)  # entries between checkpoints

    @field_validator("reason_codes")
    @classmethod
    def _unique(cls, v: list[ReasonCode]) -> list[ReasonCode]:
        codes = [r.code for r in v]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"duplicate reason codes: {', '.join(dupes)}")
        return v


class ReviewSettings(StrictModel):
    """Everything ``create_app`` needs: the store, the evidence settings and the review settings."""

    store: StoreConfig = Field(default_factory=StoreConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    timezone: TimeZoneName = "Asia/Shanghai"  # the site's zone: dates in filters and times on pages are local

    @property
    def audit_key_path(self) -> Path:
        return self.review.audit_key or self.evidence.public_key_path.parent / "audit.key"

    @property
    def audit_checkpoints_path(self) -> Path:
        return self.review.audit_checkpoints or self.audit_key_path.with_name("audit-checkpoints.jsonl")

