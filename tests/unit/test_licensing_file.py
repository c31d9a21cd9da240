"""Signed licence files: round trip, every refusal, and applying cms.lic on a node."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from moot.licensing import authority as auth
from moot.licensing import node as licensing
from moot.licensing.feature import Feature, Status
from moot.licensing.licensefile import (
    MAX_FILE_SIZE,
    LicenseFile,
    LicenseFileError,
    Refusal,
    UserLimit,
    decode,
    sign,
    verify,
)
from moot.node.context import NodeContext
from tests.helpers import prepare_datadir

TODAY = date(2026, 1, 10)


def make_licence(hosts: tuple[str, ...] = ("host-1",), **features: date) -> LicenseFile:
    return LicenseFile(
        issuer="Example Licensing",
        serial="0001",
        issued=date(2026, 1, 1),
        hosts=hosts,
        features={Feature(k): v for k, v in (features or {"callBridge": date(2027, 6, 30)}).items()},
        personal=UserLimit(10, date(2027, 6, 30)),
        shared=UserLimit(20, date(2027, 6, 30)),
    )


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def trusted(key: Ed25519PrivateKey) -> list[auth.Authority]:
    return [auth.Authority(key.public_key(), "authority.pub")]


def test_round_trip(key: Ed25519PrivateKey, trusted: list[auth.Authority]) -> None:
    original = make_licence(callBridge=date(2027, 6, 30), recording=date(2026, 12, 31))
    text = sign(original, key)
    got = verify(text, trusted, today=TODAY, host_id="host-1")
    assert got.features == original.features
    assert (got.personal, got.shared) == (original.personal, original.shared)
    assert got.authority == auth.key_id(key.public_key())
    assert (got.issuer, got.serial, got.issued, got.hosts) == (
        "Example Licensing", "0001", date(2026, 1, 1), ("host-1",))
    # CRLF line ends and re-wrapped lines (an SFTP client in text mode) do not matter
    assert verify(text.replace("\n", "\r\n"), trusted, today=TODAY, host_id="host-1") == got


def _tamper(text: str, index: int) -> str:
    """Flip one bit of payload byte ``index`` and re-armor it."""
    body = re.search(r"LICENSE-----\n(.*?)\n-----END MOOT LICENSE-----", text, re.S)
    assert body is not None
    raw = bytearray(base64.b64decode("".join(body.group(1).split())))
    raw[index] ^= 0x01
    return text.replace(body.group(1), base64.b64encode(bytes(raw)).decode())


def test_tampered_byte_is_a_bad_signature(key: Ed25519PrivateKey, trusted: list[auth.Authority]) -> None:
    text = sign(make_licence(), key)
    payload = decode(text).payload
    # change the limit 10 -> 11: still valid JSON, so only the signature catches it
    index = payload.index(b'"limit": 10') + len(b'"limit": 1')
    with pytest.raises(LicenseFileError) as exc:
        verify(_tamper(text, index), trusted, today=TODAY, host_id="host-1")
    assert exc.value.reason is Refusal.BAD_SIGNATURE
    assert "signature does not match" in str(exc.value)
    # and a flipped signature byte
    sig_line = text.splitlines()[-2]
    bad = text.replace(sig_line, ("A" if sig_line[0] != "A" else "B") + sig_line[1:])
    with pytest.raises(LicenseFileError) as exc:
        verify(bad, trusted, today=TODAY, host_id="host-1")
    assert exc.value.reason is Refusal.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("case", "reason", "words"),
    [
        ("foreign authority", Refusal.UNKNOWN_AUTHORITY, "not trusted"),
        ("wrong host", Refusal.WRONG_HOST, "not issued for this host (host-1)"),
        ("expired", Refusal.EXPIRED, "ended by 2025-12-31"),
        ("issued in the future", Refusal.NOT_YET_VALID, "after today"),
        ("nobody trusted", Refusal.NO_AUTHORITY, "no licence authority"),
    ],
)
def test_refusals(key: Ed25519PrivateKey, trusted: list[auth.Authority],
                  case: str, reason: Refusal, words: str) -> None:
    licence = make_licence()
    signer, keys = key, trusted
    if case == "foreign authority":
        signer = Ed25519PrivateKey.generate()
    elif case == "wrong host":
        licence = make_licence(hosts=("host-2", "host-3"))
    elif case == "expired":
        licence = LicenseFile(issuer="x", serial="2", issued=date(2025, 1, 1), hosts=("host-1",),
                              features={Feature.CALL_BRIDGE: date(2025, 12, 31)})
    elif case == "issued in the future":
        licence = LicenseFile(**{**licence.__dict__, "issued": TODAY + timedelta(days=2)})
    elif case == "nobody trusted":
        keys = []
    with pytest.raises(LicenseFileError) as exc:
        verify(sign(licence, signer), keys, today=TODAY, host_id="host-1")
    assert exc.value.reason is reason
    assert words in str(exc.value)
    assert str(exc.value).startswith(str(reason))


def _armor(payload: dict[str, object] | bytes, key: Ed25519PrivateKey) -> str:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return (f"-----BEGIN MOOT LICENSE-----\n{base64.b64encode(data).decode()}\n"
            "-----END MOOT LICENSE-----\n-----BEGIN MOOT LICENSE SIGNATURE-----\n"
            f"{base64.b64encode(key.sign(data)).decode()}\n-----END MOOT LICENSE SIGNATURE-----\n")


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda p: p.pop("hosts"), "missing hosts"),
        (lambda p: p.update(extra=1), "unknown field extra"),
        (lambda p: p.update(format="moot-license/9"), "format"),
        (lambda p: p.update(features={"teleport": "2027-01-01"}), "unknown feature 'teleport'"),
        (lambda p: p.update(features={"callBridge": "2027-13-01"}), "bad date"),
        (lambda p: p.update(features={"callBridge": "27-1-1"}), "bad date"),
        (lambda p: p.update(hosts=[]), "hosts must be"),
        (lambda p: p.update(personal={"limit": -1, "expiry": "2027-01-01"}), "personal limit"),
        (lambda p: p.update(shared={"limit": True, "expiry": "2027-01-01"}), "shared limit"),
        (lambda p: p.update(issuer="x" * 300), "issuer must be"),
        (lambda p: p.update(serial="a\nb"), "serial must be"),
    ],
)
def test_malformed_payloads_are_named(key: Ed25519PrivateKey, trusted: list[auth.Authority],
                                      mutate: object, words: str) -> None:
    payload = make_licence().to_payload()
    payload["authority"] = auth.key_id(key.public_key())
    mutate(payload)  # type: ignore[operator]
    with pytest.raises(LicenseFileError) as exc:
        verify(_armor(payload, key), trusted, today=TODAY, host_id="host-1")
    assert exc.value.reason is Refusal.MALFORMED
    assert words in str(exc.value)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "want one MOOT LICENSE block"),
        (b"hello world", "want one MOOT LICENSE block"),
        ("caf\u00e9".encode(), "not an ASCII text file"),
        (b"x" * (MAX_FILE_SIZE + 1), "larger than"),
        (b"-----BEGIN MOOT LICENSE-----\n!!!\n-----END MOOT LICENSE-----\n"
         b"-----BEGIN MOOT LICENSE SIGNATURE-----\nAAAA\n-----END MOOT LICENSE SIGNATURE-----",
         "not valid base64"),
        (b"-----BEGIN MOOT LICENSE-----\nAAAA\n-----END MOOT LICENSE-----\n"
         b"-----BEGIN MOOT LICENSE SIGNATURE-----\nAAAA\n-----END MOOT LICENSE SIGNATURE-----",
         "not 64 bytes"),
    ],
)
def test_malformed_files(trusted: list[auth.Authority], data: bytes, words: str) -> None:
    with pytest.raises(LicenseFileError) as exc:
        verify(data, trusted, today=TODAY)
    assert exc.value.reason is Refusal.MALFORMED and words in str(exc.value)


def test_non_json_and_deep_json_payloads(key: Ed25519PrivateKey, trusted: list[auth.Authority]) -> None:
    for data in (b"not json", b"[" * 100_000 + b"]" * 100_000, b"[1, 2]"):
        if len(data) > MAX_FILE_SIZE:
            data = data[: 40_000]
        with pytest.raises(LicenseFileError) as exc:
            verify(_armor(data, key), trusted, today=TODAY)
        assert exc.value.reason is Refusal.MALFORMED


# --- authority key files -----------------------------------------------------------------


def test_authority_files(tmp_path: Path) -> None:
    private, public = auth.create(tmp_path / "ca")
    assert private.stat().st_mode & 0o777 == 0o600
    key = auth.load_private(private)
    assert auth.load_public(public).key_id == auth.key_id(key.public_key())
    with pytest.raises(auth.AuthorityError, match="exists"):
        auth.create(tmp_path / "ca")
    with pytest.raises(auth.AuthorityError, match="not a PEM public key"):
        auth.load_public(private)
    with pytest.raises(auth.AuthorityError, match="not found"):
        auth.load_public(tmp_path / "nope.pub")
    (tmp_path / "big.pub").write_bytes(b"x" * (auth.MAX_KEY_FILE + 1))
    with pytest.raises(auth.AuthorityError, match="too large"):
        auth.load_public(tmp_path / "big.pub")


# --- applying cms.lic on a node ----------------------------------------------------------


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeContext]:
    ctx = NodeContext(prepare_datadir(tmp_path / "n"))
    yield ctx
    ctx.close()


def _install(node: NodeContext, key: Ed25519PrivateKey, licence: LicenseFile | None = None) -> None:
    licence = licence or make_licence(hosts=(node.node_id,))
    node.datadir.file("cms.lic").write_text(sign(licence, key))


def _trust(node: NodeContext, key: Ed25519PrivateKey, name: str = "authority.pub") -> None:
    from cryptography.hazmat.primitives import serialization

    node.datadir.file(name).write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    licensing.add_authority(node, name)


def test_load_applies_and_refusals_keep_the_previous_state(node: NodeContext, key: Ed25519PrivateKey) -> None:
    today = datetime.now(UTC).date()
    expiry = today + timedelta(days=400)
    _trust(node, key)
    _install(node, key, make_licence((node.node_id,), callBridge=expiry))
    result = licensing.load(node, today)
    assert result.refused is None and result.licence is not None
    assert "applied" in result.message
    state = licensing.current(node, today)
    assert state.features[Feature.CALL_BRIDGE].status is Status.ACTIVATED
    assert state.features[Feature.CALL_BRIDGE].expiry == expiry
    assert licensing.notices(node) == ["Trusted license authorities: authority.pub"]

    # a foreign file replaces cms.lic: refused, the applied licence stays
    _install(node, Ed25519PrivateKey.generate(), make_licence((node.node_id,)))
    assert any("not applied yet" in n for n in licensing.notices(node))
    result = licensing.load(node, today)
    assert result.refused is not None and result.refused.reason is Refusal.UNKNOWN_AUTHORITY
    assert "previous license stays" in result.message
    assert licensing.current(node, today).features[Feature.CALL_BRIDGE].expiry == expiry
    notes = licensing.notices(node)
    assert any("refused" in n and "unknown authority" in n for n in notes)
    assert not any("not applied yet" in n for n in notes)

    # another host's file: refused too
    _install(node, key, make_licence(("someone-else",)))
    assert licensing.load(node, today).refused.reason is Refusal.WRONG_HOST  # type: ignore[union-attr]
    assert licensing.current(node, today).call_bridge_licensed

    # garbage
    node.datadir.file("cms.lic").write_bytes(b"\x00\xff garbage")
    assert licensing.load(node, today).refused.reason is Refusal.MALFORMED  # type: ignore[union-attr]
    assert licensing.current(node, today).call_bridge_licensed

    # a good file again clears the refusal
    _install(node, key, make_licence((node.node_id,), callBridge=expiry + timedelta(days=1)))
    assert licensing.load(node, today).refused is None
    assert not any("refused" in n for n in licensing.notices(node))

    # no cms.lic: no licence (trial, or unlicensed)
    node.datadir.file("cms.lic").unlink()
    assert any("no longer in the file store" in n for n in licensing.notices(node))
    assert licensing.load(node, today).licence is None
    assert not licensing.current(node, today).call_bridge_licensed


def test_load_without_a_usable_authority_says_why(node: NodeContext, key: Ed25519PrivateKey) -> None:
    _install(node, key)
    result = licensing.load(node)
    assert result.refused is not None and result.refused.reason is Refusal.NO_AUTHORITY
    _trust(node, key)
    node.datadir.file("authority.pub").unlink()
    result = licensing.load(node)
    assert result.refused is not None and "authority.pub not found" in str(result.refused)


def test_add_authority_checks_the_file(node: NodeContext) -> None:
    node.datadir.file("junk.pub").write_text("not a key")
    with pytest.raises(auth.AuthorityError, match="not a PEM public key"):
        licensing.add_authority(node, "junk.pub")
    with pytest.raises(auth.AuthorityError, match="invalid file name"):
        licensing.add_authority(node, "../etc/passwd")
    assert node.config.get(licensing.LICENSE_AUTHORITIES) == []
