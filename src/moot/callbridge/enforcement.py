"""What an expired or missing licence does to calls (guide B.4, Table 6).

- Alarm level 2 (``callBridge`` expired, in grace): every participant joining a meeting
  hears an audio prompt, and browsers show a text for 30 seconds.
- Alarm level 3 (expired more than 90 days ago, or no licence and no trial): the prompt is
  the guide's "Your deployment is out of licensing compliance, please contact your
  administrator", the text stays, and encrypted calls are not processed (SIP legs that
  require SRTP are refused; others are answered without it; browsers, always encrypted,
  cannot join).

The level comes from the licensing state (:mod:`moot.licensing`), re-evaluated at most
once a minute, so an expiry or a new licence takes effect without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

#: How long the alarm-2 text stays on a browser's screen.
NOTICE_SECONDS = 30
#: How often the licensing state is evaluated again.
REFRESH_SECONDS = 60.0

EXPIRED_TEXT = "The license of this meeting server has expired. Please contact your administrator."
COMPLIANCE_TEXT = "Your deployment is out of licensing compliance, please contact your administrator."


@dataclass(frozen=True)
class Enforcement:
    level: int

    @property
    def prompt(self) -> str | None:
        """The prompt every joining participant hears (a name in ``callbridge.prompts``)."""
        if self.level >= 3:
            return "out_of_compliance"
        return "license_expired" if self.level == 2 else None

    @property
    def notice(self) -> tuple[str, int | None] | None:
        """The text browsers show, and for how many seconds (None: it stays)."""
        if self.level >= 3:
            return COMPLIANCE_TEXT, None
        return (EXPIRED_TEXT, NOTICE_SECONDS) if self.level == 2 else None

    @property
    def encryption_allowed(self) -> bool:
        return self.level < 3


class EnforcementSource:
    """The current :class:`Enforcement`, from ``level()`` evaluated at most every ``ttl`` s."""

    def __init__(self, level: Callable[[], int], ttl: float = REFRESH_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._level = level
        self._ttl = ttl
        self._clock = clock
        self._current: Enforcement | None = None
        self._at = 0.0

    def __call__(self) -> Enforcement:
        now = self._clock()
        if self._current is None or now - self._at >= self._ttl:
            self._current = Enforcement(self._level())
            self._at = now
        return self._current


NONE = EnforcementSource(lambda: 0, ttl=float("inf"))
