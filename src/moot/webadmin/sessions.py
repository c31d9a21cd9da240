"""Web admin sign-in sessions: random tokens kept on the server, idle and absolute timeouts.

Each session is also registered in the node's session list, so ``user evict``
ends it at once and ``user list`` shows the user as logged in.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from moot.node.sessions import Sessions
from moot.node.settings import Setting

#: Minutes without a request after which a web admin session ends.
WEBADMIN_IDLE_MINUTES: Setting[int] = Setting("webadmin.idle_minutes", 30)
#: Hours after which a session ends however busy it is.
MAX_SESSION_HOURS = 12

Clock = Callable[[], float]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time comparison that is False when either is missing."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


@dataclass
class WebSession:
    token: str
    user: str
    peer: str
    must_change: bool
    started: float
    last_seen: float
    csrf: str = field(default_factory=new_token)
    #: The id in the node's session list.
    node_id: int = 0


class SessionStore:
    def __init__(
        self,
        registry: Sessions,
        idle_timeout: float,
        max_age: float = MAX_SESSION_HOURS * 3600.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.registry = registry
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self.clock = clock
        self._sessions: dict[str, WebSession] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, user: str, peer: str, *, must_change: bool) -> WebSession:
        now = self.clock()
        token = new_token()
        session = WebSession(token, user, peer, must_change, now, now)

        def evicted() -> None:
            # ``user evict`` already took it off the node's list: forgetting the token is all.
            self._sessions.pop(token, None)

        session.node_id = self.registry.add(user, "webadmin", peer, evicted)
        self._sessions[token] = session
        return session

    def get(self, token: str | None) -> WebSession | None:
        """The live session for a cookie value; touching it resets the idle timer."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        now = self.clock()
        if self._expired(session, now):
            self.end(session)
            return None
        session.last_seen = now
        return session

    def end(self, session: WebSession) -> None:
        if self._sessions.pop(session.token, None) is not None:
            self.registry.remove(session.node_id)

    def end_all(self) -> None:
        for session in list(self._sessions.values()):
            self.end(session)

    def sweep(self) -> int:
        """End the sessions that timed out; how many."""
        now = self.clock()
        stale = [s for s in self._sessions.values() if self._expired(s, now)]
        for s in stale:
            self.end(s)
        return len(stale)

    def _expired(self, session: WebSession, now: float) -> bool:
        return now - session.last_seen > self.idle_timeout or now - session.started > self.max_age
