"""The per-user allocation quota held across high-capacity worker processes.

Each worker counts its own allocations, but ``turn.user_quota`` is per user on
the whole server, and SO_REUSEPORT spreads one user's clients over all the
workers. So the main process is the arbiter: before a worker creates an
allocation it asks the main process (one JSON line on its stdout) and waits
for the answer (one JSON line on its stdin); when the allocation goes away it
tells the main process, which needs no answer. Counts are kept per worker, so
a worker that dies gives all of its allocations back.

    worker -> main   {"op": "acquire", "id": 7, "user": "alice"}
    main -> worker   {"id": 7, "ok": true}
    worker -> main   {"op": "release", "user": "alice"}
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: A worker that hears nothing from the main process this long refuses the allocation.
ANSWER_TIMEOUT = 5.0


@dataclass
class QuotaArbiter:
    """The main process's count of every worker's allocations per user."""

    user_quota: int
    counts: dict[int, dict[str, int]] = field(default_factory=dict)

    def held(self, username: str) -> int:
        return sum(per_user.get(username, 0) for per_user in self.counts.values())

    def acquire(self, worker: int, username: str) -> bool:
        if self.held(username) >= self.user_quota:
            return False
        per_user = self.counts.setdefault(worker, {})
        per_user[username] = per_user.get(username, 0) + 1
        return True

    def release(self, worker: int, username: str) -> None:
        per_user = self.counts.get(worker, {})
        left = per_user.get(username, 0) - 1
        if left > 0:
            per_user[username] = left
        else:
            per_user.pop(username, None)

    def forget(self, worker: int) -> None:
        """``worker`` has ended: its allocations are gone with it."""
        self.counts.pop(worker, None)

    def answer(self, worker: int, line: bytes) -> bytes | None:
        """The reply to one request line of ``worker`` (None if it needs none)."""
        try:
            request: dict[str, Any] = json.loads(line)
            op, username = request["op"], str(request["user"])
        except (ValueError, KeyError, TypeError):
            log.warning("turn worker %d sent an unreadable line: %r", worker, line[:200])
            return None
        if op == "acquire":
            ok = self.acquire(worker, username)
            return json.dumps({"id": request.get("id"), "ok": ok}).encode() + b"\n"
        if op == "release":
            self.release(worker, username)
        return None


class QuotaClient:
    """A worker's side: asks the main process over its stdout, reads answers from its stdin.

    Implements :class:`moot.turn.allocation.SharedQuota`.
    """

    def __init__(self, write: Callable[[bytes], None], timeout: float = ANSWER_TIMEOUT) -> None:
        self.write = write
        self.timeout = timeout
        self._next = 0
        self._waiting: dict[int, asyncio.Future[bool]] = {}

    async def acquire(self, username: str) -> bool:
        self._next += 1
        ident = self._next
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = answer
        try:
            self._send({"op": "acquire", "id": ident, "user": username})
            return await asyncio.wait_for(answer, self.timeout)
        except TimeoutError:
            log.warning("no quota answer from the main process: allocation refused")
            return False
        finally:
            self._waiting.pop(ident, None)

    def release(self, username: str) -> None:
        self._send({"op": "release", "user": username})

    def _send(self, message: dict[str, Any]) -> None:
        self.write(json.dumps(message).encode() + b"\n")

    def answered(self, line: bytes) -> None:
        """One answer line from the main process."""
        try:
            reply: dict[str, Any] = json.loads(line)
            answer = self._waiting.get(int(reply["id"]))
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable quota answer: %r", line[:200])
            return
        if answer is not None and not answer.done():
            answer.set_result(bool(reply.get("ok")))
