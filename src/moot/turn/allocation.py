"""TURN allocations (RFC 8656 section 2.2): relayed transport address, lifetime,
permissions (5 minutes), channel bindings (10 minutes), quotas and bandwidth caps.

A UDP allocation relays through a UDP socket; a TCP one (RFC 6062) through a
listening TCP socket whose connections :mod:`moot.turn.tcprelay` handles. The
per-user quota is counted here, and also by a :class:`SharedQuota` when several
worker processes must hold it together.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from moot.turn.stun import Address
from moot.turn.tcprelay import relay_tcp_socket
from moot.turn.udp import UdpSocket

if TYPE_CHECKING:
    from moot.turn.tcprelay import TcpRelay

DEFAULT_LIFETIME = 600
MAX_LIFETIME = 3600
PERMISSION_LIFETIME = 300
CHANNEL_LIFETIME = 600
RESERVATION_LIFETIME = 30

#: (transport, client address, server address): an allocation's 5-tuple.
FiveTuple = tuple[str, Address, Address]


class QuotaExceeded(Exception):
    """486 Allocation Quota Reached."""


class NoRelayPort(Exception):
    """508 Insufficient Capacity."""


class SharedQuota(Protocol):
    """Allocations per user counted across processes (see :mod:`moot.turn.quota`)."""

    async def acquire(self, username: str) -> bool:
        """Count one more allocation of ``username``; False if that is over the quota."""
        ...

    def release(self, username: str) -> None:
        """One allocation of ``username`` is gone."""
        ...


@dataclass
class TokenBucket:
    """``rate`` bytes per second with a one-second burst; rate 0 means unlimited."""

    rate: int
    clock: Callable[[], float] = time.monotonic
    tokens: float = 0.0
    stamp: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = float(self.rate)
        self.stamp = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.rate), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, size: int) -> bool:
        """Policing (UDP): True and debit if ``size`` bytes fit now, else False (drop it)."""
        if self.rate <= 0:
            return True
        self._refill()
        if self.tokens < size:
            return False
        self.tokens -= size
        return True

    def delay(self, size: int) -> float:
        """Shaping (TCP): debit ``size`` bytes; the seconds to wait before sending them so
        that the rate holds (a stream must not lose bytes, so it is slowed instead)."""
        if self.rate <= 0:
            return 0.0
        self._refill()
        self.tokens -= size
        return max(0.0, -self.tokens / self.rate)


@dataclass(eq=False)
class Allocation:
    five_tuple: FiveTuple
    username: str
    realm: str
    key: bytes
    expires: float
    relay: Address = ("0.0.0.0", 0)
    transport: UdpSocket | None = None
    #: A TCP allocation's listener and peer connections (RFC 6062); None for UDP.
    tcp: TcpRelay | None = None
    #: The listening socket of a TCP allocation until ``tcp`` takes it over.
    tcp_listener: socket.socket | None = None
    permissions: dict[str, float] = field(default_factory=dict)
    channels: dict[int, Address] = field(default_factory=dict)
    channel_of_peer: dict[Address, int] = field(default_factory=dict)
    channel_expiry: dict[int, float] = field(default_factory=dict)
    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(0))
    #: Sends bytes to the client over the allocation's 5-tuple; set by the server.
    to_client: Callable[[bytes], None] = lambda data: None
    #: Builds what a peer's datagram becomes for the client: (channel or None, peer, data).
    wrap: Callable[[int | None, Address, bytes], bytes] = lambda ch, peer, data: data
    clock: Callable[[], float] = time.monotonic
    #: (transaction id, response) of the Allocate that made it, for retransmissions.
    last_allocate: tuple[bytes, bytes] | None = None

    def alive(self) -> bool:
        return self.clock() < self.expires

    def has_permission(self, host: str) -> bool:
        expiry = self.permissions.get(host)
        return expiry is not None and expiry > self.clock()

    def permit(self, host: str) -> None:
        self.permissions[host] = self.clock() + PERMISSION_LIFETIME

    def bind_channel(self, number: int, peer: Address) -> bool:
        """Bind or refresh; False if the number or the peer is bound to something else."""
        if self.channels.get(number, peer) != peer:
            return False
        if self.channel_of_peer.get(peer, number) != number:
            return False
        self.channels[number] = peer
        self.channel_of_peer[peer] = number
        self.channel_expiry[number] = self.clock() + CHANNEL_LIFETIME
        self.permit(peer[0])
        return True

    def channel_peer(self, number: int) -> Address | None:
        expiry = self.channel_expiry.get(number)
        if expiry is None or expiry <= self.clock():
            return None
        return self.channels[number]

    def expire_old(self) -> None:
        now = self.clock()
        self.permissions = {h: t for h, t in self.permissions.items() if t > now}
        for number, expiry in list(self.channel_expiry.items()):
            if expiry <= now:
                peer = self.channels.pop(number)
                self.channel_of_peer.pop(peer, None)
                del self.channel_expiry[number]

    def to_peer(self, data: bytes, peer: Address) -> bool:
        if self.transport is None or not self.has_permission(peer[0]):
            return False
        if not self.bucket.take(len(data)):
            return False
        self.transport.sendto(data, peer)
        return True

    def from_peer(self, data: bytes, peer: Address) -> None:
        if not self.has_permission(peer[0]) or not self.bucket.take(len(data)):
            return
        number = self.channel_of_peer.get(peer)
        if number is not None and self.channel_expiry.get(number, 0) <= self.clock():
            number = None
        self.to_client(self.wrap(number, peer, data))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.tcp is not None:
            self.tcp.close()
            self.tcp = None
        elif self.tcp_listener is not None:
            self.tcp_listener.close()
        self.tcp_listener = None


@dataclass
class AllocationTable:
    """All allocations of one server: lookup by 5-tuple, quotas, relay ports."""

    relay_ip: str
    port_range: tuple[int, int] = (49152, 65535)
    user_quota: int = 10
    total_quota: int = 10000
    bandwidth: int = 0  # bytes per second per allocation, 0 = unlimited
    clock: Callable[[], float] = time.monotonic
    by_tuple: dict[FiveTuple, Allocation] = field(default_factory=dict)
    per_user: dict[str, int] = field(default_factory=dict)
    #: RESERVATION-TOKEN -> (socket held on the reserved port, expiry).
    reservations: dict[bytes, tuple[socket.socket, float]] = field(default_factory=dict)
    #: Ports of TCP allocations: SO_REUSEPORT would let a second listener bind one.
    tcp_ports: set[int] = field(default_factory=set)
    #: The quota shared with other worker processes, if any.
    shared: SharedQuota | None = None

    def get(self, five_tuple: FiveTuple) -> Allocation | None:
        alloc = self.by_tuple.get(five_tuple)
        if alloc is not None and not alloc.alive():
            self.remove(alloc)
            return None
        return alloc

    def check_quota(self, username: str) -> None:
        if self.per_user.get(username, 0) >= self.user_quota:
            raise QuotaExceeded(f"user {username!r} already holds {self.user_quota} allocations")
        if len(self.by_tuple) >= self.total_quota:
            raise QuotaExceeded("the server holds its maximum number of allocations")

    async def create(
        self,
        five_tuple: FiveTuple,
        username: str,
        realm: str,
        key: bytes,
        lifetime: int,
        even_port: bool = False,
        reserve: bool = False,
        token: bytes | None = None,
        tcp: bool = False,
    ) -> tuple[Allocation, bytes | None]:
        """A new allocation, and the RESERVATION-TOKEN of the next port if ``reserve``.

        ``even_port`` asks for an even relay port (EVEN-PORT); ``reserve`` also holds
        port+1 for 30 seconds; ``token`` takes such a held port (RFC 8656 section 7.2).
        ``tcp`` makes a TCP allocation (RFC 6062) with a listening relay socket.
        """
        self.check_quota(username)
        if self.shared is not None and not await self.shared.acquire(username):
            raise QuotaExceeded(f"user {username!r} holds the most allocations all workers allow")
        try:
            return self._create(five_tuple, username, realm, key, lifetime,
                                even_port, reserve, token, tcp)
        except BaseException:
            if self.shared is not None:
                self.shared.release(username)
            raise

    def _create(
        self, five_tuple: FiveTuple, username: str, realm: str, key: bytes, lifetime: int,
        even_port: bool, reserve: bool, token: bytes | None, tcp: bool,
    ) -> tuple[Allocation, bytes | None]:
        alloc = Allocation(
            five_tuple, username, realm, key, self.clock() + lifetime,
            bucket=TokenBucket(self.bandwidth, self.clock), clock=self.clock,
        )
        if tcp:
            alloc.tcp_listener = self._bind_tcp()
            alloc.relay = (self.relay_ip, alloc.tcp_listener.getsockname()[1])
            self.tcp_ports.add(alloc.relay[1])
            self._add(alloc)
            return alloc, None
        new_token = None
        if token is not None:
            held = self.reservations.pop(token, None)
            if held is None or held[1] <= self.clock():
                if held is not None:
                    held[0].close()
                raise NoRelayPort("the reservation token is unknown or expired")
            sock = held[0]
        else:
            sock, partner = self._bind_ports(even_port or reserve, reserve)
            if partner is not None:
                new_token = os.urandom(8)
                self.reservations[new_token] = (partner, self.clock() + RESERVATION_LIFETIME)
        alloc.transport = UdpSocket(sock, alloc.from_peer)
        alloc.relay = (self.relay_ip, sock.getsockname()[1])
        self._add(alloc)
        return alloc, new_token

    def _add(self, alloc: Allocation) -> None:
        self.by_tuple[alloc.five_tuple] = alloc
        self.per_user[alloc.username] = self.per_user.get(alloc.username, 0) + 1

    def _bind_tcp(self) -> socket.socket:
        """A TCP relay socket on a free port of the range (not yet listening)."""
        low, high = self.port_range
        count = high - low + 1
        start = random.randrange(count)
        for i in range(min(count, 128)):
            port = low + (start + i) % count
            if port in self.tcp_ports:
                continue
            try:
                return relay_tcp_socket((self.relay_ip, port))
            except OSError:
                continue
        raise NoRelayPort(f"no free TCP relay port in {low}-{high}")

    def _bind(self, port: int) -> socket.socket | None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.relay_ip, port))
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        return sock

    def _bind_ports(self, even: bool, pair: bool) -> tuple[socket.socket, socket.socket | None]:
        """A bound relay socket (even port if asked) and, for ``pair``, one on the next port."""
        low, high = self.port_range
        count = high - low + 1
        start = random.randrange(count)
        for i in range(min(count, 128)):
            port = low + (start + i) % count
            if even and port % 2:
                continue
            if pair and port + 1 > high:
                continue
            sock = self._bind(port)
            if sock is None:
                continue
            if not pair:
                return sock, None
            partner = self._bind(port + 1)
            if partner is not None:
                return sock, partner
            sock.close()
        raise NoRelayPort(f"no free relay port in {low}-{high}")

    def refresh(self, alloc: Allocation, lifetime: int) -> None:
        if lifetime == 0:
            self.remove(alloc)
        else:
            alloc.expires = self.clock() + lifetime

    def remove(self, alloc: Allocation) -> None:
        if self.by_tuple.get(alloc.five_tuple) is alloc:
            del self.by_tuple[alloc.five_tuple]
            left = self.per_user.get(alloc.username, 1) - 1
            if left > 0:
                self.per_user[alloc.username] = left
            else:
                self.per_user.pop(alloc.username, None)
            if alloc.tcp_listener is not None:
                self.tcp_ports.discard(alloc.relay[1])
            if self.shared is not None:
                self.shared.release(alloc.username)
        alloc.close()

    def sweep(self) -> None:
        now = self.clock()
        for token, (sock, expiry) in list(self.reservations.items()):
            if expiry <= now:
                sock.close()
                del self.reservations[token]
        for alloc in list(self.by_tuple.values()):
            if not alloc.alive():
                self.remove(alloc)
            else:
                alloc.expire_old()

    def close(self) -> None:
        for alloc in list(self.by_tuple.values()):
            self.remove(alloc)
        for sock, _ in self.reservations.values():
            sock.close()
        self.reservations.clear()
