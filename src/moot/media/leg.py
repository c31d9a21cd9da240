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
    "LegConfig",
    "LegStats",
    "MediaError",
    "MediaEvent",
    "PlayFinished",
    "PoolTotals",
    "RtpTimeout",
    "SpeakerChanged",
]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


class MediaError(RuntimeError):
    """A media pool request failed (unknown leg, no free port, worker died, bad config)."""


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


MediaEvent = DtmfReceived | RtpTimeout | SpeakerChanged | PlayFinished
