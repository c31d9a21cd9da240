"""MMP ``backup``: snapshots of the node's configuration, and rolling back to one."""

from __future__ import annotations

import asyncio
import time

from moot.mmp.context import CommandFailed, Context
from moot.mmp.registry import ADMIN_ONLY, READ, command
from moot.node import backup
from moot.node.backup import BackupError, BackupInvalid, Progress
from moot.node.control import ControlError

ROLLBACK_WARNING = (
    "This will overwrite the current configuration, including admin accounts and network "
    "settings, and reboot the node. Continue?"
)


def show_time(ts: float) -> str:
    return time.strftime("%Y-%b-%d %H:%M:%S UTC", time.gmtime(ts))


def progress_lines(ctx: Context) -> Progress:
    """Progress lines from a worker thread, printed in order on the session's loop."""
    loop = asyncio.get_running_loop()

    def report(text: str) -> None:
        loop.call_soon_threadsafe(ctx.print, text)

    return report


async def reboot_node(ctx: Context, done: str, *, running: bool) -> None:
    """End a command that replaced the configuration: reboot the node if one runs."""
    ctx.end_session = True
    if not running:
        ctx.success(f"{done}; no node is running, it uses this configuration on 'moot serve'")
        return
    try:
        await ctx.node.control.reboot()
    except ControlError as exc:
        ctx.success(f"{done}; the node did not reboot ({exc}): run 'reboot' to use it")
        return
    ctx.success(f"{done}; the node is rebooting")


@command(
    "backup snapshot <name>",
    help="Save the node config, database, certificates, keys and licences as <name>.bak "
    "in the file store (download it over SFTP); an existing name is refused",
    roles=ADMIN_ONLY,
)
async def backup_snapshot(ctx: Context, name: str) -> None:
    try:
        backup.backup_name(name)
        made = await asyncio.to_thread(
            backup.snapshot, ctx.node.datadir, ctx.node.store, name, progress_lines(ctx)
        )
    except BackupError as exc:
        raise CommandFailed(str(exc)) from None
    ctx.success(f"{made.path.name} created ({made.size} bytes); download it over SFTP")


@command("backup list", help="List the backups in the file store", roles=READ)
async def backup_list(ctx: Context) -> None:
    found = backup.list_backups(ctx.node.datadir)
    if not found:
        ctx.print("No backups in the file store (make one with: backup snapshot <name>)")
        return
    ctx.columns(
        ("NAME", "SIZE", "DATE"),
        [(f.path.name, f.size, show_time(f.modified)) for f in found],
    )


@command("backup delete <name>", help="Delete <name>.bak from the file store", roles=ADMIN_ONLY)
async def backup_delete(ctx: Context, name: str) -> None:
    try:
        path = backup.archive_path(ctx.node.datadir, name)
    except BackupError as exc:
        raise CommandFailed(str(exc)) from None
    if not path.is_file():
        raise CommandFailed(f"no backup named {path.name} in the file store (see: backup list)")
    path.unlink()
    ctx.success(f"{path.name} deleted")


@command(
    "backup rollback <name>",
    help="Check <name>.bak, then (after confirmation) restore the configuration, admin "
    "accounts, database and certificates it holds and reboot the node",
    roles=ADMIN_ONLY,
)
async def backup_rollback(ctx: Context, name: str) -> None:
    datadir = ctx.node.datadir
    try:
        shown = backup.archive_path(datadir, name).name
    except BackupError as exc:
        raise CommandFailed(str(exc)) from None
    with backup.staging(datadir, "rollback") as stage:
        try:
            verified = await asyncio.to_thread(backup.verify, datadir, name, stage)
        except BackupInvalid as exc:
            raise CommandFailed(f"{shown} cannot be used: {exc}; nothing was changed") from None
        except BackupError as exc:
            raise CommandFailed(str(exc)) from None
        m = verified.manifest
        origin = "this node" if m.node_id == ctx.node.node_id else "another node"
        ctx.table(
            [
                ("Backup", shown),
                ("Created", show_time(m.created)),
                ("Node", f"{m.node_id} ({origin})"),
                ("Moot version", m.moot_version),
                ("Database", "yes" if verified.database else "none"),
                ("Files", " ".join(p.name for p in verified.files) or "none"),
            ]
        )
        if not await ctx.confirm(ROLLBACK_WARNING):
            raise CommandFailed("rollback cancelled; nothing was changed")
        running = await ctx.node.control.status() is not None
        await asyncio.to_thread(
            backup.restore, datadir, verified, progress_lines(ctx), in_use=running
        )
    await reboot_node(ctx, f"configuration rolled back to {shown}", running=running)
