"""MMP admin accounts: roles, argon2 password hashes, password rules, lockout, expiry.

The same rules apply to every way in: the local console, SSH, the web admin
and the API.
"""

from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from moot.db.nodestore import AccountRow, NodeStore
from moot.node.settings import Setting

DAY = 86400.0


class Role(enum.StrEnum):
    ADMIN = "admin"
    CRYPTO = "crypto"
    AUDIT = "audit"
    APPADMIN = "appadmin"
    API = "api"


ROLES = tuple(r.value for r in Role)
#: Roles that may log in to the MMP (console or SSH); ``api`` is for the REST API only.
MMP_ROLES = frozenset({Role.ADMIN, Role.CRYPTO, Role.AUDIT, Role.APPADMIN})
#: Roles that may sign in to the web admin.
WEBADMIN_ROLES = frozenset({Role.ADMIN})
#: Roles that may use the REST API.
API_ROLES = frozenset({Role.ADMIN, Role.API})

DEFAULT_ACCOUNT = "admin"


SPECIALS = "!@#$%^&*()_+=?><,.\"\\/-[]{};:'~`|"


@dataclass
class PasswordRules:
    """``user rule <rule> <value>``: what passwords must look like and how logins are limited.

    Field names are the MMP's rule names.
    """

    min_length: int = 8
    min_lowercase: int = 1
    min_uppercase: int = 1
    min_digits: int = 1
    min_special: int = 0
    #: Previous passwords that may not be reused.
    max_history: int = 5
    #: Maximum password age in days (the guide: passwords expire after 6 months).
    password_age: int = 180
    #: Days before a password may be changed again by its owner.
    min_password_age: int = 0
    #: Longest run of digits allowed (0: no limit).
    longest_digits_run: int = 0
    #: Longest run of one repeated character allowed (0: no limit).
    max_repeated_char: int = 0
    only_ascii: bool = False
    no_username: bool = True
    no_palindrome: bool = False
    #: Failed logins before the account is locked (0: never locks).
    max_failed_logins: int = 5
    #: How long a lock lasts, in minutes (an extension; the product fixes it at 15).
    lockout_time: int = 15

    def check(self, password: str, username: str = "") -> list[str]:
        """What is wrong with a new password (empty when it passes)."""
        problems: list[str] = []
        if len(password) < self.min_length:
            problems.append(f"it must be at least {self.min_length} characters long")
        counts = {
            "lower-case letters": (sum(c.islower() for c in password), self.min_lowercase),
            "upper-case letters": (sum(c.isupper() for c in password), self.min_uppercase),
            "digits": (sum(c.isdigit() for c in password), self.min_digits),
            "special characters": (sum(c in SPECIALS for c in password), self.min_special),
        }
        for what, (have, need) in counts.items():
            if have < need:
                problems.append(f"it must contain at least {need} {what}")
        if self.longest_digits_run and _longest_run(password, str.isdigit) > self.longest_digits_run:
            problems.append(f"it may not have more than {self.longest_digits_run} digits in a row")
        if self.max_repeated_char and _longest_repeat(password) > self.max_repeated_char:
            problems.append(
                f"it may not repeat a character more than {self.max_repeated_char} times in a row"
            )
        if self.only_ascii and not password.isascii():
            problems.append("it may contain only ASCII characters")
        if self.no_username and username and username.lower() in password.lower():
            problems.append("it may not contain the user name")
        if self.no_palindrome and len(password) > 1 and password == password[::-1]:
            problems.append("it may not be a palindrome")
        return problems

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PasswordRules:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _longest_run(text: str, pred: Any) -> int:
    best = run = 0
    for c in text:
        run = run + 1 if pred(c) else 0
        best = max(best, run)
    return best


def _longest_repeat(text: str) -> int:
    best = run = 0
    prev = None
    for c in text:
        run = run + 1 if c == prev else 1
        prev = c
        best = max(best, run)
    return best


RULES: Setting[dict[str, Any]] = Setting("user.rules", asdict(PasswordRules()))


class LoginResult(enum.Enum):
    OK = "ok"
    MUST_CHANGE = "must change password"
    BAD_CREDENTIALS = "bad credentials"
    LOCKED = "locked"
    NO_PASSWORD = "no password set"
    ROLE_NOT_ALLOWED = "role not allowed"


class AccountError(ValueError):
    pass


@dataclass
class Login:
    result: LoginResult
    account: AccountRow | None = None
    detail: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.result in (LoginResult.OK, LoginResult.MUST_CHANGE)


_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_hash(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def format_date(ts: float | None) -> str:
    """Dates as the MMP prints them: ``2024-Jan-05``."""
    if ts is None:
        return "never"
    return time.strftime("%Y-%b-%d", time.gmtime(ts))


class Accounts:
    """The node's MMP accounts, over the node store."""

    def __init__(self, store: NodeStore, clock: Any = time.time) -> None:
        self.store = store
        self.clock = clock

    # rules ------------------------------------------------------------------
    @property
    def rules(self) -> PasswordRules:
        data = self.store.get(RULES.key)
        return PasswordRules.from_dict(data) if data else PasswordRules()

    def set_rules(self, rules: PasswordRules) -> None:
        self.store.set(RULES.key, asdict(rules))

    # queries ----------------------------------------------------------------
    def get(self, name: str) -> AccountRow | None:
        return self.store.account(name)

    def all(self) -> list[AccountRow]:
        return self.store.accounts()

    def ensure_default(self) -> None:
        """A new node has ``admin`` with no password (set on the local console first)."""
        if not self.store.accounts():
            self.store.put_account(
                AccountRow(
                    name=DEFAULT_ACCOUNT,
                    role=Role.ADMIN,
                    password_hash=None,
                    password_changed=None,
                    must_change=True,
                    expires=None,
                    failed_logins=0,
                    locked_until=None,
                    history=[],
                    created=self.clock(),
                    last_login=None,
                )
            )

    def password_expiry(self, acc: AccountRow) -> float | None:
        if acc.password_changed is None:
            return None
        days = self.rules.password_age
        return acc.password_changed + days * DAY if days > 0 else None

    def is_locked(self, acc: AccountRow) -> bool:
        return acc.locked_until is not None and acc.locked_until > self.clock()

    def status(self, acc: AccountRow) -> str:
        if acc.password_hash is None:
            return "no password"
        if self.is_locked(acc):
            return "locked"
        if acc.expires is not None and acc.expires <= self.clock():
            return "disabled"
        expiry = self.password_expiry(acc)
        if acc.must_change or (expiry is not None and expiry <= self.clock()):
            return "expired"
        return "active"

    # changes ----------------------------------------------------------------
    def add(self, name: str, role: str, password: str) -> AccountRow:
        validate_name(name)
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r} (choose from {', '.join(ROLES)})")
        if self.get(name) is not None:
            raise AccountError(f"user {name} already exists")
        self._check_new_password(password, [], name)
        acc = AccountRow(
            name=name,
            role=role,
            password_hash=hash_password(password),
            password_changed=self.clock(),
            # A password chosen by someone else is changed at first login; API
            # accounts never log in interactively, so theirs age normally instead.
            must_change=role != Role.API,
            expires=None,
            failed_logins=0,
            locked_until=None,
            history=[],
            created=self.clock(),
            last_login=None,
        )
        self.store.put_account(acc)
        return acc

    def delete(self, name: str) -> None:
        acc = self._require(name)
        admins = [a for a in self.all() if a.role == Role.ADMIN and a.name != name]
        if acc.role == Role.ADMIN and not admins:
            raise AccountError("cannot delete the last admin account")
        self.store.delete_account(name)

    def set_password(self, name: str, password: str, *, by_self: bool) -> None:
        """Set a password. Set by another admin, it must be changed at next login."""
        acc = self._require(name)
        self._check_new_password(
            password, ([acc.password_hash] if acc.password_hash else []) + acc.history, name
        )
        if acc.password_hash:
            acc.history = ([acc.password_hash, *acc.history])[: max(self.rules.max_history, 0)]
        acc.password_hash = hash_password(password)
        acc.password_changed = self.clock()
        acc.must_change = not by_self and acc.role != Role.API
        acc.failed_logins = 0
        acc.locked_until = None
        self.store.put_account(acc)

    def expire(self, name: str) -> None:
        """``user expire``: the password must be changed at the next login."""
        acc = self._require(name)
        acc.must_change = True
        self.store.put_account(acc)

    def unlock(self, name: str) -> None:
        acc = self._require(name)
        acc.failed_logins = 0
        acc.locked_until = None
        self.store.put_account(acc)

    # login ------------------------------------------------------------------
    def login(self, name: str, password: str, allowed_roles: frozenset[Role]) -> Login:
        acc = self.get(name)
        if acc is None:
            # Spend the same time as a real check so that names cannot be probed.
            verify_hash(_DUMMY_HASH, password)
            return Login(LoginResult.BAD_CREDENTIALS)
        if acc.password_hash is None:
            return Login(LoginResult.NO_PASSWORD, acc, "the account has no password")
        if self.is_locked(acc):
            return Login(
                LoginResult.LOCKED,
                acc,
                f"too many failed logins; try again after {time.strftime('%H:%M:%S', time.gmtime(acc.locked_until or 0))} UTC",
            )
        if not verify_hash(acc.password_hash, password):
            self._failed(acc)
            return Login(LoginResult.BAD_CREDENTIALS, self.get(name))
        if acc.expires is not None and acc.expires <= self.clock():
            return Login(LoginResult.BAD_CREDENTIALS, acc, "account disabled")
        if Role(acc.role) not in allowed_roles:
            return Login(LoginResult.ROLE_NOT_ALLOWED, acc, f"role {acc.role} may not log in here")
        acc.failed_logins = 0
        acc.locked_until = None
        acc.last_login = self.clock()
        self.store.put_account(acc)
        if self.must_change(acc):
            return Login(LoginResult.MUST_CHANGE, acc, "password change required")
        return Login(LoginResult.OK, acc, warnings=self._warnings(acc))

    def must_change(self, acc: AccountRow) -> bool:
        expiry = self.password_expiry(acc)
        return acc.must_change or acc.password_hash is None or (
            expiry is not None and expiry <= self.clock()
        )

    def _warnings(self, acc: AccountRow) -> list[str]:
        expiry = self.password_expiry(acc)
        if expiry is not None and expiry - self.clock() < 14 * DAY:
            days = int((expiry - self.clock()) // DAY)
            return [f"Your password expires in {days} days; use passwd to change it."]
        return []

    def _failed(self, acc: AccountRow) -> None:
        rules = self.rules
        acc.failed_logins += 1
        if rules.max_failed_logins and acc.failed_logins >= rules.max_failed_logins:
            acc.locked_until = self.clock() + rules.lockout_time * 60
            acc.failed_logins = 0
        self.store.put_account(acc)

    def _require(self, name: str) -> AccountRow:
        acc = self.get(name)
        if acc is None:
            raise AccountError(f"no such user: {name}")
        return acc

    def _check_new_password(self, password: str, previous: list[str], username: str) -> None:
        rules = self.rules
        problems = rules.check(password, username)
        if problems:
            raise AccountError("password rejected: " + "; ".join(problems))
        for old in previous[: max(rules.max_history, 0)]:
            if verify_hash(old, password):
                raise AccountError(
                    f"password rejected: it was used recently (the last {rules.max_history} may not be reused)"
                )


_DUMMY_HASH = hash_password("moot-dummy-password-for-timing")


def validate_name(name: str) -> None:
    ok = name and len(name) <= 32 and name[0].isalpha() and all(
        c.isalnum() or c in "._-" for c in name
    )
    if not ok:
        raise AccountError(
            f"invalid user name {name!r}: use up to 32 letters, digits, '.', '_' or '-', starting with a letter"
        )
