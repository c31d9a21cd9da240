from __future__ import annotations

from pathlib import Path

import pytest

from moot.db.nodestore import NodeStore
from moot.node.accounts import (
    MMP_ROLES,
    AccountError,
    Accounts,
    LoginResult,
    PasswordRules,
    Role,
)

GOOD = "Corr3ct-Horse"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(tmp_path: Path, clock: Clock) -> Accounts:
    acc = Accounts(NodeStore(tmp_path / "config.db"), clock=clock)
    acc.ensure_default()
    return acc


def test_default_admin_has_no_password_and_cannot_log_in(accounts: Accounts) -> None:
    admin = accounts.get("admin")
    assert admin is not None and admin.password_hash is None
    assert accounts.login("admin", "", MMP_ROLES).result is LoginResult.NO_PASSWORD
    assert accounts.status(admin) == "no password"


def test_passwords_are_argon2_hashed(accounts: Accounts) -> None:
    accounts.add("bob", "admin", GOOD)
    row = accounts.get("bob")
    assert row is not None and row.password_hash is not None
    assert row.password_hash.startswith("$argon2id$")
    assert GOOD not in row.password_hash


def test_new_account_must_change_then_ok(accounts: Accounts) -> None:
    accounts.add("bob", "admin", GOOD)
    assert accounts.login("bob", GOOD, MMP_ROLES).result is LoginResult.MUST_CHANGE
    accounts.set_password("bob", "Another-0ne", by_self=True)
    assert accounts.login("bob", "Another-0ne", MMP_ROLES).result is LoginResult.OK
    assert accounts.login("bob", GOOD, MMP_ROLES).result is LoginResult.BAD_CREDENTIALS


def test_lockout_after_max_failed_logins(accounts: Accounts, clock: Clock) -> None:
    accounts.set_rules(PasswordRules(max_failed_logins=3, lockout_time=15))
    accounts.add("bob", "admin", GOOD)
    for _ in range(3):
        assert accounts.login("bob", "wrong", MMP_ROLES).result is LoginResult.BAD_CREDENTIALS
    # Locked: even the right password is refused until the lock ends.
    assert accounts.login("bob", GOOD, MMP_ROLES).result is LoginResult.LOCKED
    clock.now += 15 * 60 + 1
    assert accounts.login("bob", GOOD, MMP_ROLES).allowed


def test_password_expires_after_password_age(accounts: Accounts, clock: Clock) -> None:
    accounts.add("bob", "admin", GOOD)
    accounts.set_password("bob", "Another-0ne", by_self=True)
    clock.now += 179 * 86400
    login = accounts.login("bob", "Another-0ne", MMP_ROLES)
    assert login.result is LoginResult.OK and login.warnings
    clock.now += 2 * 86400
    assert accounts.login("bob", "Another-0ne", MMP_ROLES).result is LoginResult.MUST_CHANGE


def test_history_prevents_reuse(accounts: Accounts) -> None:
    accounts.add("bob", "admin", GOOD)
    accounts.set_password("bob", "Second-pass1", by_self=True)
    with pytest.raises(AccountError, match="used recently"):
        accounts.set_password("bob", GOOD, by_self=True)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Sh0rt-", "at least 8 characters"),
        ("alllower-1", "upper-case"),
        ("ALLUPPER-1", "lower-case"),
        ("NoDigits-here", "digits"),
        ("bob-Is-great1", "user name"),
    ],
)
def test_rules_reject_weak_passwords(accounts: Accounts, password: str, problem: str) -> None:
    with pytest.raises(AccountError, match=problem):
        accounts.add("bob", "admin", password)
    assert accounts.get("bob") is None


def test_roles_and_names(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="unknown role"):
        accounts.add("bob", "root", GOOD)
    with pytest.raises(AccountError, match="invalid user name"):
        accounts.add("../bob", "admin", GOOD)
    accounts.add("svc", "api", GOOD)
    accounts.set_password("svc", "Api-pass-22", by_self=True)
    assert accounts.login("svc", "Api-pass-22", MMP_ROLES).result is LoginResult.ROLE_NOT_ALLOWED
    assert accounts.login("svc", "Api-pass-22", frozenset({Role.API})).allowed


def test_last_admin_cannot_be_deleted(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="last admin"):
        accounts.delete("admin")
    accounts.add("bob", "admin", GOOD)
    accounts.delete("admin")
    assert accounts.get("admin") is None
