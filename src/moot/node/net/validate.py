"""Parsing and checking what the operator types for ``iface``, ``ipv4``, ``ipv6``, ``dns``
and ``ntp``. Every function raises :class:`NetworkInputError` with a message that says
what to type instead; nothing here touches the node config or the host."""

from __future__ import annotations

import ipaddress
import re

from moot.node.net.settings import Address, Interface, IPVersion, Network

MTU_MIN = 576
MTU_MIN_IPV6 = 1280
MTU_MAX = 9000
#: Link speeds (Mbit/s) that Ethernet devices negotiate.
SPEEDS = (10, 100, 1000, 2500, 5000, 10000, 25000, 40000, 50000, 100000)

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class NetworkInputError(ValueError):
    pass


def _version_name(version: IPVersion) -> str:
    return f"IPv{version}"


def parse_interface_address(text: str, version: IPVersion) -> Interface:
    """``<address>/<prefixlen>`` for ``ipv4|ipv6 <if> add``."""
    if "/" not in text:
        raise NetworkInputError(
            f"{text!r} has no prefix length; type the address as "
            + ("10.1.2.4/16" if version == 4 else "2001:db8::4/64")
        )
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise NetworkInputError(f"{text!r} is not an {_version_name(version)} address/prefix") from None
    if iface.version != version:
        raise NetworkInputError(
            f"{text} is an IPv{iface.version} address; use the ipv{iface.version} command"
        )
    ip = iface.ip
    if ip.is_multicast or ip.is_unspecified:
        raise NetworkInputError(f"{ip} cannot be assigned to an interface")
    if version == 6 and ip.is_link_local:
        raise NetworkInputError(f"{ip} is link-local; the kernel assigns link-local addresses itself")
    net = iface.network
    if version == 4 and net.prefixlen < 31 and ip in (net.network_address, net.broadcast_address):
        kind = "network" if ip == net.network_address else "broadcast"
        raise NetworkInputError(f"{ip} is the {kind} address of {net}; choose a host address")
    if version == 6 and net.prefixlen == 0:
        raise NetworkInputError(f"{text} has prefix length 0; give the subnet's length (e.g. /64)")
    if version == 4 and net.prefixlen == 0:
        raise NetworkInputError(f"{text} has prefix length 0; give the subnet's length (e.g. /24)")
    return iface


def parse_gateway(text: str, iface: Interface) -> Address:
    """The gateway of ``ipv4|ipv6 <if> add``: an address inside the new subnet (IPv6 also
    accepts a link-local router address)."""
    try:
        gw = ipaddress.ip_address(text)
    except ValueError:
        raise NetworkInputError(f"gateway {text!r} is not an IP address") from None
    if gw.version != iface.version:
        raise NetworkInputError(f"gateway {gw} is IPv{gw.version}, the address is IPv{iface.version}")
    if gw == iface.ip:
        raise NetworkInputError(f"gateway {gw} is the interface's own address")
    net = iface.network
    if gw.version == 6 and gw.is_link_local:
        return gw
    if gw not in net:
        raise NetworkInputError(
            f"gateway {gw} is outside the subnet {net}; give a gateway inside it "
            "or correct the prefix length"
        )
    if gw.version == 4 and net.prefixlen < 31 and gw in (net.network_address, net.broadcast_address):
        raise NetworkInputError(f"gateway {gw} is the network or broadcast address of {net}")
    return gw


def parse_address(text: str, version: IPVersion) -> Address:
    """An address for ``ipv4|ipv6 <if> del``; a ``/prefixlen`` suffix is accepted."""
    try:
        ip = ipaddress.ip_interface(text).ip
    except ValueError:
        raise NetworkInputError(f"{text!r} is not an {_version_name(version)} address") from None
    if ip.version != version:
        raise NetworkInputError(f"{ip} is an IPv{ip.version} address; use the ipv{ip.version} command")
    return ip


def parse_route(text: str, version: IPVersion) -> Network:
    """``<network>/<prefixlen>`` for ``route add|del``."""
    if "/" not in text:
        raise NetworkInputError(f"{text!r} has no prefix length; type the network as <address>/<length>")
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise NetworkInputError(f"{text!r} is not an {_version_name(version)} network") from None
    if loose.version != version:
        raise NetworkInputError(f"{text} is an IPv{loose.version} network; use the ipv{loose.version} command")
    try:
        net = ipaddress.ip_network(text)
    except ValueError:
        raise NetworkInputError(f"{text} has host bits set; did you mean {loose}?") from None
    if net.prefixlen == 0:
        raise NetworkInputError(
            f"{text} is the default route; choose the interface for it with 'ipv{version} <if> default'"
        )
    return net


def check_mtu(mtu: int, ipv6_enabled: bool) -> int:
    low = MTU_MIN_IPV6 if ipv6_enabled else MTU_MIN
    if not low <= mtu <= MTU_MAX:
        why = " (IPv6 is enabled on this interface, and IPv6 needs at least 1280)" if ipv6_enabled else ""
        raise NetworkInputError(f"MTU {mtu} is out of range; give {low} to {MTU_MAX}{why}")
    return mtu


def parse_int(text: str, what: str) -> int:
    if not re.fullmatch(r"\d{1,7}", text):
        raise NetworkInputError(f"{what} {text!r} is not a number")
    return int(text)


def parse_speed(text: str) -> int:
    speed = parse_int(text, "speed")
    if speed not in SPEEDS:
        raise NetworkInputError(
            f"speed {speed} is not an Ethernet speed; give one of {', '.join(map(str, SPEEDS))} (Mbit/s)"
        )
    return speed


def parse_domain(text: str) -> str:
    """A forward zone's domain: ``.`` (every name) or a DNS name, stored lower case
    without the trailing dot."""
    if text == ".":
        return "."
    name = text.lower().rstrip(".")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise NetworkInputError(
            f"{text!r} is not a domain name; give e.g. example.com, or '.' for every domain"
        )
    return name


def parse_dns_server(text: str) -> tuple[Address, int]:
    """A DNS server: an IP address, optionally with a port (``192.0.2.53:5353``,
    ``[2001:db8::53]:5353``; an extension for test set-ups)."""
    host, port = text, 53
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)", text) or re.fullmatch(r"([0-9.]+):(\d+)", text)
    if m:
        host, port = m.group(1), int(m.group(2))
    try:
        server = ipaddress.ip_address(host)
    except ValueError:
        raise NetworkInputError(
            f"DNS server {text!r} is not an IP address (a name cannot be resolved before DNS is set)"
        ) from None
    if not 1 <= port <= 65535:
        raise NetworkInputError(f"port {port} is out of range 1-65535")
    if server.is_unspecified or server.is_multicast:
        raise NetworkInputError(f"{server} cannot be a DNS server")
    return server, port


def parse_host(text: str) -> str:
    """An NTP server: an IP address or a host name (stored as typed, names lower case)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    try:
        name = parse_domain(text)
    except NetworkInputError:
        name = "."
    if name == "." or name.replace(".", "").isdigit():
        raise NetworkInputError(f"{text!r} is neither an IP address nor a host name")
    return name
