"""A TURN server on loopback for tests, and small raw STUN client helpers."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from moot.turn.allocation import AllocationTable
from moot.turn.credentials import Credentials
from moot.turn.policy import FailureLimiter, PeerPolicy, parse_networks
from moot.turn.server import Listen, TurnCore, TurnServer
from moot.turn.stun import Message, parse
from tests.helpers import free_port

USER = "alice"
PASSWORD = "s3cret-Pass"
REALM = "moot.test"
SECRET = "rest-shared-secret"


@dataclass
class Running:
    server: TurnServer
    core: TurnCore
    port: int
    tls_port: int | None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def tls_context(tmp: Path) -> ssl.SSLContext:
    from moot.pki import server_ssl_context
    from moot.pki.selfsigned import make_selfsigned

    make_selfsigned(tmp / "turn.key", tmp / "turn.crt", "127.0.0.1", ["127.0.0.1"])
    return server_ssl_context(tmp / "turn.key", tmp / "turn.crt", None)


@asynccontextmanager
async def running_turn(
    allow_loopback: bool = True,
    user_quota: int = 10,
    bandwidth: int = 0,
    tls_dir: Path | None = None,
    limiter: FailureLimiter | None = None,
    nonce_lifetime: float = 600,
) -> AsyncIterator[Running]:
    port = free_port(socket.SOCK_DGRAM)
    low = free_port(socket.SOCK_DGRAM)
    credentials = Credentials(REALM, {USER: PASSWORD}, SECRET, nonce_lifetime=nonce_lifetime)
    allowed = parse_networks(["127.0.0.1/32"]) if allow_loopback else []
    core = TurnCore(
        credentials,
        AllocationTable("127.0.0.1", (low, low + 200), user_quota=user_quota, bandwidth=bandwidth),
        PeerPolicy(allowed=allowed),
        limiter or FailureLimiter(),
    )
    tls_port = free_port() if tls_dir else None
    server = TurnServer(
        core, [Listen("127.0.0.1", port, tls_port)], tls_context(tls_dir) if tls_dir else None
    )
    await server.start()
    try:
        yield Running(server, core, port, tls_port)
    finally:
        await server.stop()


class RawClient(asyncio.DatagramProtocol):
    """A bare UDP socket speaking our codec, for bad-input tests."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(data)

    async def request(self, data: bytes, timeout: float = 2.0) -> Message:
        self.send(data)
        return parse(await asyncio.wait_for(self.queue.get(), timeout))

    async def nothing(self, timeout: float = 0.3) -> bool:
        try:
            await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return True
        return False


@asynccontextmanager
async def raw_client(server: tuple[str, int]) -> AsyncIterator[RawClient]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(RawClient, remote_addr=server)
    try:
        yield proto
    finally:
        transport.close()


class PeerSocket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return (host, port)


@asynccontextmanager
async def peer_socket() -> AsyncIterator[PeerSocket]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(PeerSocket, local_addr=("127.0.0.1", 0))
    try:
        yield proto
    finally:
        transport.close()
