"""Structured SIP header values: Via, name-addr (From/To/Contact/Route), CSeq.

Each type parses from the header's text and prints back to it. Parsing errors raise
:class:`HeaderError` naming the header, which the message layer turns into a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from moot.sip.uri import SipUri, UriError, parse_host_port

#: Largest CSeq sequence number (RFC 3261 8.1.1.5: less than 2**31).
MAX_CSEQ = 2**31 - 1
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")


class HeaderError(ValueError):
    """A header value that cannot be parsed."""


def split_params(text: str) -> tuple[str, dict[str, str | None]]:
    """Split ``value;name=v;flag`` into the value and its parameters (quotes respected)."""
    parts = split_outside_quotes(text, ";")
    params: dict[str, str | None] = {}
    for item in parts[1:]:
        name, eq, value = item.partition("=")
        name = name.strip().lower()
        if not name:
            continue
        params[name] = value.strip() if eq else None
    return parts[0].strip(), params


def split_outside_quotes(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not inside "quotes" or <angle brackets>."""
    if '"' not in text and "<" not in text:
        return text.split(sep)
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0:
            out.append(text[start:i])
            start = i + 1
        i += 1
    if quoted:
        raise HeaderError("unterminated quoted string")
    out.append(text[start:])
    return out


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass
class Via:
    """``SIP/2.0/UDP host:port;branch=z9hG4bK...;rport;received=...``."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        value, params = split_params(text)
        value = re.sub(r"\s*/\s*", "/", value.strip())  # "SIP / 2.0 / UDP" is allowed (25.1)
        proto, _, sent_by = value.partition(" ")
        pieces = [p.strip() for p in proto.split("/")]
        if len(pieces) != 3 or pieces[0].upper() != "SIP" or pieces[1] != "2.0" or not pieces[2]:
            raise HeaderError(f"Via protocol {proto[:40]!r} is not SIP/2.0/<transport>")
        try:
            host, port = parse_host_port(sent_by)
        except UriError as exc:
            raise HeaderError(f"Via sent-by: {exc}") from None
        return cls(pieces[2].upper(), host, port, params)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    def __str__(self) -> str:
        sent_by = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"SIP/2.0/{self.transport} {sent_by}{format_params(self.params)}"


@dataclass
class NameAddr:
    """``"Display" <sip:user@host>;tag=abc`` (From, To, Contact, Route, Record-Route)."""

    uri: SipUri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip()
        display: str | None = None
        if "<" in text:
            head, _, rest = text.partition("<")
            uri_text, close, tail = rest.partition(">")
            if not close:
                raise HeaderError("'<' without '>'")
            head = head.strip()
            if head.startswith('"'):
                if len(head) < 2 or not head.endswith('"'):
                    raise HeaderError("unterminated display name")
                display = head[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            elif head:
                display = head
            _, params = split_params(";" + tail.lstrip(";") if tail.strip() else "")
        else:
            # addr-spec form: parameters after the URI belong to the header, not the URI.
            uri_text, params = split_params(text)
        try:
            uri = SipUri.parse(uri_text)
        except UriError as exc:
            raise HeaderError(str(exc)) from None
        return cls(uri, display, params)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        display = ""
        if self.display:
            escaped = self.display.replace("\\", "\\\\").replace('"', '\\"')
            display = f'"{escaped}" '
        return f"{display}<{self.uri}>{format_params(self.params)}"


@dataclass(frozen=True)
class CSeq:
    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit():
            raise HeaderError(f"CSeq {text[:40]!r} is not '<number> <method>'")
        number = int(parts[0])
        if number > MAX_CSEQ:
            raise HeaderError("CSeq number larger than 2**31-1")
        if not _TOKEN.match(parts[1]):
            raise HeaderError(f"CSeq method {parts[1][:20]!r} is not a token")
        return cls(number, parts[1])

    def __str__(self) -> str:
        return f"{self.number} {self.method}"
