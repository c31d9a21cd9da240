"""The main process's arbiter of the per-user quota across workers, and a worker's client."""

from __future__ import annotations

import asyncio
import json

from moot.turn.quota import QuotaArbiter, QuotaClient


def test_quota_counts_all_workers_together() -> None:
    arbiter = QuotaArbiter(user_quota=3)
    assert arbiter.acquire(0, "alice") and arbiter.acquire(1, "alice") and arbiter.acquire(1, "alice")
    assert not arbiter.acquire(0, "alice") and not arbiter.acquire(2, "alice")
    assert arbiter.acquire(0, "bob")
    arbiter.release(1, "alice")
    assert arbiter.acquire(2, "alice")
    assert arbiter.held("alice") == 3


def test_a_worker_that_ends_gives_its_allocations_back() -> None:
    arbiter = QuotaArbiter(user_quota=2)
    assert arbiter.acquire(0, "alice") and arbiter.acquire(1, "alice")
    arbiter.forget(1)
    assert arbiter.held("alice") == 1 and arbiter.acquire(0, "alice")


def test_release_never_goes_below_zero() -> None:
    arbiter = QuotaArbiter(user_quota=1)
    arbiter.release(0, "alice")
    assert arbiter.held("alice") == 0 and arbiter.acquire(0, "alice")


def test_answer_lines() -> None:
    arbiter = QuotaArbiter(user_quota=1)
    reply = arbiter.answer(0, b'{"op": "acquire", "id": 4, "user": "alice"}\n')
    assert reply is not None and json.loads(reply) == {"id": 4, "ok": True}
    reply = arbiter.answer(1, b'{"op": "acquire", "id": 5, "user": "alice"}\n')
    assert reply is not None and json.loads(reply) == {"id": 5, "ok": False}
    assert arbiter.answer(0, b'{"op": "release", "user": "alice"}\n') is None
    assert arbiter.held("alice") == 0
    assert arbiter.answer(0, b"not json\n") is None
    assert arbiter.answer(0, b'{"op": "acquire"}\n') is None


async def test_client_and_arbiter_over_lines() -> None:
    arbiter = QuotaArbiter(user_quota=1)
    clients: list[QuotaClient] = []

    def to_main(line: bytes) -> None:  # what the main process does with a worker's line
        reply = arbiter.answer(0, line)
        if reply is not None:
            asyncio.get_running_loop().call_soon(clients[0].answered, reply)

    clients.append(QuotaClient(to_main))
    assert await clients[0].acquire("alice") is True
    assert await clients[0].acquire("alice") is False
    clients[0].release("alice")
    assert await clients[0].acquire("alice") is True


async def test_client_refuses_when_the_main_process_is_silent() -> None:
    client = QuotaClient(lambda line: None, timeout=0.05)
    assert await client.acquire("alice") is False
    client.answered(b"garbage\n")  # ignored


def test_token_bucket_polices_datagrams_and_shapes_streams() -> None:
    from moot.turn.allocation import TokenBucket

    now = [100.0]
    bucket = TokenBucket(1000, lambda: now[0])
    assert bucket.take(600) and not bucket.take(600)  # UDP: what does not fit is dropped
    assert bucket.delay(400) == 0.0  # the last 400 of the second's burst
    assert bucket.delay(500) == 0.5  # TCP: over the rate means waiting, not losing
    now[0] += 0.5
    assert bucket.delay(0) == 0.0
    assert TokenBucket(0).delay(10**9) == 0.0  # no cap
