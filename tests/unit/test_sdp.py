"""SDP parsing/serialization and RFC 3264 audio offer/answer, on real-world shaped samples."""

from __future__ import annotations

import pytest

from moot.sip.sdp import (
    MAX_SIZE,
    Attribute,
    AudioAnswer,
    Bandwidth,
    Codec,
    Connection,
    Crypto,
    MediaDescription,
    NotAcceptable,
    Origin,
    SdpError,
    SessionDescription,
    answer_matches,
    build_answer,
    build_offer,
    negotiate_audio,
    parse,
)

KEY1 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"  # bytes(range(30))
KEY2 = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CB"  # bytes(range(100, 130))
KEY256 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ=="  # 46 bytes

PCMU = Codec(0, "PCMU", 8000)
PCMA = Codec(8, "PCMA", 8000)
G722 = Codec(9, "G722", 8000)
OPUS = Codec(111, "opus", 48000, 2)
SUPPORTED = [PCMU, PCMA, G722]


def crlf(text: str) -> str:
    return "\r\n".join(text.strip("\n").split("\n")) + "\r\n"


# sipp's built-in uac scenario.
SIPP = crlf("""
v=0
o=user1 53655765 2353687637 IN IP4 127.0.1.1
s=-
c=IN IP4 127.0.1.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
""")

# baresip with mandatory SDES-SRTP (menc srtp-mand).
BARESIP_SAVP = crlf(f"""
v=0
o=- 1803456870 2316468210 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
a=tool:baresip 3.10.1
m=audio 10410 RTP/SAVP 96 9 0 8 101
b=AS:128
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=label:1
a=rtcp-rsize
a=ssrc:1436578964 cname:c1f0c1e2-7b11-4d44-9a5c-5a3c0d4d1c0e
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY1}
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY2}
a=ptime:20
""")

# Cisco CUCM / TelePresence style: audio, video and a BFCP stream, bandwidth lines.
CISCO = crlf("""
v=0
o=CiscoSystemsCCM-SIP 2000 1 IN IP4 10.10.10.1
s=SIP Call
c=IN IP4 10.10.20.5
b=AS:1064
b=TIAS:1064000
t=0 0
m=audio 24580 RTP/AVP 0 8 18 101
b=TIAS:64000
a=ptime:20
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
m=video 24582 RTP/AVP 126 97
b=TIAS:1000000
a=rtpmap:126 H264/90000
a=fmtp:126 profile-level-id=42801E;packetization-mode=1
a=rtpmap:97 H264/90000
a=fmtp:97 profile-level-id=42801E;packetization-mode=0
a=content:main
a=label:11
m=application 5070 UDP/BFCP *
a=floorctrl:c-s
a=confid:1
a=floorid:2 mstrm:12
a=userid:3
a=setup:actpass
a=connection:new
""")

# Polycom VVX: many codecs, static G.722/G.729 without rtpmap, session-level sendonly (hold).
POLYCOM = crlf("""
v=0
o=- 1234567890 1234567891 IN IP4 10.1.2.3
s=Polycom IP Phone
c=IN IP4 10.1.2.3
t=0 0
a=sendonly
m=audio 2222 RTP/AVP 102 9 0 8 18 127
a=rtpmap:102 G7221/16000
a=fmtp:102 bitrate=32000
a=fmtp:18 annexb=no
a=rtpmap:127 telephone-event/8000
a=ptime:30
""")

# Chrome-like (legacy SDES, RTP/SAVPF): ICE, extmap, rtcp-mux, ssrc ... all kept in order.
CHROME = crlf(f"""
v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=msid-semantic: WMS stream
m=audio 54400 RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 203.0.113.7
a=rtcp:54401 IN IP4 203.0.113.7
a=candidate:1467250027 1 udp 2122260223 203.0.113.7 54400 typ host generation 0
a=ice-ufrag:F7gI
a=ice-pwd:x9cml/YzichV2+XlhiMu8g
a=ice-options:trickle
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=sendrecv
a=msid:stream track
a=rtcp-mux
a=crypto:0 AES_CM_128_HMAC_SHA1_80 inline:{KEY1}
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:1001 cname:abcd
a=ssrc:1001 msid:stream track
""")

# Browser WebRTC (DTLS-SRTP): a transport the bridge does not speak.
WEBRTC_DTLS = crlf("""
v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
m=audio 9 UDP/TLS/RTP/SAVPF 111 0
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:F7gI
a=ice-pwd:x9cml/YzichV2+XlhiMu8g
a=fingerprint:sha-256 AB:CD:EF:01
a=setup:actpass
a=mid:0
a=sendrecv
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtpmap:0 PCMU/8000
""")

SAMPLES = {
    "sipp": SIPP,
    "baresip": BARESIP_SAVP,
    "cisco": CISCO,
    "polycom": POLYCOM,
    "chrome": CHROME,
    "webrtc": WEBRTC_DTLS,
}


def audio(media_lines: str, session_c: str = "c=IN IP4 192.0.2.1\n") -> str:
    """A minimal description with the given media section(s)."""
    return crlf(f"v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n{session_c}t=0 0\n{media_lines}")


# --------------------------------------------------------------------------------------
# Parsing the samples


def test_sipp_offer_fields() -> None:
    sd = parse(SIPP.encode())
    assert sd.version == 0
    assert sd.origin == Origin("user1", 53655765, 2353687637, "IN", "IP4", "127.0.1.1")
    assert sd.session_name == "-"
    assert sd.connection == Connection("127.0.1.1")
    assert [(t.start, t.stop) for t in sd.times] == [(0, 0)]
    [media] = sd.media
    assert (media.media, media.port, media.port_count, media.proto) == ("audio", 6000, 1, "RTP/AVP")
    assert media.formats == ["0"]
    assert media.codecs == [PCMU]
    assert media.direction == "sendrecv"
    assert media.ptime is None and media.connection is None and media.crypto == []
    assert media.attributes == []


def test_baresip_offer_with_crypto() -> None:
    sd = parse(BARESIP_SAVP)
    [media] = sd.media
    assert media.proto == "RTP/SAVP"
    assert media.bandwidth == [Bandwidth("AS", 128)]
    assert [c.rtpmap for c in media.codecs] == [
        "opus/48000/2",
        "G722/8000",
        "PCMU/8000",
        "PCMA/8000",
        "telephone-event/8000",
    ]
    assert media.codecs[0].fmtp == "stereo=1;sprop-stereo=1"
    assert media.codecs[4] == Codec(101, "telephone-event", 8000, 1, "0-15")
    assert media.crypto == [
        Crypto(1, "AES_CM_128_HMAC_SHA1_80", bytes(range(30))),
        Crypto(2, "AES_CM_128_HMAC_SHA1_32", bytes(range(100, 130))),
    ]
    assert media.ptime == 20
    assert media.attributes == [
        Attribute("label", "1"),
        Attribute("rtcp-rsize"),
        Attribute("ssrc", "1436578964 cname:c1f0c1e2-7b11-4d44-9a5c-5a3c0d4d1c0e"),
    ]
    assert sd.attributes == [Attribute("tool", "baresip 3.10.1")]


def test_cisco_offer_with_video_and_bfcp() -> None:
    sd = parse(CISCO)
    assert sd.bandwidth == [Bandwidth("AS", 1064), Bandwidth("TIAS", 1064000)]
    assert [m.media for m in sd.media] == ["audio", "video", "application"]
    audio_m, video, bfcp = sd.media
    assert audio_m.codecs[2] == Codec(18, "G729", 8000, fmtp="annexb=no")
    assert video.codecs[0].fmtp == "profile-level-id=42801E;packetization-mode=1"
    assert video.attribute("content") == "main"
    assert (bfcp.proto, bfcp.formats, bfcp.codecs) == ("UDP/BFCP", ["*"], [])
    assert bfcp.attribute("floorid") == "2 mstrm:12"
    assert bfcp.attribute("absent") is None


def test_polycom_static_payload_types_and_session_direction() -> None:
    sd = parse(POLYCOM)
    [media] = sd.media
    # G.722 and G.729 have no rtpmap: RFC 3551's static table, G.722's clock is 8000.
    assert media.codecs == [
        Codec(102, "G7221", 16000, fmtp="bitrate=32000"),
        Codec(9, "G722", 8000),
        PCMU,
        PCMA,
        Codec(18, "G729", 8000, fmtp="annexb=no"),
        Codec(127, "telephone-event", 8000),
    ]
    assert media.direction == "sendonly"  # inherited from the session level
    assert media.ptime == 30


def test_chrome_like_offer_keeps_attributes_in_order() -> None:
    sd = parse(CHROME)
    assert sd.connection is None
    assert sd.attributes == [
        Attribute("group", "BUNDLE 0"),
        Attribute("msid-semantic", " WMS stream"),
    ]
    [media] = sd.media
    assert media.connection == Connection("203.0.113.7")
    assert media.rtcp == 54401
    assert media.rtcp_connection == Connection("203.0.113.7")
    assert media.crypto[0].tag == 0
    names = [a.name for a in media.attributes]
    assert names == [
        "candidate",
        "ice-ufrag",
        "ice-pwd",
        "ice-options",
        "mid",
        "extmap",
        "extmap",
        "msid",
        "rtcp-mux",
        "rtcp-fb",
        "ssrc",
        "ssrc",
    ]
    assert media.codecs[1] == Codec(63, "red", 48000, 2, "111/111")
    assert media.codec(110) == Codec(110, "telephone-event", 48000)
    assert media.codec(55) is None


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_round_trip(name: str) -> None:
    sd = parse(SAMPLES[name])
    text = sd.serialize()
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert parse(text) == sd
    assert parse(text).serialize() == text


def test_serialize_order_and_crlf() -> None:
    text = parse(SIPP).serialize()
    assert text == crlf("""
v=0
o=user1 53655765 2353687637 IN IP4 127.0.1.1
s=-
c=IN IP4 127.0.1.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv
""")


def test_serialize_full_session_level() -> None:
    sd = SessionDescription(
        origin=Origin("alice", 1, 2, "IN", "IP6", "2001:db8::1"),
        session_name="",
        information="a call",
        uri="http://example.com/x",
        emails=["a@example.com"],
        phones=["+1 555 0100"],
        connection=Connection("ff15::101", "IN", "IP6", count=3),
        bandwidth=[Bandwidth("CT", 64)],
        zone="2882844526 -1h",
        key="prompt",
        attributes=[Attribute("recvonly")],
        media=[
            MediaDescription(
                "audio",
                49170,
                "RTP/AVP",
                ["0"],
                port_count=2,
                codecs=[PCMU],
                information="voice",
                key="clear:x",
                direction="recvonly",
            )
        ],
    )
    sd.times[0].repeats.append("604800 3600 0 90000")
    text = sd.serialize()
    assert text.splitlines()[:14] == [
        "v=0",
        "o=alice 1 2 IN IP6 2001:db8::1",
        "s= ",
        "i=a call",
        "u=http://example.com/x",
        "e=a@example.com",
        "p=+1 555 0100",
        "c=IN IP6 ff15::101/3",
        "b=CT:64",
        "t=0 0",
        "r=604800 3600 0 90000",
        "z=2882844526 -1h",
        "k=prompt",
        "a=recvonly",
    ]
    assert "m=audio 49170/2 RTP/AVP 0" in text
    assert parse(text) == sd


def test_serialize_refuses_line_breaks_in_values() -> None:
    sd = parse(SIPP)
    sd.session_name = "evil\r\nm=video 1 RTP/AVP 0"
    with pytest.raises(SdpError, match="control character"):
        sd.serialize()
    sd = parse(SIPP)
    sd.times = []
    with pytest.raises(SdpError, match="t= line"):
        sd.serialize()


def test_str_and_classmethod() -> None:
    sd = SessionDescription.parse(SIPP)
    assert str(sd) == sd.serialize()


# --------------------------------------------------------------------------------------
# Tolerance of real-world deviations


def test_lf_only_trailing_whitespace_and_blank_lines() -> None:
    sloppy = "\n".join(line + " \t" for line in SIPP.split("\r\n")) + "\n\n"
    assert parse(sloppy) == parse(SIPP)
    assert parse(SIPP.replace("\r\n", "\n")) == parse(SIPP)


def test_empty_session_name_and_username_with_spaces() -> None:
    sd = parse(
        crlf("""
v=0
o=Cisco SIP UA 5 6 IN IP4 10.0.0.1
s=
c=IN IP4 10.0.0.1
t=0 0
""")
    )
    assert sd.session_name == ""
    assert sd.origin.username == "Cisco SIP UA"
    assert sd.origin.session_id == 5
    assert parse(sd.serialize()) == sd


def test_session_lines_in_nonstandard_order() -> None:
    sd = parse(
        crlf("""
v=0
o=- 1 1 IN IP4 10.0.0.1
s=-
t=0 0
a=tool:x
c=IN IP4 10.0.0.1
b=AS:64
m=audio 4000 RTP/AVP 0
""")
    )
    assert sd.connection == Connection("10.0.0.1")
    assert sd.bandwidth == [Bandwidth("AS", 64)]


def test_orphan_rtpmap_and_unknown_dynamic_payload() -> None:
    sd = parse(
        audio(
            "m=audio 4000 RTP/AVP 0 96\na=rtpmap:97 opus/48000/2\n"
            "a=fmtp:96 mode=30\na=fmtp:97 x=1\n"
        )
    )
    [media] = sd.media
    assert media.formats == ["0", "96"]
    assert media.codecs == [PCMU]  # 96 has no rtpmap and is not static
    assert media.attributes == [
        Attribute("rtpmap", "97 opus/48000/2"),
        Attribute("fmtp", "96 mode=30"),
        Attribute("fmtp", "97 x=1"),
    ]
    assert parse(sd.serialize()) == sd


def test_rejected_stream_without_formats_and_without_connection() -> None:
    sd = parse(crlf("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=video 0 RTP/AVP\n"))
    assert sd.media[0].port == 0 and sd.media[0].formats == []


def test_fractional_ptime_and_hostname_connection() -> None:
    sd = parse(audio("m=audio 4000 RTP/AVP 0\nc=IN IP4 media.example.com\na=ptime:20.0\n"))
    assert sd.media[0].ptime == 20
    assert sd.media[0].connection == Connection("media.example.com")


def test_multicast_connection_ttl_and_count() -> None:
    sd = parse(audio("m=audio 4000 RTP/AVP 0\n", session_c="c=IN IP4 224.2.1.1/127/3\n"))
    assert sd.connection == Connection("224.2.1.1", ttl=127, count=3)
    assert sd.connection.is_multicast


# --------------------------------------------------------------------------------------
# Crypto (RFC 4568)


def test_crypto_line_from_the_brief_round_trips_exactly() -> None:
    value = f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY1}|2^20|1:4"
    sd = parse(audio(f"m=audio 4000 RTP/SAVP 0\na=crypto:{value}\n"))
    [crypto] = sd.media[0].crypto
    assert crypto == Crypto(1, "AES_CM_128_HMAC_SHA1_80", bytes(range(30)), 1 << 20, (1, 4))
    assert crypto.value == value
    assert f"a=crypto:{value}\r\n" in sd.serialize()


def test_crypto_decimal_lifetime_session_params_unpadded_key() -> None:
    unpadded = KEY256.rstrip("=")
    sd = parse(
        audio(
            "m=audio 4000 RTP/SAVP 0\n"
            f"a=crypto:7 AES_256_CM_HMAC_SHA1_80 inline:{unpadded}|1000 UNENCRYPTED_SRTCP\n"
            f"a=crypto:8 AES_CM_128_HMAC_SHA1_32 inline:{KEY1}|1048576;inline:{KEY2}|2^20\n"
        )
    )
    first, second = sd.media[0].crypto
    assert first.key_salt == bytes(range(46))
    assert first.lifetime == 1000 and first.session_params == ("UNENCRYPTED_SRTCP",)
    assert not first.usable  # suite not implemented, and a policy-changing parameter
    assert second.lifetime == 1 << 20 and second.key_salt == bytes(range(30))
    assert second.usable
    assert second.value.endswith("|2^20")
    assert parse(sd.serialize()) == sd


def test_crypto_generate() -> None:
    one, two = Crypto.generate(3), Crypto.generate(3)
    assert one.tag == 3 and len(one.key_salt) == 30 and one.key_salt != two.key_salt
    assert len(Crypto.generate(1, "AES_256_CM_HMAC_SHA1_80").key_salt) == 46
    with pytest.raises(ValueError, match="unknown crypto suite"):
        Crypto.generate(1, "NOPE")


# --------------------------------------------------------------------------------------
# Malformed input

GOOD_HEAD = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n"

ERRORS = [
    ("", "empty description"),
    ("\n \n", "empty description"),
    ("o=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\n", "missing v="),
    ("v=1\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\n", "unsupported version"),
    ("v=0\ns=-\nt=0 0\n", "missing o="),
    ("v=0\no=- 1 1 IN IP4 10.0.0.1\nt=0 0\n", "missing s="),
    ("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\n", "missing t="),
    ("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nm=audio 1 RTP/AVP 0\nt=0 0\n", "missing t="),
    (GOOD_HEAD + "m=audio 1 RTP/AVP 0\nt=0 0\n", "not allowed in a media description"),
    ("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nr=1 2 3\nt=0 0\n", "r= line before"),
    (GOOD_HEAD + "v=0\n", "v= line not allowed here"),
    (GOOD_HEAD + "x=foo\n", "unknown line type 'x'"),
    (GOOD_HEAD + "hello\n", "not a <type>=<value> line"),
    (GOOD_HEAD.replace("v=0", "V=0"), "not a <type>=<value> line"),
    (GOOD_HEAD + " a=foo\n", "not a <type>=<value> line"),
    (GOOD_HEAD + "a=fo\x00o\n", "control character"),
    (GOOD_HEAD + "a=fo\ro\n", "control character"),
    (GOOD_HEAD + "i=one\ni=two\n", "more than one session-level i="),
    (GOOD_HEAD + "c=IN IP4 10.0.0.2\n", "more than one session-level c="),
    ("v=0\no=- 1 1 IN IP4\ns=-\nt=0 0\n", "o= needs"),
    ("v=0\no=- x 1 IN IP4 10.0.0.1\ns=-\nt=0 0\n", "session id is not a decimal number"),
    ("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4\nt=0 0\n", "c= needs"),
    ("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 999.1.1.1\nt=0 0\n", "invalid IP4 address"),
    ("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 ::1\nt=0 0\n", "invalid IP4 address"),
    ("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP6 10.0.0.1\nt=0 0\n", "invalid IP6 address"),
    ("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 a..b\nt=0 0\n", "invalid IP4 address"),
    ("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 1.2.3.4/300\nt=0 0\n", "TTL 300 out"),
    ("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP6 ::1/2/3\nt=0 0\n", "invalid connection"),
    (GOOD_HEAD + "b=AS\n", "b= needs"),
    (GOOD_HEAD + "b=AS:x\n", "bandwidth is not a decimal number"),
    ("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0\n", "t= needs"),
    (GOOD_HEAD + "a=:x\n", "invalid attribute name"),
    (GOOD_HEAD + "a=sendonly\na=recvonly\n", "more than one session-level direction"),
    (GOOD_HEAD + "m=audio abc RTP/AVP 0\n", "media port is not a decimal number"),
    (GOOD_HEAD + "m=audio -1 RTP/AVP 0\n", "media port is not a decimal number"),
    (GOOD_HEAD + "m=audio +5 RTP/AVP 0\n", "media port is not a decimal number"),
    (GOOD_HEAD + "m=audio \u0665 RTP/AVP 0\n", "media port is not a decimal number"),
    (GOOD_HEAD + "m=audio 70000 RTP/AVP 0\n", "media port 70000 out of range"),
    (GOOD_HEAD + "m=audio 4000/0 RTP/AVP 0\n", "port count 0 out of range"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 128\n", "payload type 128 out of range"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP PCMU\n", "payload type is not a decimal number"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 0 8 0\n", "payload type listed twice"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP\n", "m= line without formats"),
    (GOOD_HEAD + "m=audio 4000\n", "m= needs"),
    (GOOD_HEAD + "m=audio 4000 RTP//AVP 0\n", "invalid transport protocol"),
    (
        "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n",
        "without a connection address",
    ),
    (
        GOOD_HEAD + "m=audio 4000 RTP/AVP 0\nc=IN IP4 1.1.1.1\nc=IN IP4 1.1.1.2\n",
        "more than one c= line",
    ),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 0\ni=a\ni=b\n", "more than one i= line"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 0\na=sendrecv:x\n", "takes no value"),
    (
        GOOD_HEAD + "m=audio 4000 RTP/AVP 0\na=sendonly\na=inactive\n",
        "more than one direction attribute",
    ),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 0\na=ptime\n", "a=ptime needs a value"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 0\na=ptime:abc\n", "invalid a=ptime"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 0\na=ptime:0\n", "a=ptime 0 out of range"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 0\na=ptime:20\na=ptime:30\n", "more than one a=ptime"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 0\na=rtcp:abc\n", "RTCP port is not"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 0\na=rtcp:4001 IN IP4\n", "a=rtcp needs"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 0\na=rtcp:4001\na=rtcp:4003\n", "more than one a=rtcp"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 96\na=rtpmap:96 opus\n", "invalid a=rtpmap encoding"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 96\na=rtpmap:96 opus/abc\n", "clock rate is not"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 96\na=rtpmap:96 opus/0\n", "clock rate 0 out"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 96\na=rtpmap:96 opus/48000/0\n", "channel count 0"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 96\na=rtpmap:200 x/8000\n", "payload type 200 out"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 96\na=rtpmap\n", "a=rtpmap needs a value"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 96\na=rtpmap:96\n", "a=rtpmap needs <payload type>"),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 96\na=rtpmap:96 a/8000 b\n", "a=rtpmap needs"),
    (
        GOOD_HEAD + "m=audio 4000 RTP/AVP 96\na=rtpmap:96 a/8000\na=rtpmap:96 b/8000\n",
        "second a=rtpmap",
    ),
    (GOOD_HEAD + "m=audio 4000 RTP/AVP 96\na=fmtp:96 a\na=fmtp:96 b\n", "second a=fmtp"),
    (GOOD_HEAD + "m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80\n", "a=crypto needs"),
    (
        GOOD_HEAD
        + "m=audio 4000 RTP/SAVP 0\na=crypto:x AES_CM_128_HMAC_SHA1_80 inline:"
        + KEY1
        + "\n",
        "crypto tag is not",
    ),
    (
        GOOD_HEAD + "m=audio 4000 RTP/SAVP 0\na=crypto:1234567890 AES_CM_128_HMAC_SHA1_80 "
        "inline:" + KEY1 + "\n",
        "crypto tag 1234567890 out of range",
    ),
    (
        GOOD_HEAD + "m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 uri:x\n",
        "unsupported crypto key method",
    ),
    (
        GOOD_HEAD + "m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!\n",
        "not base64",
    ),
    (
        GOOD_HEAD + "m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:\n",
        "key is empty",
    ),
    (
        GOOD_HEAD
        + "m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"
        + KEY256
        + "\n",
        "key+salt is 46 bytes, not 30",
    ),
    (
        GOOD_HEAD
        + "m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"
        + KEY1
        + "|2^x\n",
        "lifetime exponent is not",
    ),
    (
        GOOD_HEAD
        + "m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"
        + KEY1
        + "|1:4|2^20\n",
        "lifetime must come before the MKI",
    ),
    (
        GOOD_HEAD
        + "m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"
        + KEY1
        + "|1:0\n",
        "MKI length 0 out of range",
    ),
    (
        GOOD_HEAD
        + "m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"
        + KEY1
        + "|1:4|2:4\n",
        "two MKI fields",
    ),
    (
        GOOD_HEAD
        + "m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"
        + KEY1
        + "|2^20|1:4|x\n",
        "too many |-separated fields",
    ),
]


@pytest.mark.parametrize(
    ("text", "reason"), ERRORS, ids=[f"{i}-{r}" for i, (_, r) in enumerate(ERRORS)]
)
def test_malformed(text: str, reason: str) -> None:
    with pytest.raises(SdpError) as info:
        parse(text)
    assert reason in info.value.reason
    assert str(info.value) == info.value.reason


def test_error_names_the_line() -> None:
    with pytest.raises(SdpError, match=r"^line 6: media port 70000 out of range$"):
        parse(GOOD_HEAD + "m=audio 70000 RTP/AVP 0\n")


def test_invalid_utf8_and_surrogates() -> None:
    with pytest.raises(SdpError, match="not UTF-8"):
        parse(GOOD_HEAD.encode() + b"a=\xff\n")
    with pytest.raises(SdpError, match="not valid Unicode"):
        parse(GOOD_HEAD + "a=\ud800\n")


def test_size_limit() -> None:
    filler = "a=x:" + "y" * 1000 + "\n"
    big = GOOD_HEAD + filler * (MAX_SIZE // len(filler) + 1)
    with pytest.raises(SdpError, match="larger than 16384 bytes"):
        parse(big)
    with pytest.raises(SdpError, match="larger than 16384 bytes"):
        parse(big.encode())
    # Multi-byte characters count as bytes, not characters.
    with pytest.raises(SdpError, match="larger than 16384 bytes"):
        parse(GOOD_HEAD + "i=" + "\u00e9" * (MAX_SIZE // 2) + "\n")
    just_fits = GOOD_HEAD + "i=" + "z" * (MAX_SIZE - len(GOOD_HEAD) - 3) + "\n"
    assert len(just_fits.encode()) == MAX_SIZE
    assert parse(just_fits).information is not None


def test_media_and_format_limits() -> None:
    sixteen = GOOD_HEAD + "m=audio 4000 RTP/AVP 0\n" * 16
    assert len(parse(sixteen).media) == 16
    with pytest.raises(SdpError, match="more than 16 media descriptions"):
        parse(sixteen + "m=audio 4000 RTP/AVP 0\n")
    formats = " ".join(str(pt) for pt in range(64))
    assert len(parse(GOOD_HEAD + f"m=audio 4000 RTP/AVP {formats}\n").media[0].formats) == 64
    with pytest.raises(SdpError, match="more than 64 formats"):
        parse(GOOD_HEAD + f"m=audio 4000 RTP/AVP {formats} 64\n")


# --------------------------------------------------------------------------------------
# Offer/answer: answering an offer


def test_negotiate_sipp_offer() -> None:
    answer = negotiate_audio(parse(SIPP), SUPPORTED)
    assert answer == AudioAnswer(
        codec=PCMU,
        dtmf=None,
        remote=("127.0.1.1", 6000),
        direction="sendrecv",
        ptime=20,
        media_index=0,
    )
    assert answer.srtp_profile is None


def test_negotiate_takes_the_offers_order_and_payload_types() -> None:
    answer = negotiate_audio(parse(CISCO), [PCMA, Codec(18, "g729", 8000), PCMU])
    assert answer.codec == PCMU  # first in the OFFER's order that we support
    assert answer.dtmf == Codec(101, "telephone-event", 8000, fmtp="0-15")
    assert answer.remote == ("10.10.20.5", 24580)
    answer = negotiate_audio(parse(CISCO), [Codec(96, "g729", 8000)])
    assert answer.codec == Codec(18, "G729", 8000, fmtp="annexb=no")


def test_negotiate_opus_case_insensitive_with_offer_payload_type() -> None:
    answer = negotiate_audio(parse(CHROME), [Codec(120, "OPUS", 48000, 2), PCMU])
    assert answer.codec == Codec(111, "opus", 48000, 2, "minptime=10;useinbandfec=1")
    # telephone-event/8000, not the /48000 one; the offer's payload type.
    assert answer.dtmf == Codec(126, "telephone-event", 8000)
    assert answer.remote == ("203.0.113.7", 54400)


def test_negotiate_g722_clock_rate_is_8000() -> None:
    answer = negotiate_audio(parse(POLYCOM), [Codec(9, "G722", 8000)])
    assert answer.codec == Codec(9, "G722", 8000)
    with pytest.raises(NotAcceptable, match="no common codec"):
        negotiate_audio(parse(POLYCOM), [Codec(9, "G722", 16000)])


def test_negotiate_never_picks_a_non_voice_format() -> None:
    offer = parse(audio("m=audio 4000 RTP/AVP 13 101 0\na=rtpmap:101 telephone-event/8000\n"))
    answer = negotiate_audio(
        offer, [Codec(13, "CN", 8000), Codec(101, "telephone-event", 8000), PCMU]
    )
    assert answer.codec == PCMU


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("sendrecv", "sendrecv"),
        ("sendonly", "recvonly"),
        ("recvonly", "sendonly"),
        ("inactive", "inactive"),
    ],
)
def test_negotiate_direction(offered: str, answered: str) -> None:
    offer = parse(audio(f"m=audio 4000 RTP/AVP 0\na={offered}\n"))
    assert negotiate_audio(offer, SUPPORTED).direction == answered


def test_negotiate_session_level_direction_and_ptime() -> None:
    answer = negotiate_audio(parse(POLYCOM), SUPPORTED)
    assert answer.direction == "recvonly"
    assert answer.ptime == 30
    assert answer.codec == Codec(9, "G722", 8000)
    assert answer.dtmf == Codec(127, "telephone-event", 8000)


def test_negotiate_old_style_hold_is_inactive() -> None:
    offer = parse(audio("m=audio 4000 RTP/AVP 0\n", session_c="c=IN IP4 0.0.0.0\n"))
    answer = negotiate_audio(offer, SUPPORTED)
    assert answer.direction == "inactive"
    assert answer.remote == ("0.0.0.0", 4000)


def test_negotiate_media_connection_overrides_session() -> None:
    offer = parse(audio("m=audio 4000 RTP/AVP 0\nc=IN IP6 2001:db8::7\n"))
    assert negotiate_audio(offer, SUPPORTED).remote == ("2001:db8::7", 4000)


def test_negotiate_skips_rejected_and_unusable_streams() -> None:
    offer = parse(
        audio(
            "m=audio 0 RTP/AVP 0\n"
            "m=video 5000 RTP/AVP 96\na=rtpmap:96 H264/90000\n"
            "m=audio 6000 RTP/AVP 96\na=rtpmap:96 AMR/8000\n"
            "m=audio 7000 RTP/AVP 8\n"
        )
    )
    answer = negotiate_audio(offer, SUPPORTED)
    assert (answer.media_index, answer.codec, answer.remote) == (3, PCMA, ("192.0.2.1", 7000))


def test_negotiate_savp_picks_first_supported_crypto_and_makes_a_new_key() -> None:
    offer = parse(BARESIP_SAVP)
    answer = negotiate_audio(offer, SUPPORTED, srtp="required")
    assert answer.codec == G722
    assert answer.dtmf == Codec(101, "telephone-event", 8000, fmtp="0-15")
    assert answer.remote_crypto == offer.media[0].crypto[0]
    assert answer.local_crypto is not None
    assert answer.local_crypto.tag == 1
    assert answer.local_crypto.suite == "AES_CM_128_HMAC_SHA1_80"
    assert len(answer.local_crypto.key_salt) == 30
    assert answer.local_crypto.key_salt != answer.remote_crypto.key_salt
    assert answer.srtp_profile == "AES_CM_128_HMAC_SHA1_80"
    again = negotiate_audio(offer, SUPPORTED)
    assert again.local_crypto is not None
    assert again.local_crypto.key_salt != answer.local_crypto.key_salt


def test_negotiate_reinvite_keeps_our_key_for_the_same_suite() -> None:
    offer = parse(BARESIP_SAVP)
    first = negotiate_audio(offer, SUPPORTED)
    assert first.local_crypto is not None
    again = negotiate_audio(offer, SUPPORTED, local_key=first.local_crypto)
    assert again.local_crypto == first.local_crypto
    other_suite = Crypto(9, "AES_CM_128_HMAC_SHA1_32", first.local_crypto.key_salt)
    fresh = negotiate_audio(offer, SUPPORTED, local_key=other_suite)
    assert fresh.local_crypto is not None
    assert fresh.local_crypto.key_salt != first.local_crypto.key_salt
    assert fresh.local_crypto.tag == 1


def test_negotiate_crypto_skips_unsupported_suites_params_and_prefers_no_mki() -> None:
    offer = parse(
        audio(
            "m=audio 4000 RTP/SAVP 0\n"
            f"a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{KEY256}\n"
            f"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY1} UNENCRYPTED_SRTP\n"
            f"a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{KEY1}|2^20|1:4\n"
            f"a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:{KEY2} WSH=128\n"
        )
    )
    answer = negotiate_audio(offer, SUPPORTED)
    assert answer.remote_crypto is not None and answer.local_crypto is not None
    assert answer.remote_crypto.tag == 4
    assert answer.local_crypto.tag == 4
    assert answer.local_crypto.suite == "AES_CM_128_HMAC_SHA1_32"
    only_mki = parse(
        audio(
            f"m=audio 4000 RTP/SAVP 0\na=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{KEY1}|2^20|1:4\n"
        )
    )
    answer = negotiate_audio(only_mki, SUPPORTED)
    assert answer.remote_crypto is not None and answer.remote_crypto.mki == (1, 4)
    assert answer.local_crypto is not None and answer.local_crypto.mki is None


@pytest.mark.parametrize(
    ("sdp", "srtp", "reason"),
    [
        (SIPP, "required", "SRTP is required but the offer is RTP/AVP"),
        (BARESIP_SAVP, "refused", "SRTP (RTP/SAVP) is refused by policy"),
        (WEBRTC_DTLS, "optional", "unsupported transport UDP/TLS/RTP/SAVPF"),
        (
            audio("m=audio 4000 RTP/SAVP 0\n"),
            "optional",
            "no supported SRTP crypto suite (offered: no a=crypto)",
        ),
        (
            audio(f"m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{KEY256}\n"),
            "optional",
            "no supported SRTP crypto suite (offered: AES_256_CM_HMAC_SHA1_80)",
        ),
        (
            audio(
                "m=audio 4000 RTP/AVP 96 101\na=rtpmap:96 AMR/8000\n"
                "a=rtpmap:101 telephone-event/8000\n"
            ),
            "optional",
            "no common codec (offered: AMR/8000, telephone-event/8000)",
        ),
        (audio("m=audio 4000 RTP/AVP 96\n"), "optional", "no common codec (offered: none known)"),
        (
            audio("m=video 4000 RTP/AVP 96\na=rtpmap:96 VP8/90000\n"),
            "optional",
            "no active audio stream",
        ),
        (audio("m=audio 0 RTP/AVP 0\n"), "optional", "no active audio stream"),
        (
            audio("m=audio 4000 RTP/AVP 0\n", session_c="c=IN IP4 239.1.1.1/32\n"),
            "optional",
            "multicast media is not supported",
        ),
        (
            audio("m=audio 4000 RTP/AVP 0\n", session_c="c=TN RFC2543 foo\n"),
            "optional",
            "unsupported address type TN RFC2543",
        ),
        (
            audio("m=audio 4000 RTP/AVP 96\nm=audio 4002 RTP/SAVP 0\n"),
            "optional",
            "m-line 0: no common codec (offered: none known); m-line 1: no supported SRTP",
        ),
    ],
)
def test_negotiate_not_acceptable(sdp: str, srtp: str, reason: str) -> None:
    with pytest.raises(NotAcceptable) as info:
        negotiate_audio(parse(sdp), SUPPORTED, srtp=srtp)  # type: ignore[arg-type]
    assert reason in info.value.reason
    assert info.value.status == 488


def test_negotiate_rejects_a_bad_policy() -> None:
    with pytest.raises(ValueError, match="srtp must be"):
        negotiate_audio(parse(SIPP), SUPPORTED, srtp="maybe")  # type: ignore[arg-type]


def test_build_answer_cisco_rejects_other_streams() -> None:
    offer = parse(CISCO)
    answer = negotiate_audio(offer, SUPPORTED)
    sd = build_answer(offer, answer, address="198.51.100.9", port=40000, session_id=77, version=1)
    text = sd.serialize()
    assert parse(text) == sd
    assert sd.origin == Origin("moot", 77, 1, "IN", "IP4", "198.51.100.9")
    assert sd.connection == Connection("198.51.100.9")
    audio_m, video, bfcp = sd.media
    assert "m=audio 40000 RTP/AVP 0 101\r\n" in text
    assert audio_m.codecs == [PCMU, Codec(101, "telephone-event", 8000, fmtp="0-15")]
    assert "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n" in text
    assert "a=ptime:20\r\na=sendrecv\r\n" in text
    assert (video.port, video.proto, video.formats) == (0, "RTP/AVP", ["126", "97"])
    assert (bfcp.port, bfcp.proto, bfcp.formats) == (0, "UDP/BFCP", ["*"])
    assert "m=application 0 UDP/BFCP *\r\n" in text


def test_build_answer_srtp_ipv6_and_direction() -> None:
    offer = parse(BARESIP_SAVP.replace("a=sendrecv", "a=sendonly"))
    answer = negotiate_audio(offer, SUPPORTED)
    sd = build_answer(
        offer, answer, address="2001:db8::5", port=41000, session_id=5, version=2, username="bridge"
    )
    reparsed = parse(sd.serialize())
    assert reparsed == sd
    [media] = reparsed.media
    assert media.proto == "RTP/SAVP"
    assert media.direction == "recvonly"
    assert media.crypto == [answer.local_crypto]
    assert reparsed.connection == Connection("2001:db8::5", "IN", "IP6")
    assert reparsed.origin.username == "bridge"
    with pytest.raises(ValueError, match="media index"):
        build_answer(
            offer,
            AudioAnswer(PCMU, None, ("a", 1), "sendrecv", 20, 3),
            address="x",
            port=1,
            session_id=1,
            version=1,
        )


# --------------------------------------------------------------------------------------
# Offer/answer: calls we place


def test_build_offer_plain() -> None:
    sd, crypto = build_offer(
        address="192.0.2.10",
        port=42000,
        codecs=[PCMU, PCMA, G722],
        srtp=False,
        session_id=9,
        version=1,
    )
    assert crypto is None
    text = sd.serialize()
    assert text == crlf("""
v=0
o=moot 9 1 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
m=audio 42000 RTP/AVP 0 8 9 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:9 G722/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
""")
    assert parse(text) == sd


def test_build_offer_srtp_and_options() -> None:
    sd, crypto = build_offer(
        address="192.0.2.10",
        port=42000,
        codecs=[OPUS],
        dtmf_pt=None,
        srtp=True,
        session_id=9,
        version=2,
        direction="sendonly",
    )
    assert crypto is not None and crypto.tag == 1 and len(crypto.key_salt) == 30
    [media] = sd.media
    assert media.proto == "RTP/SAVP" and media.crypto == [crypto]
    assert media.formats == ["111"] and media.direction == "sendonly"
    assert parse(sd.serialize()) == sd
    with pytest.raises(ValueError, match="already a codec"):
        build_offer(
            address="h.example",
            port=1,
            codecs=[Codec(101, "PCMU", 8000)],
            srtp=False,
            session_id=1,
            version=1,
        )
    with pytest.raises(ValueError, match="share a payload type"):
        build_offer(
            address="h.example", port=1, codecs=[PCMU, PCMU], srtp=False, session_id=1, version=1
        )
    with pytest.raises(ValueError, match="at least one codec"):
        build_offer(address="h.example", port=1, codecs=[], srtp=False, session_id=1, version=1)
    with pytest.raises(ValueError, match="unknown direction"):
        build_offer(
            address="h.example",
            port=1,
            codecs=[PCMU],
            srtp=False,
            session_id=1,
            version=1,
            direction="sideways",
        )


@pytest.mark.parametrize("srtp", [False, True])
def test_offer_answer_between_two_bridges(srtp: bool) -> None:
    """Our offer, answered by our own negotiate/build_answer, accepted by answer_matches."""
    offer, our_key = build_offer(
        address="192.0.2.10", port=42000, codecs=[G722, PCMU], srtp=srtp, session_id=1, version=1
    )
    wire_offer = parse(offer.serialize())
    chosen = negotiate_audio(wire_offer, [PCMU, G722], srtp="required" if srtp else "refused")
    wire_answer = parse(
        build_answer(
            wire_offer, chosen, address="198.51.100.20", port=50000, session_id=2, version=1
        ).serialize()
    )
    result = answer_matches(offer, wire_answer)
    assert result.codec == G722
    assert result.dtmf == Codec(101, "telephone-event", 8000, fmtp="0-16")
    assert result.remote == ("198.51.100.20", 50000)
    assert result.direction == "sendrecv"
    assert result.media_index == 0
    assert result.local_crypto == our_key
    assert result.remote_crypto == chosen.local_crypto
    if srtp:
        assert result.remote_crypto is not None and our_key is not None
        assert result.remote_crypto.key_salt != our_key.key_salt


OUR_OFFER = build_offer(
    address="192.0.2.10", port=42000, codecs=[PCMU, PCMA], srtp=False, session_id=1, version=1
)[0]


def remote_answer(media: str) -> SessionDescription:
    return parse(
        crlf(f"v=0\no=- 5 5 IN IP4 198.51.100.1\ns=-\nc=IN IP4 198.51.100.1\nt=0 0\n{media}")
    )


def test_answer_matches_uses_the_answers_payload_types() -> None:
    answer = remote_answer(
        "m=audio 3000 RTP/AVP 8 96\na=rtpmap:96 telephone-event/8000\na=ptime:30\na=recvonly\n"
    )
    result = answer_matches(OUR_OFFER, answer)
    assert result.codec == PCMA
    assert result.dtmf == Codec(96, "telephone-event", 8000)
    assert result.ptime == 30
    assert result.direction == "sendonly"  # they only receive


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        ("sendrecv", "sendonly", "recvonly"),
        ("sendrecv", "inactive", "inactive"),
        ("sendonly", "recvonly", "sendonly"),
        ("sendonly", "sendrecv", "sendonly"),
        ("recvonly", "sendonly", "recvonly"),
        ("inactive", "sendrecv", "inactive"),
    ],
)
def test_answer_matches_direction(ours: str, theirs: str, expected: str) -> None:
    offer = build_offer(
        address="192.0.2.10",
        port=42000,
        codecs=[PCMU],
        srtp=False,
        session_id=1,
        version=1,
        direction=ours,
    )[0]
    answer = remote_answer(f"m=audio 3000 RTP/AVP 0\na={theirs}\n")
    assert answer_matches(offer, answer).direction == expected


def test_answer_matches_hold_address() -> None:
    answer = remote_answer("m=audio 3000 RTP/AVP 0\nc=IN IP4 0.0.0.0\n")
    assert answer_matches(OUR_OFFER, answer).direction == "inactive"


def test_answer_matches_ignores_dtmf_we_did_not_offer() -> None:
    offer = build_offer(
        address="192.0.2.10",
        port=42000,
        codecs=[PCMU],
        dtmf_pt=None,
        srtp=False,
        session_id=1,
        version=1,
    )[0]
    answer = remote_answer("m=audio 3000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n")
    assert answer_matches(offer, answer).dtmf is None


SRTP_OFFER, SRTP_KEY = build_offer(
    address="192.0.2.10", port=42000, codecs=[PCMU], srtp=True, session_id=1, version=1
)


@pytest.mark.parametrize(
    ("offer", "media", "reason"),
    [
        (OUR_OFFER, "m=audio 3000 RTP/AVP 0\nm=video 0 RTP/AVP 31\n", "answer has 2 m-lines"),
        (OUR_OFFER, "m=audio 0 RTP/AVP 0\n", "audio stream rejected"),
        (OUR_OFFER, "m=audio 3000 RTP/AVP 18\n", "answer has no codec we offered"),
        (OUR_OFFER, "m=audio 3000 RTP/SAVP 0\n", "answered audio RTP/SAVP to audio RTP/AVP"),
        (SRTP_OFFER, "m=audio 3000 RTP/SAVP 0\n", "exactly one a=crypto, has 0"),
        (
            SRTP_OFFER,
            f"m=audio 3000 RTP/SAVP 0\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY1}\n",
            "crypto tag 2 AES_CM_128_HMAC_SHA1_80 was not offered",
        ),
        (
            SRTP_OFFER,
            f"m=audio 3000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{KEY1}\n",
            "crypto tag 1 AES_CM_128_HMAC_SHA1_32 was not offered",
        ),
        (
            SRTP_OFFER,
            f"m=audio 3000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY1} KDR=1\n",
            "KDR=1 not supported",
        ),
        (
            SRTP_OFFER,
            f"m=audio 3000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 "
            f"inline:{KEY1}\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY2}\n",
            "exactly one a=crypto, has 2",
        ),
    ],
)
def test_answer_matches_not_acceptable(offer: SessionDescription, media: str, reason: str) -> None:
    with pytest.raises(NotAcceptable) as info:
        answer_matches(offer, remote_answer(media))
    assert reason in info.value.reason


def test_answer_matches_srtp() -> None:
    answer = remote_answer(
        f"m=audio 3000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY2}\n"
    )
    result = answer_matches(SRTP_OFFER, answer)
    assert result.local_crypto == SRTP_KEY
    assert result.remote_crypto == Crypto(1, "AES_CM_128_HMAC_SHA1_80", bytes(range(100, 130)))
