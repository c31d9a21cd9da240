"""What happens at login, the same on the console and over SSH: forced password changes."""

from __future__ import annotations

from moot.mmp.context import CommandFailed, Context
from moot.node.accounts import AccountError

ATTEMPTS = 3


async def change_password(ctx: Context, reason: str) -> bool:
    """Make the user choose a new password now; False when they did not."""
    ctx.print(reason)
    for _ in range(ATTEMPTS):
        try:
            password = await ctx.ask_new_password()
            ctx.node.accounts.set_password(ctx.user.name, password, by_self=True)
        except (CommandFailed, AccountError) as exc:
            ctx.print(f"FAILURE: {exc}")
            if "no input" in str(exc):
                return False
            continue
        refreshed = ctx.node.accounts.get(ctx.user.name)
        if refreshed is not None:
            ctx.user = refreshed
        ctx.print("SUCCESS: password changed")
        return True
    return False


def change_reason(ctx: Context) -> str:
    acc = ctx.user
    if acc.password_hash is None:
        return f"The account {acc.name} has no password yet: please choose one now."
    if acc.must_change:
        return "You must change your password before going on."
    return "Your password has expired: please choose a new one."
