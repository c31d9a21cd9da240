"""SIP messages (RFC 3261 section 7): requests, responses, headers, and their wire form.

``parse_datagram`` reads one message from a UDP datagram; ``StreamParser`` frames
messages on a TCP or TLS byte stream by Content-Length (RFC 3261 18.3). Both enforce
size limits and the mandatory headers of 8.1.1 and raise :class:`SipParseError` with
the response status a server should answer (400, 413, 414, 505, ...), or ``None``
when the input is not worth answering (garbage that is not SIP at all).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from moot.sip.headers import CSeq, HeaderError, NameAddr, Via, split_outside_quotes
from moot.sip.uri import MAX_URI_LENGTH, SipUri, UriError

#: Largest message accepted (a UDP datagram cannot carry more than this anyway).
MAX_MESSAGE_SIZE = 65_535
#: Largest header section (start line and headers).
MAX_HEADER_SECTION = 16_384
#: Longest single header line after unfolding.
MAX_HEADER_LINE = 8_192
#: Most header lines in one message.
MAX_HEADERS = 128
#: Largest body.
MAX_BODY = 32_768

#: RFC 3261 7.3.3 compact forms (and their successors' registered ones).
COMPACT_FORMS = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To",
    "v": "Via", "o": "Event", "r": "Refer-To", "u": "Allow-Events", "x": "Session-Expires",
    "b": "Referred-By", "a": "Accept-Contact", "j": "Reject-Contact",
    "d": "Request-Disposition", "y": "Identity", "n": "Identity-Info",
}
#: Canonical spelling of the headers Moot reads or writes (others keep their spelling).
_CANONICAL = {name.lower(): name for name in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length",
    "Content-Type", "Content-Encoding", "Route", "Record-Route", "Allow", "Supported",
    "Require", "Proxy-Require", "Unsupported", "Session-Expires", "Min-SE", "Accept",
    "User-Agent", "Server", "Expires", "Retry-After", "Reason", "Warning", "Event",
    "Subscription-State", "Refer-To", "Referred-By", "WWW-Authenticate", "Authorization",
    "Proxy-Authenticate", "Proxy-Authorization", "Allow-Events", "Subject", "Date",
    "Timestamp", "Organization", "Priority", "RSeq", "RAck", "P-Asserted-Identity",
)}
_CANONICAL["cseq"] = "CSeq"
_CANONICAL["call-id"] = "Call-ID"
_CANONICAL["www-authenticate"] = "WWW-Authenticate"
_CANONICAL["rseq"] = "RSeq"
_CANONICAL["rack"] = "RAck"
#: Headers whose values are comma-separated lists (RFC 3261 7.3.1).
LIST_HEADERS = frozenset({
    "Via", "Contact", "Route", "Record-Route", "Allow", "Supported", "Require",
    "Proxy-Require", "Unsupported", "Accept", "Allow-Events", "Content-Encoding",
})
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
#: Control characters a header value may not hold (HTAB is allowed, CR/LF were unfolded).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_STATUS_LINE = re.compile(r"^SIP/(\d+\.\d+) (\d{3}) ?(.*)$")
_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")


class SipParseError(ValueError):
    """A message that cannot be accepted.

    ``status`` is the response a server sends back (if it can: it needs the Via,
    From, To, Call-ID and CSeq), or None when the input is to be dropped silently.
    """

    def __init__(self, reason: str, status: int | None = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def canonical_name(name: str) -> str:
    name = name.strip()
    lower = name.lower()
    if lower in COMPACT_FORMS:
        return COMPACT_FORMS[lower]
    return _CANONICAL.get(lower, name)


class Headers:
    """Ordered header fields; names compare case-insensitively and compact forms expand."""

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in items or []:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every field of this name by one (appended where the first one was)."""
        name = canonical_name(name)
        for i, (n, _) in enumerate(self._items):
            if n.lower() == name.lower():
                self._items[i] = (name, value)
                self._items = [it for j, it in enumerate(self._items) if j <= i or it[0].lower() != name.lower()]
                return
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        lower = canonical_name(name).lower()
        self._items = [it for it in self._items if it[0].lower() != lower]

    def get(self, name: str, default: str | None = None) -> str | None:
        lower = canonical_name(name).lower()
        for n, v in self._items:
            if n.lower() == lower:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of the header; list headers are split at their commas."""
        canonical = canonical_name(name)
        lower = canonical.lower()
        values: list[str] = []
        for n, v in self._items:
            if n.lower() != lower:
                continue
            if canonical in LIST_HEADERS:
                values.extend(p.strip() for p in split_outside_quotes(v, ",") if p.strip())
            else:
                values.append(v)
        return values

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> Headers:
        h = Headers()
        h._items = list(self._items)
        return h


@dataclass
class Message:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    # typed access to the headers every message has ----------------------------------
    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> CSeq:
        return CSeq.parse(self.headers.get("CSeq") or "")

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        return Via.parse(self.headers.get_all("Via")[0])

    @property
    def from_(self) -> NameAddr:
        return NameAddr.parse(self.headers.get("From") or "")

    @property
    def to(self) -> NameAddr:
        return NameAddr.parse(self.headers.get("To") or "")

    @property
    def contact(self) -> NameAddr | None:
        values = self.headers.get_all("Contact")
        if not values or values[0].strip() == "*":
            return None
        return NameAddr.parse(values[0])

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def start_line(self) -> str:
        raise NotImplementedError

    def encode(self) -> bytes:
        """The wire form; Content-Length is always (re)written to match the body."""
        lines = [self.start_line()]
        for name, value in self.headers:
            if name != "Content-Length":
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body

    def __bytes__(self) -> bytes:
        return self.encode()


@dataclass
class Request(Message):
    method: str = "OPTIONS"
    uri: SipUri = field(default_factory=SipUri)

    def start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"


@dataclass
class Response(Message):
    status: int = 200
    reason: str = "OK"

    def start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"


#: Reason phrases of the responses Moot sends.
REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 183: "Session Progress",
    200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    408: "Request Timeout", 413: "Request Entity Too Large", 414: "Request-URI Too Long",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    421: "Extension Required", 422: "Session Interval Too Small",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
    500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable",
    504: "Server Time-out", 505: "Version Not Supported", 513: "Message Too Large",
    600: "Busy Everywhere", 603: "Decline",
}


def make_response(request: Request, status: int, reason: str | None = None, *,
                  to_tag: str | None = None, body: bytes = b"",
                  extra: list[tuple[str, str]] | None = None) -> Response:
    """A response to ``request`` (RFC 3261 8.2.6.2): Via, From, To, Call-ID, CSeq copied."""
    headers = Headers()
    for value in request.headers.get_all("Via"):
        headers.add("Via", value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        copied = request.headers.get(name)
        if copied is not None:
            headers.add(name, copied)
    if to_tag and status != 100:
        to = request.headers.get("To") or ""
        if ";tag=" not in to.replace(" ", "").lower():
            headers.set("To", f"{to};tag={to_tag}")
    for name, value in extra or []:
        headers.add(name, value)
    return Response(headers=headers, body=body, status=status,
                    reason=reason or REASONS.get(status, "Unknown"))


# parsing --------------------------------------------------------------------------------
def parse_datagram(data: bytes) -> Request | Response:
    """One message from a UDP datagram (RFC 3261 18.3: extra bytes after the body are dropped)."""
    if len(data) > MAX_MESSAGE_SIZE:
        raise SipParseError("message too large", 513)
    end = data.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end = data.find(b"\n\n")
        sep = 2
    if end < 0:
        raise SipParseError("no blank line after the headers", _status_if_sip(data))
    message = _parse_head(data[:end])
    body = data[end + sep :]
    length = _content_length(message, required=False)
    if length is None:
        length = len(body)
    if length > len(body):
        raise SipParseError(f"Content-Length {length} larger than the {len(body)} bytes received")
    message.body = body[:length]
    _check_mandatory(message)
    return message


class StreamParser:
    """Frames messages on a stream transport; keep-alive CRLFs (RFC 5626) are skipped."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.keepalives = 0

    def feed(self, data: bytes) -> list[Request | Response]:
        """Messages completed by ``data``; raises SipParseError when the stream is broken
        (the connection must then be closed: framing cannot be recovered)."""
        self._buffer += data
        out: list[Request | Response] = []
        while True:
            while self._buffer[:2] == b"\r\n":
                if self._buffer[:4] == b"\r\n\r\n":
                    self.keepalives += 1
                    del self._buffer[:4]
                else:
                    del self._buffer[:2]
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_SECTION:
                    raise SipParseError("header section too large", _status_if_sip(bytes(self._buffer)))
                return out
            message = _parse_head(bytes(self._buffer[:end]))
            length = _content_length(message, required=True)
            assert length is not None
            if length > MAX_BODY:
                raise SipParseError("body too large", 413)
            total = end + 4 + length
            if len(self._buffer) < total:
                return out
            message.body = bytes(self._buffer[end + 4 : total])
            del self._buffer[:total]
            _check_mandatory(message)
            out.append(message)


def _status_if_sip(data: bytes) -> int | None:
    first = data.split(b"\n", 1)[0]
    return 400 if b"SIP/2.0" in first else None


def _parse_head(head: bytes) -> Request | Response:
    if len(head) > MAX_HEADER_SECTION:
        raise SipParseError("header section too large", 413 if b"SIP/2.0" in head[:200] else None)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("headers are not UTF-8", _status_if_sip(head)) from None
    raw_lines = text.replace("\r\n", "\n").split("\n")
    start, raw_lines = raw_lines[0].strip(), raw_lines[1:]
    message = _start_line(start)
    lines: list[str] = []
    for raw in raw_lines:
        if raw[:1] in (" ", "\t"):
            if not lines:
                raise SipParseError("continuation line before any header")
            lines[-1] += " " + raw.strip()
        else:
            lines.append(raw)
        if len(lines[-1]) > MAX_HEADER_LINE:
            raise SipParseError("header line too long", 400)
    if len(lines) > MAX_HEADERS:
        raise SipParseError(f"more than {MAX_HEADERS} header lines")
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.match(name.strip()):
            raise SipParseError(f"malformed header line {line[:60]!r}")
        if _CONTROL.search(value):
            raise SipParseError(f"control character in the {name.strip()} header")
        message.headers.add(name, value.strip())
    return message


def _start_line(line: str) -> Request | Response:
    if line.startswith("SIP/"):
        match = _STATUS_LINE.match(line)
        if not match:
            raise SipParseError(f"malformed status line {line[:60]!r}", None)
        if match.group(1) != "2.0":
            raise SipParseError(f"SIP version {match.group(1)} not supported", None)
        status = int(match.group(2))
        if not 100 <= status <= 699:
            raise SipParseError(f"status code {status} out of range", None)
        return Response(status=status, reason=match.group(3))
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError(f"malformed request line {line[:60]!r}", _status_if_sip(line.encode()))
    method, uri_text, version = parts
    if not version.startswith("SIP/"):
        raise SipParseError("not a SIP request", None)
    if version != "SIP/2.0":
        raise SipParseError(f"{version} not supported", 505)
    if not _TOKEN.match(method):
        raise SipParseError(f"method {method[:20]!r} is not a token")
    if len(uri_text) > MAX_URI_LENGTH:
        raise SipParseError("Request-URI too long", 414)
    try:
        uri = SipUri.parse(uri_text)
    except UriError as exc:
        status = 416 if ":" in uri_text and uri_text.split(":", 1)[0].lower() not in ("sip", "sips", "tel") else 400
        raise SipParseError(f"Request-URI: {exc}", status) from None
    return Request(method=method, uri=uri)


def _content_length(message: Message, *, required: bool) -> int | None:
    values = [v for n, v in message.headers if n == "Content-Length"]
    if not values:
        if required:
            raise SipParseError("Content-Length is required on stream transports")
        return None
    if len(set(values)) > 1:
        raise SipParseError("conflicting Content-Length headers")
    text = values[0].strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise SipParseError(f"invalid Content-Length {text[:20]!r}")
    return int(text)


def _check_mandatory(message: Request | Response) -> None:
    status = 400 if isinstance(message, Request) else None
    for name in _MANDATORY:
        if not message.headers.get(name):
            raise SipParseError(f"Missing {name} header", status if name != "Via" else None)
    try:
        message.top_via  # noqa: B018 - parsed for validation
    except HeaderError as exc:
        raise SipParseError(str(exc), None) from None  # nowhere to send a response
    try:
        cseq = message.cseq
        message.from_  # noqa: B018
        message.to  # noqa: B018
    except HeaderError as exc:
        raise SipParseError(str(exc), status) from None
    if isinstance(message, Request):
        if cseq.method != message.method:
            raise SipParseError("CSeq method does not match the request method")
        forwards = message.headers.get("Max-Forwards")
        if forwards is not None and (not forwards.strip().isdigit() or int(forwards) > 255):
            raise SipParseError("invalid Max-Forwards")
        if len(message.body) > MAX_BODY:
            raise SipParseError("body too large", 413)
