"""Video offer/answer (moot.sip.video_offer), RTCP feedback messages and VideoConfig checks."""

from __future__ import annotations

import pytest

from moot.media import rtcp
from moot.media.leg import MediaError, VideoConfig
from moot.sip import sdp
from moot.sip.video_offer import negotiate_video, video_media
from tests.unit.test_sdp import CISCO, crlf


def offer(video: str, *, proto: str = "RTP/AVP", crypto: str = "") -> sdp.SessionDescription:
    return sdp.parse(crlf(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
        "m=audio 4000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"
        f"m=video 4002 {proto} 96 97\n{crypto}{video}"
    ))


H264_AND_VP8 = (
    "a=rtpmap:96 H264/90000\na=fmtp:96 profile-level-id=42e01f;packetization-mode=1\n"
    "a=rtpmap:97 VP8/90000\na=rtcp-fb:* nack pli\na=rtcp-fb:96 ccm fir\n"
)


def test_h264_level_31_gets_720p30_and_the_feedback_offered() -> None:
    answer = negotiate_video(offer(H264_AND_VP8))
    assert answer is not None
    assert (answer.codec.name, answer.codec.payload_type) == ("H264", 96)
    assert (answer.width, answer.height, answer.fps) == (1280, 720, 30)
    assert answer.remote == ("192.0.2.1", 4002)
    assert answer.feedback == ("pli", "fir")
    assert answer.fmtp == "profile-level-id=42e01f;packetization-mode=1"


def test_cisco_level_30_is_limited_to_what_its_decoder_takes() -> None:
    answer = negotiate_video(sdp.parse(CISCO))
    assert answer is not None
    # Level 3.0: MaxFS 1620 macroblocks - 720p (3600) and 540p (2040) do not fit.
    assert (answer.width, answer.height) == (640, 360)
    assert answer.bitrate <= 1_000_000  # b=TIAS of the video m-line
    assert answer.packetization_mode == 1
    assert answer.feedback == ()  # no rtcp-fb: keyframes are asked for with SIP INFO


def test_quality_and_bandwidth_limits() -> None:
    answer = negotiate_video(offer("b=AS:256\n" + H264_AND_VP8), quality="max480p30")
    assert answer is not None
    assert answer.height <= 480
    assert answer.bitrate == 256_000


def test_vp8_first_in_the_offer_is_taken_with_max_fs() -> None:
    sd = sdp.parse(crlf(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
        "m=audio 4000 RTP/AVP 0\nm=video 4002 RTP/AVPF 100 96\n"
        "a=rtpmap:100 VP8/90000\na=fmtp:100 max-fs=1200;max-fr=30\n"
        "a=rtpmap:96 H264/90000\na=fmtp:96 packetization-mode=1\n"
    ))
    answer = negotiate_video(sd)
    assert answer is not None and answer.codec.name == "VP8" and answer.fmtp is None
    assert (answer.width, answer.height) == (640, 360)  # 920 macroblocks <= 1200


def test_unusable_video_is_rejected_not_the_call() -> None:
    assert negotiate_video(offer("a=rtpmap:96 H263-1998/90000\na=rtpmap:97 H261/90000\n")) is None
    assert negotiate_video(offer(H264_AND_VP8, proto="RTP/SAVP")) is None  # SAVP without crypto
    assert negotiate_video(offer(H264_AND_VP8), srtp="required") is None
    audio_only = sdp.parse(crlf("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
                                "m=audio 4000 RTP/AVP 0\n"))
    assert negotiate_video(audio_only) is None


def test_srtp_video_gets_its_own_key_and_the_answer_carries_video() -> None:
    key = sdp.Crypto.generate(1)
    sd = offer(H264_AND_VP8, proto="RTP/SAVP", crypto=f"a=crypto:{key.value}\n")
    answer = negotiate_video(sd, srtp="required")
    assert answer is not None and answer.remote_crypto == key
    assert answer.local_crypto is not None and answer.local_crypto.key_salt != key.key_salt
    media = video_media(answer, port=5002, proto="RTP/SAVP")
    text = "\n".join(sdp.SessionDescription(
        origin=sdp.Origin("moot", 1, 1, "IN", "IP4", "192.0.2.9"), session_name="-",
        connection=sdp.Connection("192.0.2.9"), media=[media]).serialize().splitlines())
    assert "m=video 5002 RTP/SAVP 96" in text
    assert "a=rtcp-fb:* nack pli" in text and "b=TIAS:" in text and "a=crypto:1 " in text


def test_build_answer_keeps_the_video_line_in_place() -> None:
    sd = offer(H264_AND_VP8)
    audio = sdp.negotiate_audio(sd, [sdp.Codec(0, "PCMU", 8000)])
    video = negotiate_video(sd)
    assert video is not None
    answer = sdp.build_answer(sd, audio, address="192.0.2.9", port=5000, session_id=1, version=1,
                              accepted={video.media_index: video_media(video, port=5002, proto="RTP/AVP")})
    assert [(m.media, m.port) for m in answer.media] == [("audio", 5000), ("video", 5002)]
    reparsed = sdp.parse(answer.serialize())
    assert reparsed.media[1].codecs[0].name == "H264"


def test_rtcp_feedback_round_trip_and_bitrates() -> None:
    packets: list[rtcp.RtcpPacket] = [rtcp.RtcpReceiverReport(1), rtcp.pli(1, 2), rtcp.fir(1, 3, 7)]
    parsed = rtcp.parse_compound(rtcp.serialize_compound(packets))
    assert isinstance(parsed[1], rtcp.RtcpFeedback) and parsed[1].is_pli and parsed[1].media_ssrc == 2
    assert isinstance(parsed[2], rtcp.RtcpFeedback) and parsed[2].is_fir
    assert parsed[2].fci[:4] == (3).to_bytes(4, "big") and parsed[2].fci[4] == 7
    # REMB 1.5 Mbit/s: exponent 4, mantissa 93750.
    remb = rtcp.RtcpFeedback(206, 15, 1, 0, b"REMB" + bytes([1, (4 << 2) | (93750 >> 16)]) +
                             (93750 & 0xFFFF).to_bytes(2, "big") + (9).to_bytes(4, "big"))
    [back] = rtcp.parse_compound(rtcp.serialize_compound([remb]))
    assert isinstance(back, rtcp.RtcpFeedback) and rtcp.remb_bitrate(back) == 1_500_000
    tmmbr = rtcp.RtcpFeedback(205, 3, 1, 0, (9).to_bytes(4, "big") + ((2 << 26) | (1000 << 9)).to_bytes(4, "big"))
    assert rtcp.tmmbr_bitrate(tmmbr) == 4000
    assert rtcp.remb_bitrate(rtcp.pli(1, 2)) is None
    with pytest.raises(rtcp.RtcpError):
        rtcp.parse_compound(bytes([0x81, 206, 0, 1, 0, 0, 0, 1]))  # shorter than two SSRCs


def test_video_config_is_checked() -> None:
    good = VideoConfig(remote=("127.0.0.1", 5000), codec="H264", payload_type=96)
    good.validate()
    for bad, text in (
        (VideoConfig(remote=("127.0.0.1", 5000), codec="H263", payload_type=96), "unsupported video codec"),
        (VideoConfig(remote=("127.0.0.1", 5000), codec="VP8", payload_type=96, width=1281), "must be even"),
        (VideoConfig(remote=("127.0.0.1", 5000), codec="VP8", payload_type=96, fps=0), "frame rate"),
        (VideoConfig(remote=("127.0.0.1", 5000), codec="VP8", payload_type=200), "payload type"),
        (VideoConfig(remote=("127.0.0.1", 5000), codec="VP8", payload_type=96, srtp_profile="AES_CM_128_HMAC_SHA1_80"),
         "needs both"),
    ):
        with pytest.raises(MediaError, match=text):
            bad.validate()


def test_our_offer_and_the_callees_answer() -> None:
    from moot.sip.video_offer import match_answer, offer_media

    ours = offer_media(port=5002, secure=False)
    assert [c.name for c in ours.codecs] == ["H264", "VP8"] and ours.attribute("rtcp-fb") == "* nack pli"
    offer = sdp.SessionDescription(origin=sdp.Origin("moot", 1, 1, "IN", "IP4", "192.0.2.9"), session_name="-",
                                   connection=sdp.Connection("192.0.2.9"),
                                   media=[sdp.MediaDescription("audio", 5000, "RTP/AVP", ["0"],
                                                               codecs=[sdp.Codec(0, "PCMU", 8000)]), ours])

    def answer(video: str) -> sdp.SessionDescription:
        return sdp.parse(crlf("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
                              f"m=audio 4000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n{video}"))

    vp8 = match_answer(offer, answer("m=video 4002 RTP/AVP 96\na=rtpmap:96 VP8/90000\na=rtcp-fb:96 ccm fir\n"))
    assert vp8 is not None and vp8.codec.name == "VP8" and vp8.remote == ("192.0.2.1", 4002)
    assert vp8.feedback == ("fir",) and vp8.direction == "sendrecv"
    assert match_answer(offer, answer("m=video 0 RTP/AVP 96\n")) is None  # refused
    assert match_answer(offer, answer("m=video 4002 RTP/AVP 100\na=rtpmap:100 VP9/90000\n")) is None
    secure = offer_media(port=5002, secure=True)
    assert secure.proto == "RTP/SAVP" and len(secure.crypto) == 1
    assert match_answer(offer, answer("")) is None  # no m=video in the answer


def test_answers_to_our_audio_and_video_offer() -> None:
    """Dial-outs and delayed offers: the answer's audio and video; a left-out m=video is audio only."""
    from moot.callbridge.video import answered, offer_with_video

    offer, _ = sdp.build_offer(address="192.0.2.9", port=5000, codecs=[sdp.Codec(0, "PCMU", 8000)],
                               srtp=False, session_id=1, version=1)
    offer_with_video(offer, 5002, secure=False)
    assert [m.media for m in offer.media] == ["audio", "video"]

    def reply(video: str) -> sdp.SessionDescription:
        return sdp.parse(crlf("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
                              f"m=audio 4000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n{video}"))

    audio, video = answered(offer, reply("m=video 4002 RTP/AVP 97\na=rtpmap:97 H264/90000\n"
                                         "a=fmtp:97 packetization-mode=1;profile-level-id=42e01f\n"))
    assert audio.codec.name == "PCMU" and video is not None and video.codec.payload_type == 97
    audio, video = answered(offer, reply(""))  # m=video left out: audio only, not a failure
    assert audio.remote == ("192.0.2.1", 4000) and video is None
    audio, video = answered(offer, reply("m=video 0 RTP/AVP 97\n"))
    assert video is None
    with pytest.raises(sdp.NotAcceptable):
        answered(offer, sdp.parse(crlf("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n")))
