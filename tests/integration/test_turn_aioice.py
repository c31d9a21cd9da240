"""aioice's TURN client (an independent implementation) against Moot's TURN server."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from aioice.turn import TurnTransport, create_turn_endpoint

from moot.turn.credentials import rest_credentials
from tests.turn_helpers import PASSWORD, SECRET, USER, PeerSocket, peer_socket, running_turn


async def close(transport: TurnTransport) -> None:
    transport.close()
    await asyncio.sleep(0.3)  # let aioice delete the allocation before the loop ends


class Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))


async def _relay_both_ways(transport: TurnTransport, client: Receiver, peer: PeerSocket) -> None:
    relayed = transport.get_extra_info("sockname")
    for i in range(5):
        transport.sendto(b"to-peer-%d" % i, peer.address)
        data, source = await asyncio.wait_for(peer.queue.get(), 3)
        assert data == b"to-peer-%d" % i
        assert source == tuple(relayed)  # the peer sees the relayed transport address
        assert peer.transport is not None
        peer.transport.sendto(b"to-client-%d" % i, source)
        back, origin = await asyncio.wait_for(client.queue.get(), 3)
        assert back == b"to-client-%d" % i
        assert tuple(origin) == peer.address


@pytest.mark.parametrize("kind", ["udp", "tcp"])
async def test_aioice_allocates_binds_channel_and_relays(kind: str) -> None:
    async with running_turn() as turn, peer_socket() as peer:
        transport, client = await create_turn_endpoint(
            Receiver, turn.address, USER, PASSWORD, transport=kind
        )
        try:
            relayed = transport.get_extra_info("sockname")
            assert relayed[0] == "127.0.0.1"
            assert len(turn.core.table.by_tuple) == 1
            await _relay_both_ways(transport, client, peer)
            alloc = next(iter(turn.core.table.by_tuple.values()))
            assert alloc.channels, "aioice relays over a bound channel"
        finally:
            await close(transport)
        # Closing deletes the allocation (Refresh lifetime 0, or the TCP connection closing).
        assert not turn.core.table.by_tuple


async def test_aioice_over_tls(tmp_path: Path) -> None:
    async with running_turn(tls_dir=tmp_path) as turn, peer_socket() as peer:
        context = ssl.create_default_context(cafile=str(tmp_path / "turn.crt"))
        assert turn.tls_port is not None
        transport, client = await create_turn_endpoint(
            Receiver, ("127.0.0.1", turn.tls_port), USER, PASSWORD, ssl=context, transport="tcp"
        )
        try:
            await _relay_both_ways(transport, client, peer)
            assert next(iter(turn.core.table.by_tuple))[0] == "tls"
        finally:
            await close(transport)


async def test_aioice_with_time_limited_rest_credentials() -> None:
    async with running_turn() as turn, peer_socket() as peer:
        username, password = rest_credentials(SECRET, "webapp-user", ttl=300)
        transport, client = await create_turn_endpoint(
            Receiver, turn.address, username, password
        )
        try:
            await _relay_both_ways(transport, client, peer)
        finally:
            await close(transport)


async def test_aioice_expired_rest_credentials_refused() -> None:
    async with running_turn() as turn:
        username, password = rest_credentials(SECRET, "webapp-user", ttl=-10)
        with pytest.raises(Exception, match=r"401|Unauthorized"):
            await create_turn_endpoint(Receiver, turn.address, username, password)
        assert turn.core.stats["auth_failures"] >= 1


async def test_aioice_wrong_password_refused() -> None:
    async with running_turn() as turn:
        with pytest.raises(Exception, match=r"401|Unauthorized"):
            await create_turn_endpoint(Receiver, turn.address, USER, "wrong")
        assert not turn.core.table.by_tuple


async def test_loopback_peer_denied_without_allow_list() -> None:
    async with running_turn(allow_loopback=False) as turn, peer_socket() as peer:
        transport, _ = await create_turn_endpoint(Receiver, turn.address, USER, PASSWORD)
        try:
            transport.sendto(b"x", peer.address)  # aioice's ChannelBind gets 403
            await asyncio.sleep(0.5)
            assert peer.queue.empty()
            alloc = next(iter(turn.core.table.by_tuple.values()))
            assert not alloc.channels and not alloc.permissions
        finally:
            await close(transport)


async def test_bandwidth_cap_drops_the_excess() -> None:
    async with running_turn(bandwidth=2000) as turn, peer_socket() as peer:
        transport, _ = await create_turn_endpoint(Receiver, turn.address, USER, PASSWORD)
        try:
            transport.sendto(b"warm-up", peer.address)  # binds the channel
            await asyncio.wait_for(peer.queue.get(), 3)
            for _ in range(20):
                transport.sendto(b"x" * 500, peer.address)
            await asyncio.sleep(0.5)
            got = peer.queue.qsize()
            # 2000 bytes/s with a one-second burst: about 4 of the 20 get through.
            assert 1 <= got <= 6, got
        finally:
            await close(transport)
