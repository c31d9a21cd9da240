"""TCP relay allocations (RFC 6062): peer data connections and their CONNECTION-IDs.

A TCP allocation's relayed transport address is a listening TCP socket. A
peer data connection comes from either side: the client's Connect request
makes the server connect to the peer *from* the relayed address (the socket
shares the port with the listener through SO_REUSEPORT), or a peer connects to
the relayed address and the client is told by a ConnectionAttempt indication.
Either way the connection waits, unread, under a CONNECTION-ID until the client
opens a new connection to the server and sends ConnectionBind with that id;
from then on the two TCP connections are spliced byte for byte. A connection
not bound within 30 seconds is closed, and closing either side, or the
allocation, closes both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from moot.turn.stun import Address, Attr, Class, Message, Method

if TYPE_CHECKING:
    from moot.turn.allocation import Allocation, TokenBucket

log = logging.getLogger(__name__)

TCP_PROTOCOL = 6
#: RFC 6062 section 5.2: a Connect may take this long; section 5.3/5.4: so may ConnectionBind.
CONNECT_TIMEOUT = 30.0
BIND_TIMEOUT = 30.0
CHUNK = 65536


class ConnectionExists(Exception):
    """446 Connection Already Exists."""


class ConnectionFailed(Exception):
    """447 Connection Timeout or Failure."""


def relay_tcp_socket(address: Address) -> socket.socket:
    """A TCP socket bound to a relayed address that its listener and connectors share.

    SO_REUSEPORT is what lets the outgoing connections to peers start from the
    listening port; the allocation table keeps two allocations off one port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


@dataclass(eq=False)
class PeerConnection:
    """One TCP connection with a peer, pending (waiting for ConnectionBind) or spliced."""

    cid: int
    peer: Address
    relay: TcpRelay
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    timer: asyncio.TimerHandle | None = None
    client_writer: asyncio.StreamWriter | None = None
    #: A ConnectionBind took it (its id cannot be bound twice).
    claimed: bool = False
    closed: bool = False

    def claim(self) -> None:
        self.claimed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        if self.claimed:
            self.writer.close()
        else:
            # Never bound, nothing relayed: reset it, so that no TIME_WAIT on the relayed
            # address keeps the client from connecting to this peer again (RFC 6062 needs
            # that same source address for every connection to the peer).
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.writer.transport.abort()
        if self.client_writer is not None:
            self.client_writer.close()
        self.relay.forget(self)

    async def splice(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Relay bytes both ways between the client data connection and the peer until one ends."""
        self.client_writer = writer
        if self.closed:  # the peer or the allocation went away meanwhile
            writer.close()
            return
        pumps = [
            asyncio.ensure_future(_pump(reader, self.writer, self.relay.alloc.bucket)),
            asyncio.ensure_future(_pump(self.reader, writer, self.relay.alloc.bucket)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            self.close()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, bucket: TokenBucket) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await source.read(CHUNK):
            wait = bucket.delay(len(data))  # the allocation's bandwidth cap, both directions
            if wait:
                await asyncio.sleep(wait)
            sink.write(data)
            await sink.drain()  # backpressure: stop reading while the other side is slow


@dataclass
class ConnectionRegistry:
    """CONNECTION-IDs of one server (process): unique, hard to guess, with an owner prefix.

    ``prefix`` (the worker's number) fills the top byte so that a ConnectionBind
    reaching another worker can be sent on to the one that holds the connection.
    """

    prefix: int = 0
    by_id: dict[int, PeerConnection] = field(default_factory=dict)

    def new_id(self) -> int:
        while True:
            low = int(struct.unpack("!I", os.urandom(4))[0]) & 0x00FFFFFF
            cid = (self.prefix & 0xFF) << 24 | low
            if cid and cid not in self.by_id:
                return cid

    def pending(self, cid: int) -> PeerConnection | None:
        conn = self.by_id.get(cid)
        if conn is None or conn.claimed or conn.closed:
            return None
        return conn


class TcpRelay:
    """The TCP side of one allocation: its listener and its peer data connections."""

    def __init__(
        self, alloc: Allocation, listener: socket.socket, registry: ConnectionRegistry,
        bind_timeout: float = BIND_TIMEOUT, connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.alloc = alloc
        self.listener = listener
        self.registry = registry
        self.bind_timeout = bind_timeout
        self.connect_timeout = connect_timeout
        self.address: Address = listener.getsockname()[:2]
        #: Peers with a Connect in progress or a connection (RFC 6062: one per peer address).
        self.peers: dict[Address, PeerConnection | None] = {}
        self.connections: set[PeerConnection] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False

    async def start(self) -> None:
        self.listener.listen(64)
        self._server = await asyncio.start_server(self._accepted, sock=self.listener)

    # -- peer-initiated connections (RFC 6062 section 5.3) ------------------------

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name = writer.get_extra_info("peername")
        peer: Address = (str(name[0]), int(name[1]))
        if self.closed or not self.alloc.has_permission(peer[0]) or peer in self.peers:
            writer.close()
            return
        conn = self._register(peer, reader, writer)
        attempt = Message(Method.CONNECTION_ATTEMPT, Class.INDICATION, attributes={
            Attr.CONNECTION_ID: conn.cid, Attr.XOR_PEER_ADDRESS: peer,
        })
        self.alloc.to_client(attempt.encode(fingerprint=True))

    # -- client-initiated connections (RFC 6062 section 5.2) ----------------------

    async def connect(self, peer: Address) -> int:
        """Connect to ``peer`` from the relayed address; the new CONNECTION-ID."""
        if peer in self.peers:
            raise ConnectionExists(f"a connection to {peer[0]}:{peer[1]} exists")
        self.peers[peer] = None  # a second Connect while this one runs is 446 too
        try:
            reader, writer = await asyncio.wait_for(self._open(peer), self.connect_timeout)
        except (OSError, TimeoutError) as exc:
            self.peers.pop(peer, None)
            raise ConnectionFailed(f"cannot connect to {peer[0]}:{peer[1]}: {exc}") from None
        if self.closed:
            writer.close()
            raise ConnectionFailed("the allocation went away")
        return self._register(peer, reader, writer).cid

    async def _open(self, peer: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sock = relay_tcp_socket(self.address)
        try:
            await asyncio.get_running_loop().sock_connect(sock, peer)
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    # -- bookkeeping ---------------------------------------------------------------

    def _register(
        self, peer: Address, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> PeerConnection:
        conn = PeerConnection(self.registry.new_id(), peer, self, reader, writer)
        conn.timer = asyncio.get_running_loop().call_later(self.bind_timeout, self._unbound, conn)
        self.registry.by_id[conn.cid] = conn
        self.peers[peer] = conn
        self.connections.add(conn)
        return conn

    def _unbound(self, conn: PeerConnection) -> None:
        if not conn.claimed:
            log.debug("no ConnectionBind for connection %#x within %ss", conn.cid, self.bind_timeout)
            conn.close()

    def forget(self, conn: PeerConnection) -> None:
        self.connections.discard(conn)
        if self.peers.get(conn.peer) is conn:
            del self.peers[conn.peer]
        if self.registry.by_id.get(conn.cid) is conn:
            del self.registry.by_id[conn.cid]

    def close(self) -> None:
        """The allocation is gone: stop listening and close every peer and client connection."""
        if self.closed:
            return
        self.closed = True
        if self._server is not None:
            self._server.close()
        else:
            self.listener.close()
        for conn in list(self.connections):
            conn.close()
        self.peers.clear()
