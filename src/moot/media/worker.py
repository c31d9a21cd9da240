"""A media worker process: RTP/RTCP sockets, jitter buffers, mixing and sending.

The pool spawns one worker per core. A worker runs its own asyncio loop and owns calls:
every leg of a call is handled by the worker that hosts the call, so mixing never
crosses processes.

Per call there is one 20 ms clock with absolute deadlines (``t0 + n * 20 ms``, scheduled
with ``loop.call_at``, so it does not drift); the calls of a worker get different phases
(``t0`` offsets in 2 ms steps, least-loaded first) so their work is spread over the frame
instead of falling due at once. On each tick the call:

1. drains the RTP sockets of its legs (a per-call ``epoll`` says which have data; this is
   how soft media servers poll on their frame timer rather than wake per packet), checks
   each packet, feeds RTCP statistics (RFC 3550 A.1/A.3/A.8), DTMF (RFC 4733) and the
   jitter buffer, latches the remote address (symmetric RTP) if asked;
2. plays out one frame per leg from the jitter buffers; G.711 legs with 20 ms packets take
   the fast path - their payload octets are copied into one ``(legs, 160)`` code array
   decoded by a single table look-up; other codecs/ptimes decode into a FIFO;
3. mixes N-1 (:func:`moot.media.mixer.mix_n_minus_1`), updates the active speaker, adds
   prompts;
4. encodes all G.711 legs with one table look-up written straight into a preallocated
   ``(legs, 12 + 160)`` packet array whose RTP headers are updated vectorially (sequence
   numbers, timestamps), and sends each row with ``sendto`` (a memoryview: no per-packet
   allocation except for SRTP);
5. measures how late the frame left (mix latency) and counts late (> one frame behind)
   packets; if the worker falls more than two frames behind, missed frames are skipped
   (counted as lost) rather than sent in a burst.

RTCP (port + 1) is read with ``loop.add_reader`` (it is rare); every ~5 s each leg sends an
SR (or RR when it has not sent) with SDES CNAME. A leg that expects packets and gets none
for ``rtp_timeout`` seconds reports :class:`RtpTimeout` once.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import random
import select
import signal
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from moot.media import rtcp
from moot.media.codecs import MIX_RATE, Decoder, Encoder, create_decoder, create_encoder
from moot.media.g711 import (
    ALAW_DECODE_TABLE,
    ALAW_ENCODE_TABLE,
    ULAW_DECODE_TABLE,
    ULAW_ENCODE_TABLE,
)
from moot.media.ipc import Channel
from moot.media.jitter import PLC_GAINS, JitterBuffer
from moot.media.leg import (
    DtmfReceived,
    KeyframeWanted,
    LegConfig,
    LegStats,
    MediaError,
    MediaEvent,
    PlayFinished,
    RtpTimeout,
    SpeakerChanged,
    VideoStats,
)
from moot.media.mixer import ActiveSpeakerDetector, PromptPlayer, mix_n_minus_1
from moot.media.rtp import RTP_MAX_SIZE, RtpError, is_rtcp, parse_header
from moot.media.srtp import SrtpContext, SrtpError, receive_rtcp
from moot.media.telephone_event import DtmfReceiver, TelephoneEventError
from moot.media.video.layout import LAYOUTS
from moot.media.video.mixer import VideoMixer
from moot.media.video.stream import VideoStream

__all__ = ["FRAME_MS", "FRAME_SAMPLES", "LegState", "Worker", "WorkerOptions", "worker_main"]

FRAME_MS = 20
FRAME = FRAME_MS / 1000
FRAME_SAMPLES = MIX_RATE * FRAME_MS // 1000
PACKET_SIZE = 12 + FRAME_SAMPLES
MAX_BEHIND = 2
"""Frames a call may fall behind before missed frames are skipped instead of sent late."""
LATE_AFTER = FRAME
"""A packet leaving more than this after its deadline is counted late."""
RTCP_INTERVAL = 5.0
PHASES = 10
"""Calls' frame clocks are offset from each other in steps of FRAME / PHASES."""
CN_PAYLOAD_TYPE = 13
MAX_DRAIN_ROUNDS = 8
LATCH_RELEASE = 1.0
BUSY_INTERVAL = 1.0
"""Seconds between measurements of the worker's CPU share."""
"""A latched source that has been silent this long may be replaced by a new one."""

_SEQ_TS_SSRC = struct.Struct("!HII")
_U16 = np.dtype(">u2")
_U32 = np.dtype(">u4")


@dataclass
class WorkerOptions:
    rtp_timeout: float = 30.0
    cname: str = "moot"
    nice: int = -10
    """Scheduling priority increment for the worker (media must not wait behind bulk work,
    as media servers run their media threads at raised priority); ignored if not allowed."""
    realtime_priority: int = 0
    """If > 0, run the worker under SCHED_RR at this priority (what FreeSWITCH ``-rp`` and
    Asterisk ``-p`` do for media threads); the kernel's RT throttling still leaves 5 % of
    the CPU to others. Ignored if not allowed."""


@dataclass
class LegState:
    """What moves with a leg from one worker to another (picklable)."""

    config: LegConfig | None
    mute_rx: bool
    mute_tx: bool
    ssrc: int
    seq: int
    ts: int
    counters: dict[str, float]
    video_port: int | None = None


@dataclass
class _Leg:
    leg_id: str
    host: str
    port: int
    rtp_sock: socket.socket
    rtcp_sock: socket.socket
    call: _Call | None = None
    config: LegConfig | None = None
    remote: tuple[str, int] | None = None
    rtcp_remote: tuple[str, int] | None = None
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    seq: int = field(default_factory=lambda: random.getrandbits(16))
    ts: int = field(default_factory=lambda: random.getrandbits(32))
    mute_rx: bool = False
    mute_tx: bool = False
    # receive side
    rx_pt: int = -1
    dtmf_pt: int = -1
    jitter: JitterBuffer = field(default_factory=JitterBuffer)
    rx_stats: rtcp.ReceiverStatistics | None = None
    dtmf: DtmfReceiver = field(default_factory=DtmfReceiver)
    decoder: Decoder | None = None
    rx_fifo: npt.NDArray[np.int16] = field(default_factory=lambda: np.zeros(0, np.int16))
    rx_frame_samples: int = FRAME_SAMPLES
    fast_rx: bool = False
    losses: int = 0
    last_rx: float = 0.0
    timed_out: bool = False
    latched_at: float = 0.0
    # send side
    encoder: Encoder | None = None
    fast_tx: bool = False
    tx_fifo: npt.NDArray[np.int16] = field(default_factory=lambda: np.zeros(0, np.int16))
    tx_ts_step: int = FRAME_SAMPLES
    tx_samples: int = FRAME_SAMPLES
    marker: bool = True
    srtp: SrtpContext | None = None
    prompt: PromptPlayer | None = None
    next_rtcp: float = 0.0
    # counters
    packets_rx: int = 0
    bytes_rx: int = 0
    packets_tx: int = 0
    bytes_tx: int = 0
    late_or_lost_tx: int = 0
    mix_latency_max: float = 0.0
    bad_packets: int = 0
    video: VideoStream | None = None

    @property
    def sending(self) -> bool:
        c = self.config
        return (
            c is not None and self.remote is not None and c.direction in ("sendrecv", "sendonly")
        )

    @property
    def mixing(self) -> bool:
        c = self.config
        return c is not None and c.direction == "sendrecv" and not self.mute_rx

    @property
    def expects_rtp(self) -> bool:
        c = self.config
        return c is not None and c.direction in ("sendrecv", "recvonly")


class _Call:
    """One conference: its legs' rows, arrays and clock."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.legs: list[_Leg] = []
        self.rows: list[_Leg] = []  # started legs, one array row each
        self.epoll = select.epoll()
        self.by_fd: dict[int, _Leg] = {}
        self.deadline = 0.0
        self.handle: asyncio.TimerHandle | None = None
        self.speaker = ActiveSpeakerDetector()
        self.speaker_leg: str | None = None
        self.ticks = 0
        self.phase = 0
        self.dirty = True
        self.video: VideoMixer | None = None
        self._alloc(0)

    def _alloc(self, n: int) -> None:
        self.codes = np.zeros((n, FRAME_SAMPLES), dtype=np.uint8)
        self.codes_mv = self.codes.reshape(-1).data
        self.pcm = np.zeros((n, FRAME_SAMPLES), dtype=np.int16)
        self.last = np.zeros((n, FRAME_SAMPLES), dtype=np.int16)
        self.mixed = np.zeros((n, FRAME_SAMPLES), dtype=np.int32)
        self.good = np.zeros(n, dtype=bool)
        self.contribute = np.zeros(n, dtype=bool)
        self.hear = np.ones(n, dtype=bool)
        self.alaw = np.zeros(n, dtype=bool)
        self.tx = np.zeros((n, PACKET_SIZE), dtype=np.uint8)
        self.tx_seq = self.tx[:, 2:4].view(_U16)[:, 0]
        self.tx_ts = self.tx[:, 4:8].view(_U32)[:, 0]
        self.tx_payload = self.tx[:, 12:]
        self.tx_mv = [self.tx[i].data for i in range(n)]
        self.all_fast_rx = False
        self.all_ulaw = True
        self.row_fast: list[bool] = []
        self.send_mask = np.zeros(n, dtype=np.uint16)
        self.fast_tx_rows: list[tuple[int, _Leg]] = []
        self.fast_senders: list[tuple[int, _Leg]] = []
        self.latency_max = 0.0
        self.slow_tx_rows: list[tuple[int, _Leg]] = []

    def rebuild(self) -> None:
        """Recompute rows and masks after legs joined, left or changed configuration."""
        self.sync_leg_counters()
        old = {id(leg): i for i, leg in enumerate(self.rows)}
        old_last = self.last
        old_energy = self.speaker.energy
        self.rows = [leg for leg in self.legs if leg.config is not None]
        n = len(self.rows)
        self._alloc(n)
        energy = np.zeros(n)
        for i, leg in enumerate(self.rows):
            j = old.get(id(leg))
            if j is not None:
                self.last[i] = old_last[j]
                energy[i] = old_energy[j]
        previous = self.speaker.speaker
        speaker_id = self.rows_by_old(previous, old) if previous is not None else None
        self.speaker.remap(energy, speaker_id)
        for i, leg in enumerate(self.rows):
            cfg = leg.config
            assert cfg is not None
            self.contribute[i] = leg.mixing
            self.hear[i] = not leg.mute_tx
            self.alaw[i] = cfg.codec.name.upper() == "PCMA"
            self.tx[i, 0] = 0x80
            self.tx[i, 1] = cfg.codec.payload_type & 0x7F
            self.tx[i, 8:12] = np.frombuffer(struct.pack("!I", leg.ssrc), dtype=np.uint8)
            self.tx_seq[i] = leg.seq
            self.tx_ts[i] = leg.ts
            self.row_fast.append(leg.fast_tx)
            if leg.fast_tx:
                self.fast_tx_rows.append((i, leg))
                self.send_mask[i] = 1 if leg.sending else 0
                if leg.sending:
                    self.fast_senders.append((i, leg))
            else:
                self.slow_tx_rows.append((i, leg))
        self.all_fast_rx = all(leg.fast_rx for leg in self.rows)
        self.all_ulaw = not bool(self.alaw.any())
        self.dirty = False

    def rows_by_old(self, old_index: int, old: dict[int, int]) -> int | None:
        for i, leg in enumerate(self.rows):
            if old.get(id(leg)) == old_index:
                return i
        return None

    def sync_leg_counters(self) -> None:
        """Copy the vectorised sequence numbers/timestamps back to the leg objects."""
        for i, leg in enumerate(self.rows):
            if self.row_fast[i]:
                leg.seq = int(self.tx_seq[i])
                leg.ts = int(self.tx_ts[i])


class Worker:
    """The worker's state and request handlers; runs inside its own event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, options: WorkerOptions) -> None:
        self.loop = loop
        self.options = options
        self.legs: dict[str, _Leg] = {}
        self.calls: dict[str, _Call] = {}
        self.channel: Channel | None = None
        self.events: list[MediaEvent] = []  # used when there is no channel (tests)
        self.stopped = asyncio.Event()
        # worker-wide counters (bench, totals)
        self.ticks = 0
        self.frames_late = 0
        self.frames_skipped = 0
        self.latency_hist = np.zeros(101, dtype=np.int64)  # 1 ms buckets, last = >= 100
        self.bytes_rx_total = 0
        self.bytes_tx_total = 0
        self._rate_mark = (time.monotonic(), 0, 0)
        #: The process's CPU share over the last second (video overload control).
        self.busy = 0.0
        self._cpu_mark = (time.monotonic(), time.process_time())
        self._busy_handle = loop.call_later(BUSY_INTERVAL, self._measure_busy)
        self._rates = (0, 0)
        self._profiler: cProfile.Profile | None = None

    def _measure_busy(self) -> None:
        now, cpu = time.monotonic(), time.process_time()
        wall = now - self._cpu_mark[0]
        if wall > 0:
            self.busy = min(1.0, (cpu - self._cpu_mark[1]) / wall)
        self._cpu_mark = (now, cpu)
        self._busy_handle = self.loop.call_later(BUSY_INTERVAL, self._measure_busy)

    # ----------------------------------------------------------------- events / IPC

    def emit(self, event: MediaEvent) -> None:
        if self.channel is not None and not self.channel.closed:
            self.channel.send(("event", event))
        else:
            self.events.append(event)

    def on_message(self, message: Any) -> None:
        req_id, method, args = message
        handler = getattr(self, "rpc_" + method, None)
        try:
            if handler is None:
                raise MediaError(f"unknown media worker request {method!r}")
            result = handler(*args)
        except MediaError as exc:
            self._reply(req_id, False, str(exc))
            return
        except Exception as exc:
            self._reply(req_id, False, f"{type(exc).__name__}: {exc}")
            return
        if asyncio.iscoroutine(result):
            task = self.loop.create_task(result)
            task.add_done_callback(lambda t: self._task_done(req_id, t))
        else:
            self._reply(req_id, True, result)

    def _task_done(self, req_id: int, task: asyncio.Task[Any]) -> None:
        exc = task.exception()
        if exc is None:
            self._reply(req_id, True, task.result())
        else:
            self._reply(req_id, False, f"{type(exc).__name__}: {exc}")

    def _reply(self, req_id: int, ok: bool, value: Any) -> None:
        if self.channel is not None and not self.channel.closed:
            self.channel.send(("reply", req_id, ok, value))

    # ----------------------------------------------------------------- requests

    def _leg(self, leg_id: str) -> _Leg:
        leg = self.legs.get(leg_id)
        if leg is None:
            raise MediaError(f"no media leg {leg_id!r}")
        return leg

    def _call(self, call_id: str) -> _Call:
        call = self.calls.get(call_id)
        if call is None:
            call = _Call(call_id)
            # Spread the calls' clocks over the frame (least-loaded phase) so that their
            # work does not all fall due at the same instant.
            load = [0] * PHASES
            for other in self.calls.values():
                load[other.phase] += 1000 * len(other.legs) + 1
            call.phase = min(range(PHASES), key=load.__getitem__)
            self.calls[call_id] = call
            now = time.monotonic()
            call.deadline = (int(now / FRAME) + 1) * FRAME + call.phase * FRAME / PHASES
            if call.deadline - now < FRAME / 2:
                call.deadline += FRAME
            call.handle = self.loop.call_at(call.deadline, self._tick, call)
        return call

    def rpc_open_leg(self, call_id: str, leg_id: str, host: str, ports: list[int]) -> int:
        """Bind RTP on the first free even port of ``ports`` (RTCP on port + 1)."""
        if leg_id in self.legs:
            raise MediaError(f"media leg {leg_id!r} already exists")
        for port in ports:
            pair = self._bind_pair(host, port)
            if pair is not None:
                self._attach(call_id, _Leg(leg_id, host, port, *pair))
                return port
        raise MediaError(f"no free RTP port among {len(ports)} candidates on {host}")

    def rpc_open_video(self, leg_id: str, ports: list[int]) -> int:
        """Bind the leg's video RTP on the first free even port of ``ports`` (RTCP on + 1)."""
        leg = self._leg(leg_id)
        if leg.video is not None:
            return leg.video.port
        for port in ports:
            pair = self._bind_pair(leg.host, port)
            if pair is not None:
                self._attach_video(leg, VideoStream(leg_id, leg.host, port, *pair, cname=self.options.cname))
                return port
        raise MediaError(f"no free RTP port among {len(ports)} candidates on {leg.host}")

    @staticmethod
    def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket] | None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        rtp_sock = socket.socket(family, socket.SOCK_DGRAM)
        rtcp_sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            rtp_sock.bind((host, port))
            rtcp_sock.bind((host, port + 1))
        except OSError:
            rtp_sock.close()
            rtcp_sock.close()
            return None
        rtp_sock.setblocking(False)
        rtcp_sock.setblocking(False)
        return rtp_sock, rtcp_sock

    def _attach_video(self, leg: _Leg, stream: VideoStream) -> None:
        leg.video = stream
        self.loop.add_reader(stream.rtp_sock.fileno(), self._video_readable, stream, False)
        self.loop.add_reader(stream.rtcp_sock.fileno(), self._video_readable, stream, True)

    def _video_readable(self, stream: VideoStream, is_rtcp_port: bool) -> None:
        sock = stream.rtcp_sock if is_rtcp_port else stream.rtp_sock
        for _ in range(64):
            try:
                data, addr = sock.recvfrom(RTP_MAX_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            now = time.monotonic()
            if is_rtcp_port:
                stream.on_rtcp(data, addr, now, decrypted=False)
            else:
                stream.on_rtp(data, addr, now)
            self.bytes_rx_total += len(data)

    def _video_mixer(self, call: _Call) -> VideoMixer:
        if call.video is None:
            call.video = VideoMixer(self.loop, call.call_id,
                                    on_keyframe_info=lambda leg_id: self.emit(KeyframeWanted(leg_id)),
                                    busy=lambda: self.busy)
            for other in call.legs:
                if other.config is not None:
                    call.video.set_participant(other.leg_id, other.config.name, other.video
                                               if other.config.video is not None else None)
            call.video.speaker_changed(call.speaker_leg)
        return call.video

    def _video_membership(self, leg: _Leg) -> None:
        """Tell the call's video mixer about a (re)configured leg."""
        call, cfg = leg.call, leg.config
        if call is None or cfg is None:
            return
        has_video = cfg.video is not None and leg.video is not None
        if has_video or call.video is not None:
            stream = leg.video if has_video else None
            self._video_mixer(call).set_participant(leg.leg_id, cfg.name, stream)

    def _close_video(self, leg: _Leg) -> None:
        stream = leg.video
        if stream is None:
            return
        self.loop.remove_reader(stream.rtp_sock.fileno())
        self.loop.remove_reader(stream.rtcp_sock.fileno())
        stream.close()
        leg.video = None

    def _attach(self, call_id: str, leg: _Leg) -> None:
        self.legs[leg.leg_id] = leg
        call = self._call(call_id)
        leg.call = call
        call.legs.append(leg)
        call.by_fd[leg.rtp_sock.fileno()] = leg
        call.epoll.register(leg.rtp_sock.fileno(), select.EPOLLIN)
        self.loop.add_reader(leg.rtcp_sock.fileno(), self._rtcp_readable, leg)
        call.dirty = True
        self._video_membership(leg)

    def _detach(self, leg: _Leg) -> None:
        call = leg.call
        if call is not None:
            call.sync_leg_counters()
            call.legs.remove(leg)
            fd = leg.rtp_sock.fileno()
            call.by_fd.pop(fd, None)
            try:
                call.epoll.unregister(fd)
            except OSError:
                pass
            call.dirty = True
            if call.speaker_leg == leg.leg_id:
                call.speaker_leg = None
                self.emit(SpeakerChanged(call.call_id, None))
            if call.video is not None:
                call.video.remove(leg.leg_id)
            leg.call = None
            if not call.legs:
                if call.video is not None:
                    call.video.stop()
                if call.handle is not None:
                    call.handle.cancel()
                call.epoll.close()
                del self.calls[call.call_id]

    def _close_sockets(self, leg: _Leg) -> None:
        self.loop.remove_reader(leg.rtcp_sock.fileno())
        leg.rtp_sock.close()
        leg.rtcp_sock.close()

    def _configure(self, leg: _Leg, config: LegConfig) -> None:
        """Apply a configuration; everything that can fail is done before the leg changes."""
        config.validate()
        if config.video is not None:
            if leg.video is None:
                raise MediaError(f"media leg {leg.leg_id!r} has no video port (open_video first)")
            leg.video.configure(config.video)
        old = leg.config
        codec = config.codec
        same_codec = old is not None and old.codec == codec and old.ptime_ms == config.ptime_ms
        decoder = encoder = None
        if not same_codec:
            decoder = create_decoder(codec)
            encoder = create_encoder(codec)
        srtp = leg.srtp
        if config.srtp_profile is None:
            srtp = None
        elif (
            old is None
            or srtp is None
            or old.srtp_profile != config.srtp_profile
            or old.srtp_tx_key != config.srtp_tx_key
            or old.srtp_rx_key != config.srtp_rx_key
        ):
            assert config.srtp_tx_key is not None and config.srtp_rx_key is not None
            srtp = SrtpContext(config.srtp_profile, config.srtp_tx_key, config.srtp_rx_key)
        leg.config = config
        leg.srtp = srtp
        leg.rx_pt = codec.payload_type
        leg.dtmf_pt = config.dtmf_payload_type if config.dtmf_payload_type is not None else -1
        if not (old is not None and old.latch and config.latch and old.remote == config.remote):
            leg.remote = config.remote
            leg.rtcp_remote = (config.remote[0], config.remote[1] + 1)
            leg.latched_at = 0.0
        if decoder is not None and encoder is not None:
            leg.decoder = decoder
            leg.encoder = encoder
            leg.fast_rx = codec.is_g711 and config.ptime_ms == FRAME_MS
            leg.fast_tx = leg.fast_rx
            leg.rx_frame_samples = MIX_RATE * config.ptime_ms // 1000
            leg.tx_samples = leg.rx_frame_samples
            leg.tx_ts_step = codec.clock_rate * config.ptime_ms // 1000
            leg.rx_fifo = np.zeros(0, np.int16)
            leg.tx_fifo = np.zeros(0, np.int16)
            # Fixed depth: 60 ms of packets; at most ~100 ms more before the oldest go.
            depth = max(2, round(60 / config.ptime_ms))
            leg.jitter = JitterBuffer(depth, max_depth=depth + max(2, 100 // config.ptime_ms))
            leg.rx_stats = None
            leg.marker = True
        now = time.monotonic()
        leg.last_rx = now
        leg.timed_out = False
        if leg.next_rtcp == 0.0:
            leg.next_rtcp = now + random.uniform(0.5, 1.5) * RTCP_INTERVAL
        if leg.call is not None:
            leg.call.sync_leg_counters()
            leg.call.dirty = True
        self._video_membership(leg)

    def rpc_start_leg(self, leg_id: str, config: LegConfig) -> None:
        leg = self._leg(leg_id)
        if leg.config is not None:
            raise MediaError(f"media leg {leg_id!r} already started")
        self._configure(leg, config)

    def rpc_update_leg(self, leg_id: str, config: LegConfig) -> None:
        self._configure(self._leg(leg_id), config)

    def rpc_set_mute(self, leg_id: str, rx: bool | None, tx: bool | None) -> None:
        leg = self._leg(leg_id)
        if rx is not None:
            leg.mute_rx = rx
        if tx is not None:
            leg.mute_tx = tx
        if leg.call is not None:
            leg.call.sync_leg_counters()
            leg.call.dirty = True

    def rpc_set_layout(self, leg_id: str, layout: str) -> None:
        if layout not in LAYOUTS:
            raise MediaError(f"unknown layout {layout!r} (one of {', '.join(LAYOUTS)})")
        leg = self._leg(leg_id)
        if leg.video is None:
            raise MediaError(f"media leg {leg_id!r} has no video")
        leg.video.layout = layout

    def rpc_set_presenter(self, leg_id: str, on: bool) -> None:
        leg = self._leg(leg_id)
        if leg.video is None or leg.call is None:
            raise MediaError(f"media leg {leg_id!r} has no video")
        self._video_mixer(leg.call).set_presenter(leg_id if on else None)

    def rpc_set_caption(self, leg_id: str, text: str | None, seconds: float | None) -> None:
        """Draw ``text`` over the leg's picture for ``seconds`` (None: until changed)."""
        leg = self._leg(leg_id)
        if leg.video is None:
            raise MediaError(f"media leg {leg_id!r} has no video")
        leg.video.caption = text
        leg.video.caption_until = time.monotonic() + seconds if seconds is not None else float("inf")

    def rpc_request_keyframe(self, leg_id: str) -> None:
        """Send the leg an IDR picture with its next frame."""
        leg = self._leg(leg_id)
        if leg.video is None:
            raise MediaError(f"media leg {leg_id!r} has no video")
        leg.video.keyframe_pending = True
        leg.video.keyframe_requests += 1

    def rpc_play(self, leg_id: str, pcm: npt.NDArray[np.int16], loop: bool) -> None:
        self._leg(leg_id).prompt = PromptPlayer(pcm, loop=loop)

    def rpc_stop_play(self, leg_id: str) -> None:
        self._leg(leg_id).prompt = None

    def rpc_close_leg(self, leg_id: str) -> LegStats:
        leg = self._leg(leg_id)
        stats = self._stats(leg)
        self._send_bye(leg)
        if leg.video is not None and leg.video.config is not None:
            leg.video.send_bye()
        self._detach(leg)
        self._close_sockets(leg)
        self._close_video(leg)
        del self.legs[leg_id]
        return stats

    def rpc_stats(self, leg_id: str) -> LegStats:
        return self._stats(self._leg(leg_id))

    def rpc_move_leg(self, leg_id: str, call_id: str) -> None:
        """Move a leg to another call hosted by this worker (same sockets)."""
        leg = self._leg(leg_id)
        if leg.call is not None and leg.call.call_id == call_id:
            return
        self._detach(leg)
        self.loop.remove_reader(leg.rtcp_sock.fileno())
        self._attach(call_id, leg)

    def rpc_detach_leg(self, leg_id: str) -> LegState:
        """Close a leg's sockets and hand its state over (it moves to another worker)."""
        leg = self._leg(leg_id)
        if leg.call is not None:
            leg.call.sync_leg_counters()
        state = LegState(
            config=leg.config,
            mute_rx=leg.mute_rx,
            mute_tx=leg.mute_tx,
            ssrc=leg.ssrc,
            seq=leg.seq,
            ts=leg.ts,
            counters={
                "packets_rx": leg.packets_rx,
                "bytes_rx": leg.bytes_rx,
                "packets_tx": leg.packets_tx,
                "bytes_tx": leg.bytes_tx,
                "late_or_lost_tx": leg.late_or_lost_tx,
                "mix_latency_max": leg.mix_latency_max,
            },
            video_port=leg.video.port if leg.video is not None else None,
        )
        self._detach(leg)
        self._close_sockets(leg)
        self._close_video(leg)
        del self.legs[leg_id]
        return state

    def rpc_attach_leg(
        self, call_id: str, leg_id: str, host: str, port: int, state: LegState
    ) -> None:
        """Bind the SAME port as the leg had on its previous worker and restore it."""
        pair = self._bind_pair(host, port)
        if pair is None:
            raise MediaError(f"cannot rebind port {port} for moved leg {leg_id!r}: it is in use")
        leg = _Leg(leg_id, host, port, *pair)
        if state.config is None or state.config.srtp_profile is None:
            leg.ssrc, leg.seq, leg.ts = state.ssrc, state.seq, state.ts
        # else: a new SRTP session cannot carry over libsrtp's rollover counter, so the moved
        # leg sends a new stream (new SSRC, ROC 0) - receivers handle a new SSRC.
        leg.mute_rx, leg.mute_tx = state.mute_rx, state.mute_tx
        leg.packets_rx = int(state.counters["packets_rx"])
        leg.bytes_rx = int(state.counters["bytes_rx"])
        leg.packets_tx = int(state.counters["packets_tx"])
        leg.bytes_tx = int(state.counters["bytes_tx"])
        leg.late_or_lost_tx = int(state.counters["late_or_lost_tx"])
        leg.mix_latency_max = float(state.counters["mix_latency_max"])
        if state.video_port is not None:
            pair = self._bind_pair(host, state.video_port)
            if pair is None:
                leg.rtp_sock.close()
                leg.rtcp_sock.close()
                raise MediaError(f"cannot rebind video port {state.video_port} for moved leg {leg_id!r}")
            self._attach_video(leg, VideoStream(leg_id, host, state.video_port, *pair,
                                                cname=self.options.cname))
        self._attach(call_id, leg)
        if state.config is not None:
            self._configure(leg, state.config)
            leg.marker = state.config.srtp_profile is not None  # only a new stream is marked

    def rpc_totals(self) -> tuple[int, int, int]:
        now = time.monotonic()
        t0, rx0, tx0 = self._rate_mark
        if now - t0 >= 1.0:
            self._rates = (
                int((self.bytes_rx_total - rx0) * 8 / (now - t0)),
                int((self.bytes_tx_total - tx0) * 8 / (now - t0)),
            )
            self._rate_mark = (now, self.bytes_rx_total, self.bytes_tx_total)
        return len(self.legs), self._rates[0], self._rates[1]

    def rpc_worker_stats(self, reset: bool = False) -> dict[str, Any]:
        ru = os.times()
        out = {
            "legs": len(self.legs),
            "calls": len(self.calls),
            "ticks": self.ticks,
            "frames_late": self.frames_late,
            "frames_skipped": self.frames_skipped,
            "latency_hist_ms": self.latency_hist.tolist(),
            "cpu_s": ru.user + ru.system,
            "late_or_lost_tx": sum(leg.late_or_lost_tx for leg in self.legs.values()),
            "packets_tx": sum(leg.packets_tx for leg in self.legs.values()),
            "packets_rx": sum(leg.packets_rx for leg in self.legs.values()),
            "rx_lost": sum(
                leg.rx_stats.packets_lost for leg in self.legs.values() if leg.rx_stats
            ),
            "jitter_late": sum(leg.jitter.late for leg in self.legs.values()),
            "video": self._video_totals(),
        }
        if reset:
            self.ticks = self.frames_late = self.frames_skipped = 0
            self.latency_hist[:] = 0
            for leg in self.legs.values():
                leg.late_or_lost_tx = 0
                leg.mix_latency_max = 0.0
        return out

    def _video_totals(self) -> dict[str, float]:
        mixers = [call.video for call in self.calls.values() if call.video is not None]
        streams = [leg.video for leg in self.legs.values() if leg.video is not None]
        return {
            "decode_s": sum(s.decode_s for s in streams),
            "compose_s": sum(m.stats.compose_s for m in mixers),
            "encode_s": sum(m.stats.encode_s for m in mixers),
            "frames_composed": sum(m.stats.frames_composed for m in mixers),
            "frames_encoded": sum(m.stats.frames_encoded for m in mixers),
            "frames_skipped": sum(m.stats.frames_skipped for m in mixers),
            "frames_dropped": sum(s.frames_dropped for s in streams),
            "frames_received": sum(s.rx_frames for s in streams),
            "frames_sent": sum(s.tx_frames for s in streams),
            "encoders": sum(len(m.encoders) for m in mixers),
            "degrade_level": max((m.level for m in mixers), default=0),
        }

    def rpc_profile_start(self) -> None:
        self._profiler = cProfile.Profile()
        self._profiler.enable()

    def rpc_profile_stop(self, top: int = 30) -> str:
        if self._profiler is None:
            raise MediaError("profiling was not started")
        self._profiler.disable()
        out = io.StringIO()
        pstats.Stats(self._profiler, stream=out).sort_stats("tottime").print_stats(top)
        self._profiler = None
        return out.getvalue()

    def rpc_stop(self) -> None:
        self._busy_handle.cancel()
        for leg_id in list(self.legs):
            self.rpc_close_leg(leg_id)
        self.stopped.set()

    # ----------------------------------------------------------------- statistics

    def _stats(self, leg: _Leg) -> LegStats:
        if leg.call is not None:
            leg.call.sync_leg_counters()
        rs = leg.rx_stats
        cfg = leg.config
        remote = leg.remote or (cfg.remote if cfg is not None else ("", 0))
        return LegStats(
            packets_rx=leg.packets_rx,
            packets_tx=leg.packets_tx,
            bytes_rx=leg.bytes_rx,
            bytes_tx=leg.bytes_tx,
            packets_lost=rs.packets_lost if rs is not None else 0,
            jitter_ms=rs.jitter_ms if rs is not None else 0.0,
            late_or_lost_tx=leg.late_or_lost_tx,
            codec=cfg.codec.name if cfg is not None else "",
            remote=remote,
            mix_latency_ms_max=leg.mix_latency_max * 1000.0,
            video=self._video_stats(leg),
        )

    @staticmethod
    def _video_stats(leg: _Leg) -> VideoStats | None:
        stream = leg.video
        if stream is None or stream.config is None:
            return None
        mixer = leg.call.video if leg.call is not None else None
        size = mixer.tx_size(leg.leg_id) if mixer is not None else (0, 0)
        return stream.stats(time.monotonic(), tx_size=size)

    # ----------------------------------------------------------------- receive

    def _receive(self, call: _Call, now: float) -> None:
        poll = call.epoll.poll
        by_fd = call.by_fd
        for _ in range(MAX_DRAIN_ROUNDS):
            ready = poll(0)
            if not ready:
                return
            for fd, _ev in ready:
                leg = by_fd.get(fd)
                if leg is None:
                    continue
                try:
                    data, addr = leg.rtp_sock.recvfrom(2048)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    continue  # ICMP port unreachable from an earlier send, etc.
                self._on_rtp(leg, data, addr, now)

    def _on_rtp(self, leg: _Leg, data: bytes, addr: Any, now: float) -> None:
        cfg = leg.config
        if cfg is None:
            return  # not started yet: nothing to do with media
        if leg.srtp is not None:
            try:
                data = (
                    leg.srtp.unprotect_rtcp(data) if is_rtcp(data) else leg.srtp.unprotect(data)
                )
            except SrtpError:
                leg.bad_packets += 1
                return
        size = len(data)
        if 12 <= size <= RTP_MAX_SIZE and data[0] == 0x80 and not 192 <= data[1] <= 223:
            # The common case (no CSRC, extension or padding) without a function call.
            pt = data[1] & 0x7F
            seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
            start, end = 12, size
        elif is_rtcp(data):
            self._on_rtcp(leg, data, addr, now, decrypted=True)
            return
        else:
            try:
                pt, _marker, seq, ts, ssrc, start, end = parse_header(data)
            except RtpError:
                leg.bad_packets += 1
                return
        leg.packets_rx += 1
        leg.bytes_rx += size
        self.bytes_rx_total += size
        leg.last_rx = now
        leg.timed_out = False
        if cfg.latch:
            source = (addr[0], addr[1])
            if source != leg.remote and (
                leg.latched_at == 0.0 or now - leg.latched_at > LATCH_RELEASE
            ):
                leg.remote = source
                leg.rtcp_remote = (addr[0], addr[1] + 1)
            if source == leg.remote:
                leg.latched_at = now
        if pt == leg.rx_pt:
            rs = leg.rx_stats
            if rs is None or rs.ssrc != ssrc:
                rs = leg.rx_stats = rtcp.ReceiverStatistics(
                    ssrc, cfg.codec.clock_rate, probation=0
                )
                leg.jitter = JitterBuffer(leg.jitter.depth, max_depth=leg.jitter.max_depth)
            rs.update(seq, ts, int(now * cfg.codec.clock_rate))
            leg.jitter.put(seq, data[start:end])
        elif pt == leg.dtmf_pt:
            try:
                digit = leg.dtmf.receive(data[start:end], ts)
            except TelephoneEventError:
                leg.bad_packets += 1
                return
            if digit is not None:
                self.emit(DtmfReceived(leg.leg_id, digit))
            leg.jitter.put(seq, b"")
        elif pt == CN_PAYLOAD_TYPE:
            leg.jitter.put(seq, b"")
        else:
            leg.bad_packets += 1

    def _rtcp_readable(self, leg: _Leg) -> None:
        for _ in range(MAX_DRAIN_ROUNDS):
            try:
                data, addr = leg.rtcp_sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._on_rtcp(leg, data, addr, time.monotonic(), decrypted=False)

    def _on_rtcp(self, leg: _Leg, data: bytes, addr: Any, now: float, *, decrypted: bool) -> None:
        if leg.config is None:
            return
        packets = receive_rtcp(data, None if decrypted else leg.srtp)
        if packets is None:
            leg.bad_packets += 1
            return
        if leg.config.latch:
            leg.rtcp_remote = (addr[0], addr[1])
        for packet in packets:
            if isinstance(packet, rtcp.RtcpSenderReport) and leg.rx_stats is not None:
                leg.rx_stats.sender_report_received(packet.ntp_timestamp, now)

    # ----------------------------------------------------------------- the frame clock

    def _tick(self, call: _Call) -> None:
        now = time.monotonic()
        deadline = call.deadline
        behind = int((now - deadline) / FRAME)
        if behind > MAX_BEHIND:
            # Overloaded: skip the missed frames rather than burst them out late.
            self.frames_skipped += behind
            for leg in call.rows:
                if leg.sending:
                    leg.late_or_lost_tx += behind
            # Timestamps follow the clock even for frames not sent.
            for i, leg in enumerate(call.rows):
                if not call.row_fast[i]:
                    leg.ts = (leg.ts + behind * leg.tx_ts_step) & 0xFFFFFFFF
            call.tx_ts += np.uint32(behind * FRAME_SAMPLES)
            deadline += behind * FRAME
        call.deadline = deadline + FRAME
        call.handle = self.loop.call_at(call.deadline, self._tick, call)
        self.ticks += 1
        self._frame(call, deadline, now)

    def _frame(self, call: _Call, deadline: float, now: float) -> None:
        self._receive(call, now)
        if call.dirty:
            call.rebuild()
        rows = call.rows
        n = len(rows)
        if n == 0:
            return
        call.ticks += 1
        if call.ticks % 50 == 0:  # once a second per call
            self._housekeeping(call, now)
        # 1. play out one frame per leg
        codes_mv = call.codes_mv
        good = call.good
        good[:] = False
        overrides: list[tuple[int, npt.NDArray[np.int16] | None]] = []
        for i, leg in enumerate(rows):
            if leg.fast_rx:
                playing, payload = leg.jitter.pop()
                if payload is not None and len(payload) == FRAME_SAMPLES:
                    codes_mv[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] = payload
                    good[i] = True
                    leg.losses = 0
                    continue
                overrides.append((i, self._slow_frame(leg, playing, payload, call, i)))
            else:
                overrides.append((i, self._fifo_frame(leg, call, i)))
        pcm = call.pcm
        if call.all_ulaw:
            np.take(ULAW_DECODE_TABLE, call.codes, out=pcm)
        else:
            np.take(ULAW_DECODE_TABLE, call.codes, out=pcm)
            alaw = call.alaw
            pcm[alaw] = ALAW_DECODE_TABLE[call.codes[alaw]]
        for i, frame in overrides:
            if frame is None:
                pcm[i] = 0
            else:
                pcm[i] = frame
        if overrides:
            call.last[good] = pcm[good]
        else:
            call.last[:] = pcm
        # 2. mix
        mixed = mix_n_minus_1(pcm, call.contribute, call.hear, out=call.mixed)
        if call.speaker.update(pcm, call.contribute):
            s = call.speaker.speaker
            leg_id = rows[s].leg_id if s is not None else None
            if leg_id != call.speaker_leg:
                call.speaker_leg = leg_id
                self.emit(SpeakerChanged(call.call_id, leg_id))
                if call.video is not None:
                    call.video.speaker_changed(leg_id)
        for i, leg in enumerate(rows):
            if leg.prompt is not None:
                frame = leg.prompt.next_frame(FRAME_SAMPLES)
                if frame is None:
                    leg.prompt = None
                    self.emit(PlayFinished(leg.leg_id))
                else:
                    row = mixed[i]
                    row += frame
                    np.clip(row, -32768, 32767, out=row)
        out16 = mixed.astype(np.int16)
        # 3. encode and send
        if call.fast_senders:
            u16 = out16.view(np.uint16)
            if call.all_ulaw:
                np.take(ULAW_ENCODE_TABLE, u16, out=call.tx_payload, mode="clip")
            else:
                np.take(ULAW_ENCODE_TABLE, u16, out=call.tx_payload, mode="clip")
                alaw = call.alaw
                call.tx_payload[alaw] = ALAW_ENCODE_TABLE[u16[alaw]]
            tx_mv = call.tx_mv
            sent_bytes = 0
            for i, leg in call.fast_senders:
                remote = leg.remote
                if leg.marker:
                    call.tx[i, 1] |= 0x80
                try:
                    if leg.srtp is None:
                        leg.rtp_sock.sendto(tx_mv[i], remote)  # type: ignore[arg-type]
                        size = PACKET_SIZE
                    else:
                        packet = leg.srtp.protect(tx_mv[i].tobytes())
                        leg.rtp_sock.sendto(packet, remote)  # type: ignore[arg-type]
                        size = len(packet)
                except OSError:
                    leg.late_or_lost_tx += 1
                    size = 0
                if leg.marker:
                    call.tx[i, 1] &= 0x7F
                    leg.marker = False
                leg.packets_tx += 1
                leg.bytes_tx += size
                sent_bytes += size
            self.bytes_tx_total += sent_bytes
            call.tx_seq += call.send_mask
        call.tx_ts += FRAME_SAMPLES  # the clock runs on for legs on hold too
        for i, leg in call.slow_tx_rows:
            self._slow_send(leg, out16[i])
        # 4. lateness
        latency = time.monotonic() - deadline
        bucket = int(latency * 1000)
        self.latency_hist[bucket if bucket < 100 else 100] += 1
        if latency > call.latency_max:
            # Rare after start-up: every leg's maximum is at least the call's since rebuild.
            call.latency_max = latency
            for leg in rows:
                if latency > leg.mix_latency_max:
                    leg.mix_latency_max = latency
        if latency > LATE_AFTER:
            self.frames_late += 1
            for leg in rows:
                if leg.sending:
                    leg.late_or_lost_tx += 1

    def _conceal(self, leg: _Leg, call: _Call, row: int) -> npt.NDArray[np.int16] | None:
        n = leg.losses
        leg.losses += 1
        if n >= len(PLC_GAINS):
            return None
        concealed: npt.NDArray[np.int16] = (call.last[row] * PLC_GAINS[n]).astype(np.int16)
        return concealed

    def _slow_frame(
        self, leg: _Leg, playing: bool, payload: bytes | None, call: _Call, row: int
    ) -> npt.NDArray[np.int16] | None:
        """A fast-path leg whose frame is not a plain 160-octet payload."""
        if not playing or payload == b"":
            leg.losses = 0
            return None
        if payload is None:
            return self._conceal(leg, call, row)
        assert leg.decoder is not None
        pcm = leg.decoder.decode(payload)
        leg.losses = 0
        if len(pcm) >= FRAME_SAMPLES:
            call.good[row] = True
            return pcm[:FRAME_SAMPLES]
        call.good[row] = True
        return np.concatenate((pcm, np.zeros(FRAME_SAMPLES - len(pcm), np.int16)))

    def _fifo_frame(self, leg: _Leg, call: _Call, row: int) -> npt.NDArray[np.int16] | None:
        """Pull one mix frame from a leg whose packets are not 20 ms of G.711."""
        parts = [leg.rx_fifo]
        have = len(leg.rx_fifo)
        any_good = False
        while have < FRAME_SAMPLES:
            playing, payload = leg.jitter.pop()
            if not playing:
                parts.append(np.zeros(FRAME_SAMPLES - have, np.int16))
                have = FRAME_SAMPLES
                break
            if payload is None:
                concealed = self._conceal(leg, call, row)
                chunk = (
                    np.zeros(leg.rx_frame_samples, np.int16)
                    if concealed is None
                    else np.resize(concealed, leg.rx_frame_samples)
                )
            elif payload == b"":
                chunk = np.zeros(leg.rx_frame_samples, np.int16)
            else:
                assert leg.decoder is not None
                try:
                    chunk = leg.decoder.decode(payload)
                except ValueError:
                    chunk = np.zeros(leg.rx_frame_samples, np.int16)
                leg.losses = 0
                any_good = True
            parts.append(chunk)
            have += len(chunk)
        buf = np.concatenate(parts) if len(parts) > 1 else parts[0]
        leg.rx_fifo = buf[FRAME_SAMPLES:]
        if any_good:
            call.good[row] = True
        return buf[:FRAME_SAMPLES]

    def _slow_send(self, leg: _Leg, pcm: npt.NDArray[np.int16]) -> None:
        """Packetise a leg that is not 20 ms G.711 (other codec or ptime)."""
        cfg = leg.config
        if cfg is None or leg.encoder is None:
            return
        fifo = np.concatenate((leg.tx_fifo, pcm)) if len(leg.tx_fifo) else pcm
        while len(fifo) >= leg.tx_samples:
            chunk, fifo = fifo[: leg.tx_samples], fifo[leg.tx_samples :]
            if leg.sending:
                payload = leg.encoder.encode(np.ascontiguousarray(chunk))
                header = struct.pack(
                    "!BBHII",
                    0x80,
                    cfg.codec.payload_type | (0x80 if leg.marker else 0),
                    leg.seq,
                    leg.ts,
                    leg.ssrc,
                )
                packet = header + payload
                leg.marker = False
                try:
                    if leg.srtp is not None:
                        packet = leg.srtp.protect(packet)
                    leg.rtp_sock.sendto(packet, leg.remote)  # type: ignore[arg-type]
                except (OSError, SrtpError):
                    leg.late_or_lost_tx += 1
                leg.packets_tx += 1
                leg.bytes_tx += len(packet)
                self.bytes_tx_total += len(packet)
                leg.seq = (leg.seq + 1) & 0xFFFF
            leg.ts = (leg.ts + leg.tx_ts_step) & 0xFFFFFFFF
        leg.tx_fifo = fifo

    # ----------------------------------------------------------------- periodic

    def _housekeeping(self, call: _Call, now: float) -> None:
        for leg in call.rows:
            if (
                leg.expects_rtp
                and not leg.timed_out
                and now - leg.last_rx > self.options.rtp_timeout
            ):
                leg.timed_out = True
                self.emit(RtpTimeout(leg.leg_id))
            if now >= leg.next_rtcp:
                leg.next_rtcp = now + random.uniform(0.5, 1.5) * RTCP_INTERVAL
                call.sync_leg_counters()
                self._send_rtcp(leg, now)

    def _rtcp_packets(self, leg: _Leg, now: float) -> list[rtcp.RtcpPacket]:
        reports = [leg.rx_stats.report_block(now)] if leg.rx_stats is not None else []
        return rtcp.report(leg.ssrc, self.options.cname, packets_sent=leg.packets_tx,
                           octets_sent=leg.bytes_tx, rtp_timestamp=leg.ts, reports=reports)

    def _send_rtcp(self, leg: _Leg, now: float, extra: list[rtcp.RtcpPacket] | None = None) -> None:
        if leg.rtcp_remote is None or leg.config is None:
            return
        if leg.config.direction == "inactive" and not extra:
            return
        data = rtcp.serialize_compound(self._rtcp_packets(leg, now) + (extra or []))
        try:
            if leg.srtp is not None:
                data = leg.srtp.protect_rtcp(data)
            leg.rtcp_sock.sendto(data, leg.rtcp_remote)
        except (OSError, SrtpError):
            pass

    def _send_bye(self, leg: _Leg) -> None:
        if leg.config is not None:
            self._send_rtcp(leg, time.monotonic(), [rtcp.RtcpBye([leg.ssrc])])


def worker_main(sock: socket.socket, options: WorkerOptions) -> None:
    """Entry point of a worker process (spawned by :class:`moot.media.pool.MediaPool`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if options.nice:
        try:
            os.nice(options.nice)
        except OSError:
            pass
    if options.realtime_priority > 0 and hasattr(os, "sched_setscheduler"):
        try:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(options.realtime_priority))
        except OSError:
            pass

    async def run() -> None:
        loop = asyncio.get_running_loop()
        worker = Worker(loop, options)
        worker.channel = Channel(sock, loop, worker.on_message, worker.stopped.set)
        await worker.stopped.wait()
        if worker.channel is not None and not worker.channel.closed:
            # Let the reply to "stop" go out before the process exits.
            for _ in range(100):
                if not worker.channel._out:
                    break
                await asyncio.sleep(0.01)

    asyncio.run(run())

