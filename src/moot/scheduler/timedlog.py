"""``scheduler timedLogging``: detailed (DEBUG) logs for one area for a while (guide 3.6.7).

The MMP stores each area's end time in the node config; the running scheduler reads it
every second and sets the level of the area's logger ``moot.scheduler.<area>``.
"""

from __future__ import annotations

import json
import logging
import time

from moot.node.settings import NodeConfig
from moot.scheduler.settings import TIMED_LOGGING

#: The guide's areas, in the guide's order.
AREAS = ("webBridge", "api", "email")
#: The longest detailed-logging period one command may ask for.
MAX_SECONDS = 7 * 24 * 3600

log = logging.getLogger("moot.scheduler")


def area_name(text: str) -> str:
    """The canonical spelling of an area typed in any case."""
    for area in AREAS:
        if area.lower() == text.lower():
            return area
    raise ValueError(f"unknown area {text!r}: use one of {', '.join(AREAS)}")


def logger(area: str) -> logging.Logger:
    return logging.getLogger(f"moot.scheduler.{area}")


def remaining(config: NodeConfig, now: float | None = None) -> dict[str, int]:
    """Whole seconds of detailed logging left per area (0 when off)."""
    now = time.time() if now is None else now
    ends = config.get(TIMED_LOGGING)
    return {a: max(0, int(float(ends.get(a, 0)) - now + 0.999)) for a in AREAS}


def show(config: NodeConfig) -> str:
    """The JSON the guide prints: seconds left as strings."""
    return json.dumps({a: str(s) for a, s in remaining(config).items()}, indent=2)


def enable(config: NodeConfig, area: str, seconds: int) -> None:
    ends = dict(config.get(TIMED_LOGGING))
    if seconds > 0:
        ends[area] = time.time() + seconds
    else:
        ends.pop(area, None)
    config.set(TIMED_LOGGING, ends)


class TimedLevels:
    """Keeps the area loggers' levels in line with the config (call ``refresh`` often)."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.active: set[str] = set()

    def refresh(self) -> None:
        left = remaining(self.config)
        for area, seconds in left.items():
            on = seconds > 0
            if on and area not in self.active:
                logger(area).setLevel(logging.DEBUG)
                self.active.add(area)
                log.info("detailed logging for %s on for %d s", area, seconds)
            elif not on and area in self.active:
                logger(area).setLevel(logging.NOTSET)
                self.active.discard(area)
                log.info("detailed logging for %s ended", area)

    def reset(self) -> None:
        for area in self.active:
            logger(area).setLevel(logging.NOTSET)
        self.active.clear()
