"""Interfaces a-d: the MMP's names for host network devices.

Only reading happens here (which device, its link state, addresses and routes);
changing the host network is :mod:`moot.node.net.apply`'s business.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from moot.node.settings import NodeConfig, iface_device


@dataclass(frozen=True)
class HostAddress:
    address: str
    prefixlen: int
    family: int  # socket.AF_INET or AF_INET6


def default_route_device() -> str | None:
    """The device of the IPv4 default route, if the host has one."""
    try:
        with open("/proc/net/route") as f:
            next(f)
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000":
                    return fields[0]
    except OSError:
        pass
    return None


def host_devices() -> list[str]:
    return [name for _, name in socket.if_nameindex()]


def device_addresses(device: str) -> list[HostAddress]:
    """Addresses configured on a host device, IPv4 first."""
    try:
        out = subprocess.run(
            ["ip", "-j", "addr", "show", "dev", device],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
        data = json.loads(out or "[]")
    except (OSError, ValueError, subprocess.SubprocessError):
        data = []
    result: list[HostAddress] = []
    for link in data:
        for a in link.get("addr_info", []):
            fam = socket.AF_INET if a.get("family") == "inet" else socket.AF_INET6
            result.append(HostAddress(a["local"], int(a.get("prefixlen", 0)), fam))
    if not result and device == "lo":
        result.append(HostAddress("127.0.0.1", 8, socket.AF_INET))
    result.sort(key=lambda h: (h.family != socket.AF_INET, h.address))
    return result


class InterfaceNotMapped(LookupError):
    pass


def mapped_device(config: NodeConfig, name: str) -> str:
    device = config.get(iface_device(name))
    if not device:
        raise InterfaceNotMapped(
            f"interface {name} is not mapped to a host device (use: iface {name} map <device>)"
        )
    return device


def listen_address(config: NodeConfig, name: str) -> str:
    """The address a listener on interface ``name`` binds to (its first IPv4 address)."""
    device = mapped_device(config, name)
    for addr in device_addresses(device):
        if addr.family == socket.AF_INET:
            return addr.address
    for addr in device_addresses(device):
        ip = ipaddress.ip_address(addr.address)
        if not ip.is_link_local:
            return addr.address
    raise InterfaceNotMapped(f"interface {name} ({device}) has no usable address")


# --- link state and routes (``iface <if>``, ``ipv4 <if>``) ---------------------------------

SYS_CLASS_NET = Path("/sys/class/net")
T = TypeVar("T")


def run_netlink(fn: Callable[[], T]) -> T:
    """Run ``fn`` (which uses pyroute2's synchronous API) where it can work: pyroute2 0.9
    drives its own event loop, so on a thread already running one (an MMP handler) ``fn``
    runs on a short-lived worker thread. Netlink calls take milliseconds."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    with ThreadPoolExecutor(1, thread_name_prefix="netlink") as pool:
        return pool.submit(fn).result()


@dataclass(frozen=True)
class LinkInfo:
    """What the host reports for a device; None where it cannot say (e.g. ``lo``)."""

    device: str
    exists: bool
    mac: str | None = None
    mtu: int | None = None
    speed: int | None = None  # Mbit/s
    duplex: str | None = None  # "full" / "half"
    autoneg: bool | None = None
    operstate: str | None = None


def _sys_value(device: str, name: str) -> str | None:
    try:
        return (SYS_CLASS_NET / device / name).read_text().strip() or None
    except OSError:  # EINVAL for speed/duplex of devices without a PHY
        return None


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(text) if text is not None else -1
    except ValueError:
        return None
    return value if value > 0 else None


def _autoneg(device: str) -> bool | None:
    def ask() -> bool | None:
        from pyroute2.ethtool import Ethtool

        tool = Ethtool()
        try:
            return bool(tool.get_link_mode(device).autoneg)
        finally:
            tool.close()

    try:
        return run_netlink(ask)
    except Exception:  # pyroute2 raises several kinds for devices without ethtool support
        return None


def link_info(device: str) -> LinkInfo:
    """The device's MAC address, MTU and (ethtool-like) speed, duplex and auto-negotiation."""
    if not (SYS_CLASS_NET / device).exists():
        return LinkInfo(device, exists=False)
    duplex = _sys_value(device, "duplex")
    return LinkInfo(
        device,
        exists=True,
        mac=_sys_value(device, "address"),
        mtu=_positive_int(_sys_value(device, "mtu")),
        speed=_positive_int(_sys_value(device, "speed")),
        duplex=duplex if duplex in ("full", "half") else None,
        autoneg=_autoneg(device),
        operstate=_sys_value(device, "operstate"),
    )


@dataclass(frozen=True)
class HostRoute:
    destination: str  # "default" or "<network>/<len>"
    gateway: str | None
    kind: str  # "static", "kernel", "dhcp", "ra", ...


_PROTOCOLS = {2: "kernel", 3: "boot", 4: "static", 9: "ra", 16: "dhcp"}
MAIN_TABLE = 254


def device_routes(device: str, family: int) -> list[HostRoute]:
    """Routes of the main table that leave through ``device`` (``family``: AF_INET/AF_INET6)."""

    def ask() -> list[Any]:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=device)
            if not found:
                return []
            return list(ipr.get_routes(family=family, oif=found[0], table=MAIN_TABLE))

    try:
        routes = run_netlink(ask)
    except Exception:  # netlink unavailable (e.g. in a restricted sandbox)
        return []
    result = []
    for r in routes:
        dst = r.get("dst")
        length = int(r.get("dst_len") or 0)
        result.append(
            HostRoute(
                "default" if dst is None and length == 0 else f"{dst}/{length}",
                r.get("gateway"),
                _PROTOCOLS.get(int(r.get("proto") or 0), str(r.get("proto"))),
            )
        )
    return result


def device_gateway(device: str, family: int) -> str | None:
    """The gateway of the device's default route, if it has one."""
    for route in device_routes(device, family):
        if route.destination == "default":
            return route.gateway
    return None
