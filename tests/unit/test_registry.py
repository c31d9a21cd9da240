from __future__ import annotations

from moot.mmp import shell  # noqa: F401  (registers every family)
from moot.mmp.grammar import Param
from moot.mmp.registry import Found, NotFound, Registry, registry
from moot.node.accounts import Role


async def _noop(ctx: object, **kw: object) -> None:
    return None


def test_more_literal_words_win() -> None:
    reg = Registry()
    reg.command("iface <if:a|b> <speed> <duplex:full|on|off>", help="h", roles=frozenset({Role.ADMIN}))(_noop)
    reg.command("iface <if:a|b> mtu <n>", help="h", roles=frozenset({Role.ADMIN}))(_noop)
    reg.command("iface <if:a|b> autoneg <state:on|off>", help="h", roles=frozenset({Role.ADMIN}))(_noop)
    found = reg.find(["iface", "a", "autoneg", "on"])
    assert isinstance(found, Found) and found.command.pattern.endswith("autoneg <state:on|off>")
    found = reg.find(["iface", "b", "1000", "full"])
    assert isinstance(found, Found) and found.args == {"if_": "b", "speed": "1000", "duplex": "full"}
    missing = reg.find(["iface", "a", "mtu"])
    assert isinstance(missing, NotFound) and len(missing.family) == 3
    assert reg.find(["bogus"]) == NotFound([])


def test_duplicate_declaration_refused() -> None:
    reg = Registry()
    reg.command("x <a>", help="h", roles=frozenset({Role.ADMIN}))(_noop)
    try:
        reg.command("x <b>", help="h", roles=frozenset({Role.ADMIN}))(_noop)
    except ValueError:
        pass
    else:  # pragma: no cover
        raise AssertionError("a second declaration of the same shape must be refused")


def test_every_command_is_well_formed() -> None:
    """Each declared command has help text, at least one role, and no ambiguous twin."""
    shapes = set()
    for cmd in registry.commands:
        assert cmd.help, cmd.pattern
        assert cmd.roles, cmd.pattern
        assert Role.API not in cmd.roles, f"api accounts may not use the MMP: {cmd.pattern}"
        shape = tuple(t.text if not isinstance(t, Param) else (t.choices or "*") for t in cmd.tokens)  # type: ignore[union-attr]
        assert shape not in shapes, cmd.pattern
        shapes.add(shape)


def test_completion_offers_next_words() -> None:
    assert "add" in registry.completions(["user"], "")
    assert registry.completions(["user"], "ad") == ["add"]
    assert "admin" in registry.completions(["user", "add", "bob"], "a")
