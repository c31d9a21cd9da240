"""What the component command families share: certificate assignment, restarts."""

from __future__ import annotations

from typing import Any

from moot.mmp.context import CommandFailed, Context
from moot.node.control import ControlError
from moot.node.settings import Setting


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
