"""Human-readable descriptions of certificates, CSRs and keys (``pki inspect``)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from moot.pki.keys import colon_hex, describe_public_key, public_key_fingerprint
from moot.pki.names import show_general_name, show_name

Rows = list[tuple[str, str]]


def show_time(when: dt.datetime) -> str:
    """The MMP's date style (``2024-Jan-05``) with the time in UTC."""
    return when.astimezone(dt.UTC).strftime("%Y-%b-%d %H:%M:%S UTC")


def validity_status(cert: x509.Certificate, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    if now < cert.not_valid_before_utc:
        return f"not yet valid (valid from {show_time(cert.not_valid_before_utc)})"
    if now > cert.not_valid_after_utc:
        days = (now - cert.not_valid_after_utc).days
        return f"EXPIRED ({days} days ago)"
    days = (cert.not_valid_after_utc - now).days
    return f"valid ({days} days remain)"


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:
        return False
    return True


def _sans(extensions: x509.Extensions) -> str:
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "none"
    return ", ".join(show_general_name(n) for n in san) or "none"


def _basic_constraints(cert: x509.Certificate) -> str:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "no (no basic constraints)"
    if not bc.ca:
        return "no"
    return "yes" if bc.path_length is None else f"yes (path length {bc.path_length})"


def _signature_algorithm(obj: x509.Certificate | x509.CertificateSigningRequest) -> str:
    oid = obj.signature_algorithm_oid
    name = getattr(oid, "_name", None)  # cryptography's registry of well-known OIDs
    return name if isinstance(name, str) and name != "Unknown OID" else oid.dotted_string


def describe_certificate(cert: x509.Certificate, now: dt.datetime | None = None) -> Rows:
    return [
        ("Subject", show_name(cert.subject)),
        ("Issuer", show_name(cert.issuer) + (" (self-signed)" if is_self_signed(cert) else "")),
        ("Serial number", f"{cert.serial_number:X}"),
        ("Not before", show_time(cert.not_valid_before_utc)),
        ("Not after", show_time(cert.not_valid_after_utc)),
        ("Status", validity_status(cert, now)),
        ("Subject alternative names", _sans(cert.extensions)),
        ("Public key", describe_public_key(cert.public_key())),
        ("Signature algorithm", _signature_algorithm(cert)),
        ("CA", _basic_constraints(cert)),
        ("SHA-256 fingerprint", colon_hex(cert.fingerprint(hashes.SHA256()))),
    ]


def describe_csr(csr: x509.CertificateSigningRequest) -> Rows:
    return [
        ("Subject", show_name(csr.subject)),
        ("Subject alternative names", _sans(csr.extensions)),
        ("Public key", describe_public_key(csr.public_key())),
        ("Signature algorithm", _signature_algorithm(csr)),
        ("Signature", "valid" if csr.is_signature_valid else "INVALID (the CSR was altered)"),
        ("Public key SHA-256", public_key_fingerprint(csr.public_key())),
    ]


def describe_key(key: PrivateKeyTypes) -> Rows:
    public = key.public_key()
    return [
        ("Type", f"private key, {describe_public_key(public)}"),
        ("Public key SHA-256", public_key_fingerprint(public)),
    ]
