"""Licence authorities: the Ed25519 key pairs that sign Moot licence files.

Moot ships no authority of its own. Whoever issues licences makes a key pair with
``moot license authority --out DIR`` (``authority.key``, PKCS#8 PEM, mode 0600, and
``authority.pub``, SubjectPublicKeyInfo PEM). A node trusts the public keys that the
operator puts in its file store and names with the MMP ``license authority <file>``.
An authority is known by its key id: the SHA-256 of the raw 32-byte public key, in hex.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

#: A PEM key file is far smaller than this; anything larger is not one.
MAX_KEY_FILE = 16 * 1024

PRIVATE_NAME = "authority.key"
PUBLIC_NAME = "authority.pub"


class AuthorityError(Exception):
    """A key file that is not an Ed25519 key of the expected kind (the reason is the message)."""


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Authority:
    """A trusted public key and where it came from."""

    public: Ed25519PublicKey
    source: str

    @property
    def key_id(self) -> str:
        return key_id(self.public)


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_KEY_FILE + 1)
    except FileNotFoundError:
        raise AuthorityError(f"key file {path.name} not found") from None
    except OSError as exc:
        raise AuthorityError(f"cannot read key file {path.name}: {exc.strerror}") from None
    if len(data) > MAX_KEY_FILE:
        raise AuthorityError(f"{path.name} is too large to be a key file")
    return data


def load_public(path: Path) -> Authority:
    """An authority's public key from a PEM file."""
    data = _read(path)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise AuthorityError(f"{path.name} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuthorityError(f"{path.name} is not an Ed25519 public key")
    return Authority(key, path.name)


def load_private(path: Path) -> Ed25519PrivateKey:
    """An authority's private key from an unencrypted PKCS#8 PEM file."""
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise AuthorityError(f"{path.name} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuthorityError(f"{path.name} is not an Ed25519 private key")
    return key


def create(out: Path) -> tuple[Path, Path]:
    """Make a new authority key pair in ``out``; refuses to overwrite an existing one.

    Returns (private key path, public key path); the private key file is mode 0600.
    """
    out.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out / PRIVATE_NAME, out / PUBLIC_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise AuthorityError(f"{path} exists; not overwriting an authority key")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    os.chmod(private_path, 0o600)
    public_path.write_bytes(public_pem)
    return private_path, public_path
