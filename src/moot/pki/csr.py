"""Certificate signing requests: a new key and a CSR for a CA to sign."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

from moot.pki.errors import PkiError
from moot.pki.files import PUBLIC_MODE, write_atomic
from moot.pki.keys import DEFAULT_KEY_TYPE, SigningKey, generate_key, write_private_key
from moot.pki.names import SubjectSpec


def signature_hash(key: SigningKey) -> hashes.SHA256 | None:
    """SHA-256, except for the Edwards curves, which hash internally."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def build_csr(key: SigningKey, spec: SubjectSpec) -> x509.CertificateSigningRequest:
    if not spec.attributes and not spec.sans:
        raise PkiError(
            "a CSR needs at least CN:<fully qualified domain name> or subjectAltName:<names>"
        )
    builder = x509.CertificateSigningRequestBuilder().subject_name(spec.name())
    san = spec.san_extension()
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(key, signature_hash(key))


@dataclass(frozen=True)
class CsrResult:
    key_path: Path
    csr_path: Path
    csr: x509.CertificateSigningRequest


def make_csr(
    key_path: Path, csr_path: Path, spec: SubjectSpec, key_type: str = DEFAULT_KEY_TYPE
) -> CsrResult:
    """A new key (0600) at ``key_path`` and its CSR at ``csr_path``: both, or neither."""
    key = generate_key(key_type)
    csr = build_csr(key, spec)
    write_private_key(key_path, key)
    try:
        write_atomic(csr_path, csr.public_bytes(serialization.Encoding.PEM), PUBLIC_MODE)
    except BaseException:
        with contextlib.suppress(OSError):
            key_path.unlink()
        raise
    return CsrResult(key_path, csr_path, csr)
