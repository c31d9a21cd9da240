"""STUN message codec (RFC 5389 / RFC 8489) with the TURN attributes (RFC 8656)
and the TCP relay methods and CONNECTION-ID attribute (RFC 6062).

``parse`` is strict: every length, family, padding-independent size and the
FINGERPRINT are checked, and a malformed message raises :class:`StunError`
naming what is wrong. ``Message.encode`` writes a message, optionally with
MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import ipaddress
import os
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

MAGIC_COOKIE = 0x2112A442
COOKIE_BYTES = struct.pack("!I", MAGIC_COOKIE)
HEADER_LENGTH = 20
FINGERPRINT_XOR = 0x5354554E
INTEGRITY_LENGTH = 20


class StunError(ValueError):
    """A message that is not well-formed STUN."""


class Method(IntEnum):
    BINDING = 0x001
    ALLOCATE = 0x003
    REFRESH = 0x004
    SEND = 0x006
    DATA = 0x007
    CREATE_PERMISSION = 0x008
    CHANNEL_BIND = 0x009
    # RFC 6062 (TCP relay)
    CONNECT = 0x00A
    CONNECTION_BIND = 0x00B
    CONNECTION_ATTEMPT = 0x00C


class Class(IntEnum):
    REQUEST = 0x000
    INDICATION = 0x010
    SUCCESS = 0x100
    ERROR = 0x110


class Attr(IntEnum):
    MAPPED_ADDRESS = 0x0001
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    CHANNEL_NUMBER = 0x000C
    LIFETIME = 0x000D
    XOR_PEER_ADDRESS = 0x0012
    DATA = 0x0013
    REALM = 0x0014
    NONCE = 0x0015
    XOR_RELAYED_ADDRESS = 0x0016
    REQUESTED_ADDRESS_FAMILY = 0x0017
    EVEN_PORT = 0x0018
    REQUESTED_TRANSPORT = 0x0019
    DONT_FRAGMENT = 0x001A
    XOR_MAPPED_ADDRESS = 0x0020
    RESERVATION_TOKEN = 0x0022
    CONNECTION_ID = 0x002A
    PRIORITY = 0x0024
    USE_CANDIDATE = 0x0025
    SOFTWARE = 0x8022
    ALTERNATE_SERVER = 0x8023
    FINGERPRINT = 0x8028
    ICE_CONTROLLED = 0x8029
    ICE_CONTROLLING = 0x802A


ADDRESS_ATTRS = {Attr.MAPPED_ADDRESS, Attr.ALTERNATE_SERVER}
XOR_ADDRESS_ATTRS = {Attr.XOR_PEER_ADDRESS, Attr.XOR_RELAYED_ADDRESS, Attr.XOR_MAPPED_ADDRESS}
TEXT_ATTRS = {Attr.USERNAME: 513, Attr.REALM: 763, Attr.NONCE: 763, Attr.SOFTWARE: 763}
UINT32_ATTRS = {Attr.LIFETIME, Attr.PRIORITY, Attr.FINGERPRINT, Attr.CONNECTION_ID}
UINT64_ATTRS = {Attr.ICE_CONTROLLED, Attr.ICE_CONTROLLING}
FLAG_ATTRS = {Attr.DONT_FRAGMENT, Attr.USE_CANDIDATE}
#: Attributes that may appear more than once (each occurrence kept, in order).
REPEATABLE = {Attr.XOR_PEER_ADDRESS}

Address = tuple[str, int]
KNOWN_ATTRS = frozenset(int(a) for a in Attr)


def message_type(method: int, cls: int) -> int:
    return (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) | cls


def split_type(value: int) -> tuple[int, int]:
    cls = value & 0x0110
    method = (value & 0x000F) | ((value >> 1) & 0x0070) | ((value >> 2) & 0x0F80)
    return method, cls


def _pad(n: int) -> int:
    return (4 - n % 4) % 4


def is_stun(data: bytes) -> bool:
    """Quick test that ``data`` starts like a STUN message (not ChannelData)."""
    return len(data) >= HEADER_LENGTH and data[0] < 0x40 and data[4:8] == COOKIE_BYTES


def fingerprint_of(data: bytes) -> int:
    return (binascii.crc32(data) & 0xFFFFFFFF) ^ FINGERPRINT_XOR


def _with_length(data: bytes, length: int) -> bytes:
    return data[:2] + struct.pack("!H", length) + data[4:]


# -- attribute value codecs -------------------------------------------------


def _xor_bytes(tid: bytes, family: int) -> bytes:
    return COOKIE_BYTES + tid if family == 2 else COOKIE_BYTES


def decode_address(value: bytes, tid: bytes | None) -> Address:
    """(MAPPED|XOR-*)-ADDRESS; ``tid`` given means XOR'ed with cookie and transaction id."""
    if len(value) < 4:
        raise StunError(f"address attribute too short ({len(value)} bytes)")
    family = value[1]
    if family == 1:
        size = 4
    elif family == 2:
        size = 16
    else:
        raise StunError(f"unknown address family {family:#x}")
    if len(value) != 4 + size:
        raise StunError(f"address attribute of family {family} has {len(value)} bytes, not {4 + size}")
    port = struct.unpack("!H", value[2:4])[0]
    raw = value[4:]
    if tid is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = bytes(a ^ b for a, b in zip(raw, _xor_bytes(tid, family), strict=False))
    host = str(ipaddress.ip_address(raw))
    return host, port


def encode_address(addr: Address, tid: bytes | None) -> bytes:
    ip = ipaddress.ip_address(addr[0])
    family = 1 if ip.version == 4 else 2
    port = addr[1]
    raw = ip.packed
    if tid is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = bytes(a ^ b for a, b in zip(raw, _xor_bytes(tid, family), strict=False))
    return struct.pack("!BBH", 0, family, port) + raw


def _exact(attr: Attr, value: bytes, size: int) -> None:
    if len(value) != size:
        raise StunError(f"{attr.name} must be {size} bytes, got {len(value)}")


def decode_value(attr: int, value: bytes, tid: bytes) -> Any:
    """The Python value of one attribute; unknown types stay raw bytes."""
    try:
        kind = Attr(attr)
    except ValueError:
        return value
    if kind in XOR_ADDRESS_ATTRS:
        return decode_address(value, tid)
    if kind in ADDRESS_ATTRS:
        return decode_address(value, None)
    if kind in TEXT_ATTRS:
        if len(value) > TEXT_ATTRS[kind]:
            raise StunError(f"{kind.name} longer than {TEXT_ATTRS[kind]} bytes")
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise StunError(f"{kind.name} is not valid UTF-8") from None
    if kind in UINT32_ATTRS:
        _exact(kind, value, 4)
        return struct.unpack("!I", value)[0]
    if kind in UINT64_ATTRS:
        _exact(kind, value, 8)
        return struct.unpack("!Q", value)[0]
    if kind in FLAG_ATTRS:
        _exact(kind, value, 0)
        return True
    if kind == Attr.MESSAGE_INTEGRITY:
        _exact(kind, value, INTEGRITY_LENGTH)
        return value
    if kind == Attr.ERROR_CODE:
        if len(value) < 4:
            raise StunError("ERROR-CODE shorter than 4 bytes")
        code = (value[2] & 0x07) * 100 + value[3]
        if not 300 <= code <= 699 or value[3] > 99:
            raise StunError(f"ERROR-CODE value {code} out of range")
        try:
            return code, value[4:].decode("utf-8")
        except UnicodeDecodeError:
            raise StunError("ERROR-CODE reason is not valid UTF-8") from None
    if kind == Attr.UNKNOWN_ATTRIBUTES:
        if len(value) % 2:
            raise StunError("UNKNOWN-ATTRIBUTES length is odd")
        return list(struct.unpack(f"!{len(value) // 2}H", value))
    if kind == Attr.CHANNEL_NUMBER:
        _exact(kind, value, 4)
        return struct.unpack("!H", value[:2])[0]
    if kind == Attr.REQUESTED_TRANSPORT:
        _exact(kind, value, 4)
        return value[0]
    if kind == Attr.REQUESTED_ADDRESS_FAMILY:
        _exact(kind, value, 4)
        return value[0]
    if kind == Attr.EVEN_PORT:
        _exact(kind, value, 1)
        return bool(value[0] & 0x80)
    if kind == Attr.RESERVATION_TOKEN:
        _exact(kind, value, 8)
        return value
    return value  # DATA


def encode_value(attr: int, value: Any, tid: bytes) -> bytes:
    try:
        kind = Attr(attr)
    except ValueError:
        return bytes(value)
    if kind in XOR_ADDRESS_ATTRS:
        return encode_address(value, tid)
    if kind in ADDRESS_ATTRS:
        return encode_address(value, None)
    if kind in TEXT_ATTRS:
        return str(value).encode("utf-8")
    if kind in UINT32_ATTRS:
        return struct.pack("!I", value)
    if kind in UINT64_ATTRS:
        return struct.pack("!Q", value)
    if kind in FLAG_ATTRS:
        return b""
    if kind == Attr.ERROR_CODE:
        code, reason = value
        return struct.pack("!HBB", 0, code // 100, code % 100) + str(reason).encode("utf-8")
    if kind == Attr.UNKNOWN_ATTRIBUTES:
        return struct.pack(f"!{len(value)}H", *value)
    if kind == Attr.CHANNEL_NUMBER:
        return struct.pack("!HH", value, 0)
    if kind in (Attr.REQUESTED_TRANSPORT, Attr.REQUESTED_ADDRESS_FAMILY):
        return struct.pack("!B3x", value)
    if kind == Attr.EVEN_PORT:
        return b"\x80" if value else b"\x00"
    return bytes(value)


# -- messages ---------------------------------------------------------------


@dataclass
class Message:
    method: int
    cls: int
    transaction_id: bytes = field(default_factory=lambda: os.urandom(12))
    attributes: dict[int, Any] = field(default_factory=dict)
    #: Values of repeatable attributes beyond the first (XOR-PEER-ADDRESS).
    extra: dict[int, list[Any]] = field(default_factory=dict)
    #: Comprehension-required attribute types this codec does not know.
    unknown_required: list[int] = field(default_factory=list)
    #: The bytes this message was parsed from, and where MESSAGE-INTEGRITY starts.
    raw: bytes = b""
    integrity_offset: int | None = None

    def get(self, attr: int, default: Any = None) -> Any:
        return self.attributes.get(attr, default)

    def all(self, attr: int) -> list[Any]:
        if attr not in self.attributes:
            return []
        return [self.attributes[attr], *self.extra.get(attr, [])]

    def __contains__(self, attr: int) -> bool:
        return attr in self.attributes

    def encode(
        self, integrity_key: bytes | None = None, fingerprint: bool = False, padding: int = 0
    ) -> bytes:
        """The wire form; attribute padding bytes are ``padding`` (any value is valid)."""
        body = bytearray()
        items = list(self.attributes.items())
        items += [(a, v) for a, vs in self.extra.items() for v in vs]
        for attr, value in items:
            if attr in (Attr.MESSAGE_INTEGRITY, Attr.FINGERPRINT):
                continue
            raw = encode_value(attr, value, self.transaction_id)
            body += struct.pack("!HH", attr, len(raw)) + raw + bytes([padding]) * _pad(len(raw))
        head = struct.pack("!HH", message_type(self.method, self.cls), 0) + COOKIE_BYTES
        data = head + self.transaction_id + bytes(body)
        if integrity_key is not None:
            data = _with_length(data, len(body) + 24)
            mac = hmac.new(integrity_key, data, hashlib.sha1).digest()
            data += struct.pack("!HH", Attr.MESSAGE_INTEGRITY, INTEGRITY_LENGTH) + mac
        if fingerprint:
            data = _with_length(data, len(data) - HEADER_LENGTH + 8)
            data += struct.pack("!HHI", Attr.FINGERPRINT, 4, fingerprint_of(data))
        return _with_length(data, len(data) - HEADER_LENGTH)

    def check_integrity(self, key: bytes) -> bool:
        """True if the parsed MESSAGE-INTEGRITY is the HMAC-SHA1 of the message under ``key``."""
        if self.integrity_offset is None:
            return False
        start = self.integrity_offset
        signed = _with_length(self.raw[:start], start - HEADER_LENGTH + 24)
        expected = hmac.new(key, signed, hashlib.sha1).digest()
        return hmac.compare_digest(expected, self.raw[start + 4 : start + 24])


def parse(data: bytes) -> Message:
    """Decode one STUN message, strictly; raises :class:`StunError`."""
    if len(data) < HEADER_LENGTH:
        raise StunError(f"message too short ({len(data)} bytes, header is 20)")
    mtype, length = struct.unpack("!HH", data[:4])
    if mtype & 0xC000:
        raise StunError("the two most significant bits of a STUN message must be zero")
    if data[4:8] != COOKIE_BYTES:
        raise StunError("bad magic cookie")
    if length % 4:
        raise StunError(f"message length {length} is not a multiple of 4")
    if HEADER_LENGTH + length != len(data):
        raise StunError(f"message length field says {length} bytes but {len(data) - 20} follow")
    method, cls = split_type(mtype)
    msg = Message(method, cls, bytes(data[8:20]), raw=bytes(data))
    pos = HEADER_LENGTH
    after_integrity = False
    while pos < len(data):
        if pos + 4 > len(data):
            raise StunError("truncated attribute header")
        attr, alen = struct.unpack("!HH", data[pos : pos + 4])
        start = pos + 4
        end = start + alen
        if end > len(data):
            raise StunError(f"attribute {attr:#06x} of {alen} bytes overruns the message")
        value = bytes(data[start:end])
        if msg.attributes.get(Attr.FINGERPRINT) is not None:
            raise StunError("attribute after FINGERPRINT")
        if attr == Attr.FINGERPRINT:
            decoded = decode_value(attr, value, msg.transaction_id)
            if decoded != fingerprint_of(_with_length(data[:pos], end - HEADER_LENGTH)):
                raise StunError("FINGERPRINT does not match")
            msg.attributes[attr] = decoded
        elif not after_integrity:
            decoded = decode_value(attr, value, msg.transaction_id)
            if attr == Attr.MESSAGE_INTEGRITY:
                msg.integrity_offset = pos
                after_integrity = True
            if attr in msg.attributes:
                if attr in REPEATABLE:
                    msg.extra.setdefault(attr, []).append(decoded)
            else:
                msg.attributes[attr] = decoded
            if attr < 0x8000 and attr not in KNOWN_ATTRS:
                msg.unknown_required.append(attr)
        pos = end + _pad(alen)
        if pos > len(data):
            raise StunError("attribute padding overruns the message")
    return msg


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """MD5(username ":" realm ":" password), the RFC 5389 long-term key."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()


# -- ChannelData (RFC 8656 section 12.4) -------------------------------------

CHANNEL_MIN = 0x4000
#: RFC 8656 narrowed channels to 0x4000-0x4FFF; RFC 5766 clients (coturn's) use up to 0x7FFF.
CHANNEL_MAX = 0x7FFF


def is_channel_data(data: bytes) -> bool:
    return len(data) >= 4 and 0x40 <= data[0] <= 0x7F


def parse_channel_data(data: bytes) -> tuple[int, bytes]:
    if len(data) < 4:
        raise StunError("ChannelData shorter than its 4-byte header")
    channel, length = struct.unpack("!HH", data[:4])
    if not CHANNEL_MIN <= channel <= CHANNEL_MAX:
        raise StunError(f"channel number {channel:#06x} outside 0x4000-0x7FFF")
    if 4 + length > len(data):
        raise StunError(f"ChannelData says {length} bytes but {len(data) - 4} follow")
    return channel, bytes(data[4 : 4 + length])


def encode_channel_data(channel: int, payload: bytes, pad: bool = False) -> bytes:
    head = struct.pack("!HH", channel, len(payload))
    return head + payload + (b"\x00" * _pad(len(payload)) if pad else b"")


def framed_length(head: bytes) -> int | None:
    """Length of a STUN message or ChannelData on a stream (RFC 8656 section 12.5), from 4 bytes."""
    if len(head) < 4:
        return None
    first, length = struct.unpack("!HH", head[:4])
    if CHANNEL_MIN <= first <= CHANNEL_MAX:
        return 4 + int(length) + _pad(length)
    if first & 0xC000:
        raise StunError("stream carries neither STUN nor ChannelData")
    return HEADER_LENGTH + int(length)
