"""The MMP's Terminal over an SSH channel, with asyncssh's line editor.

With a pseudo-terminal (``ssh host``) the operator gets line editing, history,
tab completion and unechoed password prompts. Without one (``ssh host CMD``,
``ssh -T host < script``) lines are read as they come, and prompts go to
stderr so that stdout holds only results, as with ``moot mmp -c``.
"""

from __future__ import annotations

from typing import cast

import asyncssh

from moot.mmp.registry import registry

#: Types of the SSH process the MMP runs in (asyncssh is generic over str/bytes).
Process = asyncssh.SSHServerProcess[str]


class SshTerminal:
    def __init__(self, process: Process) -> None:
        self.process = process
        self.interactive = process.term_type is not None
        # With a pty, asyncssh puts its line editor between us and the channel.
        self.editor = cast(asyncssh.SSHLineEditorChannel, process.channel)
        if self.interactive:
            try:
                self.editor.register_key("\t", complete)
            except (AssertionError, AttributeError):  # no line editor on this channel
                pass

    def write(self, text: str) -> None:
        if self.process.channel.is_closing():
            return
        self.process.stdout.write(text)

    async def read_line(self, prompt: str, *, secret: bool = False) -> str | None:
        if self.process.channel.is_closing():
            return None
        if self.interactive:
            self.process.stdout.write(prompt)
        else:
            self.process.stderr.write(prompt)
        if secret and self.interactive:
            self.editor.set_echo(False)
        try:
            while True:
                try:
                    line = await self.process.stdin.readline()
                    break
                except asyncssh.TerminalSizeChanged:
                    continue
                except asyncssh.BreakReceived:
                    # Ctrl-C: drop the line, as a shell does.
                    self.process.stdout.write("^C\n")
                    return ""
        except (asyncssh.SignalReceived, asyncssh.DisconnectError, ConnectionError):
            return None
        finally:
            if secret and self.interactive and not self.process.channel.is_closing():
                self.editor.set_echo(True)
        if not line:
            return None
        return line.rstrip("\r\n")


def complete(line: str, pos: int) -> tuple[str, int] | bool:
    """Tab: complete the word before the cursor as far as it is unambiguous."""
    before, after = line[:pos], line[pos:]
    words = before.split()
    partial = ""
    if words and not before.endswith(" "):
        partial = words.pop()
    options = registry.completions(words, partial)
    if not options:
        return False
    if len(options) == 1:
        addition = options[0][len(partial):] + " "
    else:
        addition = _common_prefix(options)[len(partial):]
        if not addition:
            return False
    return before + addition + after, pos + len(addition)


def _common_prefix(words: list[str]) -> str:
    first, last = min(words), max(words)
    n = 0
    while n < len(first) and first[n] == last[n]:
        n += 1
    return first[:n]
