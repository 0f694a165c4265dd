"""manifest.json (every file's sha256 plus the record's fields) and manifest.sig (its Ed25519 signature).

The signature covers the exact bytes of manifest.json. manifest.sig also carries the manifest's
sha256 as an unsigned hint: it lets verification say WHICH of the two files changed (a valid signature
over the manifest with a wrong hint means the .sig was edited; a hint mismatch plus a bad signature
means the manifest was edited).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from evidence.atomic import TMP_PREFIX
from evidence.signing import Trust, as_keyring, verify_signature
from models.strict import StrictModel

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
FORMAT = "epolice-evidence/1"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class FileEntry(StrictModel):
    model_config = ConfigDict(frozen=True)
    name: str
    kind: Literal["panorama", "closeup", "plate", "composite", "clip"]
    sha256: str
    size: int
    width: int | None = None
    height: int | None = None
    seq: int | None = None  # source frame, for panoramas and the close-up
    role: str | None = None


class Manifest(StrictModel):
    format: str = FORMAT
    event_key: str
    created_at: datetime
    key_id: str
    record: dict[str, Any]  # the event's fields + code, name, plate, facts, model versions
    context: dict[str, Any]  # site/device/direction/lane/timezone used on the overlay
    files: list[FileEntry]
    closeup: dict[str, Any] = Field(default_factory=dict)  # crop rectangle and upscale factor
    warnings: list[str] = Field(default_factory=list)

    def to_bytes(self) -> bytes:
        return (json.dumps(self.model_dump(mode="json"), ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


class SignatureFile(StrictModel):
    algorithm: Literal["ed25519"] = "ed25519"
    key_id: str
    manifest_sha256: str
    signature: str  # base64

    def to_bytes(self) -> bytes:
        return (json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()


class Problem(StrictModel):
    model_config = ConfigDict(frozen=True)
    file: str
    kind: Literal["modified", "missing", "extra", "signature_invalid", "wrong_key", "unreadable", "record_mismatch"]
    detail: str

    def __str__(self) -> str:
        return f"{self.file}: {self.kind} ({self.detail})"


class VerifyResult(StrictModel):
    path: str
    ok: bool
    event_key: str | None = None
    key_id: str | None = None
    files_checked: int = 0
    problems: list[Problem] = Field(default_factory=list)
    manifest: Manifest | None = Field(default=None, exclude=True)
    signature: SignatureFile | None = Field(default=None, exclude=True)


def verify_package(path: Path, trust: Trust) -> VerifyResult:
    """Check the signature and every file hash; name each file that is modified, missing or extra.

    ``trust``: the trusted public key, or a keyring in which the key the signature names is looked up."""
    problems: list[Problem] = []
    result = VerifyResult(path=str(path), ok=False)
    if not path.is_dir():
        result.problems.append(Problem(file=str(path), kind="missing", detail="no package folder here"))
        return result
    mpath, spath = path / MANIFEST, path / SIGNATURE
    manifest_bytes = mpath.read_bytes() if mpath.exists() else None
    if manifest_bytes is None:
        problems.append(Problem(file=MANIFEST, kind="missing", detail="no manifest: not a complete package"))
    sig: SignatureFile | None = None
    if not spath.exists():
        problems.append(Problem(file=SIGNATURE, kind="missing", detail="no signature: not a complete package"))
    else:
        try:
            sig = SignatureFile.model_validate_json(spath.read_bytes())
        except ValidationError as exc:
            problems.append(Problem(file=SIGNATURE, kind="unreadable", detail=f"not a signature file: {exc.errors()[0]['msg']}"))
    ring = as_keyring(trust)
    if sig is not None and manifest_bytes is not None:
        result.key_id = sig.key_id
        result.signature = sig
        actual = sha256_bytes(manifest_bytes)
        named = ring.get(sig.key_id)
        # the key the signature names, else any trusted key (the key id itself may be what was edited)
        signer = next((k for k in ([named] if named else []) + list(ring.keys.values())
                       if verify_signature(k, manifest_bytes, sig.signature)), None)
        if signer is not None and actual == sig.manifest_sha256 and signer is named:
            pass
        elif signer is not None:
            problems.append(Problem(file=SIGNATURE, kind="modified", detail="signature valid but its recorded manifest hash or key id was edited"))
        elif actual != sig.manifest_sha256:
            problems.append(Problem(file=MANIFEST, kind="modified", detail="manifest signature invalid: manifest.json changed after signing"))
        elif named is None:
            problems.append(Problem(file=SIGNATURE, kind="wrong_key",
                                    detail=f"signed by key {sig.key_id}, trusted keys are {', '.join(ring.ids)}"))
        else:
            problems.append(Problem(file=SIGNATURE, kind="signature_invalid", detail="manifest signature invalid: manifest.sig changed or forged"))
    manifest: Manifest | None = None
    if manifest_bytes is not None:
        try:
            manifest = Manifest.model_validate_json(manifest_bytes)
        except ValidationError as exc:
            if not any(p.file == MANIFEST for p in problems):
                problems.append(Problem(file=MANIFEST, kind="unreadable", detail=f"not a manifest: {exc.errors()[0]['msg']}"))
    if manifest is not None:
        result.event_key = manifest.event_key
        listed = {f.name for f in manifest.files}
        for entry in manifest.files:
            fpath = path / entry.name
            if not fpath.is_file():
                problems.append(Problem(file=entry.name, kind="missing", detail="listed in the manifest, not on disk"))
                continue
            result.files_checked += 1
            if sha256_file(fpath) != entry.sha256:
                problems.append(Problem(file=entry.name, kind="modified", detail="sha256 differs from the signed manifest"))
        for child in sorted(path.iterdir()):
            if child.name not in listed and child.name not in (MANIFEST, SIGNATURE):
                problems.append(Problem(file=child.name, kind="extra", detail="not listed in the manifest"))
    result.manifest = manifest
    result.problems = problems
    result.ok = not problems and manifest is not None and not path.name.startswith(TMP_PREFIX)
    if result.ok is False and not problems and path.name.startswith(TMP_PREFIX):
        result.problems.append(Problem(file=path.name, kind="unreadable", detail="a temp folder of an unfinished write"))
    return result
