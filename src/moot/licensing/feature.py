"""Licensable features and user licences, and their status (guide B.4, B.6, B.10).

The guide's features are ``callBridge``, ``callBridgeNoEncryption``, ``customizations``
and ``recording`` (which stands for recording and streaming). The user licences are
``personal`` (PMP Plus, a named host licence) and ``shared`` (SMP Plus, a concurrent
licence). Each has a status: ``noLicense``, ``activated``, ``grace`` (expired, now in
the grace period for renewal) or ``expired``, and an expiry date.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta

#: After a licence's expiry date it is in ``grace`` this many days, then ``expired``
#: (guide B.4, Table 6: "expired more than 90 days ago" raises the alarm to level 3).
GRACE_DAYS = 90

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Feature(enum.StrEnum):
    """A licensable feature, by its API name."""

    CALL_BRIDGE = "callBridge"
    CALL_BRIDGE_NO_ENCRYPTION = "callBridgeNoEncryption"
    CUSTOMIZATIONS = "customizations"
    RECORDING = "recording"

    @property
    def mmp_name(self) -> str:
        """The name the MMP ``license`` command prints (``callbridge`` in the guide)."""
        return _MMP_NAMES[self]


_MMP_NAMES = {
    Feature.CALL_BRIDGE: "callbridge",
    Feature.CALL_BRIDGE_NO_ENCRYPTION: "callbridgeNoEncryption",
    Feature.CUSTOMIZATIONS: "customizations",
    Feature.RECORDING: "recording",
}


class UserLicence(enum.StrEnum):
    """A kind of user licence, by its API name."""

    PERSONAL = "personal"
    SHARED = "shared"

    @property
    def product(self) -> str:
        return "PMP Plus" if self is UserLicence.PERSONAL else "SMP Plus"


class Status(enum.StrEnum):
    """A licence's status, by its API value (``/system/licensing``)."""

    NO_LICENSE = "noLicense"
    ACTIVATED = "activated"
    GRACE = "grace"
    EXPIRED = "expired"


def status_on(expiry: date | None, today: date) -> Status:
    """The status of an entitlement that ends on ``expiry`` (inclusive), seen on ``today``."""
    if expiry is None:
        return Status.NO_LICENSE
    if today <= expiry:
        return Status.ACTIVATED
    if today <= expiry + timedelta(days=GRACE_DAYS):
        return Status.GRACE
    return Status.EXPIRED


@dataclass(frozen=True)
class FeatureStatus:
    """One feature's (or user licence's) status as of a day.

    ``trial`` is set when it is the 90-day trial, not a licence, that activates it.
    ``limit`` is the number of licences for ``personal`` and ``shared`` (None: no limit).
    """

    name: str
    status: Status
    expiry: date | None = None
    trial: bool = False
    limit: int | None = None

    @property
    def active(self) -> bool:
        return self.status is Status.ACTIVATED


def show_date(day: date) -> str:
    """The guide's date form, ``2023-Apr-28`` (independent of the locale)."""
    return f"{day.year:04d}-{_MONTHS[day.month - 1]}-{day.day:02d}"


def parse_day(text: str) -> date:
    """A ``YYYY-MM-DD`` date; ValueError names the bad text."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise ValueError(f"bad date {text!r} (want YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad date {text!r} (want YYYY-MM-DD)") from None
