"""STUN codec: RFC 5769 test vectors, round trips, strict parsing of bad input."""

from __future__ import annotations

import struct

import pytest

from moot.turn.stun import (
    Attr,
    Class,
    Message,
    Method,
    StunError,
    encode_channel_data,
    framed_length,
    long_term_key,
    parse,
    parse_channel_data,
    split_type,
)

PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"

# RFC 5769 section 2.1: sample request (SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MI, FP).
REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e207465737420636c69656e74"
    "002400046e0001ff80290008932ff9b151263b36"
    "000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
    "80280004e57a3bcf"
)
# Section 2.2: sample IPv4 response.
RESPONSE_V4 = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b74657374207665" "63746f7220"
    "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96"
)
# Section 2.4: request with long-term credentials (no FINGERPRINT).
REQUEST_LONG_TERM = bytes.fromhex(
    "000100602112a44278ad3433c6ad72c029da412e"
    "00060012e3839ee38388e383aae38383e382afe382b90000"
    "0015001c662f2f3439396b39353464364f4c33346f4c39465354767936347341"
    "0014000b6578616d706c652e6f726700"
    "00080014f67024656dd64a3e02b8e0712e85c9a28ca89666"
)


def test_rfc5769_request_integrity_and_fingerprint() -> None:
    msg = parse(REQUEST)  # parse checks FINGERPRINT (CRC32 ^ 0x5354554e)
    assert (msg.method, msg.cls) == (Method.BINDING, Class.REQUEST)
    assert msg.get(Attr.SOFTWARE) == "STUN test client"
    assert msg.get(Attr.USERNAME) == "evtj:h6vY"
    assert msg.get(Attr.PRIORITY) == 0x6E0001FF
    assert msg.get(Attr.ICE_CONTROLLED) == 0x932FF9B151263B36
    assert msg.get(Attr.FINGERPRINT) == 0xE57A3BCF
    assert msg.check_integrity(PASSWORD)
    assert not msg.check_integrity(b"VOkJxbRl1RmTxUk/WvJxBu")


def test_rfc5769_ipv4_response() -> None:
    msg = parse(RESPONSE_V4)
    assert (msg.method, msg.cls) == (Method.BINDING, Class.SUCCESS)
    assert msg.get(Attr.XOR_MAPPED_ADDRESS) == ("192.0.2.1", 32853)
    assert msg.get(Attr.SOFTWARE) == "test vector"
    assert msg.check_integrity(PASSWORD)


def test_rfc5769_response_encoded_byte_exact() -> None:
    # The vectors pad with spaces (any padding is valid): with the same padding,
    # our encoder reproduces them byte for byte, MESSAGE-INTEGRITY and FINGERPRINT included.
    msg = Message(Method.BINDING, Class.SUCCESS, RESPONSE_V4[8:20], {
        Attr.SOFTWARE: "test vector",
        Attr.XOR_MAPPED_ADDRESS: ("192.0.2.1", 32853),
    })
    assert msg.encode(PASSWORD, fingerprint=True, padding=0x20) == RESPONSE_V4


def test_rfc5769_request_encoded_byte_exact() -> None:
    msg = Message(Method.BINDING, Class.REQUEST, REQUEST[8:20], {
        Attr.SOFTWARE: "STUN test client",
        Attr.PRIORITY: 0x6E0001FF,
        Attr.ICE_CONTROLLED: 0x932FF9B151263B36,
        Attr.USERNAME: "evtj:h6vY",
    })
    assert msg.encode(PASSWORD, fingerprint=True, padding=0x20) == REQUEST
    zero_padded = msg.encode(PASSWORD, fingerprint=True)
    assert zero_padded != REQUEST and parse(zero_padded).check_integrity(PASSWORD)


def test_rfc5769_long_term_credentials() -> None:
    msg = parse(REQUEST_LONG_TERM)
    username = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"
    assert msg.get(Attr.USERNAME) == username
    assert msg.get(Attr.REALM) == "example.org"
    assert msg.get(Attr.NONCE) == "f//499k954d6OL34oL9FSTvy64sA"
    assert msg.check_integrity(long_term_key(username, "example.org", "TheMatrIX"))
    assert not msg.check_integrity(long_term_key(username, "example.org", "TheMatrix"))


def test_round_trip_turn_attributes() -> None:
    msg = Message(Method.CREATE_PERMISSION, Class.REQUEST, attributes={
        Attr.XOR_PEER_ADDRESS: ("203.0.113.5", 4000),
        Attr.CHANNEL_NUMBER: 0x4001,
        Attr.LIFETIME: 600,
        Attr.REQUESTED_TRANSPORT: 17,
        Attr.DATA: b"abc",
        Attr.ERROR_CODE: (438, "Stale Nonce"),
        Attr.XOR_RELAYED_ADDRESS: ("2001:db8::1", 5),
        Attr.NONCE: "n",
        Attr.REALM: "r",
    })
    msg.extra[Attr.XOR_PEER_ADDRESS] = [("198.51.100.1", 9)]
    back = parse(msg.encode(b"k", fingerprint=True))
    assert back.all(Attr.XOR_PEER_ADDRESS) == [("203.0.113.5", 4000), ("198.51.100.1", 9)]
    assert back.get(Attr.CHANNEL_NUMBER) == 0x4001
    assert back.get(Attr.REQUESTED_TRANSPORT) == 17
    assert back.get(Attr.DATA) == b"abc"
    assert back.get(Attr.ERROR_CODE) == (438, "Stale Nonce")
    assert back.get(Attr.XOR_RELAYED_ADDRESS) == ("2001:db8::1", 5)
    assert back.check_integrity(b"k") and not back.check_integrity(b"K")
    assert split_type(0x0113) == (Method.ALLOCATE, Class.ERROR)


def _with_attr(attr: int, value: bytes) -> bytes:
    body = struct.pack("!HH", attr, len(value)) + value + b"\0" * (-len(value) % 4)
    return struct.pack("!HHI", 0x0003, len(body), 0x2112A442) + b"x" * 12 + body


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x00\x01\x00", "too short"),
        (REQUEST[:4] + b"\0\0\0\0" + REQUEST[8:], "magic cookie"),
        (b"\x00\x01\x00\x04" + REQUEST[4:20], "says 4 bytes"),
        (b"\xc0\x01" + REQUEST[2:], "most significant bits"),
        (REQUEST[:-1] + b"\0", "FINGERPRINT does not match"),
        (_with_attr(Attr.XOR_PEER_ADDRESS, b"\x00\x03\x00\x01\x01\x02\x03\x04"), "family"),
        (_with_attr(Attr.XOR_PEER_ADDRESS, b"\x00\x01\x00\x01\x01\x02"), "has 6 bytes"),
        (_with_attr(Attr.LIFETIME, b"\0\0\0\0\0"), "LIFETIME must be 4 bytes"),
        (_with_attr(Attr.CHANNEL_NUMBER, b"\x40"), "CHANNEL_NUMBER must be 4"),
        (_with_attr(Attr.USERNAME, b"\xff\xfe"), "not valid UTF-8"),
        (_with_attr(Attr.MESSAGE_INTEGRITY, b"\0" * 19), "MESSAGE_INTEGRITY must be 20"),
        (_with_attr(Attr.ERROR_CODE, b"\0\0\x09\x63"), "out of range"),
        (_with_attr(Attr.USERNAME, b"a" * 600), "longer than 513"),
    ],
)
def test_strict_parsing(data: bytes, error: str) -> None:
    with pytest.raises(StunError, match=error):
        parse(data)


def test_attribute_overrunning_message() -> None:
    data = bytearray(_with_attr(Attr.DATA, b"abcd"))
    data[22:24] = struct.pack("!H", 40)
    with pytest.raises(StunError, match="overruns"):
        parse(bytes(data))


def test_unknown_comprehension_required_attribute_is_reported() -> None:
    msg = parse(_with_attr(0x7777, b"zz"))
    assert msg.unknown_required == [0x7777]
    assert parse(_with_attr(0xC001, b"zz")).unknown_required == []


def test_channel_data() -> None:
    frame = encode_channel_data(0x4000, b"hello", pad=True)
    assert frame == b"\x40\x00\x00\x05hello\0\0\0"
    assert parse_channel_data(frame) == (0x4000, b"hello")
    assert framed_length(frame[:4]) == 12
    with pytest.raises(StunError, match="outside"):
        parse_channel_data(b"\x80\x00\x00\x00")
    with pytest.raises(StunError, match="says 9 bytes"):
        parse_channel_data(b"\x40\x00\x00\x09abc")
    with pytest.raises(StunError, match="neither"):
        framed_length(b"\xff\xff\x00\x00")


# -- RFC 6062 (TCP relay) -------------------------------------------------------------


def test_rfc6062_method_and_attribute_numbers() -> None:
    assert (Method.CONNECT, Method.CONNECTION_BIND, Method.CONNECTION_ATTEMPT) == (0x000A, 0x000B, 0x000C)
    assert Attr.CONNECTION_ID == 0x002A
    # Message types on the wire: Connect request 0x000A, its success 0x010A and error 0x011A,
    # ConnectionBind request 0x000B, ConnectionAttempt indication 0x001C.
    for method, cls, wire in (
        (Method.CONNECT, Class.REQUEST, 0x000A),
        (Method.CONNECT, Class.SUCCESS, 0x010A),
        (Method.CONNECT, Class.ERROR, 0x011A),
        (Method.CONNECTION_BIND, Class.REQUEST, 0x000B),
        (Method.CONNECTION_ATTEMPT, Class.INDICATION, 0x001C),
    ):
        data = Message(method, cls).encode()
        assert struct.unpack("!H", data[:2])[0] == wire
        assert split_type(wire) == (method, cls)


def test_connection_id_wire_form_and_round_trip() -> None:
    tid = b"\x01" * 12
    msg = Message(Method.CONNECT, Class.SUCCESS, tid, {Attr.CONNECTION_ID: 0xDEADBEEF})
    data = msg.encode()
    # A 4-byte attribute of type 0x002A, value in network order, no padding.
    assert data[20:28] == bytes.fromhex("002a0004deadbeef")
    assert parse(data).get(Attr.CONNECTION_ID) == 0xDEADBEEF
    attempt = Message(Method.CONNECTION_ATTEMPT, Class.INDICATION, attributes={
        Attr.CONNECTION_ID: 7, Attr.XOR_PEER_ADDRESS: ("192.0.2.1", 443),
    })
    back = parse(attempt.encode(fingerprint=True))
    assert (back.method, back.cls) == (Method.CONNECTION_ATTEMPT, Class.INDICATION)
    assert back.get(Attr.CONNECTION_ID) == 7 and back.get(Attr.XOR_PEER_ADDRESS) == ("192.0.2.1", 443)
    assert not back.unknown_required  # 0x002A is comprehension-required and known


@pytest.mark.parametrize("size", [0, 3, 5, 8])
def test_connection_id_of_wrong_size_is_rejected(size: int) -> None:
    body = struct.pack("!HH", Attr.CONNECTION_ID, size) + b"\0" * (size + (-size % 4))
    data = struct.pack("!HHI", 0x000B, len(body), 0x2112A442) + b"t" * 12 + body
    with pytest.raises(StunError, match="CONNECTION_ID"):
        parse(data)
