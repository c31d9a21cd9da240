"""MMP network commands (guide 3.2, 3.3, table 1.3): ``iface``, ``ipv4``, ``ipv6``, ``dns``,
``ntp``, and the extension ``network`` that says whether changes reach host devices.

Changes are validated, then applied to the mapped host device when ``network apply`` is
enabled and the process may change the network (see :mod:`moot.node.net.apply`), then
stored in the node config. Every message says whether the change was applied.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from moot.mmp.context import CommandFailed, Context
from moot.mmp.registry import ADMIN_ONLY, READ, registry
from moot.node.interfaces import device_addresses, device_routes, host_devices, link_info
from moot.node.net import apply as net_apply
from moot.node.net.apply import (
    HOST_MANAGED,
    ApplyError,
    Change,
    DeviceApplier,
    apply_then_store,
    decide,
)
from moot.node.net.host import clock_synchronised, host_resolver
from moot.node.net.settings import (
    DEFAULT_INTERFACE,
    DNS_FORWARD_ZONES,
    NETWORK_APPLY,
    NTP_SERVERS,
    ForwardZone,
    IpConfig,
    IPVersion,
    LinkConfig,
    StaticAddress,
    forward_zones,
    get_ip,
    get_link,
    ip_setting,
    link_setting,
)
from moot.node.net.validate import (
    MTU_MIN_IPV6,
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
from moot.node.settings import INTERFACES, NodeConfig, Setting, iface_device

command = registry.command
IF = "<if:" + "|".join(INTERFACES) + ">"
FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
AUTO = {4: "dhcp", 6: "slaac"}


def _checked(fn: Any, *args: Any) -> Any:
    """Run a parser; its error becomes the command's FAILURE."""
    try:
        return fn(*args)
    except NetworkInputError as exc:
        raise CommandFailed(str(exc)) from None


def _device(config: NodeConfig, name: str) -> str | None:
    return config.get(iface_device(name))


def _commit(
    ctx: Context,
    name: str,
    message: str,
    writes: Iterable[tuple[Setting[Any], Any]],
    change: Change | None,
    not_applied: str = HOST_MANAGED,
) -> None:
    config = ctx.node.config
    try:
        note = apply_then_store(
            config, _device(config, name), change, list(writes), not_applied=not_applied
        )
    except ApplyError as exc:
        raise CommandFailed(f"{exc}; nothing was changed") from None
    ctx.success(f"{message}; {note}")


def _section(ctx: Context, title: str, rows: list[tuple[str, object]]) -> None:
    ctx.print(f"{title}:")
    ctx.table([("  " + key, value) for key, value in rows])


def _known(value: object) -> object:
    return "unknown" if value is None else value


# --- iface -------------------------------------------------------------------------------


def _onoff(value: bool | None, unset: str) -> str:
    return unset if value is None else ("on" if value else "off")


@command(
    f"iface {IF}",
    help="Show the interface's MAC address, auto-negotiation, speed, duplex and MTU "
    "(configured and as the host device reports them)",
    roles=READ,
)
async def iface_show(ctx: Context, if_: str) -> None:
    device = _device(ctx.node.config, if_)
    cfg = get_link(ctx.node.config, if_)
    info = link_info(device) if device else None
    ctx.table(
        [
            ("Mac address", info.mac if info and info.mac else "none"),
            ("Device", (device if info and info.exists else f"{device} (not on this host)")
             if device else f"none (map one with: iface {if_} map <device>)"),
        ],
        width=len("Mac address"),
    )
    _section(
        ctx,
        "Configured values",
        [
            ("Auto-negotiation", _onoff(cfg.autoneg, "default")),
            ("Speed", cfg.speed or "default"),
            ("Duplex", cfg.duplex or "default"),
            ("MTU", cfg.mtu or "default"),
        ],
    )
    _section(
        ctx,
        "Observed values",
        [
            ("Auto-negotiation", _onoff(info.autoneg if info else None, "unknown")),
            ("Speed", _known(info.speed if info else None)),
            ("Duplex", _known(info.duplex if info else None)),
            ("MTU", _known(info.mtu if info else None)),
            ("Link state", _known(info.operstate if info else None)),
        ],
    )


def _store_link(ctx: Context, name: str, message: str, cfg: LinkConfig, change: Change | None) -> None:
    _commit(ctx, name, message, [(link_setting(name), cfg.to_json())], change)


@command(
    f"iface {IF} <speed> <duplex:full|on|off>",
    help="Set the link speed (Mbit/s) and duplex: full or on = full duplex, off = half duplex. "
    "Stored; the host's network manager applies link settings",
    roles=ADMIN_ONLY,
)
async def iface_speed(ctx: Context, if_: str, speed: str, duplex: str) -> None:
    usage = {"autoneg": "autoneg (on|off)", "mtu": "mtu <mtu>", "map": "map <device>"}
    if speed.lower() in usage:
        raise CommandFailed(f"invalid syntax; usage: iface {if_} {usage[speed.lower()]}")
    mbits = _checked(parse_speed, speed)
    mode = "half" if duplex == "off" else "full"
    cfg = get_link(ctx.node.config, if_)
    new = replace(cfg, speed=mbits, duplex=mode)
    _store_link(ctx, if_, f"interface {if_} speed {mbits} duplex {mode}", new, None)


@command(
    f"iface {IF} autoneg <state:on|off>",
    help="Switch auto-negotiation on (recommended) or off. Stored; the host's network "
    "manager applies link settings",
    roles=ADMIN_ONLY,
)
async def iface_autoneg(ctx: Context, if_: str, state: str) -> None:
    cfg = get_link(ctx.node.config, if_)
    new = replace(cfg, autoneg=state == "on")
    _store_link(ctx, if_, f"interface {if_} auto-negotiation {state}", new, None)


@command(
    f"iface {IF} mtu <mtu>",
    help="Set the MTU: 576-9000 (at least 1280 when IPv6 is enabled), or 'default'. "
    "Applied to the device when 'network apply' is enabled",
    roles=ADMIN_ONLY,
)
async def iface_mtu(ctx: Context, if_: str, mtu: str) -> None:
    cfg = get_link(ctx.node.config, if_)
    if mtu.lower() == "default":
        new = replace(cfg, mtu=None)
        _store_link(ctx, if_, f"interface {if_} MTU default", new, None)
        return
    ipv6 = get_ip(ctx.node.config, if_, 6).enabled
    value = _checked(check_mtu, _checked(parse_int, mtu, "MTU"), ipv6)
    new = replace(cfg, mtu=value)

    def change(dev: DeviceApplier) -> None:
        dev.set_mtu(value)

    _store_link(ctx, if_, f"interface {if_} MTU {value}", new, change)


@command(
    f"iface {IF} map <device>",
    help="(Moot extension) Map the interface to a host network device; 'none' unmaps b-d. "
    "Listeners move on their component's restart",
    roles=ADMIN_ONLY,
)
async def iface_map(ctx: Context, if_: str, device: str) -> None:
    if device.lower() == "none":
        if if_ == "a":
            raise CommandFailed("interface a cannot be unmapped: the MMP and the services use it")
        ctx.node.config.set(iface_device(if_), None)
        ctx.success(f"interface {if_} unmapped")
        return
    devices = host_devices()
    if device not in devices:
        raise CommandFailed(
            f"no network device {device!r} on this host; devices: {' '.join(devices) or 'none'}"
        )
    ctx.node.config.set(iface_device(if_), device)
    ctx.success(
        f"interface {if_} mapped to device {device}; listeners on {if_} move to it "
        "when their component restarts"
    )


# --- ipv4 / ipv6 -------------------------------------------------------------------------


def _ip_rows(cfg: IpConfig, is_default: bool) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = [
        ("enabled", cfg.enabled),
        (AUTO[cfg.version], cfg.auto),
        ("default", is_default),
    ]
    if not cfg.addresses:
        rows += [("address", None), ("prefixlen", None), ("gateway", None)]
    for a in cfg.addresses:
        rows += [
            ("address", a.interface.ip),
            ("prefixlen", a.interface.network.prefixlen),
            ("gateway", a.gateway),
        ]
    rows.append(("routes", [str(r) for r in cfg.routes]))
    return rows


async def _ip_show(ctx: Context, name: str, version: IPVersion) -> None:
    config = ctx.node.config
    cfg = get_ip(config, name, version)
    device = _device(config, name)
    _section(ctx, "Configured values", _ip_rows(cfg, config.get(DEFAULT_INTERFACE[version]) == name))
    family = FAMILY[version]
    observed: list[tuple[str, object]] = [("device", device)]
    routes = []
    if device:
        info = link_info(device)
        observed.append(("macaddress", info.mac))
        addrs = [a for a in device_addresses(device) if a.family == family]
        for a in addrs:
            observed += [("address", a.address), ("prefixlen", a.prefixlen)]
        if not addrs:
            observed += [("address", None), ("prefixlen", None)]
        routes = device_routes(device, family)
        gateway = next((r.gateway for r in routes if r.destination == "default"), None)
        observed.append(("gateway", gateway))
    _section(ctx, "Observed values", observed)
    ctx.print("Route table:")
    if routes:
        ctx.columns(
            ["  Destination", "Gateway", "Origin"],
            [["  " + r.destination, r.gateway or "direct", r.kind] for r in routes],
        )
    else:
        ctx.print("  none")


def _subnet_check(config: NodeConfig, name: str, new: StaticAddress) -> None:
    """Guide 3.3: any two interfaces must not be put into the same subnet."""
    net = new.interface.network
    for other in INTERFACES:
        if other == name:
            continue
        version: IPVersion = 4 if new.interface.version == 4 else 6
        for a in get_ip(config, other, version).addresses:
            if a.interface.network.overlaps(net):
                raise CommandFailed(
                    f"{net} overlaps the subnet {a.interface.network} of interface {other} "
                    f"({a.interface.ip}); two interfaces must not be in the same subnet: "
                    "choose another subnet or remove that address first"
                )


class _IpCommands:
    """``ipv4`` and ``ipv6`` share their commands; this holds the version."""

    def __init__(self, version: IPVersion) -> None:
        self.version = version
        self.word = f"ipv{version}"

    def _is_default(self, config: NodeConfig, name: str) -> bool:
        return config.get(DEFAULT_INTERFACE[self.version]) == name

    def _write(self, ctx: Context, name: str, message: str, new: IpConfig,
               change: Change | None, extra: Iterable[tuple[Setting[Any], Any]] = ()) -> None:
        """Store ``new``; apply ``change`` only while this version is enabled."""
        writes = [(ip_setting(name, self.version), new.to_json()), *extra]
        if not new.enabled:
            _commit(ctx, name, message, writes, None,
                    not_applied=f"stored; takes effect with '{self.word} {name} enable'")
            return
        _commit(ctx, name, message, writes, change)

    def _reapply(self, ctx: Context, name: str, new: IpConfig) -> Change:
        is_default = self._is_default(ctx.node.config, name)

        def change(dev: DeviceApplier) -> None:
            dev.apply_ip(new, is_default)

        return change

    async def show(self, ctx: Context, if_: str) -> None:
        await _ip_show(ctx, if_, self.version)

    async def add(self, ctx: Context, if_: str, address: str, gateway: str | None) -> None:
        config = ctx.node.config
        iface = _checked(parse_interface_address, address, self.version)
        gw = _checked(parse_gateway, gateway, iface) if gateway is not None else None
        cfg = get_ip(config, if_, self.version)
        if cfg.find(iface.ip) is not None:
            raise CommandFailed(
                f"{iface.ip} is already an address of interface {if_}; "
                f"remove it first with '{self.word} {if_} del {iface.ip}'"
            )
        entry = StaticAddress(iface, gw)
        _subnet_check(config, if_, entry)
        new = cfg.with_changes(addresses=(*cfg.addresses, entry))
        message = f"address {iface} added to interface {if_}"
        if self.version == 4 and cfg.auto:
            new = new.with_changes(auto=False)
            message += " (DHCP is now off for it)"
        self._write(ctx, if_, message, new, self._reapply(ctx, if_, new))

    async def delete(self, ctx: Context, if_: str, address: str) -> None:
        ip = _checked(parse_address, address, self.version)
        cfg = get_ip(ctx.node.config, if_, self.version)
        entry = cfg.find(ip)
        if entry is None:
            have = " ".join(str(a.interface) for a in cfg.addresses) or "none"
            raise CommandFailed(
                f"{ip} is not a configured address of interface {if_} (configured: {have})"
            )
        new = cfg.with_changes(addresses=tuple(a for a in cfg.addresses if a is not entry))
        after = self._reapply(ctx, if_, new)

        def change(dev: DeviceApplier) -> None:
            dev.del_address(entry.interface)
            after(dev)

        self._write(ctx, if_, f"address {entry.interface} removed from interface {if_}", new, change)

    async def enable(self, ctx: Context, if_: str) -> None:
        config = ctx.node.config
        if self.version == 6:
            mtu = get_link(config, if_).mtu
            if mtu is not None and mtu < MTU_MIN_IPV6:
                raise CommandFailed(
                    f"the MTU of interface {if_} is {mtu}, below IPv6's minimum of {MTU_MIN_IPV6}; "
                    f"raise it first with 'iface {if_} mtu {MTU_MIN_IPV6}'"
                )
        new = get_ip(config, if_, self.version).with_changes(enabled=True)
        self._write(ctx, if_, f"{self.word} enabled on interface {if_}", new,
                    self._reapply(ctx, if_, new))

    async def disable(self, ctx: Context, if_: str) -> None:
        cfg = get_ip(ctx.node.config, if_, self.version)
        new = cfg.with_changes(enabled=False)

        def change(dev: DeviceApplier) -> None:
            dev.remove_ip(cfg)

        # Disabling removes what enabling added, so apply even though ``new`` is disabled.
        _commit(ctx, if_, f"{self.word} disabled on interface {if_}",
                [(ip_setting(if_, self.version), new.to_json())], change if cfg.enabled else None,
                not_applied="stored; it was already disabled")

    async def default(self, ctx: Context, if_: str) -> None:
        config = ctx.node.config
        cfg = get_ip(config, if_, self.version)
        message = f"interface {if_} holds the {self.word} default route"
        if cfg.gateway is None and not cfg.auto:
            message += f" (it has no gateway yet: add one with '{self.word} {if_} add')"

        def change(dev: DeviceApplier) -> None:
            dev.apply_ip(cfg, True)

        self._write(ctx, if_, message, cfg, change, [(DEFAULT_INTERFACE[self.version], if_)])

    async def auto(self, ctx: Context, if_: str, state: str | None) -> None:
        on = state != "disable"
        new = get_ip(ctx.node.config, if_, self.version).with_changes(auto=on)
        what = AUTO[self.version].upper()
        _commit(ctx, if_, f"{what} {'enabled' if on else 'disabled'} on interface {if_}",
                [(ip_setting(if_, self.version), new.to_json())], None)

    async def route_add(self, ctx: Context, if_: str, network: str) -> None:
        net = _checked(parse_route, network, self.version)
        cfg = get_ip(ctx.node.config, if_, self.version)
        if net in cfg.routes:
            raise CommandFailed(f"interface {if_} already has a route to {net}")
        new = cfg.with_changes(routes=(*cfg.routes, net))
        message = f"route to {net} added on interface {if_}"
        if new.gateway is None:
            message += " (no gateway configured: the route is direct on the link)"
        self._write(ctx, if_, message, new, self._reapply(ctx, if_, new))

    async def route_del(self, ctx: Context, if_: str, network: str) -> None:
        net = _checked(parse_route, network, self.version)
        cfg = get_ip(ctx.node.config, if_, self.version)
        if net not in cfg.routes:
            have = " ".join(map(str, cfg.routes)) or "none"
            raise CommandFailed(f"interface {if_} has no route to {net} (configured: {have})")
        new = cfg.with_changes(routes=tuple(r for r in cfg.routes if r != net))
        version = self.version

        def change(dev: DeviceApplier) -> None:
            dev.del_route(net, version)

        self._write(ctx, if_, f"route to {net} removed from interface {if_}", new, change)

    def register(self) -> None:
        w, v = self.word, self.version
        applied = "Applied to the device when 'network apply' is enabled (see: network)"
        command(f"{w} {IF}", help=f"Show the IPv{v} configuration, what the device has, "
                "and its route table", roles=READ)(self.show)
        if v == 4:
            command(f"{w} {IF} add <address> <gateway>",
                    help="Add a static address <address>/<prefixlen> with a gateway inside "
                    f"its subnet (turns DHCP off). {applied}", roles=ADMIN_ONLY)(self.add)
            command(f"{w} {IF} dhcp [<state:enable|disable>]",
                    help="Use DHCP on the interface (the host's DHCP client applies it)",
                    roles=ADMIN_ONLY)(self.auto)
        else:
            command(f"{w} {IF} add <address> [<gateway>]",
                    help="Add a static address <address>/<prefixlen>, optionally with a gateway "
                    f"(inside the subnet or link-local). {applied}", roles=ADMIN_ONLY)(self.add)
            command(f"{w} {IF} slaac <state:enable|disable>",
                    help="Use stateless address autoconfiguration (the host applies it)",
                    roles=ADMIN_ONLY)(self.auto)
        command(f"{w} {IF} del <address>", help=f"Remove a static address. {applied}",
                roles=ADMIN_ONLY)(self.delete)
        command(f"{w} {IF} enable", help=f"Enable IPv{v} on the interface. {applied}",
                roles=ADMIN_ONLY)(self.enable)
        command(f"{w} {IF} disable", help=f"Disable IPv{v} on the interface (removes its "
                f"static addresses from the device). {applied}", roles=ADMIN_ONLY)(self.disable)
        command(f"{w} {IF} default", help="Make this interface's gateway the default route. "
                f"{applied}", roles=ADMIN_ONLY)(self.default)
        command(f"{w} {IF} route add <network>", help="Route <network>/<len> through this "
                f"interface's gateway. {applied}", roles=ADMIN_ONLY)(self.route_add)
        command(f"{w} {IF} route del <network>", help=f"Remove a route. {applied}",
                roles=ADMIN_ONLY)(self.route_del)


_IpCommands(4).register()
_IpCommands(6).register()


# --- network apply (extension) -----------------------------------------------------------

APPLY_HELP = (
    "(Moot extension) Let network commands change the mapped host devices (MTU, addresses, "
    "routes, enable/disable) through netlink. Disabled by default: then commands only store "
    "settings and the host's network manager applies them. Needs root or CAP_NET_ADMIN"
)


@command("network", help="Show whether network changes are applied to host devices", roles=READ)
async def network_show(ctx: Context) -> None:
    config = ctx.node.config
    decision = decide(config)
    ctx.table(
        [
            ("Apply to host devices", "enabled" if config.get(NETWORK_APPLY) else "disabled"),
            ("May change host network", "yes" if net_apply.may_change_network() else "no"),
            ("Changes are", "applied" if decision.apply else decision.note.removeprefix("stored; ")),
            *[(f"Interface {n}", _device(config, n)) for n in INTERFACES],
        ]
    )


@command("network apply <state:enable|disable>", help=APPLY_HELP, roles=ADMIN_ONLY)
async def network_apply(ctx: Context, state: str) -> None:
    on = state == "enable"
    ctx.node.config.set(NETWORK_APPLY, on)
    if not on:
        ctx.success("network changes are stored only; the host's network manager applies them")
        return
    devices = " ".join(d for d in (_device(ctx.node.config, n) for n in INTERFACES) if d)
    warn = "" if net_apply.may_change_network() else (
        " (this process may not change the network now: run as root or with CAP_NET_ADMIN)"
    )
    ctx.success(f"network changes will be applied to the mapped devices ({devices}){warn}")


# --- dns (no interface argument, guide table 1.3) ---------------------------------------


@command("dns", help="Show the DNS forward zones and the host's resolver", roles=READ)
async def dns_show(ctx: Context) -> None:
    zones = forward_zones(ctx.node.config)
    if zones:
        ctx.columns(["Forward zone", "Server"], [[z.domain, z.server_text] for z in zones])
    else:
        ctx.print("Forward zones : none (names are resolved by the host's resolver)")
    resolver = host_resolver()
    _section(
        ctx,
        "Host resolver",
        [("Name servers", resolver.nameservers), ("Search domains", resolver.search)],
    )


def _zone(domain: str, server: str) -> ForwardZone:
    name = _checked(parse_domain, domain)
    ip, port = _checked(parse_dns_server, server)
    return ForwardZone(name, ip, port)


@command(
    "dns add forwardzone <domain> <server>",
    help="Resolve names at or below <domain> ('.' for every name) through <server> "
    "(an IP address, optionally :port); several servers per domain share the load",
    roles=ADMIN_ONLY,
)
async def dns_add(ctx: Context, domain: str, server: str) -> None:
    zone = _zone(domain, server)
    zones = forward_zones(ctx.node.config)
    if zone in zones:
        raise CommandFailed(f"forward zone {zone.domain} {zone.server_text} already exists")
    zones.append(zone)
    ctx.node.config.set(DNS_FORWARD_ZONES, [z.to_json() for z in zones])
    ctx.success(f"forward zone {zone.domain} {zone.server_text} added; used for new lookups")


@command("dns del forwardzone <domain> <server>", help="Remove a forward zone server",
         roles=ADMIN_ONLY)
async def dns_del(ctx: Context, domain: str, server: str) -> None:
    zone = _zone(domain, server)
    zones = forward_zones(ctx.node.config)
    if zone not in zones:
        have = ", ".join(f"{z.domain} {z.server_text}" for z in zones) or "none"
        raise CommandFailed(f"no forward zone {zone.domain} {zone.server_text} (configured: {have})")
    zones.remove(zone)
    ctx.node.config.set(DNS_FORWARD_ZONES, [z.to_json() for z in zones])
    ctx.success(f"forward zone {zone.domain} {zone.server_text} removed")


# --- ntp ---------------------------------------------------------------------------------


@command("ntp status", help="Show the NTP servers and whether the host clock is synchronised",
         roles=READ)
async def ntp_status(ctx: Context) -> None:
    synced = clock_synchronised()
    ctx.table(
        [
            ("NTP servers", ctx.node.config.get(NTP_SERVERS)),
            ("Clock synchronised", "unknown" if synced is None else ("yes" if synced else "no")),
        ]
    )


@command("ntp server add <server>", help="Add an NTP server (address or host name)",
         roles=ADMIN_ONLY)
async def ntp_add(ctx: Context, server: str) -> None:
    name = _checked(parse_host, server)
    servers = ctx.node.config.get(NTP_SERVERS)
    if name in servers:
        raise CommandFailed(f"NTP server {name} is already configured")
    ctx.node.config.set(NTP_SERVERS, [*servers, name])
    ctx.success(f"NTP server {name} added; stored; the host's time service applies it")


@command("ntp server del <server>", help="Remove an NTP server", roles=ADMIN_ONLY)
async def ntp_del(ctx: Context, server: str) -> None:
    name = _checked(parse_host, server)
    servers = ctx.node.config.get(NTP_SERVERS)
    if name not in servers:
        raise CommandFailed(
            f"NTP server {name} is not configured (configured: {' '.join(servers) or 'none'})"
        )
    ctx.node.config.set(NTP_SERVERS, [s for s in servers if s != name])
    ctx.success(f"NTP server {name} removed")


@command("ntp server list", help="List the NTP servers", roles=READ)
async def ntp_list(ctx: Context) -> None:
    servers = ctx.node.config.get(NTP_SERVERS)
    if not servers:
        ctx.print("No NTP servers configured (add one with: ntp server add <server>)")
    for s in servers:
        ctx.print(s)
