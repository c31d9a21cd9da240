"""SIP transports (RFC 3261 section 18): UDP, TCP and TLS listeners and connections.

The transport layer reads messages (``parse_datagram`` for UDP, ``StreamParser`` framing
by Content-Length on TCP and TLS) and hands each one with its :class:`Source` to the
endpoint. It sends bytes on a *flow*: the UDP socket and a remote address, or one stream
connection. Connections are reused in both directions: a request to an address that
already has a connection (opened by either side) goes on it, and responses go back on the
connection the request came on (18.2.2).

Malformed input never leaves this module as an exception: a message that cannot be parsed
is answered statelessly with :attr:`SipParseError.status` when its raw Via and CSeq can
be found (the response is built by hand from the raw header lines), otherwise dropped; a
stream whose framing is broken is closed, and only that stream. Connections are limited
in number, closed after an idle timeout, and TLS handshakes have a deadline, so a peer
that sends garbage or nothing cannot disturb others.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import secrets
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from moot.sip.message import (
    COMPACT_FORMS,
    REASONS,
    Request,
    Response,
    SipParseError,
    StreamParser,
    parse_datagram,
)

logger = logging.getLogger("moot.sip.transport")

Address = tuple[str, int]
TRANSPORTS = ("UDP", "TCP", "TLS")
STREAM_TRANSPORTS = frozenset({"TCP", "TLS"})
#: RFC 3261 19.1.2: 5060 for sip over UDP and TCP, 5061 for TLS.
DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061}
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


class TransportError(Exception):
    """A message could not be sent: no listener for the transport, the connection is gone,
    the connection attempt failed or timed out (the transaction layer turns it into 503)."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message came from: the transport, the peer's and our address (a *flow*)."""

    transport: str
    remote: Address
    local: Address

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"


class Target(NamedTuple):
    """Where to send a request: ``(transport, host, port)`` as RFC 3263 resolution gives it."""

    transport: str
    host: str
    port: int


def normalize_target(target: tuple[str, str, int]) -> Target:
    """Upper-case transport, IPv6 brackets removed, default port for 0."""
    transport, host, port = target
    transport = transport.upper()
    if transport not in TRANSPORTS:
        raise TransportError(f"unsupported transport {transport!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return Target(transport, host, port or DEFAULT_PORTS[transport])


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return False
    return True


def format_host(host: str) -> str:
    """A host as written in URIs and Via: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


MessageCallback = Callable[[Request | Response, Source], None]
ClosedCallback = Callable[[Source], None]


@dataclass
class Listener:
    transport: str
    address: Address
    advertise: str | None
    server: asyncio.AbstractServer | None = None
    udp: asyncio.DatagramTransport | None = None
    ssl_context: ssl.SSLContext | None = None

    @property
    def wildcard(self) -> bool:
        return self.address[0] in _WILDCARDS


class Transports:
    """Every listener and connection of one endpoint.

    ``on_message`` receives each parsed message with its source; it must not raise (the
    layer logs and swallows what it does raise). ``on_closed`` is told when a stream flow
    closes, so transactions waiting on it can fail at once.
    """

    def __init__(
        self,
        on_message: MessageCallback,
        *,
        on_closed: ClosedCallback | None = None,
        max_connections: int = 1024,
        idle_timeout: float = 900.0,
        handshake_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        max_write_buffer: int = 1 << 20,
        tls_client_context: ssl.SSLContext | None = None,
    ) -> None:
        self.on_message = on_message
        self.on_closed = on_closed
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.handshake_timeout = handshake_timeout
        self.connect_timeout = connect_timeout
        self.max_write_buffer = max_write_buffer
        self.tls_client_context = tls_client_context
        self.listeners: list[Listener] = []
        #: Open stream connections by flow, and by (transport, remote address) for reuse.
        self.connections: dict[Source, StreamConnection] = {}
        self._by_remote: dict[tuple[str, Address], StreamConnection] = {}
        self._udp: dict[Address, asyncio.DatagramTransport] = {}
        self._connecting: dict[tuple[str, Address], asyncio.Future[Source]] = {}
        self._local_ip_cache: dict[str, str] = {}
        #: Names to verify TLS servers against, by address (filled by RFC 3263 resolution).
        self.tls_names: dict[Address, str] = {}
        self.closed = False
        self.stats = {"parse_errors": 0, "stateless_responses": 0, "rejected_connections": 0}

    # listening -------------------------------------------------------------------------
    async def listen(
        self,
        transport: str,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        *,
        advertise: str | None = None,
    ) -> Address:
        """Listen on ``host:port`` (0 picks a free port); returns the bound address."""
        transport = transport.upper()
        if transport not in TRANSPORTS:
            raise ValueError(f"unsupported transport {transport!r}")
        if transport == "TLS" and ssl_context is None:
            raise ValueError("a TLS listener needs an ssl_context")
        loop = asyncio.get_running_loop()
        if transport == "UDP":
            local_holder: list[Address] = []
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self, local_holder), local_addr=(host, port)
            )
            name = udp.get_extra_info("sockname")
            address: Address = (name[0], name[1])
            local_holder.append(address)
            with contextlib.suppress(OSError, AttributeError):
                sock = udp.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
            self._udp[address] = udp
            listener = Listener(transport, address, advertise, udp=udp)
        else:
            ctx = ssl_context if transport == "TLS" else None
            server = await loop.create_server(
                lambda: StreamConnection(self, transport, inbound=True),
                host,
                port,
                ssl=ctx,
                ssl_handshake_timeout=self.handshake_timeout if ctx else None,
                backlog=512,
            )
            name = server.sockets[0].getsockname()
            address = (name[0], name[1])
            listener = Listener(transport, address, advertise, server=server, ssl_context=ctx)
        self.listeners.append(listener)
        return address

    def listener_for(self, transport: str, local: Address | None = None) -> Listener | None:
        """The listener of ``transport`` (the one bound to ``local`` when given)."""
        first: Listener | None = None
        for item in self.listeners:
            if item.transport != transport:
                continue
            if local is None or item.address == local:
                return item
            if first is None:
                first = item
        return first

    def advertised_host(self, listener: Listener, toward: str | None = None) -> str:
        """The host to put in Via and Contact for ``listener``."""
        if listener.advertise:
            return listener.advertise
        if not listener.wildcard:
            return listener.address[0]
        return self.local_ip_toward(toward or "192.0.2.1", ipv6=":" in listener.address[0])

    def local_ip_toward(self, remote: str, *, ipv6: bool = False) -> str:
        """Our source address toward ``remote`` (a connected UDP socket sends nothing)."""
        cached = self._local_ip_cache.get(remote)
        if cached:
            return cached
        family = socket.AF_INET6 if ":" in remote or ipv6 else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((remote, 9))
                local = str(sock.getsockname()[0])
        except OSError:
            local = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        if len(self._local_ip_cache) < 1024:
            self._local_ip_cache[remote] = local
        return local

    # sending ---------------------------------------------------------------------------
    def send(self, flow: Source, data: bytes) -> None:
        """Send on a flow; raises :class:`TransportError` when it no longer exists."""
        if flow.transport == "UDP":
            udp = self._udp.get(flow.local)
            if udp is None or udp.is_closing():
                raise TransportError(f"no UDP socket on {flow.local}")
            udp.sendto(data, flow.remote)
            return
        conn = self.connections.get(flow)
        if conn is None:
            raise TransportError(f"{flow.transport} connection to {flow.remote} is closed")
        conn.send(data)

    def is_open(self, flow: Source) -> bool:
        if flow.transport == "UDP":
            return flow.local in self._udp
        return flow in self.connections

    def find_flow(self, transport: str, remote: Address) -> Source | None:
        """An open stream connection to ``remote`` (or a UDP flow from our first socket)."""
        if transport == "UDP":
            listener = self._udp_listener_for(remote[0])
            return Source("UDP", remote, listener.address) if listener else None
        conn = self._by_remote.get((transport, remote))
        return conn.source if conn is not None else None

    def add_alias(self, flow: Source, address: Address) -> None:
        """RFC 5923: the peer's advertised ``address`` is reachable on this connection."""
        conn = self.connections.get(flow)
        if conn is not None and (flow.transport, address) not in self._by_remote:
            self._by_remote[(flow.transport, address)] = conn
            conn.aliases.append(address)

    async def connect(self, target: Target) -> Source:
        """A flow to ``target``: UDP at once, an existing connection, or a new one."""
        transport, host, port = target
        if not is_ip_literal(host):
            raise TransportError(f"{host!r} is not an IP address (resolve it first)")
        remote: Address = (host, port)
        if transport == "UDP":
            listener = self._udp_listener_for(host)
            if listener is None:
                raise TransportError("no UDP listener to send from")
            return Source("UDP", remote, listener.address)
        key = (transport, remote)
        conn = self._by_remote.get(key)
        if conn is not None and conn.source is not None and not conn.closed:
            return conn.source
        pending = self._connecting.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Source] = loop.create_future()
        self._connecting[key] = future
        try:
            source = await self._open(transport, remote)
        except BaseException as exc:
            error = exc if isinstance(exc, TransportError) else TransportError(str(exc))
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: waiters get it through shield
            raise error from None
        else:
            future.set_result(source)
            return source
        finally:
            self._connecting.pop(key, None)

    async def _open(self, transport: str, remote: Address) -> Source:
        if self.closed:
            raise TransportError("transport layer closed")
        if len(self.connections) >= self.max_connections:
            raise TransportError("connection limit reached")
        loop = asyncio.get_running_loop()
        ctx: ssl.SSLContext | None = None
        server_name: str | None = None
        if transport == "TLS":
            if self.tls_client_context is None:
                self.tls_client_context = ssl.create_default_context()
            ctx = self.tls_client_context
            server_name = self.tls_names.get(remote, remote[0])
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(
                    lambda: StreamConnection(self, transport, inbound=False),
                    remote[0],
                    remote[1],
                    ssl=ctx,
                    server_hostname=server_name,
                    ssl_handshake_timeout=self.handshake_timeout if ctx else None,
                ),
                self.connect_timeout,
            )
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            raise TransportError(f"{transport} connection to {remote} failed: {exc}") from None
        source = proto.source
        if source is None or proto.closed:
            raise TransportError(f"{transport} connection to {remote} closed at once")
        return source

    def _udp_listener_for(self, host: str) -> Listener | None:
        want_v6 = ":" in host
        fallback: Listener | None = None
        for item in self.listeners:
            if item.transport == "UDP":
                if (":" in item.address[0]) == want_v6:
                    return item
                fallback = fallback or item
        return fallback

    # incoming --------------------------------------------------------------------------
    def deliver(self, message: Request | Response, source: Source) -> None:
        try:
            self.on_message(message, source)
        except Exception:  # a bug upstream must not stop the transport
            logger.exception("error handling %s from %s", _describe(message), source)

    def parse_failed(self, raw: bytes, error: SipParseError, source: Source) -> None:
        """Answer a message that failed to parse, when it can be answered."""
        self.stats["parse_errors"] += 1
        logger.debug("unparsable message from %s: %s", source, error.reason)
        if error.status is None:
            return
        data = stateless_error_response(raw, error.status)
        if data is None:
            return
        self.stats["stateless_responses"] += 1
        with contextlib.suppress(TransportError, OSError):
            self.send(source, data)

    def _register(self, conn: StreamConnection) -> bool:
        if self.closed or len(self.connections) >= self.max_connections:
            self.stats["rejected_connections"] += 1
            return False
        assert conn.source is not None
        self.connections[conn.source] = conn
        self._by_remote.setdefault((conn.source.transport, conn.source.remote), conn)
        return True

    def _unregister(self, conn: StreamConnection) -> None:
        source = conn.source
        if source is None or self.connections.get(source) is not conn:
            return
        del self.connections[source]
        for address in [source.remote, *conn.aliases]:
            if self._by_remote.get((source.transport, address)) is conn:
                del self._by_remote[(source.transport, address)]
        if self.on_closed is not None:
            try:
                self.on_closed(source)
            except Exception:
                logger.exception("error in on_closed for %s", source)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        self.closed = True
        for listener in self.listeners:
            if listener.server is not None:
                listener.server.close()
            if listener.udp is not None:
                listener.udp.close()
        for conn in list(self.connections.values()):
            conn.close()
        for listener in self.listeners:
            if listener.server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(listener.server.wait_closed(), 2)
        self.listeners.clear()
        self._udp.clear()
        await asyncio.sleep(0)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, layer: Transports, local: list[Address]) -> None:
        self.layer = layer
        self._local = local

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int] | tuple[str, int, int, int]) -> None:  # type: ignore[override]
        local = self._local[0] if self._local else ("0.0.0.0", 0)
        source = Source("UDP", (str(addr[0]), int(addr[1])), local)
        if len(data) <= 4 and not data.strip(b"\r\n\x00 "):
            return  # keep-alive
        try:
            message = parse_datagram(data)
        except SipParseError as exc:
            self.layer.parse_failed(data, exc, source)
            return
        except Exception:  # the parser must not take the listener down
            logger.exception("parser error on a datagram from %s", source)
            return
        self.layer.deliver(message, source)

    def error_received(self, exc: Exception) -> None:
        logger.debug("UDP error: %s", exc)


class StreamConnection(asyncio.Protocol):
    """One TCP or TLS connection: framing with :class:`StreamParser`, idle timeout."""

    def __init__(self, layer: Transports, transport: str, *, inbound: bool) -> None:
        self.layer = layer
        self.kind = transport
        self.inbound = inbound
        self.parser = StreamParser()
        self.source: Source | None = None
        self.aliases: list[Address] = []
        self.closed = False
        self._transport: asyncio.Transport | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._previous_chunk = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        if not peer or not sock:
            transport.abort()
            self.closed = True
            return
        self.source = Source(self.kind, (str(peer[0]), int(peer[1])), (str(sock[0]), int(sock[1])))
        if not self.layer._register(self):
            self.closed = True
            transport.abort()
            return
        with contextlib.suppress(OSError, AttributeError):
            raw = transport.get_extra_info("socket")
            if raw is not None:
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        loop = asyncio.get_running_loop()
        self._last = loop.time()
        self._idle = loop.call_later(self.layer.idle_timeout, self._check_idle)

    def data_received(self, data: bytes) -> None:
        if self.closed or self.source is None:
            return
        self._last = asyncio.get_running_loop().time()
        before = self.parser.keepalives
        try:
            messages = self.parser.feed(data)
        except SipParseError as exc:
            raw = data if _has_start_line(data) else self._previous_chunk[-65536:] + data
            self.layer.parse_failed(raw, exc, self.source)
            self.close()
            return
        except Exception:
            logger.exception("stream parser error from %s", self.source)
            self.close()
            return
        self._previous_chunk = data
        if self.parser.keepalives != before and self._transport is not None:
            # RFC 5626 4.4.1: answer a double-CRLF ping with a CRLF pong.
            self._transport.write(b"\r\n" * (self.parser.keepalives - before))
        source = self.source
        for message in messages:
            if self.closed:
                break
            self.layer.deliver(message, source)

    def send(self, data: bytes) -> None:
        transport = self._transport
        if self.closed or transport is None or transport.is_closing():
            raise TransportError(f"{self.kind} connection to {self.source} is closed")
        transport.write(data)
        if transport.get_write_buffer_size() > self.layer.max_write_buffer:
            logger.warning("%s: peer does not read, closing", self.source)
            self.close()
            raise TransportError("peer does not read its connection")

    def _check_idle(self) -> None:
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        remaining = self._last + self.layer.idle_timeout - loop.time()
        if remaining <= 0:
            logger.debug("closing idle connection %s", self.source)
            self.close()
        else:
            self._idle = loop.call_later(remaining, self._check_idle)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
        if self._transport is not None:
            self._transport.close()
        self.layer._unregister(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
        self.layer._unregister(self)


# stateless answers to unparsable messages ------------------------------------------------
_REQUEST_LINE = re.compile(rb"^([A-Za-z0-9.!%*_+`'~-]+) +\S+ +SIP/", re.ASCII)
_COPIED = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq"}
_MAX_COPIED_VALUE = 2048
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _has_start_line(data: bytes) -> bool:
    return _REQUEST_LINE.match(data.lstrip(b"\r\n")[:200]) is not None


def stateless_error_response(raw: bytes, status: int, reason: str | None = None) -> bytes | None:
    """An error response built from the raw header lines of an unparsable request.

    The response needs the request's Via (to be routed and matched) and CSeq (a client
    matches responses by branch and CSeq method, RFC 3261 17.1.3); From, To and Call-ID
    are copied when present. Responses and ACKs are never answered. Returns None when the
    input is not a request that can be answered this way.
    """
    data = raw.lstrip(b"\r\n")
    first_end = data.find(b"\n")
    first = data[: first_end if first_end >= 0 else len(data)]
    match = _REQUEST_LINE.match(first[:4096])
    if match is None or match.group(1).upper() == b"ACK":
        return None
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    head = data[: end if end >= 0 else min(len(data), 65536)]
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")[1:]
    unfolded: list[str] = []
    for line in lines[:256]:
        if line[:1] in (" ", "\t") and unfolded:
            if len(unfolded[-1]) < _MAX_COPIED_VALUE * 4:
                unfolded[-1] += " " + line.strip()
        else:
            unfolded.append(line)
    found: dict[str, list[str]] = {name: [] for name in _COPIED.values()}
    for line in unfolded:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        key = name.strip().lower()
        key = COMPACT_FORMS.get(key, key).lower()
        canonical = _COPIED.get(key)
        if canonical is None:
            continue
        value = _CONTROL.sub("", value).strip()
        if not value or len(value) > _MAX_COPIED_VALUE:
            continue
        found[canonical].append(value)
    if not found["Via"] or not found["CSeq"]:
        return None
    out = [f"SIP/2.0 {status} {reason or REASONS.get(status, 'Error')}"]
    out.extend(f"Via: {value}" for value in found["Via"][:32])
    for name in ("From", "To", "Call-ID", "CSeq"):
        if found[name]:
            value = found[name][0]
            if name == "To" and status > 100 and ";tag=" not in value.replace(" ", "").lower():
                value += ";tag=" + secrets.token_hex(6)
            out.append(f"{name}: {value}")
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")


def _describe(message: Request | Response) -> str:
    if isinstance(message, Request):
        return f"{message.method} request"
    return f"{message.status} response"
