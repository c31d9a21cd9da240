"""Security policy: which peers may be relayed to, amplification bounds, auth-failure limits."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Peer ranges refused with 403 unless allowed (like coturn's denied-peer-ip defaults).
DENIED_RANGES: tuple[str, ...] = (
    "0.0.0.0/8",  # "this network", unspecified
    "10.0.0.0/8",  # private
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local
    "172.16.0.0/12",  # private
    "192.0.0.0/24",  # IETF protocol assignments
    "192.168.0.0/16",  # private
    "198.18.0.0/15",  # benchmarking
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, broadcast
    "::/128",  # unspecified
    "::1/128",  # loopback
    "64:ff9b::/96",  # NAT64 (reaches the IPv4 ranges above)
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local
    "ff00::/8",  # multicast
)


def parse_networks(texts: Iterable[str]) -> list[Network]:
    """Networks from ``a.b.c.d[/n]`` texts; ValueError names the bad one."""
    nets: list[Network] = []
    for text in texts:
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not an IP address or network") from None
    return nets


@dataclass
class PeerPolicy:
    allowed: list[Network] = field(default_factory=list)
    denied: list[Network] = field(default_factory=lambda: parse_networks(DENIED_RANGES))

    def permits(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allowed):
            return True
        return not any(ip in net for net in self.denied)


#: Upper bound on any unauthenticated response: the 401/438 challenge with an empty
#: reason, REALM (up to 32 bytes) and a 24-character NONCE. See ``unauthenticated_limit``.
CHALLENGE_BOUND = 20 + 8 + (4 + 32) + (4 + 24)


def unauthenticated_limit(request_length: int, challenge: bool) -> int:
    """The largest response the server sends to a request from an unproven source.

    Error responses are never larger than the request. The authentication
    challenge (401/438 with REALM and NONCE) cannot fit a minimal Allocate
    (36 bytes), so it is bounded by a small constant instead: at most
    ``CHALLENGE_BOUND`` bytes, about 2.5 times the smallest request.
    """
    return max(request_length, CHALLENGE_BOUND) if challenge else request_length


@dataclass
class FailureLimiter:
    """At most ``limit`` failed authentications per source IP in ``window`` seconds."""

    limit: int = 20
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, list[float]] = field(default_factory=dict)

    def _recent(self, source: str) -> list[float]:
        horizon = self.clock() - self.window
        times = [t for t in self._failures.get(source, []) if t > horizon]
        if times:
            self._failures[source] = times
        else:
            self._failures.pop(source, None)
        return times

    def blocked(self, source: str) -> bool:
        return len(self._recent(source)) >= self.limit

    def failed(self, source: str) -> None:
        times = self._recent(source)
        times.append(self.clock())
        self._failures[source] = times
        if len(self._failures) > 100_000:  # bound memory under a spoofed-source flood
            self._failures.pop(next(iter(self._failures)))
