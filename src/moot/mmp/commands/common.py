"""What the component command families share: certificate assignment, restarts."""

from __future__ import annotations

from typing import Any

from moot.mmp.context import CommandFailed, Context
from moot.node.control import ControlError
from moot.node.settings import (
    CALLBRIDGE_LISTEN,
    CALLBRIDGE_SIP_PORTS,
    MMP_LISTEN,
    WEBADMIN_LISTEN,
    WEBBRIDGE_LISTEN,
    Setting,
)


def show_file(name: str | None) -> str:
    return name or "none"


def assign_certs(
    ctx: Context,
    setting: Setting[dict[str, Any] | None],
    key: str,
    crt: str,
    bundle: str | None,
) -> None:
    """Check the pair (and bundle) in the file store, then store them; nothing changes on failure."""
    from moot.pki import PkiError, check_pair

    try:
        check_pair(ctx.node.datadir.files, key, crt, bundle)
    except (PkiError, ValueError) as exc:
        raise CommandFailed(str(exc)) from None
    ctx.node.config.set(setting, {"key": key, "crt": crt, "bundle": bundle})


async def restart_component(ctx: Context, name: str) -> None:
    """Restart one component of the running node, or say when the change takes effect."""
    if await ctx.node.control.status() is None:
        ctx.success(f"the node is not running; {name} starts with the new settings on 'moot serve'")
        return
    try:
        await ctx.node.control.restart(name)
    except ControlError as exc:
        raise CommandFailed(str(exc)) from None
    ctx.success(f"{name} restarted")


async def switch_component(ctx: Context, setting: Setting[bool], name: str, title: str, wanted: bool) -> None:
    """``<component> enable|disable``: store the switch and start or stop the component.

    A component that cannot start gets its switch put back, so that nothing has changed.
    """
    config = ctx.node.config
    before = config.get(setting)
    config.set(setting, wanted)
    running = await ctx.node.control.status() is not None
    try:
        await ctx.node.control.apply(name)
    except ControlError as exc:
        config.set(setting, before)
        try:
            await ctx.node.control.apply(name)
        except ControlError:
            pass
        raise CommandFailed(f"{exc}; the {title} stays {'enabled' if before else 'disabled'}") from None
    state = "enabled" if wanted else "disabled"
    if running:
        ctx.success(f"{title} {state}")
    else:
        ctx.success(f"{title} {state}; it {'starts' if wanted else 'stays off'} when the node starts")


async def restart_if_enabled(ctx: Context, setting: Setting[bool], name: str, title: str) -> None:
    """``<component> restart``: a disabled component takes its new settings on ``enable``."""
    if not ctx.node.config.get(setting):
        ctx.success(f"the {title} is disabled; the new settings apply on '{name} enable'")
        return
    await restart_component(ctx, name)


def port_number(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise CommandFailed(f"invalid port {text!r}: give a number from 1 to 65535")
    return int(text)


def check_port_free(ctx: Context, iface: str, port: int, asking: str) -> None:
    """Refuse a TCP port another listener of this node (not ``asking`` itself) uses there."""
    from moot.scheduler.settings import SCHEDULER_LISTEN

    config = ctx.node.config
    listeners = [
        ("mmp", "the MMP's SSH listener", config.get(MMP_LISTEN)),
        ("webadmin", "the web admin", config.get(WEBADMIN_LISTEN)),
        ("scheduler", "the scheduler", config.get(SCHEDULER_LISTEN)),
        *(("webbridge", "the web bridge", where) for where in config.get(WEBBRIDGE_LISTEN)),
    ]
    taken = next(
        (title for name, title, where in listeners
         if name != asking and where["iface"] == iface and int(where["port"]) == port),
        None,
    )
    if taken is None and asking != "callbridge" and iface in config.get(CALLBRIDGE_LISTEN):
        sip = config.get(CALLBRIDGE_SIP_PORTS)
        if port in (sip.get("tcp"), sip.get("tls")):
            taken = "the call bridge's SIP listener"
    if taken:
        raise CommandFailed(f"port {port} on interface {iface} is used by {taken}; choose another port")


def https_listener_commands(
    prefix: str,
    component: str,
    title: str,
    listen: Setting[dict[str, Any]],
    certs: Setting[dict[str, Any] | None],
) -> None:
    """Declare ``<prefix> listen``, ``<prefix> certs`` and ``<prefix> certs none`` for an HTTPS listener."""
    from moot.mmp.registry import CONFIG, registry
    from moot.node.settings import listener

    apply = f"apply with '{component} restart'"

    @registry.command(
        f"{prefix} listen <if:a|b|c|d> <port>",
        help=f"Interface and TCP port of the {title}'s HTTPS listener ({apply})",
        roles=CONFIG,
    )
    async def listen_command(ctx: Context, if_: str, port: str) -> None:
        number = port_number(port)
        check_port_free(ctx, if_, number, component)
        ctx.node.config.set(listen, listener(if_, number))
        ctx.success(f"{title} will listen on {if_}:{number}; {apply}")

    @registry.command(
        f"{prefix} certs <key> <crt> [<bundle>]",
        help=f"Key and certificate (and CA bundle) from the file store ({apply})",
        roles=CONFIG,
    )
    async def certs_command(ctx: Context, key: str, crt: str, bundle: str | None) -> None:
        assign_certs(ctx, certs, key, crt, bundle)
        ctx.success(f"{title} certificates set; {apply}")

    @registry.command(
        f"{prefix} certs none",
        help=f"Go back to the self-signed default certificate ({apply})",
        roles=CONFIG,
    )
    async def certs_none_command(ctx: Context) -> None:
        ctx.node.config.set(certs, None)
        ctx.success(f"{title} will use its self-signed certificate; {apply}")
