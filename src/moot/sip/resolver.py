"""Locating SIP servers (RFC 3263) with dnspython.

Transport (4.1): the URI's ``transport`` parameter; otherwise UDP for ``sip`` and TLS for
``sips`` when the host is an IP address or a port is given; otherwise the transports
that have SRV records (``_sips._tcp`` for sips; ``_sip._udp``, ``_sip._tcp`` and
``_sips._tcp`` for sip), falling back to UDP (TLS for sips). NAPTR is not consulted.

Address and port (4.2): an IP literal is used as it is (no DNS); a host with a port is
looked up with A and AAAA; otherwise SRV records are ordered by priority and weighted at
random within a priority (RFC 2782) and their targets looked up with A/AAAA; without
SRV records the host's A/AAAA records and the default port (5060, 5061 for TLS).

Name servers and their port are configurable (the MMP ``dns`` settings); answers are
cached for their TTL.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.resolver

from moot.sip.transport import DEFAULT_PORTS, Target, is_ip_literal
from moot.sip.uri import SipUri, UriError

logger = logging.getLogger("moot.sip.resolver")

#: SRV service names per transport (4.1).
SRV_PREFIX = {"UDP": "_sip._udp.", "TCP": "_sip._tcp.", "TLS": "_sips._tcp."}
_TRANSPORT_PARAM = {"udp": "UDP", "tcp": "TCP", "tls": "TLS"}


class ResolveError(ValueError):
    """A URI or proxy that cannot be resolved (bad syntax, unsupported transport)."""


def proxy_uri(proxy: str | SipUri) -> SipUri:
    """An outbound proxy as a URI: ``sip:host;transport=tcp`` or plain ``host[:port]``."""
    if isinstance(proxy, SipUri):
        return proxy
    text = proxy.strip()
    try:
        if text.lower().startswith(("sip:", "sips:")):
            return SipUri.parse(text)
        return SipUri.parse("sip:" + text)
    except UriError as exc:
        raise ResolveError(f"proxy {text[:80]!r}: {exc}") from None


class Resolver:
    """RFC 3263 resolution with configurable name servers."""

    def __init__(
        self,
        nameservers: list[str] | None = None,
        *,
        port: int = 53,
        timeout: float = 3.0,
        transports: tuple[str, ...] = ("UDP", "TCP", "TLS"),
    ) -> None:
        self.transports = tuple(t.upper() for t in transports)
        try:
            self._dns = dns.asyncresolver.Resolver(configure=not nameservers)
        except dns.resolver.NoResolverConfiguration:
            self._dns = dns.asyncresolver.Resolver(configure=False)
            self._dns.nameservers = ["127.0.0.1"]
        if nameservers:
            self._dns.nameservers = list(nameservers)
        self._dns.port = port
        self._dns.lifetime = timeout
        self._dns.timeout = timeout
        self._dns.cache = dns.resolver.LRUCache(2048)

    @property
    def nameservers(self) -> list[str]:
        return [str(ns) for ns in self._dns.nameservers]

    async def resolve(self, uri: SipUri | str, proxy: str | SipUri | None = None) -> list[Target]:
        """Targets to try in order for a request to ``uri`` (or via ``proxy``)."""
        if isinstance(uri, str):
            try:
                uri = SipUri.parse(uri)
            except UriError as exc:
                raise ResolveError(str(exc)) from None
        target_uri = proxy_uri(proxy) if proxy is not None else uri
        if target_uri.scheme == "tel":
            raise ResolveError("a tel URI needs a proxy to be routed")
        secure = target_uri.scheme == "sips"
        host = target_uri.host
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        port = target_uri.port
        param = target_uri.params.get("transport")
        transport: str | None = None
        if param:
            transport = _TRANSPORT_PARAM.get(param.lower())
            if transport is None:
                raise ResolveError(f"unsupported transport {param!r}")
            if secure and transport == "TCP":
                transport = "TLS"
            if secure and transport == "UDP":
                raise ResolveError("sips over UDP is not possible")
        if is_ip_literal(host):
            transport = transport or ("TLS" if secure else "UDP")
            return [Target(transport, host, port or DEFAULT_PORTS[transport])]
        if port is not None:
            transport = transport or ("TLS" if secure else "UDP")
            return [Target(transport, addr, port) for addr in await self.resolve_host(host)]
        candidates = [transport] if transport else (
            ["TLS"] if secure else [t for t in ("UDP", "TCP", "TLS") if t in self.transports])
        results = await asyncio.gather(*(self._srv(t, host) for t in candidates))
        targets = [target for found in results for target in found]
        if targets:
            return targets
        transport = transport or ("TLS" if secure else "UDP")
        return [Target(transport, addr, DEFAULT_PORTS[transport])
                for addr in await self.resolve_host(host)]

    async def resolve_host(self, host: str) -> list[str]:
        """A and AAAA records of ``host`` (IPv4 first); an IP literal is returned as is."""
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if is_ip_literal(host):
            return [host]
        a, aaaa = await asyncio.gather(self._query(host, "A"), self._query(host, "AAAA"))
        return [str(r.address) for r in a] + [str(r.address) for r in aaaa]

    async def _srv(self, transport: str, host: str) -> list[Target]:
        records = await self._query(SRV_PREFIX[transport] + host, "SRV")
        if not records:
            return []
        ordered = order_srv([(int(r.priority), int(r.weight), int(r.port),
                              str(r.target).rstrip(".")) for r in records])
        targets: list[Target] = []
        lookups = await asyncio.gather(*(self.resolve_host(name) for _, name in ordered))
        for (port, _name), addresses in zip(ordered, lookups, strict=True):
            targets.extend(Target(transport, addr, port) for addr in addresses)
        return targets

    async def _query(self, name: str, rdtype: str) -> list[Any]:
        try:
            answer = await self._dns.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            return []
        except dns.exception.DNSException as exc:
            logger.warning("DNS %s %s failed: %s", rdtype, name, exc)
            return []
        return list(answer)


def order_srv(records: list[tuple[int, int, int, str]]) -> list[tuple[int, str]]:
    """(port, target) in RFC 2782 order: by priority, weighted random within one; a target
    of "." means the service is not available."""
    out: list[tuple[int, str]] = []
    for priority in sorted({r[0] for r in records}):
        group = [r for r in records if r[0] == priority and r[3] not in ("", ".")]
        while group:
            total = sum(r[1] for r in group)
            if total == 0:
                chosen = group[0]
            else:
                pick = random.uniform(0, total)
                running = 0
                chosen = group[-1]
                for record in group:
                    running += record[1]
                    if running >= pick:
                        chosen = record
                        break
            out.append((chosen[2], chosen[3]))
            group.remove(chosen)
    return out
