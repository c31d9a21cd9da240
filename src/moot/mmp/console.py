"""``moot mmp``: the local console (the guide's VM console), interactive or ``-c CMD``.

Owning the data dir is console access, as sitting at the VM console is: the
operator acts as ``admin`` (or ``--user NAME``) without typing a password.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from moot.mmp.context import Context
from moot.mmp.login import change_password, change_reason, interactive, is_passwd
from moot.mmp.registry import registry
from moot.mmp.shell import execute
from moot.node import logs
from moot.node.accounts import MMP_ROLES, Role
from moot.node.context import NodeContext
from moot.node.control import control_for
from moot.node.datadir import DataDir


class ConsoleTerminal:
    def __init__(self, history_file: str | None) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self._session: Any = None
        if self.interactive:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory

            self._session = PromptSession(
                history=FileHistory(history_file) if history_file else None,
                completer=_Completer(),
                complete_while_typing=False,
            )

    def write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    async def read_line(self, prompt: str, *, secret: bool = False) -> str | None:
        if self._session is not None:
            try:
                if secret:
                    from prompt_toolkit import PromptSession

                    text: Any = await PromptSession[str]().prompt_async(prompt, is_password=True)
                else:
                    text = await self._session.prompt_async(prompt)
                return str(text)
            except EOFError:
                return None
            except KeyboardInterrupt:
                return ""
        # Scripts pipe answers: prompts go to stderr, so stdout holds only results.
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line: str = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if not line:
            return None
        return line.rstrip("\r\n")


def _Completer() -> Any:
    from prompt_toolkit.completion import Completer, Completion

    class MmpCompleter(Completer):
        def get_completions(self, document, complete_event):  # type: ignore[no-untyped-def]
            text = document.text_before_cursor
            words = text.split()
            partial = ""
            if words and not text.endswith(" "):
                partial = words.pop()
            for option in registry.completions(words, partial):
                yield Completion(option, start_position=-len(partial))

    return MmpCompleter()


async def run_console(datadir: DataDir, user: str, command: str | None) -> int:
    datadir.ensure()
    logs.setup(datadir, rotate=False)
    node = NodeContext(datadir, control=control_for(datadir.control_socket))
    try:
        account = node.accounts.get(user)
        if account is None:
            print(f"moot mmp: no MMP account named {user!r}", file=sys.stderr)
            return 2
        if Role(account.role) not in MMP_ROLES:
            print(
                f"moot mmp: {user} has the {account.role} role, which may use only the REST API",
                file=sys.stderr,
            )
            return 2
        term = ConsoleTerminal(str(datadir.run / f"history-{user}") if command is None else None)
        ctx = Context(node, account, term, channel="command" if command else "console")
        if node.accounts.must_change(account):
            if command is not None:
                if not is_passwd(command):
                    ctx.print(
                        f"FAILURE: {change_reason(ctx)} Run: moot mmp -c passwd"
                        + (f" --user {user}" if user != "admin" else "")
                    )
                    return 1
            elif not await change_password(ctx, change_reason(ctx)):
                return 1
        if command is not None:
            return 0 if await execute(ctx, command) else 1
        return await interactive(ctx)
    finally:
        node.close()
