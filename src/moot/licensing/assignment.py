"""Who holds a personal licence (guide B.9), read from the API objects.

A user holds a personal (PMP Plus) licence when their ``userProfile`` — or, when they have
none, the system's default user profile (``/system/profiles``) — has ``hasLicense=true``.
A call uses, in this order (B.9): the space owner's personal licence (even when the owner
is not in the call), else the ad hoc escalator's (the user who made an ad hoc call, when
known), else the scheduled meeting owner's (the organizer of a meeting on the space that has
not ended); other calls use shared (SMP Plus) licences (:mod:`moot.licensing.weights`).
"""

from __future__ import annotations

from typing import Any

from moot.api.objects.profiles import USER_PROFILE
from moot.api.objects.system import SYSTEM_PROFILES
from moot.api.objects.users import USER
from moot.db.apistore import Cond, Txn

#: Licensed profiles looked at, at most.
PROFILE_LIMIT = 10_000


def _licensed(txn: Txn, profile_id: Any) -> bool:
    profile = txn.get(USER_PROFILE, str(profile_id)) if profile_id else None
    return bool(profile and profile.get("hasLicense"))


def _default_profile(txn: Txn) -> Any:
    system = txn.get(SYSTEM_PROFILES, SYSTEM_PROFILES.name)
    return system.get("userProfile") if system else None


def holds_personal_licence(txn: Txn, user_id: str | None) -> bool:
    user = txn.get(USER, user_id) if user_id else None
    if user is None:
        return False
    return _licensed(txn, user.get("userProfile") or _default_profile(txn))


def space_covered(txn: Txn, space: dict[str, Any]) -> bool:
    """Whether a call in ``space`` uses its owner's personal licence."""
    return holds_personal_licence(txn, space.get("ownerId"))


def licence_holder(txn: Txn, space: dict[str, Any] | None, *, escalator: str | None = None,
                   now: str | None = None) -> str | None:
    """The user whose personal licence a call uses (B.9), None for shared licences.

    ``escalator``: the user who escalated an ad hoc call; ``now``: the UTC time as the
    scheduler stores it (``2026-12-05T10:00:00Z``), for meetings that have not ended.
    """
    if space is not None and holds_personal_licence(txn, space.get("ownerId")):
        return str(space["ownerId"])
    if escalator is not None and holds_personal_licence(txn, escalator):
        return escalator
    if space is None or "meeting" not in txn.store.types:
        return None
    meeting = txn.store.types["meeting"]
    for field in ("coSpace", "temporarySpace"):
        _, rows = txn.list(meeting, None, [Cond("eq", field, space["id"])], 0, PROFILE_LIMIT,
                           ["organizer", "lastEnd"])
        for row in rows:
            if now is not None and (row.get("lastEnd") or "") < now:
                continue
            if holds_personal_licence(txn, row.get("organizer")):
                return str(row["organizer"])
    return None


def personal_licences(txn: Txn) -> int:
    """How many users hold a personal licence."""
    _, licensed = txn.list(USER_PROFILE, None, [Cond("eq", "hasLicense", True)], 0, PROFILE_LIMIT)
    total = sum(txn.count(USER, None, [Cond("eq", "userProfile", p["id"])]) for p in licensed)
    default = _default_profile(txn)
    if default and _licensed(txn, default):
        total += txn.count(USER, None, [Cond("eq", "userProfile", None)])
    return total
