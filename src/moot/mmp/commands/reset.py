"""MMP ``factory_reset app|full``: back to a new node's configuration, then reboot."""

from __future__ import annotations

import asyncio

from moot.mmp.commands.backup import reboot_node
from moot.mmp.context import CommandFailed, Context
from moot.mmp.registry import ADMIN_ONLY, command
from moot.node import factory
from moot.node.factory import ResetPlan, Scope

APP_WARNING = (
    "This will erase the application configuration (the settings of the call bridge, web "
    "admin, web bridge and every other component) and the database (spaces, users, dial "
    "plans, scheduled meetings), then reboot the node. Network settings, MMP accounts, "
    "the file store and backups are kept. Continue?"
)
FULL_WARNING = (
    "This will erase ALL configuration: network settings, every MMP account (admin is left "
    "with no password, to be set on the local console before SSH works), the database, "
    "the file store ({files} files, {backups} of them backups: download any you want to "
    "keep first) and the SSH host keys, then reboot the node. Continue?"
)


def warning(reset: ResetPlan) -> str:
    if reset.scope is Scope.APP:
        return APP_WARNING
    return FULL_WARNING.format(files=len(reset.store_files), backups=len(reset.backups))


@command(
    "factory_reset <scope:app|full>",
    help="Reset to a new node's configuration and reboot. app: component settings and the "
    "database (keeps network settings, accounts, file store, SSH host keys); full: "
    "everything but the node id, including network settings, accounts (admin, no "
    "password), the file store with its backups and the SSH host keys; logs are kept",
    roles=ADMIN_ONLY,
)
async def factory_reset(ctx: Context, scope: str) -> None:
    reset = factory.plan(ctx.node, Scope(scope))
    if not await ctx.confirm(warning(reset)):
        raise CommandFailed("factory reset cancelled; nothing was changed")
    running = await ctx.node.control.status() is not None
    await asyncio.to_thread(factory.apply, ctx.node, reset, in_use=running)
    await reboot_node(ctx, f"factory reset ({scope}) done", running=running)
