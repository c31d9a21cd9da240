"""The SIP message codec: RFC 3261 parsing rules, compact forms, limits, bad input."""

from __future__ import annotations

import pytest

from moot.sip.headers import CSeq, HeaderError, NameAddr, Via
from moot.sip.message import (
    MAX_HEADERS,
    Request,
    Response,
    SipParseError,
    StreamParser,
    make_response,
    parse_datagram,
)
from moot.sip.uri import SipUri, UriError

INVITE = (
    b"INVITE sip:room1@moot.example SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice, A." <sip:alice@example.com>;tag=1928301774\r\n'
    b"To: <sip:room1@moot.example>\r\n"
    b"Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.10:5060>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n\r\n"
    b"v=0\n"
)


def test_request_parses_into_its_parts() -> None:
    msg = parse_datagram(INVITE)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert str(msg.uri) == "sip:room1@moot.example"
    assert msg.call_id == "a84b4c76e66710@pc33.example.com"
    assert msg.cseq == CSeq(314159, "INVITE")
    assert msg.top_via.branch == "z9hG4bK776asdhds"
    assert msg.top_via.params["rport"] is None
    assert msg.from_.display == "Alice, A."
    assert msg.from_.tag == "1928301774"
    assert msg.to.tag is None
    assert msg.content_type == "application/sdp"
    assert msg.body == b"v=0\n"


def test_compact_forms_and_folded_lines_and_multi_value_headers() -> None:
    data = (
        b"OPTIONS sip:moot.example SIP/2.0\r\n"
        b"v: SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/TCP b.example:5070;branch=z9hG4bK2\r\n"
        b"f: <sip:x@a.example>;tag=9\r\n"
        b"t: sip:moot.example\r\n"
        b"i: abc\r\n"
        b"CSeq: 7\r\n"
        b"  OPTIONS\r\n"
        b"k: timer, 100rel\r\n"
        b"l: 0\r\n\r\n"
    )
    msg = parse_datagram(data)
    assert [v.host for v in msg.vias] == ["a.example", "b.example"]
    assert msg.vias[1].port == 5070 and msg.vias[1].transport == "TCP"
    assert msg.cseq == CSeq(7, "OPTIONS")
    assert msg.headers.get_all("Supported") == ["timer", "100rel"]
    assert msg.headers.get("supported") == "timer, 100rel"


def test_encode_round_trips_and_rewrites_content_length() -> None:
    msg = parse_datagram(INVITE)
    msg.body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    again = parse_datagram(msg.encode())
    assert again.body == msg.body
    assert again.headers.get("Content-Length") == str(len(msg.body))
    assert again.from_.display == "Alice, A."


def test_response_copies_the_transaction_headers_and_adds_the_to_tag() -> None:
    request = parse_datagram(INVITE)
    assert isinstance(request, Request)
    response = make_response(request, 200, to_tag="abc", extra=[("Contact", "<sip:moot@192.0.2.1>")])
    parsed = parse_datagram(response.encode())
    assert isinstance(parsed, Response)
    assert (parsed.status, parsed.reason) == (200, "OK")
    assert parsed.to.tag == "abc"
    assert parsed.top_via.branch == "z9hG4bK776asdhds"
    assert parsed.cseq == CSeq(314159, "INVITE")
    trying = make_response(request, 100, to_tag="abc")
    assert trying.to.tag is None  # 100 Trying never carries a To tag


@pytest.mark.parametrize(
    ("data", "status", "needle"),
    [
        (INVITE.replace(b"Call-ID: a84b4c76e66710@pc33.example.com\r\n", b""), 400, "Missing Call-ID"),
        (INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"), 400, "CSeq method"),
        (INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: x INVITE"), 400, "CSeq"),
        (INVITE.replace(b"Content-Length: 4", b"Content-Length: 40"), 400, "Content-Length 40"),
        (INVITE.replace(b"Content-Length: 4", b"Content-Length: -1"), 400, "invalid Content-Length"),
        (INVITE.replace(b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia"), 505, "not supported"),
        (INVITE.replace(b"sip:room1@moot.example SIP", b"http://x SIP"), 416, "Request-URI"),
        (INVITE.replace(b"From: ", b"From : ").replace(b"To: <", b"To <"), 400, "malformed header"),
        (INVITE.replace(b"Via: SIP/2.0/UDP", b"Via: HTTP/1.1/UDP"), None, "Via protocol"),
        (INVITE.replace(b"\r\n\r\n", b"\r\n"), 400, "no blank line"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200), None, ""),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None, "not a SIP request"),
        (b"SIP/2.0 999 Odd\r\n\r\n", None, "out of range"),
    ],
)
def test_bad_messages_are_refused_with_the_right_status(data: bytes, status: int | None, needle: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_datagram(data)
    assert info.value.status == status
    assert needle in str(info.value)


def test_limits() -> None:
    with pytest.raises(SipParseError) as too_big:
        parse_datagram(INVITE + b"x" * 70_000)
    assert too_big.value.status == 513
    many = INVITE.replace(b"Max-Forwards: 70\r\n", b"X-A: 1\r\n" * (MAX_HEADERS + 1))
    with pytest.raises(SipParseError, match="header lines"):
        parse_datagram(many)
    long_line = INVITE.replace(b"Max-Forwards: 70", b"X-Long: " + b"a" * 9000)
    with pytest.raises(SipParseError, match="too long"):
        parse_datagram(long_line)


def test_stream_parser_frames_by_content_length_across_chunks() -> None:
    parser = StreamParser()
    stream = b"\r\n\r\n" + INVITE + INVITE
    out = []
    for i in range(0, len(stream), 7):
        out += parser.feed(stream[i : i + 7])
    assert [m.call_id for m in out] == ["a84b4c76e66710@pc33.example.com"] * 2
    assert parser.keepalives == 1
    broken = StreamParser()
    with pytest.raises(SipParseError, match="Content-Length is required"):
        broken.feed(INVITE.replace(b"Content-Length: 4\r\n", b""))


def test_uri_forms() -> None:
    uri = SipUri.parse("sips:Bob:pw@[2001:db8::1]:5061;transport=TLS;lr?subject=hi%20there")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == ("sips", "Bob", "pw", "[2001:db8::1]", 5061)
    assert uri.params == {"transport": "TLS", "lr": None}
    assert uri.transport == "tls"
    assert uri.headers == {"subject": "hi there"}
    assert SipUri.parse(str(uri)) == uri
    assert SipUri.parse("sip:moot.example").address_of_record == "moot.example"
    assert SipUri.parse("tel:+4412345;phone-context=x").user == "+4412345"
    for bad in ("http://x", "sip:", "sip:a@", "sip:@host", "sip:host:99999", "sip:ho st"):
        with pytest.raises(UriError):
            SipUri.parse(bad)


def test_header_values() -> None:
    addr = NameAddr.parse('"Q \\"x\\"" <sip:q@h;transport=tcp>;tag=7;expires=60')
    assert addr.display == 'Q "x"'
    assert addr.uri.params == {"transport": "tcp"}
    assert addr.params == {"tag": "7", "expires": "60"}
    assert NameAddr.parse(str(addr)) == addr
    bare = NameAddr.parse("sip:q@h;tag=8")
    assert bare.tag == "8" and bare.uri.params == {}
    via = Via.parse("SIP/2.0/TLS [::1]:5061;branch=z9hG4bKx;received=10.0.0.1")
    assert (via.host, via.port, via.params["received"]) == ("[::1]", 5061, "10.0.0.1")
    for bad in ("<sip:a@b", '"open <sip:a@b>'):
        with pytest.raises(HeaderError):
            NameAddr.parse(bad)
    with pytest.raises(HeaderError):
        CSeq.parse(f"{2**31} INVITE")
