"""``webbridge3`` commands: the web app's HTTPS listeners, certificates, redirect, on/off."""

from __future__ import annotations

from moot.mmp.commands.common import (
    assign_certs,
    check_port_free,
    port_number,
    restart_if_enabled,
    show_file,
    switch_component,
)
from moot.mmp.context import CommandFailed, Context
from moot.mmp.registry import CONFIG, READ, registry
from moot.node.settings import (
    INTERFACES,
    WEBBRIDGE_CERTS,
    WEBBRIDGE_ENABLED,
    WEBBRIDGE_HTTP_REDIRECT,
    WEBBRIDGE_LISTEN,
    listener,
)

command = registry.command

COMPONENT = "webbridge"
TITLE = "web bridge"
APPLY = "apply with 'webbridge3 restart'"


def _listeners_text(entries: list[dict[str, object]]) -> str:
    return " ".join(f"{e['iface']}:{e['port']}" for e in entries) or "none"


@command("webbridge3", help="Show the web bridge configuration and status", roles=READ)
async def webbridge_status(ctx: Context) -> None:
    config = ctx.node.config
    certs = config.get(WEBBRIDGE_CERTS)
    status = await ctx.node.control.status()
    comp = status.component(COMPONENT) if status else None
    ctx.table([
        ("Enabled", config.get(WEBBRIDGE_ENABLED)),
        ("HTTPS listening ports and interfaces", _listeners_text(config.get(WEBBRIDGE_LISTEN))),
        ("HTTPS Key file", show_file(certs["key"]) if certs else "none (self-signed default)"),
        ("HTTPS Full chain certificate file", show_file(certs["crt"]) if certs else "none (self-signed default)"),
        ("HTTP redirect", "Enabled" if config.get(WEBBRIDGE_HTTP_REDIRECT) else "Disabled"),
        ("STATUS", f"{comp.state}{': ' + comp.detail if comp.detail else ''}" if comp else "node not running"),
    ])


@command(
    "webbridge3 https listen <endpoint>...",
    help=f"Interfaces and ports for the web app, as <if>:<port> (e.g. a:443 b:443); {APPLY}",
    roles=CONFIG,
)
async def webbridge_listen(ctx: Context, endpoint: list[str]) -> None:
    chosen: list[dict[str, object]] = []
    for text in endpoint:
        iface, sep, port_text = text.partition(":")
        if not sep or iface not in INTERFACES:
            raise CommandFailed(f"invalid listener {text!r}: give <interface>:<port>, e.g. a:443")
        port = port_number(port_text)
        if any(e["iface"] == iface and e["port"] == port for e in chosen):
            raise CommandFailed(f"{text} is given twice")
        check_port_free(ctx, iface, port, COMPONENT)
        chosen.append(listener(iface, port))
    ctx.node.config.set(WEBBRIDGE_LISTEN, chosen)
    ctx.success(f"web bridge will listen on {_listeners_text(chosen)}; {APPLY}")


@command(
    "webbridge3 https certs <key> <fullchain>",
    help=f"Key and full-chain certificate from the file store for the web app; {APPLY}",
    roles=CONFIG,
)
async def webbridge_certs(ctx: Context, key: str, fullchain: str) -> None:
    assign_certs(ctx, WEBBRIDGE_CERTS, key, fullchain, None)
    ctx.success(f"web bridge certificates set; {APPLY}")


@command("webbridge3 https certs none", help=f"Go back to the self-signed default certificate; {APPLY}",
         roles=CONFIG)
async def webbridge_certs_none(ctx: Context) -> None:
    ctx.node.config.set(WEBBRIDGE_CERTS, None)
    ctx.success(f"web bridge will use its self-signed certificate; {APPLY}")


@command(
    "webbridge3 http-redirect <state:enable|disable>",
    help=f"Answer plain HTTP on the web app's ports with a redirect to HTTPS; {APPLY}",
    roles=CONFIG,
)
async def webbridge_http_redirect(ctx: Context, state: str) -> None:
    ctx.node.config.set(WEBBRIDGE_HTTP_REDIRECT, state == "enable")
    ctx.success(f"HTTP redirect {state}d; {APPLY}")


@command("webbridge3 <state:enable|disable>", help="Turn the web bridge on or off", roles=CONFIG)
async def webbridge_enable(ctx: Context, state: str) -> None:
    await switch_component(ctx, WEBBRIDGE_ENABLED, COMPONENT, TITLE, state == "enable")


@command("webbridge3 restart", help="Restart the web bridge alone (browsers in meetings are told and drop)",
         roles=CONFIG)
async def webbridge_restart(ctx: Context) -> None:
    await restart_if_enabled(ctx, WEBBRIDGE_ENABLED, COMPONENT, TITLE)
