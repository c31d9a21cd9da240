"""Private keys: generation (RSA 2048/4096, EC P-256), description, storage."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)

from moot.pki.errors import PkiError
from moot.pki.files import KEY_MODE, write_atomic

#: The key types ``pki selfsigned`` and ``pki csr`` can make; the first is the default.
KEY_TYPES = ("rsa2048", "rsa4096", "ecp256")
DEFAULT_KEY_TYPE = KEY_TYPES[0]

#: Private key types that can sign certificates, CSRs and TLS handshakes.
SigningKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | dsa.DSAPrivateKey
)


def generate_key(
    key_type: str = DEFAULT_KEY_TYPE,
) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if key_type == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "rsa4096":
        return rsa.generate_private_key(public_exponent=65537, key_size=4096)
    if key_type == "ecp256":
        return ec.generate_private_key(ec.SECP256R1())
    raise PkiError(f"unknown key type {key_type!r}; use one of {', '.join(KEY_TYPES)}")


def private_key_pem(key: PrivateKeyTypes) -> bytes:
    """PKCS#8 PEM, unencrypted (the file store is the node's protected storage)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_key(path: Path, key: PrivateKeyTypes) -> None:
    """Write ``key`` to ``path``, mode 0600, atomically."""
    write_atomic(path, private_key_pem(key), KEY_MODE)


def public_key_der(key: PublicKeyTypes | CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def same_public_key(
    a: PublicKeyTypes | CertificatePublicKeyTypes, b: PublicKeyTypes | CertificatePublicKeyTypes
) -> bool:
    return public_key_der(a) == public_key_der(b)


def public_key_fingerprint(key: PublicKeyTypes | CertificatePublicKeyTypes) -> str:
    """SHA-256 of the SubjectPublicKeyInfo, as colon-separated hex."""
    return colon_hex(hashlib.sha256(public_key_der(key)).digest())


def colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02X}" for b in digest)


def describe_public_key(key: PublicKeyTypes | CertificatePublicKeyTypes) -> str:
    """E.g. ``RSA 2048 bits`` or ``EC P-256 (secp256r1)``."""
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size} bits"
    if isinstance(key, ec.EllipticCurvePublicKey):
        nist = _NIST_CURVES.get(key.curve.name)
        return f"EC {nist} ({key.curve.name})" if nist else f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size} bits"
    return type(key).__name__


_NIST_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
