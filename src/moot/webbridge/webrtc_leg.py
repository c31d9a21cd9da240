"""A browser's media: its WebRTC peer connection (aiortc) relayed to the call bridge.

aiortc terminates ICE, DTLS-SRTP and Opus. What the browser's microphone sends is decoded,
resampled to the mixer's 8 kHz and relayed as plain RTP (PCMU) on loopback to the leg's
media port in the call bridge's media pool — the same kind of port a SIP phone's RTP
reaches — so the browser is mixed like any other leg. The pool sends the leg's N-1 mix back
to the relay's socket; :class:`MixTrack` plays it out to the browser, paced by its own
20 ms clock (aiortc encodes it as Opus).

Video goes through :class:`~moot.webbridge.video_relay.VideoRelay`, still encoded: the
browser's camera to the leg's video port in the media pool, the pool's composed view back
to the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, AudioResampler
from av.frame import Frame

from moot.media.g711 import ulaw_decode, ulaw_encode
from moot.media.rtp import RtpError, RtpPacket
from moot.webbridge.offer import BadOffer, check_offer
from moot.webbridge.video_relay import EncodedTrack, FrameTap, VideoRelay, codec_of

log = logging.getLogger("moot.webbridge")

RATE = 8000
FRAME = 160  # 20 ms at 8 kHz
PCMU = 0
TIME_BASE = fractions.Fraction(1, RATE)
SILENCE: npt.NDArray[np.int16] = np.zeros(FRAME, dtype=np.int16)
#: Mix frames buffered towards the browser at most (older ones are dropped: latency bound).
MAX_QUEUED = 6
#: ICE + DTLS must be up this long after the answer.
CONNECT_TIMEOUT = 10.0
#: A connected browser that sends no audio for this long is gone (its network, its tab).
MEDIA_TIMEOUT = 4.0


class MixTrack(MediaStreamTrack):
    """The leg's N-1 mix towards the browser, one 20 ms frame per :meth:`recv`."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._frames: deque[npt.NDArray[np.int16]] = deque(maxlen=MAX_QUEUED)
        self._start: float | None = None
        self._pts = 0

    def push(self, pcm: npt.NDArray[np.int16]) -> None:
        self._frames.append(pcm)

    async def recv(self) -> Frame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            wait = self._start + self._pts / RATE - now
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.2:  # the loop stalled: do not burst to catch up
                self._start = now - self._pts / RATE
        pcm = self._frames.popleft() if self._frames else SILENCE
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        self._pts += FRAME
        return frame


class _Relay(asyncio.DatagramProtocol):
    """Plain RTP on loopback between the browser's media and the leg's media pool port."""

    def __init__(self, track: MixTrack) -> None:
        self.track = track
        self.transport: asyncio.DatagramTransport | None = None
        self.pool: tuple[str, int] | None = None
        self.ssrc = secrets.randbits(32)
        self.seq = secrets.randbits(16)
        self.timestamp = secrets.randbits(32)
        self.buffer: npt.NDArray[np.int16] = np.zeros(0, dtype=np.int16)
        self.packets_in = 0
        self.packets_out = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's UDP transport is not an asyncio.DatagramTransport subclass)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.pool is None or addr[0] != self.pool[0]:
            return  # only the media pool talks to this socket
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            return  # RTCP and strays
        if packet.payload_type == PCMU and packet.payload:
            self.packets_in += 1
            self.track.push(ulaw_decode(packet.payload))

    def send_pcm(self, pcm: npt.NDArray[np.int16]) -> None:
        """Queue 8 kHz audio; every full 20 ms goes out as one RTP packet."""
        self.buffer = np.concatenate((self.buffer, pcm)) if self.buffer.size else pcm
        while self.buffer.size >= FRAME:
            chunk, self.buffer = self.buffer[:FRAME], self.buffer[FRAME:]
            if self.transport is not None and self.pool is not None:
                packet = RtpPacket(payload_type=PCMU, sequence_number=self.seq, timestamp=self.timestamp,
                                   ssrc=self.ssrc, payload=ulaw_encode(chunk))
                self.transport.sendto(packet.serialize(), self.pool)
                self.packets_out += 1
            self.seq = (self.seq + 1) & 0xFFFF
            self.timestamp = (self.timestamp + FRAME) & 0xFFFFFFFF


class WebRtcMedia:
    """One browser's peer connection and its relay to the media pool."""

    def __init__(self, on_failed: Callable[[str], None]) -> None:
        self.on_failed = on_failed
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = MixTrack()
        self.relay = _Relay(self.track)
        self.video_track = EncodedTrack()
        self.video_relay = VideoRelay(self.video_track)
        self.video_tap: FrameTap | None = None
        #: (relay host, relay port, codec, payload type) once a video stream is negotiated.
        self.video: tuple[str, int, str, int] | None = None
        self._pool_video_port = 0
        self.connected = asyncio.Event()
        self._last_audio = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    @property
    def relay_address(self) -> tuple[str, int]:
        assert self.relay.transport is not None
        host, port = self.relay.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def open_relay(self) -> tuple[str, int]:
        """Bind the loopback RTP socket the media pool will exchange audio with."""
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self.relay, local_addr=("127.0.0.1", 0))
        return self.relay_address

    def connect_pool(self, port: int, video_port: int = 0) -> None:
        self.relay.pool = ("127.0.0.1", port)
        self._pool_video_port = video_port

    async def answer(self, offer: str) -> str:
        """Apply the browser's offer; the answer (with all our candidates)."""
        check_offer(offer)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        except Exception as exc:  # aiortc rejects what it cannot negotiate with ValueError & co.
            raise BadOffer(f"the SDP offer cannot be used: {exc}"[:200]) from None
        self.pc.addTrack(self.track)
        video = next((t for t in self.pc.getTransceivers() if t.kind == "video"), None)
        if video is not None and self._pool_video_port:
            await self.video_relay.open()
            self.video_tap = self.video_relay.tap(video.receiver)
            self.video_track.sender = self.pc.addTrack(self.video_track)
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        if video is not None and self.video_relay.transport is not None:
            negotiated = codec_of(video.sender, video)
            if negotiated is not None:
                codec, payload_type = negotiated
                self.video_relay.start(self._pool_video_port, codec, payload_type)
                host, port = self.video_relay.address
                self.video = (host, port, codec, payload_type)
        self._spawn(self._watch())
        return str(self.pc.localDescription.sdp)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.track.stop()
        self.video_track.stop()
        if self.video_tap is not None:
            self.video_tap.close()
        with contextlib.suppress(Exception):
            await self.pc.close()
        if self.relay.transport is not None:
            self.relay.transport.close()
        self.video_relay.close()

    # ---------------------------------------------------------------- internals
    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fail(self, reason: str) -> None:
        if not self._closed:
            self.on_failed(reason)

    def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self.connected.set()
        elif state == "failed":
            self._fail("the media connection failed (ICE/DTLS)")

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._pump_audio(track))
        # video frames never reach the track: the relay's tap takes them encoded

    async def _watch(self) -> None:
        try:
            await asyncio.wait_for(self.connected.wait(), CONNECT_TIMEOUT)
        except TimeoutError:
            self._fail(f"the media connection did not come up within {CONNECT_TIMEOUT:.0f} s")
            return
        self._last_audio = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            if time.monotonic() - self._last_audio > MEDIA_TIMEOUT:
                self._fail(f"no audio from the browser for {MEDIA_TIMEOUT:.0f} s")
                return

    async def _pump_audio(self, track: MediaStreamTrack) -> None:
        resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self._last_audio = time.monotonic()
            assert isinstance(frame, AudioFrame)
            for out in resampler.resample(frame):
                self.relay.send_pcm(out.to_ndarray().reshape(-1).astype(np.int16, copy=False))
