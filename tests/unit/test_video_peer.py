"""The synthetic video endpoint (tests/video_peer.py) against itself on loopback: pictures,
layout analysis, RTP output, colours both ways (H.264 and VP8), PLI/FIR -> IDR, bad input,
clip replay, and the uac_video sipp scenario against a minimal answering UDP SIP agent."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from tests.sipp_helpers import RtpReceiver
from tests.video_peer import (
    BLUE,
    GREEN,
    MAGENTA,
    RED,
    WHITE,
    YELLOW,
    Picture,
    VideoPeer,
    colour_distance,
    dominant_colours,
    encode_clip,
    has_colour,
    i420_to_rgb,
    make_y4m,
    pane_colours,
    pattern_i420,
    rgb_to_yuv,
    solid_i420,
    start_video_call,
)

LOCAL = "127.0.0.1"


# ------------------------------------------------------------------------------ pictures


def test_bt601_conversion_round_trips() -> None:
    assert rgb_to_yuv((255, 255, 255)) == (235, 128, 128)
    assert rgb_to_yuv((0, 0, 0)) == (16, 128, 128)
    for colour in (RED, GREEN, BLUE, YELLOW, MAGENTA):
        picture = solid_i420(64, 36, colour)
        assert picture.shape == (54, 64) and picture.dtype == np.uint8
        rgb = i420_to_rgb(picture)
        assert rgb.shape == (36, 64, 3)
        assert colour_distance(tuple(int(c) for c in rgb[10, 10]), colour) <= 3


def test_y4m_file_has_header_and_moving_frames(tmp_path: Path) -> None:
    path = make_y4m(tmp_path / "red.y4m", 160, 90, RED, frames=3, fps=30)
    data = path.read_bytes()
    header = b"YUV4MPEG2 W160 H90 F30:1 Ip A1:1 C420jpeg\n"
    assert data.startswith(header)
    frame_size = 160 * 90 * 3 // 2
    assert len(data) == len(header) + 3 * (len(b"FRAME\n") + frame_size)
    frames = [
        np.frombuffer(data, np.uint8, frame_size, len(header) + i * (6 + frame_size) + 6)
        for i in range(3)
    ]
    assert not np.array_equal(frames[0], frames[2]), "the white box should move"
    first: Picture = frames[0].reshape(135, 160)
    assert colour_distance(dominant_colours(first)[0][0], RED) < 10
    with pytest.raises(ValueError):
        make_y4m(tmp_path / "odd.y4m", 161, 90, RED)


def _paint(picture: Picture, x: int, y: int, w: int, h: int, colour: tuple[int, int, int]) -> None:
    """Fill an even-aligned rectangle of an I420 picture with a colour."""
    height, width = picture.shape[0] * 2 // 3, picture.shape[1]
    yy, u, v = rgb_to_yuv(colour)
    picture[y : y + h, x : x + w] = yy  # rows 0..h-1: the Y plane; then U, V (w/2 wide)
    chroma = picture.reshape(-1)[width * height :].reshape(2, height // 2, width // 2)
    chroma[0, y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = u
    chroma[1, y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = v


def _composed(width: int = 1280, height: int = 720) -> Picture:
    """A 2x2 'allEqual' view built with numpy: red, green, blue panes and a dark placeholder,
    black 4-pixel borders and a white-on-dark name label at the bottom of each pane."""
    picture = solid_i420(width, height, (0, 0, 0))
    pw, ph = width // 2, height // 2
    for i, colour in enumerate((RED, GREEN, BLUE, (40, 40, 40))):
        x, y = (i % 2) * pw, (i // 2) * ph
        _paint(picture, x + 4, y + 4, pw - 8, ph - 8, colour)
        _paint(picture, x + 10, y + ph - 40, 200, 30, (20, 20, 20))  # label strip
        for k in range(20, 190, 6):
            _paint(picture, x + k, y + ph - 32, 2, 14, WHITE)  # "text"
    return picture


def test_dominant_and_pane_colours_of_a_composed_view() -> None:
    picture = _composed()
    found = dominant_colours(picture)
    assert len(found) == 3, found  # the placeholder, borders and labels are ignored
    for colour in (RED, GREEN, BLUE):
        assert any(colour_distance(c, colour) < 10 for c, _ in found), (colour, found)
    assert all(0.15 < share < 0.3 for _, share in found)
    panes = pane_colours(picture, (2, 2))
    assert panes[3] is None
    for got, want in zip(panes[:3], (RED, GREEN, BLUE), strict=True):
        assert got is not None and colour_distance(got, want) < 10
    assert has_colour(picture, GREEN) and not has_colour(picture, YELLOW)
    # The same analysis works on RGB input.
    rgb = i420_to_rgb(picture)
    assert len(dominant_colours(rgb)) == 3 and has_colour(rgb, BLUE)


# ------------------------------------------------------------------------------ RTP


async def test_rtp_output_frames_markers_and_timestamps() -> None:
    async with RtpReceiver() as rx, VideoPeer(name="tx") as tx:
        assert tx.port % 2 == 0 and tx.rtcp_port == tx.port + 1
        tx.start_sending((LOCAL, rx.port), colour=RED, width=640, height=360, fps=30,
                         pattern="noisy", bitrate=1_500_000)  # fmt: skip
        await rx.wait_packets(60, 5)
        await asyncio.sleep(0.3)
        await tx.stop_sending()
    packets = rx.ordered()
    assert {p.ssrc for p in packets} == {tx.ssrc}
    assert {p.payload_type for p in packets} == {96}
    assert all(len(p.payload) <= 1300 for p in packets)
    seqs = [p.sequence_number for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    # Frames: runs of one timestamp, the marker on (only) the last packet of each.
    frames: list[list[int]] = []
    for i, p in enumerate(packets):
        if not frames or packets[frames[-1][0]].timestamp != p.timestamp:
            frames.append([])
        frames[-1].append(i)
    complete = frames[:-1]
    assert len(complete) >= 15
    assert any(len(f) > 1 for f in complete), "a 640x360 IDR needs several packets"
    for f in complete:
        assert [packets[i].marker for i in f] == [False] * (len(f) - 1) + [True]
    steps = {
        (packets[b[0]].timestamp - packets[a[0]].timestamp) & 0xFFFFFFFF
        for a, b in itertools.pairwise(complete)
    }
    # 90 kHz / 30 fps; a slot skipped by a loop that fell behind (a busy machine) leaves a
    # gap of whole frame periods.
    assert 3000 in steps and all(step % 3000 == 0 for step in steps), steps


@pytest.mark.parametrize("codec,pt", [("H264", 96), ("VP8", 97)])
async def test_two_peers_see_each_others_colour(codec: str, pt: int) -> None:
    async with VideoPeer(name="a") as a, VideoPeer(name="b") as b:
        a.start_sending((LOCAL, b.port), codec=codec, payload_type=pt, colour=RED,
                        width=640, height=360, pattern="moving")  # fmt: skip
        b.start_sending((LOCAL, a.port), codec=codec, payload_type=pt, colour=BLUE,
                        width=320, height=180)  # fmt: skip
        await b.wait_colour(RED)
        await a.wait_colour(BLUE)
        await asyncio.sleep(1.0)
        for peer, other, size in ((b, RED, (640, 360)), (a, BLUE, (320, 180))):
            assert peer.latest is not None
            colours = dominant_colours(peer.latest)
            assert colour_distance(colours[0][0], other) < 25, colours
            assert (peer.stats.width, peer.stats.height) == size
            assert peer.receive_fps >= 20, peer.stats
            assert peer.stats.keyframes_received >= 1
            assert peer.stats.packets_lost == 0 and peer.stats.decode_errors == 0
            assert peer.stats.frames_decoded >= 30


async def test_pli_and_fir_are_answered_with_an_idr() -> None:
    async with VideoPeer(name="a") as a, VideoPeer(name="b", auto_pli=False) as b:
        a.start_sending((LOCAL, b.port), colour=GREEN, width=320, height=180)
        await b.wait_frames(5)
        before = a.stats.keyframes_sent
        # The IDR comes with the next frame: 33 ms at 30 fps (more on a busy machine).
        seconds = await b.request_keyframe()
        assert 0 < seconds < 0.5
        assert a.stats.plis_received == 1 and b.stats.plis_sent == 1
        seconds = await b.request_keyframe(fir=True)
        assert 0 < seconds < 0.5
        assert a.stats.firs_received == 1 and b.stats.firs_sent == 1
        assert a.stats.keyframes_sent == before + 2
        # Nobody answers PLIs sent to a silent port: the wait times out.
        async with VideoPeer(name="deaf") as deaf:
            b.set_remote((LOCAL, deaf.port))
            with pytest.raises(TimeoutError):
                await b.request_keyframe(timeout=0.3)


async def test_colour_and_resolution_changes_mid_stream() -> None:
    async with VideoPeer(name="a") as a, VideoPeer(name="b") as b:
        a.start_sending((LOCAL, b.port), colour=RED, width=320, height=180)
        await b.wait_colour(RED)
        a.set_colour(YELLOW)
        seen = await b.wait_colour(YELLOW)
        assert a.colour_sent_at is not None and 0 <= seen - a.colour_sent_at < 0.5
        assert not has_colour(b.latest if b.latest is not None else solid_i420(2, 2, RED), RED)
        a.change_resolution(640, 360)
        await b.wait_until(lambda: b.stats.width == 640, 3, "640 pixels wide")
        assert b.stats.height == 360 and b.stats.decode_errors == 0


async def test_bad_input_is_counted_and_the_receiver_recovers() -> None:
    async with VideoPeer(name="a") as a, VideoPeer(name="b") as b:
        a.start_sending((LOCAL, b.port), colour=MAGENTA, width=320, height=180)
        await b.wait_colour(MAGENTA)
        a.send_garbage(5)
        a.corrupt(3)
        await b.wait_until(
            lambda: b.stats.malformed_payloads + b.stats.decode_errors
            + b.stats.frames_undecodable + b.stats.frames_incomplete > 0,
            3, "sign of the corrupt frames",
        )  # fmt: skip
        assert b.stats.not_rtp == 10  # 5 random datagrams + 5 truncated RTP headers
        decoded = b.stats.frames_decoded
        await b.wait_until(lambda: b.stats.frames_decoded >= decoded + 10, 3, "recovery")
        assert b.latest is not None and has_colour(b.latest, MAGENTA, min_share=0.9)
        # Stopping: no more frames arrive.
        await a.stop_sending()
        await asyncio.sleep(0.1)
        count = b.stats.frames_received
        await asyncio.sleep(0.3)
        assert b.stats.frames_received == count and not a.sending


async def test_clip_replay_switches_colour_and_restarts_on_pli() -> None:
    clips = {c: encode_clip("H264", 320, 180, c, seconds=0.5) for c in (RED, GREEN)}
    assert all(len(clip.frames) == 15 and clip.bitrate > 0 for clip in clips.values())
    async with VideoPeer(name="a") as a, VideoPeer(name="b", auto_pli=False) as b:
        a.start_sending((LOCAL, b.port), clips=clips, colour=RED)
        await b.wait_colour(RED)
        await asyncio.sleep(0.6)  # loops past the clip's end: a keyframe again
        assert b.stats.keyframes_received >= 2
        seconds = await b.request_keyframe()
        assert seconds < 0.5 and a.stats.plis_received == 1
        a.set_colour(GREEN)
        await b.wait_colour(GREEN)
        assert b.stats.packets_lost == 0 and b.stats.decode_errors == 0
        assert b.stats.frames_undecodable == 0
        with pytest.raises(ValueError):
            a.set_colour(BLUE)  # no clip of that colour


def test_patterns_differ_per_frame() -> None:
    solid = pattern_i420(64, 36, RED, 5, "solid")
    moving = [pattern_i420(64, 36, RED, i, "moving") for i in (0, 30)]
    noisy = [pattern_i420(64, 36, RED, i, "noisy") for i in (0, 1)]
    assert np.array_equal(solid, solid_i420(64, 36, RED))
    assert not np.array_equal(moving[0], moving[1])
    assert not np.array_equal(noisy[0], noisy[1])
    with pytest.raises(ValueError):
        pattern_i420(64, 36, RED, 0, "stripes")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ sipp


class _AnsweringAgent(asyncio.DatagramProtocol):
    """Just enough of a SIP UAS: 200 (with an SDP answer holding ``video_port``) to INVITE
    and BYE; records the request lines and the INVITE's body."""

    def __init__(self, video_port: int) -> None:
        self.video_port = video_port
        self.requests: list[str] = []
        self.offer = ""
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        head, _, body = data.decode().partition("\r\n\r\n")
        lines = head.split("\r\n")
        if lines[0].startswith("SIP/2.0"):
            return
        self.requests.append(lines[0].split()[0])
        if lines[0].startswith("ACK"):
            return
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        answer = ""
        if lines[0].startswith("INVITE"):
            self.offer = body
            answer = (
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                "m=audio 40000 RTP/AVP 0\r\n"
                f"m=video {self.video_port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
            )
        assert self.transport is not None
        port = self.transport.get_extra_info("sockname")[1]
        to = headers["to"] if "tag=" in headers["to"] else headers["to"] + ";tag=agent"
        response = (
            f"SIP/2.0 200 OK\r\nVia: {headers['via']}\r\nFrom: {headers['from']}\r\n"
            f"To: {to}\r\nCall-ID: {headers['call-id']}\r\nCSeq: {headers['cseq']}\r\n"
            f"Contact: <sip:agent@127.0.0.1:{port}>\r\n"
            + ("Content-Type: application/sdp\r\n" if answer else "")
            + f"Content-Length: {len(answer)}\r\n\r\n{answer}"
        )
        self.transport.sendto(response.encode(), addr)


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) not installed")
async def test_uac_video_scenario_reports_the_answers_video_port(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    transport, agent = await loop.create_datagram_endpoint(
        lambda: _AnsweringAgent(23456), local_addr=(LOCAL, 0)
    )
    try:
        port = transport.get_extra_info("sockname")[1]
        proc, video_port = await start_video_call(
            f"{LOCAL}:{port}", tmp_path, rx_port=40002, vrx_port=40004, hold_ms=300,
            service="room",
        )  # fmt: skip
        assert video_port == 23456
        result = await proc.wait()
        result.assert_ok()
        assert agent.requests == ["INVITE", "ACK", "BYE"]
        for line in (
            "m=audio 40002 RTP/AVP 0 101", "m=video 40004 RTP/AVP 96 97",
            "a=fmtp:96 packetization-mode=1;profile-level-id=42e01f", "a=rtpmap:97 VP8/90000",
            "a=rtcp-fb:* nack pli", "a=rtcp-fb:* ccm fir",
        ):  # fmt: skip
            assert line in agent.offer.splitlines(), (line, agent.offer)
    finally:
        transport.close()
