"""Account commands: user add/del/list/info/evict/expire/unlock/rule, passwd."""

from __future__ import annotations

import time
from dataclasses import fields

from moot.db.nodestore import AccountRow
from moot.mmp.context import CommandFailed, Context
from moot.mmp.registry import ADMIN_ONLY, ALL_MMP, registry
from moot.node.accounts import AccountError, PasswordRules, Role, format_date, verify_hash
from moot.node.control import ControlError

command = registry.command

ROLE_CHOICES = "|".join(r.value for r in Role)
RULE_NAMES = "|".join(f.name for f in fields(PasswordRules))
#: How the MMP shows "never expires".
NEVER = "10000-Dec-31"


def _require(ctx: Context, name: str) -> AccountRow:
    acc = ctx.node.accounts.get(name)
    if acc is None:
        raise CommandFailed(f"no such user: {name} (see 'user list')")
    return acc


async def _logged_in(ctx: Context) -> set[str]:
    try:
        return {s["user"] for s in await ctx.node.control.sessions()}
    except ControlError:
        return set()


@command(
    f"user add <name> <role:{ROLE_CHOICES}>",
    help="Add an account; the password is asked twice and must be changed at first login",
    roles=ADMIN_ONLY,
)
async def user_add(ctx: Context, name: str, role: str) -> None:
    if ctx.node.accounts.get(name) is not None:
        raise CommandFailed(f"user {name} already exists")
    password = await ctx.ask_new_password(name)
    try:
        ctx.node.accounts.add(name, role, password)
    except AccountError as exc:
        raise CommandFailed(str(exc)) from None
    ctx.success(f"user {name} added with role {role}; the password must be changed at first login")


@command("user del <name>", help="Delete an account and end its sessions", roles=ADMIN_ONLY)
async def user_del(ctx: Context, name: str) -> None:
    _require(ctx, name)
    try:
        ctx.node.accounts.delete(name)
    except AccountError as exc:
        raise CommandFailed(str(exc)) from None
    ended = await _evict(ctx, name)
    ctx.success(f"user {name} deleted" + (f"; {ended} session(s) ended" if ended else ""))
    if name == ctx.user.name:
        ctx.end_session = True


@command("user list", help="List the accounts", roles=ADMIN_ONLY)
async def user_list(ctx: Context) -> None:
    accounts = ctx.node.accounts
    online = await _logged_in(ctx)
    rows = []
    for acc in accounts.all():
        expiry = accounts.password_expiry(acc)
        rows.append(
            (
                acc.name,
                acc.role,
                format_date(expiry) if expiry else NEVER,
                accounts.status(acc),
                "yes" if acc.name in online else "no",
            )
        )
    ctx.columns(("USERNAME", "ROLE", "PASSWORD EXPIRY", "STATUS", "LOGGED IN"), rows)


@command("user info <name>", help="Show an account's details", roles=ADMIN_ONLY)
async def user_info(ctx: Context, name: str) -> None:
    accounts = ctx.node.accounts
    acc = _require(ctx, name)
    expiry = accounts.password_expiry(acc)
    sessions = [s for s in await ctx.node.control.sessions() if s["user"] == name]
    ctx.table(
        [
            ("Username", acc.name),
            ("Role", acc.role),
            ("Status", accounts.status(acc)),
            ("Password last changed", format_date(acc.password_changed)),
            ("Password expiry", format_date(expiry) if expiry else NEVER),
            ("Must change password", accounts.must_change(acc)),
            ("Last login", _when(acc.last_login)),
            ("Failed logins", acc.failed_logins),
            ("Locked until", _when(acc.locked_until) if accounts.is_locked(acc) else "not locked"),
            ("Sessions", ", ".join(f"{s['kind']} from {s['peer']}" for s in sessions) or "none"),
        ]
    )


def _when(ts: float | None) -> str:
    return "never" if ts is None else time.strftime("%Y-%b-%d %H:%M:%S UTC", time.gmtime(ts))


async def _evict(ctx: Context, name: str) -> int:
    try:
        return await ctx.node.control.evict(name)
    except ControlError:
        return 0


@command("user evict <name>", help="End the user's SSH and web admin sessions now", roles=ADMIN_ONLY)
async def user_evict(ctx: Context, name: str) -> None:
    _require(ctx, name)
    if await ctx.node.control.status() is None:
        ctx.success(f"the node is not running, so {name} has no sessions")
        return
    ended = await _evict(ctx, name)
    ctx.success(f"{ended} session(s) of {name} ended")
    if name == ctx.user.name and ctx.channel != "console":
        ctx.end_session = True


@command("user expire <name>", help="Make the user change the password at next login", roles=ADMIN_ONLY)
async def user_expire(ctx: Context, name: str) -> None:
    acc = _require(ctx, name)
    if acc.role == Role.API:
        raise CommandFailed("api accounts cannot be forced to expire; their passwords age normally")
    ctx.node.accounts.expire(name)
    ctx.success(f"the password of {name} has expired; it must be changed at next login")


@command("user unlock <name>", help="Unlock an account locked by failed logins", roles=ADMIN_ONLY)
async def user_unlock(ctx: Context, name: str) -> None:
    _require(ctx, name)
    ctx.node.accounts.unlock(name)
    ctx.success(f"{name} unlocked")


@command("user rule", help="Show the password and login rules", roles=ADMIN_ONLY)
async def user_rules(ctx: Context) -> None:
    rules = ctx.node.accounts.rules
    ctx.table([(f.name, _show_rule(getattr(rules, f.name))) for f in fields(PasswordRules)])


def _show_rule(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@command(
    f"user rule <rule:{RULE_NAMES}> <value>",
    help="Set a password or login rule (see 'user rule' for the current values)",
    roles=ADMIN_ONLY,
)
async def user_rule(ctx: Context, rule: str, value: str) -> None:
    rules = ctx.node.accounts.rules
    current = getattr(rules, rule)
    parsed: int | bool
    if isinstance(current, bool):
        if value.lower() not in ("true", "false"):
            raise CommandFailed(f"{rule} takes true or false")
        parsed = value.lower() == "true"
    else:
        if not (value.isascii() and value.isdigit()) or int(value) > 100000:
            raise CommandFailed(f"{rule} takes a whole number from 0 to 100000")
        parsed = int(value)
        if rule == "min_length" and not 1 <= parsed <= 128:
            raise CommandFailed("min_length must be between 1 and 128")
    setattr(rules, rule, parsed)
    ctx.node.accounts.set_rules(rules)
    ctx.success(f"{rule} set to {_show_rule(parsed)}")


@command("passwd", help="Change your own password", roles=ALL_MMP)
async def passwd(ctx: Context) -> None:
    acc = _require(ctx, ctx.user.name)
    # Owning the data dir is console access; remote users prove who they are again.
    if ctx.channel == "ssh" and acc.password_hash and not ctx.node.accounts.must_change(acc):
        current = await ctx.ask("Please enter current password: ", secret=True)
        if not verify_hash(acc.password_hash, current):
            raise CommandFailed("current password is wrong")
    rules = ctx.node.accounts.rules
    if (
        rules.min_password_age
        and acc.password_changed
        and not ctx.node.accounts.must_change(acc)
        and time.time() - acc.password_changed < rules.min_password_age * 86400
    ):
        raise CommandFailed(
            f"the password was changed less than {rules.min_password_age} days ago"
        )
    password = await ctx.ask_new_password()
    try:
        ctx.node.accounts.set_password(acc.name, password, by_self=True)
    except AccountError as exc:
        raise CommandFailed(str(exc)) from None
    ctx.success("password changed")


@command(
    "passwd <name>",
    help="Set another account's password (it must be changed at next login)",
    roles=ADMIN_ONLY,
)
async def passwd_other(ctx: Context, name: str) -> None:
    _require(ctx, name)
    password = await ctx.ask_new_password(name)
    try:
        ctx.node.accounts.set_password(name, password, by_self=name == ctx.user.name)
    except AccountError as exc:
        raise CommandFailed(str(exc)) from None
    ctx.success(f"password of {name} set" + ("" if name == ctx.user.name else "; it must be changed at next login"))
