"""Declared network settings and the typed records stored in them.

Values are kept in the node config as plain JSON (strings, numbers, lists); the
records here convert them to ``ipaddress`` objects and back.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from moot.node.settings import NodeConfig, Setting

IPVersion = Literal[4, 6]
Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: ``network apply enable|disable``: may MMP commands change host devices? Off by default,
#: so neither ``moot serve`` nor a test run as root reconfigures the host by accident.
NETWORK_APPLY: Setting[bool] = Setting("network.apply", False)

#: ``ipv4 <if> default`` / ``ipv6 <if> default``: the interface whose gateway is the default route.
DEFAULT_INTERFACE: dict[IPVersion, Setting[str]] = {
    4: Setting("net.ipv4.default", "a"),
    6: Setting("net.ipv6.default", "a"),
}

#: ``dns add forwardzone <domain> <server>``: list of {"domain", "server", "port"}.
DNS_FORWARD_ZONES: Setting[list[dict[str, Any]]] = Setting("dns.forwardzones", [])

#: ``ntp server add <server>``: host names or addresses.
NTP_SERVERS: Setting[list[str]] = Setting("ntp.servers", [])


# --- link (iface) ------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkConfig:
    """``iface <if> ...``: None means "default" (whatever the device negotiates)."""

    autoneg: bool | None = None
    speed: int | None = None
    duplex: str | None = None  # "full" or "half"
    mtu: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"autoneg": self.autoneg, "speed": self.speed, "duplex": self.duplex, "mtu": self.mtu}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LinkConfig:
        return cls(value.get("autoneg"), value.get("speed"), value.get("duplex"), value.get("mtu"))


def link_setting(name: str) -> Setting[dict[str, Any]]:
    return Setting(f"net.{name}.link", LinkConfig().to_json())


def get_link(config: NodeConfig, name: str) -> LinkConfig:
    return LinkConfig.from_json(config.get(link_setting(name)))


# --- addresses (ipv4 / ipv6) -------------------------------------------------------------


@dataclass(frozen=True)
class StaticAddress:
    interface: Interface
    gateway: Address | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "address": str(self.interface),
            "gateway": str(self.gateway) if self.gateway is not None else None,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> StaticAddress:
        gw = value.get("gateway")
        return cls(
            ipaddress.ip_interface(value["address"]),
            ipaddress.ip_address(gw) if gw else None,
        )


@dataclass(frozen=True)
class IpConfig:
    """One interface's configuration for one IP version.

    ``auto`` is DHCP for IPv4 and SLAAC for IPv6.
    """

    version: IPVersion
    enabled: bool
    auto: bool
    addresses: tuple[StaticAddress, ...] = ()
    routes: tuple[Network, ...] = field(default=())

    @property
    def gateway(self) -> Address | None:
        """The interface's gateway: that of its first static address that has one."""
        for a in self.addresses:
            if a.gateway is not None:
                return a.gateway
        return None

    def find(self, address: Address) -> StaticAddress | None:
        for a in self.addresses:
            if a.interface.ip == address:
                return a
        return None

    def with_changes(self, **changes: Any) -> IpConfig:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "auto": self.auto,
            "addresses": [a.to_json() for a in self.addresses],
            "routes": [str(r) for r in self.routes],
        }

    @classmethod
    def from_json(cls, version: IPVersion, value: dict[str, Any]) -> IpConfig:
        return cls(
            version,
            bool(value.get("enabled")),
            bool(value.get("auto")),
            tuple(StaticAddress.from_json(a) for a in value.get("addresses", [])),
            tuple(ipaddress.ip_network(r) for r in value.get("routes", [])),
        )


def ip_setting(name: str, version: IPVersion) -> Setting[dict[str, Any]]:
    """Interface a starts enabled with DHCP (guide 3.2); b-d start disabled (guide 3.3).
    IPv6 starts disabled everywhere, with SLAAC on once enabled."""
    if version == 4:
        default = IpConfig(4, enabled=name == "a", auto=name == "a")
    else:
        default = IpConfig(6, enabled=False, auto=True)
    return Setting(f"net.{name}.ipv{version}", default.to_json())


def get_ip(config: NodeConfig, name: str, version: IPVersion) -> IpConfig:
    return IpConfig.from_json(version, config.get(ip_setting(name, version)))


# --- DNS ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForwardZone:
    """A domain and one server that resolves names at or below it (guide 3.2 step 3)."""

    domain: str  # lower case, no trailing dot; "." is the root zone
    server: Address
    port: int = 53

    @property
    def server_text(self) -> str:
        if self.port == 53:
            return str(self.server)
        host = f"[{self.server}]" if self.server.version == 6 else str(self.server)
        return f"{host}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {"domain": self.domain, "server": str(self.server), "port": self.port}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ForwardZone:
        return cls(value["domain"], ipaddress.ip_address(value["server"]), int(value.get("port", 53)))


def forward_zones(config: NodeConfig) -> list[ForwardZone]:
    return [ForwardZone.from_json(z) for z in config.get(DNS_FORWARD_ZONES)]


def _labels(domain: str) -> list[str]:
    return [] if domain == "." else domain.split(".")


def servers_for(config: NodeConfig, name: str) -> list[ForwardZone]:
    """The forward zones that answer for ``name``: those of the longest matching domain,
    in the order they were added (the SIP stack's resolver asks them in turn)."""
    wanted = _labels(name.lower().rstrip(".") or ".")
    best: list[ForwardZone] = []
    best_len = -1
    for zone in forward_zones(config):
        labels = _labels(zone.domain)
        if len(labels) > len(wanted) or wanted[len(wanted) - len(labels) :] != labels:
            continue
        if len(labels) > best_len:
            best, best_len = [zone], len(labels)
        elif len(labels) == best_len:
            best.append(zone)
    return best
