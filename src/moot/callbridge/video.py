"""The call bridge's video decisions: what a leg's video is negotiated to, which layout it
sees, how it asks for keyframes over SIP, and how its video shows in the API.

Layout precedence (most specific first): the leg's ``chosenLayout`` (API, live), the call's
``defaultLayout`` (API, live), the leg's call leg profile ``defaultLayout``, the space's
``defaultLayout``, then ``automatic``.

Keyframes over SIP: an endpoint without RTCP feedback asks with, and is asked with, an INFO
carrying ``application/media_control+xml`` (``picture_fast_update``, RFC 5168).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from moot.api.encoding import Group
from moot.callbridge.call import LiveLeg
from moot.callbridge.profiles import EffectiveProfiles
from moot.media.leg import VideoConfig, VideoStats
from moot.sip import sdp
from moot.sip.message import Request
from moot.sip.video_offer import VideoAnswer, match_answer, negotiate_video, offer_media

__all__ = [
    "DEFAULT_LAYOUT",
    "MEDIA_CONTROL",
    "PICTURE_FAST_UPDATE",
    "WebVideo",
    "answered",
    "config_for",
    "is_fast_update",
    "layout_for",
    "negotiate",
    "offer_with_video",
    "status_groups",
]

DEFAULT_LAYOUT = "automatic"
MEDIA_CONTROL = "application/media_control+xml"
PICTURE_FAST_UPDATE = (
    '<?xml version="1.0" encoding="utf-8" ?>\r\n'
    "<media_control><vc_primitive><to_encoder><picture_fast_update/>"
    "</to_encoder></vc_primitive></media_control>\r\n"
)


@dataclass(frozen=True)
class WebVideo:
    """A browser leg's video as the web bridge relays it on loopback."""

    gateway: tuple[str, int]
    codec: str
    payload_type: int


def negotiate(offer: sdp.SessionDescription | None, prof: EffectiveProfiles, *,
              encryption: bool) -> VideoAnswer | None:
    """The video to answer for a SIP offer under the leg's profile (None: audio only)."""
    if offer is None or prof.leg.get("videoMode") == "disabled":
        return None
    mode = prof.media_encryption
    srtp: sdp.SrtpPolicy = ("refused" if not encryption or mode == "prohibited"
                            else "required" if mode == "required" else "optional")
    return negotiate_video(offer, srtp=srtp, quality=prof.leg.get("qualityMain") or "max720p30")


def profile_layout(prof: EffectiveProfiles, space: dict[str, Any] | None) -> str | None:
    """The layout a leg starts with from its profile, else its space."""
    layout = prof.leg.get("defaultLayout") or (space or {}).get("defaultLayout")
    return str(layout) if layout else None


def layout_for(leg: LiveLeg) -> str:
    call = leg.call
    return (leg.chosen_layout or (call.default_layout if call is not None else None)
            or leg.profile_layout or DEFAULT_LAYOUT)


def config_for(leg: LiveLeg) -> VideoConfig | None:
    """The media pool's video configuration of a leg, or None without video."""
    layout = layout_for(leg)
    if leg.web_video is not None:
        web = leg.web_video
        return VideoConfig(remote=web.gateway, codec=web.codec, payload_type=web.payload_type,
                           layout=layout, feedback=("pli",))
    answer = leg.video
    if answer is None or leg.video_port == 0:
        return None
    return VideoConfig(
        remote=answer.remote, codec=answer.codec.name.upper(), payload_type=answer.codec.payload_type,
        width=answer.width, height=answer.height, fps=answer.fps, bitrate=answer.bitrate,
        direction=answer.direction, layout=layout, packetization_mode=answer.packetization_mode,
        feedback=answer.feedback,
        srtp_profile=answer.srtp_profile,
        srtp_tx_key=answer.local_crypto.key_salt if answer.local_crypto else None,
        srtp_rx_key=answer.remote_crypto.key_salt if answer.remote_crypto else None,
        latch=leg.behind_nat,
    )


def offer_with_video(offer: sdp.SessionDescription, port: int, *, secure: bool) -> None:
    """Add our ``m=video`` (on the leg's video ``port``) to an audio offer we make."""
    offer.media.append(offer_media(port=port, secure=secure))


def answered(offer: sdp.SessionDescription,
             answer: sdp.SessionDescription) -> tuple[sdp.AudioAnswer, VideoAnswer | None]:
    """What the other side's ``answer`` to our audio + video ``offer`` gives: the audio (or
    :class:`sdp.NotAcceptable`) and the video, None when refused. An answer that leaves our
    m=video line out (rather than answer it with port 0, RFC 3264 6) is taken as audio only."""
    matched = offer
    if len(answer.media) == len(offer.media) - 1 and offer.media and offer.media[-1].media == "video":
        matched = dataclasses.replace(offer, media=offer.media[:-1])
    return sdp.answer_matches(matched, answer), match_answer(matched, answer)


def is_fast_update(request: Request) -> bool:
    """An INFO asking us for a keyframe (RFC 5168)."""
    return (request.content_type == MEDIA_CONTROL
            and b"picture_fast_update" in (request.body or b""))


def status_groups(video: VideoStats | None) -> tuple[tuple[str, Any], ...]:
    """``rxVideo`` / ``txVideo`` in a leg's status (absent without video)."""
    if video is None:
        return ()
    rx = Group((
        ("codec", video.rx_codec.lower() or None),
        ("width", video.rx_width),
        ("height", video.rx_height),
        ("frameRate", video.rx_fps),
        ("bitRate", video.rx_bps),
        ("packetsLost", video.rx_packets_lost),
    ))
    tx = Group((
        ("codec", video.tx_codec.lower() or None),
        ("width", video.tx_width),
        ("height", video.tx_height),
        ("frameRate", video.tx_fps),
        ("bitRate", video.tx_bps),
        ("layout", video.layout),
        ("framesDropped", video.frames_dropped),
        ("keyframesSent", video.keyframes_sent),
    ))
    return (("rxVideo", rx), ("txVideo", tx))
