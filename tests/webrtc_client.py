"""A synthetic WebRTC participant for the web bridge, for tests and benchmarks.

It speaks the web bridge protocol (``/work/notes/webbridge_protocol.md``): a WebSocket at
``<base_url>/ws`` carrying JSON messages, and one aiortc ``RTCPeerConnection`` per join
attempt. It sends a sine tone (or silence) as its microphone, optionally a small moving test
pattern as its camera, and records what the server sends back (the N-1 mix) as mono int16
samples stamped with ``time.monotonic()`` arrival times.

Usage::

    async with WebClient("https://127.0.0.1:9443", tone_hz=700) as client:
        joined = await client.join("123456789", passcode="1234")
        await asyncio.sleep(3)
        samples, rate = client.received_audio(since=time.monotonic() - 2)
        assert abs(dominant_frequencies(samples, rate)[0] - 700) < 10
        await client.leave()

Design notes
------------
* Everything lives on the instance (one ``aiohttp.ClientSession`` per client, no module
  state) and runs as asyncio tasks, so dozens of clients can share one process and one loop;
  the only threads are the ones aiortc itself uses (its video encoder runs in the default
  executor).
* No trickle ICE: aiortc's ``setLocalDescription`` returns only once gathering is complete,
  so the offer already holds every candidate, which is what the bridge expects.
* No STUN server by default: aiortc would otherwise ask ``stun.l.google.com``, which stalls
  gathering on a machine without internet access. Pass ``ice_servers`` to change that.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import math
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
import numpy as np
import numpy.typing as npt
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

__all__ = [
    "InboundStats",
    "JoinRefused",
    "Joined",
    "TestPatternTrack",
    "ToneTrack",
    "WebClient",
    "dominant_frequencies",
    "tone_level_db",
]

SAMPLE_RATE: Final = 48_000
FRAME_SECONDS: Final = 0.020
SAMPLES_PER_FRAME: Final = int(SAMPLE_RATE * FRAME_SECONDS)
FULL_SCALE: Final = 32768.0
# "Non-silent" for time_to_first_audio: a decoded frame whose peak passes 1 % of full scale.
AUDIBLE_PEAK: Final = 0.01 * FULL_SCALE
JOIN_TIMEOUT: Final = 15.0

VIDEO_WIDTH: Final = 320
VIDEO_HEIGHT: Final = 240
VIDEO_FPS: Final = 15
VIDEO_CLOCK_RATE: Final = 90_000

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]


class JoinRefused(Exception):
    """The server answered a ``join`` with an ``error`` message."""

    def __init__(
        self, code: str, message: str, retry_after: float | None = None, fatal: bool = False
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.fatal = fatal


@dataclass(frozen=True)
class Joined:
    """What the server's ``joined`` message told us about our leg."""

    leg_id: str
    participant_id: str
    call_id: str
    meeting_name: str
    meeting_id: str


@dataclass(frozen=True)
class InboundStats:
    """What the latest peer connection received as audio (see :meth:`WebClient.stats`).

    ``packets_received``/``packets_lost``/``jitter`` are aiortc's ``inbound-rtp`` figures
    (lost = expected by sequence number - received; jitter in RTP clock units, 48 kHz).
    ``frames_decoded`` counts decoded 20 ms frames; ``quiet_frames`` those among them,
    after the first audible one, whose peak stays under 1 % of full scale: in a call where
    the others speak all the time, a gap in the mix.
    """

    packets_received: int
    packets_lost: int
    jitter: float
    frames_decoded: int
    quiet_frames: int


class ToneTrack(MediaStreamTrack):
    """Microphone stand-in: 20 ms frames of a 48 kHz s16 sine, paced in real time.

    The phase runs on across frames (and across mute), so the tone has no clicks. While
    ``muted`` is set, or when ``tone_hz`` is None, the frames carry silence: like a browser
    with a disabled track, RTP keeps flowing.

    The signal is mono, but the frames are stereo with both channels equal: aiortc's Opus
    encoder converts everything to stereo, and its resampler spreads a mono frame at -3 dB
    per channel, so a mono frame would reach the far end 3 dB below ``amplitude``. Equal
    channels arrive at exactly ``amplitude`` (measured: 0.3 -> -10.5 dBFS after the echo).
    """

    kind = "audio"

    def __init__(self, tone_hz: float | None, amplitude: float) -> None:
        super().__init__()
        self.tone_hz = tone_hz
        self.amplitude = amplitude
        self.muted = False
        self._start: float | None = None
        self._pts = 0
        self._time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._offsets = np.arange(SAMPLES_PER_FRAME, dtype=np.float64)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._wait_for_next_frame()
        # Packed stereo: one row of interleaved left/right samples.
        interleaved = np.repeat(self._next_samples(), 2).reshape(1, -1)
        frame = AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = self._time_base
        self._pts += SAMPLES_PER_FRAME
        return frame

    async def _wait_for_next_frame(self) -> None:
        # Deadlines come from the start time, not from the previous frame, so delays in the
        # event loop do not accumulate into drift.
        if self._start is None:
            self._start = time.monotonic()
            return
        delay = self._start + self._pts / SAMPLE_RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def _next_samples(self) -> Int16Array:
        if self.muted or self.tone_hz is None:
            return np.zeros(SAMPLES_PER_FRAME, dtype=np.int16)
        # The sample index is reduced modulo one period's worth of cycles, so the phase stays
        # exact however long the track runs.
        cycles = (self._pts * self.tone_hz / SAMPLE_RATE) % 1.0
        phase = 2 * math.pi * (cycles + self._offsets * self.tone_hz / SAMPLE_RATE)
        wave = self.amplitude * (FULL_SCALE - 1) * np.sin(phase)
        return wave.astype(np.int16)


class TestPatternTrack(VideoStreamTrack):
    """Camera stand-in: a 320x240 gradient with a bright bar sliding across it, 15 fps.

    Frames are made directly in yuv420p, the encoders' input format, to spare a conversion.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self) -> None:
        super().__init__()
        self._started_at: float | None = None
        self._index = 0
        self._time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        columns = np.linspace(16, 235, VIDEO_WIDTH, dtype=np.float64).astype(np.uint8)
        self._luma = np.tile(columns, (VIDEO_HEIGHT, 1))
        self._chroma = np.full((VIDEO_HEIGHT // 2, VIDEO_WIDTH), 128, dtype=np.uint8)
        self._chroma[:, : VIDEO_WIDTH // 2] = 90

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._wait_for_next_frame()
        frame = VideoFrame.from_ndarray(self._next_image(), format="yuv420p")
        frame.pts = self._index * (VIDEO_CLOCK_RATE // VIDEO_FPS)
        frame.time_base = self._time_base
        self._index += 1
        return frame

    async def _wait_for_next_frame(self) -> None:
        if self._started_at is None:
            self._started_at = time.monotonic()
            return
        delay = self._started_at + self._index / VIDEO_FPS - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def _next_image(self) -> npt.NDArray[np.uint8]:
        luma = self._luma.copy()
        bar = (self._index * 8) % VIDEO_WIDTH
        luma[:, bar : bar + 16] = 250
        # yuv420p as one array: the Y plane, then the U and V planes (each a quarter of Y)
        # packed two rows per image row.
        return np.concatenate([luma, self._chroma])


class _AudioRecorder:
    """Keeps the last ``keep_seconds`` of decoded audio as (arrival time, mono int16) chunks."""

    def __init__(self, keep_seconds: float) -> None:
        self._keep_seconds = keep_seconds
        self._chunks: deque[tuple[float, Int16Array]] = deque()
        self._kept_samples = 0
        self.sample_rate = SAMPLE_RATE

    def add(self, arrived: float, samples: Int16Array, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._chunks.append((arrived, samples))
        self._kept_samples += len(samples)
        while self._kept_samples > self._keep_seconds * sample_rate and len(self._chunks) > 1:
            _, dropped = self._chunks.popleft()
            self._kept_samples -= len(dropped)

    def window(self, since: float | None, until: float | None) -> Int16Array:
        picked = [
            samples
            for arrived, samples in self._chunks
            if (since is None or arrived >= since) and (until is None or arrived <= until)
        ]
        if not picked:
            return np.zeros(0, dtype=np.int16)
        joined: Int16Array = np.concatenate(picked)
        return joined


def _frame_to_mono_int16(frame: AudioFrame) -> Int16Array:
    """Down-mixes any decoded frame (aiortc's Opus decoder gives packed s16 stereo)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        per_channel = data.reshape(channels, -1)
    else:
        per_channel = data.reshape(-1, channels).T
    mono = per_channel.astype(np.float64).mean(axis=0)
    if np.issubdtype(data.dtype, np.floating):
        mono *= FULL_SCALE
    elif data.dtype == np.int32:
        mono /= 65536.0
    converted: Int16Array = np.clip(np.rint(mono), -FULL_SCALE, FULL_SCALE - 1).astype(np.int16)
    return converted


def _peak(samples: Int16Array) -> int:
    return int(np.abs(samples.astype(np.int32)).max()) if len(samples) else 0


def _websocket_url(base_url: str) -> str:
    url = base_url.rstrip("/")
    if url.startswith("https://"):
        url = "wss://" + url.removeprefix("https://")
    elif url.startswith("http://"):
        url = "ws://" + url.removeprefix("http://")
    return url if url.endswith("/ws") else url + "/ws"


class SolidColourTrack(VideoStreamTrack):
    """A camera showing one colour (BT.601 limited range), 15 fps: what the tests look for in
    the composed pictures the bridge sends back."""

    def __init__(self, rgb: tuple[int, int, int], width: int = 320, height: int = 240) -> None:
        super().__init__()
        r, g, b = rgb
        y = round(16 + 0.257 * r + 0.504 * g + 0.098 * b)
        u = round(128 - 0.148 * r - 0.291 * g + 0.439 * b)
        v = round(128 + 0.439 * r - 0.368 * g - 0.071 * b)
        self._image = np.empty((height * 3 // 2, width), dtype=np.uint8)
        self._image[:height] = y
        self._image[height : height + height // 4] = u
        self._image[height + height // 4 :] = v

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(self._image, format="yuv420p")
        frame.pts, frame.time_base = pts, time_base
        return frame


class WebClient:
    """One synthetic browser: a WebSocket to ``/ws`` plus a peer connection per join.

    Attributes read by tests:

    * ``messages``: every server message, in arrival order (``joined`` included).
    * ``participants``: the list from the latest ``participants`` message.
    * ``time_to_first_audio``: seconds from the latest ``join()`` call to the first decoded
      frame whose peak passes 1 % of full scale; None until then.
    * ``close_code``: the WebSocket close code once the server closed it.
    * ``pc``: the latest ``RTCPeerConnection`` (None before the first join).
    * ``frames_decoded``/``quiet_frames``: decoded audio frames of the latest connection,
      and those after the first audible one that were not audible (see ``InboundStats``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        tone_hz: float | None = 440.0,
        amplitude: float = 0.3,
        video: bool = False,
        video_colour: tuple[int, int, int] | None = None,
        name: str = "Synthetic",
        ice_servers: list[RTCIceServer] | None = None,
        keep_seconds: float = 120.0,
    ) -> None:
        self.base_url = base_url
        self.name = name
        self.video = video or video_colour is not None
        self.video_colour = video_colour
        #: The newest picture the bridge sent (I420 array) and how many were decoded.
        self.latest_video: npt.NDArray[np.uint8] | None = None
        self.video_frames = 0
        self.messages: list[dict[str, Any]] = []
        self.participants: list[dict[str, Any]] = []
        self.time_to_first_audio: float | None = None
        self.frames_decoded = 0
        self.quiet_frames = 0
        self.close_code: int | None = None
        self.pc: RTCPeerConnection | None = None
        self.audio_muted = False
        self.tone_hz = tone_hz
        self.amplitude = amplitude
        self._tone: ToneTrack | None = None
        self._ice_servers = [] if ice_servers is None else ice_servers
        self._recorder = _AudioRecorder(keep_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._media_tasks: set[asyncio.Task[None]] = set()
        self._new_message = asyncio.Condition()
        self._consumed: set[int] = set()
        self._oldest_unconsumed = 0  # every message before this index was returned already
        self._socket_closed = False
        self._joined = False
        self._join_started = 0.0

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Opens the WebSocket; the server's certificate is not verified (self-signed)."""
        if self._ws is not None:
            raise RuntimeError("already connected")
        # unsafe=True: keep cookies set by an IP-address host such as 127.0.0.1.
        self._session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        try:
            self._ws = await self._session.ws_connect(
                _websocket_url(self.base_url), ssl=False, max_msg_size=0
            )
        except BaseException:
            await self._session.close()
            self._session = None
            raise
        self._reader = asyncio.create_task(self._read_messages(self._ws))

    async def close(self) -> None:
        """Abrupt end, like a closed browser tab: no ``leave``. Safe to call twice."""
        try:
            await self._close_peer_connection()
            if self._ws is not None:
                await self._ws.close()
            if self._reader is not None:
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reader
                self._reader = None
        finally:
            # Whatever failed above (a peer connection that errors while closing), the
            # HTTP session must not leak.
            if self._session is not None:
                await self._session.close()
                self._session = None

    # -- signalling ------------------------------------------------------------------------

    async def join(
        self,
        meeting_id: str,
        *,
        passcode: str | None = None,
        secret: str | None = None,
        name: str | None = None,
    ) -> Joined:
        """Offers media and joins; raises ``JoinRefused`` on an ``error`` answer.

        A refused join leaves the socket usable (unless the error was fatal), so another
        ``join`` may follow. Raises ``TimeoutError`` if nothing comes back within 15 s
        (gathering included) and ``ConnectionError`` if the socket closes first.
        """
        self._join_started = time.monotonic()
        self.time_to_first_audio = None
        async with asyncio.timeout(JOIN_TIMEOUT):
            pc = await self._new_peer_connection()
            offer = await pc.createOffer()
            await pc.setLocalDescription(offer)  # returns once ICE gathering is complete
            # Only an answer to this join counts, not an unread error from earlier.
            answers_from = len(self.messages)
            await self._send_json(
                {
                    "type": "join",
                    "meetingId": meeting_id,
                    "passcode": passcode,
                    "secret": secret,
                    "name": self.name if name is None else name,
                    "audioMuted": self.audio_muted,
                    "videoMuted": not self.video,
                    "sdp": pc.localDescription.sdp,
                }
            )
            answer = await self._next_of({"joined", "error"}, timeout=None, start=answers_from)
            if answer["type"] == "error":
                await self._close_peer_connection()
                raise JoinRefused(
                    str(answer.get("code")),
                    str(answer.get("message")),
                    _optional_float(answer.get("retryAfter")),
                    bool(answer.get("fatal", False)),
                )
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        self._joined = True
        meeting = answer.get("meeting") or {}
        return Joined(
            leg_id=str(answer.get("legId")),
            participant_id=str(answer.get("participantId")),
            call_id=str(answer.get("callId")),
            meeting_name=str(meeting.get("name")),
            meeting_id=str(meeting.get("meetingId")),
        )

    async def set_muted(self, audio: bool) -> None:
        """Sends silence instead of the tone (or resumes it) and tells the server.

        Before a successful join only the local state changes (a ``mute`` before ``join`` is
        a protocol error); the next ``join`` then carries ``audioMuted``.
        """
        self.audio_muted = audio
        if self._tone is not None:
            self._tone.muted = audio
        if self._joined:
            await self._send_json({"type": "mute", "audio": audio, "video": not self.video})

    async def share(self, on: bool) -> None:
        """Tell the server our video is now a shared screen (or the camera again)."""
        await self._send_json({"type": "share", "on": on})

    async def leave(self, timeout: float = 10) -> dict[str, Any]:
        """Sends ``leave``, returns the server's ``ended`` message, then closes everything."""
        await self._send_json({"type": "leave"})
        try:
            return await self._next_of({"ended"}, timeout)
        finally:
            await self.close()

    async def send_raw(self, text: str | bytes) -> None:
        """Sends one frame as is (text for str, binary for bytes), for bad-input tests."""
        ws = self._require_socket()
        if isinstance(text, bytes):
            await ws.send_bytes(text)
        else:
            await ws.send_str(text)

    async def next_message(self, type_: str | None = None, timeout: float = 10) -> dict[str, Any]:
        """The oldest server message not yet returned by this method, optionally of one type.

        Messages of other types are passed over but stay available (and in ``messages``),
        so waiting for ``speaker`` does not lose a ``participants`` that came first.
        Raises ``TimeoutError``, or ``ConnectionError`` once the socket is closed and no
        matching message is left.
        """
        return await self._next_of(None if type_ is None else {type_}, timeout)

    # -- media -----------------------------------------------------------------------------

    def received_audio(
        self, since: float | None = None, until: float | None = None
    ) -> tuple[Int16Array, int]:
        """Mono int16 samples of the decoded remote audio and their sample rate.

        ``since``/``until`` are ``time.monotonic()`` values compared with each decoded
        frame's arrival time; at most the last ``keep_seconds`` are kept.
        """
        return self._recorder.window(since, until), self._recorder.sample_rate

    async def stats(self) -> InboundStats:
        """Inbound audio figures of the latest peer connection (all zero before a join)."""
        received = lost = 0
        jitter = 0.0
        if self.pc is not None:
            report = await self.pc.getStats()
            for entry in report.values():
                if getattr(entry, "type", None) == "inbound-rtp" and entry.kind == "audio":
                    received += int(entry.packetsReceived)
                    lost += int(entry.packetsLost)
                    jitter = max(jitter, float(entry.jitter))
        return InboundStats(received, lost, jitter, self.frames_decoded, self.quiet_frames)

    @property
    def connection_state(self) -> str:
        """``pc.connectionState`` of the latest peer connection ("new" before any join)."""
        return "new" if self.pc is None else self.pc.connectionState

    # -- internals -------------------------------------------------------------------------

    async def _new_peer_connection(self) -> RTCPeerConnection:
        await self._close_peer_connection()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers))
        self.pc = pc
        self.frames_decoded = 0
        self.quiet_frames = 0

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            recorder = self._record_audio(track) if track.kind == "audio" else self._record_video(track)
            task = asyncio.create_task(recorder)
            self._media_tasks.add(task)
            task.add_done_callback(self._media_tasks.discard)

        # A fresh track per connection: its real-time pacing starts with the first frame sent.
        self._tone = ToneTrack(self.tone_hz, self.amplitude)
        self._tone.muted = self.audio_muted
        pc.addTrack(self._tone)
        if self.video_colour is not None:
            pc.addTransceiver(SolidColourTrack(self.video_colour), direction="sendrecv")
        elif self.video:
            pc.addTransceiver(TestPatternTrack(), direction="sendonly")
        return pc

    async def _close_peer_connection(self) -> None:
        # The closed connection stays in self.pc, so connection_state then reads "closed".
        if self.pc is not None:
            pc = self.pc
            await pc.close()
            for sender in pc.getSenders():
                if sender.track is not None:
                    sender.track.stop()
        for task in list(self._media_tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _record_video(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, VideoFrame):
                self.latest_video = np.asarray(frame.to_ndarray(format="yuv420p"), dtype=np.uint8)
                self.video_frames += 1

    async def _record_audio(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, AudioFrame):
                continue
            arrived = time.monotonic()
            samples = _frame_to_mono_int16(frame)
            self._recorder.add(arrived, samples, frame.sample_rate)
            self.frames_decoded += 1
            audible = _peak(samples) > AUDIBLE_PEAK
            if self.time_to_first_audio is None:
                if audible:
                    self.time_to_first_audio = arrived - self._join_started
            elif not audible:
                self.quiet_frames += 1

    async def _read_messages(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    await self._store(_parse_message(frame.data))
                elif frame.type == aiohttp.WSMsgType.BINARY:
                    await self._store({"type": "_binary", "raw": frame.data})
        finally:
            self.close_code = ws.close_code
            async with self._new_message:
                self._socket_closed = True
                self._new_message.notify_all()

    async def _store(self, message: dict[str, Any]) -> None:
        if message.get("type") == "participants" and isinstance(message.get("participants"), list):
            self.participants = message["participants"]
        async with self._new_message:
            self.messages.append(message)
            self._new_message.notify_all()

    async def _next_of(
        self, types: set[str] | None, timeout: float | None, start: int = 0
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout), self._new_message:
            while True:
                message = self._take_oldest(types, start)
                if message is not None:
                    return message
                if self._socket_closed:
                    raise ConnectionError(
                        f"WebSocket closed (code {self.close_code}) before a {types or 'any'} message"
                    )
                await self._new_message.wait()

    def _take_oldest(self, types: set[str] | None, start: int) -> dict[str, Any] | None:
        for index in range(max(start, self._oldest_unconsumed), len(self.messages)):
            message = self.messages[index]
            if index not in self._consumed and (types is None or message["type"] in types):
                self._consumed.add(index)
                while self._oldest_unconsumed in self._consumed:
                    self._consumed.discard(self._oldest_unconsumed)
                    self._oldest_unconsumed += 1
                return message
        return None

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self._require_socket().send_str(json.dumps(message))

    def _require_socket(self) -> aiohttp.ClientWebSocketResponse:
        if self._ws is None:
            raise RuntimeError("not connected: call connect() first")
        return self._ws


def _parse_message(text: str) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except ValueError:
        return {"type": "_unparsable", "raw": text}
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return {"type": "_unparsable", "raw": text}
    return message


def _optional_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


# -- analysis helpers ------------------------------------------------------------------------


def _windowed_spectrum(samples: npt.NDArray[Any], rate: int) -> tuple[FloatArray, float, float]:
    """Magnitudes of the Hann-windowed one-sided FFT, the bin width, and len * sum(window**2)."""
    signal = samples.astype(np.float64) / FULL_SCALE
    signal -= signal.mean()
    window = np.hanning(len(signal))
    magnitudes = np.abs(np.fft.rfft(signal * window))
    return magnitudes, rate / len(signal), len(signal) * float(np.sum(window**2))


def dominant_frequencies(
    samples: npt.NDArray[Any], rate: int, top: int = 3, min_separation_hz: float = 25.0
) -> list[float]:
    """The ``top`` strongest spectral peaks in Hz, strongest first.

    Peaks are local maxima of the Hann-windowed spectrum, refined by parabolic interpolation
    of the log magnitude, so the error is a small fraction of a bin (rate / len(samples)).
    A peak closer than ``min_separation_hz`` to a stronger one is skipped: Opus leaves small
    bumps right next to a pure tone, and they are not separate sources.
    """
    if len(samples) < 4:
        return []
    magnitudes, bin_hz, _ = _windowed_spectrum(samples, rate)
    inner = magnitudes[1:-1]
    is_peak = (inner > magnitudes[:-2]) & (inner >= magnitudes[2:]) & (inner > 0)
    peak_bins = np.flatnonzero(is_peak) + 1
    found: list[float] = []
    for k in peak_bins[np.argsort(magnitudes[peak_bins])[::-1]]:
        if len(found) == top:
            break
        frequency = _refine_peak(magnitudes, int(k)) * bin_hz
        if all(abs(frequency - other) >= min_separation_hz for other in found):
            found.append(frequency)
    return found


def _refine_peak(magnitudes: FloatArray, k: int) -> float:
    left, centre, right = np.log(np.maximum(magnitudes[k - 1 : k + 2], 1e-20))
    curvature = left - 2 * centre + right
    if curvature >= 0:
        return float(k)
    return k + 0.5 * float(left - right) / float(curvature)


def tone_level_db(samples: npt.NDArray[Any], rate: int, freq: float) -> float:
    """Level of the sine at ``freq`` in dBFS (a full-scale sine is 0 dB).

    Sums the energy of the bins within +-2 of ``freq`` (the Hann main lobe), so the result
    does not depend on where the tone falls between bins. Returns -200 for silence.
    """
    if len(samples) < 8:
        return -200.0
    magnitudes, bin_hz, window_energy = _windowed_spectrum(samples, rate)
    centre = round(freq / bin_hz)
    low, high = max(centre - 2, 0), min(centre + 3, len(magnitudes))
    energy = float(np.sum(magnitudes[low:high] ** 2))
    # Parseval: a sine of amplitude A leaves A**2 * N * sum(window**2) / 4 in the one-sided bins.
    amplitude = math.sqrt(4 * energy / window_energy)
    return 20 * math.log10(max(amplitude, 1e-10))
