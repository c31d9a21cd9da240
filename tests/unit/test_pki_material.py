"""Reading key material by content, file-store names, atomic writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from moot.pki.catalog import catalog, holders_of
from moot.pki.csr import build_csr
from moot.pki.errors import PkiError
from moot.pki.files import MAX_MATERIAL_BYTES, store_file, write_atomic
from moot.pki.keys import generate_key, write_private_key
from moot.pki.material import load_certificates, load_csr, load_private_key, parse_material
from moot.pki.names import parse_attributes
from moot.pki.selfsigned import build_selfsigned

KEY = ec.generate_private_key(ec.SECP256R1())
SPEC = parse_attributes(["CN:a.example"])
CERT = build_selfsigned(KEY, SPEC)
CSR = build_csr(KEY, SPEC)
CERT_PEM = CERT.public_bytes(serialization.Encoding.PEM)
KEY_PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


def test_kinds_are_told_apart_by_content() -> None:
    assert parse_material(KEY_PEM, "k").kind == "key"
    assert parse_material(CERT_PEM, "c").kind == "certificate"
    assert parse_material(CERT_PEM * 3, "b").kind == "bundle"
    assert parse_material(CSR.public_bytes(serialization.Encoding.PEM), "r").kind == "csr"
    assert parse_material(KEY_PEM + CERT_PEM, "kc").kind == "key+certificate"


def test_der_files_are_read_too() -> None:
    der_cert = CERT.public_bytes(serialization.Encoding.DER)
    der_key = KEY.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert parse_material(der_cert, "c.der").certificates == [CERT]
    assert parse_material(CSR.public_bytes(serialization.Encoding.DER), "r").csrs == [CSR]
    assert parse_material(der_key, "k.der").kind == "key"


def test_traditional_rsa_key_with_ec_parameters_block_ignored() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    legacy = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    material = parse_material(b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
                              b"-----END EC PARAMETERS-----\n" + legacy, "k")
    assert material.kind == "key"


def test_encrypted_keys_are_recognised_and_refused_with_advice(tmp_path: Path) -> None:
    encrypted = KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    assert parse_material(encrypted, "k").encrypted_keys == 1
    (tmp_path / "enc.key").write_bytes(encrypted)
    with pytest.raises(PkiError, match=r"protected by a passphrase.*openssl pkey"):
        load_private_key(tmp_path / "enc.key")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello world\n", "not a PEM or DER key, certificate"),
        (b"", "not a PEM or DER key"),
        (b"-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n",
         "not valid base64"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "is damaged"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "is damaged"),
        (CERT_PEM[:-40], "without its matching END line"),
        (b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", "not a key, certificate or CSR"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "holds no key"),
    ],
)
def test_garbage_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(PkiError, match=message):
        parse_material(data, "f")


def test_loaders_say_what_the_file_is_instead(tmp_path: Path) -> None:
    (tmp_path / "a.key").write_bytes(KEY_PEM)
    (tmp_path / "a.crt").write_bytes(CERT_PEM)
    with pytest.raises(PkiError, match=r"a\.key holds a private key, not a certificate"):
        load_certificates(tmp_path / "a.key")
    with pytest.raises(PkiError, match=r"a\.crt holds a certificate, not a private key"):
        load_private_key(tmp_path / "a.crt")
    with pytest.raises(PkiError, match="not a certificate signing request"):
        load_csr(tmp_path / "a.crt")
    with pytest.raises(PkiError, match=r"missing\.crt not found in the file store"):
        load_certificates(tmp_path / "missing.crt")
    (tmp_path / "two.key").write_bytes(KEY_PEM * 2)
    with pytest.raises(PkiError, match="2 private keys"):
        load_private_key(tmp_path / "two.key")


def test_huge_files_and_symlinks_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.crt"
    big.write_bytes(b"\0" * (MAX_MATERIAL_BYTES + 1))
    with pytest.raises(PkiError, match="too large"):
        load_certificates(big)
    (tmp_path / "real.crt").write_bytes(CERT_PEM)
    (tmp_path / "link.crt").symlink_to(tmp_path / "real.crt")
    with pytest.raises(PkiError, match="symbolic link"):
        load_certificates(tmp_path / "link.crt")


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b", "x\0"])
def test_store_file_accepts_plain_names_only(tmp_path: Path, name: str) -> None:
    with pytest.raises(PkiError, match="not a file name in the file store"):
        store_file(tmp_path, name)


def test_store_file_plain_name(tmp_path: Path) -> None:
    assert store_file(tmp_path, "webadmin.crt") == tmp_path / "webadmin.crt"


def test_write_atomic_sets_mode_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "f.key"
    old = os.umask(0)
    try:
        write_atomic(target, b"one", 0o600)
        write_atomic(target, b"two", 0o600)
    finally:
        os.umask(old)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.key"]


def test_write_private_key_is_0600_pkcs8(tmp_path: Path) -> None:
    key = generate_key("ecp256")
    write_private_key(tmp_path / "k.key", key)
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    assert (tmp_path / "k.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_private_key(tmp_path / "k.key").public_key() == key.public_key()


def test_catalog_lists_material_only_and_finds_holders(tmp_path: Path) -> None:
    (tmp_path / "a.key").write_bytes(KEY_PEM)
    (tmp_path / "a.pem").write_bytes(CERT_PEM)
    (tmp_path / "notes.txt").write_text("not a cert")
    (tmp_path / "snap.bak").write_bytes(os.urandom(64))
    (tmp_path / ".a.key.tmp").write_bytes(KEY_PEM)
    (tmp_path / "dir").mkdir()
    assert [(e.name, e.material.kind) for e in catalog(tmp_path)] == [
        ("a.key", "key"),
        ("a.pem", "certificate"),
    ]
    assert holders_of(tmp_path, KEY.public_key(), exclude="a.key") == ["a.pem"]
    assert catalog(tmp_path / "nowhere") == []
