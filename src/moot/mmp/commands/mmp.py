"""MMP `mmp` commands: the MMP's own SSH listener (an extension of the guide).

The guide's MMP listens on port 22 of interface a, fixed. Moot lets several
nodes share a host, so the listener is set like any other::

    mmp                      status: interface, port, host keys, sessions
    mmp listen <if> <port>   takes effect on ``mmp restart``
    mmp restart              ends every SSH session, then listens anew
"""

from __future__ import annotations

import asyncio
import logging
import time

from moot.mmp.commands.common import (
    check_port_free,
    port_number,
    restart_component,
)
from moot.mmp.context import CommandFailed, Context
from moot.mmp.registry import ADMIN_ONLY, READ, command
from moot.mmp.sshkeys import fingerprints
from moot.node.interfaces import InterfaceNotMapped, mapped_device
from moot.node.settings import MMP_LISTEN, listener

COMPONENT = "mmp"
#: Seconds between the reply to ``mmp restart`` over SSH and the restart that ends the session.
RESTART_DELAY = 0.5

_pending: set[asyncio.Task[None]] = set()


@command("mmp", help="Show the MMP's SSH listener, host key fingerprints and SSH sessions", roles=READ)
async def mmp_status(ctx: Context) -> None:
    listen = ctx.node.config.get(MMP_LISTEN)
    status = await ctx.node.control.status()
    comp = status.component(COMPONENT) if status else None
    rows: list[tuple[str, object]] = [
        ("Interface", listen["iface"]),
        ("Port", listen["port"]),
        ("State", comp.state if comp else "node not running"),
        ("Listening on", " ".join(comp.listeners) if comp and comp.listeners else "none"),
    ]
    if comp and comp.state == "failed" and comp.detail:
        rows.append(("Error", comp.detail))
    keys = fingerprints(ctx.node.datadir.ssh)
    rows += [("Host key", str(k)) for k in keys] or [("Host key", "none yet (made on first start)")]
    sessions = [s for s in await ctx.node.control.sessions() if s.get("kind") == "ssh"]
    rows.append(("SSH sessions", len(sessions)))
    ctx.table(rows)
    if sessions:
        ctx.print()
        ctx.columns(
            ("user", "from", "since"),
            [
                (s["user"], s["peer"], time.strftime("%Y-%b-%d %H:%M:%S", time.gmtime(s["started"])))
                for s in sessions
            ],
        )


@command(
    "mmp listen <if:a|b|c|d> <port>",
    help="Set the interface and port of the MMP's SSH listener (applies on 'mmp restart')",
    roles=ADMIN_ONLY,
)
async def mmp_listen(ctx: Context, if_: str, port: str) -> None:
    number = port_number(port)
    try:
        mapped_device(ctx.node.config, if_)
    except InterfaceNotMapped as exc:
        raise CommandFailed(str(exc)) from None
    check_port_free(ctx, if_, number, COMPONENT)
    ctx.node.config.set(MMP_LISTEN, listener(if_, number))
    ctx.success(f"the MMP will listen on {if_}:{number} after 'mmp restart'")


@command(
    "mmp restart",
    help="Restart the MMP's SSH server (ends every SSH session, applies 'mmp listen')",
    roles=ADMIN_ONLY,
)
async def mmp_restart(ctx: Context) -> None:
    if ctx.channel != "ssh":
        await restart_component(ctx, COMPONENT)
        return
    # This session is one the restart ends: answer first, then restart.
    ctx.success("the MMP restarts now; this session ends. Log in again on the new listener.")
    ctx.end_session = True
    task = asyncio.get_running_loop().create_task(_restart_later(ctx))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def _restart_later(ctx: Context) -> None:
    await asyncio.sleep(RESTART_DELAY)
    try:
        await ctx.node.control.restart(COMPONENT)
    except Exception as exc:  # nobody is left to tell but the syslog
        logging.getLogger("moot.mmp.ssh").error("mmp restart failed: %s", exc)
