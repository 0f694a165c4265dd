"""Evidence files for the browser, by record and file kind only, after checking the signed hash.

A request names a record and a kind (``composite``, ``closeup``, ``plate``, ``clip``, ``panorama-2``), never a
path. The file's name comes from the package's manifest, which must carry a valid signature by the
trusted key and the record's own event key; the bytes are read once, hashed, compared with the
manifest and then served from memory, so a file swapped between check and send cannot slip through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from evidence.manifest import MANIFEST, SIGNATURE, FileEntry, Manifest, SignatureFile, sha256_bytes
from evidence.review.workflow import WorkflowError
from evidence.signing import Trust, as_keyring, verify_signature

KIND_RE = re.compile(r"^(composite|closeup|plate|clip|panorama-([1-9][0-9]?))$")
MEDIA_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".mp4": "video/mp4"}


class EvidenceFileError(WorkflowError):
    """The file cannot be served; ``status`` is the HTTP status to answer with."""


@dataclass(frozen=True)
class VerifiedFile:
    name: str
    data: bytes
    media_type: str
    sha256: str


def load_manifest(package: Path, trust: Trust, event_key: str, manifest_sha256: str) -> Manifest:
    """The package's manifest if its signature checks out against the trusted key (looked up in the
    keyring by the key id the signature names) and it is the very
    manifest stored with the record (``manifest_sha256``, so another validly signed package swapped
    in is refused too); otherwise EvidenceFileError (409: the evidence on disk is not what was signed)."""
    try:
        mbytes = (package / MANIFEST).read_bytes()
        sig = SignatureFile.model_validate_json((package / SIGNATURE).read_bytes())
        manifest = Manifest.model_validate_json(mbytes)
    except FileNotFoundError:
        raise EvidenceFileError(404, f"evidence package for record {event_key} is missing its manifest or signature") from None
    except ValidationError:
        raise EvidenceFileError(409, f"evidence manifest of record {event_key} is unreadable") from None
    key = as_keyring(trust).get(sig.key_id)
    if key is None or sig.manifest_sha256 != sha256_bytes(mbytes) or not verify_signature(key, mbytes, sig.signature):
        raise EvidenceFileError(409, f"evidence manifest of record {event_key} fails its signature check")
    if manifest.event_key != event_key or sha256_bytes(mbytes) != manifest_sha256:
        raise EvidenceFileError(409, f"evidence manifest on disk is not the one stored with record {event_key}")
    return manifest


def entry_for(manifest: Manifest, kind: str) -> FileEntry:
    """The manifest entry for a kind; panoramas are numbered 1.. in manifest order."""
    m = KIND_RE.match(kind)
    if m is None:
        raise EvidenceFileError(404, f"unknown evidence kind {kind!r}")
    if m.group(2):
        panoramas = [f for f in manifest.files if f.kind == "panorama"]
        index = int(m.group(2))
        if index > len(panoramas):
            raise EvidenceFileError(404, f"the package has {len(panoramas)} panoramas, not {index}")
        return panoramas[index - 1]
    for f in manifest.files:
        if f.kind == kind:
            return f
    raise EvidenceFileError(404, f"the package has no {kind}")


def kinds(manifest: Manifest) -> list[str]:
    """The kinds a record page can ask for, in display order."""
    out: list[str] = []
    present = {f.kind for f in manifest.files}
    for k in ("composite", "closeup", "plate", "clip"):
        if k in present:
            out.append(k)
    out += [f"panorama-{i}" for i in range(1, 1 + sum(f.kind == "panorama" for f in manifest.files))]
    return out


def read_verified(package: Path, trust: Trust, event_key: str, manifest_sha256: str,
                  kind: str) -> VerifiedFile:
    manifest = load_manifest(package, trust, event_key, manifest_sha256)
    entry = entry_for(manifest, kind)
    # The name comes from a signed manifest; still refuse anything but a plain file name in the folder.
    if "/" in entry.name or "\\" in entry.name or entry.name in ("", ".", ".."):
        raise EvidenceFileError(409, f"manifest of record {event_key} names a file outside its package")
    path = package / entry.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EvidenceFileError(404, f"{entry.name} of record {event_key} is missing") from None
    digest = sha256_bytes(data)
    if digest != entry.sha256:
        raise EvidenceFileError(409, f"{entry.name} of record {event_key} does not match its signed hash")
    media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return VerifiedFile(entry.name, data, media, digest)
