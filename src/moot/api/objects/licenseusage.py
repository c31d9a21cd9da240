"""``/system/MPLicenseUsage`` and ``/system/MPLicenseUsage/knownHosts`` (guide B.12), read only.

The licence usage time series: one element per interval (5 minutes by default) and call
bridge host, with the peaks of the interval: personal (PMP Plus) licences in use, calls on
shared (SMP Plus) licences by kind (audio-only, point-to-point, full; guide B.11), the
weighted shared use, and the calls recorded and streamed. The call bridge writes the rows
(:mod:`moot.licensing.usage`); the API only reads them. The interval in progress is shown
too (its ``endTime`` is still ahead) and grows until it ends.

Filters: ``startTime=<time>`` keeps the intervals ending at or after it, ``endTime=<time>``
those starting before it, ``hostId=<id>`` one host's; times are absolute (``...Z`` or with an
offset, or ``now``). ``knownHosts`` lists the hosts that have reported, with when they were
first and last seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from moot.api.model import (
    DECIMAL,
    NUMBER,
    STRING,
    Access,
    Field,
    Filter,
    FilterOp,
    Kind,
    ObjectType,
    ValueError_,
)
from moot.scheduler.recurrence import InvalidTime, parse_utc

READ_ONLY = Access.READ_ONLY
#: The counts of one interval, as stored and shown (``weightedShared`` aside).
COUNTS = ("personal", "sharedAudioOnly", "sharedPointToPoint", "sharedFull", "recorded", "streamed")


def show_time(value: datetime) -> str:
    """A time as stored and shown: ``2026-12-05T10:00:00Z`` (four-digit years, so the text
    sorts as the time)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


@dataclass(frozen=True)
class UtcBound(Kind):
    """A UTC time (``2026-12-05T10:00:00Z``), stored to the second.

    These fields are never written through the API, so ``parse`` only reads the bounds of
    the list filters, rounded to compare with whole-second times: up to the next second (an
    interval ending at or after ``10:00:00.5`` ends at or after ``10:00:01``) and, for a
    ``strict`` upper bound, one second less (an interval starting before ``10:05:00``
    starts at or before ``10:04:59``), so that the engine's at-most filter means "before".
    """

    strict: bool = False

    def parse(self, raw: str) -> Any:
        try:
            value = parse_utc(raw)
            if value.microsecond:
                value = value.replace(microsecond=0) + timedelta(seconds=1)
            if self.strict:
                value -= timedelta(seconds=1)
        except (InvalidTime, OverflowError):  # not a time, or past year 1 or 9999
            raise ValueError_() from None
        return show_time(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


#: An interval's start (the bound of ``endTime=``: intervals starting before it).
START_TIME = UtcBound(strict=True)
#: An interval's end (the bound of ``startTime=``: intervals ending at or after it).
END_TIME = UtcBound()
#: When a host was first or last seen.
SEEN_TIME = UtcBound()


def _shown(name: str, kind: Kind) -> Field:
    return Field(name, kind, access=READ_ONLY, listed=True)


LICENSE_USAGE = ObjectType(
    name="mpLicenseUsage",
    collection="system/MPLicenseUsage",
    fields=(
        _shown("startTime", START_TIME),
        _shown("endTime", END_TIME),
        _shown("hostId", STRING),
        *(_shown(name, NUMBER) for name in COUNTS[:4]),
        _shown("weightedShared", DECIMAL),
        *(_shown(name, NUMBER) for name in COUNTS[4:]),
    ),
    filters=(
        Filter("startTime", FilterOp.AT_LEAST, "endTime"),
        Filter("endTime", FilterOp.AT_MOST, "startTime"),
        Filter("hostId", FilterOp.EQUALS, "hostId"),
    ),
    creatable=False,
    updatable=False,
    deletable=False,
    order_by=("startTime", "hostId"),
    summary=(
        "Licence usage per interval (5 minutes) and call bridge host, kept 100 days: peak "
        "personal licences, shared calls (audio-only, point-to-point, full), weighted shared "
        "use, recorded and streamed calls. Filters: startTime (intervals ending at or after "
        "it), endTime (starting before it), hostId."
    ),
)

KNOWN_HOST = ObjectType(
    name="knownHost",
    collection="system/MPLicenseUsage/knownHosts",
    fields=(
        _shown("hostId", STRING),
        _shown("firstSeen", SEEN_TIME),
        _shown("lastSeen", SEEN_TIME),
    ),
    filters=(),
    creatable=False,
    updatable=False,
    deletable=False,
    order_by=("hostId",),
    summary="The call bridge hosts that have reported licence usage: first and last seen.",
)

TYPES = (LICENSE_USAGE, KNOWN_HOST)
