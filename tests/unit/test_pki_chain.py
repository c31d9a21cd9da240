"""Chain verification: signatures, validity, CA constraints, completeness."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from moot.pki.chain import verify_chain

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)


@dataclass
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def issue(
    cn: str,
    issuer: Issued | None = None,
    *,
    ca: bool = True,
    path_length: int | None = None,
    key_cert_sign: bool = True,
    not_before: dt.datetime = NOW - DAY,
    not_after: dt.datetime = NOW + 30 * DAY,
    issuer_name: str | None = None,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer_key = issuer.key if issuer else key
    signer_name = issuer.cert.subject if issuer else name
    if issuer_name is not None:
        signer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(signer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, key_cert_sign, True, False, False),
            critical=True,
        )
    return Issued(key, builder.sign(signer_key, hashes.SHA256()))


ROOT = issue("Root")
INTER = issue("Intermediate", ROOT, path_length=0)
LEAF = issue("leaf.example", INTER, ca=False)


def test_full_chain_in_any_order_verifies() -> None:
    report = verify_chain(LEAF.cert, [ROOT.cert, INTER.cert])
    assert report.ok, report.all_problems()
    assert [k.subject for k in report.links] == ["CN=leaf.example", "CN=Intermediate", "CN=Root"]
    assert report.links[-1].self_signed


def test_self_signed_alone_verifies() -> None:
    report = verify_chain(ROOT.cert, [])
    assert report.ok and len(report.links) == 1


def test_missing_root_is_an_incomplete_chain() -> None:
    report = verify_chain(LEAF.cert, [INTER.cert])
    assert not report.ok and not report.complete
    assert "incomplete chain: no certificate for the issuer CN=Root" in report.problems[0]


def test_missing_intermediate() -> None:
    report = verify_chain(LEAF.cert, [ROOT.cert])
    assert not report.ok
    assert "issuer CN=Intermediate" in report.problems[0]


def test_impostor_ca_of_the_same_name_fails_the_signature() -> None:
    impostor = issue("Intermediate", ROOT)
    report = verify_chain(LEAF.cert, [impostor.cert, ROOT.cert])
    assert not report.ok
    assert "signature does not verify" in report.links[0].problems[0]


def test_right_ca_is_picked_among_same_named_ones() -> None:
    impostor = issue("Intermediate", ROOT)
    assert verify_chain(LEAF.cert, [impostor.cert, INTER.cert, ROOT.cert]).ok


def test_expired_and_not_yet_valid_links() -> None:
    old_inter = issue("Old", ROOT, not_before=NOW - 60 * DAY, not_after=NOW - 2 * DAY)
    leaf = issue("l.example", old_inter, ca=False)
    report = verify_chain(leaf.cert, [old_inter.cert, ROOT.cert])
    assert not report.ok
    assert report.links[1].problems[0].startswith("expired on ")
    future = issue("f.example", INTER, ca=False, not_before=NOW + DAY)
    problems = verify_chain(future.cert, [INTER.cert, ROOT.cert]).links[0].problems
    assert problems[0].startswith("not valid before ")


def test_issuer_that_is_not_a_ca() -> None:
    not_ca = issue("Not a CA", ROOT, ca=False)
    leaf = issue("l.example", not_ca, ca=False)
    report = verify_chain(leaf.cert, [not_ca.cert, ROOT.cert])
    assert "is not a CA" in report.links[0].problems[0]


def test_issuer_without_key_cert_sign() -> None:
    weak = issue("Weak", ROOT, key_cert_sign=False)
    leaf = issue("l.example", weak, ca=False)
    report = verify_chain(leaf.cert, [weak.cert, ROOT.cert])
    assert "may not sign certificates" in report.links[0].problems[0]


def test_path_length_constraint() -> None:
    sub = issue("Sub", INTER)  # INTER allows no CA below it
    leaf = issue("l.example", sub, ca=False)
    report = verify_chain(leaf.cert, [sub.cert, INTER.cert, ROOT.cert])
    assert any("allows only 0 CAs below it" in p for p in report.links[1].problems)


def test_fake_self_signed() -> None:
    fake = issue("Root", ROOT, issuer_name="Root")  # subject == issuer, signed by another key
    report = verify_chain(fake.cert, [])
    assert not report.ok
    assert "claims to be self-signed" in report.links[0].problems[0]


def test_self_issued_certificate_from_a_rolled_over_root_verifies() -> None:
    rolled = issue("Root", ROOT, issuer_name="Root")
    assert verify_chain(rolled.cert, [ROOT.cert]).ok
