"""check_pair and server_ssl_context (handshakes over memory buffers, no sockets)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from moot.pki import PkiError, check_pair, make_selfsigned, server_ssl_context
from moot.pki.csr import build_csr
from moot.pki.keys import generate_key
from moot.pki.names import parse_attributes


@pytest.fixture
def store(tmp_path: Path) -> Path:
    make_selfsigned(tmp_path / "a.key", tmp_path / "a.crt", "localhost", ["127.0.0.1"])
    make_selfsigned(tmp_path / "b.key", tmp_path / "b.crt", "other.example", [], "ecp256")
    (tmp_path / "garbage.crt").write_text("-----BEGIN CERTIFICATE-----\nxx\n")
    return tmp_path


def test_check_pair_accepts_matching_files(store: Path) -> None:
    check_pair(store, "a.key", "a.crt", None)
    check_pair(store, "b.key", "b.crt", "a.crt")


@pytest.mark.parametrize(
    ("key", "crt", "bundle", "message"),
    [
        ("a.key", "b.crt", None, r"key a\.key does not match certificate b\.crt"),
        ("nope.key", "a.crt", None, r"nope\.key not found in the file store"),
        ("a.key", "nope.crt", None, r"nope\.crt not found"),
        ("a.key", "a.crt", "nope.crt", r"nope\.crt not found"),
        ("a.key", "garbage.crt", None, "without its matching END line"),
        ("a.key", "a.crt", "garbage.crt", "without its matching END line"),
        ("a.crt", "a.crt", None, "not a private key"),
        ("a.key", "a.key", None, "not a certificate"),
        ("a.key", "a.crt", "a.key", "not a certificate"),
        ("../a.key", "a.crt", None, "not a file name in the file store"),
        ("a.key", "sub/a.crt", None, "not a file name in the file store"),
    ],
)
def test_check_pair_refuses(store: Path, key: str, crt: str, bundle: str | None,
                            message: str) -> None:
    with pytest.raises(PkiError, match=message):
        check_pair(store, key, crt, bundle)


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, host: str) -> ssl.SSLObject:
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    cli = client.wrap_bio(c_in, c_out, server_hostname=host)
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = 0
        for end, out, peer_in in ((cli, c_out, s_in), (srv, s_out, c_in)):
            try:
                end.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
            peer_in.write(out.read())
        if done == 2:
            return cli
    raise AssertionError("handshake did not finish")


def test_server_context_serves_the_certificate(store: Path) -> None:
    server = server_ssl_context(store / "a.key", store / "a.crt", None)
    assert server.minimum_version == ssl.TLSVersion.TLSv1_2
    client = ssl.create_default_context(cafile=str(store / "a.crt"))
    cli = _handshake(server, client, "localhost")
    assert cli.version() in ("TLSv1.2", "TLSv1.3")
    peer = cli.getpeercert()
    assert peer is not None and peer["subject"] == ((("commonName", "localhost"),),)


def test_server_context_accepts_der_files(tmp_path: Path, store: Path) -> None:
    from moot.pki.material import load_certificates, load_private_key

    cert = load_certificates(store / "a.crt")[0]
    key = load_private_key(store / "a.key")
    (tmp_path / "d.crt").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    (tmp_path / "d.key").write_bytes(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    server = server_ssl_context(tmp_path / "d.key", tmp_path / "d.crt", None)
    client = ssl.create_default_context(cafile=str(store / "a.crt"))
    cli = _handshake(server, client, "127.0.0.1")
    assert cli.getpeercert(binary_form=True) == cert.public_bytes(serialization.Encoding.DER)


def test_server_context_refuses_a_mismatched_pair(store: Path) -> None:
    with pytest.raises(PkiError, match="does not match"):
        server_ssl_context(store / "a.key", store / "b.crt", None)


def test_check_pair_refuses_a_csr_as_certificate(store: Path) -> None:
    csr = build_csr(generate_key("ecp256"), parse_attributes(["CN:x.example"]))
    (store / "x.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(PkiError, match="certificate signing request, not a certificate"):
        check_pair(store, "a.key", "x.csr", None)
