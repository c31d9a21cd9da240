"""A progress bar for long bulk operations, on stderr.

On a terminal: one line redrawn in place (bar, rows, rows/s, ETA). Otherwise
(a log file, a pipe, a test): a plain line every ``interval`` seconds and one
at the end, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """``update(rows, fraction)`` as work advances; ``finish()`` once at the end.

    ``fraction`` (0..1) is how much of the input is done (bytes read, rows of a
    known total); None when unknown (no bar, no ETA).
    """

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        *,
        interactive: bool | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.interval = interval if interval is not None else (0.1 if self.interactive else 5.0)
        self.clock = clock
        self.started = clock()
        self._last = self.started
        self.rows = 0
        self.fraction: float | None = 0.0
        self._drawn = False

    def update(self, rows: int, fraction: float | None) -> None:
        self.rows = rows
        self.fraction = None if fraction is None else min(max(fraction, 0.0), 1.0)
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self._emit(final=False)

    def finish(self, note: str = "") -> None:
        if self.fraction is not None:
            self.fraction = 1.0
        self._emit(final=True, note=note)

    @property
    def rate(self) -> float:
        elapsed = self.clock() - self.started
        return self.rows / elapsed if elapsed > 0 else 0.0

    def line(self, final: bool = False) -> str:
        elapsed = self.clock() - self.started
        rate = self.rate
        parts = [self.label]
        if self.fraction is not None:
            filled = int(self.fraction * BAR_WIDTH)
            if self.interactive:
                parts.append("[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]")
            parts.append(f"{self.fraction * 100:5.1f}%")
        parts.append(f"{self.rows:,} rows")
        parts.append(f"{rate:,.0f} rows/s")
        if final:
            parts.append(f"in {_duration(elapsed)}")
        elif self.fraction and self.fraction > 0:
            parts.append(f"ETA {_duration(elapsed * (1 - self.fraction) / self.fraction)}")
        return "  ".join(parts)

    def _emit(self, final: bool, note: str = "") -> None:
        text = self.line(final) + (f"  {note}" if note else "")
        if self.interactive:
            self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn = True

    def clear(self) -> None:
        """Before printing other text on a terminal, take the bar's line away."""
        if self.interactive and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
