"""The media pool's video (issue 6) with independent video endpoints on loopback.

Each leg's far end is a tests/video_peer.VideoPeer: PyAV encoders and decoders with aiortc's
RTP payloaders - not Moot's code. Peers send solid colours; what they receive back is
decoded and looked at: the composed layout, mixed codecs and sizes in one call, keyframes on
request, and bad input (corrupt payloads, garbage datagrams, a resolution change, a stream
that stops) that must not cost the others their picture.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from moot.media.pool import CodecSpec, LegConfig, MediaError, MediaPool, VideoConfig
from tests.video_peer import BLUE, GREEN, RED, VideoPeer, dominant_colours, has_colour

PCMU = CodecSpec("PCMU", 0, 8000, 1)
YELLOW = (230, 220, 30)
_ids = itertools.count()


@pytest.fixture
async def pool() -> AsyncIterator[MediaPool]:
    pool = MediaPool(1, rtp_timeout=60.0)
    await pool.start()
    try:
        yield pool
    finally:
        await pool.stop()


async def join(pool: MediaPool, call: str, peer: VideoPeer, colour: Sequence[int], *, codec: str = "H264",
               pt: int = 96, size: tuple[int, int] = (640, 360), layout: str = "allEqual",
               view: tuple[int, int] = (640, 360), mode: int = 1) -> str:
    leg_id = f"{peer.name}-{next(_ids)}"
    await pool.open_leg(call, leg_id, "127.0.0.1")
    port = await pool.open_video(leg_id)
    await pool.start_leg(leg_id, LegConfig(
        remote=("127.0.0.1", 9), codec=PCMU, name=peer.name,
        video=VideoConfig(remote=("127.0.0.1", peer.port), codec=codec, payload_type=pt, width=view[0],
                          height=view[1], fps=30, bitrate=600_000, layout=layout, packetization_mode=mode)))
    peer.start_sending(("127.0.0.1", port), codec=codec, payload_type=pt, colour=colour,
                       width=size[0], height=size[1])
    return leg_id


async def sees(peer: VideoPeer, present: Sequence[Sequence[int]], absent: Sequence[Sequence[int]],
               timeout: float = 10.0, *, share: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while True:
        picture = peer.latest
        if picture is not None and all(has_colour(picture, c, min_share=share) for c in present) \
                and not any(has_colour(picture, c) for c in absent):
            return
        if time.monotonic() > deadline:
            seen = dominant_colours(picture) if picture is not None else "nothing"
            raise AssertionError(f"{peer.name} should see {present} and not {absent}; sees {seen}")
        await asyncio.sleep(0.1)


async def test_mixed_codecs_and_sizes_compose_and_keyframes_come_on_request(pool: MediaPool) -> None:
    async with VideoPeer(name="red") as red, VideoPeer(name="green") as green, \
            VideoPeer(name="blue") as blue:
        await join(pool, "c1", red, RED)
        green_leg = await join(pool, "c1", green, GREEN, codec="VP8", pt=97, size=(320, 240), view=(320, 180))
        await join(pool, "c1", blue, BLUE, size=(1280, 720), mode=0)
        await sees(red, [GREEN, BLUE], [RED])
        await sees(green, [RED, BLUE], [GREEN])
        await sees(blue, [RED, GREEN], [BLUE])
        assert green.stats.width == 320 and green.stats.height == 180  # its negotiated size
        assert red.stats.width == 640
        # A PLI from a peer is answered with a keyframe within a second.
        for peer in (red, green, blue):
            seconds = await peer.request_keyframe(timeout=3.0)
            assert seconds < 1.0, (peer.name, seconds)
        fir = await blue.request_keyframe(timeout=3.0, fir=True)
        assert fir < 1.0
        stats = await pool.stats(green_leg)
        assert stats.video is not None
        assert (stats.video.rx_codec, stats.video.rx_width, stats.video.rx_height) == ("VP8", 320, 240)
        assert stats.video.keyframe_requests >= 1 and stats.video.keyframes_sent >= 2
        # The bridge asked every peer for a keyframe it needed at the start (a new decoder).
        totals = (await pool.worker_stats())[0]["video"]
        assert totals["frames_composed"] > 0 and totals["encode_s"] > 0 and totals["decode_s"] > 0


async def test_layout_changes_live_and_bad_input_costs_nobody_else_their_picture(pool: MediaPool) -> None:
    async with VideoPeer(name="red") as red, VideoPeer(name="green") as green, \
            VideoPeer(name="blue") as blue:
        red_leg = await join(pool, "c2", red, RED)
        await join(pool, "c2", green, GREEN)
        await join(pool, "c2", blue, BLUE)
        await sees(red, [GREEN, BLUE], [RED])
        await pool.set_layout(red_leg, "speakerOnly")
        deadline = time.monotonic() + 5
        while sum(has_colour(red.latest, c, min_share=0.5) for c in (GREEN, BLUE)) != 1:  # type: ignore[arg-type]
            assert time.monotonic() < deadline, dominant_colours(red.latest)  # type: ignore[arg-type]
            await asyncio.sleep(0.1)
        with pytest.raises(MediaError, match="unknown layout"):
            await pool.set_layout(red_leg, "sideways")
        await pool.set_layout(red_leg, "allEqual")

        # Green sends garbage datagrams, corrupt frames, then changes its resolution.
        blue_frames = blue.stats.frames_decoded
        green.send_garbage(50)
        green.corrupt(10)
        await asyncio.sleep(1.0)
        assert blue.stats.frames_decoded >= blue_frames + 20  # no pause for the others
        green.change_resolution(320, 180)
        green.set_colour(YELLOW)
        await sees(blue, [RED, YELLOW], [BLUE, GREEN], timeout=10.0)
        await sees(red, [BLUE, YELLOW], [RED])
        assert green.stats.plis_received + green.stats.firs_received >= 1  # the bridge asked after the damage

        # Green's stream stops: after a few seconds its pane is a placeholder; the others go on.
        await green.stop_sending()
        await sees(blue, [RED], [YELLOW, BLUE], timeout=10.0)
        frames = red.stats.frames_decoded
        await asyncio.sleep(1.0)
        assert red.stats.frames_decoded >= frames + 20


async def test_a_leg_alone_sees_the_waiting_card_and_video_needs_a_port(pool: MediaPool) -> None:
    async with VideoPeer(name="alone") as alone:
        await join(pool, "c3", alone, RED)
        await alone.wait_frames(10, timeout=5.0)
        assert alone.latest is not None and not has_colour(alone.latest, RED)
        # A leg without a video port cannot be given a video configuration.
        await pool.open_leg("c3", "no-video", "127.0.0.1")
        with pytest.raises(MediaError, match="open_video first"):
            await pool.start_leg("no-video", LegConfig(
                remote=("127.0.0.1", 9), codec=PCMU,
                video=VideoConfig(remote=("127.0.0.1", 9), codec="H264", payload_type=96)))
        with pytest.raises(MediaError, match="unsupported video codec"):
            await pool.start_leg("no-video", LegConfig(
                remote=("127.0.0.1", 9), codec=PCMU,
                video=VideoConfig(remote=("127.0.0.1", 9), codec="H263", payload_type=96)))
