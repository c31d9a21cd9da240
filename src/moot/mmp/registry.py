"""The one registry of MMP commands: pattern, help text, roles, handler.

Command families live in ``moot.mmp.commands.<family>`` and register with::

    @command("user add <name> <role:admin|crypto|audit|appadmin|api>",
             help="Add an MMP account; the password is asked twice", roles=ADMIN_ONLY)
    async def user_add(ctx: Context, name: str, role: str) -> None: ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moot.mmp.grammar import Token, Word, literal_prefix, match, parse_pattern, show_pattern
from moot.node.accounts import Role

if TYPE_CHECKING:
    pass

Handler = Callable[..., Awaitable[None]]

# Role groups a command may declare.
ALL_MMP = frozenset({Role.ADMIN, Role.APPADMIN, Role.CRYPTO, Role.AUDIT})
READ = frozenset({Role.ADMIN, Role.APPADMIN, Role.AUDIT})
CONFIG = frozenset({Role.ADMIN, Role.APPADMIN})
CRYPTO = frozenset({Role.ADMIN, Role.CRYPTO})
ADMIN_ONLY = frozenset({Role.ADMIN})


@dataclass(frozen=True)
class Command:
    pattern: str
    tokens: tuple[Token, ...]
    help: str
    roles: frozenset[Role]
    handler: Handler
    #: Parameters whose values never reach logs (e.g. passwords typed on the line).
    secret_params: frozenset[str] = frozenset()

    @property
    def usage(self) -> str:
        return show_pattern(self.tokens)

    @property
    def family(self) -> str:
        return literal_prefix(self.tokens)[0]

    @property
    def changes_config(self) -> bool:
        return not self.roles >= {Role.AUDIT}


@dataclass(frozen=True)
class Found:
    command: Command
    args: dict[str, Any]


@dataclass(frozen=True)
class NotFound:
    """No command fits; ``family`` holds the commands sharing the first word, if any."""

    family: list[Command]


class Registry:
    def __init__(self) -> None:
        self.commands: list[Command] = []

    def command(
        self,
        pattern: str,
        *,
        help: str,
        roles: frozenset[Role],
        secret: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        tokens = parse_pattern(pattern)
        if not literal_prefix(tokens):
            raise ValueError(f"a command must start with a keyword: {pattern!r}")

        def register(handler: Handler) -> Handler:
            for existing in self.commands:
                if _shape(existing.tokens) == _shape(tokens):
                    raise ValueError(f"command {pattern!r} has the same shape as {existing.pattern!r}")
            self.commands.append(
                Command(pattern, tokens, help, roles, handler, frozenset(secret))
            )
            return handler

        return register

    def families(self) -> list[str]:
        return sorted({c.family for c in self.commands})

    def family(self, word: str) -> list[Command]:
        return [c for c in self.commands if c.family == word.lower()]

    def find(self, words: list[str]) -> Found | NotFound:
        best: tuple[int, Command, dict[str, Any]] | None = None
        for cmd in self.commands:
            m = match(cmd.tokens, words)
            if m is not None and (best is None or m.literals > best[0]):
                best = (m.literals, cmd, m.args)
        if best is not None:
            return Found(best[1], best[2])
        return NotFound(self.family(words[0]) if words else [])

    def completions(self, words: list[str], partial: str) -> list[str]:
        """Words that may come next after ``words`` (for the console's tab completion)."""
        options: set[str] = set()
        for cmd in self.commands:
            toks = cmd.tokens
            if len(toks) <= len(words):
                continue
            if match(toks[: len(words)], words) is None:
                continue
            nxt = toks[len(words)]
            candidates = [nxt.text] if isinstance(nxt, Word) else list(nxt.choices or [])
            options.update(c for c in candidates if c.startswith(partial.lower()))
        return sorted(options)


def _shape(tokens: tuple[Token, ...]) -> tuple[object, ...]:
    """What a line must look like to match: names of parameters do not count."""
    return tuple(
        t.text if isinstance(t, Word) else (t.choices, t.optional, t.repeat) for t in tokens
    )


#: The registry every MMP front end uses.
registry = Registry()
command = registry.command
