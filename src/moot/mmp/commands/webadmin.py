"""``webadmin`` commands (guide 3.5): listener, certificates, enable/disable/restart, HTTP redirect."""

from __future__ import annotations

from moot.mmp.commands.common import (
    https_listener_commands,
    restart_if_enabled,
    show_file,
    switch_component,
)
from moot.mmp.context import Context
from moot.mmp.registry import CONFIG, READ, registry
from moot.node.settings import (
    WEBADMIN_CERTS,
    WEBADMIN_ENABLED,
    WEBADMIN_HTTP_REDIRECT,
    WEBADMIN_LISTEN,
)

command = registry.command

COMPONENT = "webadmin"
#: What ``Key file`` shows while the self-signed default is in use (see moot.webadmin.tlsfiles).
DEFAULT_CERTS_NOTE = "none (self-signed default)"


async def _status_line(ctx: Context) -> str:
    status = await ctx.node.control.status()
    comp = status.component(COMPONENT) if status else None
    if comp is None:
        return "webadmin not running (the node is not running)"
    text = f"webadmin {comp.state}"
    return f"{text}: {comp.detail}" if comp.state == "failed" and comp.detail else text


@command("webadmin", help="Show the web admin configuration and status", roles=READ)
async def webadmin_status(ctx: Context) -> None:
    config = ctx.node.config
    listen = config.get(WEBADMIN_LISTEN)
    certs = config.get(WEBADMIN_CERTS)
    rows: list[tuple[str, object]] = [
        ("Enabled", config.get(WEBADMIN_ENABLED)),
        ("TLS listening interface", listen["iface"]),
        ("TLS listening port", listen["port"]),
        ("Key file", show_file(certs["key"]) if certs else DEFAULT_CERTS_NOTE),
        ("Certificate file", show_file(certs["crt"]) if certs else DEFAULT_CERTS_NOTE),
    ]
    if certs and certs.get("bundle"):
        rows.append(("CA Bundle file", certs["bundle"]))
    rows += [
        ("HTTP redirect", "Enabled" if config.get(WEBADMIN_HTTP_REDIRECT) else "Disabled"),
        ("STATUS", await _status_line(ctx)),
    ]
    ctx.table(rows)


https_listener_commands("webadmin", COMPONENT, "web admin", WEBADMIN_LISTEN, WEBADMIN_CERTS)


@command("webadmin <state:enable|disable>", help="Turn the web admin on or off", roles=CONFIG)
async def webadmin_enable(ctx: Context, state: str) -> None:
    await switch_component(ctx, WEBADMIN_ENABLED, COMPONENT, "web admin", state == "enable")


@command(
    "webadmin restart",
    help="Restart the web admin alone (applies listen, certs and http-redirect)",
    roles=CONFIG,
)
async def webadmin_restart(ctx: Context) -> None:
    await restart_if_enabled(ctx, WEBADMIN_ENABLED, COMPONENT, "web admin")


@command(
    "webadmin http-redirect <state:enable|disable>",
    help="Answer plain HTTP with a redirect to HTTPS (apply with 'webadmin restart')",
    roles=CONFIG,
)
async def webadmin_http_redirect(ctx: Context, state: str) -> None:
    ctx.node.config.set(WEBADMIN_HTTP_REDIRECT, state == "enable")
    ctx.success(f"HTTP redirect {state}d; apply with 'webadmin restart'")
