"""Running one MMP command line: find, check the role, audit, run, report."""

from __future__ import annotations

import logging

from moot.mmp import commands as _commands  # noqa: F401  (registers every family)
from moot.mmp.context import CommandFailed, Context
from moot.mmp.grammar import LineSyntaxError, Param, split_line
from moot.mmp.registry import Command, Found, registry
from moot.node import logs
from moot.node.accounts import Role

log = logging.getLogger("moot.mmp")


def _audit_text(cmd: Command | None, words: list[str]) -> str:
    """The command line as the audit log keeps it: secret parameters masked."""
    if cmd is None or not cmd.secret_params:
        return " ".join(words)
    shown = list(words)
    for i, tok in enumerate(cmd.tokens):
        if isinstance(tok, Param) and tok.key in cmd.secret_params and i < len(shown):
            shown[i] = "********"
    return " ".join(shown)


def usage_lines(commands: list[Command]) -> list[str]:
    return [c.usage for c in commands]


async def execute(ctx: Context, line: str) -> bool:
    """Run one line; True when it succeeded (or was empty)."""
    try:
        words = split_line(line)
    except LineSyntaxError as exc:
        ctx.print(f"FAILURE: {exc}")
        return False
    if not words:
        return True
    found = registry.find(words)
    if not isinstance(found, Found):
        logs.audit(ctx.user.name, ctx.peer, " ".join(words[:1]) + " ...", "invalid command")
        if found.family:
            ctx.print(f"FAILURE: invalid syntax for '{words[0].lower()}'. Usage:")
            for usage in usage_lines(found.family):
                ctx.print(f"  {usage}")
        else:
            ctx.print(f"Unknown command: {words[0]!r}. Type 'help' for the list of commands.")
        return False
    cmd = found.command
    role = Role(ctx.user.role)
    granted = role in cmd.roles
    logs.audit(
        ctx.user.name,
        ctx.peer,
        _audit_text(cmd, words),
        "permission granted" if granted else "permission denied",
    )
    if not granted:
        ctx.print(f"FAILURE: permission denied: the {role.value} role may not run '{cmd.usage}'")
        return False
    try:
        await cmd.handler(ctx, **found.args)
    except CommandFailed as exc:
        ctx.print(f"FAILURE: {exc}")
        return False
    except Exception as exc:
        log.exception("command %r failed", cmd.pattern)
        ctx.print(f"FAILURE: internal error ({type(exc).__name__}: {exc}); details are in the syslog")
        return False
    return True
