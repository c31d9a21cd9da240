"""SRTP with SDES keying (RFC 4568 / RFC 3711) through libsrtp (pylibsrtp).

SDES gives each direction a master key and salt inline in the SDP ``a=crypto`` line:
30 octets (16-octet AES-128 key + 14-octet salt) for both crypto suites supported here:

* ``AES_CM_128_HMAC_SHA1_80`` - AES counter mode, 80-bit HMAC-SHA1 authentication tag;
* ``AES_CM_128_HMAC_SHA1_32`` - the same with a 32-bit tag on SRTP (SRTCP keeps 80 bits).

:class:`SrtpContext` holds one outbound session (our key: protect what we send) and one
inbound session (the peer's key: unprotect what we receive), each for any SSRC.
"""

from __future__ import annotations

import pylibsrtp

from moot.media import rtcp

__all__ = ["SRTP_KEY_LENGTH", "SRTP_PROFILES", "SrtpContext", "SrtpError", "receive_rtcp"]

SRTP_KEY_LENGTH = 30
SRTP_PROFILES: dict[str, int] = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}


class SrtpError(ValueError):
    """Bad SRTP parameters, or a packet failed authentication / replay checks."""


def _session(profile: str, key: bytes, direction: int) -> pylibsrtp.Session:
    if profile not in SRTP_PROFILES:
        raise SrtpError(f"unsupported SRTP crypto suite {profile!r}")
    if len(key) != SRTP_KEY_LENGTH:
        raise SrtpError(f"SRTP master key+salt must be {SRTP_KEY_LENGTH} octets, not {len(key)}")
    policy = pylibsrtp.Policy(key=key, ssrc_type=direction, srtp_profile=SRTP_PROFILES[profile])
    return pylibsrtp.Session(policy=policy)


class SrtpContext:
    """Protect outgoing and unprotect incoming (S)RTP/(S)RTCP for one leg."""

    def __init__(self, profile: str, tx_key: bytes, rx_key: bytes) -> None:
        self.profile = profile
        self._tx = _session(profile, tx_key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        self._rx = _session(profile, rx_key, pylibsrtp.Policy.SSRC_ANY_INBOUND)

    def protect(self, packet: bytes) -> bytes:
        try:
            return bytes(self._tx.protect(packet))
        except pylibsrtp.Error as exc:
            raise SrtpError(f"SRTP protect failed: {exc}") from exc

    def unprotect(self, packet: bytes) -> bytes:
        try:
            return bytes(self._rx.unprotect(packet))
        except pylibsrtp.Error as exc:
            raise SrtpError(f"SRTP unprotect failed: {exc}") from exc

    def protect_rtcp(self, packet: bytes) -> bytes:
        try:
            return bytes(self._tx.protect_rtcp(packet))
        except pylibsrtp.Error as exc:
            raise SrtpError(f"SRTCP protect failed: {exc}") from exc

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        try:
            return bytes(self._rx.unprotect_rtcp(packet))
        except pylibsrtp.Error as exc:
            raise SrtpError(f"SRTCP unprotect failed: {exc}") from exc


def receive_rtcp(data: bytes, srtp: SrtpContext | None) -> list[rtcp.RtcpPacket] | None:
    """A received (compound) RTCP datagram, unprotected with ``srtp`` if given, parsed; None
    when it fails authentication or is malformed (the caller counts a bad packet)."""
    try:
        return rtcp.parse_compound(srtp.unprotect_rtcp(data) if srtp is not None else data)
    except (SrtpError, rtcp.RtcpError):
        return None
