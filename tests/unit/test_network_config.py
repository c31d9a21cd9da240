"""Stored network records, forward-zone matching, host facts, and the apply guard."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from moot.db.nodestore import NodeStore
from moot.node.net import apply as net_apply
from moot.node.net.apply import (
    NOT_ENABLED,
    NOT_PERMITTED,
    ApplyError,
    apply_then_store,
    decide,
)
from moot.node.net.host import clock_synchronised, host_resolver
from moot.node.net.settings import (
    DNS_FORWARD_ZONES,
    NETWORK_APPLY,
    NTP_SERVERS,
    ForwardZone,
    IpConfig,
    StaticAddress,
    get_ip,
    ip_setting,
    servers_for,
)
from moot.node.settings import NodeConfig


@pytest.fixture
def config(tmp_path: Path) -> NodeConfig:
    return NodeConfig(NodeStore(tmp_path / "config.db"))


def test_defaults_follow_the_guide(config: NodeConfig) -> None:
    a4 = get_ip(config, "a", 4)
    assert a4.enabled and a4.auto and not a4.addresses  # a: DHCP (guide 3.2)
    b4 = get_ip(config, "b", 4)
    assert not b4.enabled and not b4.auto  # b-d: enable first (guide 3.3)
    a6 = get_ip(config, "a", 6)
    assert not a6.enabled and a6.auto
    assert config.get(NETWORK_APPLY) is False
    assert config.get(NTP_SERVERS) == []


def test_ip_config_round_trip_and_gateway(config: NodeConfig) -> None:
    cfg = IpConfig(
        4,
        enabled=True,
        auto=False,
        addresses=(
            StaticAddress(ipaddress.ip_interface("10.1.2.4/16")),
            StaticAddress(ipaddress.ip_interface("10.1.3.4/16"), ipaddress.ip_address("10.1.1.1")),
        ),
        routes=(ipaddress.ip_network("10.9.0.0/16"),),
    )
    config.set(ip_setting("a", 4), cfg.to_json())
    back = get_ip(config, "a", 4)
    assert back == cfg
    assert str(back.gateway) == "10.1.1.1"
    assert back.find(ipaddress.ip_address("10.1.3.4")) == cfg.addresses[1]
    assert back.find(ipaddress.ip_address("10.1.9.9")) is None


def _zones(config: NodeConfig, *pairs: tuple[str, str]) -> None:
    config.set(
        DNS_FORWARD_ZONES,
        [ForwardZone(d, ipaddress.ip_address(s)).to_json() for d, s in pairs],
    )


def test_servers_for_picks_longest_matching_zone(config: NodeConfig) -> None:
    _zones(
        config,
        (".", "192.0.2.1"),
        ("example.com", "192.0.2.2"),
        ("example.com", "192.0.2.3"),
        ("corp.example.com", "192.0.2.4"),
    )
    assert [str(z.server) for z in servers_for(config, "www.example.com")] == ["192.0.2.2", "192.0.2.3"]
    assert [str(z.server) for z in servers_for(config, "EXAMPLE.com.")] == ["192.0.2.2", "192.0.2.3"]
    assert [str(z.server) for z in servers_for(config, "a.corp.example.com")] == ["192.0.2.4"]
    assert [str(z.server) for z in servers_for(config, "badexample.com")] == ["192.0.2.1"]
    assert [str(z.server) for z in servers_for(config, "example.org")] == ["192.0.2.1"]


def test_servers_for_without_root_zone(config: NodeConfig) -> None:
    _zones(config, ("example.com", "192.0.2.2"))
    assert servers_for(config, "example.org") == []


def test_forward_zone_text_shows_port_only_when_not_53() -> None:
    assert ForwardZone(".", ipaddress.ip_address("10.1.1.33")).server_text == "10.1.1.33"
    assert ForwardZone(".", ipaddress.ip_address("::1"), 5353).server_text == "[::1]:5353"
    assert ForwardZone(".", ipaddress.ip_address("127.0.0.1"), 5353).server_text == "127.0.0.1:5353"


def test_host_resolver_reads_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# generated\nnameserver 10.0.0.53\nnameserver 2001:db8::53 # v6\n"
        "search example.com corp.example.com\noptions ndots:2\n"
    )
    r = host_resolver(conf)
    assert r.nameservers == ["10.0.0.53", "2001:db8::53"]
    assert r.search == ["example.com", "corp.example.com"]
    assert host_resolver(tmp_path / "missing").nameservers == []


def test_clock_synchronised_answers_a_bool_or_none() -> None:
    assert clock_synchronised() in (True, False, None)


def test_decide_needs_setting_and_privilege(config: NodeConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net_apply, "may_change_network", lambda: True)
    assert decide(config).apply is False and decide(config).note == NOT_ENABLED
    config.set(NETWORK_APPLY, True)
    assert decide(config).apply is True
    monkeypatch.setattr(net_apply, "may_change_network", lambda: False)
    assert decide(config).apply is False and decide(config).note == NOT_PERMITTED


class FakeApplier:
    """Stands in for the netlink applier; records calls, may refuse."""

    calls: list[str] = []
    refuse = False

    def __init__(self, device: str) -> None:
        self.device = device

    def __enter__(self) -> FakeApplier:
        if FakeApplier.refuse:
            raise ApplyError(f"device {self.device} does not exist on this host")
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def set_mtu(self, mtu: int) -> None:
        FakeApplier.calls.append(f"{self.device} mtu {mtu}")


@pytest.fixture
def fake_applier(monkeypatch: pytest.MonkeyPatch) -> type[FakeApplier]:
    FakeApplier.calls = []
    FakeApplier.refuse = False
    monkeypatch.setattr(net_apply, "DeviceApplier", FakeApplier)
    monkeypatch.setattr(net_apply, "may_change_network", lambda: True)
    return FakeApplier


def test_apply_then_store(config: NodeConfig, fake_applier: type[FakeApplier]) -> None:
    mtu = ip_setting("a", 4)
    change = lambda dev: dev.set_mtu(1400)  # noqa: E731

    note = apply_then_store(config, "eth9", change, [(NTP_SERVERS, ["x"])])
    assert note == NOT_ENABLED and fake_applier.calls == []
    assert config.get(NTP_SERVERS) == ["x"]

    config.set(NETWORK_APPLY, True)
    note = apply_then_store(config, "eth9", change, [(NTP_SERVERS, ["y"])])
    assert note == "applied to device eth9" and fake_applier.calls == ["eth9 mtu 1400"]
    assert config.get(NTP_SERVERS) == ["y"]

    note = apply_then_store(config, None, change, [(NTP_SERVERS, ["z"])])
    assert "not mapped" in note and config.get(NTP_SERVERS) == ["z"]

    fake_applier.refuse = True
    with pytest.raises(ApplyError):
        apply_then_store(config, "eth9", change, [(NTP_SERVERS, ["w"]), (mtu, {})])
    assert config.get(NTP_SERVERS) == ["z"]  # nothing stored when the device refuses

    note = apply_then_store(config, "eth9", None, [(NTP_SERVERS, ["v"])], not_applied="later")
    assert note == "later" and config.get(NTP_SERVERS) == ["v"]
