"""Network commands through ``moot mmp -c`` on a real data dir (interface a on lo).

Nothing here may change the host: ``network apply`` stays disabled, and the last test
checks that even as root the host's loopback device did not get the stored address.
"""

from __future__ import annotations

import json
import subprocess

from moot.node.datadir import DataDir
from moot.node.net.settings import forward_zones, get_ip, get_link
from tests.helpers import config_of, mmp


def ok(dd: DataDir, line: str) -> str:
    r = mmp(dd, line)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FAILURE" not in r.stdout
    return r.stdout


def fails(dd: DataDir, line: str) -> str:
    r = mmp(dd, line)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith("FAILURE"), r.stdout
    return r.stdout


def test_iface_shows_loopback(datadir: DataDir) -> None:
    out = ok(datadir, "iface a")
    assert out.splitlines()[:3] == ["Mac address : 00:00:00:00:00:00", "Device      : lo", "Configured values:"]
    assert "Observed values:" in out
    assert "  Speed            : unknown" in out


def test_guide_sequence_is_stored(datadir: DataDir) -> None:
    """Guide 3.2 and 3.3, in order."""
    assert ok(datadir, "iface a 1000 full").startswith("SUCCESS")
    assert ok(datadir, "iface a autoneg on").startswith("SUCCESS")
    assert "dhcp      : true" in ok(datadir, "ipv4 a")
    ok(datadir, "ipv4 a add 10.1.2.4/16 10.1.1.1")
    ok(datadir, "dns add forwardzone . 10.1.1.33")
    ok(datadir, "ipv4 b enable")
    ok(datadir, "ipv4 b add 10.2.0.4/24 10.2.0.1")
    ok(datadir, "ntp server add 192.0.2.123")
    store, config, _ = config_of(datadir)
    try:
        assert [str(a.interface) for a in get_ip(config, "a", 4).addresses] == ["10.1.2.4/16"]
        assert get_ip(config, "b", 4).enabled
        link = get_link(config, "a")
        assert (link.speed, link.duplex, link.autoneg) == (1000, "full", True)
        assert [(z.domain, z.server_text) for z in forward_zones(config)] == [(".", "10.1.1.33")]
    finally:
        store.close()
    ok(datadir, "dns del forwardzone . 10.1.1.33")
    assert "Forward zones : none" in ok(datadir, "dns")


def test_bad_input_fails_with_exit_status(datadir: DataDir) -> None:
    assert "invalid syntax for 'iface'" in fails(datadir, "iface z")
    assert "outside the subnet" in fails(datadir, "ipv4 a add 10.1.2.4/16 10.9.9.1")
    ok(datadir, "ipv4 a add 10.1.2.4/16 10.1.1.1")
    assert "two interfaces must not be in the same subnet" in fails(
        datadir, "ipv4 c add 10.1.200.1/24 10.1.200.254"
    )
    assert "not a configured address" in fails(datadir, "ipv4 a del 10.1.2.9")
    assert "give 576 to 9000" in fails(datadir, "iface a mtu 10000")
    assert "no network device" in fails(datadir, "iface b map moot-no-such-dev")
    assert "not a domain name" in fails(datadir, "dns add forwardzone a..b 10.1.1.33")
    assert "invalid syntax for 'dns'" in fails(datadir, "dns add forwardzone a 10.1.1.33 extra")
    assert "not configured" in fails(datadir, "ntp server del 192.0.2.1")


def _lo_addresses() -> set[str]:
    out = subprocess.run(["ip", "-j", "addr", "show", "dev", "lo"], capture_output=True, text=True,
                         check=True).stdout
    return {a["local"] for link in json.loads(out) for a in link.get("addr_info", [])}


def _lo_mtu() -> int:
    with open("/sys/class/net/lo/mtu") as f:
        return int(f.read())


def test_host_is_not_changed_without_network_apply(datadir: DataDir) -> None:
    """The guard: a fresh data dir never touches host devices, even when run as root."""
    before, mtu = _lo_addresses(), _lo_mtu()
    out = ok(datadir, "ipv4 a add 127.77.0.1/16 127.77.0.254")
    assert "not applied ('network apply' is disabled)" in out
    out = ok(datadir, "iface a mtu 1500")
    assert "not applied" in out
    assert "Apply to host devices   : disabled" in ok(datadir, "network")
    assert "127.77.0.1" not in _lo_addresses()
    assert _lo_addresses() == before and _lo_mtu() == mtu
