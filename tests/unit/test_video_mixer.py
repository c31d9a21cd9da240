"""The per-call video mixer on loopback: views, encoder sharing, keyframes, overload steps.

Real parts: VideoStreams with UDP sockets on 127.0.0.1, the real compositor and PyAV
encoders; the far ends are plain sockets whose packets are depacketized and decoded by the
test peer's independent implementation (aiortc's depayloaders, PyAV).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import numpy as np
import pytest

from moot.media.leg import VideoConfig
from moot.media.video.mixer import DEGRADE_STEPS, OVERLOAD_AFTER, VideoMixer
from moot.media.video.stream import VideoStream
from tests.video_peer import BLUE, GREEN, RED, has_colour, solid_i420

WIDTH, HEIGHT = 320, 180


class FarEnd:
    """A socket the mixer sends a leg's view to; decodes what arrives (aiortc + PyAV)."""

    def __init__(self) -> None:
        from aiortc.codecs import get_decoder
        from aiortc.codecs.h264 import H264PayloadDescriptor
        from aiortc.rtcrtpparameters import RTCRtpCodecParameters

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self._parse = H264PayloadDescriptor.parse
        self._decoder = get_decoder(RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=96))
        self._buffer = b""
        self.frames = 0
        self.keyframes = 0
        self.latest: np.ndarray | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()
        return str(host), int(port)

    def drain(self) -> None:
        from aiortc.jitterbuffer import JitterFrame

        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                return
            _descriptor, payload = self._parse(data[12:])
            self._buffer += payload
            if data[1] & 0x80:  # marker: the frame is complete
                if b"\x00\x00\x00\x01\x65" in self._buffer or b"\x00\x00\x01\x65" in self._buffer:
                    self.keyframes += 1
                for frame in self._decoder.decode(JitterFrame(self._buffer, 0)):
                    self.latest = frame.to_ndarray(format="yuv420p")
                    self.frames += 1
                self._buffer = b""


def stream(leg_id: str, far: FarEnd, layout: str = "allEqual") -> VideoStream:
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtcp.bind(("127.0.0.1", 0))
    s = VideoStream(leg_id, "127.0.0.1", rtp.getsockname()[1], rtp, rtcp)
    s.configure(VideoConfig(remote=far.address, codec="H264", payload_type=96, width=WIDTH, height=HEIGHT,
                            fps=30, bitrate=300_000, layout=layout))
    return s


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def call(loop: asyncio.AbstractEventLoop, layout: str = "allEqual") -> tuple[VideoMixer, dict[str, VideoStream], dict[str, FarEnd]]:
    mixer = VideoMixer(loop, "call")
    streams: dict[str, VideoStream] = {}
    fars: dict[str, FarEnd] = {}
    for name, colour in (("red", RED), ("green", GREEN), ("blue", BLUE)):
        fars[name] = FarEnd()
        streams[name] = stream(name, fars[name], layout)
        streams[name].picture = solid_i420(WIDTH, HEIGHT, colour)
        streams[name].picture_at = time.monotonic() + 60
        mixer.set_participant(name, name.title(), streams[name])
    mixer.stop()  # the test drives frames itself
    return mixer, streams, fars


def run_frames(mixer: VideoMixer, fars: dict[str, FarEnd], count: int) -> None:
    for _ in range(count):
        mixer.frame(time.monotonic())
        time.sleep(0.002)
        for far in fars.values():
            far.drain()


def test_each_leg_sees_the_others_and_views_are_encoded_once(loop: asyncio.AbstractEventLoop) -> None:
    mixer, streams, fars = call(loop)
    run_frames(mixer, fars, 10)
    colours = {"red": RED, "green": GREEN, "blue": BLUE}
    for name, far in fars.items():
        assert far.latest is not None and far.frames >= 8, name
        assert far.keyframes >= 1, name  # a new leg starts with a keyframe
        others = [c for n, c in colours.items() if n != name]
        assert all(has_colour(far.latest, c) for c in others), name
        assert not has_colour(far.latest, colours[name]), name
    # allEqual: every leg's view differs (it leaves itself out): one encode per leg.
    assert mixer.stats.frames_encoded == 30
    assert len(mixer.encoders) == 3

    # speakerOnly with red speaking: green and blue see the same picture - one encoder.
    for s in streams.values():
        s.layout = "speakerOnly"
    mixer.speaker_changed("green")
    mixer.speaker_changed("red")
    before = mixer.stats.frames_encoded
    run_frames(mixer, fars, 10)
    assert mixer.stats.frames_encoded - before == 20  # red's view (green, previous) + the shared one
    assert fars["blue"].latest is not None and has_colour(fars["blue"].latest, RED, min_share=0.5)
    assert fars["red"].latest is not None and has_colour(fars["red"].latest, GREEN, min_share=0.5)


def test_keyframe_requests_and_a_stopped_source(loop: asyncio.AbstractEventLoop) -> None:
    mixer, streams, fars = call(loop)
    run_frames(mixer, fars, 5)
    keyframes = fars["red"].keyframes
    streams["red"].keyframe_pending = True  # as a PLI/FIR or the API's generateKeyframe does
    run_frames(mixer, fars, 2)
    assert fars["red"].keyframes == keyframes + 1
    assert streams["red"].keyframes_sent >= 2
    # Green stops sending: after STALE_PICTURE its pane is a placeholder, the others stay.
    streams["green"].picture_at = time.monotonic() - 10
    run_frames(mixer, fars, 3)
    picture = fars["red"].latest
    assert picture is not None
    assert has_colour(picture, BLUE) and not has_colour(picture, GREEN)


def test_overload_lowers_the_frame_rate_then_the_resolution(loop: asyncio.AbstractEventLoop) -> None:
    mixer, streams, fars = call(loop)
    now = time.monotonic()
    assert mixer.level == 0
    # Work taking 1.5 frame intervals, for longer than OVERLOAD_AFTER: one step at a time.
    steps = []
    for i in range(200):
        mixer._tick_index += 1
        mixer._account(1.5 / 30, now + i / 30)
        steps.append(mixer.level)
    assert steps[0] == 0 and max(steps) == len(DEGRADE_STEPS) - 1
    first_step = steps.index(1)
    assert first_step / 30 >= OVERLOAD_AFTER * 0.9
    assert DEGRADE_STEPS[1] == (2, 1) and DEGRADE_STEPS[2] == (2, 2)  # frame rate first
    # At level 2 the legs get half the frames, at half the size.
    mixer.level = 2
    sent = {n: s.tx_frames for n, s in streams.items()}
    run_frames(mixer, fars, 10)
    for name, s in streams.items():
        assert s.tx_frames - sent[name] == 5, name
        assert s.frames_dropped >= 5, name
        assert mixer.tx_size(name) == (WIDTH // 2, HEIGHT // 2)
    # Relief: light work for a while steps back down.
    later = now + 100
    for i in range(600):
        mixer._tick_index += 1
        mixer._account(0.001, later + i / 30)
    assert mixer.level == 0


def test_a_saturated_worker_degrades_calls_that_are_each_light(loop: asyncio.AbstractEventLoop) -> None:
    """Each call's own work is small, but together the calls fill the worker's core."""
    busy = [0.99]
    mixer = VideoMixer(loop, "call", busy=lambda: busy[0])
    now = time.monotonic()
    levels = []
    for i in range(90):
        mixer._tick_index += 1
        mixer._account(0.002, now + i / 30)  # 6 % of a frame interval: light on its own
        levels.append(mixer.level)
    assert levels[0] == 0 and mixer.level >= 1
    # Half the frame rate brought the worker to 60 %: stepping back would overload it again.
    mixer.level = 1
    busy[0] = 0.6
    for i in range(300):
        mixer._tick_index += 1
        mixer._account(0.002, now + 10 + i / 30)
    assert mixer.level == 1
    # People left: the worker is at 20 %; after a while the call steps back to full rate.
    busy[0] = 0.2
    for i in range(300):
        mixer._tick_index += 1
        mixer._account(0.002, now + 30 + i / 30)
    assert mixer.level == 0


def test_a_caption_is_drawn_on_one_legs_picture_for_its_time(loop: asyncio.AbstractEventLoop) -> None:
    mixer, streams, fars = call(loop)
    streams["red"].caption = "The license of this meeting server has expired."
    streams["red"].caption_until = time.monotonic() + 0.5
    run_frames(mixer, fars, 3)

    def top_band_bright(picture: np.ndarray | None) -> float:
        assert picture is not None
        return float((picture[: HEIGHT // 8] > 200).mean())

    assert top_band_bright(fars["red"].latest) > 0.01  # white text on the dark band
    assert top_band_bright(fars["green"].latest) == 0.0  # the others: no caption
    time.sleep(0.6)
    run_frames(mixer, fars, 3)
    assert top_band_bright(fars["red"].latest) == 0.0  # gone after its time
