"""Checking a browser's SDP offer before any media is set up (in the main process, with
Moot's own SDP codec: aiortc is loaded only by the WebRTC workers)."""

from __future__ import annotations

from moot.sip import sdp


class BadOffer(ValueError):
    """The browser's SDP offer cannot be answered (unparseable, no audio, not WebRTC)."""


def _attribute(description: sdp.SessionDescription, media: sdp.MediaDescription, name: str) -> str | None:
    value = media.attribute(name)
    if value is None:
        value = next((a.value or "" for a in description.attributes if a.name == name), None)
    return value


def check_offer(text: str) -> None:
    """Raise :class:`BadOffer` unless the offer parses and has an audio stream with ICE
    credentials and a DTLS fingerprint (what a WebRTC answer needs)."""
    try:
        description = sdp.parse(text)
    except sdp.SdpError as exc:
        raise BadOffer(f"the SDP offer cannot be read ({exc})") from None
    active = [m for m in description.media if m.port != 0]
    if not any(m.media == "audio" for m in active):
        raise BadOffer("the SDP offer has no audio stream")
    for media in active:
        if not _attribute(description, media, "ice-ufrag") or _attribute(description, media, "fingerprint") is None:
            raise BadOffer("the SDP offer lacks ICE credentials or a DTLS fingerprint")
