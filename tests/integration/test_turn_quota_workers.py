"""``turn.user_quota`` holds across high-capacity worker processes.

Two real worker processes share the UDP port with SO_REUSEPORT. Which worker a
socket reaches is learnt by allocating as a second user ("bob") and reading
the relayed port (each worker owns its own slice of the relay port range),
then deleting that allocation; alice then allocates from sockets on both.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from moot.turn.stun import Attr, Class, Message, Method, long_term_key
from moot.turn.worker import ServerSpec, WorkerPool
from tests.helpers import free_port
from tests.turn_helpers import PASSWORD, REALM, USER, RawClient, raw_client

BOB, BOB_PASSWORD = "bob", "bob-Pa55"
QUOTA = 2


async def _signed(client: RawClient, user: str, password: str, method: int, attrs: dict[int, Any]) -> Message:
    first = await client.request(Message(method, Class.REQUEST, attributes=attrs).encode())
    auth = {Attr.USERNAME: user, Attr.REALM: REALM, Attr.NONCE: first.get(Attr.NONCE)}
    signed = Message(method, Class.REQUEST, attributes={**attrs, **auth})
    return await client.request(signed.encode(long_term_key(user, REALM, password), fingerprint=True))


async def _allocate(client: RawClient, user: str = USER, password: str = PASSWORD) -> Message:
    return await _signed(client, user, password, Method.ALLOCATE, {Attr.REQUESTED_TRANSPORT: 17})


async def _free(client: RawClient, user: str = USER, password: str = PASSWORD) -> None:
    reply = await _signed(client, user, password, Method.REFRESH, {Attr.LIFETIME: 0})
    assert reply.cls == Class.SUCCESS


def _code(reply: Message) -> int:
    return 200 if reply.cls == Class.SUCCESS else int(reply.get(Attr.ERROR_CODE)[0])


@asynccontextmanager
async def worker_pool(port: int, relay: tuple[int, int]) -> AsyncIterator[WorkerPool]:
    spec = ServerSpec(
        listen=[("127.0.0.1", port, None)], realm=REALM, users={USER: PASSWORD, BOB: BOB_PASSWORD},
        relay_ip="127.0.0.1", relay_ports=relay, nonce_secret=secrets.token_hex(16),
        allowed_peers=["127.0.0.1/32"], user_quota=QUOTA,
    )
    pool = WorkerPool()
    await pool.start(spec, 2)
    try:
        yield pool
    finally:
        await pool.stop()


async def test_user_quota_counts_allocations_of_all_workers() -> None:
    port = free_port(socket.SOCK_DGRAM)
    low = free_port(socket.SOCK_DGRAM) // 2 + 20000
    relay = (low, low + 199)  # worker 0 gets the first 100 ports, worker 1 the next 100
    async with worker_pool(port, relay) as pool, AsyncExitStack() as stack:
        on_worker: dict[int, list[RawClient]] = {0: [], 1: []}
        for _ in range(40):  # SO_REUSEPORT hashes each socket's 4-tuple to one worker
            if all(len(clients) >= 2 for clients in on_worker.values()):
                break
            client = await stack.enter_async_context(raw_client(("127.0.0.1", port)))
            probe = await _allocate(client, BOB, BOB_PASSWORD)
            assert _code(probe) == 200
            worker = (probe.get(Attr.XOR_RELAYED_ADDRESS)[1] - low) // 100
            on_worker[worker].append(client)
            await _free(client, BOB, BOB_PASSWORD)
        assert all(len(clients) >= 2 for clients in on_worker.values()), "the kernel used one worker"
        (a0, b0), (a1, b1) = on_worker[0][:2], on_worker[1][:2]
        # One allocation on each worker reaches the quota of 2 ...
        assert _code(await _allocate(a0)) == 200
        assert _code(await _allocate(a1)) == 200
        # ... so each worker, holding only one itself, refuses a third.
        assert _code(await _allocate(b0)) == 486
        assert _code(await _allocate(b1)) == 486
        assert pool.arbiter.held(USER) == QUOTA
        # Freeing the one on worker 0 lets one in on worker 1.
        await _free(a0)
        assert _code(await _allocate(b1)) == 200
        assert _code(await _allocate(b0)) == 486
        # Another user is not affected.
        assert _code(await _allocate(b0, BOB, BOB_PASSWORD)) == 200
        assert pool.arbiter.held(USER) == QUOTA and pool.arbiter.held(BOB) == 1
