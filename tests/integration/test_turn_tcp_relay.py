"""TCP relay allocations (RFC 6062) through Moot's TURN server.

Two independent clients: coturn's ``turnutils_uclient -T`` (client-initiated
Connect between its own sessions) and ``-P`` (a plain TCP peer connecting to the
relayed address, i.e. ConnectionAttempt), and a small RFC 6062 client written
here from the RFCs on raw sockets (it shares no code with the server) for the
error codes, timeouts and clean-up.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import shutil
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.integration.test_turn_coturn import relayed_counts, uclient
from tests.turn_helpers import PASSWORD, REALM, USER, Running, running_turn

needs_coturn = pytest.mark.skipif(
    shutil.which("turnutils_uclient") is None, reason="coturn is not installed (scripts/test installs it)"
)

# -- an RFC 5389 / RFC 6062 client on raw sockets ---------------------------------------

COOKIE = 0x2112A442
ALLOCATE, REFRESH, CREATE_PERMISSION = 0x0003, 0x0004, 0x0008
CONNECT, CONNECTION_BIND = 0x000A, 0x000B
CONNECTION_ATTEMPT_INDICATION = 0x001C
SUCCESS, ERROR = 0x0100, 0x0110
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE, LIFETIME = 0x0006, 0x0008, 0x0009, 0x000D
XOR_PEER_ADDRESS, REALM_ATTR, NONCE, XOR_RELAYED_ADDRESS = 0x0012, 0x0014, 0x0015, 0x0016
REQUESTED_TRANSPORT, CONNECTION_ID = 0x0019, 0x002A
KEY = hashlib.md5(f"{USER}:{REALM}:{PASSWORD}".encode()).digest()


def _attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def _xor_address(host: str, port: int) -> bytes:
    raw = bytes(a ^ b for a, b in zip(socket.inet_aton(host), struct.pack("!I", COOKIE), strict=True))
    return struct.pack("!BBH", 0, 1, port ^ (COOKIE >> 16)) + raw


def _address_of(value: bytes) -> tuple[str, int]:
    port = struct.unpack("!H", value[2:4])[0] ^ (COOKIE >> 16)
    raw = bytes(a ^ b for a, b in zip(value[4:8], struct.pack("!I", COOKIE), strict=True))
    return socket.inet_ntoa(raw), port


@dataclass
class Reply:
    mtype: int
    attrs: dict[int, bytes]

    @property
    def code(self) -> int:
        if self.mtype & 0x0110 == SUCCESS:
            return 200
        value = self.attrs[ERROR_CODE]
        return (value[2] & 7) * 100 + value[3]


def _encode(mtype: int, attrs: list[bytes], key: bytes | None) -> bytes:
    tid = bytes(range(12))
    body = b"".join(attrs)
    if key is not None:  # MESSAGE-INTEGRITY over the header with the length including itself
        head = struct.pack("!HHI", mtype, len(body) + 24, COOKIE) + tid
        body += _attr(MESSAGE_INTEGRITY, hmac.new(key, head + body, hashlib.sha1).digest())
    return struct.pack("!HHI", mtype, len(body), COOKIE) + tid + body


async def _read(reader: asyncio.StreamReader) -> Reply:
    head = await asyncio.wait_for(reader.readexactly(20), 5)
    mtype, length = struct.unpack("!HH", head[:4])
    body = await reader.readexactly(length)
    attrs: dict[int, bytes] = {}
    pos = 0
    while pos < len(body):
        kind, size = struct.unpack("!HH", body[pos : pos + 4])
        attrs.setdefault(kind, body[pos + 4 : pos + 4 + size])
        pos += 4 + size + (-size % 4)
    return Reply(mtype, attrs)


@dataclass
class Client:
    """One TCP connection to the server, speaking STUN with long-term credentials."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    nonce: bytes = b""
    pending: list[Reply] = field(default_factory=list)

    async def request(self, method: int, attrs: list[bytes]) -> Reply:
        while True:
            auth = [_attr(USERNAME, USER.encode()), _attr(REALM_ATTR, REALM.encode())]
            auth += [_attr(NONCE, self.nonce)] if self.nonce else []
            self.writer.write(_encode(method, attrs + auth, KEY if self.nonce else None))
            reply = await self.reply()
            if reply.code in (401, 438) and NONCE in reply.attrs and reply.attrs[NONCE] != self.nonce:
                self.nonce = reply.attrs[NONCE]
                continue
            return reply

    async def reply(self) -> Reply:
        """The next response; indications that come first are kept in ``pending``."""
        while True:
            message = await _read(self.reader)
            if message.mtype & 0x0110 != 0x0010:
                return message
            self.pending.append(message)

    async def indication(self) -> Reply:
        if self.pending:
            return self.pending.pop(0)
        return await _read(self.reader)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def _connect(turn: Running, nonce: bytes = b"") -> Client:
    reader, writer = await asyncio.open_connection("127.0.0.1", turn.port)
    return Client(reader, writer, nonce)


async def _tcp_allocation(turn: Running) -> tuple[Client, tuple[str, int]]:
    client = await _connect(turn)
    reply = await client.request(ALLOCATE, [_attr(REQUESTED_TRANSPORT, bytes([6, 0, 0, 0]))])
    assert reply.code == 200, reply
    return client, _address_of(reply.attrs[XOR_RELAYED_ADDRESS])


async def _permit(client: Client, host: str) -> None:
    reply = await client.request(CREATE_PERMISSION, [_attr(XOR_PEER_ADDRESS, _xor_address(host, 9))])
    assert reply.code == 200


async def _bind(turn: Running, nonce: bytes, cid: bytes) -> tuple[Client, int]:
    data = await _connect(turn, nonce)
    reply = await data.request(CONNECTION_BIND, [_attr(CONNECTION_ID, cid)])
    return data, reply.code


@dataclass
class Peer:
    """A plain TCP server standing for the peer: it keeps every connection it accepts."""

    port: int = 0
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(
        default_factory=asyncio.Queue
    )

    async def on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.accepted.put((reader, writer))


@asynccontextmanager
async def tcp_peer() -> AsyncIterator[Peer]:
    peer = Peer()
    server = await asyncio.start_server(peer.on_connection, "127.0.0.1", 0)
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()


async def _closed(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(100), 3) == b""
    except ConnectionError:
        return True


# -- coturn's client -------------------------------------------------------------------------


@needs_coturn
@pytest.mark.slow
@pytest.mark.parametrize("clients", [2, 4])
async def test_uclient_tcp_relay_connect(clients: int) -> None:
    """-T: every session Connects to every later session's relayed address."""
    async with running_turn(user_quota=100) as turn:
        out = await uclient(
            "-T", "-u", USER, "-w", PASSWORD, "-p", str(turn.port), "-n", "20",
            "-m", str(clients), "127.0.0.1",
        )
        assert f"{clients * (clients - 1)} connections are completed" in out, out[-2000:]
        sent, received, lost = relayed_counts(out)
        assert sent == 20 * clients and received == sent and lost == 0, out[-1500:]
        assert not turn.core.table.by_tuple and not turn.core.connections.by_id


@needs_coturn
@pytest.mark.slow
async def test_uclient_tcp_relay_over_tls(tmp_path: Path) -> None:
    async with running_turn(tls_dir=tmp_path, user_quota=100) as turn:
        assert turn.tls_port is not None
        out = await uclient(
            "-T", "-S", "-E", str(tmp_path / "turn.crt"), "-u", USER, "-w", PASSWORD,
            "-p", str(turn.tls_port), "-n", "20", "-m", "2", "127.0.0.1",
        )
        sent, received, lost = relayed_counts(out)
        assert sent == 40 and received == 40 and lost == 0, out[-1500:]


@needs_coturn
@pytest.mark.slow
async def test_uclient_passive_tcp_peer_connects_to_relayed_address() -> None:
    """-P: a plain TCP peer connects to the relayed address; the client hears of it by
    ConnectionAttempt and binds a data connection. uclient counts only what its TURN side
    receives from the peer, so 20 of the 40 messages sent come back, as with coturn's own
    turnserver (checked by hand with coturn 4.6.1)."""
    async with running_turn(user_quota=100) as turn:
        out = await uclient(
            "-P", "-u", USER, "-w", PASSWORD, "-p", str(turn.port), "-n", "20", "-m", "2",
            "127.0.0.1",
        )
        sent, received, _ = relayed_counts(out)
        assert sent == 40 and received == 20, out[-1500:]
        assert "connection bind error" not in out, out[-1500:]


# -- the raw client: both directions, errors, timeouts, clean-up -----------------------------


async def test_connect_bind_and_relay_both_ways() -> None:
    async with running_turn() as turn, tcp_peer() as peer:
        control, relayed = await _tcp_allocation(turn)
        await _permit(control, "127.0.0.1")
        reply = await control.request(CONNECT, [_attr(XOR_PEER_ADDRESS, _xor_address("127.0.0.1", peer.port))])
        assert reply.code == 200 and len(reply.attrs[CONNECTION_ID]) == 4
        peer_reader, peer_writer = await asyncio.wait_for(peer.accepted.get(), 5)
        # The peer sees the connection come from the relayed transport address.
        assert peer_writer.get_extra_info("peername")[:2] == relayed
        peer_writer.write(b"early bytes from the peer ")  # kept until the bind
        data, code = await _bind(turn, control.nonce, reply.attrs[CONNECTION_ID])
        assert code == 200
        data.writer.write(b"hello peer")
        assert await asyncio.wait_for(peer_reader.readexactly(10), 5) == b"hello peer"
        peer_writer.write(b"hello client")
        expected = b"early bytes from the peer hello client"
        assert await asyncio.wait_for(data.reader.readexactly(len(expected)), 5) == expected
        # A second Connect to the same peer: 446.
        again = await control.request(CONNECT, [_attr(XOR_PEER_ADDRESS, _xor_address("127.0.0.1", peer.port))])
        assert again.code == 446
        # The peer closing closes the client data connection.
        peer_writer.close()
        assert await _closed(data.reader)
        await data.close()
        await control.close()


async def test_peer_connects_to_relayed_address_and_client_binds() -> None:
    async with running_turn() as turn:
        control, relayed = await _tcp_allocation(turn)
        # No permission yet: the server closes the peer's connection.
        reader, writer = await asyncio.open_connection(*relayed)
        assert await _closed(reader)
        writer.close()
        await _permit(control, "127.0.0.1")
        reader, writer = await asyncio.open_connection(*relayed)
        attempt = await control.indication()
        assert attempt.mtype == CONNECTION_ATTEMPT_INDICATION
        assert _address_of(attempt.attrs[XOR_PEER_ADDRESS]) == writer.get_extra_info("sockname")[:2]
        data, code = await _bind(turn, control.nonce, attempt.attrs[CONNECTION_ID])
        assert code == 200
        writer.write(b"from peer")
        assert await asyncio.wait_for(data.reader.readexactly(9), 5) == b"from peer"
        data.writer.write(b"from client")
        assert await asyncio.wait_for(reader.readexactly(11), 5) == b"from client"
        # The same CONNECTION-ID cannot be bound twice.
        _, code = await _bind(turn, control.nonce, attempt.attrs[CONNECTION_ID])
        assert code == 400
        # Deleting the allocation closes the peer and the client data connection.
        assert (await control.request(REFRESH, [_attr(LIFETIME, struct.pack("!I", 0))])).code == 200
        assert await _closed(reader) and await _closed(data.reader)
        assert not turn.core.connections.by_id
        writer.close()
        await data.close()
        await control.close()


async def test_connect_errors() -> None:
    async with running_turn(allow_loopback=False) as turn:
        control, _ = await _tcp_allocation(turn)
        closed_port = free_port()
        # Denied peer range (loopback) and no permission: 403.
        reply = await control.request(CONNECT, [_attr(XOR_PEER_ADDRESS, _xor_address("127.0.0.1", closed_port))])
        assert reply.code == 403
        reply = await control.request(CONNECT, [])
        assert reply.code == 400
        await control.close()
    async with running_turn() as turn:
        control, _ = await _tcp_allocation(turn)
        await _permit(control, "127.0.0.1")
        # Nobody listens there: 447 Connection Timeout or Failure.
        reply = await control.request(CONNECT, [_attr(XOR_PEER_ADDRESS, _xor_address("127.0.0.1", closed_port))])
        assert reply.code == 447
        # An unknown CONNECTION-ID: 400.
        _, code = await _bind(turn, control.nonce, b"\x12\x34\x56\x78")
        assert code == 400
        await control.close()


async def test_tcp_allocation_over_udp_is_442() -> None:
    async with running_turn() as turn:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        await loop.sock_connect(sock, turn.address)
        try:
            nonce = b""
            for _ in range(2):
                attrs = [_attr(REQUESTED_TRANSPORT, bytes([6, 0, 0, 0])), _attr(USERNAME, USER.encode()),
                         _attr(REALM_ATTR, REALM.encode())] + ([_attr(NONCE, nonce)] if nonce else [])
                await loop.sock_sendall(sock, _encode(ALLOCATE, attrs, KEY if nonce else None))
                raw = await asyncio.wait_for(loop.sock_recv(sock, 2048), 3)
                reader = asyncio.StreamReader()
                reader.feed_data(raw)
                reply = await _read(reader)
                nonce = reply.attrs.get(NONCE, nonce)
            assert reply.code == 442
        finally:
            sock.close()


async def test_unbound_connection_is_closed_after_timeout() -> None:
    async with running_turn() as turn, tcp_peer() as peer:
        turn.core.bind_timeout = 0.5
        control, _ = await _tcp_allocation(turn)
        await _permit(control, "127.0.0.1")
        reply = await control.request(CONNECT, [_attr(XOR_PEER_ADDRESS, _xor_address("127.0.0.1", peer.port))])
        assert reply.code == 200
        peer_reader, _ = await asyncio.wait_for(peer.accepted.get(), 5)
        assert await _closed(peer_reader)  # no ConnectionBind within the timeout
        _, code = await _bind(turn, control.nonce, reply.attrs[CONNECTION_ID])
        assert code == 400
        # The peer may be connected to again once the old connection is gone.
        again = await control.request(CONNECT, [_attr(XOR_PEER_ADDRESS, _xor_address("127.0.0.1", peer.port))])
        assert again.code == 200
        await control.close()


async def test_control_connection_closing_frees_everything() -> None:
    async with running_turn() as turn, tcp_peer() as peer:
        control, relayed = await _tcp_allocation(turn)
        await _permit(control, "127.0.0.1")
        reply = await control.request(CONNECT, [_attr(XOR_PEER_ADDRESS, _xor_address("127.0.0.1", peer.port))])
        peer_reader, _ = await asyncio.wait_for(peer.accepted.get(), 5)
        data, code = await _bind(turn, control.nonce, reply.attrs[CONNECTION_ID])
        assert code == 200
        await control.close()
        assert await _closed(peer_reader) and await _closed(data.reader)
        assert not turn.core.table.by_tuple and not turn.core.connections.by_id
        # The relayed port is free again: nothing listens there any more.
        with pytest.raises(OSError):
            await asyncio.open_connection(*relayed)
        await data.close()


# -- high-capacity mode: the data connection may reach another worker -----------------------


@asynccontextmanager
async def two_workers() -> AsyncIterator[Running]:
    import secrets

    from moot.turn.worker import ServerSpec, WorkerPool

    port = free_port()
    low = free_port(socket.SOCK_DGRAM) // 2 + 20000
    spec = ServerSpec(
        listen=[("127.0.0.1", port, None)], realm=REALM, users={USER: PASSWORD},
        relay_ip="127.0.0.1", relay_ports=(low, low + 199), nonce_secret=secrets.token_hex(16),
        allowed_peers=["127.0.0.1/32"], user_quota=100,
    )
    pool = WorkerPool()
    await pool.start(spec, 2)
    try:
        yield Running(None, None, port, None)  # type: ignore[arg-type]  # only the port is used
    finally:
        await pool.stop()


async def test_connection_bind_reaching_another_worker_is_passed_on() -> None:
    """SO_REUSEPORT spreads the client's data connections over both workers: each
    ConnectionBind must still reach the worker holding the peer connection (a
    misrouted one would get 400 half of the time)."""
    async with two_workers() as turn:
        control, _ = await _tcp_allocation(turn)
        await _permit(control, "127.0.0.1")
        for n in range(8):
            async with tcp_peer() as peer:
                reply = await control.request(
                    CONNECT, [_attr(XOR_PEER_ADDRESS, _xor_address("127.0.0.1", peer.port))]
                )
                assert reply.code == 200, n
                peer_reader, peer_writer = await asyncio.wait_for(peer.accepted.get(), 5)
                data, code = await _bind(turn, control.nonce, reply.attrs[CONNECTION_ID])
                assert code == 200, n
                data.writer.write(b"ping %d" % n)
                assert await asyncio.wait_for(peer_reader.readexactly(6), 5) == b"ping %d" % n
                peer_writer.write(b"pong %d" % n)
                assert await asyncio.wait_for(data.reader.readexactly(6), 5) == b"pong %d" % n
                peer_writer.close()
                assert await _closed(data.reader)  # the peer's end reaches the client
                await data.close()
        await control.close()


async def test_bandwidth_cap_slows_a_tcp_relay_down_and_loses_nothing() -> None:
    """``turn.bandwidth`` on a TCP relay: a stream is shaped (delayed), never cut."""
    rate = 20_000  # bytes per second, both directions together
    async with running_turn(bandwidth=rate) as turn, tcp_peer() as peer:
        control, _relayed = await _tcp_allocation(turn)
        await _permit(control, "127.0.0.1")
        reply = await control.request(CONNECT, [_attr(XOR_PEER_ADDRESS, _xor_address("127.0.0.1", peer.port))])
        assert reply.code == 200
        peer_reader, peer_writer = await asyncio.wait_for(peer.accepted.get(), 5)
        data, code = await _bind(turn, control.nonce, reply.attrs[CONNECTION_ID])
        assert code == 200
        payload = bytes(range(256)) * 240  # 61,440 bytes: 1 s of burst, then ~2 s of shaping
        started = asyncio.get_running_loop().time()
        data.writer.write(payload)
        received = await asyncio.wait_for(peer_reader.readexactly(len(payload)), 15)
        took = asyncio.get_running_loop().time() - started
        assert received == payload
        assert took >= (len(payload) - rate) / rate * 0.9, took
        peer_writer.close()
        await data.close()
        await control.close()
