"""Ed25519 keys for signing evidence manifests.

The private key stays on the capture host (PEM, PKCS#8, mode 0600). Verification uses the public
keys the operator trusts (from the site config or ``--key``), never one carried inside the package,
so a forger cannot re-sign a modified package with a key of their own.

Rotation (``epolice keys rotate``): a new pair replaces ``evidence.key``/``.pub``; the old public key
moves to ``trusted/<key id>.pub`` beside it, and verification looks each package's key up by the
``key_id`` its signature names in that keyring, so records signed before a rotation stay verifiable.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Union

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


# -- the keyring: every public key verification trusts, by key id ------------------------------------

TRUSTED_DIR = "trusted"  # beside the current public key: the keys it replaced
RETIRED_DIR = "retired"  # beside the private key: private keys replaced by a rotation (0600, never used again)


@dataclass(frozen=True)
class Keyring:
    """Trusted public keys by key id: the current one and those it replaced."""

    keys: Mapping[str, Ed25519PublicKey]

    @classmethod
    def of(cls, *keys: Ed25519PublicKey) -> "Keyring":
        return cls({key_id(k): k for k in keys})

    def get(self, kid: str) -> Ed25519PublicKey | None:
        return self.keys.get(kid)

    @property
    def ids(self) -> list[str]:
        return sorted(self.keys)


Trust = Union[Ed25519PublicKey, Keyring]


def as_keyring(trust: Trust) -> Keyring:
    """One trusted key (callers that verify against exactly one) or a keyring, as a keyring."""
    return trust if isinstance(trust, Keyring) else Keyring.of(trust)


def keyring_with(key: Ed25519PublicKey, trusted_dir: Path | None) -> Keyring:
    """``key`` plus every ``*.pub`` in ``trusted_dir`` (the keys it replaced), when that folder exists."""
    keys = [key]
    if trusted_dir is not None and trusted_dir.is_dir():
        keys += [load_public_key(p) for p in sorted(trusted_dir.glob("*.pub"))]
    return Keyring.of(*keys)


def load_keyring(current: Path, trusted_dir: Path | None = None) -> Keyring:
    """The current public key (it must exist) plus the keys it replaced in ``trusted_dir`` (default:
    ``trusted/`` beside it). A directory as ``current``: every ``*.pub`` in it."""
    if current.is_dir():
        found = sorted(current.glob("*.pub"))
        if not found:
            raise KeyFileError(f"no public keys (*.pub) in {current}")
        return Keyring.of(*(load_public_key(p) for p in found))
    return keyring_with(load_public_key(current), trusted_dir if trusted_dir is not None else current.parent / TRUSTED_DIR)


@dataclass(frozen=True)
class Rotation:
    old_id: str
    new_id: str
    private_key: Path  # the new signing key
    public_key: Path
    trusted: Path  # where the old public key now lives (still trusted for verification)
    retired: Path | None  # where the old private key went (None: there was none here)


def rotate_keypair(out_dir: Path, name: str = "evidence") -> Rotation:
    """Replace ``<name>.key``/``.pub`` in ``out_dir`` with a new pair (see the module docstring).

    The new pair is made under temporary names first, so a crash leaves the old pair in place."""
    priv_path, pub_path = out_dir / f"{name}.key", out_dir / f"{name}.pub"
    old = load_public_key(pub_path)
    old_id = key_id(old)
    staging = f".{name}.rotating"
    for stale in (out_dir / f"{staging}.key", out_dir / f"{staging}.pub"):
        stale.unlink(missing_ok=True)  # a rotation that crashed before it swapped anything in
    new_priv, new_pub = generate_keypair(out_dir, staging)
    trusted = out_dir / TRUSTED_DIR
    trusted.mkdir(exist_ok=True)
    kept = trusted / f"{old_id}.pub"
    if not kept.exists():
        write_durable(kept, pub_path.read_bytes(), 0o644)
        fsync_path(trusted)
    retired: Path | None = None
    if priv_path.exists():
        folder = out_dir / RETIRED_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        retired = folder / f"{name}-{old_id}.key"
        os.replace(priv_path, retired)
        fsync_path(folder)
    os.replace(new_priv, priv_path)
    os.replace(new_pub, pub_path)
    fsync_path(out_dir)
    return Rotation(old_id, key_id(load_public_key(pub_path)), priv_path, pub_path, kept, retired)
