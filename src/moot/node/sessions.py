"""Who is logged in right now (SSH and web admin), so that ``user evict`` can end it."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Session:
    id: int
    user: str
    kind: str  # "ssh" or "webadmin"
    peer: str
    started: float
    close: Callable[[], None]


class Sessions:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._sessions: dict[int, Session] = {}

    def add(self, user: str, kind: str, peer: str, close: Callable[[], None]) -> int:
        sid = next(self._ids)
        self._sessions[sid] = Session(sid, user, kind, peer, time.time(), close)
        return sid

    def remove(self, sid: int) -> None:
        self._sessions.pop(sid, None)

    def of(self, user: str) -> list[Session]:
        return [s for s in self._sessions.values() if s.user == user]

    def all(self) -> list[Session]:
        return list(self._sessions.values())

    def evict(self, user: str) -> int:
        victims = self.of(user)
        for s in victims:
            self.remove(s.id)
            s.close()
        return len(victims)
