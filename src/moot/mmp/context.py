"""What a command handler gets: the node, the user, and a terminal to talk to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from moot.db.nodestore import AccountRow

if TYPE_CHECKING:
    from moot.node.context import NodeContext


class CommandFailed(Exception):
    """Ends a command with ``FAILURE: <message>``; nothing has been changed."""


class Terminal(Protocol):
    """The operator's end: the local console, an SSH channel, or a script's pipes."""

    @property
    def interactive(self) -> bool: ...

    def write(self, text: str) -> None: ...

    async def read_line(self, prompt: str, *, secret: bool = False) -> str | None:
        """One line typed by the operator (None at end of input)."""
        ...


@dataclass
class Context:
    node: NodeContext
    user: AccountRow
    term: Terminal
    #: ``console``, ``ssh`` or ``command`` (``moot mmp -c``).
    channel: str
    #: Where the operator is, for the audit log (``local`` or ``ip:port``).
    peer: str = "local"
    #: Set by commands that end the session (``shutdown``, ``reboot``, evicting oneself).
    end_session: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    # output ---------------------------------------------------------------
    def print(self, text: str = "") -> None:
        self.term.write(text + "\n")

    def success(self, message: str = "") -> None:
        self.print(f"SUCCESS: {message}" if message else "SUCCESS")

    def table(self, rows: Iterable[tuple[str, object]], width: int | None = None) -> None:
        """``Key : value`` lines, keys padded to one column."""
        rows = list(rows)
        if not rows:
            return
        w = width if width is not None else max(len(k) for k, _ in rows)
        for key, value in rows:
            self.print(f"{key.ljust(w)} : {show(value)}")

    def columns(self, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        """A header line and rows, each column padded to its widest cell."""
        cells = [list(header)] + [[show(v) for v in r] for r in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
        for r in cells:
            self.print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())

    # input ----------------------------------------------------------------
    async def ask(self, prompt: str, *, secret: bool = False) -> str:
        line = await self.term.read_line(prompt, secret=secret)
        if line is None:
            raise CommandFailed("no input (end of input while waiting for an answer)")
        return line

    async def ask_new_password(self, who: str = "") -> str:
        """A new password, typed twice."""
        suffix = f" for {who}" if who else ""
        first = await self.ask(f"Please enter new password{suffix}: ", secret=True)
        second = await self.ask("Please enter new password again: ", secret=True)
        if first != second:
            raise CommandFailed("passwords do not match")
        if not first:
            raise CommandFailed("an empty password is not allowed")
        return first

    async def confirm(self, question: str) -> bool:
        answer = await self.ask(f"{question} (Y/n) ")
        return answer.strip().lower() in ("y", "yes")


def show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return " ".join(show(v) for v in value) if value else "none"
    return str(value)
