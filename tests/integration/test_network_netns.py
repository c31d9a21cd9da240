"""Applying network changes to a real device, inside a network namespace made for the test.

Moot runs as ``ip netns exec <ns> moot mmp -c ...`` with interface a mapped to the
namespace's own device, so the host's devices are never touched (the test checks that
too). Needs permission for ``ip netns add`` (root, as in CI).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from moot.node.datadir import DataDir
from moot.node.net.settings import get_ip
from tests.helpers import MOOT, config_of

pytestmark = pytest.mark.slow

DEV = "moot0"


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


@dataclass
class Netns:
    name: str

    def ip(self, *args: str) -> Any:
        return json.loads(run("ip", "-n", self.name, "-j", *args).stdout or "[]")

    def addresses(self) -> set[str]:
        return {
            f"{a['local']}/{a['prefixlen']}"
            for link in self.ip("addr", "show", "dev", DEV)
            for a in link.get("addr_info", [])
            if a.get("scope") == "global"
        }

    def routes(self, family: str = "-4") -> dict[str, str | None]:
        return {r["dst"]: r.get("gateway") for r in self.ip(family, "route", "show", "dev", DEV)}

    def link(self) -> dict[str, Any]:
        links: list[dict[str, Any]] = self.ip("link", "show", "dev", DEV)
        return links[0]

    def mmp(self, dd: DataDir, command: str) -> subprocess.CompletedProcess[str]:
        return run(
            "ip", "netns", "exec", self.name, MOOT, "mmp", "--data", str(dd.root), "-c", command,
            check=False,
        )


@pytest.fixture
def netns() -> Iterator[Netns]:
    name = f"moot-test-{secrets.token_hex(4)}"
    made = run("ip", "netns", "add", name, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace here ({made.stderr.strip()}); run as root")
    try:
        # A dummy device where the kernel has the module, else one end of a veth pair.
        if run("ip", "-n", name, "link", "add", DEV, "type", "dummy", check=False).returncode != 0:
            run("ip", "-n", name, "link", "add", DEV, "type", "veth", "peer", "name", "moot1")
            run("ip", "-n", name, "link", "set", "moot1", "up")
        yield Netns(name)
    finally:
        run("ip", "netns", "del", name, check=False)


def host_network() -> tuple[Any, Any, Any]:
    return (
        json.loads(run("ip", "-j", "addr").stdout),
        json.loads(run("ip", "-j", "route").stdout),
        json.loads(run("ip", "-j", "-6", "route").stdout),
    )


def ok(ns: Netns, dd: DataDir, command: str) -> str:
    r = ns.mmp(dd, command)
    assert r.returncode == 0 and r.stdout.startswith(("SUCCESS", "Mac", "Configured")), r.stdout + r.stderr
    return r.stdout


def test_changes_reach_the_namespace_device_only(netns: Netns, datadir: DataDir) -> None:
    host_before = host_network()
    assert "mapped to device moot0" in ok(netns, datadir, f"iface a map {DEV}")

    # Stored only until the operator allows applying.
    out = ok(netns, datadir, "ipv4 a add 198.51.100.10/24 198.51.100.1")
    assert "not applied ('network apply' is disabled)" in out
    assert netns.addresses() == set()

    ok(netns, datadir, "network apply enable")
    out = ok(netns, datadir, "iface a mtu 1400")
    assert "applied to device moot0" in out
    assert netns.link()["mtu"] == 1400

    out = ok(netns, datadir, "ipv4 a enable")
    assert "applied to device moot0" in out
    assert netns.addresses() == {"198.51.100.10/24"}
    assert "UP" in netns.link()["flags"]
    assert netns.routes()["default"] == "198.51.100.1"  # a is the default interface

    ok(netns, datadir, "ipv4 a route add 203.0.113.0/24")
    assert netns.routes()["203.0.113.0/24"] == "198.51.100.1"
    ok(netns, datadir, "ipv4 a route del 203.0.113.0/24")
    assert "203.0.113.0/24" not in netns.routes()

    shown = ok(netns, datadir, "iface a")
    assert f"Mac address : {netns.link()['address']}" in shown
    assert "  MTU              : 1400" in shown.split("Observed values:")[1]
    shown = ok(netns, datadir, "ipv4 a")
    observed = shown.split("Observed values:")[1]
    assert "address    : 198.51.100.10" in observed and "gateway    : 198.51.100.1" in observed
    assert "default" in shown.split("Route table:")[1]

    ok(netns, datadir, "ipv6 a enable")
    ok(netns, datadir, "ipv6 a add 2001:db8:1::10/64 2001:db8:1::1")
    assert "2001:db8:1::10/64" in netns.addresses()
    assert netns.routes("-6")["default"] == "2001:db8:1::1"
    ok(netns, datadir, "ipv6 a disable")
    assert "2001:db8:1::10/64" not in netns.addresses()

    ok(netns, datadir, "ipv4 a del 198.51.100.10")
    assert netns.addresses() == set()
    ok(netns, datadir, "ipv4 a add 198.51.100.20/24 198.51.100.1")
    assert netns.addresses() == {"198.51.100.20/24"}
    ok(netns, datadir, "ipv4 a disable")
    assert netns.addresses() == set()

    assert host_network() == host_before


def test_failed_apply_stores_nothing(netns: Netns, datadir: DataDir) -> None:
    ok(netns, datadir, f"iface a map {DEV}")
    ok(netns, datadir, "network apply enable")
    ok(netns, datadir, "ipv4 a disable")
    run("ip", "-n", netns.name, "link", "del", DEV)
    r = netns.mmp(datadir, "ipv4 a enable")
    assert r.returncode == 1
    assert "FAILURE: device moot0 does not exist on this host; nothing was changed" in r.stdout
    store, config, _ = config_of(datadir)
    try:
        assert not get_ip(config, "a", 4).enabled
    finally:
        store.close()
