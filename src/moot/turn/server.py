"""The TURN protocol engine and its UDP, TCP and TLS transports (RFC 8656, RFC 8489),
with TCP relay allocations (RFC 6062).

:class:`TurnCore` turns one received message into actions; the transports only
frame bytes (datagrams, or RFC 8489 section 6.2.2 framing on streams) and hand
them over with the 5-tuple they arrived on. A stream whose ConnectionBind
succeeded stops carrying STUN: :func:`serve_stream` splices it to its peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from moot.turn.allocation import (
    DEFAULT_LIFETIME,
    MAX_LIFETIME,
    Allocation,
    AllocationTable,
    FiveTuple,
    NoRelayPort,
    QuotaExceeded,
)
from moot.turn.credentials import Credentials, NonceState
from moot.turn.policy import FailureLimiter, PeerPolicy, unauthenticated_limit
from moot.turn.stun import (
    CHANNEL_MAX,
    CHANNEL_MIN,
    COOKIE_BYTES,
    HEADER_LENGTH,
    Address,
    Attr,
    Class,
    Message,
    Method,
    StunError,
    encode_channel_data,
    framed_length,
    is_channel_data,
    parse,
    split_type,
)
from moot.turn.tcprelay import (
    TCP_PROTOCOL,
    ConnectionExists,
    ConnectionFailed,
    ConnectionRegistry,
    PeerConnection,
    TcpRelay,
)
from moot.turn.udp import UdpSocket

log = logging.getLogger(__name__)

SOFTWARE = "Moot TURN"
UDP_PROTOCOL = 17
#: Allocations and expiries are swept this often (seconds).
SWEEP_INTERVAL = 5.0

Send = Callable[[bytes], None]
#: (owner prefix, (kind, client, server), first message, reader, writer) -> forwarded.
Forwarder = Callable[
    [int, tuple[str, Address, Address], bytes, asyncio.StreamReader, asyncio.StreamWriter],
    Awaitable[None],
]


@dataclass
class Request:
    """A request or indication with where it came from and how to answer."""

    data: bytes
    transport: str  # "udp", "tcp" or "tls"
    client: Address
    server: Address
    send: Send

    @property
    def five_tuple(self) -> FiveTuple:
        return (self.transport, self.client, self.server)


@dataclass
class TurnCore:
    credentials: Credentials
    table: AllocationTable
    policy: PeerPolicy = field(default_factory=PeerPolicy)
    limiter: FailureLimiter = field(default_factory=FailureLimiter)
    #: Address advertised in XOR-RELAYED-ADDRESS instead of the relay IP (``turn public-ip``).
    public_ip: str | None = None
    software: str = SOFTWARE
    pending: set[FiveTuple] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stats: dict[str, int] = field(default_factory=lambda: {"auth_failures": 0, "dropped": 0})
    #: CONNECTION-IDs of TCP relay peer connections (RFC 6062).
    connections: ConnectionRegistry = field(default_factory=ConnectionRegistry)
    #: Client connections whose ConnectionBind succeeded, for their transport to splice.
    data_connections: dict[FiveTuple, PeerConnection] = field(default_factory=dict)
    bind_timeout: float = 30.0
    #: In high-capacity mode: hands a stream over to the worker whose CONNECTION-ID prefix
    #: is given (see :mod:`moot.turn.worker`), with the message already read from it.
    forward: Forwarder | None = None

    # -- entry point ---------------------------------------------------------

    def channel_data(self, five_tuple: FiveTuple, data: bytes) -> None:
        """The hot path: ChannelData from a client to its bound peer."""
        alloc = self.table.by_tuple.get(five_tuple)
        if alloc is None or len(data) < 4 or not alloc.alive():
            return
        number, length = struct.unpack_from("!HH", data)
        if 4 + length > len(data):
            return
        peer = alloc.channel_peer(number)
        if peer is not None:
            alloc.to_peer(data[4 : 4 + length], peer)

    def handle(self, req: Request) -> None:
        data = req.data
        if is_channel_data(data):
            self.channel_data(req.five_tuple, data)
            return
        try:
            msg = parse(data)
        except StunError as exc:
            self._malformed(req, exc)
            return
        if msg.cls == Class.INDICATION:
            if msg.method == Method.SEND:
                self._send_indication(req, msg)
            return
        if msg.cls != Class.REQUEST:
            return
        if msg.unknown_required:
            attrs: dict[int, Any] = {Attr.UNKNOWN_ATTRIBUTES: msg.unknown_required}
            self._reply_error(req, msg, 420, "Unknown Attribute", attrs)
            return
        if msg.method == Method.BINDING:
            self._binding(req, msg)
            return
        if msg.method not in (
            Method.ALLOCATE, Method.REFRESH, Method.CREATE_PERMISSION, Method.CHANNEL_BIND,
            Method.CONNECT, Method.CONNECTION_BIND,
        ):
            self._reply_error(req, msg, 400, "Bad Request")
            return
        key = self._authenticate(req, msg)
        if key is None:
            return
        if msg.method == Method.ALLOCATE:
            if req.five_tuple in self.pending:
                return  # a retransmission while the relay is being bound
            self.pending.add(req.five_tuple)
            self._spawn(self._allocate(req, msg, key))
            return
        if msg.method == Method.CONNECTION_BIND:
            self._connection_bind(req, msg, key)
            return
        alloc = self.table.get(req.five_tuple)
        if alloc is None:
            self._reply_error(req, msg, 437, "Allocation Mismatch", key=key)
            return
        if alloc.username != msg.get(Attr.USERNAME):
            self._reply_error(req, msg, 441, "Wrong Credentials", key=key)
            return
        if msg.method == Method.REFRESH:
            self._refresh(req, msg, key, alloc)
        elif msg.method == Method.CREATE_PERMISSION:
            self._create_permission(req, msg, key, alloc)
        elif msg.method == Method.CONNECT:
            self._connect(req, msg, key, alloc)
        else:
            self._channel_bind(req, msg, key, alloc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- replies -------------------------------------------------------------

    def _reply(self, req: Request, msg: Message, reply: Message, key: bytes | None) -> None:
        fingerprint = Attr.FINGERPRINT in msg
        if key is not None:
            reply.attributes[Attr.SOFTWARE] = self.software
        req.send(reply.encode(key, fingerprint))

    def _reply_error(
        self,
        req: Request,
        msg: Message,
        code: int,
        reason: str,
        attrs: dict[int, Any] | None = None,
        key: bytes | None = None,
        challenge: bool = False,
    ) -> None:
        """An error response; unauthenticated ones are cut to the amplification limit."""
        if key is not None:
            reply = Message(msg.method, Class.ERROR, msg.transaction_id,
                            {Attr.ERROR_CODE: (code, reason), **(attrs or {})})
            self._reply(req, msg, reply, key)
            return
        limit = unauthenticated_limit(len(req.data), challenge)
        for text, fingerprint in ((reason, True), (reason, False), ("", False)):
            reply = Message(msg.method, Class.ERROR, msg.transaction_id,
                            {Attr.ERROR_CODE: (code, text), **(attrs or {})})
            data = reply.encode(None, fingerprint and Attr.FINGERPRINT in msg)
            if len(data) <= limit:
                req.send(data)
                return
        self.stats["dropped"] += 1

    def _malformed(self, req: Request, exc: StunError) -> None:
        """400 for a request whose header is sound; anything else is dropped silently."""
        data = req.data
        if len(data) < HEADER_LENGTH or data[4:8] != COOKIE_BYTES:
            return
        mtype = struct.unpack("!H", data[:2])[0]
        method, cls = split_type(mtype)
        if mtype & 0xC000 or cls != Class.REQUEST:
            return
        log.debug("malformed STUN request from %s: %s", req.client, exc)
        self._reply_error(req, Message(method, cls, bytes(data[8:20])), 400, "Bad Request")

    def _challenge(self, req: Request, msg: Message, code: int, reason: str) -> None:
        attrs: dict[int, Any] = {
            Attr.REALM: self.credentials.realm, Attr.NONCE: self.credentials.new_nonce()
        }
        self._reply_error(req, msg, code, reason, attrs, challenge=True)

    # -- authentication ------------------------------------------------------

    def _authenticate(self, req: Request, msg: Message) -> bytes | None:
        """The long-term key if ``msg`` is authentic; otherwise answers (401/438/400) and None."""
        source = req.client[0]
        if self.limiter.blocked(source):
            self.stats["dropped"] += 1
            return None
        if Attr.MESSAGE_INTEGRITY not in msg:
            self._challenge(req, msg, 401, "Unauthorized")
            return None
        username, realm, nonce = (msg.get(a) for a in (Attr.USERNAME, Attr.REALM, Attr.NONCE))
        if username is None or realm is None or nonce is None:
            self._reply_error(req, msg, 400, "Bad Request")
            return None
        if self.credentials.check_nonce(nonce) is NonceState.STALE:
            self._challenge(req, msg, 438, "Stale Nonce")
            return None
        key = self.credentials.key_for(username) if realm == self.credentials.realm else None
        if key is None or not msg.check_integrity(key):
            self.limiter.failed(source)
            self.stats["auth_failures"] += 1
            self._challenge(req, msg, 401, "Unauthorized")
            return None
        return key

    # -- methods -------------------------------------------------------------

    def _binding(self, req: Request, msg: Message) -> None:
        reply = Message(Method.BINDING, Class.SUCCESS, msg.transaction_id,
                        {Attr.XOR_MAPPED_ADDRESS: req.client})
        data = reply.encode(None, Attr.FINGERPRINT in msg)
        if len(data) <= unauthenticated_limit(len(req.data), True):
            req.send(data)

    async def _allocate(self, req: Request, msg: Message, key: bytes) -> None:
        try:
            await self._allocate_now(req, msg, key)
        except Exception:  # a bug must not take the server down
            log.exception("allocate failed")
            self._reply_error(req, msg, 500, "Server Error", key=key)
        finally:
            self.pending.discard(req.five_tuple)

    async def _allocate_now(self, req: Request, msg: Message, key: bytes) -> None:
        username = str(msg.get(Attr.USERNAME))
        existing = self.table.get(req.five_tuple)
        if existing is not None:
            if existing.last_allocate and existing.last_allocate[0] == msg.transaction_id:
                req.send(existing.last_allocate[1])
            else:
                self._reply_error(req, msg, 437, "Allocation Mismatch", key=key)
            return
        transport = msg.get(Attr.REQUESTED_TRANSPORT)
        if transport is None:
            self._reply_error(req, msg, 400, "Bad Request: REQUESTED-TRANSPORT missing", key=key)
            return
        tcp = transport == TCP_PROTOCOL
        if transport != UDP_PROTOCOL and not (tcp and req.transport != "udp"):
            # RFC 6062 section 5.1: a TCP relay needs a TCP or TLS control connection.
            self._reply_error(req, msg, 442, "Unsupported Transport Protocol", key=key)
            return
        if msg.get(Attr.REQUESTED_ADDRESS_FAMILY, 1) != 1:
            self._reply_error(req, msg, 440, "Address Family not Supported", key=key)
            return
        token = msg.get(Attr.RESERVATION_TOKEN)
        if token is not None and Attr.EVEN_PORT in msg:
            self._reply_error(req, msg, 400, "Bad Request: EVEN-PORT with RESERVATION-TOKEN", key=key)
            return
        if tcp and any(a in msg for a in (Attr.EVEN_PORT, Attr.RESERVATION_TOKEN, Attr.DONT_FRAGMENT)):
            self._reply_error(req, msg, 400, "Bad Request: not with a TCP allocation", key=key)
            return
        lifetime = self._lifetime(msg)
        try:
            alloc, new_token = await self.table.create(
                req.five_tuple, username, self.credentials.realm, key, lifetime,
                even_port=Attr.EVEN_PORT in msg, reserve=bool(msg.get(Attr.EVEN_PORT)), token=token,
                tcp=tcp,
            )
        except QuotaExceeded:
            self._reply_error(req, msg, 486, "Allocation Quota Reached", key=key)
            return
        except NoRelayPort:
            self._reply_error(req, msg, 508, "Insufficient Capacity", key=key)
            return
        alloc.to_client = req.send
        alloc.wrap = self._wrapper(req.transport != "udp")
        if alloc.tcp_listener is not None:
            alloc.tcp = TcpRelay(alloc, alloc.tcp_listener, self.connections, self.bind_timeout)
            try:
                await alloc.tcp.start()
            except OSError:
                self.table.remove(alloc)
                self._reply_error(req, msg, 508, "Insufficient Capacity", key=key)
                return
        relayed = (self.public_ip or alloc.relay[0], alloc.relay[1])
        reply = Message(Method.ALLOCATE, Class.SUCCESS, msg.transaction_id, {
            Attr.XOR_RELAYED_ADDRESS: relayed,
            Attr.LIFETIME: lifetime,
            Attr.XOR_MAPPED_ADDRESS: req.client,
            Attr.SOFTWARE: self.software,
        })
        if new_token is not None:
            reply.attributes[Attr.RESERVATION_TOKEN] = new_token
        data = reply.encode(key, Attr.FINGERPRINT in msg)
        alloc.last_allocate = (msg.transaction_id, data)
        req.send(data)

    @staticmethod
    def _lifetime(msg: Message) -> int:
        asked = msg.get(Attr.LIFETIME)
        if asked is None:
            return DEFAULT_LIFETIME
        return int(min(max(asked, DEFAULT_LIFETIME), MAX_LIFETIME))

    @staticmethod
    def _wrapper(stream: bool) -> Callable[[int | None, Address, bytes], bytes]:
        def wrap(channel: int | None, peer: Address, data: bytes) -> bytes:
            if channel is not None:
                return encode_channel_data(channel, data, pad=stream)
            return Message(Method.DATA, Class.INDICATION, attributes={
                Attr.XOR_PEER_ADDRESS: peer, Attr.DATA: data
            }).encode()
        return wrap

    def _refresh(self, req: Request, msg: Message, key: bytes, alloc: Allocation) -> None:
        asked = msg.get(Attr.LIFETIME)
        lifetime = 0 if asked == 0 else self._lifetime(msg)
        self.table.refresh(alloc, lifetime)
        reply = Message(Method.REFRESH, Class.SUCCESS, msg.transaction_id, {Attr.LIFETIME: lifetime})
        self._reply(req, msg, reply, key)

    def _create_permission(self, req: Request, msg: Message, key: bytes, alloc: Allocation) -> None:
        peers: list[Address] = msg.all(Attr.XOR_PEER_ADDRESS)
        if not peers:
            self._reply_error(req, msg, 400, "Bad Request: XOR-PEER-ADDRESS missing", key=key)
            return
        denied = [p[0] for p in peers if not self.policy.permits(p[0])]
        if denied:
            self._reply_error(req, msg, 403, f"Forbidden: peer {denied[0]} is not allowed", key=key)
            return
        for peer in peers:
            alloc.permit(peer[0])
        self._reply(req, msg, Message(Method.CREATE_PERMISSION, Class.SUCCESS, msg.transaction_id), key)

    def _channel_bind(self, req: Request, msg: Message, key: bytes, alloc: Allocation) -> None:
        number = msg.get(Attr.CHANNEL_NUMBER)
        peer = msg.get(Attr.XOR_PEER_ADDRESS)
        if number is None or peer is None or not CHANNEL_MIN <= number <= CHANNEL_MAX:
            self._reply_error(req, msg, 400, "Bad Request: channel number or peer", key=key)
            return
        if not self.policy.permits(peer[0]):
            self._reply_error(req, msg, 403, f"Forbidden: peer {peer[0]} is not allowed", key=key)
            return
        if not alloc.bind_channel(number, peer):
            self._reply_error(req, msg, 400, "Bad Request: channel already bound", key=key)
            return
        self._reply(req, msg, Message(Method.CHANNEL_BIND, Class.SUCCESS, msg.transaction_id), key)

    # -- TCP relay (RFC 6062) ------------------------------------------------

    def _connect(self, req: Request, msg: Message, key: bytes, alloc: Allocation) -> None:
        peer = msg.get(Attr.XOR_PEER_ADDRESS)
        if alloc.tcp is None:
            self._reply_error(req, msg, 400, "Bad Request: not a TCP allocation", key=key)
            return
        if peer is None:
            self._reply_error(req, msg, 400, "Bad Request: XOR-PEER-ADDRESS missing", key=key)
            return
        if not self.policy.permits(peer[0]) or not alloc.has_permission(peer[0]):
            self._reply_error(req, msg, 403, f"Forbidden: no permission for {peer[0]}", key=key)
            return
        if peer in alloc.tcp.peers:
            self._reply_error(req, msg, 446, "Connection Already Exists", key=key)
            return
        self._spawn(self._connect_now(req, msg, key, alloc.tcp, peer))

    async def _connect_now(
        self, req: Request, msg: Message, key: bytes, relay: TcpRelay, peer: Address
    ) -> None:
        try:
            cid = await relay.connect(peer)
        except ConnectionExists:
            self._reply_error(req, msg, 446, "Connection Already Exists", key=key)
            return
        except ConnectionFailed as exc:
            log.debug("Connect failed: %s", exc)
            self._reply_error(req, msg, 447, "Connection Timeout or Failure", key=key)
            return
        reply = Message(Method.CONNECT, Class.SUCCESS, msg.transaction_id, {Attr.CONNECTION_ID: cid})
        self._reply(req, msg, reply, key)

    def _connection_bind(self, req: Request, msg: Message, key: bytes) -> None:
        """A new client connection asks to become the data connection of a peer connection."""
        if req.transport == "udp":
            self._reply_error(req, msg, 400, "Bad Request: ConnectionBind needs TCP or TLS", key=key)
            return
        if req.five_tuple in self.table.by_tuple or req.five_tuple in self.data_connections:
            self._reply_error(req, msg, 400, "Bad Request: not a new connection", key=key)
            return
        cid = msg.get(Attr.CONNECTION_ID)
        conn = self.connections.pending(cid) if cid is not None else None
        if conn is None:
            self._reply_error(req, msg, 400, "Bad Request: unknown CONNECTION-ID", key=key)
            return
        if conn.relay.alloc.username != msg.get(Attr.USERNAME):
            self._reply_error(req, msg, 441, "Wrong Credentials", key=key)
            return
        # Bound before the reply goes out: the stream stops reading STUN right after it.
        self.data_connections[req.five_tuple] = conn
        conn.claim()
        self._reply(req, msg, Message(Method.CONNECTION_BIND, Class.SUCCESS, msg.transaction_id), key)

    def foreign_bind(self, data: bytes) -> int | None:
        """The CONNECTION-ID prefix of another worker if ``data`` is a ConnectionBind for it."""
        if self.forward is None or data[:2] != b"\x00\x0b":
            return None
        try:
            cid = parse(data).get(Attr.CONNECTION_ID)
        except StunError:
            return None
        if cid is None or cid >> 24 == self.connections.prefix:
            return None
        return int(cid >> 24)

    def take_data_connection(self, five_tuple: FiveTuple) -> PeerConnection | None:
        """The peer connection that the client connection ``five_tuple`` was just bound to."""
        return self.data_connections.pop(five_tuple, None)

    def _send_indication(self, req: Request, msg: Message) -> None:
        alloc = self.table.get(req.five_tuple)
        peer = msg.get(Attr.XOR_PEER_ADDRESS)
        data = msg.get(Attr.DATA)
        if alloc is None or peer is None or data is None:
            return
        alloc.to_peer(data, peer)

    # -- housekeeping --------------------------------------------------------

    def connection_closed(self, five_tuple: FiveTuple) -> None:
        alloc = self.table.by_tuple.get(five_tuple)
        if alloc is not None:
            self.table.remove(alloc)

    def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        self.table.close()


# -- transports ----------------------------------------------------------------


class UdpEndpoint:
    """The UDP listener: ChannelData straight to the relay, the rest to the core."""

    def __init__(self, core: TurnCore, sock: socket.socket) -> None:
        self.core = core
        self.socket = UdpSocket(sock, self.datagram_received)
        self.address = self.socket.address

    def datagram_received(self, data: bytes, client: Address) -> None:
        if data and 0x40 <= data[0] <= 0x7F:
            self.core.channel_data(("udp", client, self.address), data)
            return
        sendto = self.socket.sendto

        def send(out: bytes) -> None:
            sendto(out, client)

        self.core.handle(Request(data, "udp", client, self.address, send))

    def close(self) -> None:
        self.socket.close()


async def serve_stream(
    core: TurnCore, kind: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """One TCP or TLS client: messages framed by their own length fields."""
    peer = writer.get_extra_info("peername")
    local = writer.get_extra_info("sockname")
    client: Address = (str(peer[0]), int(peer[1]))
    server: Address = (str(local[0]), int(local[1]))
    await serve_messages(core, kind, client, server, reader, writer)


async def serve_messages(
    core: TurnCore, kind: str, client: Address, server: Address,
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
) -> None:
    """STUN and ChannelData framed on a stream from ``client``, until it ends or is spliced."""

    def send(out: bytes) -> None:
        if not writer.is_closing():
            writer.write(out)

    five_tuple: FiveTuple = (kind, client, server)
    try:
        while True:
            head = await reader.readexactly(4)
            size = framed_length(head)
            assert size is not None
            if size > 65535 + 8:
                break
            data = head + await reader.readexactly(size - 4)
            owner = core.foreign_bind(data)
            if owner is not None and core.forward is not None:
                # A ConnectionBind for a peer connection that another worker holds.
                await core.forward(owner, (kind, client, server), data, reader, writer)
                break
            core.handle(Request(data, kind, client, server, send))
            bound = core.take_data_connection(five_tuple)
            if bound is not None:  # from now on raw bytes to and from the peer
                await bound.splice(reader, writer)
                break
    except (asyncio.IncompleteReadError, ConnectionError, StunError, ssl.SSLError):
        pass
    finally:
        core.connection_closed(five_tuple)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def udp_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


@dataclass
class Listen:
    host: str
    port: int
    tls_port: int | None = None


class TurnServer:
    """A TURN server on some addresses: UDP and TCP on ``port``, TLS on ``tls_port``."""

    def __init__(
        self, core: TurnCore, listen: list[Listen], tls: ssl.SSLContext | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.core = core
        self.listen = listen
        self.tls = tls
        self.reuse_port = reuse_port
        self._udp: list[UdpEndpoint] = []
        self._tcp: list[asyncio.Server] = []
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            for item in self.listen:
                self._udp.append(UdpEndpoint(self.core, udp_socket(item.host, item.port, self.reuse_port)))
                self._tcp.append(await asyncio.start_server(
                    lambda r, w: serve_stream(self.core, "tcp", r, w),
                    item.host, item.port, reuse_port=self.reuse_port,
                ))
                if item.tls_port and self.tls:
                    self._tcp.append(await asyncio.start_server(
                        lambda r, w: serve_stream(self.core, "tls", r, w),
                        item.host, item.tls_port, ssl=self.tls, reuse_port=self.reuse_port,
                        ssl_handshake_timeout=10,
                    ))
        except BaseException:
            await self.stop()
            raise
        self._sweeper = loop.create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            self.core.table.sweep()

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for endpoint in self._udp:
            endpoint.close()
        for server in self._tcp:
            server.close()
        for server in self._tcp:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        self._udp.clear()
        self._tcp.clear()
        self.core.close()
