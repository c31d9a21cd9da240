from __future__ import annotations

import os

import pylibsrtp
import pytest

from moot.media.rtcp import RtcpReceiverReport, serialize_compound
from moot.media.rtp import RtpPacket
from moot.media.srtp import SrtpContext, SrtpError


@pytest.mark.parametrize(
    ("profile", "tag"), [("AES_CM_128_HMAC_SHA1_80", 10), ("AES_CM_128_HMAC_SHA1_32", 4)]
)
def test_protect_unprotect_between_two_ends(profile: str, tag: int) -> None:
    a_key, b_key = os.urandom(30), os.urandom(30)
    alice = SrtpContext(profile, a_key, b_key)
    bob = SrtpContext(profile, b_key, a_key)
    rtp = RtpPacket(0, 1, 160, 0x1234, payload=b"\xff" * 160).serialize()
    protected = alice.protect(rtp)
    assert len(protected) == len(rtp) + tag
    assert protected[12:172] != rtp[12:]
    assert bob.unprotect(protected) == rtp
    rtcp = serialize_compound([RtcpReceiverReport(0x1234)])
    assert bob.unprotect_rtcp(alice.protect_rtcp(rtcp)) == rtcp


def test_interoperates_with_plain_libsrtp_policy() -> None:
    key = os.urandom(30)
    ours = SrtpContext("AES_CM_128_HMAC_SHA1_80", key, os.urandom(30))
    theirs = pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    )
    rtp = RtpPacket(0, 7, 0, 99, payload=b"abc").serialize()
    assert theirs.unprotect(ours.protect(rtp)) == rtp


def test_tampered_or_replayed_packet_and_bad_parameters() -> None:
    key = os.urandom(30)
    tx = SrtpContext("AES_CM_128_HMAC_SHA1_80", key, key)
    rx = SrtpContext("AES_CM_128_HMAC_SHA1_80", key, key)
    protected = tx.protect(RtpPacket(0, 9, 0, 5, payload=b"x" * 20).serialize())
    tampered = protected[:-1] + bytes([protected[-1] ^ 1])
    with pytest.raises(SrtpError, match="unprotect"):
        rx.unprotect(tampered)
    rx.unprotect(protected)
    with pytest.raises(SrtpError):
        rx.unprotect(protected)  # replay
    with pytest.raises(SrtpError, match="30 octets"):
        SrtpContext("AES_CM_128_HMAC_SHA1_80", b"short", key)
    with pytest.raises(SrtpError, match="unsupported"):
        SrtpContext("F8_128_HMAC_SHA1_80", key, key)
