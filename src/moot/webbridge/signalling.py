"""The web app's WebSocket messages: JSON objects with a ``type``, checked field by field.

Client to server: ``join``, ``mute``, ``share`` (screen sharing on/off), ``leave``, ``ping``. Anything else, a field of the
wrong type, or a message too large is a :class:`ProtocolError` (the session answers
``error`` with ``badMessage`` / ``messageTooLarge`` and closes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: Largest WebSocket message accepted (an SDP offer with video and many candidates is ~8 KiB).
MAX_MESSAGE = 64 * 1024
MAX_NAME = 100
MAX_FIELD = 256
MAX_SDP = 60 * 1024


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Join:
    meeting_id: str
    passcode: str | None
    secret: str | None
    name: str | None
    audio_muted: bool
    video_muted: bool
    sdp: str


@dataclass(frozen=True)
class Mute:
    audio: bool
    video: bool


@dataclass(frozen=True)
class Share:
    """The browser's video is now its screen (``on``) or its camera again."""

    on: bool


@dataclass(frozen=True)
class Leave:
    pass


@dataclass(frozen=True)
class Ping:
    pass


ClientMessage = Join | Mute | Share | Leave | Ping


def _bad(message: str) -> ProtocolError:
    return ProtocolError("badMessage", message)


def _text(obj: dict[str, Any], key: str, *, required: bool, limit: int = MAX_FIELD) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _bad(f"'{key}' is missing")
        return None
    if not isinstance(value, str):
        raise _bad(f"'{key}' must be a string")
    if len(value) > limit:
        raise _bad(f"'{key}' is longer than {limit} characters")
    if "\x00" in value:
        raise _bad(f"'{key}' contains a NUL character")
    return value


def _flag(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise _bad(f"'{key}' must be true or false")
    return value


def parse(data: str | bytes) -> ClientMessage:
    """One client message, or :class:`ProtocolError`."""
    if len(data) > MAX_MESSAGE:
        raise ProtocolError("messageTooLarge", f"messages are limited to {MAX_MESSAGE} bytes")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise _bad("a message must be a JSON object") from None
    if not isinstance(obj, dict):
        raise _bad("a message must be a JSON object")
    kind = obj.get("type")
    if kind == "join":
        name = _text(obj, "name", required=False, limit=MAX_NAME)
        return Join(
            meeting_id=_text(obj, "meetingId", required=True) or "",
            passcode=_text(obj, "passcode", required=False) or None,
            secret=_text(obj, "secret", required=False) or None,
            name=name.strip() if name and name.strip() else None,
            audio_muted=_flag(obj, "audioMuted"),
            video_muted=_flag(obj, "videoMuted"),
            sdp=_text(obj, "sdp", required=True, limit=MAX_SDP) or "",
        )
    if kind == "mute":
        return Mute(audio=_flag(obj, "audio"), video=_flag(obj, "video"))
    if kind == "share":
        return Share(on=_flag(obj, "on"))
    if kind == "leave":
        return Leave()
    if kind == "ping":
        return Ping()
    if not isinstance(kind, str):
        raise _bad("a message needs a 'type'")
    raise _bad(f"unknown message type {kind[:40]!r}")


def error(code: str, message: str, *, fatal: bool, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "fatal": fatal, **extra}
