"""What makes the audit chain hold against someone who can write the database: a key kept outside it,
and signed checkpoints of the chain's head kept outside it too.

- The audit key (``ReviewConfig.audit_key``, default ``audit.key`` beside the evidence public key):
  32 random bytes, hex, mode 0600, made on the app's first start. Entries are HMAC-SHA256 under it,
  so without the key no one can write an entry that verifies, nor recompute the chain after an edit.
- Checkpoints (``ReviewConfig.audit_checkpoints``): JSON lines, each pinning an entry's seq and hash,
  MAC'd with the key; written by the app as the chain grows (``audit.checkpoint_if_due``). Deleting
  the newest entries, or the whole chain, leaves a checkpoint pointing past the end. Keep the file
  on another disk or machine (a mounted share, a log shipper) for the best of it.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from evidence.atomic import fsync_path, write_durable
from models.strict import StrictModel

if TYPE_CHECKING:
    from evidence.review.config import ReviewSettings

log = logging.getLogger(__name__)

KEY_BYTES = 32


class AuditKeyError(Exception):
    """The audit key is missing, unreadable or readable by others (message says how to fix)."""


class CheckpointError(Exception):
    """A checkpoint line is unreadable or its MAC fails: the checkpoint file was edited."""


@dataclass(frozen=True)
class AuditSeal:
    key: bytes
    checkpoints: Path
    every: int = 100  # a checkpoint once the head is this many entries past the last one

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"epolice-audit-key\0" + self.key).hexdigest()[:16]

    def mac(self, data: bytes) -> str:
        return hmac.new(self.key, data, hashlib.sha256).hexdigest()


def load_key(path: Path, create: bool = False) -> bytes:
    """The audit key at ``path``; with ``create``, a new one is made there when there is none."""
    if not path.exists():
        if not create:
            raise AuditKeyError(f"no audit key at {path} (the review app makes it on first start; pass --audit-key PATH)")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_durable(path, (secrets.token_hex(KEY_BYTES) + "\n").encode(), 0o600)  # O_EXCL: never overwrites
            fsync_path(path.parent)
            log.warning("made a new audit key; keep it (and a copy) out of the database's reach", extra={"path": str(path)})
        except FileExistsError:
            pass  # another process made it first
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise AuditKeyError(f"audit key {path} is readable by others (mode {mode:o}); chmod 600 {path}")
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise AuditKeyError(f"audit key {path} is not hex") from None
    if len(key) < 16:
        raise AuditKeyError(f"audit key {path} is too short ({len(key)} bytes)")
    return key


def open_seal(settings: "ReviewSettings", create: bool = False, key_path: Path | None = None) -> AuditSeal:
    """The seal the settings name (``key_path`` overrides the key's place); ``create``: make a missing key."""
    key = load_key(key_path or settings.audit_key_path, create)
    checkpoints = settings.audit_checkpoints_path if key_path is None or settings.review.audit_checkpoints else \
        key_path.with_name("audit-checkpoints.jsonl")
    return AuditSeal(key, checkpoints, settings.review.audit_checkpoint_every)


class Checkpoint(StrictModel):
    seq: int  # the entry pinned
    hash: str  # its hash
    keyed_from: int  # the first keyed entry: entries from here on must carry the key
    at: str
    key_id: str
    mac: str = ""

    def body(self) -> bytes:
        return json.dumps(self.model_dump(exclude={"mac"}), sort_keys=True, separators=(",", ":")).encode()


def _parse(seal: AuditSeal, line: str, where: str) -> Checkpoint:
    try:
        cp = Checkpoint.model_validate_json(line)
    except ValidationError:
        raise CheckpointError(f"checkpoint {where} of {seal.checkpoints} is unreadable") from None
    if not hmac.compare_digest(cp.mac, seal.mac(cp.body())):
        raise CheckpointError(f"checkpoint {where} of {seal.checkpoints} fails its MAC (edited, or made with another key)")
    return cp


def read_checkpoints(seal: AuditSeal) -> list[Checkpoint]:
    """Every checkpoint, oldest first, each MAC-checked (raises CheckpointError)."""
    if not seal.checkpoints.exists():
        return []
    lines = seal.checkpoints.read_text(encoding="utf-8").splitlines()
    return [_parse(seal, line, f"line {i}") for i, line in enumerate(lines, 1) if line.strip()]


def latest_checkpoint(seal: AuditSeal) -> Checkpoint | None:
    """The newest checkpoint, read from the end of the file (cheap however long it grows)."""
    try:
        with open(seal.checkpoints, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 4096))
            tail = fh.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return None
    lines = [x for x in tail[1 if size > 4096 else 0:] if x.strip()]
    return _parse(seal, lines[-1], "at the end") if lines else None


def write_checkpoint(seal: AuditSeal, cp: Checkpoint) -> Checkpoint:
    """Append ``cp`` (its MAC filled in), fsynced, under a file lock (several app processes)."""
    cp = cp.model_copy(update={"key_id": seal.key_id})
    cp = cp.model_copy(update={"mac": seal.mac(cp.body())})
    seal.checkpoints.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(seal.checkpoints, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (cp.model_dump_json() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return cp
