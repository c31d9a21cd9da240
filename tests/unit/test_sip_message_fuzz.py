"""Fuzzing the SIP parsers: nothing but SipParseError may come out, whatever goes in."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moot.sip.message import SipParseError, StreamParser, parse_datagram

VALID = (
    b"INVITE sip:room@moot.example SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:room@moot.example>\r\n"
    b"Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
    b"Content-Type: application/sdp\r\nContent-Length: 3\r\n\r\nv=0"
)
BUDGET = settings(max_examples=400, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])


def _only_parse_errors(data: bytes) -> None:
    try:
        parse_datagram(data)
    except SipParseError as exc:
        assert exc.status in (None, 400, 413, 414, 416, 505, 513)
    try:
        StreamParser().feed(data)
    except SipParseError:
        pass


@BUDGET
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    _only_parse_errors(data)


@BUDGET
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.binary(min_size=0, max_size=8)), max_size=6),
       st.integers(0, len(VALID)))
def test_mutated_valid_messages(edits: list[tuple[int, bytes]], cut: int) -> None:
    data = bytearray(VALID)
    for pos, chunk in edits:
        data[pos : pos + len(chunk)] = chunk
    _only_parse_errors(bytes(data[: max(cut, 1)]))
    _only_parse_errors(bytes(data))


@BUDGET
@given(st.text(alphabet=st.sampled_from(list(":;,<>\"\\ =@\t\r\nabcSIP/2.0vift")), max_size=300))
def test_header_soup(text: str) -> None:
    data = VALID.replace(b"From: <sip:a@b>;tag=1", b"From: " + text.encode())
    _only_parse_errors(data)
