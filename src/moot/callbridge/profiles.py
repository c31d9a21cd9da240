"""The settings in force for one leg and one call (guide: profile inheritance).

A setting is taken from the most specific place that sets it: the access method
dialled, then the space, then the space's tenant, then the system profiles
(``/system/profiles``). Call leg profiles carry the in-call behaviour
(``rxAudioMute``, ``sipMediaEncryption``, ``needsActivation``...); call profiles the
call's limits (``participantLimit``, ``locked``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moot.api.objects.leg_settings import LEG_SETTINGS
from moot.api.objects.profiles import CALL_LEG_PROFILE, CALL_PROFILE, WEB_BRIDGE_PROFILE
from moot.api.objects.system import SYSTEM_PROFILES
from moot.api.objects.tenants import TENANT
from moot.db.apistore import Txn

LEG_SETTING_NAMES = tuple(f.name for f in LEG_SETTINGS)


@dataclass(frozen=True)
class EffectiveProfiles:
    leg: dict[str, Any]
    call: dict[str, Any]

    @property
    def media_encryption(self) -> str:
        """``optional`` (default), ``required`` or ``prohibited``."""
        return str(self.leg.get("sipMediaEncryption") or "optional")

    @property
    def participant_limit(self) -> int | None:
        value = self.call.get("participantLimit")
        return int(value) if value is not None else None


def _chain(txn: Txn, holders: list[dict[str, Any] | None], ref_field: str) -> list[str]:
    """Profile ids from the most specific holder to the system profile."""
    ids = [str(h[ref_field]) for h in holders if h and h.get(ref_field)]
    system = txn.get(SYSTEM_PROFILES, SYSTEM_PROFILES.name)
    if system and system.get(ref_field):
        ids.append(str(system[ref_field]))
    return ids


def _merge(txn: Txn, otype: Any, ids: list[str], names: tuple[str, ...]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for pid in ids:
        profile = txn.get(otype, pid)
        if profile is None:
            continue
        for name in names:
            if name not in merged and profile.get(name) is not None:
                merged[name] = profile[name]
    return merged


def effective(txn: Txn, space: dict[str, Any] | None, access_method: dict[str, Any] | None = None) -> EffectiveProfiles:
    tenant = txn.get(TENANT, space["tenant"]) if space and space.get("tenant") else None
    holders = [access_method, space, tenant]
    leg = _merge(txn, CALL_LEG_PROFILE, _chain(txn, holders, "callLegProfile"), LEG_SETTING_NAMES)
    call_names = tuple(f.name for f in CALL_PROFILE.fields)
    call = _merge(txn, CALL_PROFILE, _chain(txn, [space, tenant], "callProfile"), call_names)
    return EffectiveProfiles(leg, call)


def web_bridge(txn: Txn, space: dict[str, Any] | None, web_bridge_url: str | None = None) -> dict[str, Any]:
    """The web bridge profile settings in force for a space joined through the web bridge at
    ``web_bridge_url``: the space's tenant's profile, then that ``/webBridges`` object's, then
    the system's, then the declared defaults (``allowPasscodes``, ``allowSecrets``, ...)."""
    from moot.api.objects.cluster import WEB_BRIDGE
    from moot.db.apistore import Cond

    tenant = txn.get(TENANT, space["tenant"]) if space and space.get("tenant") else None
    bridge = None
    if web_bridge_url:
        _, rows = txn.list(WEB_BRIDGE, None, [Cond("eq", "url", web_bridge_url)], 0, 1, ["webBridgeProfile"])
        bridge = rows[0] if rows else None
    names = tuple(f.name for f in WEB_BRIDGE_PROFILE.fields)
    merged = _merge(txn, WEB_BRIDGE_PROFILE, _chain(txn, [tenant, bridge], "webBridgeProfile"), names)
    for field in WEB_BRIDGE_PROFILE.fields:
        if field.name not in merged and field.default is not None:
            merged[field.name] = field.default
    return merged
