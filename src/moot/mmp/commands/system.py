"""System commands: help, version, license, shutdown, reboot, health, serial."""

from __future__ import annotations

import asyncio

from moot import PRODUCT_VERSION, __version__
from moot.licensing import node as licensing
from moot.licensing import report as licence_report
from moot.licensing.authority import AuthorityError
from moot.licensing.usage import node_usage
from moot.mmp.context import CommandFailed, Context
from moot.mmp.registry import ADMIN_ONLY, ALL_MMP, READ, registry

command = registry.command


@command("help [<topic>...]", help="List the commands, or show the usage of one family", roles=ALL_MMP)
async def help_(ctx: Context, topic: list[str] | None) -> None:
    if not topic:
        ctx.print("Commands (type 'help <command>' for details):")
        width = max(len(f) for f in registry.families())
        for family in registry.families():
            first = registry.family(family)[0]
            ctx.print(f"  {family.ljust(width)}  {first.help}")
        return
    words = [w.lower() for w in topic]
    matches = [
        c for c in registry.commands if c.usage.split()[: len(words)] == words
    ] or registry.family(words[0])
    if not matches:
        raise CommandFailed(f"no command '{' '.join(words)}'; type 'help' for the list")
    for c in matches:
        ctx.print(c.usage)
        ctx.print(f"    {c.help}")


@command("version", help="Show the software version", roles=ALL_MMP)
async def version(ctx: Context) -> None:
    ctx.table([("Version", __version__), ("Product", f"Moot (meeting server guide {PRODUCT_VERSION})")])


@command("license", help="Show the licensed features and their expiry", roles=READ)
async def license_(ctx: Context) -> None:
    node = ctx.node
    try:
        usage = await asyncio.to_thread(lambda: node_usage(node, node.api.store))
    except Exception as exc:  # the database is away: judge the licence alone, and say so
        ctx.print(f"License usage is not available ({type(exc).__name__}): compliance not shown")
        usage = None
    state = licensing.current(node, usage=usage)
    for line in licensing.notices(ctx.node) + licence_report.lines(state):
        ctx.print(line)
    used = licence_report.usage_line(state, usage)
    if used is not None:
        ctx.print(used)


@command(
    "license authority <file>",
    help="Trust the license authority public key in <file> (checked when cms.lic is applied)",
    roles=ADMIN_ONLY,
)
async def license_authority(ctx: Context, file: str) -> None:
    try:
        authority = licensing.add_authority(ctx.node, file)
    except AuthorityError as exc:
        raise CommandFailed(str(exc)) from None
    ctx.success(
        f"license authority {file} (key {authority.key_id[:16]}) trusted; "
        "apply cms.lic with 'callbridge restart'"
    )


@command("license authority none", help="Trust no license authority", roles=ADMIN_ONLY)
async def license_authority_none(ctx: Context) -> None:
    ctx.node.config.reset(licensing.LICENSE_AUTHORITIES)
    ctx.success("no license authority is trusted; the applied license stays until the next "
                "'callbridge restart'")


async def _stop_node(ctx: Context, reboot: bool) -> None:
    if await ctx.node.control.status() is None:
        raise CommandFailed(
            f"no node is running on {ctx.node.datadir.root}; start it with 'moot serve'"
        )
    verb = "rebooting" if reboot else "shutting down"
    ctx.success(f"{verb} the node")
    ctx.end_session = True
    if reboot:
        await ctx.node.control.reboot()
    else:
        await ctx.node.control.shutdown()


@command("shutdown", help="Stop the node cleanly (use this, not the hypervisor's power button)", roles=ADMIN_ONLY)
async def shutdown(ctx: Context) -> None:
    await _stop_node(ctx, reboot=False)


@command("reboot", help="Restart every component of the node", roles=ADMIN_ONLY)
async def reboot(ctx: Context) -> None:
    await _stop_node(ctx, reboot=True)


@command("health", help="Hardware health (not available on virtualized deployments)", roles=READ)
async def health(ctx: Context) -> None:
    raise CommandFailed(
        "health is not available on a virtualized deployment; use the host's own monitoring"
    )


@command("serial", help="Hardware serial number (not available on virtualized deployments)", roles=READ)
async def serial(ctx: Context) -> None:
    raise CommandFailed(
        f"serial is not available on a virtualized deployment; this node's id is {ctx.node.node_id}"
    )
