from __future__ import annotations

import pytest

from moot.mmp.grammar import (
    LineSyntaxError,
    Param,
    PatternError,
    Word,
    match,
    parse_pattern,
    show_pattern,
    split_line,
)


def test_parse_and_show_round_trip() -> None:
    toks = parse_pattern("user add <name> <role:admin|crypto|audit>")
    assert toks[:2] == (Word("user"), Word("add"))
    assert toks[2] == Param("name")
    assert toks[3] == Param("role", ("admin", "crypto", "audit"))
    assert show_pattern(toks) == "user add <name> (admin|crypto|audit)"


def test_optional_and_repeat() -> None:
    toks = parse_pattern("webadmin certs <key> <crt> [<bundle>]")
    assert show_pattern(toks) == "webadmin certs <key> <crt> [<bundle>]"
    assert match(toks, ["webadmin", "certs", "k", "c"]).args == {"key": "k", "crt": "c", "bundle": None}  # type: ignore[union-attr]
    assert match(toks, ["webadmin", "certs", "k", "c", "b"]).args["bundle"] == "b"  # type: ignore[union-attr]
    assert match(toks, ["webadmin", "certs", "k"]) is None
    assert match(toks, ["webadmin", "certs", "k", "c", "b", "x"]) is None
    rep = parse_pattern("callbridge listen <if:a|b|c|d>...")
    assert match(rep, ["callbridge", "listen", "A", "c"]).args == {"if_": ["a", "c"]}  # type: ignore[union-attr]
    assert match(rep, ["callbridge", "listen"]) is None
    assert match(rep, ["callbridge", "listen", "e"]) is None


def test_literals_are_case_insensitive_but_values_kept() -> None:
    toks = parse_pattern("pki csr <name> [<attrs>...]")
    m = match(toks, ["PKI", "Csr", "Web", "CN:Example.com"])
    assert m is not None and m.args == {"name": "Web", "attrs": ["CN:Example.com"]}
    assert m.literals == 2


@pytest.mark.parametrize(
    "bad",
    ["[<a>] <b>", "<a>... <b>", "[word]", "x [<a>", "x <a>]", "x <a b>"],
)
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(PatternError):
        parse_pattern(bad)


def test_split_line_groups_quotes_like_the_guide() -> None:
    words = split_line('pki csr example CN:example.com "OU:Accounts UK" "O:My Company"')
    assert words == ["pki", "csr", "example", "CN:example.com", "OU:Accounts UK", "O:My Company"]
    with pytest.raises(LineSyntaxError):
        split_line('pki csr "unterminated')
