"""A browser's video relayed between aiortc and the call bridge's media pool, still encoded.

The media pool composes and encodes every leg's view and decodes every leg's camera (that
is where transcoding happens, guide D.1); a browser leg must not be decoded and encoded a
second time here. So the web bridge relays *encoded* frames, as plain RTP on loopback, the
same way a SIP phone's video reaches its media pool port:

* **browser -> pool**: aiortc receives the browser's SRTP, handles NACK/RTX and its jitter
  buffer, and reassembles complete encoded frames, which it would hand to its decoder
  thread. :class:`FrameTap` takes that queue's place (the decoder thread then only waits
  for the end), and each frame is packetized again (Moot's RFC 6184 / RFC 7741
  packetizers) towards the leg's video port in the pool.
* **pool -> browser**: the pool's RTP (the leg's composed view) is depacketized into
  frames which :class:`EncodedTrack` yields to aiortc as ``av.Packet``: aiortc packetizes
  them for the browser without encoding (its ``Encoder.pack`` path).
* **keyframes**: a PLI or FIR from the browser (aiortc sets its sender's keyframe flag)
  becomes an RTCP PLI to the pool; a PLI from the pool becomes aiortc's PLI to the browser.

aiortc offers no public hook for either encoded path; the two private attributes used are
named in :data:`_DECODER_QUEUE` and :data:`_FORCE_KEYFRAME` (checked at startup by tests).
"""

from __future__ import annotations

import asyncio
import fractions
import queue
import secrets
import struct
import threading
from collections import deque
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from moot.media import rtcp
from moot.media.rtp import RtpError, is_rtcp, parse_header
from moot.media.video import h264, vp8

__all__ = ["EncodedTrack", "FrameTap", "VideoRelay", "codec_of"]

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_FORCE_KEYFRAME = "_RTCRtpSender__force_keyframe"
TIME_BASE = fractions.Fraction(1, 90000)
MAX_QUEUED = 4
_HEADER = struct.Struct("!BBHII")


def codec_of(sender: RTCRtpSender | None, transceiver: Any) -> tuple[str, int] | None:
    """(codec name, payload type) negotiated for a video transceiver, else None."""
    codecs = getattr(transceiver, "_codecs", None) or []
    for codec in codecs:
        name = codec.mimeType.split("/")[-1].upper()
        if name in ("H264", "VP8"):
            return name, int(codec.payloadType)
    return None


class FrameTap:
    """Stands in for aiortc's decoder queue: complete encoded frames go to the relay."""

    def __init__(self, relay: VideoRelay, loop: asyncio.AbstractEventLoop) -> None:
        self.relay = relay
        self.loop = loop
        self._closed = threading.Event()

    # the queue.Queue interface aiortc uses
    def put(self, item: Any) -> None:
        if item is None:
            self._closed.set()
            return
        _codec, frame = item
        self.relay.send_frame(bytes(frame.data), int(frame.timestamp))

    def get(self, *_args: Any, **_kwargs: Any) -> Any:
        self._closed.wait()  # the decoder thread idles until the receiver stops
        return None

    def close(self) -> None:
        self._closed.set()


class EncodedTrack(MediaStreamTrack):
    """The pool's composed view towards the browser, frame by frame, still encoded."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._frames: deque[tuple[bytes, int]] = deque(maxlen=MAX_QUEUED)
        self._ready = asyncio.Event()
        self.sender: RTCRtpSender | None = None
        self.on_keyframe_request: Any = None

    def push(self, frame: bytes, timestamp: int) -> None:
        self._frames.append((frame, timestamp))
        self._ready.set()

    async def recv(self) -> av.Packet:  # type: ignore[override,type-arg]
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            self._check_keyframe_request()
            if self._frames:
                data, timestamp = self._frames.popleft()
                if not self._frames:
                    self._ready.clear()
                packet = av.Packet(data)
                packet.pts = timestamp
                packet.time_base = TIME_BASE
                return packet
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), 0.5)
            except TimeoutError:
                continue

    def _check_keyframe_request(self) -> None:
        sender = self.sender
        if sender is not None and getattr(sender, _FORCE_KEYFRAME, False):
            setattr(sender, _FORCE_KEYFRAME, False)
            if self.on_keyframe_request is not None:
                self.on_keyframe_request()


class VideoRelay(asyncio.DatagramProtocol):
    """The loopback RTP (and RTCP on port + 1) between aiortc and the leg's pool video port."""

    def __init__(self, track: EncodedTrack) -> None:
        self.track = track
        self.transport: asyncio.DatagramTransport | None = None
        self.rtcp_transport: asyncio.DatagramTransport | None = None
        self.pool: tuple[str, int] | None = None
        self.codec = "VP8"
        self.payload_type = 96
        self.receiver: RTCRtpReceiver | None = None
        self.ssrc = secrets.randbits(32)
        self.seq = secrets.randbits(16)
        self.picture_id = secrets.randbits(15)
        self.depacketizer: h264.H264Depacketizer | vp8.Vp8Depacketizer = vp8.Vp8Depacketizer()
        self.frames_in = 0
        self.frames_out = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def open(self) -> tuple[str, int]:
        """Bind an even port and the next one on loopback."""
        loop = asyncio.get_running_loop()
        for _ in range(50):
            transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
            port = transport.get_extra_info("sockname")[1]
            if port % 2 == 0:
                try:
                    rtcp_transport, _ = await loop.create_datagram_endpoint(
                        lambda: _RtcpSide(self), local_addr=("127.0.0.1", port + 1))
                except OSError:
                    transport.close()
                    continue
                self.transport = transport
                self.rtcp_transport = rtcp_transport
                return self.address
            transport.close()
        raise OSError("no free pair of loopback ports for the video relay")

    def start(self, pool_port: int, codec: str, payload_type: int) -> None:
        self.pool = ("127.0.0.1", pool_port)
        self.codec, self.payload_type = codec, payload_type
        self.depacketizer = h264.H264Depacketizer() if codec == "H264" else vp8.Vp8Depacketizer()
        self.track.on_keyframe_request = self.request_keyframe_from_pool

    # browser -> pool
    def send_frame(self, frame: bytes, timestamp: int) -> None:
        """An encoded frame from the browser (called from aiortc's receive path)."""
        if self.transport is None or self.pool is None or not frame:
            return
        if self.codec == "H264":
            payloads = h264.packetize(frame)
        else:
            self.picture_id = (self.picture_id + 1) & 0x7FFF
            payloads = vp8.packetize(frame, picture_id=self.picture_id)
        last = len(payloads) - 1
        for i, payload in enumerate(payloads):
            header = _HEADER.pack(0x80, self.payload_type | (0x80 if i == last else 0), self.seq,
                                  timestamp & 0xFFFFFFFF, self.ssrc)
            self.seq = (self.seq + 1) & 0xFFFF
            self.transport.sendto(header + payload, self.pool)
        self.frames_out += 1

    # pool -> browser
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        pass  # kept in open() once the pair is bound

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.pool is None or addr[0] != self.pool[0]:
            return
        if is_rtcp(data):
            self.rtcp_received(data)
            return
        try:
            pt, marker, seq, ts, _ssrc, start, end = parse_header(data)
        except RtpError:
            return
        if pt != self.payload_type:
            return
        frame = self.depacketizer.push(data[start:end], sequence=seq, timestamp=ts, marker=marker)
        if frame is not None:
            self.frames_in += 1
            self.track.push(frame, ts)
        if self.depacketizer.needs_keyframe:
            self.depacketizer.needs_keyframe = False
            self.request_keyframe_from_pool()

    def request_keyframe_from_pool(self) -> None:
        if self.rtcp_transport is not None and self.pool is not None:
            packet = rtcp.serialize_compound([rtcp.RtcpReceiverReport(self.ssrc), rtcp.pli(self.ssrc, 0)])
            self.rtcp_transport.sendto(packet, (self.pool[0], self.pool[1] + 1))

    def rtcp_received(self, data: bytes) -> None:
        """A PLI/FIR from the pool: ask the browser for a keyframe."""
        try:
            packets = rtcp.parse_compound(data)
        except rtcp.RtcpError:
            return
        if any(isinstance(p, rtcp.RtcpFeedback) and (p.is_pli or p.is_fir) for p in packets):
            receiver = self.receiver
            if receiver is None:
                return
            sources = receiver.getSynchronizationSources()
            if sources:
                task = asyncio.ensure_future(receiver._send_rtcp_pli(sources[0].source))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def tap(self, receiver: RTCRtpReceiver) -> FrameTap:
        """Put a :class:`FrameTap` where ``receiver`` queues frames for its decoder."""
        if not isinstance(getattr(receiver, _DECODER_QUEUE, None), queue.Queue):
            raise RuntimeError("aiortc's receiver has no decoder queue to tap (aiortc changed?)")
        tap = FrameTap(self, asyncio.get_running_loop())
        setattr(receiver, _DECODER_QUEUE, tap)
        self.receiver = receiver
        return tap

    def close(self) -> None:
        for transport in (self.transport, self.rtcp_transport):
            if transport is not None:
                transport.close()


class _RtcpSide(asyncio.DatagramProtocol):
    def __init__(self, relay: VideoRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.relay.pool is not None and addr[0] == self.relay.pool[0]:
            self.relay.rtcp_received(data)
