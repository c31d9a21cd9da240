"""Web app sign-in: users of the database (``/users`` with a password) and their spaces.

A signed-in browser holds a random session token in an HttpOnly, Secure, SameSite=Strict
cookie; the token maps to the user in memory (sessions end with the web bridge, or after
:data:`IDLE_TIMEOUT` without use). "My spaces" are the spaces the user owns or is a member of.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moot.api.objects.cospace_users import COSPACE_USER
from moot.api.objects.cospaces import COSPACE
from moot.api.objects.users import find_user_by_jid
from moot.db.apistore import Cond, Txn
from moot.node.accounts import verify_hash

COOKIE = "moot_wb"
IDLE_TIMEOUT = 8 * 3600.0
MAX_SESSIONS = 100_000
#: Spaces listed on "My spaces" at most.
MAX_SPACES = 200
#: Checked against when the user does not exist, so that a wrong name costs as long as a
#: wrong password (no user enumeration by timing).
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$VENvoIbqvjoZ4yhMrhIXDA$o1uXSAbF4Etp8KOZuPg+HhAMiIsUkaj+z49iCR0G8b0"


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    user_jid: str
    name: str


def authenticate(txn: Txn, username: str, password: str) -> SignedIn | None:
    user = find_user_by_jid(txn, username.strip(), ("userJid", "name", "password"))
    stored = str(user.get("password") or "") if user else ""
    if not verify_hash(stored or _DUMMY_HASH, password) or user is None or not stored:
        return None
    return SignedIn(str(user["id"]), str(user["userJid"]), str(user.get("name") or user["userJid"]))


def my_spaces(txn: Txn, who: SignedIn, join_url: Callable[[dict[str, Any]], str | None]) -> list[dict[str, Any]]:
    columns = ["name", "uri", "callId", "passcode", "secret", "ownerId"]
    _, owned = txn.list(COSPACE, None, [Cond("eq", "ownerId", who.user_id)], 0, MAX_SPACES, columns)
    _, memberships = txn.list(COSPACE_USER, None, [Cond("eq", "userId", who.user_id)], 0, MAX_SPACES)
    spaces = {row["id"]: row for row in owned}
    for membership in memberships:
        parent = membership.get("parent_id")
        if parent and parent not in spaces:
            space = txn.get(COSPACE, parent)
            if space is not None:
                spaces[parent] = space
    return [{
        "name": s.get("name") or s.get("uri") or s.get("callId") or "",
        "uri": s.get("uri"),
        "callId": s.get("callId"),
        "passcode": s.get("passcode"),
        "secret": s.get("secret"),
        "joinUrl": join_url(s),
    } for s in spaces.values()]


@dataclass
class _Session:
    who: SignedIn
    last_used: float = field(default_factory=time.monotonic)


class SignIns:
    """Session tokens of signed-in browsers."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._sessions: dict[str, _Session] = {}

    def start(self, who: SignedIn) -> str:
        self.sweep()
        if len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        token = secrets.token_urlsafe(32)
        self._sessions[token] = _Session(who, self.clock())
        return token

    def get(self, token: str | None) -> SignedIn | None:
        session = self._sessions.get(token or "")
        if session is None:
            return None
        now = self.clock()
        if now - session.last_used > IDLE_TIMEOUT:
            del self._sessions[token or ""]
            return None
        session.last_used = now
        return session.who

    def end(self, token: str | None) -> None:
        self._sessions.pop(token or "", None)

    def sweep(self) -> None:
        now = self.clock()
        for token in [t for t, s in self._sessions.items() if now - s.last_used > IDLE_TIMEOUT]:
            del self._sessions[token]
