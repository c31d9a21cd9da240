"""``scheduler`` commands (guide 3.6-3.6.7): the component, its HTTPS listener, its email server.

Email settings are read by the running scheduler before each delivery round, so they
apply without a restart; ``scheduler https ...`` applies with ``scheduler restart``.
The SMTP password is asked twice (or read from piped input) and never shown.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re

from moot.mmp.commands.common import (
    https_listener_commands,
    port_number,
    restart_if_enabled,
    show_file,
    switch_component,
)
from moot.mmp.context import CommandFailed, Context
from moot.mmp.registry import CONFIG, READ, registry
from moot.scheduler import timedlog
from moot.scheduler.settings import (
    EMAIL_AUTH,
    EMAIL_COMMON_ADDRESS,
    EMAIL_PASSWORD,
    EMAIL_PROTOCOL,
    EMAIL_SERVER,
    EMAIL_STARTTLS,
    EMAIL_TRUST,
    EMAIL_USERNAME,
    SCHEDULER_CERTS,
    SCHEDULER_ENABLED,
    SCHEDULER_LISTEN,
)

command = registry.command

COMPONENT = "scheduler"
DEFAULT_CERTS_NOTE = "none (self-signed default)"
PASSWORD_PROMPT = "Please enter password: "
PASSWORD_AGAIN_PROMPT = "Please enter password again: "
MAX_DISPLAY_NAME = 256
MAX_USERNAME = 256

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


# --- validation -------------------------------------------------------------------------
def valid_hostname(name: str) -> bool:
    if not name or len(name) > 253:
        return False
    labels = name.rstrip(".").split(".")
    if not all(_LABEL.match(label) for label in labels):
        return False
    # "10.27.33" is a broken address, not a host name.
    return not labels[-1].isdigit()


def server_host(text: str) -> str:
    """A host name or an IP address, as the operator typed it (IPv6 without brackets)."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if not valid_hostname(text):
        raise CommandFailed(
            f"invalid email server {text!r}: give a host name (mail.example.com) or an IP address"
        )
    return text.rstrip(".").lower()


def email_address(text: str) -> str:
    local, at, domain = text.rpartition("@")
    if not at or not local or len(local) > 64 or not _LOCAL_PART.match(local):
        raise CommandFailed(f"invalid email address {text!r}: give it as address@mail.domain")
    if not valid_hostname(domain) or "." not in domain.strip("."):
        raise CommandFailed(f"invalid email address {text!r}: {domain!r} is not a mail domain")
    return f"{local}@{domain.lower()}"


def display_name(text: str) -> str:
    if len(text) > MAX_DISPLAY_NAME or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise CommandFailed(
            f"invalid display name: at most {MAX_DISPLAY_NAME} characters, no control characters"
        )
    return text.strip()


def smtp_username(text: str) -> str:
    if not text or len(text) > MAX_USERNAME or any(c.isspace() or ord(c) < 32 for c in text):
        raise CommandFailed(
            f"invalid username {text!r}: one word of at most {MAX_USERNAME} characters"
        )
    return text


# --- status -----------------------------------------------------------------------------
async def _component_line(ctx: Context) -> str:
    status = await ctx.node.control.status()
    comp = status.component(COMPONENT) if status else None
    if comp is None:
        return "scheduler not running (the node is not running)"
    text = f"scheduler {comp.state}"
    return f"{text}: {comp.detail}" if comp.detail else text


def _outbox_line(ctx: Context) -> str:
    from moot.scheduler.outbox import Outbox

    try:
        counts = Outbox(ctx.node.api.store.engine).counts()
    except Exception as exc:  # the database may be unreachable: say so, show the rest
        return f"unavailable ({type(exc).__name__})"
    return f"{counts.waiting} waiting, {counts.retrying} retrying, {counts.sent} sent (last 24 h)"


def _on_off(value: bool) -> str:
    return "enabled" if value else "disabled"


@command("scheduler", help="Show the scheduler configuration and status", roles=READ)
async def scheduler_status(ctx: Context) -> None:
    config = ctx.node.config
    listen = config.get(SCHEDULER_LISTEN)
    certs = config.get(SCHEDULER_CERTS)
    server = config.get(EMAIL_SERVER)
    common = config.get(EMAIL_COMMON_ADDRESS)
    rows: list[tuple[str, object]] = [
        ("Enabled", config.get(SCHEDULER_ENABLED)),
        ("HTTPS listening interface", listen["iface"]),
        ("HTTPS listening port", listen["port"]),
        ("Key file", show_file(certs["key"]) if certs else DEFAULT_CERTS_NOTE),
        ("Certificate file", show_file(certs["crt"]) if certs else DEFAULT_CERTS_NOTE),
    ]
    if certs and certs.get("bundle"):
        rows.append(("CA Bundle file", certs["bundle"]))
    rows += [
        ("Email server", server["host"] if server else "none"),
        ("Email server port", server["port"] if server else "none"),
        ("Email protocol", config.get(EMAIL_PROTOCOL)),
        ("Email auth", _on_off(config.get(EMAIL_AUTH))),
        ("Email starttls", _on_off(config.get(EMAIL_STARTTLS))),
        ("Email username", show_file(config.get(EMAIL_USERNAME))),
        ("Email trust", config.get(EMAIL_TRUST) or "none (any certificate accepted)"),
        ("Email common address", common["address"] if common else "none"),
        ("Email display name", (common or {}).get("name") or "none"),
        ("Outbox", await asyncio.to_thread(_outbox_line, ctx)),
        ("STATUS", await _component_line(ctx)),
    ]
    ctx.table(rows)


# --- the component ----------------------------------------------------------------------
@command("scheduler <state:enable|disable>", help="Turn the scheduler on or off", roles=CONFIG)
async def scheduler_enable(ctx: Context, state: str) -> None:
    from moot.scheduler.component import NO_CALLBRIDGE, callbridge_enabled

    wanted = state == "enable"
    if wanted and not callbridge_enabled(ctx.node):
        raise CommandFailed(NO_CALLBRIDGE)
    await switch_component(ctx, SCHEDULER_ENABLED, COMPONENT, "scheduler", wanted)


@command(
    "scheduler restart",
    help="Restart the scheduler alone (applies its HTTPS listener and certificates)",
    roles=CONFIG,
)
async def scheduler_restart(ctx: Context) -> None:
    await restart_if_enabled(ctx, SCHEDULER_ENABLED, COMPONENT, "scheduler")


https_listener_commands("scheduler https", COMPONENT, "scheduler", SCHEDULER_LISTEN, SCHEDULER_CERTS)


# --- email ------------------------------------------------------------------------------
@command(
    "scheduler email server <server> <port>",
    help="The SMTP server (host name or address) and port invitations are sent through",
    roles=CONFIG,
)
async def scheduler_email_server(ctx: Context, server: str, port: str) -> None:
    host = server_host(server)
    number = port_number(port)
    ctx.node.config.set(EMAIL_SERVER, {"host": host, "port": number})
    ctx.success(f"email server {host} port {number}")


@command(
    "scheduler email server none",
    help="No email server: this scheduler sends no email (another scheduler may)",
    roles=CONFIG,
)
async def scheduler_email_server_none(ctx: Context) -> None:
    ctx.node.config.set(EMAIL_SERVER, None)
    ctx.success("no email server; this scheduler sends no email")


@command(
    "scheduler email username <username>",
    help="The SMTP account for 'scheduler email auth' (asks for its password twice)",
    roles=CONFIG,
)
async def scheduler_email_username(ctx: Context, username: str) -> None:
    name = smtp_username(username)
    first = await ctx.ask(PASSWORD_PROMPT, secret=True)
    second = await ctx.ask(PASSWORD_AGAIN_PROMPT, secret=True)
    if first != second:
        raise CommandFailed("passwords do not match; nothing changed, run the command again")
    if not first:
        raise CommandFailed("an empty password is not allowed")
    ctx.node.config.set_many((EMAIL_USERNAME, name), (EMAIL_PASSWORD, first))
    ctx.success(f"email username {name} and its password set")


@command(
    "scheduler email username none",
    help="Forget the SMTP account and its password",
    roles=CONFIG,
)
async def scheduler_email_username_none(ctx: Context) -> None:
    ctx.node.config.set_many((EMAIL_USERNAME, None), (EMAIL_PASSWORD, None))
    ctx.success("email username and password removed")


@command(
    "scheduler email protocol <protocol:smtp|smtps>",
    help="smtp (plain, or with STARTTLS) or smtps (TLS from the start)",
    roles=CONFIG,
)
async def scheduler_email_protocol(ctx: Context, protocol: str) -> None:
    ctx.node.config.set(EMAIL_PROTOCOL, protocol)
    ctx.success(f"email protocol {protocol}")


@command(
    "scheduler email auth <state:enable|disable>",
    help="Log in to the email server (AUTH LOGIN) with 'scheduler email username'",
    roles=CONFIG,
)
async def scheduler_email_auth(ctx: Context, state: str) -> None:
    ctx.node.config.set(EMAIL_AUTH, state == "enable")
    note = ""
    if state == "enable" and not ctx.node.config.get(EMAIL_USERNAME):
        note = "; set the account with 'scheduler email username <username>'"
    ctx.success(f"email auth {state}d{note}")


@command(
    "scheduler email starttls <state:enable|disable>",
    help="Upgrade the smtp connection to TLS with STARTTLS",
    roles=CONFIG,
)
async def scheduler_email_starttls(ctx: Context, state: str) -> None:
    ctx.node.config.set(EMAIL_STARTTLS, state == "enable")
    note = ""
    if state == "enable" and ctx.node.config.get(EMAIL_PROTOCOL) == "smtps":
        note = "; the protocol is smtps, which is TLS from the start: STARTTLS is not used"
    ctx.success(f"email starttls {state}d{note}")


@command(
    "scheduler email trust <name>",
    help="Trust only this certificate or bundle (from the file store) for the email server",
    roles=CONFIG,
)
async def scheduler_email_trust(ctx: Context, name: str) -> None:
    from moot.pki import PkiError, check_bundle

    try:
        await asyncio.to_thread(check_bundle, ctx.node.datadir.files, name)
    except (PkiError, ValueError, OSError) as exc:
        raise CommandFailed(str(exc)) from None
    ctx.node.config.set(EMAIL_TRUST, name)
    ctx.success(f"the email server's certificate must now verify against {name}")


@command(
    "scheduler email trust none",
    help="Accept any certificate from the email server (the default)",
    roles=CONFIG,
)
async def scheduler_email_trust_none(ctx: Context) -> None:
    ctx.node.config.set(EMAIL_TRUST, None)
    ctx.success("any certificate from the email server is accepted")


@command(
    "scheduler email common-address <address> [<name>]",
    help='Send all invitations from this address: address@mail.domain "Display name"',
    roles=CONFIG,
)
async def scheduler_email_common_address(ctx: Context, address: str, name: str | None) -> None:
    addr = email_address(address)
    shown = display_name(name) if name else ""
    ctx.node.config.set(EMAIL_COMMON_ADDRESS, {"address": addr, "name": shown})
    ctx.success(f"invitations are sent from {addr}" + (f" ({shown})" if shown else ""))


@command(
    "scheduler email common-address none",
    help="Send invitations from each organizer's address again",
    roles=CONFIG,
)
async def scheduler_email_common_address_none(ctx: Context) -> None:
    ctx.node.config.set(EMAIL_COMMON_ADDRESS, None)
    ctx.success("invitations are sent from the organizer's address")


# --- detailed logging -------------------------------------------------------------------
@command(
    "scheduler timedLogging",
    help="Seconds of detailed logging left per area (webBridge, api, email)",
    roles=READ,
)
async def scheduler_timed_logging_show(ctx: Context) -> None:
    ctx.print(timedlog.show(ctx.node.config))


@command(
    "scheduler timedLogging <area:webbridge|api|email> <seconds>",
    help="Detailed logging for one area for <seconds> (0 ends it); logs are in logs/syslog",
    roles=CONFIG,
)
async def scheduler_timed_logging(ctx: Context, area: str, seconds: str) -> None:
    if not (seconds.isascii() and seconds.isdigit()) or int(seconds) > timedlog.MAX_SECONDS:
        raise CommandFailed(
            f"invalid time {seconds!r}: give seconds from 0 to {timedlog.MAX_SECONDS} (0 ends it)"
        )
    timedlog.enable(ctx.node.config, timedlog.area_name(area), int(seconds))
    ctx.success()
