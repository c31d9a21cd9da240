"""Parsing and checking of what operators type for iface/ipv4/ipv6/dns/ntp."""

from __future__ import annotations

import ipaddress

import pytest

from moot.node.net.validate import (
    NetworkInputError,
    check_mtu,
    parse_address,
    parse_dns_server,
    parse_domain,
    parse_gateway,
    parse_host,
    parse_int,
    parse_interface_address,
    parse_route,
    parse_speed,
)


def test_interface_address_needs_prefix_and_right_version() -> None:
    assert parse_interface_address("10.1.2.4/16", 4) == ipaddress.ip_interface("10.1.2.4/16")
    assert parse_interface_address("2001:db8::4/64", 6).ip == ipaddress.ip_address("2001:db8::4")
    with pytest.raises(NetworkInputError, match="no prefix length"):
        parse_interface_address("10.1.2.4", 4)
    with pytest.raises(NetworkInputError, match="use the ipv6 command"):
        parse_interface_address("2001:db8::4/64", 4)
    with pytest.raises(NetworkInputError, match="use the ipv4 command"):
        parse_interface_address("10.1.2.4/16", 6)
    with pytest.raises(NetworkInputError, match="not an IPv4 address"):
        parse_interface_address("10.1.2.300/16", 4)
    with pytest.raises(NetworkInputError, match="not an IPv4 address"):
        parse_interface_address("10.1.2.4/33", 4)


@pytest.mark.parametrize(
    ("text", "version", "why"),
    [
        ("10.1.0.0/16", 4, "network address"),
        ("10.1.255.255/16", 4, "broadcast address"),
        ("224.0.0.5/24", 4, "cannot be assigned"),
        ("0.0.0.0/8", 4, "cannot be assigned"),
        ("10.1.2.4/0", 4, "prefix length 0"),
        ("fe80::1/64", 6, "link-local"),
        ("ff02::1/64", 6, "cannot be assigned"),
    ],
)
def test_interface_address_refuses_unusable(text: str, version: int, why: str) -> None:
    with pytest.raises(NetworkInputError, match=why):
        parse_interface_address(text, version)  # type: ignore[arg-type]


def test_point_to_point_prefixes_allow_every_address() -> None:
    assert str(parse_interface_address("10.0.0.0/31", 4)) == "10.0.0.0/31"
    assert str(parse_interface_address("10.0.0.7/32", 4)) == "10.0.0.7/32"


def test_gateway_must_be_in_subnet() -> None:
    iface = ipaddress.ip_interface("10.1.2.4/16")
    assert parse_gateway("10.1.1.1", iface) == ipaddress.ip_address("10.1.1.1")
    with pytest.raises(NetworkInputError, match=r"outside the subnet 10\.1\.0\.0/16"):
        parse_gateway("10.2.1.1", iface)
    with pytest.raises(NetworkInputError, match="own address"):
        parse_gateway("10.1.2.4", iface)
    with pytest.raises(NetworkInputError, match="network or broadcast"):
        parse_gateway("10.1.255.255", iface)
    with pytest.raises(NetworkInputError, match="not an IP address"):
        parse_gateway("router", iface)
    with pytest.raises(NetworkInputError, match="is IPv6"):
        parse_gateway("2001:db8::1", iface)


def test_ipv6_gateway_may_be_link_local() -> None:
    iface = ipaddress.ip_interface("2001:db8:1::10/64")
    assert str(parse_gateway("fe80::1", iface)) == "fe80::1"
    assert str(parse_gateway("2001:db8:1::1", iface)) == "2001:db8:1::1"
    with pytest.raises(NetworkInputError, match="outside the subnet"):
        parse_gateway("2001:db8:2::1", iface)


def test_address_for_del_accepts_prefix() -> None:
    assert str(parse_address("10.1.2.4", 4)) == "10.1.2.4"
    assert str(parse_address("10.1.2.4/16", 4)) == "10.1.2.4"
    with pytest.raises(NetworkInputError, match="not an IPv4 address"):
        parse_address("nonsense", 4)
    with pytest.raises(NetworkInputError, match="ipv4 command"):
        parse_address("10.1.2.4", 6)


def test_route_network() -> None:
    assert str(parse_route("10.9.0.0/16", 4)) == "10.9.0.0/16"
    assert str(parse_route("2001:db8:9::/48", 6)) == "2001:db8:9::/48"
    with pytest.raises(NetworkInputError, match=r"did you mean 10\.9\.0\.0/16"):
        parse_route("10.9.0.1/16", 4)
    with pytest.raises(NetworkInputError, match="no prefix length"):
        parse_route("10.9.0.0", 4)
    with pytest.raises(NetworkInputError, match="default route"):
        parse_route("0.0.0.0/0", 4)
    with pytest.raises(NetworkInputError, match="ipv6 command"):
        parse_route("2001:db8::/32", 4)
    with pytest.raises(NetworkInputError, match="not an IPv4 network"):
        parse_route("10.9.0.0/40", 4)


def test_mtu_range_depends_on_ipv6() -> None:
    assert check_mtu(576, ipv6_enabled=False) == 576
    assert check_mtu(9000, ipv6_enabled=True) == 9000
    with pytest.raises(NetworkInputError, match="give 576 to 9000"):
        check_mtu(575, ipv6_enabled=False)
    with pytest.raises(NetworkInputError, match="give 576 to 9000"):
        check_mtu(9001, ipv6_enabled=False)
    with pytest.raises(NetworkInputError, match="IPv6 needs at least 1280"):
        check_mtu(1000, ipv6_enabled=True)


def test_numbers_and_speeds() -> None:
    assert parse_int("1500", "MTU") == 1500
    for bad in ("-1", "15x", "", "1e3"):
        with pytest.raises(NetworkInputError, match="not a number"):
            parse_int(bad, "MTU")
    assert parse_speed("1000") == 1000
    with pytest.raises(NetworkInputError, match="not an Ethernet speed"):
        parse_speed("999")


def test_domains() -> None:
    assert parse_domain(".") == "."
    assert parse_domain("Example.COM.") == "example.com"
    assert parse_domain("_sip._tcp.example.com") == "_sip._tcp.example.com"
    for bad in ("..", "exa mple.com", "-bad.com", "a" * 64 + ".com", "a..b"):
        with pytest.raises(NetworkInputError, match="not a domain name"):
            parse_domain(bad)


def test_dns_servers() -> None:
    assert parse_dns_server("10.1.1.33") == (ipaddress.ip_address("10.1.1.33"), 53)
    assert parse_dns_server("127.0.0.1:5353") == (ipaddress.ip_address("127.0.0.1"), 5353)
    assert parse_dns_server("[::1]:5353") == (ipaddress.ip_address("::1"), 5353)
    assert parse_dns_server("2001:db8::53") == (ipaddress.ip_address("2001:db8::53"), 53)
    with pytest.raises(NetworkInputError, match="not an IP address"):
        parse_dns_server("dns.example.com")
    with pytest.raises(NetworkInputError, match="out of range"):
        parse_dns_server("127.0.0.1:70000")
    with pytest.raises(NetworkInputError, match="cannot be a DNS server"):
        parse_dns_server("0.0.0.0")


def test_ntp_hosts() -> None:
    assert parse_host("192.0.2.123") == "192.0.2.123"
    assert parse_host("Pool.NTP.org") == "pool.ntp.org"
    assert parse_host("2001:DB8::7B") == "2001:db8::7b"
    for bad in ("300.1.1.1", ".", "bad host", "1.2.3"):
        with pytest.raises(NetworkInputError, match="neither an IP address nor a host name"):
            parse_host(bad)
