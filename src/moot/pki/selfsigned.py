"""Self-signed certificates: a new key and a certificate signed by itself."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from moot.pki.csr import signature_hash
from moot.pki.files import PUBLIC_MODE, write_atomic
from moot.pki.keys import DEFAULT_KEY_TYPE, SigningKey, generate_key, write_private_key
from moot.pki.names import SubjectSpec, parse_attributes, parse_san

DEFAULT_DAYS = 365
#: Back-dating tolerates clocks a little behind ours.
CLOCK_SKEW = dt.timedelta(minutes=5)


def build_selfsigned(
    key: SigningKey, spec: SubjectSpec, days: int = DEFAULT_DAYS
) -> x509.Certificate:
    """A leaf certificate for TLS servers and clients (SIP uses both ends), signed by ``key``."""
    now = dt.datetime.now(dt.UTC)
    name = spec.name()
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    san = spec.san_extension()
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(key, signature_hash(key))


def write_selfsigned(
    key_path: Path,
    crt_path: Path,
    spec: SubjectSpec,
    key_type: str = DEFAULT_KEY_TYPE,
    days: int = DEFAULT_DAYS,
) -> x509.Certificate:
    """A new key (0600) and its self-signed certificate: both files, or neither."""
    key = generate_key(key_type)
    cert = build_selfsigned(key, spec, days)
    write_private_key(key_path, key)
    try:
        write_atomic(crt_path, cert.public_bytes(serialization.Encoding.PEM), PUBLIC_MODE)
    except BaseException:
        with contextlib.suppress(OSError):
            key_path.unlink()
        raise
    return cert


def make_selfsigned(
    key_path: Path,
    crt_path: Path,
    common_name: str,
    sans: list[str],
    key_type: str = DEFAULT_KEY_TYPE,
) -> None:
    """Write a new key (0600) and a self-signed certificate for ``common_name``.

    ``sans`` are DNS names and IP addresses; the common name is added to them when it is
    a host name or an address.
    """
    spec = parse_attributes([f"CN:{common_name}"])
    extra = [parse_san(s) for s in sans]
    merged = list(spec.sans) + [n for n in extra if n not in spec.sans]
    write_selfsigned(key_path, crt_path, SubjectSpec(spec.attributes, tuple(merged)), key_type)
