"""Peer policy, amplification bounds, auth-failure limits, allocation bookkeeping."""

from __future__ import annotations

import pytest

from moot.turn.allocation import Allocation, AllocationTable, QuotaExceeded, TokenBucket
from moot.turn.policy import (
    CHALLENGE_BOUND,
    FailureLimiter,
    PeerPolicy,
    parse_networks,
    unauthenticated_limit,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1", "127.5.5.5", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "100.64.0.1", "224.0.0.251", "239.1.1.1", "255.255.255.255",
        "0.0.0.0", "::", "::1", "fe80::1", "fd00::1", "ff02::1", "::ffff:127.0.0.1",
        "::ffff:10.0.0.1", "64:ff9b::a00:1", "not-an-ip",
    ],
)
def test_denied_ranges(host: str) -> None:
    assert not PeerPolicy().permits(host)


@pytest.mark.parametrize("host", ["203.0.113.7", "8.8.8.8", "172.32.0.1", "2001:db8::1"])
def test_public_addresses_allowed(host: str) -> None:
    assert PeerPolicy().permits(host)


def test_operator_allow_list_overrides_denied_ranges() -> None:
    policy = PeerPolicy(allowed=parse_networks(["127.0.0.1/32", "10.1.0.0/16"]))
    assert policy.permits("127.0.0.1") and policy.permits("10.1.2.3")
    assert not policy.permits("127.0.0.2") and not policy.permits("10.2.0.1")


def test_parse_networks_names_the_bad_one() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/40'"):
        parse_networks(["10.0.0.0/8", "10.0.0.0/40"])


def test_unauthenticated_limit() -> None:
    assert unauthenticated_limit(36, challenge=False) == 36
    assert unauthenticated_limit(36, challenge=True) == CHALLENGE_BOUND
    assert unauthenticated_limit(500, challenge=True) == 500
    assert CHALLENGE_BOUND <= 100


def test_failure_limiter_blocks_then_forgets() -> None:
    clock = Clock()
    limiter = FailureLimiter(limit=3, window=60, clock=clock)
    for _ in range(3):
        assert not limiter.blocked("198.51.100.1")
        limiter.failed("198.51.100.1")
    assert limiter.blocked("198.51.100.1")
    assert not limiter.blocked("198.51.100.2")
    clock.now += 61
    assert not limiter.blocked("198.51.100.1")


def test_token_bucket_caps_bandwidth() -> None:
    clock = Clock()
    bucket = TokenBucket(1000, clock)
    assert bucket.take(600) and not bucket.take(600)
    clock.now += 0.5
    assert bucket.take(600)
    assert TokenBucket(0, clock).take(10**9)


def test_permissions_and_channels_expire() -> None:
    clock = Clock()
    alloc = Allocation(("udp", ("a", 1), ("b", 2)), "u", "r", b"k", clock.now + 600, clock=clock)
    assert alloc.bind_channel(0x4000, ("203.0.113.1", 5000))
    assert alloc.has_permission("203.0.113.1")
    # One channel per peer, one peer per channel.
    assert not alloc.bind_channel(0x4001, ("203.0.113.1", 5000))
    assert not alloc.bind_channel(0x4000, ("203.0.113.2", 5000))
    assert alloc.bind_channel(0x4000, ("203.0.113.1", 5000))  # refresh is fine
    clock.now += 301
    assert not alloc.has_permission("203.0.113.1")  # permissions last 5 minutes
    assert alloc.channel_peer(0x4000) == ("203.0.113.1", 5000)  # channels 10
    clock.now += 300
    assert alloc.channel_peer(0x4000) is None
    alloc.expire_old()
    assert not alloc.channels and not alloc.permissions


def test_quota_per_user_and_total() -> None:
    table = AllocationTable("127.0.0.1", user_quota=2, total_quota=3)
    for i, user in enumerate(["a", "a", "b"]):
        table.by_tuple[("udp", ("c", i), ("s", 1))] = Allocation(
            ("udp", ("c", i), ("s", 1)), user, "r", b"k", 1e12
        )
        table.per_user[user] = table.per_user.get(user, 0) + 1
    with pytest.raises(QuotaExceeded, match="'a' already holds 2"):
        table.check_quota("a")
    with pytest.raises(QuotaExceeded, match="maximum"):
        table.check_quota("c")
    table.remove(next(iter(table.by_tuple.values())))
    table.check_quota("a")
    assert table.per_user == {"a": 1, "b": 1}
