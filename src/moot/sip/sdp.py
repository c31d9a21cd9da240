"""SDP (RFC 8866, formerly RFC 4566) and the RFC 3264 offer/answer model for audio.

A session description is a sequence of ``<type>=<value>`` lines in a fixed order::

    v=  o=  s=  [i=] [u=] [e=]* [p=]* [c=] [b=]*  (t= [r=]*)+  [z=] [k=] [a=]*
    (m=  [i=] [c=]* [b=]* [k=] [a=]*)*

:func:`parse` checks that order (``v``, ``o`` and ``s`` first, at least one ``t`` before the
first ``m``) and every field the call bridge relies on, and raises :class:`SdpError` naming
what is wrong. It tolerates the common real-world deviations: LF-only line ends, trailing
whitespace, blank lines, an empty ``s=``, a username with spaces in ``o=`` and the optional
session-level lines in any order. It is strict on everything else that matters: ports and
payload types must be ASCII decimal (port 0-65535, payload type 0-127), every active media
line needs a connection address (its own or the session's), and a description is limited to
:data:`MAX_SIZE` bytes, :data:`MAX_MEDIA` media descriptions and :data:`MAX_FORMATS` formats
per media line.

Media-level ``rtpmap``/``fmtp`` (RFC 8866 section 6.6/6.15, with RFC 3551's static payload
types), ``ptime``, the direction attributes, ``rtcp`` (RFC 3605) and ``crypto`` (RFC 4568
SDES) are decoded into fields of :class:`MediaDescription`; all other attributes are kept in
order in ``attributes``. :meth:`SessionDescription.serialize` writes CRLF-terminated lines in
the RFC order, so ``parse(sd.serialize()) == sd``.

Offer/answer (RFC 3264): :func:`negotiate_audio` picks the audio stream, codec, DTMF payload
type, direction and SRTP key of an incoming offer, or raises :class:`NotAcceptable` (SIP 488),
and :func:`build_answer` writes the answer. For calls we place, :func:`build_offer` writes
the offer and :func:`answer_matches` checks the remote's answer::

    # incoming INVITE
    offer = parse(request.body)                      # SdpError -> 400 (or 488)
    chosen = negotiate_audio(offer, codecs, srtp="optional")   # NotAcceptable -> 488
    port = await pool.open_leg(call_id, leg_id, host)
    body = build_answer(offer, chosen, address=host, port=port,
                        session_id=sid, version=1).serialize()
    # dial-out
    sdp, our_key = build_offer(address=host, port=port, codecs=codecs, srtp=False,
                               session_id=sid, version=1)
    chosen = answer_matches(sdp, parse(response.body))

An :class:`AudioAnswer` maps onto ``media.pool.LegConfig``: ``remote``; ``codec`` (name,
payload type, clock rate, channels); ``dtmf.payload_type``; ``ptime``; ``direction``;
``local_crypto.suite`` as the SRTP profile, ``local_crypto.key_salt`` as the TX key and
``remote_crypto.key_salt`` as the RX key. A remote key may carry an MKI
(``remote_crypto.mki``): its packets then hold ``mki[1]`` MKI bytes before the auth tag,
which libsrtp without MKI support does not expect (they are not authenticated, so they can
be cut out before unprotecting). Our own keys never have one.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DIRECTIONS",
    "MAX_FORMATS",
    "MAX_MEDIA",
    "MAX_SIZE",
    "STATIC_PAYLOAD_TYPES",
    "SUPPORTED_SRTP_SUITES",
    "Attribute",
    "AudioAnswer",
    "Bandwidth",
    "Codec",
    "Connection",
    "Crypto",
    "MediaDescription",
    "NotAcceptable",
    "Origin",
    "SdpError",
    "SessionDescription",
    "SrtpPolicy",
    "Timing",
    "answer_direction",
    "answer_matches",
    "build_answer",
    "build_offer",
    "choose_crypto",
    "match_crypto",
    "negotiate_audio",
    "offer_direction",
    "parse",
]

MAX_SIZE = 16 * 1024
"""Largest description :func:`parse` accepts, in bytes (UTF-8)."""
MAX_MEDIA = 16
"""Most ``m=`` lines in one description."""
MAX_FORMATS = 64
"""Most formats (payload types) on one ``m=`` line."""

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
"""The direction attributes of RFC 8866 section 6.7; ``sendrecv`` is the default."""

SUPPORTED_SRTP_SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
"""The SDES crypto suites (RFC 4568 section 6.2) the media plane implements, best first."""

SrtpPolicy = Literal["optional", "required", "refused"]

# Master key + master salt length of the RFC 4568 / RFC 6188 / RFC 7714 suites: a key of
# another length for one of these suites is malformed. Unknown suites accept any length.
_SUITE_KEY_LENGTHS = {
    "AES_CM_128_HMAC_SHA1_80": 30,
    "AES_CM_128_HMAC_SHA1_32": 30,
    "F8_128_HMAC_SHA1_80": 30,
    "AES_192_CM_HMAC_SHA1_80": 38,
    "AES_192_CM_HMAC_SHA1_32": 38,
    "AES_256_CM_HMAC_SHA1_80": 46,
    "AES_256_CM_HMAC_SHA1_32": 46,
    "AEAD_AES_128_GCM": 28,
    "AEAD_AES_256_GCM": 44,
}
# RFC 4568 session parameters the media plane can honour by ignoring them: a window size
# hint and the FEC order (we use no FEC). Any other (KDR, UNENCRYPTED_SRTP, ...) changes the
# SRTP policy, so a crypto line carrying one is not usable.
_HARMLESS_SESSION_PARAMS = ("WSH=", "FEC_ORDER=")

# Payload formats that are not a voice codec: never chosen as the call's codec.
_NON_VOICE = frozenset({"telephone-event", "cn", "red", "ulpfec", "rtx", "flexfec"})

_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_DIGITS = re.compile(r"[0-9]+")
_LINE_TYPES = frozenset("vosiuepcbtrzkam")
_SESSION_ONCE = frozenset("iuczk")
_MEDIA_LINE_TYPES = frozenset("icbka")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class SdpError(ValueError):
    """A session description that is not well-formed; ``reason`` says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAcceptable(Exception):
    """An offer or answer with nothing we can use (SIP 488 Not Acceptable Here)."""

    status = 488

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------
# Data model


@dataclass(frozen=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>``."""

    username: str
    session_id: int
    session_version: int
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"


@dataclass(frozen=True)
class Connection:
    """``c=<nettype> <addrtype> <connection-address>``.

    For IP4 the address may carry ``/<ttl>[/<number of addresses>]`` and for IP6
    ``/<number of addresses>`` (multicast only, RFC 8866 section 5.7).
    """

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"
    ttl: int | None = None
    count: int | None = None

    @property
    def is_hold(self) -> bool:
        """True for the unspecified address: RFC 2543 hold (``c=IN IP4 0.0.0.0``)."""
        return self.address in ("0.0.0.0", "::")

    @property
    def is_multicast(self) -> bool:
        try:
            return ipaddress.ip_address(self.address).is_multicast
        except ValueError:
            return False


@dataclass(frozen=True)
class Bandwidth:
    """``b=<bwtype>:<bandwidth>`` (kbit/s for ``AS`` and ``CT``, bit/s for ``TIAS``)."""

    type: str
    value: int


@dataclass
class Timing:
    """``t=<start-time> <stop-time>`` (NTP seconds, 0 = unbounded) with its ``r=`` lines."""

    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Attribute:
    """``a=<name>`` (a property attribute: ``value`` is None) or ``a=<name>:<value>``."""

    name: str
    value: str | None = None


@dataclass(frozen=True)
class Codec:
    """An RTP payload format: ``a=rtpmap:<pt> <name>/<clock rate>[/<channels>]`` + ``fmtp``.

    ``clock_rate`` is the RTP clock, which for G.722 is 8000 although it samples at 16 kHz
    (RFC 3551 section 4.5.2).
    """

    payload_type: int
    name: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None

    def matches(self, other: Codec) -> bool:
        """Same encoding: name (case-insensitive) and clock rate; payload types may differ."""
        return self.name.lower() == other.name.lower() and self.clock_rate == other.clock_rate

    @property
    def rtpmap(self) -> str:
        """The ``rtpmap`` encoding: ``PCMU/8000`` or ``opus/48000/2``."""
        if self.channels != 1:
            return f"{self.name}/{self.clock_rate}/{self.channels}"
        return f"{self.name}/{self.clock_rate}"


STATIC_PAYLOAD_TYPES: dict[int, Codec] = {
    codec.payload_type: codec
    for codec in (
        Codec(0, "PCMU", 8000),
        Codec(3, "GSM", 8000),
        Codec(4, "G723", 8000),
        Codec(5, "DVI4", 8000),
        Codec(6, "DVI4", 16000),
        Codec(7, "LPC", 8000),
        Codec(8, "PCMA", 8000),
        Codec(9, "G722", 8000),
        Codec(10, "L16", 44100, 2),
        Codec(11, "L16", 44100),
        Codec(12, "QCELP", 8000),
        Codec(13, "CN", 8000),
        Codec(14, "MPA", 90000),
        Codec(15, "G728", 8000),
        Codec(16, "DVI4", 11025),
        Codec(17, "DVI4", 22050),
        Codec(18, "G729", 8000),
        Codec(25, "CelB", 90000),
        Codec(26, "JPEG", 90000),
        Codec(28, "nv", 90000),
        Codec(31, "H261", 90000),
        Codec(32, "MPV", 90000),
        Codec(33, "MP2T", 90000),
        Codec(34, "H263", 90000),
    )
}
"""RFC 3551 section 6: the payload types that need no ``rtpmap``."""


@dataclass(frozen=True)
class Crypto:
    """RFC 4568 SDES: ``a=crypto:<tag> <suite> inline:<key||salt>[|<lifetime>][|<MKI>:<len>]``.

    ``key_salt`` is the decoded master key followed by the master salt (30 bytes for the
    AES_CM_128 suites). ``lifetime`` is the number of packets (written ``2^n`` when a power
    of two), ``mki`` the (value, byte length) of the master key identifier. Only the first
    key of a multi-key line is kept.
    """

    tag: int
    suite: str
    key_salt: bytes
    lifetime: int | None = None
    mki: tuple[int, int] | None = None
    session_params: tuple[str, ...] = ()

    @classmethod
    def generate(cls, tag: int = 1, suite: str = "AES_CM_128_HMAC_SHA1_80") -> Crypto:
        """A fresh random master key and salt for ``suite``."""
        length = _SUITE_KEY_LENGTHS.get(suite)
        if length is None:
            raise ValueError(f"unknown crypto suite {suite!r}")
        return cls(tag=tag, suite=suite, key_salt=os.urandom(length))

    @property
    def value(self) -> str:
        """The attribute value (everything after ``a=crypto:``)."""
        key = "inline:" + base64.b64encode(self.key_salt).decode("ascii")
        if self.lifetime is not None:
            exponent = self.lifetime.bit_length() - 1
            if self.lifetime > 0 and self.lifetime == 1 << exponent:
                key += f"|2^{exponent}"
            else:
                key += f"|{self.lifetime}"
        if self.mki is not None:
            key += f"|{self.mki[0]}:{self.mki[1]}"
        return " ".join((str(self.tag), self.suite, key, *self.session_params))

    @property
    def usable(self) -> bool:
        """A suite we implement with no session parameter that would change the policy."""
        return self.suite in SUPPORTED_SRTP_SUITES and all(
            param.startswith(_HARMLESS_SESSION_PARAMS) for param in self.session_params
        )


@dataclass
class MediaDescription:
    """An ``m=<media> <port>[/<count>] <proto> <fmt> ...`` section and its attributes.

    ``formats`` are the ``m=`` line's formats as written (payload type numbers for the RTP
    profiles); ``codecs`` the ones whose encoding is known, from ``rtpmap``/``fmtp`` or the
    static table, in the ``m=`` line's order. ``direction`` is the media's direction
    attribute, else the session's, else ``sendrecv``.
    """

    media: str
    port: int
    proto: str
    formats: list[str] = field(default_factory=list)
    port_count: int = 1
    codecs: list[Codec] = field(default_factory=list)
    information: str | None = None
    connection: Connection | None = None
    bandwidth: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    direction: str = "sendrecv"
    ptime: int | None = None
    rtcp: int | None = None
    rtcp_connection: Connection | None = None
    crypto: list[Crypto] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)

    @property
    def is_rtp(self) -> bool:
        """An RTP profile (RTP/AVP, RTP/SAVP, RTP/AVPF, UDP/TLS/RTP/SAVPF, ...)."""
        return "RTP" in self.proto.split("/")

    def attribute(self, name: str) -> str | None:
        """The value of the first other attribute called ``name`` ("" for a flag)."""
        for attribute in self.attributes:
            if attribute.name == name:
                return "" if attribute.value is None else attribute.value
        return None

    def codec(self, payload_type: int) -> Codec | None:
        for codec in self.codecs:
            if codec.payload_type == payload_type:
                return codec
        return None


@dataclass
class SessionDescription:
    """A whole session description (RFC 8866 section 5)."""

    origin: Origin
    session_name: str = "-"
    version: int = 0
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidth: list[Bandwidth] = field(default_factory=list)
    times: list[Timing] = field(default_factory=lambda: [Timing()])
    zone: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        return parse(data)

    def serialize(self) -> str:
        """The description as text with CRLF line ends, in the order of RFC 8866."""
        lines = [
            f"v={self.version}",
            f"o={_format_origin(self.origin)}",
            # RFC 8866 section 5.3: "s= " (a single space) when there is no name.
            f"s={self.session_name or ' '}",
        ]
        if self.information is not None:
            lines.append(f"i={self.information}")
        if self.uri is not None:
            lines.append(f"u={self.uri}")
        lines += [f"e={email}" for email in self.emails]
        lines += [f"p={phone}" for phone in self.phones]
        if self.connection is not None:
            lines.append(f"c={_format_connection(self.connection)}")
        lines += [f"b={bw.type}:{bw.value}" for bw in self.bandwidth]
        if not self.times:
            raise SdpError("cannot serialize: a description needs at least one t= line")
        for timing in self.times:
            lines.append(f"t={timing.start} {timing.stop}")
            lines += [f"r={repeat}" for repeat in timing.repeats]
        if self.zone is not None:
            lines.append(f"z={self.zone}")
        if self.key is not None:
            lines.append(f"k={self.key}")
        lines += [_format_attribute(attribute) for attribute in self.attributes]
        for media in self.media:
            lines += _serialize_media(media)
        for line in lines:
            if _CONTROL.search(line) or "\r" in line:
                raise SdpError(f"cannot serialize: control character in {line[:40]!r}")
        return "\r\n".join(lines) + "\r\n"

    def __str__(self) -> str:
        return self.serialize()


def _format_origin(origin: Origin) -> str:
    return (
        f"{origin.username} {origin.session_id} {origin.session_version} "
        f"{origin.nettype} {origin.addrtype} {origin.address}"
    )


def _format_connection(connection: Connection) -> str:
    address = connection.address
    if connection.ttl is not None:
        address += f"/{connection.ttl}"
    if connection.count is not None:
        address += f"/{connection.count}"
    return f"{connection.nettype} {connection.addrtype} {address}"


def _format_attribute(attribute: Attribute) -> str:
    if attribute.value is None:
        return f"a={attribute.name}"
    return f"a={attribute.name}:{attribute.value}"


def _serialize_media(media: MediaDescription) -> list[str]:
    port = str(media.port) if media.port_count == 1 else f"{media.port}/{media.port_count}"
    lines = [" ".join(("m=" + media.media, port, media.proto, *media.formats))]
    if media.information is not None:
        lines.append(f"i={media.information}")
    if media.connection is not None:
        lines.append(f"c={_format_connection(media.connection)}")
    lines += [f"b={bw.type}:{bw.value}" for bw in media.bandwidth]
    if media.key is not None:
        lines.append(f"k={media.key}")
    for codec in media.codecs:
        lines.append(f"a=rtpmap:{codec.payload_type} {codec.rtpmap}")
        if codec.fmtp:
            lines.append(f"a=fmtp:{codec.payload_type} {codec.fmtp}")
    if media.ptime is not None:
        lines.append(f"a=ptime:{media.ptime}")
    lines.append(f"a={media.direction}")
    if media.rtcp is not None:
        rtcp = str(media.rtcp)
        if media.rtcp_connection is not None:
            rtcp += " " + _format_connection(media.rtcp_connection)
        lines.append(f"a=rtcp:{rtcp}")
    lines += [f"a=crypto:{crypto.value}" for crypto in media.crypto]
    lines += [_format_attribute(attribute) for attribute in media.attributes]
    return lines


# --------------------------------------------------------------------------------------
# Parsing


def parse(data: bytes | str) -> SessionDescription:
    """Parse a session description; raise :class:`SdpError` if it is malformed."""
    if isinstance(data, str):
        if len(data) > MAX_SIZE:
            raise SdpError(f"description larger than {MAX_SIZE} bytes")
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SdpError("description is not valid Unicode") from exc
    else:
        raw = bytes(data)
    if len(raw) > MAX_SIZE:
        raise SdpError(f"description larger than {MAX_SIZE} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError(f"description is not UTF-8 (byte {exc.start})") from exc
    return _Parser(text).run()


class _Parser:
    def __init__(self, text: str) -> None:
        self.lines: list[tuple[int, str, str]] = []
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.rstrip(" \t\r")
            if not line:
                continue
            if _CONTROL.search(line) or "\r" in line:
                raise SdpError(f"line {number}: control character")
            if len(line) < 2 or line[1] != "=" or line[0] not in _LINE_TYPES:
                if len(line) >= 2 and line[1] == "=" and "a" <= line[0] <= "z":
                    raise SdpError(f"line {number}: unknown line type {line[0]!r}")
                raise SdpError(f"line {number}: not a <type>=<value> line: {line[:40]!r}")
            self.lines.append((number, line[0], line[2:]))
        self.number = 0

    def run(self) -> SessionDescription:
        lines = self.lines
        if not lines:
            raise SdpError("empty description")
        for index, expected in enumerate("vos"):
            if len(lines) <= index or lines[index][1] != expected:
                raise SdpError(f"missing {expected}= line (v=, o=, s= must come first)")
        self.number = lines[0][0]
        if lines[0][2] != "0":
            raise SdpError(f"unsupported version v={lines[0][2][:20]}")
        self.number = lines[1][0]
        origin = self._origin(lines[1][2])
        sd = SessionDescription(origin=origin, session_name=lines[2][2], times=[])

        position = 3
        seen: set[str] = set()
        session_direction: str | None = None
        while position < len(lines) and lines[position][1] != "m":
            self.number, kind, value = lines[position]
            position += 1
            if kind in _SESSION_ONCE:
                if kind in seen:
                    raise self.error(f"more than one session-level {kind}= line")
                seen.add(kind)
            if kind == "i":
                sd.information = value
            elif kind == "u":
                sd.uri = value
            elif kind == "e":
                sd.emails.append(value)
            elif kind == "p":
                sd.phones.append(value)
            elif kind == "c":
                sd.connection = self._connection(value)
            elif kind == "b":
                sd.bandwidth.append(self._bandwidth(value))
            elif kind == "t":
                sd.times.append(self._timing(value))
            elif kind == "r":
                if not sd.times:
                    raise self.error("r= line before any t= line")
                sd.times[-1].repeats.append(value)
            elif kind == "z":
                sd.zone = value
            elif kind == "k":
                sd.key = value
            elif kind == "a":
                attribute = self._attribute(value)
                if attribute.name in DIRECTIONS:
                    if attribute.value is not None:
                        raise self.error(f"a={attribute.name} takes no value")
                    if session_direction is not None:
                        raise self.error("more than one session-level direction attribute")
                    session_direction = attribute.name
                sd.attributes.append(attribute)
            else:
                raise self.error(f"{kind}= line not allowed here")
        if not sd.times:
            raise SdpError("missing t= line before the media descriptions")

        while position < len(lines):
            if len(sd.media) == MAX_MEDIA:
                raise SdpError(f"more than {MAX_MEDIA} media descriptions")
            end = position + 1
            while end < len(lines) and lines[end][1] != "m":
                end += 1
            sd.media.append(self._media(lines[position:end], sd, session_direction))
            position = end
        return sd

    def error(self, reason: str) -> SdpError:
        return SdpError(f"line {self.number}: {reason}")

    # -- field parsers ---------------------------------------------------------------

    def _int(self, text: str, what: str, *, low: int = 0, high: int | None = None) -> int:
        if not _DIGITS.fullmatch(text) or len(text) > 20:
            raise self.error(f"{what} is not a decimal number: {text[:24]!r}")
        value = int(text)
        if value < low or (high is not None and value > high):
            raise self.error(f"{what} {value} out of range")
        return value

    def _token(self, text: str, what: str) -> str:
        if not _TOKEN.fullmatch(text):
            raise self.error(f"invalid {what}: {text[:40]!r}")
        return text

    def _origin(self, value: str) -> Origin:
        fields = value.split()
        if len(fields) < 6:
            raise self.error(
                "o= needs <username> <sess-id> <sess-version> <nettype> <addrtype> <address>"
            )
        # Some user agents put a display name with spaces in the username: keep it whole.
        username = " ".join(fields[:-5])
        session_id, version, nettype, addrtype, address = fields[-5:]
        return Origin(
            username=username,
            session_id=self._int(session_id, "o= session id"),
            session_version=self._int(version, "o= session version"),
            nettype=self._token(nettype, "o= network type"),
            addrtype=self._token(addrtype, "o= address type"),
            address=address,
        )

    def _connection(self, value: str) -> Connection:
        fields = value.split()
        if len(fields) != 3:
            raise self.error("c= needs <nettype> <addrtype> <connection-address>")
        return self._connection_fields(fields)

    def _connection_fields(self, fields: list[str]) -> Connection:
        nettype = self._token(fields[0], "network type")
        addrtype = self._token(fields[1], "address type")
        address, *suffix = fields[2].split("/")
        ttl = count = None
        if addrtype == "IP4" and len(suffix) <= 2:
            if suffix:
                ttl = self._int(suffix[0], "connection TTL", high=255)
            if len(suffix) == 2:
                count = self._int(suffix[1], "connection address count", low=1, high=65535)
        elif addrtype == "IP6" and len(suffix) <= 1:
            if suffix:
                count = self._int(suffix[0], "connection address count", low=1, high=65535)
        elif suffix:
            raise self.error(f"invalid connection address {fields[2][:60]!r}")
        if nettype == "IN" and addrtype in ("IP4", "IP6"):
            if not _valid_address(address, addrtype):
                raise self.error(f"invalid {addrtype} address {address[:60]!r}")
        elif not address:
            raise self.error("empty connection address")
        return Connection(address=address, nettype=nettype, addrtype=addrtype, ttl=ttl, count=count)

    def _bandwidth(self, value: str) -> Bandwidth:
        kind, colon, amount = value.partition(":")
        if not colon:
            raise self.error("b= needs <bwtype>:<bandwidth>")
        return Bandwidth(
            self._token(kind, "bandwidth type"), self._int(amount, "bandwidth", high=2**64)
        )

    def _timing(self, value: str) -> Timing:
        fields = value.split()
        if len(fields) != 2:
            raise self.error("t= needs <start-time> <stop-time>")
        return Timing(self._int(fields[0], "start time"), self._int(fields[1], "stop time"))

    def _attribute(self, value: str) -> Attribute:
        name, colon, attribute_value = value.partition(":")
        self._token(name, "attribute name")
        return Attribute(name, attribute_value if colon else None)

    def _media(
        self,
        lines: list[tuple[int, str, str]],
        sd: SessionDescription,
        session_direction: str | None,
    ) -> MediaDescription:
        self.number, _, value = lines[0]
        fields = value.split()
        if len(fields) < 3:
            raise self.error("m= needs <media> <port> <proto> <fmt> ...")
        kind, port_text, proto = fields[:3]
        formats = fields[3:]
        port_text, slash, count_text = port_text.partition("/")
        port = self._int(port_text, "media port", high=65535)
        port_count = self._int(count_text, "port count", low=1, high=65535) if slash else 1
        media = MediaDescription(
            media=self._token(kind, "media type"),
            port=port,
            port_count=port_count,
            proto=self._proto(proto),
        )
        if len(formats) > MAX_FORMATS:
            raise self.error(f"more than {MAX_FORMATS} formats on the m= line")
        if not formats and port != 0:
            raise self.error("m= line without formats")
        if media.is_rtp:
            payload_types = [self._int(fmt, "payload type", high=127) for fmt in formats]
            if len(set(payload_types)) != len(payload_types):
                raise self.error("payload type listed twice on the m= line")
            media.formats = [str(pt) for pt in payload_types]
        else:
            media.formats = [self._token(fmt, "media format") for fmt in formats]

        rtpmaps: dict[int, Codec] = {}
        fmtps: dict[int, str] = {}
        pending: list[Attribute] = []  # attributes, with rtpmap/fmtp resolved at the end
        direction: str | None = None
        for self.number, line_type, value in lines[1:]:
            if line_type not in _MEDIA_LINE_TYPES:
                raise self.error(f"{line_type}= line not allowed in a media description")
            if line_type == "i":
                if media.information is not None:
                    raise self.error("more than one i= line in a media description")
                media.information = value
            elif line_type == "c":
                if media.connection is not None:
                    raise self.error("more than one c= line in a media description")
                media.connection = self._connection(value)
            elif line_type == "b":
                media.bandwidth.append(self._bandwidth(value))
            elif line_type == "k":
                if media.key is not None:
                    raise self.error("more than one k= line in a media description")
                media.key = value
            else:
                attribute = self._attribute(value)
                name = attribute.name
                if name in DIRECTIONS:
                    if attribute.value is not None:
                        raise self.error(f"a={name} takes no value")
                    if direction is not None:
                        raise self.error("more than one direction attribute")
                    direction = name
                    continue
                if attribute.value is None and name in (
                    "ptime",
                    "rtcp",
                    "crypto",
                    "rtpmap",
                    "fmtp",
                ):
                    raise self.error(f"a={name} needs a value")
                if name == "ptime" and attribute.value is not None:
                    if media.ptime is not None:
                        raise self.error("more than one a=ptime")
                    media.ptime = self._ptime(attribute.value)
                elif name == "rtcp" and attribute.value is not None:
                    if media.rtcp is not None:
                        raise self.error("more than one a=rtcp")
                    self._rtcp(attribute.value, media)
                elif name == "crypto" and attribute.value is not None:
                    media.crypto.append(self._crypto(attribute.value))
                elif name == "rtpmap" and media.is_rtp and attribute.value is not None:
                    codec = self._rtpmap(attribute.value)
                    if codec.payload_type in rtpmaps:
                        raise self.error(f"second a=rtpmap for payload type {codec.payload_type}")
                    rtpmaps[codec.payload_type] = codec
                    pending.append(attribute)
                elif name == "fmtp" and media.is_rtp and attribute.value is not None:
                    fmt, _, params = attribute.value.partition(" ")
                    if _DIGITS.fullmatch(fmt) and len(fmt) <= 3:
                        if int(fmt) in fmtps:
                            raise self.error(f"second a=fmtp for payload type {int(fmt)}")
                        fmtps[int(fmt)] = params.strip()
                    pending.append(attribute)
                else:
                    pending.append(attribute)

        # Codecs in m= line order: rtpmap, else the static table; with their fmtp.
        used: set[int] = set()
        for fmt in media.formats if media.is_rtp else ():
            pt = int(fmt)
            codec_or_none = rtpmaps.get(pt) or STATIC_PAYLOAD_TYPES.get(pt)
            if codec_or_none is None:
                continue
            fmtp = fmtps.get(pt)
            if fmtp:
                codec_or_none = Codec(
                    codec_or_none.payload_type,
                    codec_or_none.name,
                    codec_or_none.clock_rate,
                    codec_or_none.channels,
                    fmtp,
                )
            media.codecs.append(codec_or_none)
            used.add(pt)
        # rtpmap/fmtp lines for payload types not on the m= line stay plain attributes.
        for attribute in pending:
            if attribute.name in ("rtpmap", "fmtp") and media.is_rtp and attribute.value:
                fmt = attribute.value.partition(" ")[0]
                if _DIGITS.fullmatch(fmt) and len(fmt) <= 3 and int(fmt) in used:
                    continue
            media.attributes.append(attribute)

        media.direction = direction or session_direction or "sendrecv"
        if media.port != 0 and media.connection is None and sd.connection is None:
            self.number = lines[0][0]
            raise self.error("active media description without a connection address (c=)")
        return media

    def _proto(self, proto: str) -> str:
        if not all(_TOKEN.fullmatch(part) for part in proto.split("/")):
            raise self.error(f"invalid transport protocol {proto[:40]!r}")
        return proto

    def _ptime(self, value: str) -> int:
        match = re.fullmatch(r"([0-9]{1,5})(?:\.([0-9]{1,6}))?", value.strip())
        if not match:
            raise self.error(f"invalid a=ptime {value[:24]!r}")
        ptime = round(float(match.group(0)))
        if not 1 <= ptime <= 10000:
            raise self.error(f"a=ptime {ptime} out of range")
        return ptime

    def _rtcp(self, value: str, media: MediaDescription) -> None:
        fields = value.split()
        if len(fields) not in (1, 4):
            raise self.error("a=rtcp needs <port> [<nettype> <addrtype> <address>]")
        media.rtcp = self._int(fields[0], "RTCP port", high=65535)
        if len(fields) == 4:
            media.rtcp_connection = self._connection_fields(fields[1:])

    def _rtpmap(self, value: str) -> Codec:
        fields = value.split()
        if len(fields) != 2:
            raise self.error("a=rtpmap needs <payload type> <encoding>/<clock rate>")
        payload_type = self._int(fields[0], "payload type", high=127)
        parts = fields[1].split("/")
        if len(parts) not in (2, 3) or "/" in parts[0]:
            raise self.error(f"invalid a=rtpmap encoding {fields[1][:40]!r}")
        name = self._token(parts[0], "encoding name")
        clock_rate = self._int(parts[1], "clock rate", low=1, high=10**9)
        channels = self._int(parts[2], "channel count", low=1, high=255) if len(parts) == 3 else 1
        return Codec(payload_type, name, clock_rate, channels)

    def _crypto(self, value: str) -> Crypto:
        fields = value.split()
        if len(fields) < 3:
            raise self.error("a=crypto needs <tag> <crypto-suite> <key-params>")
        tag = self._int(fields[0], "crypto tag", high=999999999)
        if len(fields[0]) > 9:
            raise self.error("crypto tag longer than 9 digits")
        suite = self._token(fields[1], "crypto suite")
        # Several keys may be separated by ";" (RFC 4568 section 9.1): keep the first.
        method, colon, key_info = fields[2].split(";")[0].partition(":")
        if method != "inline" or not colon:
            raise self.error(f"unsupported crypto key method {method[:20]!r}")
        key_text, *rest = key_info.split("|")
        if len(rest) > 2:
            raise self.error("a=crypto key has too many |-separated fields")
        try:
            padded = key_text + "=" * (-len(key_text) % 4)
            key_salt = base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise self.error("a=crypto key is not base64") from exc
        if not key_salt:
            raise self.error("a=crypto key is empty")
        expected = _SUITE_KEY_LENGTHS.get(suite)
        if expected is not None and len(key_salt) != expected:
            raise self.error(f"{suite} key+salt is {len(key_salt)} bytes, not {expected}")
        lifetime = None
        mki = None
        for part in rest:
            if ":" in part:
                if mki is not None:
                    raise self.error("a=crypto has two MKI fields")
                mki_value, _, mki_length = part.partition(":")
                mki = (
                    self._int(mki_value, "MKI value"),
                    self._int(mki_length, "MKI length", low=1, high=128),
                )
            elif mki is not None or lifetime is not None:
                raise self.error("a=crypto lifetime must come before the MKI")
            elif part.startswith("2^"):
                lifetime = 1 << self._int(part[2:], "key lifetime exponent", high=64)
            else:
                lifetime = self._int(part, "key lifetime", low=1)
        for param in fields[3:]:
            if _CONTROL.search(param):
                raise self.error("control character in crypto session parameter")
        return Crypto(tag, suite, key_salt, lifetime, mki, tuple(fields[3:]))


def _valid_address(address: str, addrtype: str) -> bool:
    """An IP address of ``addrtype``, or a fully qualified domain name (RFC 8866 5.7)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        pass
    else:
        return ip.version == (4 if addrtype == "IP4" else 6)
    if not 0 < len(address) <= 253:
        return False
    labels = address.removesuffix(".").split(".")
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return False
    return not labels[-1].isdigit()


# --------------------------------------------------------------------------------------
# Offer/answer (RFC 3264)


@dataclass(frozen=True)
class AudioAnswer:
    """The outcome of offer/answer for the call's audio stream.

    ``codec`` and ``dtmf`` carry the payload types to SEND with (the offer's for an offer we
    answered, the answer's for an answer we received); ``direction`` is ours
    (``sendonly`` = we send, they do not); ``remote`` the address to send RTP to;
    ``local_crypto`` our SRTP key (what we encrypt with), ``remote_crypto`` theirs.
    """

    codec: Codec
    dtmf: Codec | None
    remote: tuple[str, int]
    direction: str
    ptime: int
    media_index: int
    remote_crypto: Crypto | None = None
    local_crypto: Crypto | None = None

    @property
    def srtp_profile(self) -> str | None:
        return None if self.local_crypto is None else self.local_crypto.suite


def _is_dtmf(codec: Codec) -> bool:
    return codec.name.lower() == "telephone-event" and codec.clock_rate == 8000


def _flags(direction: str) -> tuple[bool, bool]:
    """(sends, receives) of the party whose SDP carries ``direction``."""
    return direction in ("sendrecv", "sendonly"), direction in ("sendrecv", "recvonly")


def _direction(send: bool, receive: bool) -> str:
    return {
        (True, True): "sendrecv",
        (True, False): "sendonly",
        (False, True): "recvonly",
        (False, False): "inactive",
    }[(send, receive)]


def _remote(sd: SessionDescription, media: MediaDescription) -> Connection:
    connection = media.connection or sd.connection
    if connection is None:  # parse() guarantees one for an active stream
        raise NotAcceptable("audio stream without a connection address")
    if connection.nettype != "IN" or connection.addrtype not in ("IP4", "IP6"):
        raise NotAcceptable(f"unsupported address type {connection.nettype} {connection.addrtype}")
    if connection.is_multicast:
        raise NotAcceptable("multicast media is not supported")
    return connection


def _profile(proto: str) -> bool:
    """Whether ``proto`` is SRTP; raise NotAcceptable for a transport we do not speak."""
    if proto in ("RTP/AVP", "RTP/AVPF"):
        return False
    if proto in ("RTP/SAVP", "RTP/SAVPF"):
        return True
    raise NotAcceptable(f"unsupported transport {proto}")


def negotiate_audio(
    offer: SessionDescription,
    supported: Sequence[Codec],
    *,
    srtp: SrtpPolicy = "optional",
    local_key: Crypto | None = None,
) -> AudioAnswer:
    """Choose what to answer to ``offer`` (RFC 3264 section 6).

    The stream is the first audio ``m=`` line with a non-zero port that we can accept (a
    supported transport and SRTP policy, a common codec, a usable crypto line). The codec is
    the first of the OFFER's that matches one in ``supported`` by name (case-insensitive) and
    clock rate, with the offer's payload type; ``telephone-event/8000`` is added with the
    offer's payload type if offered. The direction mirrors the offer's; an offer with the
    unspecified address (``c=IN IP4 0.0.0.0``, RFC 2543 hold) is answered ``inactive``.
    With RTP/SAVP the first crypto line with a suite in :data:`SUPPORTED_SRTP_SUITES`
    (preferring one without an MKI) is taken and answered with a new key with the same tag.

    ``srtp``: ``optional`` accepts RTP/AVP and RTP/SAVP, ``required`` only RTP/SAVP,
    ``refused`` only RTP/AVP. ``local_key``: our key of the current session (for a
    re-INVITE); it is kept, under the offer's tag, if the chosen suite is the same.
    """
    if srtp not in ("optional", "required", "refused"):
        raise ValueError(f"srtp must be optional, required or refused, not {srtp!r}")
    reasons: list[str] = []
    for index, media in enumerate(offer.media):
        if media.media != "audio" or media.port == 0:
            continue
        try:
            return _accept_audio(offer, index, media, supported, srtp, local_key)
        except NotAcceptable as exc:
            reasons.append(f"m-line {index}: {exc.reason}")
    if not reasons:
        raise NotAcceptable("no active audio stream in the offer")
    raise NotAcceptable(reasons[0] if len(reasons) == 1 else "; ".join(reasons))


def _accept_audio(
    offer: SessionDescription,
    index: int,
    media: MediaDescription,
    supported: Sequence[Codec],
    srtp: SrtpPolicy,
    local_key: Crypto | None,
) -> AudioAnswer:
    secure = _profile(media.proto)
    if secure and srtp == "refused":
        raise NotAcceptable(f"SRTP ({media.proto}) is refused by policy")
    if not secure and srtp == "required":
        raise NotAcceptable(f"SRTP is required but the offer is {media.proto}")
    connection = _remote(offer, media)
    codec = next(
        (
            offered
            for offered in media.codecs
            if offered.name.lower() not in _NON_VOICE
            and any(offered.matches(ours) for ours in supported)
        ),
        None,
    )
    if codec is None:
        offered_names = ", ".join(c.rtpmap for c in media.codecs) or "none known"
        raise NotAcceptable(f"no common codec (offered: {offered_names})")
    dtmf = next((c for c in media.codecs if _is_dtmf(c)), None)
    remote_crypto, local_crypto = choose_crypto(media, local_key) if secure else (None, None)
    direction = answer_direction(connection, media)
    return AudioAnswer(
        codec=codec,
        dtmf=dtmf,
        remote=(connection.address, media.port),
        direction=direction,
        ptime=media.ptime or 20,
        media_index=index,
        remote_crypto=remote_crypto,
        local_crypto=local_crypto,
    )


def match_crypto(ours: MediaDescription, theirs: MediaDescription) -> tuple[Crypto, Crypto]:
    """(theirs, ours) for an RTP/SAVP answer to our offer: its one crypto line, whose tag and
    suite must be one we offered, with our key of that tag."""
    if len(theirs.crypto) != 1:
        raise NotAcceptable(f"SRTP answer needs exactly one a=crypto, has {len(theirs.crypto)}")
    remote = theirs.crypto[0]
    local = next((c for c in ours.crypto if c.tag == remote.tag), None)
    if local is None or local.suite != remote.suite:
        raise NotAcceptable(f"answer crypto tag {remote.tag} {remote.suite} was not offered")
    if not remote.usable:
        raise NotAcceptable(f"answer crypto {remote.suite} {' '.join(remote.session_params)} not supported")
    return remote, local


def offer_direction(connection: Connection, ours: MediaDescription, theirs: MediaDescription) -> str:
    """Our direction once an offered stream is answered (both sides' attributes; hold)."""
    if connection.is_hold:
        return "inactive"
    we_send, we_receive = _flags(ours.direction)
    they_send, they_receive = _flags(theirs.direction)
    return _direction(we_send and they_receive, we_receive and they_send)


def answer_direction(connection: Connection, media: MediaDescription) -> str:
    """Our direction for an offered stream: the mirror of the offer's; ``inactive`` for an
    offer with the unspecified address (``c=IN IP4 0.0.0.0``, RFC 2543 hold)."""
    if connection.is_hold:
        return "inactive"
    they_send, they_receive = _flags(media.direction)
    return _direction(they_receive, they_send)


def choose_crypto(media: MediaDescription, local_key: Crypto | None) -> tuple[Crypto, Crypto]:
    """(theirs, ours) for an RTP/SAVP offer: the first usable crypto line (one without an MKI
    preferred) and our key with its tag - ``local_key`` kept when its suite is the same."""
    usable = [crypto for crypto in media.crypto if crypto.usable]
    if not usable:
        suites = ", ".join(c.suite for c in media.crypto) or "no a=crypto"
        raise NotAcceptable(f"no supported SRTP crypto suite (offered: {suites})")
    remote = next((c for c in usable if c.mki is None), usable[0])
    if local_key is not None and local_key.suite == remote.suite:
        return remote, Crypto(remote.tag, local_key.suite, local_key.key_salt)
    return remote, Crypto.generate(remote.tag, remote.suite)


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _audio_media(
    *,
    port: int,
    proto: str,
    codecs: Sequence[Codec],
    direction: str,
    ptime: int,
    crypto: Crypto | None,
) -> MediaDescription:
    return MediaDescription(
        media="audio",
        port=port,
        proto=proto,
        formats=[str(codec.payload_type) for codec in codecs],
        codecs=list(codecs),
        direction=direction,
        ptime=ptime,
        crypto=[crypto] if crypto is not None else [],
    )


def build_answer(
    offer: SessionDescription,
    answer: AudioAnswer,
    *,
    address: str,
    port: int,
    session_id: int,
    version: int,
    username: str = "moot",
    accepted: Mapping[int, MediaDescription] | None = None,
) -> SessionDescription:
    """The SDP answer for ``answer`` (from :func:`negotiate_audio`).

    As RFC 3264 section 6 requires, it has as many ``m=`` lines as the offer: the chosen
    audio stream with our ``address``/``port``, the offer's transport, the codec and
    telephone-event, ``a=ptime``, the direction and our crypto line; every other stream is
    rejected with port 0 and the offer's transport and formats, except those in ``accepted``
    (m-line index -> our media description, e.g. the video stream).
    """
    if not 0 <= answer.media_index < len(offer.media):
        raise ValueError(f"media index {answer.media_index} not in the offer")
    addrtype = _addrtype(address)
    media: list[MediaDescription] = []
    for index, offered in enumerate(offer.media):
        if index == answer.media_index:
            codecs = [answer.codec] + ([answer.dtmf] if answer.dtmf is not None else [])
            media.append(
                _audio_media(
                    port=port,
                    proto=offered.proto,
                    codecs=codecs,
                    direction=answer.direction,
                    ptime=answer.ptime,
                    crypto=answer.local_crypto,
                )
            )
        elif accepted and index in accepted:
            media.append(accepted[index])
        else:
            media.append(
                MediaDescription(
                    media=offered.media,
                    port=0,
                    proto=offered.proto,
                    formats=list(offered.formats),
                    direction="inactive",
                )
            )
    return SessionDescription(
        origin=Origin(username, session_id, version, "IN", addrtype, address),
        session_name="-",
        connection=Connection(address, "IN", addrtype),
        media=media,
    )


def build_offer(
    *,
    address: str,
    port: int,
    codecs: Sequence[Codec],
    dtmf_pt: int | None = 101,
    srtp: bool,
    session_id: int,
    version: int,
    username: str = "moot",
    direction: str = "sendrecv",
    ptime: int = 20,
) -> tuple[SessionDescription, Crypto | None]:
    """An audio offer for a call we place, and our SRTP key if ``srtp`` (RTP/SAVP).

    ``codecs`` in order of preference; ``dtmf_pt`` adds ``telephone-event/8000`` (events
    0-16) at that payload type. ``direction`` other than ``sendrecv`` is for holding a call
    in a re-INVITE.
    """
    if not codecs:
        raise ValueError("an offer needs at least one codec")
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    offered = list(codecs)
    if dtmf_pt is not None:
        if any(codec.payload_type == dtmf_pt for codec in offered):
            raise ValueError(f"telephone-event payload type {dtmf_pt} is already a codec's")
        offered.append(Codec(dtmf_pt, "telephone-event", 8000, fmtp="0-16"))
    if len({codec.payload_type for codec in offered}) != len(offered):
        raise ValueError("two codecs share a payload type")
    crypto = Crypto.generate(1, SUPPORTED_SRTP_SUITES[0]) if srtp else None
    addrtype = _addrtype(address)
    sd = SessionDescription(
        origin=Origin(username, session_id, version, "IN", addrtype, address),
        session_name="-",
        connection=Connection(address, "IN", addrtype),
        media=[
            _audio_media(
                port=port,
                proto="RTP/SAVP" if srtp else "RTP/AVP",
                codecs=offered,
                direction=direction,
                ptime=ptime,
                crypto=crypto,
            )
        ],
    )
    return sd, crypto


def answer_matches(offer: SessionDescription, answer: SessionDescription) -> AudioAnswer:
    """Check the remote's ``answer`` to our ``offer`` (RFC 3264 section 5/6) and return what
    to send: the answer's codec (its payload type; it must be one we offered), its
    telephone-event/8000 if we offered one, our direction given both sides' attributes, the
    remote address, and for RTP/SAVP the answer's crypto line, whose tag and suite must be
    one of ours (``local_crypto`` is our offered key with that tag).
    """
    if len(answer.media) != len(offer.media):
        raise NotAcceptable(
            f"answer has {len(answer.media)} m-lines, the offer had {len(offer.media)}"
        )
    reasons: list[str] = []
    for index, (ours, theirs) in enumerate(zip(offer.media, answer.media, strict=True)):
        if ours.media != "audio" or ours.port == 0:
            continue
        if theirs.port == 0:
            reasons.append(f"m-line {index}: audio stream rejected")
            continue
        try:
            return _match_audio(answer, index, ours, theirs)
        except NotAcceptable as exc:
            reasons.append(f"m-line {index}: {exc.reason}")
    if not reasons:
        raise NotAcceptable("the offer has no active audio stream")
    raise NotAcceptable("; ".join(reasons))


def _match_audio(
    answer: SessionDescription,
    index: int,
    ours: MediaDescription,
    theirs: MediaDescription,
) -> AudioAnswer:
    if theirs.media != ours.media or theirs.proto != ours.proto:
        raise NotAcceptable(f"answered {theirs.media} {theirs.proto} to {ours.media} {ours.proto}")
    secure = _profile(ours.proto)
    connection = _remote(answer, theirs)
    codec = next(
        (
            answered
            for answered in theirs.codecs
            if answered.name.lower() not in _NON_VOICE
            and any(answered.matches(offered) for offered in ours.codecs)
        ),
        None,
    )
    if codec is None:
        answered_names = ", ".join(c.rtpmap for c in theirs.codecs) or "none known"
        raise NotAcceptable(f"answer has no codec we offered (answered: {answered_names})")
    dtmf = None
    if any(_is_dtmf(c) for c in ours.codecs):
        dtmf = next((c for c in theirs.codecs if _is_dtmf(c)), None)
    remote_crypto, local_crypto = match_crypto(ours, theirs) if secure else (None, None)
    direction = offer_direction(connection, ours, theirs)
    return AudioAnswer(
        codec=codec,
        dtmf=dtmf,
        remote=(connection.address, theirs.port),
        direction=direction,
        ptime=theirs.ptime or 20,
        media_index=index,
        remote_crypto=remote_crypto,
        local_crypto=local_crypto,
    )
