"""What runs in an SSH session once the user is in: the MMP prompt, or one command."""

from __future__ import annotations

import socket

from moot.mmp.console import EXIT_WORDS
from moot.mmp.context import Context
from moot.mmp.grammar import LineSyntaxError, split_line
from moot.mmp.login import change_password, change_reason
from moot.mmp.shell import execute


def prompt() -> str:
    return socket.gethostname().split(".")[0] + "> "


async def run_command(ctx: Context, command: str) -> int:
    """``ssh host 'CMD'``: run one command; 0 when it succeeded, else 1."""
    if ctx.node.accounts.must_change(ctx.user):
        try:
            first = split_line(command)[:1]
        except LineSyntaxError:
            first = []
        if [w.lower() for w in first] != ["passwd"]:
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
