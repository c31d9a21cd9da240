"""The core command families, run in-process against a real node config store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from moot.mmp import shell  # noqa: F401  (registers every command family)
from moot.mmp.registry import registry
from moot.node.context import NodeContext
from moot.node.datadir import DataDir
from tests.helpers import ADMIN_PASSWORD, prepare_datadir, run_line

PW = "Tr1cky-Pass"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeContext]:
    dd: DataDir = prepare_datadir(tmp_path / "n")
    ctx = NodeContext(dd)
    yield ctx
    ctx.close()


async def test_unknown_command_and_wrong_syntax(node: NodeContext) -> None:
    ok, out = await run_line(node, "frobnicate now")
    assert not ok and out.startswith("Unknown command")
    ok, out = await run_line(node, "user add")
    assert not ok and out.startswith("FAILURE: invalid syntax for 'user'")
    assert "user add <name> (admin|crypto|audit|appadmin|api)" in out
    ok, out = await run_line(node, "user add bob superuser")
    assert not ok and "FAILURE" in out
    ok, out = await run_line(node, 'pki csr "open quote')
    assert not ok and out.startswith("FAILURE: unbalanced quotes")


async def test_user_add_asks_twice_and_lists(node: NodeContext) -> None:
    ok, out = await run_line(node, "user add bob audit", [PW, PW])
    assert ok, out
    assert out.startswith("SUCCESS")
    ok, out = await run_line(node, "user list")
    lines = out.splitlines()
    assert lines[0].split() == ["USERNAME", "ROLE", "PASSWORD", "EXPIRY", "STATUS", "LOGGED", "IN"]
    bob = next(line for line in lines if line.startswith("bob"))
    assert bob.split()[1] == "audit"
    assert re.match(r"\d{4}-[A-Z][a-z]{2}-\d{2}$", bob.split()[2])
    assert bob.split()[3] == "expired"  # must change at first login


async def test_user_add_mismatch_and_weak_change_nothing(node: NodeContext) -> None:
    ok, out = await run_line(node, "user add bob admin", [PW, PW + "x"])
    assert not ok and "FAILURE: passwords do not match" in out
    ok, out = await run_line(node, "user add bob admin", ["weak", "weak"])
    assert not ok and "at least 8 characters" in out
    ok, out = await run_line(node, "user add bob admin", [PW])  # input ends early
    assert not ok and "no input" in out
    assert node.accounts.get("bob") is None


async def test_roles_limit_commands(node: NodeContext) -> None:
    await run_line(node, "user add auditor audit", [PW, PW])
    ok, out = await run_line(node, "user add eve admin", [PW, PW], user="auditor")
    assert not ok and "permission denied" in out
    assert node.accounts.get("eve") is None
    ok, out = await run_line(node, "callbridge", user="auditor")
    assert ok and "Listening interfaces" in out
    ok, out = await run_line(node, "callbridge listen b", user="auditor")
    assert not ok and "permission denied" in out


async def test_user_info_rule_expire_del(node: NodeContext) -> None:
    await run_line(node, "user add bob admin", [PW, PW])
    ok, out = await run_line(node, "user info bob")
    assert ok and re.search(r"^Role\s+: admin$", out, re.M)
    ok, out = await run_line(node, "user rule max_failed_logins 3")
    assert ok and node.accounts.rules.max_failed_logins == 3
    ok, out = await run_line(node, "user rule max_failed_logins lots")
    assert not ok and node.accounts.rules.max_failed_logins == 3
    ok, out = await run_line(node, "user rule no_palindrome maybe")
    assert not ok
    ok, out = await run_line(node, "user rule")
    assert re.search(r"^password_age\s+: 180$", out, re.M)
    ok, _ = await run_line(node, "user expire bob")
    assert ok and node.accounts.get("bob").must_change  # type: ignore[union-attr]
    ok, out = await run_line(node, "user expire nobody")
    assert not ok and "no such user" in out
    ok, _ = await run_line(node, "user del bob")
    assert ok and node.accounts.get("bob") is None
    ok, out = await run_line(node, "user del admin")
    assert not ok and "last admin" in out


async def test_passwd_over_ssh_needs_current_password(node: NodeContext) -> None:
    ok, out = await run_line(node, "passwd", ["wrong", PW, PW], channel="ssh")
    assert not ok and "current password is wrong" in out
    ok, out = await run_line(node, "passwd", [ADMIN_PASSWORD, PW, PW], channel="ssh")
    assert ok, out
    assert node.accounts.login("admin", PW, frozenset(["admin"])).allowed  # type: ignore[arg-type]


async def test_system_commands(node: NodeContext) -> None:
    ok, out = await run_line(node, "version")
    assert ok and re.search(r"^Version\s+: \d+\.\d+", out, re.M)
    ok, out = await run_line(node, "license")
    assert re.search(r"^Feature: callbridge status: Trial expiry: \d{4}-\w{3}-\d{2} \((89|90) days remain\)$", out, re.M)
    ok, out = await run_line(node, "health")
    assert not ok and "not available" in out
    ok, out = await run_line(node, "serial")
    assert not ok and "not available" in out
    ok, out = await run_line(node, "shutdown")
    assert not ok and "no node is running" in out
    ok, out = await run_line(node, "help")
    assert ok and "user" in out and "callbridge" in out
    ok, out = await run_line(node, "help user add")
    assert ok and out.splitlines()[0] == "user add <name> (admin|crypto|audit|appadmin|api)"


async def test_audit_log_masks_nothing_secret_and_records_verdicts(node: NodeContext) -> None:
    from moot.node import logs

    logs.setup(node.datadir, rotate=False)
    await run_line(node, "user add bob admin", [PW, PW])
    await run_line(node, "nonsense")
    text = node.datadir.audit_log.read_text()
    assert "issued command < user add bob admin>: permission granted" in text
    assert "invalid command" in text
    assert PW not in text
    assert PW not in node.datadir.syslog.read_text()


@pytest.mark.parametrize("family", registry.families())
async def test_wrong_syntax_in_every_family_fails_and_shows_usage(node: NodeContext, family: str) -> None:
    before = node.store.items()
    ok, out = await run_line(node, f"{family} %bogus% %extra% 1 2 3 4 5 6 7 8 9")
    assert not ok, out
    assert out.startswith("FAILURE"), out
    # Nothing was written by a refused line.
    assert node.store.items() == before


async def test_listeners_may_not_share_a_port(node: NodeContext) -> None:
    from moot.node.settings import WEBADMIN_LISTEN

    webadmin_port = node.config.get(WEBADMIN_LISTEN)["port"]
    ok, out = await run_line(node, f"scheduler https listen a {webadmin_port}")
    assert not ok and "used by the web admin" in out
    ok, out = await run_line(node, "scheduler https listen a 18444")
    assert ok, out
    ok, out = await run_line(node, "webadmin listen a 18444")
    assert not ok and "used by the scheduler" in out
    ok, out = await run_line(node, "mmp listen a 18444")
    assert not ok and "used by the scheduler" in out
