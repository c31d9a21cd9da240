"""Offer/answer for the main video stream (RFC 3264) with H.264 (RFC 6184) and VP8 (RFC 7741).

The call bridge answers the first active ``m=video`` of an offer it can use; a video stream
it cannot use is rejected (port 0) and the call goes on with audio, as every SIP endpoint
expects. What it decides:

* **codec**: the first of the offer's formats that is H.264 (packetization-mode 0 or 1) or
  VP8, with the offer's payload type;
* **picture size and frame rate**: the largest of :data:`SIZES` allowed by the leg's quality
  (``qualityMain``: max1080p30 / max720p30 / max480p30) and by what the remote can decode:
  H.264 ``profile-level-id`` (its level's MaxFS/MaxMBPS, Table A-1 of H.264), ``max-fs`` and
  ``max-mbps``; VP8 ``max-fs`` and ``max-fr``;
* **bit rate**: the size's default, capped by the offer's ``b=TIAS`` or ``b=AS``;
* **keyframe requests**: the ``a=rtcp-fb`` the offer lists (``nack pli``, ``ccm fir``); with
  neither, the bridge asks with SIP INFO ``picture_fast_update``;
* **SRTP**, **direction** and the remote address as for audio.

When the bridge places a call it offers H.264 (payload type 97, mode 1) and VP8 (96)
(:func:`offer_media`) and takes what the callee answers (:func:`match_answer`), judged the
same way.

Our answer lists the one codec with our fmtp (H.264: ``profile-level-id`` constrained
baseline at the level our pictures need, the packetization mode), ``b=TIAS``, and the
``rtcp-fb`` lines we honour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from moot.sip.sdp import (
    Attribute,
    Bandwidth,
    Codec,
    Crypto,
    MediaDescription,
    NotAcceptable,
    SessionDescription,
    SrtpPolicy,
    _profile,
    _remote,
    answer_direction,
    choose_crypto,
    match_crypto,
    offer_direction,
)

__all__ = ["SIZES", "VideoAnswer", "match_answer", "negotiate_video", "offer_media", "video_media",
           "video_offer_codecs"]

#: (width, height, default bit rate) we send, largest first.
SIZES: tuple[tuple[int, int, int], ...] = (
    (1920, 1080, 2_500_000),
    (1280, 720, 1_500_000),
    (960, 540, 1_000_000),
    (640, 360, 640_000),
    (480, 270, 400_000),
    (320, 180, 250_000),
)
QUALITY_MAX_HEIGHT = {"max1080p30": 1080, "max720p30": 720, "max480p30": 480, "unrestricted": 1080}
#: H.264 Table A-1: level_idc -> (MaxMBPS, MaxFS).
H264_LEVELS: dict[int, tuple[int, int]] = {
    10: (1485, 99), 9: (1485, 99), 11: (3000, 396), 12: (6000, 396), 13: (11880, 396),
    20: (11880, 396), 21: (19800, 792), 22: (20250, 1620), 30: (40500, 1620),
    31: (108000, 3600), 32: (216000, 5120), 40: (245760, 8192), 41: (245760, 8192),
    42: (522240, 8704), 50: (589824, 22080), 51: (983040, 36864), 52: (2073600, 36864),
}
FPS = 30
FEEDBACK = (Attribute("rtcp-fb", "* nack pli"), Attribute("rtcp-fb", "* ccm fir"))


@dataclass(frozen=True)
class VideoAnswer:
    codec: Codec
    remote: tuple[str, int]
    direction: str
    media_index: int
    width: int
    height: int
    fps: int
    bitrate: int
    packetization_mode: int = 1
    feedback: tuple[str, ...] = ()
    remote_crypto: Crypto | None = None
    local_crypto: Crypto | None = None

    @property
    def srtp_profile(self) -> str | None:
        return None if self.local_crypto is None else self.local_crypto.suite

    @property
    def fmtp(self) -> str | None:
        if self.codec.name.upper() != "H264":
            return None
        return (f"profile-level-id=42e0{_level_for(self.width, self.height, self.fps):02x};"
                f"packetization-mode={self.packetization_mode}")


def _params(fmtp: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (fmtp or "").split(";"):
        key, _, value = item.strip().partition("=")
        if key:
            out[key.strip().lower()] = value.strip()
    return out


def _int(params: dict[str, str], name: str) -> int | None:
    try:
        return int(params[name])
    except (KeyError, ValueError):
        return None


def _macroblocks(width: int, height: int) -> int:
    return ((width + 15) // 16) * ((height + 15) // 16)


def _level_for(width: int, height: int, fps: int) -> int:
    fs = _macroblocks(width, height)
    for level in (13, 21, 22, 30, 31, 32, 40):
        max_mbps, max_fs = H264_LEVELS[level]
        if fs <= max_fs and fs * fps <= max_mbps:
            return level
    return 40


def _limits(codec: Codec) -> tuple[int | None, int | None]:
    """(max frame size in macroblocks, max macroblocks per second) the remote decodes."""
    params = _params(codec.fmtp)
    max_fs = _int(params, "max-fs")
    max_mbps = _int(params, "max-mbps")
    if codec.name.upper() == "H264":
        text = params.get("profile-level-id")
        level = 10  # RFC 6184 section 8.1: absent means the Baseline profile at level 1.0
        if text is not None:
            try:
                level = int(text, 16) & 0xFF
            except ValueError as exc:
                raise NotAcceptable(f"bad H.264 profile-level-id {text!r}") from exc
        level_mbps, level_fs = H264_LEVELS.get(level, H264_LEVELS[31])
        max_fs = max(max_fs or 0, level_fs)
        max_mbps = max(max_mbps or 0, level_mbps)
    else:
        fr = _int(params, "max-fr")
        if fr is not None and max_fs is not None:
            max_mbps = max_fs * fr
    return max_fs, max_mbps


def _size(codec: Codec, quality: str, bandwidth: int | None) -> tuple[int, int, int, int]:
    max_fs, max_mbps = _limits(codec)
    max_height = QUALITY_MAX_HEIGHT.get(quality, 720)
    for width, height, rate in SIZES:
        if height > max_height:
            continue
        fs = _macroblocks(width, height)
        if max_fs is not None and fs > max_fs:
            continue
        fps = FPS
        if max_mbps is not None:
            fps = min(FPS, max_mbps // fs)
            if fps < 10:
                continue
        if bandwidth is not None:
            rate = min(rate, bandwidth)
        return width, height, fps, rate
    width, height, rate = SIZES[-1]
    return width, height, 15, min(rate, bandwidth or rate)


def _bandwidth(media: MediaDescription) -> int | None:
    for bw in media.bandwidth:
        if bw.type == "TIAS" and bw.value > 0:
            return bw.value
    for bw in media.bandwidth:
        if bw.type == "AS" and bw.value > 0:
            return bw.value * 1000
    return None


def _usable(codec: Codec) -> bool:
    name = codec.name.upper()
    if codec.clock_rate != 90000:
        return False
    if name == "VP8":
        return True
    if name == "H264":
        mode = _params(codec.fmtp).get("packetization-mode", "0")
        return mode in ("0", "1")
    return False


def negotiate_video(
    offer: SessionDescription,
    *,
    srtp: SrtpPolicy = "optional",
    quality: str = "max720p30",
    local_key: Crypto | None = None,
) -> VideoAnswer | None:
    """What to answer to the offer's main video, or None when there is none we can use."""
    for index, media in enumerate(offer.media):
        if media.media != "video" or media.port == 0 or not media.is_rtp:
            continue
        try:
            return _accept(offer, index, media, srtp, quality, local_key)
        except NotAcceptable:
            continue
    return None


def _accept(offer: SessionDescription, index: int, media: MediaDescription, srtp: SrtpPolicy,
            quality: str, local_key: Crypto | None) -> VideoAnswer:
    secure = _profile(media.proto)
    if secure and srtp == "refused":
        raise NotAcceptable(f"SRTP ({media.proto}) is refused by policy")
    if not secure and srtp == "required":
        raise NotAcceptable(f"SRTP is required but the offer is {media.proto}")
    connection = _remote(offer, media)
    usable = [codec for codec in media.codecs if _usable(codec)]
    # Prefer H.264 mode 1 over mode 0 when the offer has both, else the offer's order.
    codec = next((c for c in usable if c.name.upper() == "H264"
                  and _params(c.fmtp).get("packetization-mode") == "1"), None)
    if codec is None or (usable and usable[0].name.upper() == "VP8"):
        codec = usable[0] if usable else None
    if codec is None:
        raise NotAcceptable("no common video codec")
    width, height, fps, rate = _size(codec, quality, _bandwidth(media))
    remote_crypto, local_crypto = choose_crypto(media, local_key) if secure else (None, None)
    direction = answer_direction(connection, media)
    mode = 1 if codec.name.upper() == "VP8" else int(_params(codec.fmtp).get("packetization-mode", "0"))
    return VideoAnswer(
        codec=codec, remote=(connection.address, media.port), direction=direction,
        media_index=index, width=width, height=height, fps=fps, bitrate=rate,
        packetization_mode=mode, feedback=_feedback(media, codec),
        remote_crypto=remote_crypto, local_crypto=local_crypto,
    )


def _feedback(media: MediaDescription, codec: Codec) -> tuple[str, ...]:
    """The keyframe requests the other side takes from us (its ``a=rtcp-fb`` for the codec)."""
    feedback: list[str] = []
    for attribute in media.attributes:
        if attribute.name != "rtcp-fb" or not attribute.value:
            continue
        target, _, kind = attribute.value.partition(" ")
        if target not in ("*", str(codec.payload_type)):
            continue
        kind = " ".join(kind.split()).lower()
        if kind == "nack pli":
            feedback.append("pli")
        elif kind == "ccm fir":
            feedback.append("fir")
    return tuple(dict.fromkeys(feedback))


def video_media(answer: VideoAnswer, *, port: int, proto: str) -> MediaDescription:
    """Our ``m=video`` for ``answer``."""
    codec = Codec(answer.codec.payload_type, answer.codec.name, 90000, fmtp=answer.fmtp)
    return MediaDescription(
        media="video", port=port, proto=proto, formats=[str(codec.payload_type)], codecs=[codec],
        bandwidth=[Bandwidth("TIAS", answer.bitrate)], direction=answer.direction,
        crypto=[answer.local_crypto] if answer.local_crypto is not None else [],
        attributes=list(FEEDBACK),
    )


def video_offer_codecs() -> Sequence[Codec]:
    """What the bridge offers for video when it places a call."""
    return (
        Codec(97, "H264", 90000, fmtp="profile-level-id=42e01f;packetization-mode=1"),
        Codec(96, "VP8", 90000),
    )


#: The bit rate a dial-out offers to receive (b=TIAS of its m=video).
OFFER_BITRATE = 1_500_000


def offer_media(*, port: int, secure: bool) -> MediaDescription:
    """Our ``m=video`` when we place a call (RTP/SAVP with its own key when ``secure``)."""
    codecs = list(video_offer_codecs())
    return MediaDescription(
        media="video", port=port, proto="RTP/SAVP" if secure else "RTP/AVP",
        formats=[str(c.payload_type) for c in codecs], codecs=codecs,
        bandwidth=[Bandwidth("TIAS", OFFER_BITRATE)], direction="sendrecv",
        crypto=[Crypto.generate(1)] if secure else [], attributes=list(FEEDBACK),
    )


def match_answer(offer: SessionDescription, answer: SessionDescription, *,
                 quality: str = "max720p30") -> VideoAnswer | None:
    """The video a callee accepted in its answer to our offer, None when it refused it (port
    0), answered none, or answered something we did not offer."""
    for index, (ours, theirs) in enumerate(zip(offer.media, answer.media, strict=False)):
        if ours.media != "video" or ours.port == 0:
            continue
        if theirs.media != "video" or theirs.port == 0 or theirs.proto != ours.proto:
            return None
        try:
            return _accepted(answer, index, ours, theirs, quality)
        except NotAcceptable:
            return None
    return None


def _accepted(answer: SessionDescription, index: int, ours: MediaDescription, theirs: MediaDescription,
              quality: str) -> VideoAnswer:
    connection = _remote(answer, theirs)
    offered = {c.payload_type: c for c in ours.codecs}
    codec = next((c for c in theirs.codecs if _usable(c) and c.payload_type in offered
                  and c.name.upper() == offered[c.payload_type].name.upper()), None)
    if codec is None:
        raise NotAcceptable("no video codec we offered")
    width, height, fps, rate = _size(codec, quality, _bandwidth(theirs))
    secure = _profile(ours.proto)
    remote_crypto, local_crypto = match_crypto(ours, theirs) if secure else (None, None)
    mode = 1 if codec.name.upper() == "VP8" else int(_params(codec.fmtp).get("packetization-mode", "0"))
    return VideoAnswer(
        codec=codec, remote=(connection.address, theirs.port),
        direction=offer_direction(connection, ours, theirs), media_index=index,
        width=width, height=height, fps=fps, bitrate=rate, packetization_mode=mode,
        feedback=_feedback(theirs, codec), remote_crypto=remote_crypto, local_crypto=local_crypto,
    )
