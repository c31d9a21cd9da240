"""Failed join and sign-in attempts per client address: guessing passcodes gets slow.

Each address may fail ``allowed`` times within ``window`` seconds; after that it is refused
for ``penalty`` seconds (doubling while it keeps trying, up to ``max_penalty``) without the
passcode being checked at all. A success does not reset the count (a guesser who knows one
meeting must not get free guesses at another). Each block is logged once.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("moot.webbridge")

#: Addresses remembered at most (oldest forgotten first): bounded memory under a flood.
MAX_ADDRESSES = 100_000


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    penalty: float = 0.0
    refused: int = 0


class RateLimiter:
    def __init__(self, *, allowed: int = 10, window: float = 60.0, penalty: float = 30.0,
                 max_penalty: float = 900.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed = allowed
        self.window = window
        self.penalty = penalty
        self.max_penalty = max_penalty
        self.clock = clock
        self._records: dict[str, _Record] = {}

    def retry_after(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None when it may try now."""
        record = self._records.get(address)
        if record is None:
            return None
        wait = record.blocked_until - self.clock()
        if wait <= 0:
            return None
        record.refused += 1
        return wait

    def failed(self, address: str, what: str) -> None:
        """Count a failed attempt (``what`` names it in the log)."""
        now = self.clock()
        record = self._records.pop(address, None) or _Record()
        self._records[address] = record  # most recent last
        if len(self._records) > MAX_ADDRESSES:
            del self._records[next(iter(self._records))]
        record.failures.append(now)
        while record.failures and record.failures[0] < now - self.window:
            record.failures.popleft()
        log.info("web bridge: %s from %s", what, address)
        if len(record.failures) > self.allowed:
            record.penalty = min(self.max_penalty, record.penalty * 2 if record.penalty else self.penalty)
            record.blocked_until = now + record.penalty
            record.failures.clear()
            log.warning("web bridge: %s refused for %.0f s after more than %d failed attempts in %.0f s "
                        "(%d attempts refused while blocked before)", address, record.penalty, self.allowed,
                        self.window, record.refused)
            record.refused = 0
