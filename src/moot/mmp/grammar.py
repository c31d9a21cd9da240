"""Command patterns: the guide's syntax, declared once per command.

A pattern is a sequence of tokens::

    word            a literal keyword (matched case-insensitively)
    <name>          any one word, passed to the handler as ``name``
    <name:x|y|z>    one of the listed words (case-insensitive), shown as ``(x|y|z)``
    [<name>]        optional (only at the end, possibly nested: ``[<a> [<b>]]``)
    <name>...       one or more words, passed as a list

Hyphens in names become underscores in the handler's keyword arguments, and a
name that is a Python keyword gets a trailing underscore (``<if>`` -> ``if_``).
"""

from __future__ import annotations

import keyword
import re
import shlex
from dataclasses import dataclass
from typing import Any


class PatternError(ValueError):
    pass


class LineSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Word:
    text: str

    def show(self) -> str:
        return self.text


@dataclass(frozen=True)
class Param:
    name: str
    choices: tuple[str, ...] | None = None
    optional: bool = False
    repeat: bool = False

    @property
    def key(self) -> str:
        """The handler's keyword argument (``if`` becomes ``if_``)."""
        key = self.name.replace("-", "_")
        return key + "_" if keyword.iskeyword(key) else key

    def show(self) -> str:
        text = "(" + "|".join(self.choices) + ")" if self.choices else f"<{self.name}>"
        if self.repeat:
            text += "..."
        return text

    def accepts(self, word: str) -> str | None:
        """The normalised value for ``word``, or None when it does not fit."""
        if self.choices is None:
            return word
        lowered = word.lower()
        return lowered if lowered in self.choices else None


Token = Word | Param

_PARAM = re.compile(r"^<([A-Za-z][\w-]*)(?::([^>]+))?>(\.\.\.)?$")


def parse_pattern(pattern: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    depth = 0
    for raw in pattern.split():
        part = raw
        opened = 0
        while part.startswith("["):
            opened += 1
            part = part[1:]
        closed = 0
        while part.endswith("]"):
            closed += 1
            part = part[:-1]
        depth += opened
        optional = depth > 0
        m = _PARAM.match(part)
        if m:
            choices = tuple(c.lower() for c in m.group(2).split("|")) if m.group(2) else None
            tokens.append(Param(m.group(1), choices, optional, bool(m.group(3))))
        elif re.fullmatch(r"[\w.-]+", part):
            if optional:
                raise PatternError(f"optional literal words are not supported: {pattern!r}")
            tokens.append(Word(part.lower()))
        else:
            raise PatternError(f"bad token {raw!r} in {pattern!r}")
        depth -= closed
        if depth < 0:
            raise PatternError(f"unbalanced ] in {pattern!r}")
    if depth:
        raise PatternError(f"unbalanced [ in {pattern!r}")
    seen_optional = False
    for i, tok in enumerate(tokens):
        if isinstance(tok, Param) and tok.optional:
            seen_optional = True
        elif seen_optional:
            raise PatternError(f"required token after an optional one in {pattern!r}")
        if isinstance(tok, Param) and tok.repeat and i != len(tokens) - 1:
            raise PatternError(f"a repeated parameter must come last in {pattern!r}")
    return tuple(tokens)


def show_pattern(tokens: tuple[Token, ...]) -> str:
    parts: list[str] = []
    opened = 0
    for tok in tokens:
        text = tok.show()
        if isinstance(tok, Param) and tok.optional:
            text = "[" + text
            opened += 1
        parts.append(text)
    return " ".join(parts) + "]" * opened


def split_line(line: str) -> list[str]:
    """Split a command line into words; quotes group words as in the guide's
    ``pki csr example CN:example.com "OU:Accounts UK"``."""
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError as exc:
        raise LineSyntaxError(f"unbalanced quotes ({exc})") from None


@dataclass(frozen=True)
class MatchResult:
    args: dict[str, Any]
    literals: int


def match(tokens: tuple[Token, ...], words: list[str]) -> MatchResult | None:
    """Match words against a pattern; None when they do not fit."""
    args: dict[str, Any] = {}
    literals = 0
    i = 0
    for tok in tokens:
        if isinstance(tok, Word):
            if i >= len(words) or words[i].lower() != tok.text:
                return None
            literals += 1
            i += 1
            continue
        if tok.repeat:
            rest = words[i:]
            if not rest and not tok.optional:
                return None
            values = [tok.accepts(w) for w in rest]
            if any(v is None for v in values):
                return None
            args[tok.key] = values
            i = len(words)
            continue
        if i >= len(words):
            if tok.optional:
                args[tok.key] = None
                continue
            return None
        value = tok.accepts(words[i])
        if value is None:
            return None
        args[tok.key] = value
        i += 1
    if i != len(words):
        return None
    return MatchResult(args, literals)


def literal_prefix(tokens: tuple[Token, ...]) -> list[str]:
    prefix: list[str] = []
    for tok in tokens:
        if not isinstance(tok, Word):
            break
        prefix.append(tok.text)
    return prefix
