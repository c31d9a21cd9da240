"""Who holds a personal licence (guide B.9), read from the API objects.

A user holds a personal (PMP Plus) licence when their ``userProfile`` — or, when they have
none, the system's default user profile (``/system/profiles``) — has ``hasLicense=true``.
A call in a space is covered by a personal licence when the space's owner holds one
(even when the owner is not in the call); other calls use shared (SMP Plus) licences.
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


def personal_licences(txn: Txn) -> int:
    """How many users hold a personal licence."""
    _, licensed = txn.list(USER_PROFILE, None, [Cond("eq", "hasLicense", True)], 0, PROFILE_LIMIT)
    total = sum(txn.count(USER, None, [Cond("eq", "userProfile", p["id"])]) for p in licensed)
    default = _default_profile(txn)
    if default and _licensed(txn, default):
        total += txn.count(USER, None, [Cond("eq", "userProfile", None)])
    return total
