"""``turn`` commands (guide: TURN server): listen, credentials, public IP, TLS, certificates,
enable/disable/restart, high-capacity mode, and Moot extensions (shared secret of
time-limited credentials, UDP/TCP port, relay port range, allowed peers)."""

from __future__ import annotations

import ipaddress

from moot.mmp.commands.common import (
    assign_certs,
    port_number,
    restart_if_enabled,
    show_file,
    switch_component,
)
from moot.mmp.context import CommandFailed, Context
from moot.mmp.registry import CONFIG, READ, registry
from moot.node.interfaces import InterfaceNotMapped, listen_address
from moot.node.settings import INTERFACES
from moot.turn.policy import parse_networks
from moot.turn.settings import (
    TURN_ALLOWED_PEERS,
    TURN_CERTS,
    TURN_CREDENTIALS,
    TURN_ENABLED,
    TURN_HIGHCAPACITY,
    TURN_LISTEN,
    TURN_PORT,
    TURN_PUBLIC_IP,
    TURN_RELAY_PORTS,
    TURN_SHARED_SECRET,
    TURN_TLS_PORT,
)

command = registry.command

COMPONENT = "turn"
MASK = "********"
#: Keeps the 401 challenge small (see moot.turn.policy.CHALLENGE_BOUND).
MAX_REALM = 32
APPLY = "apply with 'turn restart'"


def _relay_address(ctx: Context) -> str:
    listen = ctx.node.config.get(TURN_LISTEN)
    if not listen:
        return "none"
    try:
        return listen_address(ctx.node.config, listen[0])
    except InterfaceNotMapped:
        return "none"


async def _status_line(ctx: Context) -> str:
    status = await ctx.node.control.status()
    comp = status.component(COMPONENT) if status else None
    if comp is None:
        return "turn not running (the node is not running)"
    text = f"turn {comp.state}"
    return f"{text}: {comp.detail}" if comp.detail else text


@command("turn", help="Show the TURN server configuration and status", roles=READ)
async def turn_status(ctx: Context) -> None:
    config = ctx.node.config
    creds = config.get(TURN_CREDENTIALS) or {}
    certs = config.get(TURN_CERTS) or {}
    tls_port = config.get(TURN_TLS_PORT)
    low, high = config.get(TURN_RELAY_PORTS)
    allowed = config.get(TURN_ALLOWED_PEERS)
    ctx.table([
        ("Enabled", config.get(TURN_ENABLED)),
        ("Username", creds.get("username") or "none"),
        ("Password", MASK if creds.get("password") else "none"),
        ("Short term credentials", "disabled"),
        ("Shared secret", MASK if config.get(TURN_SHARED_SECRET) else "none"),
        ("Realm", creds.get("realm") or "none"),
        ("Public IP", config.get(TURN_PUBLIC_IP) or "none"),
        ("High Capacity Mode", "enabled" if config.get(TURN_HIGHCAPACITY) else "disabled"),
        ("Relay address", _relay_address(ctx)),
        ("TLS port", tls_port or "none"),
        ("TLS cert", show_file(certs.get("crt"))),
        ("TLS key", show_file(certs.get("key"))),
        ("TLS bundle", show_file(certs.get("bundle"))),
        ("UDP/TCP port", config.get(TURN_PORT)),
        ("Relay port range", f"{low}-{high}"),
        ("Allowed peers", " ".join(allowed) or "none"),
        ("STATUS", await _status_line(ctx)),
    ], width=23)
    for iface in config.get(TURN_LISTEN):
        ctx.print(f"Listen interface      {iface}")


@command(
    "turn listen <if:a|b|c|d|none>...",
    help="Interfaces the TURN server listens on, or none (apply with 'turn restart')",
    roles=CONFIG,
)
async def turn_listen(ctx: Context, if_: list[str]) -> None:
    if "none" in if_ and len(if_) > 1:
        raise CommandFailed("'none' cannot be combined with interfaces")
    chosen = [i for i in INTERFACES if i in if_]
    ctx.node.config.set(TURN_LISTEN, chosen)
    ctx.success(f"TURN server will listen on {' '.join(chosen) or 'no interfaces'}; {APPLY}")


@command(
    "turn credentials <username> <password> <realm>",
    help="Long-term username, password and realm of the TURN server (apply with 'turn restart')",
    roles=CONFIG,
    secret=("password",),
)
async def turn_credentials(ctx: Context, username: str, password: str, realm: str) -> None:
    if len(realm.encode()) > MAX_REALM:
        raise CommandFailed(f"the realm may have at most {MAX_REALM} bytes; choose a shorter one")
    if len(username.encode()) > 500 or not password:
        raise CommandFailed("give a username of at most 500 bytes and a non-empty password")
    ctx.node.config.set(TURN_CREDENTIALS, {"username": username, "password": password, "realm": realm})
    ctx.success(f"TURN credentials set for {username} in realm {realm}; {APPLY}")


@command(
    "turn public-ip <address>",
    help="Public IP advertised as the relay address behind NAT, or none (apply with 'turn restart')",
    roles=CONFIG,
)
async def turn_public_ip(ctx: Context, address: str) -> None:
    value: str | None = None
    if address != "none":
        try:
            value = str(ipaddress.IPv4Address(address))
        except ValueError:
            raise CommandFailed(f"{address!r} is not an IPv4 address; give a.b.c.d or none") from None
    ctx.node.config.set(TURN_PUBLIC_IP, value)
    ctx.success(f"TURN public IP {'set to ' + value if value else 'removed'}; {APPLY}")


@command(
    "turn tls <port>",
    help="TCP port of TURN over TLS (e.g. 443 for strict firewalls), or none (apply with 'turn restart')",
    roles=CONFIG,
)
async def turn_tls(ctx: Context, port: str) -> None:
    config = ctx.node.config
    if port == "none":
        config.set(TURN_TLS_PORT, None)
        ctx.success(f"TURN over TLS disabled; {APPLY}")
        return
    number = port_number(port)
    if number == config.get(TURN_PORT):
        raise CommandFailed(f"port {number} is the TURN UDP/TCP port; choose another TLS port")
    config.set(TURN_TLS_PORT, number)
    note = "" if config.get(TURN_CERTS) else "; it also needs 'turn certs <key> <crt>'"
    ctx.success(f"TURN over TLS on port {number}{note}; {APPLY}")


@command(
    "turn certs <key> <crt> [<bundle>]",
    help="Key and certificate (and CA bundle) for TURN over TLS (apply with 'turn restart')",
    roles=CONFIG,
)
async def turn_certs(ctx: Context, key: str, crt: str, bundle: str | None) -> None:
    assign_certs(ctx, TURN_CERTS, key, crt, bundle)
    ctx.success(f"TURN certificates set; {APPLY}")


@command("turn certs none", help="Remove the TURN certificates", roles=CONFIG)
async def turn_certs_none(ctx: Context) -> None:
    ctx.node.config.set(TURN_CERTS, None)
    ctx.success(f"TURN certificates removed; {APPLY}")


@command("turn <state:enable|disable>", help="Turn the TURN server on or off", roles=CONFIG)
async def turn_enable(ctx: Context, state: str) -> None:
    wanted = state == "enable"
    if wanted and not ctx.node.config.get(TURN_CREDENTIALS):
        raise CommandFailed("set 'turn credentials <username> <password> <realm>' first")
    await switch_component(ctx, TURN_ENABLED, COMPONENT, "TURN server", wanted)


@command("turn restart", help="Restart the TURN server (applies its settings)", roles=CONFIG)
async def turn_restart(ctx: Context) -> None:
    await restart_if_enabled(ctx, TURN_ENABLED, COMPONENT, "TURN server")


@command(
    "turn highcapacity-mode <state:enable|disable>",
    help="Relay with one worker process per core sharing the ports (apply with 'turn restart')",
    roles=CONFIG,
)
async def turn_highcapacity(ctx: Context, state: str) -> None:
    ctx.node.config.set(TURN_HIGHCAPACITY, state == "enable")
    ctx.success(f"high capacity mode {state}d; {APPLY}")


# -- Moot extensions -------------------------------------------------------------


@command(
    "turn shared-secret <secret>",
    help="Extension: secret of time-limited credentials (user '<expiry>:<name>', "
    "password base64(HMAC-SHA1(secret, user))) for the web app, or none",
    roles=CONFIG,
    secret=("secret",),
)
async def turn_shared_secret(ctx: Context, secret: str) -> None:
    if secret != "none" and len(secret) < 16:
        raise CommandFailed("use a shared secret of at least 16 characters")
    ctx.node.config.set(TURN_SHARED_SECRET, None if secret == "none" else secret)
    ctx.success(f"TURN shared secret {'removed' if secret == 'none' else 'set'}; {APPLY}")


@command(
    "turn port <port>",
    help="Extension: UDP and TCP port of the TURN server (default 3478)",
    roles=CONFIG,
)
async def turnport_number(ctx: Context, port: str) -> None:
    number = port_number(port)
    if number == ctx.node.config.get(TURN_TLS_PORT):
        raise CommandFailed(f"port {number} is the TURN TLS port; choose another port")
    ctx.node.config.set(TURN_PORT, number)
    ctx.success(f"TURN server will use UDP and TCP port {number}; {APPLY}")


@command(
    "turn relay-ports <low> <high>",
    help="Extension: UDP port range of relayed addresses (default 49152 65535)",
    roles=CONFIG,
)
async def turn_relay_ports(ctx: Context, low: str, high: str) -> None:
    first, last = port_number(low), port_number(high)
    if first > last or last - first < 15:
        raise CommandFailed("give a range of at least 16 ports, low first, e.g. 'turn relay-ports 50000 51000'")
    ctx.node.config.set(TURN_RELAY_PORTS, [first, last])
    ctx.success(f"relay ports {first}-{last}; {APPLY}")


@command(
    "turn allow-peers <network>...",
    help="Extension: peer networks relayed to although in a denied range "
    "(loopback, private, link-local...), or none",
    roles=CONFIG,
)
async def turn_allow_peers(ctx: Context, network: list[str]) -> None:
    if network == ["none"]:
        chosen: list[str] = []
    else:
        try:
            chosen = [str(n) for n in parse_networks(network)]
        except ValueError as exc:
            raise CommandFailed(f"{exc}; give networks like 127.0.0.1/32 or 10.0.0.0/8") from None
    ctx.node.config.set(TURN_ALLOWED_PEERS, chosen)
    ctx.success(f"allowed peers: {' '.join(chosen) or 'none (all denied ranges refused)'}; {APPLY}")
