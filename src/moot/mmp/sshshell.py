"""What runs in an SSH session once the user is in: the MMP prompt, or one command."""

from __future__ import annotations

from moot.mmp.context import Context
from moot.mmp.login import change_password, change_reason, interactive, is_passwd
from moot.mmp.shell import execute


async def run_command(ctx: Context, command: str) -> int:
    """``ssh host 'CMD'``: run one command; 0 when it succeeded, else 1."""
    if ctx.node.accounts.must_change(ctx.user) and not is_passwd(command):
        ctx.print(
            f"FAILURE: {change_reason(ctx)} Log in without a command "
            "(or run 'passwd') to choose a new password."
        )
        return 1
    return 0 if await execute(ctx, command) else 1


async def run_shell(ctx: Context, warnings: list[str]) -> int:
    """The interactive MMP: a forced password change first if due, then the prompt."""
    if ctx.node.accounts.must_change(ctx.user):
        if not await change_password(ctx, change_reason(ctx)):
            ctx.print("FAILURE: the password was not changed; logging out.")
            return 1
    else:
        for warning in warnings:
            ctx.print(warning)
    return await interactive(ctx)
