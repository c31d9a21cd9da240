"""Reading key material: PEM (any number of blocks) or DER, told apart by content."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from moot.pki.errors import PkiError
from moot.pki.files import read_bytes

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL
)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE"}
_CSR_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}
_KEY_LABELS = {b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"DSA PRIVATE KEY"}
_ENCRYPTED_KEY_LABELS = {b"ENCRYPTED PRIVATE KEY"}
#: Blocks that may sit next to key material and carry none themselves.
_IGNORED_LABELS = {b"EC PARAMETERS", b"PUBLIC KEY", b"DH PARAMETERS", b"X509 CRL"}


@dataclass
class Material:
    """What one file holds."""

    name: str
    certificates: list[x509.Certificate] = field(default_factory=list)
    csrs: list[x509.CertificateSigningRequest] = field(default_factory=list)
    keys: list[PrivateKeyTypes] = field(default_factory=list)
    encrypted_keys: int = 0

    @property
    def empty(self) -> bool:
        return not (self.certificates or self.csrs or self.keys or self.encrypted_keys)

    @property
    def kind(self) -> str:
        """``key``, ``certificate``, ``bundle``, ``csr``, or a combination joined by ``+``."""
        parts: list[str] = []
        if self.keys or self.encrypted_keys:
            parts.append("key")
        if len(self.certificates) == 1:
            parts.append("certificate")
        elif self.certificates:
            parts.append("bundle")
        if self.csrs:
            parts.append("csr")
        return "+".join(parts) or "none"


def parse_material(data: bytes, name: str) -> Material:
    """Everything in ``data``; a PkiError when it is neither clean PEM nor DER material."""
    if b"-----BEGIN " in data:
        return _parse_pem(data, name)
    material = _parse_der(data, name)
    if material.empty:
        raise PkiError(
            f"{name} is not a PEM or DER key, certificate, bundle or CSR; "
            "upload the file as the CA or tool produced it"
        )
    return material


def _parse_pem(data: bytes, name: str) -> Material:
    material = Material(name)
    blocks = list(_PEM_BLOCK.finditer(data))
    if data.count(b"-----BEGIN ") != len(blocks):
        raise PkiError(
            f"{name} has a PEM block without its matching END line; "
            "the file is truncated or was edited by hand, upload it again"
        )
    for number, block in enumerate(blocks, start=1):
        label = block.group(1)
        text = block.group(0)
        what = f"{name}: PEM block {number} ({label.decode()})"
        if label in _IGNORED_LABELS:
            continue
        if label in _ENCRYPTED_KEY_LABELS:
            _check_base64(block.group(2), what)
            material.encrypted_keys += 1
            continue
        try:
            if label in _CERT_LABELS:
                der = _check_base64(block.group(2), what)
                material.certificates.append(x509.load_der_x509_certificate(der))
            elif label in _CSR_LABELS:
                der = _check_base64(block.group(2), what)
                material.csrs.append(x509.load_der_x509_csr(der))
            elif label in _KEY_LABELS:
                if b"Proc-Type: 4,ENCRYPTED" in text:
                    material.encrypted_keys += 1
                    continue
                _check_base64(block.group(2), what)
                material.keys.append(serialization.load_pem_private_key(text, password=None))
            else:
                raise PkiError(
                    f"{what} is not a key, certificate or CSR; remove that block from the file"
                )
        except PkiError:
            raise
        except TypeError:
            material.encrypted_keys += 1
        except Exception as exc:
            raise PkiError(f"{what} is damaged ({_reason(exc)}); upload the file again") from None
    if material.empty:
        raise PkiError(f"{name} holds no key, certificate or CSR")
    return material


def _check_base64(body: bytes, what: str) -> bytes:
    lines = [ln.strip() for ln in body.splitlines()]
    payload = b"".join(ln for ln in lines if ln and b":" not in ln)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise PkiError(f"{what} is not valid base64; upload the file again") from None


def _parse_der(data: bytes, name: str) -> Material:
    material = Material(name)
    try:
        material.certificates.append(x509.load_der_x509_certificate(data))
        return material
    except ValueError:
        pass
    try:
        material.csrs.append(x509.load_der_x509_csr(data))
        return material
    except ValueError:
        pass
    try:
        material.keys.append(serialization.load_der_private_key(data, password=None))
    except TypeError:
        material.encrypted_keys += 1
    except Exception:  # any parse failure means: not a DER key either
        pass
    return material


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_material(path: Path) -> Material:
    return parse_material(read_bytes(path), path.name)


def load_certificates(path: Path) -> list[x509.Certificate]:
    """The certificates in ``path`` (one, or a bundle), in file order."""
    material = read_material(path)
    if not material.certificates:
        raise PkiError(
            f"{path.name} holds a {_kind_text(material)}, not a certificate; "
            "give the certificate file"
        )
    return material.certificates


def load_private_key(path: Path) -> PrivateKeyTypes:
    """The one unencrypted private key in ``path``."""
    material = read_material(path)
    if material.encrypted_keys and not material.keys:
        raise PkiError(
            f"{path.name} is protected by a passphrase; upload the key without one "
            "(openssl pkey -in KEY -out PLAIN.key)"
        )
    if not material.keys:
        raise PkiError(
            f"{path.name} holds a {_kind_text(material)}, not a private key; give the key file"
        )
    if len(material.keys) > 1:
        raise PkiError(f"{path.name} holds {len(material.keys)} private keys; keep only one")
    return material.keys[0]


def load_csr(path: Path) -> x509.CertificateSigningRequest:
    material = read_material(path)
    if not material.csrs:
        raise PkiError(
            f"{path.name} holds a {_kind_text(material)}, not a certificate signing request"
        )
    return material.csrs[0]


_KIND_TEXT = {
    "key": "private key",
    "certificate": "certificate",
    "bundle": "certificate bundle",
    "csr": "certificate signing request",
}


def _kind_text(material: Material) -> str:
    return " and ".join(_KIND_TEXT.get(k, k) for k in material.kind.split("+"))
