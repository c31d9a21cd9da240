from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moot.media.rtp import RtpError, RtpPacket, is_rtcp, parse_header, seq_diff


def test_parse_minimal_pcmu_packet() -> None:
    data = bytes.fromhex("80 00 12 34 00 00 00 a0 de ad be ef") + b"\xff" * 160
    p = RtpPacket.parse(data)
    assert (p.version, p.payload_type, p.sequence_number, p.timestamp, p.ssrc) == (
        2,
        0,
        0x1234,
        160,
        0xDEADBEEF,
    )
    assert not p.marker and p.csrc == [] and p.extension_profile is None
    assert p.payload == b"\xff" * 160
    assert p.serialize() == data


def test_csrc_extension_padding_marker_round_trip() -> None:
    p = RtpPacket(
        payload_type=101,
        sequence_number=65535,
        timestamp=0xFFFFFFFF,
        ssrc=7,
        marker=True,
        payload=b"\x05\x0a\x00\xa0",
        csrc=[1, 2, 3],
        extension_profile=0xBEDE,
        extension=b"\x10\xff\x00\x00",
        padding_size=4,
    )
    data = p.serialize()
    assert data[0] == 0x80 | 0x20 | 0x10 | 3
    assert data[1] == 0x80 | 101
    assert data[-1] == 4
    assert RtpPacket.parse(data) == p
    pt, marker, seq, ts, ssrc, start, end = parse_header(data)
    assert (pt, marker, seq, ts, ssrc) == (101, True, 65535, 0xFFFFFFFF, 7)
    assert data[start:end] == p.payload


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x80\x00\x00", "too short"),
        (b"\x40" + bytes(11), "version 1"),
        (b"\x80\xc8" + bytes(10), "RTCP"),
        (b"\x83\x00" + bytes(10) + bytes(8), "CSRC"),
        (b"\x90\x00" + bytes(10) + b"\xbe\xde", "extension header"),
        (b"\x90\x00" + bytes(10) + b"\xbe\xde\x00\x02" + bytes(4), "extension of 2 words"),
        (b"\xa0\x00" + bytes(10) + b"\x00", "padding count is zero"),
        (b"\xa0\x00" + bytes(10) + b"\x01\x09", "exceeds"),
        (b"\x80\x00" + bytes(1600), "too large"),
    ],
)
def test_malformed_packets_raise(data: bytes, reason: str) -> None:
    with pytest.raises(RtpError, match=reason):
        RtpPacket.parse(data)


def test_serialize_rejects_bad_fields() -> None:
    with pytest.raises(RtpError, match="payload type"):
        RtpPacket(payload_type=128).serialize()
    with pytest.raises(RtpError, match="CSRC"):
        RtpPacket(csrc=list(range(16))).serialize()
    with pytest.raises(RtpError, match="multiple of 4"):
        RtpPacket(extension_profile=1, extension=b"abc").serialize()


def test_seq_diff_and_rtcp_detection() -> None:
    assert seq_diff(1, 65535) == 2
    assert seq_diff(65535, 1) == -2
    assert seq_diff(100, 100) == 0
    assert is_rtcp(b"\x80\xc8\x00\x06")
    assert not is_rtcp(b"\x80\x00\x00\x06")


@given(
    st.integers(0, 127),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.booleans(),
    st.binary(max_size=200),
    st.lists(st.integers(0, 0xFFFFFFFF), max_size=15),
    st.integers(0, 255),
)
def test_round_trip_property(
    pt: int,
    seq: int,
    ts: int,
    ssrc: int,
    marker: bool,
    payload: bytes,
    csrc: list[int],
    padding: int,
) -> None:
    p = RtpPacket(pt, seq, ts, ssrc, marker, payload, csrc, padding_size=padding)
    if marker and 64 <= pt <= 95:
        with pytest.raises(RtpError, match="RFC 5761"):
            p.serialize()
        return
    assert RtpPacket.parse(p.serialize()) == p


@given(st.binary(max_size=64))
def test_fuzz_never_crashes(data: bytes) -> None:
    try:
        RtpPacket.parse(data)
    except RtpError:
        pass
