"""RTP payload formats for video: H.264 (RFC 6184) and VP8 (RFC 7741).

Cross-checked against aiortc's independent packetizers and depayloaders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from functools import cache

import av
import numpy as np
import pytest
from aiortc.codecs import depayload
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av.stream import Stream
from hypothesis import given, settings
from hypothesis import strategies as st

from moot.media.video import h264, vp8
from moot.media.video.codec import VideoEncoder
from moot.media.video.h264 import H264Depacketizer, nal_units
from moot.media.video.rtpframe import FrameAssembler
from moot.media.video.vp8 import Vp8Depacketizer

SPS = bytes.fromhex("6742c01e8c8d40501e900f08846a")
PPS = bytes.fromhex("68ce3c80")
SEI = bytes.fromhex("06051a") + bytes(26) + b"\x80"
IDR = bytes((0x65,)) + bytes(range(1, 200))
SLICE = bytes((0x41,)) + bytes(range(7, 90))


def annexb(*units: bytes) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + unit for unit in units)


def noise_picture(width: int, height: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height * 3 // 2, width), dtype=np.uint8)


@cache
def big_keyframe(codec: str) -> bytes:
    """A 1280x720 noise key frame: far larger than one packet."""
    encoder = VideoEncoder(codec, 1280, 720, 30, 2_000_000)
    frame = encoder.encode(noise_picture(1280, 720), keyframe=True)
    assert frame is not None and frame.keyframe
    return frame.data


def feed(
    depacketizer: FrameAssembler,
    payloads: Sequence[bytes],
    *,
    timestamp: int = 3000,
    first_sequence: int = 100,
    marker: bool = True,
) -> list[bytes]:
    """Push one frame's payloads (marker on the last); return the frames delivered."""
    out = []
    for index, payload in enumerate(payloads):
        frame = depacketizer.push(
            payload,
            sequence=first_sequence + index,
            timestamp=timestamp,
            marker=marker and index == len(payloads) - 1,
        )
        if frame is not None:
            out.append(frame)
    return out


def push_all(
    depacketizer: FrameAssembler, packets: Iterable[tuple[bytes, int, int, bool]]
) -> list[bytes]:
    out = []
    for payload, sequence, timestamp, marker in packets:
        frame = depacketizer.push(payload, sequence=sequence, timestamp=timestamp, marker=marker)
        if frame is not None:
            out.append(frame)
    return out


def stream(
    frames: Sequence[Sequence[bytes]], first_sequence: int = 0
) -> list[tuple[bytes, int, int, bool]]:
    """RTP (payload, sequence, timestamp, marker) tuples for consecutive frames."""
    packets = []
    sequence = first_sequence
    for number, payloads in enumerate(frames):
        for index, payload in enumerate(payloads):
            packets.append((payload, sequence & 0xFFFF, 3000 * number, index == len(payloads) - 1))
            sequence += 1
    return packets


# --- H.264 packetizer -----------------------------------------------------------------


def test_nal_units_handles_three_and_four_byte_start_codes() -> None:
    data = b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x01" + PPS + b"\x00\x00\x00\x01" + IDR + b"\x00"
    assert nal_units(data) == [SPS, PPS, IDR]
    assert nal_units(b"") == [] and nal_units(b"\x01\x02\x03") == []


def test_small_units_are_aggregated_into_one_stap_a() -> None:
    payloads = h264.packetize(annexb(SPS, PPS, IDR))
    assert len(payloads) == 1
    stap = payloads[0]
    assert stap[0] & 0x1F == 24 and stap[0] & 0x60 == 0x60  # the highest NRI of its units
    assert stap[1:3] == len(SPS).to_bytes(2, "big") and stap[3 : 3 + len(SPS)] == SPS
    assert feed(H264Depacketizer(), payloads) == [annexb(SPS, PPS, IDR)]


def test_lone_unit_is_a_single_nal_unit_packet() -> None:
    assert h264.packetize(annexb(SLICE)) == [SLICE]
    assert h264.packetize(annexb(SLICE), mode=0) == [SLICE]


def test_large_unit_is_split_into_fu_a_fragments() -> None:
    unit = bytes((0x65,)) + bytes(range(256)) * 20
    payloads = h264.packetize(annexb(SPS, PPS, unit), mtu=500)
    assert payloads[0][0] & 0x1F == 24  # SPS + PPS
    fragments = payloads[1:]
    assert len(fragments) == 11
    assert all(p[0] == 0x60 | 28 and len(p) <= 500 for p in fragments)
    sizes = {len(p) for p in fragments}
    assert max(sizes) - min(sizes) <= 1  # near-equal fragments
    assert fragments[0][1] == 0x80 | 5 and fragments[-1][1] == 0x40 | 5
    assert all(p[1] == 5 for p in fragments[1:-1])
    assert b"".join(p[2:] for p in fragments) == unit[1:]
    assert feed(H264Depacketizer(), payloads) == [annexb(SPS, PPS, unit)]


@pytest.mark.parametrize("mtu", [1200, 300])
def test_real_720p_keyframe_reassembles_bit_exactly(mtu: int) -> None:
    access_unit = big_keyframe("H264")
    payloads = h264.packetize(access_unit, mtu=mtu)
    assert len(payloads) > len(access_unit) // mtu
    assert all(len(p) <= mtu for p in payloads)
    assert any(p[0] & 0x1F == 28 for p in payloads)
    depacketizer = H264Depacketizer()
    (out,) = feed(depacketizer, payloads)
    assert nal_units(out) == nal_units(access_unit)
    assert depacketizer.access_units == 1 and depacketizer.dropped == 0
    assert not depacketizer.needs_keyframe


def test_mode_0_refuses_units_larger_than_the_mtu() -> None:
    with pytest.raises(ValueError, match="packetization-mode 0"):
        h264.packetize(big_keyframe("H264"), mode=0)
    payloads = h264.packetize(annexb(SPS, PPS, IDR), mode=0)
    assert payloads == [SPS, PPS, IDR]


def test_packetize_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="packetization-mode"):
        h264.packetize(annexb(IDR), mode=2)
    with pytest.raises(ValueError, match="mtu"):
        h264.packetize(annexb(IDR), mtu=2)
    with pytest.raises(ValueError, match="Annex-B"):
        h264.packetize(IDR)


def test_profile_level_id() -> None:
    assert h264.parse_profile_level_id("42e01f") == (0x42, 0xE0, 0x1F)
    assert h264.parse_profile_level_id(" 640C34 ") == (0x64, 0x0C, 0x34)
    for bad in ("42e01", "42e01f0", "zz0000", "0x1234", "42_e01", ""):
        with pytest.raises(ValueError, match="profile-level-id"):
            h264.parse_profile_level_id(bad)


def test_is_keyframe() -> None:
    assert h264.is_keyframe(annexb(SPS, PPS, IDR))
    assert not h264.is_keyframe(annexb(SLICE))
    assert not h264.is_keyframe(b"")
    assert not h264.is_keyframe(IDR)  # not Annex-B


# --- H.264 depacketizer: loss and bad input -------------------------------------------


def frames_with_fragments() -> list[list[bytes]]:
    """Three access units: a key frame in STAP-A + FU-A, then two single-packet slices."""
    key = bytes((0x65,)) + bytes(range(256)) * 4
    return [
        h264.packetize(annexb(SPS, PPS, key), mtu=300),
        h264.packetize(annexb(SLICE)),
        h264.packetize(annexb(SLICE[:40])),
    ]


def test_clean_stream_delivers_every_access_unit() -> None:
    frames = frames_with_fragments()
    depacketizer = H264Depacketizer()
    out = push_all(depacketizer, stream(frames, first_sequence=65533))  # wraps around
    assert [nal_units(au) for au in out] == [
        nal_units(annexb(SPS, PPS, bytes((0x65,)) + bytes(range(256)) * 4)),
        [SLICE],
        [SLICE[:40]],
    ]
    assert (depacketizer.access_units, depacketizer.dropped) == (3, 0)


def test_lost_fragment_drops_the_access_unit_and_asks_for_a_keyframe() -> None:
    packets = stream(frames_with_fragments())
    del packets[2]  # a middle FU-A fragment of the key frame
    depacketizer = H264Depacketizer()
    out = push_all(depacketizer, packets)
    assert out == [annexb(SLICE), annexb(SLICE[:40])]  # the next complete access units
    assert depacketizer.needs_keyframe
    assert (depacketizer.access_units, depacketizer.dropped) == (2, 1)


def test_loss_asks_for_a_keyframe_at_once() -> None:
    payloads = fragments_of(IDR)
    depacketizer = H264Depacketizer()
    assert depacketizer.push(payloads[0], sequence=1, timestamp=0, marker=False) is None
    assert not depacketizer.needs_keyframe
    assert depacketizer.push(payloads[2], sequence=3, timestamp=0, marker=False) is None
    assert depacketizer.needs_keyframe and depacketizer.dropped == 0  # before the frame ends
    assert depacketizer.push(payloads[3], sequence=4, timestamp=0, marker=True) is None
    assert depacketizer.dropped == 1


def test_oversized_access_unit_is_dropped() -> None:
    depacketizer = H264Depacketizer()
    chunk = bytes((0x41,)) + bytes(99_999)
    for sequence in range(45):  # 4.5 MB in one timestamp, no marker
        depacketizer.push(chunk, sequence=sequence, timestamp=0, marker=False)
    assert depacketizer.needs_keyframe
    assert depacketizer.push(SLICE, sequence=45, timestamp=3000, marker=True) == annexb(SLICE)
    assert depacketizer.dropped == 1


def test_lost_marker_packet_drops_both_frames_around_the_gap() -> None:
    frames = [h264.packetize(annexb(SPS, PPS, IDR * 5), mtu=300), [SLICE], [SLICE[:30]]]
    packets = stream(frames)
    last_of_first = len(frames[0]) - 1
    del packets[last_of_first]
    depacketizer = H264Depacketizer()
    out = push_all(depacketizer, packets)
    # The gap may have hidden the tail of frame 0 or the head of frame 1: both are dropped.
    assert out == [annexb(SLICE[:30])]
    assert depacketizer.dropped == 2 and depacketizer.needs_keyframe


def test_reordering_within_an_access_unit_is_treated_as_loss() -> None:
    packets = stream(frames_with_fragments())
    packets[2], packets[3] = packets[3], packets[2]
    depacketizer = H264Depacketizer()
    out = push_all(depacketizer, packets)
    assert out == [annexb(SLICE), annexb(SLICE[:40])]
    assert depacketizer.dropped == 1 and depacketizer.needs_keyframe


def test_duplicate_packets_are_ignored() -> None:
    packets = stream(frames_with_fragments())
    packets.insert(3, packets[2])
    depacketizer = H264Depacketizer()
    assert len(push_all(depacketizer, packets)) == 3
    assert depacketizer.dropped == 0 and not depacketizer.needs_keyframe


def test_timestamp_change_completes_an_access_unit_without_marker() -> None:
    depacketizer = H264Depacketizer()
    assert depacketizer.push(SPS, sequence=1, timestamp=10, marker=False) is None
    assert depacketizer.push(SLICE, sequence=2, timestamp=10, marker=False) is None
    assert depacketizer.push(SLICE, sequence=3, timestamp=20, marker=False) == annexb(SPS, SLICE)
    # Both the previous (no marker) and this one (marker) complete: one per push, in order.
    assert depacketizer.push(IDR, sequence=4, timestamp=30, marker=True) == annexb(SLICE)
    assert depacketizer.push(SLICE, sequence=5, timestamp=40, marker=True) == annexb(IDR)


def fragments_of(unit: bytes, mtu: int = 50) -> list[bytes]:
    payloads = h264.packetize(annexb(unit), mtu=mtu)
    assert len(payloads) >= 3
    return payloads


@pytest.mark.parametrize(
    "bad_payloads",
    [
        pytest.param(fragments_of(IDR)[1:], id="fu-a-without-start"),
        pytest.param(fragments_of(IDR)[:-1], id="fu-a-without-end"),
        pytest.param([fragments_of(IDR)[0][:2]], id="fu-a-truncated"),
        pytest.param([fragments_of(IDR)[0], SLICE], id="fu-a-interrupted"),
        pytest.param([fragments_of(IDR)[0], fragments_of(IDR)[0]], id="fu-a-two-starts"),
        pytest.param(
            [fragments_of(IDR)[0], fragments_of(SLICE, mtu=30)[1]], id="fu-a-type-changes"
        ),
        pytest.param([bytes((0x7C, 0x80))], id="fu-a-header-only"),
        pytest.param([bytes((0x7C, 0x98, 1))], id="fu-a-aggregate-inside"),
        pytest.param([b"\x78\x00\x10" + SPS], id="stap-a-length-too-long"),
        pytest.param([b"\x78\x00\x00" + SPS], id="stap-a-zero-length"),
        pytest.param(
            [b"\x78" + len(SPS).to_bytes(2, "big") + SPS + b"\x00"], id="stap-a-truncated-length"
        ),
        pytest.param([b"\x78"], id="stap-a-empty"),
        pytest.param([b"\x78\x00\x02\x7c\x00"], id="stap-a-nested-fu-a"),
        pytest.param([b""], id="empty"),
        pytest.param([bytes((0xE5,)) + IDR[1:]], id="forbidden-bit"),
        pytest.param([bytes((0x79, 0, 0))], id="stap-b"),
        pytest.param([bytes((0x7D, 0x85, 1, 2, 3))], id="fu-b"),
    ],
)
def test_malformed_payloads_drop_only_their_access_unit(bad_payloads: list[bytes]) -> None:
    depacketizer = H264Depacketizer()
    frames = [bad_payloads, [SLICE], h264.packetize(annexb(SPS, PPS, IDR))]
    out = push_all(depacketizer, stream(frames))
    assert out == [annexb(SLICE), annexb(SPS, PPS, IDR)]
    assert depacketizer.dropped == 1 and depacketizer.needs_keyframe


def test_reserved_nal_types_are_ignored() -> None:
    depacketizer = H264Depacketizer()
    out = push_all(depacketizer, stream([[bytes((0x1E, 1)), SLICE]]))
    assert out == [annexb(SLICE)] and not depacketizer.needs_keyframe


def test_sender_restarting_its_sequence_numbers_is_followed() -> None:
    depacketizer = H264Depacketizer()
    assert (
        push_all(depacketizer, stream([[SLICE], [SLICE]], first_sequence=5000))
        == [annexb(SLICE)] * 2
    )
    # Lower sequence numbers but a newer timestamp: a restart, not late packets.
    packets = [(SLICE, 10, 9000, True), (IDR, 11, 12000, True), (SLICE, 12, 15000, True)]
    assert push_all(depacketizer, packets) == [annexb(IDR), annexb(SLICE)]
    assert depacketizer.dropped == 1


payload_bytes = st.binary(max_size=64) | st.sampled_from(
    [SPS, PPS, IDR, SLICE, *fragments_of(IDR), *h264.packetize(annexb(SPS, PPS, IDR))]
)
packet_lists = st.lists(
    st.tuples(
        payload_bytes,
        st.integers(0, 0xFFFF),
        st.sampled_from([0, 3000, 6000, 0xFFFFFFFF]),
        st.booleans(),
    ),
    max_size=40,
)


@pytest.mark.parametrize("make", [H264Depacketizer, Vp8Depacketizer])
@settings(max_examples=150, deadline=None)
@given(packets=packet_lists)
def test_depacketizers_never_raise(
    make: Callable[[], FrameAssembler], packets: list[tuple[bytes, int, int, bool]]
) -> None:
    depacketizer = make()
    out = push_all(depacketizer, packets)
    assert all(isinstance(frame, bytes) and frame for frame in out)
    assert len(out) <= depacketizer.access_units <= len(packets)
    assert depacketizer.dropped <= len(packets)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_loss_pattern_delivers_only_intact_access_units(data: st.DataObject) -> None:
    units = [annexb(SPS, PPS, IDR * 3), annexb(SLICE), annexb(SLICE * 9), annexb(SLICE[:20])]
    frames = [h264.packetize(unit, mtu=120) for unit in units]
    packets = stream(frames)
    # The first packet is kept: a loss before the first packet received cannot be seen.
    kept = packets[:1] + [p for p in packets[1:] if data.draw(st.booleans(), label=f"keep {p[1]}")]
    depacketizer = H264Depacketizer()
    out = push_all(depacketizer, kept)
    assert all(frame in units for frame in out)  # never a partial or spliced access unit
    if len(kept) < len(packets):
        assert len(out) < len(units)
    positions = [packets.index(p) for p in kept]
    if positions and positions[-1] - positions[0] + 1 > len(positions):
        assert depacketizer.needs_keyframe  # a gap between received packets


# --- H.264 interoperability with aiortc -----------------------------------------------

H264_CODEC = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
VP8_CODEC = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


def av_packet(data: bytes) -> av.Packet[Stream]:
    packet = av.Packet(data)
    packet.pts = 0
    packet.time_base = Fraction(1, 90000)
    return packet


@pytest.mark.parametrize("name", ["big", "small"])
def test_aiortc_h264_payloads_depacketize(name: str) -> None:
    access_unit = big_keyframe("H264") if name == "big" else annexb(SPS, PPS, IDR)
    payloads, _ = H264Encoder().pack(av_packet(access_unit))
    assert len(payloads) > (1 if name == "big" else 0)
    depacketizer = H264Depacketizer()
    (out,) = feed(depacketizer, payloads)
    assert nal_units(out) == nal_units(access_unit)


@pytest.mark.parametrize("name", ["big", "small"])
def test_moot_h264_payloads_depayload_in_aiortc(name: str) -> None:
    access_unit = big_keyframe("H264") if name == "big" else annexb(SPS, PPS, IDR)
    payloads = h264.packetize(access_unit, mtu=1200)
    rebuilt = b"".join(depayload(H264_CODEC, payload) for payload in payloads)
    assert nal_units(rebuilt) == nal_units(access_unit)


# --- VP8 ------------------------------------------------------------------------------


def test_vp8_descriptor_has_a_15_bit_picture_id() -> None:
    frame = bytes(range(256)) * 10
    payloads = vp8.packetize(frame, picture_id=0x1234, mtu=1000)
    assert len(payloads) == 3 and all(len(p) <= 1000 for p in payloads)
    assert payloads[0][:4] == bytes((0x90, 0x80, 0x80 | 0x12, 0x34))
    assert all(p[:4] == bytes((0x80, 0x80, 0x92, 0x34)) for p in payloads[1:])
    for index, payload in enumerate(payloads):
        descriptor, _ = VpxPayloadDescriptor.parse(payload)
        assert descriptor.picture_id == 0x1234
        assert descriptor.partition_start == (index == 0) and descriptor.partition_id == 0
    assert vp8.packetize(b"x", picture_id=0x8000 + 5)[0][2:4] == b"\x80\x05"  # modulo 2**15


def test_vp8_packetize_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="empty"):
        vp8.packetize(b"", picture_id=1)
    with pytest.raises(ValueError, match="negative"):
        vp8.packetize(b"abc", picture_id=-1)
    with pytest.raises(ValueError, match="mtu"):
        vp8.packetize(b"abc", picture_id=1, mtu=4)


@pytest.mark.parametrize("mtu", [1200, 300])
def test_vp8_720p_keyframe_reassembles_bit_exactly(mtu: int) -> None:
    frame = big_keyframe("VP8")
    assert vp8.is_keyframe(frame)
    payloads = vp8.packetize(frame, picture_id=77, mtu=mtu)
    assert len(payloads) >= len(frame) // (mtu - 4)
    assert all(len(p) <= mtu for p in payloads)
    depacketizer = Vp8Depacketizer()
    assert feed(depacketizer, payloads) == [frame]
    assert depacketizer.access_units == 1 and not depacketizer.needs_keyframe


def vp8_frames() -> list[bytes]:
    encoder = VideoEncoder("VP8", 320, 180, 30, 300_000)
    frames = []
    for index in range(4):
        encoded = encoder.encode(noise_picture(320, 180, seed=index))
        assert encoded is not None
        frames.append(encoded.data)
    return frames


def test_vp8_is_keyframe() -> None:
    frames = vp8_frames()
    assert [vp8.is_keyframe(f) for f in frames] == [True, False, False, False]
    assert not vp8.is_keyframe(b"") and not vp8.is_keyframe(b"\x00" * 12)


def test_vp8_loss_drops_the_frame_and_asks_for_a_keyframe() -> None:
    frames = vp8_frames()
    packets = stream([vp8.packetize(f, picture_id=i, mtu=200) for i, f in enumerate(frames)])
    assert sum(p[2] == 3000 for p in packets) >= 3
    gap = next(i for i, p in enumerate(packets) if p[2] == 3000) + 1  # inside frame 1
    del packets[gap]
    depacketizer = Vp8Depacketizer()
    assert push_all(depacketizer, packets) == [frames[0], frames[2], frames[3]]
    assert depacketizer.needs_keyframe and depacketizer.dropped == 1


def test_vp8_other_descriptor_forms() -> None:
    frame = vp8_frames()[0]
    depacketizer = Vp8Depacketizer()
    half = len(frame) // 2
    # 7-bit PictureID with TL0PICIDX and TID/KEYIDX, then a bare one-byte descriptor.
    first = bytes((0x90, 0xF0, 0x05, 0x11, 0x40)) + frame[:half]
    second = bytes((0x80, 0xF0, 0x05, 0x11, 0x40)) + frame[half:]
    assert feed(depacketizer, [first, second]) == [frame]
    assert feed(
        depacketizer,
        [b"\x10" + frame[:half], b"\x00" + frame[half:]],
        first_sequence=102,
        timestamp=6000,
    ) == [frame]
    assert depacketizer.dropped == 0


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda f: [b"\x90\x80\x80"], id="truncated-picture-id"),
        pytest.param(lambda f: [b"\x90\x80\x80\x01"], id="no-data"),
        pytest.param(lambda f: [b"\x00" + f], id="no-start"),
        pytest.param(lambda f: [b"\x10" + f[:10], b"\x10" + f[10:]], id="two-starts"),
        pytest.param(
            lambda f: [
                vp8.packetize(f, picture_id=1, mtu=200)[0],
                vp8.packetize(f, picture_id=2, mtu=200)[1],
            ],
            id="picture-id-changes",
        ),
        pytest.param(
            lambda f: [b"\x10" + b"\x00" + f[1:3] + b"\x00\x00\x00" + f[6:]], id="bad-start-code"
        ),
        pytest.param(lambda f: [b"\x10\x00"], id="short-frame"),
        pytest.param(lambda f: [b""], id="empty"),
    ],
)
def test_vp8_malformed_payloads_drop_their_frame(bad: Callable[[bytes], list[bytes]]) -> None:
    key = vp8_frames()[0]
    depacketizer = Vp8Depacketizer()
    frames = [bad(key), vp8.packetize(key, picture_id=9)]
    assert push_all(depacketizer, stream(frames)) == [key]
    assert depacketizer.dropped == 1 and depacketizer.needs_keyframe


def test_aiortc_vp8_payloads_depacketize() -> None:
    frame = big_keyframe("VP8")
    payloads, _ = Vp8Encoder().pack(av_packet(frame))
    assert len(payloads) > 1
    assert feed(Vp8Depacketizer(), payloads) == [frame]


def test_moot_vp8_payloads_depayload_in_aiortc() -> None:
    frame = big_keyframe("VP8")
    payloads = vp8.packetize(frame, picture_id=0x7FFF)
    assert b"".join(depayload(VP8_CODEC, payload) for payload in payloads) == frame
