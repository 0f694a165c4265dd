"""Evidence and store settings, embedded in the site config (pipelines.config.SiteConfig) under
``evidence:`` and ``store:``.

Relative paths are taken as given (relative to the working directory of the process); the site
loader may resolve them against the site file's folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, model_validator
from sqlalchemy.engine import make_url

from evidence.event import RuleName
from evidence.signing import TRUSTED_DIR
from models.strict import StrictModel

# Debian package fonts-noto-cjk. The .ttc holds several faces; we pick the Simplified Chinese one by
# name (face order inside the collection is not a promise).
DEFAULT_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
DEFAULT_FONT_FACE = "Noto Sans CJK SC"


class ViolationCode(StrictModel):
    """One row of the violation code table: what the overlay and the record call the offence."""

    model_config = ConfigDict(frozen=True)
    code: str = Field(min_length=1, max_length=16)  # GA 408.1-style code, e.g. "1039"
    name: str = Field(min_length=1)  # Chinese name printed on the composite


class EvidenceConfig(StrictModel):
    """How a violation becomes a signed package on disk."""

    output_dir: Path = Path("evidence")  # packages land in <output_dir>/<site_id>/<YYYY-MM-DD>/<event_key>/
    layout: Literal["2x2", "1x3+closeup"] = "2x2"  # 2x2: three panoramas + close-up; 1x3+closeup: a row of three, close-up below
    # rule -> code and Chinese name. The site loader fills in each registered rule's default row
    # (pipelines.rules.registry) for rules the site file does not set.
    codes: dict[RuleName, ViolationCode] = Field(default_factory=dict)
    font_path: Path = DEFAULT_FONT
    font_face: str | None = DEFAULT_FONT_FACE  # face name inside a .ttc; None = first face
    clip_before_s: float = Field(default=5.0, ge=0)  # ring-buffer seconds the engine hands over before the event
    clip_after_s: float = Field(default=5.0, ge=0)
    clip_overlay: bool = False  # burn capture time and event text into the clip (re-encodes it; off: the camera's packets, copied)
    clip_crf: int = Field(default=23, ge=0, le=51)  # libx264 quality (clips that are encoded)
    clip_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "veryfast"  # libx264 speed/size trade
    signing_key: Path = Path("keys/evidence.key")  # Ed25519 private key (PEM, mode 0600), from `epolice keys new`
    verify_key: Path | None = None  # public key for verification; default: signing_key with suffix .pub
    trusted_keys: Path | None = None  # folder of earlier public keys still trusted; default: trusted/ beside the verify key
    min_key_frames: int = Field(default=3, ge=2)  # panoramas required in a package
    parking_min_span_s: float = Field(default=10.0, ge=0)  # parking: first..last panorama at least max(this, min_dwell_s)
    min_panorama_width: int = 1280  # GA/T 832 minimum; smaller cameras are recorded as a warning, never upscaled
    min_panorama_height: int = 720
    closeup_margin: float = Field(default=0.35, ge=0, le=3)  # crop margin around the vehicle box, share of box size
    jpeg_quality: int = Field(default=92, ge=50, le=100)

    @model_validator(mode="after")
    def _clip_sane(self) -> "EvidenceConfig":
        if self.clip_before_s + self.clip_after_s > 120:
            raise ValueError("clip_before_s + clip_after_s must stay within 120 s (a short clip, not a recording)")
        return self

    @property
    def public_key_path(self) -> Path:
        return self.verify_key if self.verify_key is not None else self.signing_key.with_suffix(".pub")

    @property
    def trusted_keys_dir(self) -> Path:
        """Public keys that earlier signing keys signed with (``epolice keys rotate`` puts them here)."""
        return self.trusted_keys if self.trusted_keys is not None else self.public_key_path.parent / TRUSTED_DIR

    def code_for(self, rule: str) -> ViolationCode:
        try:
            return self.codes[rule]
        except KeyError:
            raise KeyError(f"evidence.codes has no entry for rule {rule!r} (add code and name to the site config)") from None


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite store URL; None for a server or an in-memory database."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:"):
        return Path(u.database)
    return None


class StoreConfig(StrictModel):
    """Where violation records live: a SQLite file by default, PostgreSQL for many machines. Open it
    with ``evidence.store.RecordStore.from_config`` (which also brings its schema up to date)."""

    url: str = "sqlite:///records.db"  # SQLAlchemy URL, e.g. postgresql+psycopg://user@host/epolice
    echo: bool = False  # log SQL (debugging)
    ledger_path: Path | None = None  # local batch runs' ledger (SQLite); None: see resolved_ledger_path

    @property
    def resolved_ledger_path(self) -> Path:
        """Where the local batch ledger lives: ``ledger_path`` when set; else beside a SQLite store file
        (``records.db`` -> ``records.batch.db``); else ``$XDG_CACHE_HOME/epolice/batch.db`` (default
        ``~/.cache/epolice/batch.db``), the store being a server or in memory."""
        if self.ledger_path is not None:
            return self.ledger_path
        store = sqlite_file(self.url)
        if store is not None:
            return store.with_name(store.stem + ".batch.db")
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "epolice" / "batch.db"
