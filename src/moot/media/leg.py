"""Value types shared by the media pool (main process) and its worker processes.

Everything here crosses the process boundary (pickled), so it is plain dataclasses.

``LegConfig.direction`` is the direction of the stream from the bridge's point of view,
i.e. the one the bridge puts in its SDP answer: ``sendrecv`` (normal), ``sendonly`` (we
send, the phone does not), ``recvonly`` (the phone holds us: it may send music, we do not
send), ``inactive``. Only ``sendrecv`` legs are mixed into the conference (a held party's
music must not reach the others, as on every conference bridge); we send only on
``sendrecv``/``sendonly``; the RTP timeout applies when we expect packets
(``sendrecv``/``recvonly``).
"""

from __future__ import annotations

from dataclasses import dataclass

from moot.media.codecs import CodecSpec

__all__ = [
    "DIRECTIONS",
    "DtmfReceived",
    "KeyframeWanted",
    "LegConfig",
    "LegStats",
    "MediaError",
    "MediaEvent",
    "PlayFinished",
    "PoolTotals",
    "RtpTimeout",
    "SpeakerChanged",
    "VideoConfig",
    "VideoStats",
]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


class MediaError(RuntimeError):
    """A media pool request failed (unknown leg, no free port, worker died, bad config)."""


VIDEO_CODECS = ("H264", "VP8")


@dataclass
class VideoConfig:
    """What offer/answer decided for a leg's video stream (the main video; content shows in it).

    ``width``/``height``/``fps``/``bitrate`` are what the leg receives from the bridge (its
    composed view), within what it negotiated. ``feedback``: what the remote takes from us to
    send a keyframe - ``pli`` (RFC 4585), ``fir`` (RFC 5104); with neither the call bridge is
    told (:class:`KeyframeWanted`) and asks over SIP INFO (picture_fast_update).
    """

    remote: tuple[str, int]
    codec: str
    payload_type: int
    width: int = 1280
    height: int = 720
    fps: int = 30
    bitrate: int = 1_500_000
    direction: str = "sendrecv"
    layout: str = "allEqual"
    packetization_mode: int = 1
    feedback: tuple[str, ...] = ("pli", "fir")
    srtp_profile: str | None = None
    srtp_tx_key: bytes | None = None
    srtp_rx_key: bytes | None = None
    latch: bool = False

    def validate(self) -> None:
        if self.codec not in VIDEO_CODECS:
            raise MediaError(f"unsupported video codec {self.codec!r} (supported: {', '.join(VIDEO_CODECS)})")
        if self.direction not in DIRECTIONS:
            raise MediaError(f"unknown video direction {self.direction!r}")
        if not 0 <= self.payload_type <= 127:
            raise MediaError(f"video payload type {self.payload_type} outside 0..127")
        if not (16 <= self.width <= 1920 and 16 <= self.height <= 1088) or self.width % 2 or self.height % 2:
            raise MediaError(f"video size {self.width}x{self.height} must be even and at most 1920x1088")
        if not 1 <= self.fps <= 60:
            raise MediaError(f"video frame rate {self.fps} outside 1..60")
        if not 32_000 <= self.bitrate <= 20_000_000:
            raise MediaError(f"video bit rate {self.bitrate} outside 32000..20000000 bit/s")
        if self.packetization_mode not in (0, 1):
            raise MediaError(f"H.264 packetization-mode {self.packetization_mode} is not 0 or 1")
        if not 0 <= self.remote[1] <= 65535:
            raise MediaError(f"remote video port {self.remote[1]} outside 0..65535")
        if self.srtp_profile is not None and (self.srtp_tx_key is None or self.srtp_rx_key is None):
            raise MediaError("video SRTP needs both srtp_tx_key and srtp_rx_key")


@dataclass
class VideoStats:
    """A leg's video both ways (rates over the last second or so)."""

    rx_codec: str = ""
    rx_width: int = 0
    rx_height: int = 0
    rx_fps: float = 0.0
    rx_bps: int = 0
    rx_frames: int = 0
    rx_packets_lost: int = 0
    rx_decode_errors: int = 0
    tx_codec: str = ""
    tx_width: int = 0
    tx_height: int = 0
    tx_fps: float = 0.0
    tx_bps: int = 0
    tx_frames: int = 0
    frames_dropped: int = 0
    """Composed frames this leg should have got and did not (overload: frame rate lowered)."""
    keyframes_sent: int = 0
    keyframe_requests: int = 0
    """PLI/FIR received from the remote (and API/SIP INFO requests)."""
    layout: str = ""


@dataclass
class LegConfig:
    """What the SDP offer/answer decided for one leg."""

    remote: tuple[str, int]
    """Where to send RTP (RTCP goes to port + 1)."""
    codec: CodecSpec
    dtmf_payload_type: int | None = None
    ptime_ms: int = 20
    direction: str = "sendrecv"
    srtp_profile: str | None = None
    """``AES_CM_128_HMAC_SHA1_80`` or ``AES_CM_128_HMAC_SHA1_32``; None for plain RTP."""
    srtp_tx_key: bytes | None = None
    """Our SDES master key + salt (30 octets): protects what we send."""
    srtp_rx_key: bytes | None = None
    """The peer's master key + salt (30 octets): unprotects what we receive."""
    latch: bool = False
    """Symmetric RTP: send to the address RTP actually comes from (NAT traversal)."""
    name: str = ""
    """The participant's name, shown on its pane in others' video."""
    video: VideoConfig | None = None
    """The leg's video stream, if it has one (needs :meth:`MediaPool.open_video` first)."""

    def validate(self) -> None:
        """Raise :class:`MediaError` if the configuration cannot be used."""
        if self.direction not in DIRECTIONS:
            raise MediaError(f"unknown direction {self.direction!r}")
        if self.ptime_ms not in (10, 20, 30, 40, 60):
            raise MediaError(f"unsupported ptime {self.ptime_ms} ms")
        if not 0 <= self.codec.payload_type <= 127:
            raise MediaError(f"payload type {self.codec.payload_type} outside 0..127")
        if self.dtmf_payload_type is not None and not 0 <= self.dtmf_payload_type <= 127:
            raise MediaError(f"DTMF payload type {self.dtmf_payload_type} outside 0..127")
        port = self.remote[1]
        if not 0 <= port <= 65535:
            raise MediaError(f"remote port {port} outside 0..65535")
        if self.srtp_profile is not None and (
            self.srtp_tx_key is None or self.srtp_rx_key is None
        ):
            raise MediaError("SRTP needs both srtp_tx_key and srtp_rx_key")
        if self.video is not None:
            self.video.validate()


@dataclass
class LegStats:
    packets_rx: int
    packets_tx: int
    bytes_rx: int
    bytes_tx: int
    packets_lost: int
    """Received packets lost (RFC 3550 A.3 cumulative count)."""
    jitter_ms: float
    """Interarrival jitter of what we receive (RFC 3550 A.8)."""
    late_or_lost_tx: int
    """Packets we sent more than one frame late, or never sent because we fell behind."""
    codec: str
    remote: tuple[str, int]
    mix_latency_ms_max: float
    """Worst time from a frame's deadline to its packet leaving the socket."""
    video: VideoStats | None = None


@dataclass
class PoolTotals:
    legs: int
    audio_bps_in: int
    audio_bps_out: int


@dataclass(frozen=True)
class DtmfReceived:
    leg_id: str
    digit: str


@dataclass(frozen=True)
class RtpTimeout:
    leg_id: str


@dataclass(frozen=True)
class SpeakerChanged:
    call_id: str
    leg_id: str | None


@dataclass(frozen=True)
class PlayFinished:
    leg_id: str


@dataclass(frozen=True)
class KeyframeWanted:
    """The bridge needs a keyframe from a leg whose SDP offered no RTCP feedback for it."""

    leg_id: str


MediaEvent = DtmfReceived | RtpTimeout | SpeakerChanged | PlayFinished | KeyframeWanted
