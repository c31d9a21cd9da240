"""iface/ipv4/ipv6/dns/ntp/network commands, run in-process against a real node config.

Applying is checked here with a recording stand-in for the netlink applier; the real
applier is exercised inside a network namespace in tests/integration/test_network_netns.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moot.node.context import NodeContext
from moot.node.net import apply as net_apply
from moot.node.net.apply import ApplyError
from moot.node.net.settings import (
    DEFAULT_INTERFACE,
    NETWORK_APPLY,
    forward_zones,
    get_ip,
    get_link,
)
from moot.node.settings import iface_device
from tests.helpers import prepare_datadir, run_line

PW = "Tr1cky-Pass"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeContext]:
    ctx = NodeContext(prepare_datadir(tmp_path / "n"))
    yield ctx
    ctx.close()


class RecordingApplier:
    calls: list[tuple[str, ...]] = []
    refuse = False

    def __init__(self, device: str) -> None:
        self.device = device

    def __enter__(self) -> RecordingApplier:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any) -> None:
            if RecordingApplier.refuse:
                raise ApplyError(f"could not {name} on device {self.device}: Operation not permitted")
            RecordingApplier.calls.append((name, *map(str, args)))

        return record


@pytest.fixture
def applier(node: NodeContext, monkeypatch: pytest.MonkeyPatch) -> type[RecordingApplier]:
    RecordingApplier.calls = []
    RecordingApplier.refuse = False
    monkeypatch.setattr(net_apply, "DeviceApplier", RecordingApplier)
    monkeypatch.setattr(net_apply, "may_change_network", lambda: True)
    node.config.set(NETWORK_APPLY, True)
    return RecordingApplier


async def ok(node: NodeContext, line: str, user: str = "admin") -> str:
    success, out = await run_line(node, line, user=user)
    assert success, out
    return out


async def fails(node: NodeContext, line: str, user: str = "admin") -> str:
    success, out = await run_line(node, line, user=user)
    assert not success, out
    assert "FAILURE" in out, out
    return out


# --- iface ----------------------------------------------------------------------------


async def test_iface_shows_mac_and_values_of_lo(node: NodeContext) -> None:
    out = await ok(node, "iface a")
    lines = out.splitlines()
    assert lines[0] == "Mac address : 00:00:00:00:00:00"
    assert lines[1] == "Device      : lo"
    assert lines[2] == "Configured values:"
    assert "  Auto-negotiation : default" in lines
    assert "  MTU              : default" in lines
    i = lines.index("Observed values:")
    observed = dict(line.split(" : ", 1) for line in lines[i + 1 :])
    assert observed["  Speed           "] == "unknown"  # lo has no PHY
    assert observed["  Duplex          "] == "unknown"
    assert observed["  MTU             "].isdigit()


async def test_iface_unmapped(node: NodeContext) -> None:
    out = await ok(node, "iface b")
    assert "Mac address : none" in out
    assert "none (map one with: iface b map <device>)" in out


async def test_iface_settings_are_stored(node: NodeContext) -> None:
    out = await ok(node, "iface a 1000 full")
    assert out.startswith("SUCCESS: interface a speed 1000 duplex full")
    await ok(node, "iface a 100 off")
    await ok(node, "iface a autoneg off")
    out = await ok(node, "iface a mtu 1400")
    assert "not applied ('network apply' is disabled)" in out
    link = get_link(node.config, "a")
    assert (link.speed, link.duplex, link.autoneg, link.mtu) == (100, "half", False, 1400)
    out = await ok(node, "iface a")
    assert "  Speed            : 100" in out and "  Duplex           : half" in out
    assert "  Auto-negotiation : off" in out and "  MTU              : 1400" in out
    await ok(node, "iface a mtu default")
    assert get_link(node.config, "a").mtu is None


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("iface e", "invalid syntax for 'iface'"),
        ("iface a 1000", "invalid syntax for 'iface'"),
        ("iface a 1000 half", "invalid syntax for 'iface'"),
        ("iface a 999 full", "not an Ethernet speed"),
        ("iface a fast full", "not a number"),
        ("iface a autoneg maybe", "invalid syntax for 'iface'"),
        ("iface a autoneg full", "usage: iface a autoneg (on|off)"),
        ("iface a mtu 575", "give 576 to 9000"),
        ("iface a mtu 9001", "give 576 to 9000"),
        ("iface a mtu big", "not a number"),
        ("iface a map no-such-dev0", "no network device 'no-such-dev0' on this host; devices:"),
        ("iface a map none", "interface a cannot be unmapped"),
    ],
)
async def test_iface_bad_input(node: NodeContext, line: str, text: str) -> None:
    before = get_link(node.config, "a"), node.config.get(iface_device("a"))
    out = await fails(node, line)
    assert text in out
    assert (get_link(node.config, "a"), node.config.get(iface_device("a"))) == before


async def test_mtu_minimum_is_1280_with_ipv6(node: NodeContext) -> None:
    await ok(node, "iface a mtu 1000")
    out = await fails(node, "ipv6 a enable")
    assert "raise it first with 'iface a mtu 1280'" in out
    await ok(node, "iface a mtu 1280")
    await ok(node, "ipv6 a enable")
    out = await fails(node, "iface a mtu 1279")
    assert "IPv6 needs at least 1280" in out


async def test_iface_map_and_unmap(node: NodeContext) -> None:
    out = await ok(node, "iface b map lo")
    assert "interface b mapped to device lo" in out
    assert node.config.get(iface_device("b")) == "lo"
    await ok(node, "iface b map none")
    assert node.config.get(iface_device("b")) is None
    out = await fails(node, "iface b map nope0")
    assert " lo" in out  # lists the devices there are


# --- ipv4 -----------------------------------------------------------------------------


async def test_ipv4_show_layout(node: NodeContext) -> None:
    out = await ok(node, "ipv4 a")
    lines = out.splitlines()
    assert lines[0] == "Configured values:"
    for key in ("enabled", "dhcp", "default", "address", "prefixlen", "gateway", "routes"):
        assert any(line.split(" : ")[0].strip() == key for line in lines), key
    assert "  enabled   : true" in lines and "  dhcp      : true" in lines
    assert "Observed values:" in lines and "Route table:" in lines
    assert any(line.strip().startswith("macaddress") for line in lines)
    assert "  address    : 127.0.0.1" in lines


async def test_ipv4_add_del_routes_default(node: NodeContext) -> None:
    out = await ok(node, "ipv4 a add 10.1.2.4/16 10.1.1.1")
    assert out.startswith("SUCCESS: address 10.1.2.4/16 added to interface a (DHCP is now off")
    cfg = get_ip(node.config, "a", 4)
    assert [str(a.interface) for a in cfg.addresses] == ["10.1.2.4/16"]
    assert str(cfg.gateway) == "10.1.1.1" and not cfg.auto
    await ok(node, "ipv4 a route add 10.9.0.0/16")
    out = await ok(node, "ipv4 a")
    assert "  address   : 10.1.2.4" in out and "  prefixlen : 16" in out
    assert "  gateway   : 10.1.1.1" in out and "  routes    : 10.9.0.0/16" in out
    assert "  dhcp      : false" in out
    await ok(node, "ipv4 a route del 10.9.0.0/16")
    await ok(node, "ipv4 a del 10.1.2.4")
    assert get_ip(node.config, "a", 4).addresses == ()
    await ok(node, "ipv4 a dhcp")
    assert get_ip(node.config, "a", 4).auto
    await ok(node, "ipv4 a dhcp disable")
    assert not get_ip(node.config, "a", 4).auto

    out = await ok(node, "ipv4 b add 10.2.0.5/24 10.2.0.1")
    assert "takes effect with 'ipv4 b enable'" in out  # b starts disabled
    await ok(node, "ipv4 b enable")
    assert get_ip(node.config, "b", 4).enabled
    out = await ok(node, "ipv4 b default")
    assert node.config.get(DEFAULT_INTERFACE[4]) == "b"
    out = await ok(node, "ipv4 c default")
    assert "it has no gateway yet" in out
    await ok(node, "ipv4 b disable")
    assert not get_ip(node.config, "b", 4).enabled


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("ipv4", "invalid syntax for 'ipv4'"),
        ("ipv4 e", "invalid syntax for 'ipv4'"),
        ("ipv4 a add 10.1.2.4/16", "invalid syntax for 'ipv4'"),
        ("ipv4 a add 10.1.2.4 10.1.1.1", "no prefix length"),
        ("ipv4 a add 10.1.2.400/16 10.1.1.1", "not an IPv4 address"),
        ("ipv4 a add 10.1.2.4/16 10.2.1.1", "gateway 10.2.1.1 is outside the subnet 10.1.0.0/16"),
        ("ipv4 a add 10.1.2.4/16 gw", "not an IP address"),
        ("ipv4 a add 2001:db8::4/64 2001:db8::1", "use the ipv6 command"),
        ("ipv4 a del 10.1.2.5", "10.1.2.5 is not a configured address of interface a"),
        ("ipv4 a del banana", "not an IPv4 address"),
        ("ipv4 a route add 10.9.0.1/16", "did you mean 10.9.0.0/16"),
        ("ipv4 a route add 0.0.0.0/0", "ipv4 <if> default"),
        ("ipv4 a route del 10.8.0.0/16", "interface a has no route to 10.8.0.0/16"),
        ("ipv4 a route", "invalid syntax for 'ipv4'"),
        ("ipv4 a dhcp maybe", "invalid syntax for 'ipv4'"),
    ],
)
async def test_ipv4_bad_input_changes_nothing(node: NodeContext, line: str, text: str) -> None:
    before = get_ip(node.config, "a", 4)
    out = await fails(node, line)
    assert text in out
    assert get_ip(node.config, "a", 4) == before


async def test_two_interfaces_may_not_share_a_subnet(node: NodeContext) -> None:
    await ok(node, "ipv4 a add 10.1.2.4/16 10.1.1.1")
    out = await fails(node, "ipv4 b add 10.1.9.4/24 10.1.9.1")
    assert "overlaps the subnet 10.1.0.0/16 of interface a (10.1.2.4)" in out
    assert get_ip(node.config, "b", 4).addresses == ()
    out = await fails(node, "ipv4 a add 10.1.2.4/24 10.1.2.1")
    assert "already an address of interface a" in out
    await ok(node, "ipv4 a add 10.1.3.4/16 10.1.1.1")  # a second address on the same interface is fine
    await ok(node, "ipv4 b add 10.2.0.5/24 10.2.0.1")


async def test_duplicate_route_refused(node: NodeContext) -> None:
    await ok(node, "ipv4 a route add 10.9.0.0/16")
    out = await fails(node, "ipv4 a route add 10.9.0.0/16")
    assert "already has a route to 10.9.0.0/16" in out


# --- ipv6 -----------------------------------------------------------------------------


async def test_ipv6_commands(node: NodeContext) -> None:
    out = await ok(node, "ipv6 a")
    assert "  enabled   : false" in out and "  slaac     : true" in out
    out = await ok(node, "ipv6 a add 2001:db8:1::10/64")
    assert "takes effect with 'ipv6 a enable'" in out
    await ok(node, "ipv6 a add 2001:db8:1::11/64 fe80::1")
    await ok(node, "ipv6 a enable")
    await ok(node, "ipv6 a slaac disable")
    await ok(node, "ipv6 a route add 2001:db8:9::/48")
    cfg = get_ip(node.config, "a", 6)
    assert cfg.enabled and not cfg.auto and str(cfg.gateway) == "fe80::1"
    assert [str(r) for r in cfg.routes] == ["2001:db8:9::/48"]
    await ok(node, "ipv6 a del 2001:db8:1::10/64")
    assert [str(a.interface.ip) for a in get_ip(node.config, "a", 6).addresses] == ["2001:db8:1::11"]
    await fails(node, "ipv6 b add 2001:db8:1::20/64")  # same subnet as a
    await fails(node, "ipv6 a add 2001:db8:2::10/64 2001:db8:3::1")  # gateway outside
    await fails(node, "ipv6 a add 10.1.2.4/16")
    await fails(node, "ipv6 a del 2001:db8:1::99")
    await fails(node, "ipv6 a slaac")
    await fails(node, "ipv6 a dhcp")
    await ok(node, "ipv6 a disable")


# --- applying (recording stand-in) -----------------------------------------------------


async def test_changes_are_applied_when_allowed(node: NodeContext, applier: type[RecordingApplier]) -> None:
    out = await ok(node, "iface a mtu 1400")
    assert out.strip() == "SUCCESS: interface a MTU 1400; applied to device lo"
    assert applier.calls == [("set_mtu", "1400")]
    applier.calls.clear()
    out = await ok(node, "ipv4 a add 10.1.2.4/16 10.1.1.1")
    assert "applied to device lo" in out
    assert applier.calls[0][0] == "apply_ip" and applier.calls[0][2] == "True"
    applier.calls.clear()
    await ok(node, "ipv4 a del 10.1.2.4")
    assert [c[0] for c in applier.calls] == ["del_address", "apply_ip"]
    applier.calls.clear()
    await ok(node, "ipv4 a disable")
    assert [c[0] for c in applier.calls] == ["remove_ip"]
    applier.calls.clear()
    out = await ok(node, "ipv4 a disable")
    assert "already disabled" in out and applier.calls == []
    out = await ok(node, "iface a 1000 full")  # link speed is never applied by Moot
    assert "host's network manager applies it" in out and applier.calls == []


async def test_refused_apply_changes_nothing(node: NodeContext, applier: type[RecordingApplier]) -> None:
    applier.refuse = True
    out = await fails(node, "ipv4 a add 10.1.2.4/16 10.1.1.1")
    assert "Operation not permitted; nothing was changed" in out
    assert get_ip(node.config, "a", 4).addresses == ()
    await fails(node, "iface a mtu 1400")
    assert get_link(node.config, "a").mtu is None


async def test_not_privileged_stores_and_says_so(node: NodeContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net_apply, "may_change_network", lambda: False)
    out = await ok(node, "network apply enable")
    assert "run as root or with CAP_NET_ADMIN" in out
    out = await ok(node, "iface a mtu 1400")
    assert "may not change the host network" in out
    assert get_link(node.config, "a").mtu == 1400


async def test_network_show_and_apply_switch(node: NodeContext) -> None:
    out = await ok(node, "network")
    assert "Apply to host devices   : disabled" in out
    assert "Interface a             : lo" in out
    await ok(node, "network apply enable")
    assert node.config.get(NETWORK_APPLY) is True
    out = await ok(node, "network apply disable")
    assert "stored only" in out and node.config.get(NETWORK_APPLY) is False
    await fails(node, "network apply")
    await fails(node, "network apply yes")


# --- dns ------------------------------------------------------------------------------


async def test_dns_forward_zones(node: NodeContext) -> None:
    out = await ok(node, "dns")
    assert "Forward zones : none" in out and "Host resolver:" in out
    await ok(node, "dns add forwardzone . 10.1.1.33")
    await ok(node, "dns add forwardzone . 10.1.1.34")
    await ok(node, "dns add forwardzone Example.com 127.0.0.1:5353")
    out = await fails(node, "dns add forwardzone . 10.1.1.33")
    assert "already exists" in out
    out = await ok(node, "dns")
    lines = out.splitlines()
    assert lines[0].split() == ["Forward", "zone", "Server"]
    assert [line.split() for line in lines[1:4]] == [
        [".", "10.1.1.33"], [".", "10.1.1.34"], ["example.com", "127.0.0.1:5353"],
    ]
    await ok(node, "dns del forwardzone . 10.1.1.33")
    assert [(z.domain, z.server_text) for z in forward_zones(node.config)] == [
        (".", "10.1.1.34"), ("example.com", "127.0.0.1:5353"),
    ]
    out = await fails(node, "dns del forwardzone . 10.1.1.33")
    assert "no forward zone . 10.1.1.33" in out


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("dns add forwardzone .", "invalid syntax for 'dns'"),
        ("dns add a forwardzone . 10.1.1.33", "invalid syntax for 'dns'"),
        ("dns add forwardzone bad..name 10.1.1.33", "not a domain name"),
        ("dns add forwardzone . dns.example.com", "not an IP address"),
        ("dns del forwardzone . 10.1.1.99", "no forward zone"),
    ],
)
async def test_dns_bad_input(node: NodeContext, line: str, text: str) -> None:
    out = await fails(node, line)
    assert text in out
    assert forward_zones(node.config) == []


# --- ntp ------------------------------------------------------------------------------


async def test_ntp_servers(node: NodeContext) -> None:
    out = await ok(node, "ntp server list")
    assert "No NTP servers configured" in out
    await ok(node, "ntp server add 192.0.2.123")
    await ok(node, "ntp server add Pool.NTP.org")
    out = await fails(node, "ntp server add pool.ntp.org")
    assert "already configured" in out
    out = await ok(node, "ntp server list")
    assert out.splitlines() == ["192.0.2.123", "pool.ntp.org"]
    out = await ok(node, "ntp status")
    assert "NTP servers        : 192.0.2.123 pool.ntp.org" in out
    assert any(line.startswith("Clock synchronised : ") for line in out.splitlines())
    await ok(node, "ntp server del 192.0.2.123")
    out = await fails(node, "ntp server del 192.0.2.123")
    assert "not configured (configured: pool.ntp.org)" in out
    await fails(node, "ntp server add not_a host")
    await fails(node, "ntp server")
    await fails(node, "ntp")


# --- roles ----------------------------------------------------------------------------


async def test_roles(node: NodeContext) -> None:
    await run_line(node, "user add auditor audit", [PW, PW])
    await run_line(node, "user add cryptor crypto", [PW, PW])
    node.accounts.set_password("auditor", PW + "2", by_self=True)
    for line in ("iface a", "ipv4 a", "ipv6 a", "dns", "ntp status", "ntp server list", "network"):
        await ok(node, line, user="auditor")
    for line in ("iface a mtu 1400", "ipv4 a add 10.1.2.4/16 10.1.1.1", "dns add forwardzone . 10.1.1.33",
                 "ntp server add 192.0.2.1", "network apply enable", "iface a map lo"):
        out = await fails(node, line, user="auditor")
        assert "permission denied" in out
    out = await fails(node, "ipv4 a", user="cryptor")
    assert "permission denied" in out
    assert get_link(node.config, "a").mtu is None
