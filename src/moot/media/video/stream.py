"""One leg's video stream inside a media worker: its RTP/RTCP sockets, what it receives
(depacketized and decoded on arrival: the newest picture is kept for the compositor) and
how its composed view is sent (RTP headers of its own over shared payloads).

Receive: each datagram is checked (RTP header, SRTP if negotiated, payload type), counted
in RFC 3550 receiver statistics, and pushed into the codec's depacketizer (RFC 6184 for
H.264, RFC 7741 for VP8); a complete access unit is decoded at once with PyAV. Loss or a
picture the decoder cannot use makes the stream ask its sender for a keyframe: RTCP PLI
(RFC 4585) or FIR (RFC 5104) as the remote's SDP allows, else :attr:`wants_keyframe_info`
for the call bridge to send SIP INFO ``picture_fast_update``; at most every
:data:`KEYFRAME_REQUEST_INTERVAL` seconds, so a burst of loss does not flood the sender.

Send: the mixer hands over the payloads of an encoded view (shared with every leg that sees
the same picture); the stream writes its own header (payload type, sequence number, 90 kHz
timestamp from the worker's clock, SSRC), protects with SRTP if negotiated and sends. PLI
or FIR from the remote sets :attr:`keyframe_pending` (the mixer forces an IDR); REMB and
TMMBR cap the bit rate the leg is sent.
"""

from __future__ import annotations

import random
import socket
import struct
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from moot.media import rtcp
from moot.media.leg import VideoConfig, VideoStats
from moot.media.rtp import RtpError, is_rtcp, parse_header
from moot.media.srtp import SrtpContext, SrtpError, receive_rtcp
from moot.media.video import h264, vp8
from moot.media.video.codec import VideoDecoder

__all__ = ["KEYFRAME_REQUEST_INTERVAL", "VIDEO_CLOCK", "VideoStream"]

VIDEO_CLOCK = 90_000
KEYFRAME_REQUEST_INTERVAL = 0.5
RATE_WINDOW = 1.0
RTCP_INTERVAL = 2.0
CNAME = "moot"
MIN_BITRATE = 64_000

Picture = npt.NDArray[np.uint8]
_HEADER = struct.Struct("!BBHII")


@dataclass
class _Rate:
    """Frames and bits over the last window, for fps and bit rate figures."""

    frames: int = 0
    bits: int = 0
    mark: float = field(default_factory=time.monotonic)
    fps: float = 0.0
    bps: int = 0

    def add(self, frames: int, octets: int, now: float) -> None:
        self.frames += frames
        self.bits += 8 * octets
        elapsed = now - self.mark
        if elapsed >= RATE_WINDOW:
            self.fps = self.frames / elapsed
            self.bps = int(self.bits / elapsed)
            self.frames = self.bits = 0
            self.mark = now

    def current(self, now: float) -> tuple[float, int]:
        if now - self.mark > 3 * RATE_WINDOW:
            return 0.0, 0  # nothing for a while
        return self.fps, self.bps


class VideoStream:
    """A leg's video: sockets, receive pipeline, send state (the worker's event loop owns it)."""

    def __init__(self, leg_id: str, host: str, port: int,
                 rtp_sock: socket.socket, rtcp_sock: socket.socket, *, cname: str = CNAME) -> None:
        self.leg_id = leg_id
        #: The leg's CNAME, the same as its audio's (RFC 3550 6.5.1: it ties them for lip sync).
        self.cname = cname
        self.host = host
        self.port = port
        self.rtp_sock = rtp_sock
        self.rtcp_sock = rtcp_sock
        self.config: VideoConfig | None = None
        self.remote: tuple[str, int] | None = None
        self.rtcp_remote: tuple[str, int] | None = None
        self.srtp: SrtpContext | None = None
        self.layout = "allEqual"
        #: A notice drawn over this leg's picture until ``caption_until`` (monotonic seconds).
        self.caption: str | None = None
        self.caption_until = 0.0
        # receive
        self.depacketizer: h264.H264Depacketizer | vp8.Vp8Depacketizer | None = None
        self.decoder: VideoDecoder | None = None
        self.picture: Picture | None = None
        self.picture_at = 0.0
        self.rx_stats: rtcp.ReceiverStatistics | None = None
        self.rx_rate = _Rate()
        self.rx_frames = 0
        self.bad_packets = 0
        self.decode_s = 0.0
        self.last_keyframe_request = 0.0
        self.wants_keyframe_info = False
        self.fir_seq = 0
        # send
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts_offset = random.getrandbits(32)
        self.picture_id = random.getrandbits(15)
        self.tx_rate = _Rate()
        self.tx_frames = 0
        self.packets_tx = 0
        self.bytes_tx = 0
        self.keyframes_sent = 0
        self.keyframe_requests = 0
        self.keyframe_pending = True  # the first frame a leg gets is a keyframe
        self.frames_dropped = 0
        self.bitrate_cap: int | None = None
        self.last_ts = self.ts_offset
        self.next_rtcp = time.monotonic() + random.uniform(0.5, 1.5) * RTCP_INTERVAL

    # ------------------------------------------------------------------ configuration
    def configure(self, config: VideoConfig) -> None:
        config.validate()
        old = self.config
        if old is None or old.codec != config.codec or old.payload_type != config.payload_type:
            self.depacketizer = (h264.H264Depacketizer() if config.codec == "H264"
                                 else vp8.Vp8Depacketizer())
            self.decoder = VideoDecoder(config.codec)
            self.rx_stats = None
            self.keyframe_pending = True
        if config.srtp_profile is None:
            self.srtp = None
        elif old is None or self.srtp is None or (old.srtp_profile, old.srtp_tx_key, old.srtp_rx_key) != (
                config.srtp_profile, config.srtp_tx_key, config.srtp_rx_key):
            assert config.srtp_tx_key is not None and config.srtp_rx_key is not None
            self.srtp = SrtpContext(config.srtp_profile, config.srtp_tx_key, config.srtp_rx_key)
        if not (old is not None and old.latch and config.latch and old.remote == config.remote):
            self.remote = config.remote
            self.rtcp_remote = (config.remote[0], config.remote[1] + 1)
        if old is None:
            self.layout = config.layout
        self.config = config

    @property
    def sending(self) -> bool:
        c = self.config
        return c is not None and self.remote is not None and c.direction in ("sendrecv", "sendonly")

    @property
    def receiving(self) -> bool:
        c = self.config
        return c is not None and c.direction in ("sendrecv", "recvonly")

    @property
    def bitrate(self) -> int:
        """What this leg is sent: its negotiated rate, capped by REMB/TMMBR, in 64 kbit/s steps
        (so legs with nearly the same cap share an encoder)."""
        assert self.config is not None
        rate = self.config.bitrate
        if self.bitrate_cap is not None:
            rate = max(MIN_BITRATE, min(rate, self.bitrate_cap))
        return rate // MIN_BITRATE * MIN_BITRATE

    # ------------------------------------------------------------------ receive
    def on_rtp(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        cfg = self.config
        if cfg is None:
            return
        if self.srtp is not None:
            try:
                data = self.srtp.unprotect_rtcp(data) if is_rtcp(data) else self.srtp.unprotect(data)
            except SrtpError:
                self.bad_packets += 1
                return
        if is_rtcp(data):  # rtcp-mux
            self.on_rtcp(data, addr, now, decrypted=True)
            return
        try:
            pt, marker, seq, ts, ssrc, start, end = parse_header(data)
        except RtpError:
            self.bad_packets += 1
            return
        if pt != cfg.payload_type or not self.receiving:
            self.bad_packets += 1
            return
        if cfg.latch and self.remote != addr:
            self.remote = (addr[0], addr[1])
            self.rtcp_remote = (addr[0], addr[1] + 1)
        rs = self.rx_stats
        if rs is None or rs.ssrc != ssrc:
            rs = self.rx_stats = rtcp.ReceiverStatistics(ssrc, VIDEO_CLOCK, probation=0)
        rs.update(seq, ts, int(now * VIDEO_CLOCK))
        self.rx_rate.add(0, len(data), now)
        assert self.depacketizer is not None and self.decoder is not None
        unit = self.depacketizer.push(data[start:end], sequence=seq, timestamp=ts, marker=marker)
        if unit is not None:
            started = time.perf_counter()
            picture = self.decoder.decode(unit)
            self.decode_s += time.perf_counter() - started
            if picture is not None:
                self.picture = picture
                self.picture_at = now
                self.rx_frames += 1
                self.rx_rate.add(1, 0, now)
        if (self.depacketizer.needs_keyframe or self.decoder.needs_keyframe) and self.ask_keyframe(now):
            self.depacketizer.needs_keyframe = False
            self.decoder.needs_keyframe = False

    def ask_keyframe(self, now: float) -> bool:
        """Ask the remote for a keyframe (rate-limited); False if it was too soon."""
        if now - self.last_keyframe_request < KEYFRAME_REQUEST_INTERVAL:
            return False
        self.last_keyframe_request = now
        cfg = self.config
        media_ssrc = self.rx_stats.ssrc if self.rx_stats is not None else 0
        if cfg is not None and "pli" in cfg.feedback:
            self.send_rtcp(now, [rtcp.pli(self.ssrc, media_ssrc)])
        elif cfg is not None and "fir" in cfg.feedback:
            self.fir_seq = (self.fir_seq + 1) & 0xFF
            self.send_rtcp(now, [rtcp.fir(self.ssrc, media_ssrc, self.fir_seq)])
        else:
            self.wants_keyframe_info = True
        return True

    def on_rtcp(self, data: bytes, addr: tuple[str, int], now: float, *, decrypted: bool) -> None:
        if self.config is None:
            return
        packets = receive_rtcp(data, None if decrypted else self.srtp)
        if packets is None:
            self.bad_packets += 1
            return
        for packet in packets:
            if isinstance(packet, rtcp.RtcpSenderReport) and self.rx_stats is not None:
                self.rx_stats.sender_report_received(packet.ntp_timestamp, now)
            elif isinstance(packet, rtcp.RtcpFeedback):
                if packet.is_pli or packet.is_fir:
                    self.keyframe_pending = True
                    self.keyframe_requests += 1
                else:
                    cap = rtcp.remb_bitrate(packet) or rtcp.tmmbr_bitrate(packet)
                    if cap:
                        self.bitrate_cap = cap

    # ------------------------------------------------------------------ send
    def send(self, payloads: list[bytes], timestamp: int, *, keyframe: bool, now: float) -> None:
        """Send one encoded picture (its RTP payloads) with this leg's header."""
        cfg = self.config
        if cfg is None or self.remote is None:
            return
        ts = (self.ts_offset + timestamp) & 0xFFFFFFFF
        pt = cfg.payload_type
        last = len(payloads) - 1
        octets = 0
        for i, payload in enumerate(payloads):
            packet = _HEADER.pack(0x80, pt | (0x80 if i == last else 0), self.seq, ts, self.ssrc) + payload
            self.seq = (self.seq + 1) & 0xFFFF
            if self.srtp is not None:
                try:
                    packet = self.srtp.protect(packet)
                except SrtpError:
                    continue
            try:
                self.rtp_sock.sendto(packet, self.remote)
            except OSError:
                continue  # the remote is gone (ICMP unreachable): the RTP timeout ends the leg
            octets += len(packet)
            self.packets_tx += 1
        self.bytes_tx += octets
        self.tx_frames += 1
        self.tx_rate.add(1, octets, now)
        if keyframe:
            self.keyframes_sent += 1
            self.keyframe_pending = False
        self.last_ts = ts

    def caption_now(self, now: float) -> str | None:
        if self.caption is not None and now >= self.caption_until:
            self.caption = None
        return self.caption

    def next_picture_id(self) -> int:
        self.picture_id = (self.picture_id + 1) & 0x7FFF
        return self.picture_id

    # ------------------------------------------------------------------ RTCP
    def periodic(self, now: float) -> None:
        if now >= self.next_rtcp:
            self.next_rtcp = now + random.uniform(0.5, 1.5) * RTCP_INTERVAL
            self.send_rtcp(now)

    def send_rtcp(self, now: float, extra: list[rtcp.RtcpPacket] | None = None) -> None:
        if self.rtcp_remote is None or self.config is None:
            return
        reports = [self.rx_stats.report_block(now)] if self.rx_stats is not None else []
        packets = rtcp.report(self.ssrc, self.cname, packets_sent=self.packets_tx, octets_sent=self.bytes_tx,
                              rtp_timestamp=self.last_ts, reports=reports)
        data = rtcp.serialize_compound([*packets, *(extra or [])])
        try:
            if self.srtp is not None:
                data = self.srtp.protect_rtcp(data)
            self.rtcp_sock.sendto(data, self.rtcp_remote)
        except (OSError, SrtpError):
            pass

    def send_bye(self) -> None:
        self.send_rtcp(time.monotonic(), [rtcp.RtcpBye([self.ssrc])])

    # ------------------------------------------------------------------ statistics
    def stats(self, now: float, *, tx_size: tuple[int, int] = (0, 0)) -> VideoStats:
        rx_fps, rx_bps = self.rx_rate.current(now)
        tx_fps, tx_bps = self.tx_rate.current(now)
        cfg = self.config
        dec = self.decoder
        return VideoStats(
            rx_codec=cfg.codec if cfg is not None and self.rx_frames else "",
            rx_width=dec.width if dec is not None and self.rx_frames else 0,
            rx_height=dec.height if dec is not None and self.rx_frames else 0,
            rx_fps=round(rx_fps, 1),
            rx_bps=rx_bps,
            rx_frames=self.rx_frames,
            rx_packets_lost=self.rx_stats.packets_lost if self.rx_stats is not None else 0,
            rx_decode_errors=dec.errors if dec is not None else 0,
            tx_codec=cfg.codec if cfg is not None and self.tx_frames else "",
            tx_width=tx_size[0],
            tx_height=tx_size[1],
            tx_fps=round(tx_fps, 1),
            tx_bps=tx_bps,
            tx_frames=self.tx_frames,
            frames_dropped=self.frames_dropped,
            keyframes_sent=self.keyframes_sent,
            keyframe_requests=self.keyframe_requests,
            layout=self.layout,
        )

    def close(self) -> None:
        self.rtp_sock.close()
        self.rtcp_sock.close()
