"""A session, the same on the console and over SSH: forced password changes, the prompt loop."""

from __future__ import annotations

import socket

from moot.mmp.context import CommandFailed, Context
from moot.mmp.grammar import LineSyntaxError, split_line
from moot.mmp.shell import execute
from moot.node.accounts import AccountError

EXIT_WORDS = ("exit", "quit", "logout")

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


def is_passwd(command: str) -> bool:
    """Whether a one-off command is ``passwd`` (all a user who must change may run)."""
    try:
        first = split_line(command)[:1]
    except LineSyntaxError:
        return False
    return [w.lower() for w in first] == ["passwd"]


def prompt() -> str:
    return socket.gethostname().split(".")[0] + "> "


async def interactive(ctx: Context) -> int:
    """The prompt loop: run lines until exit, end of input, or a command ends the session."""
    text = prompt()
    ctx.print(f"Moot MMP on {text[:-2]}. Type 'help' for the list of commands, 'exit' to leave.")
    while not ctx.end_session:
        line = await ctx.term.read_line(text)
        if line is None:
            ctx.print()
            break
        if line.strip().lower() in EXIT_WORDS:
            break
        await execute(ctx, line)
    return 0
