"""Ed25519 keys for signing evidence manifests.

The private key stays on the capture host (PEM, PKCS#8, mode 0600). Verification uses the public
key the operator trusts (from the site config or ``--key``), never one carried inside the package,
so a forger cannot re-sign a modified package with a key of their own.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from evidence.atomic import fsync_path, write_durable


class KeyFileError(Exception):
    """A key file is missing, unreadable or not Ed25519 (message says which and how to fix)."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """Short fingerprint of a public key, stored in manifests and records."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(out_dir: Path, name: str = "evidence") -> tuple[Path, Path]:
    """Create ``<name>.key`` (0600) and ``<name>.pub`` in ``out_dir``; refuses to overwrite."""
    out_dir.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = out_dir / f"{name}.key", out_dir / f"{name}.pub"
    for p in (priv_path, pub_path):
        if p.exists():
            raise FileExistsError(f"{p} exists; refusing to overwrite a signing key (choose another --out or --name)")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pub = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    write_durable(priv_path, pem, 0o600)  # O_EXCL: never overwrites a key
    os.chmod(priv_path, 0o600)  # umask cannot widen it, but be explicit
    write_durable(pub_path, pub, 0o644)
    fsync_path(out_dir)
    return priv_path, pub_path


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey

    @classmethod
    def from_file(cls, path: Path) -> "Signer":
        if not path.exists():
            raise KeyFileError(f"signing key {path} not found (create one with `epolice keys new --out {path.parent}`)")
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyFileError(f"signing key {path} is readable by others (mode {mode:o}); chmod 600 {path}")
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"signing key {path} is not a PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"signing key {path} is not an Ed25519 key")
        return cls(key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, data: bytes) -> str:
        """Base64 Ed25519 signature over ``data``."""
        return base64.b64encode(self.private_key.sign(data)).decode("ascii")


def load_public_key(path: Path) -> Ed25519PublicKey:
    if not path.exists():
        raise KeyFileError(f"public key {path} not found (pass --key PATH, or --site with evidence.verify_key / signing_key)")
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError as exc:
        raise KeyFileError(f"public key {path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"public key {path} is not an Ed25519 key")
    return key


def verify_signature(public_key: Ed25519PublicKey, data: bytes, signature_b64: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
