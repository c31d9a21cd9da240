from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moot.media.rtcp import (
    ReceiverStatistics,
    ReportBlock,
    RtcpBye,
    RtcpError,
    RtcpPacket,
    RtcpReceiverReport,
    RtcpSdes,
    RtcpSenderReport,
    ntp_middle32,
    ntp_now,
    parse_compound,
    serialize_compound,
)


def test_compound_round_trip() -> None:
    block = ReportBlock(
        ssrc=0x1234, fraction_lost=64, packets_lost=-3, highest_sequence=0x10005,
        jitter=42, lsr=0xAABBCCDD, dlsr=65536,
    )
    packets: list[RtcpPacket] = [
        RtcpSenderReport(1, 0x0102030405060708, 160, 50, 8000, [block]),
        RtcpSdes([(1, "moot@example.net")]),
        RtcpBye([1, 2], "bye now"),
    ]
    data = serialize_compound(packets)
    assert len(data) % 4 == 0
    assert data[0] == 0x81 and data[1] == 200
    assert parse_compound(data) == packets
    rr: list[RtcpPacket] = [RtcpReceiverReport(9, []), RtcpSdes([(9, "x")])]
    assert parse_compound(serialize_compound(rr)) == rr


def test_known_receiver_report_bytes() -> None:
    data = serialize_compound([RtcpReceiverReport(0xAABBCCDD, [ReportBlock(1, 1, 2, 3, 4, 5, 6)])])
    assert data.hex() == (
        "81c90007" "aabbccdd" "00000001" "01000002" "00000003" "00000004" "00000005" "00000006"
    )


def test_unknown_packet_types_are_skipped_and_padding_is_honoured() -> None:
    app = bytes.fromhex("80cc0002") + b"name" + b"data"
    rr = serialize_compound([RtcpReceiverReport(5)])
    padded_bye = bytes.fromhex("a1cb0002") + (7).to_bytes(4, "big") + b"\x00\x00\x00\x04"
    packets = parse_compound(rr + app + padded_bye)
    assert packets == [RtcpReceiverReport(5), RtcpBye([7])]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x81\xc9", "too short"),
        (b"\x41\xc9\x00\x01" + bytes(4), "version"),
        (b"\x81\xc9\x00\x07" + bytes(8), "exceeds"),
        (b"\x81\xc9\x00\x01" + bytes(4), "RR too short"),
        (b"\x80\x10\x00\x00", "not RTCP"),
        (b"\xa0\xc9\x00\x01" + bytes(4) + b"\x80\xc9\x00\x00", "only the last"),
        (b"\xa0\xc9\x00\x01" + bytes(4), "padding"),
        (b"\x81\xca\x00\x02" + bytes(4) + b"\x01\x09ab", "truncated"),
        (b"\x80\xc9" + b"\x00\x00" * 800, "too large"),
    ],
)
def test_malformed_compound_raises(data: bytes, reason: str) -> None:
    with pytest.raises(RtcpError, match=reason):
        parse_compound(data)


@given(st.binary(max_size=100))
def test_fuzz_never_crashes(data: bytes) -> None:
    try:
        parse_compound(data)
    except RtcpError:
        pass


def test_ntp_helpers() -> None:
    ntp = ntp_now(0.5)
    assert ntp >> 32 == 2208988800
    assert ntp & 0xFFFFFFFF == 1 << 31
    assert ntp_middle32(0x1122334455667788) == 0x33445566


def test_loss_statistics_a3() -> None:
    stats = ReceiverStatistics(ssrc=1, clock_rate=8000, probation=0)
    for seq in [10, 11, 12, 14, 15, 17]:  # 13 and 16 lost
        assert stats.update(seq, seq * 160, seq * 160)
    block = stats.report_block(now=0.0)
    assert block.highest_sequence == 17
    assert block.packets_lost == 2
    assert block.fraction_lost == (2 << 8) // 8
    # Next interval without loss: fraction 0, cumulative stays 2.
    for seq in [18, 19]:
        stats.update(seq, seq * 160, seq * 160)
    block = stats.report_block(now=0.0)
    assert (block.fraction_lost, block.packets_lost) == (0, 2)
    # A late duplicate arriving counts as received (cumulative may go down).
    stats.update(13, 13 * 160, 20 * 160)
    assert stats.packets_lost == 1


def test_sequence_wrap_extends_highest_sequence() -> None:
    stats = ReceiverStatistics(ssrc=1, clock_rate=8000, probation=0)
    for i, seq in enumerate([65534, 65535, 0, 1]):
        stats.update(seq, i * 160, i * 160)
    assert stats.extended_max == 65536 + 1
    assert stats.packets_lost == 0


def test_probation_requires_two_sequential_packets() -> None:
    stats = ReceiverStatistics(ssrc=1, clock_rate=8000)
    assert not stats.update(100, 0, 0)
    assert stats.update(101, 160, 160)
    assert stats.received == 1 and stats.expected == 1


def test_jitter_a8() -> None:
    stats = ReceiverStatistics(ssrc=1, clock_rate=8000, probation=0)
    # Perfectly paced packets: no jitter.
    for i in range(20):
        stats.update(i, i * 160, 1000 + i * 160)
    assert stats.jitter == 0
    # Alternating +-40 samples of transit: J converges towards 80 (|D| = 80 each time).
    for i in range(20, 400):
        stats.update(i, i * 160, 1000 + i * 160 + (40 if i % 2 else -40))
    assert 75 <= stats.jitter <= 80
    assert stats.jitter_ms == pytest.approx(stats.jitter_q4 / 16 / 8, rel=1e-9)


def test_lsr_and_dlsr() -> None:
    stats = ReceiverStatistics(ssrc=1, clock_rate=8000, probation=0)
    stats.update(1, 0, 0)
    stats.sender_report_received(0x1122334455667788, now=100.0)
    block = stats.report_block(now=101.5)
    assert block.lsr == 0x33445566
    assert block.dlsr == int(1.5 * 65536)
