"""Key generation, self-signed certificates, CSRs, descriptions."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from moot.pki import KEY_TYPES, PkiError, generate_key, make_selfsigned
from moot.pki.csr import build_csr, make_csr
from moot.pki.inspect import describe_certificate, describe_csr, describe_key, validity_status
from moot.pki.keys import describe_public_key
from moot.pki.material import load_certificates, load_csr, load_private_key
from moot.pki.names import parse_attributes
from moot.pki.selfsigned import build_selfsigned


@pytest.mark.parametrize(
    ("key_type", "kind", "size"),
    [("rsa2048", rsa.RSAPrivateKey, 2048), ("rsa4096", rsa.RSAPrivateKey, 4096),
     ("ecp256", ec.EllipticCurvePrivateKey, 256)],
)
def test_key_types(
    key_type: str, kind: type[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey], size: int
) -> None:
    key = generate_key(key_type)
    assert isinstance(key, kind)
    assert key.key_size == size


def test_key_type_list_and_unknown_type() -> None:
    assert KEY_TYPES == ("rsa2048", "rsa4096", "ecp256")
    with pytest.raises(PkiError, match="unknown key type 'dsa'"):
        generate_key("dsa")


def test_describe_public_key() -> None:
    assert describe_public_key(generate_key("ecp256").public_key()) == "EC P-256 (secp256r1)"
    assert describe_public_key(generate_key("rsa2048").public_key()) == "RSA 2048 bits"


def test_make_selfsigned_writes_key_0600_and_cert_with_dns_and_ip_sans(tmp_path: Path) -> None:
    key_path, crt_path = tmp_path / "w.key", tmp_path / "w.crt"
    make_selfsigned(key_path, crt_path, "moot.example", ["127.0.0.1", "::1", "alt.example"],
                    key_type="ecp256")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = load_private_key(key_path)
    (cert,) = load_certificates(crt_path)
    assert cert.public_key() == key.public_key()
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "moot.example"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["moot.example", "alt.example"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")
    ]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(cert)
    now = dt.datetime.now(dt.UTC)
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    assert (cert.not_valid_after_utc - now).days >= 364


def test_make_selfsigned_rejects_bad_sans_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="neither a host name nor an IP address"):
        make_selfsigned(tmp_path / "w.key", tmp_path / "w.crt", "x.example", ["bad name"])
    assert list(tmp_path.iterdir()) == []


def test_make_csr_writes_key_and_verifiable_csr(tmp_path: Path) -> None:
    spec = parse_attributes(["CN:example.com", "OU:Accounts UK", "O:My Company", "C:GB",
                             "subjectAltName:www.example.com,10.0.0.1"])
    result = make_csr(tmp_path / "e.key", tmp_path / "e.csr", spec, "rsa2048")
    assert stat.S_IMODE(result.key_path.stat().st_mode) == 0o600
    csr = load_csr(tmp_path / "e.csr")
    assert csr.is_signature_valid
    assert csr.public_key() == load_private_key(tmp_path / "e.key").public_key()
    assert csr.subject.rfc4514_string() == "CN=example.com,OU=Accounts UK,O=My Company,C=GB"
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["example.com", "www.example.com"]


def test_csr_needs_a_name() -> None:
    with pytest.raises(PkiError, match="at least CN"):
        build_csr(generate_key("ecp256"), parse_attributes([]))


def test_descriptions() -> None:
    key = generate_key("ecp256")
    spec = parse_attributes(["CN:d.example"])
    cert = dict(describe_certificate(build_selfsigned(key, spec)))
    assert cert["Subject"] == "CN=d.example"
    assert cert["Issuer"] == "CN=d.example (self-signed)"
    assert cert["Subject alternative names"] == "DNS:d.example"
    assert cert["Public key"] == "EC P-256 (secp256r1)"
    assert cert["Signature algorithm"] == "ecdsa-with-SHA256"
    assert cert["Status"].startswith("valid (")
    assert len(cert["SHA-256 fingerprint"].split(":")) == 32
    csr = dict(describe_csr(build_csr(key, spec)))
    assert csr["Signature"] == "valid"
    assert csr["Public key SHA-256"] == dict(describe_key(key))["Public key SHA-256"]


def test_validity_status_expired_and_future() -> None:
    cert = build_selfsigned(generate_key("ecp256"), parse_attributes(["CN:v.example"]), days=10)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=15)
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    assert validity_status(cert, later).startswith("EXPIRED (")
    assert validity_status(cert, earlier).startswith("not yet valid")
