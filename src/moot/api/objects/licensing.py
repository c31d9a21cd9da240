"""``/system/licensing``, ``/clusterLicensing`` and ``/system/multipartyLicensing`` (read only).

The API reference: a GET of ``/system/licensing`` gives, per feature (``callBridge``,
``callBridgeNoEncryption``, ``customizations``, ``recording``) and user licence
(``personal``, ``shared``), its ``status`` (``noLicense``, ``activated``, ``grace``,
``expired``) and ``expiry``, nested below ``features``. During the 90-day trial a
feature shows ``activated`` with the trial's end as its expiry (the product has no
``trial`` status). ``/clusterLicensing`` is the cluster's view of the same features: an
expiry never more than 90 days ahead (guide B.5). ``/system/multipartyLicensing`` gives
the licence limits and the usage counts.

The values come from the node's licensing state (``moot.licensing.node.current``) when
``txn.env`` has the ``node``; tests may put a ``LicensingState`` in
``env["licensing_state"]``; otherwise a fresh trial node created today is assumed.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from moot.api.encoding import Group
from moot.api.hooks import Hooks
from moot.api.model import DECIMAL, LIVE, NUMBER, STRING, Access, Field, ObjectType, read_only_view
from moot.api.objects.system import txn_env
from moot.api.objects.users import USER
from moot.db.apistore import Txn
from moot.licensing.assignment import personal_licences
from moot.licensing.feature import Feature, FeatureStatus, UserLicence, show_date
from moot.licensing.node import current, today_utc
from moot.licensing.state import LicensingState, evaluate
from moot.licensing.usage import node_usage

READ_ONLY = Access.READ_ONLY
#: The usage counts of ``/system/multipartyLicensing``; the weighted ones (guide B.11: an
#: audio-only or point-to-point call weighs 1/6) are decimals.
USAGE_COUNTS = (
    "users",
    "personalLicenses",
    "participantsActive",
    "callsActive",
    "callsWithoutPersonalLicense",
)
WEIGHTED_COUNTS = ("weightedCallsActive", "weightedCallsWithoutPersonalLicense")
#: ``/system/multipartyLicensing/activePersonalLicenses``: the calls personal licences cover.
ACTIVE_PERSONAL = ("personalLicensesActive", "callsActive", "weightedCallsActive")


def licensing_state(txn: Txn) -> LicensingState:
    """The licensing state the API shows: given, the node's, or a fresh trial's."""
    env = txn_env(txn)
    given = env.get("licensing_state")
    if isinstance(given, LicensingState):
        return given
    node = env.get("node")
    if node is not None:
        return current(node, usage=node_usage(node, txn))
    today: date = today_utc()
    return evaluate(today, created=today)


def _entry(status: FeatureStatus, *, limit: bool = False) -> Group:
    pairs: list[tuple[str, Any]] = [
        ("status", status.status.value),
        ("expiry", show_date(status.expiry) if status.expiry else None),
    ]
    if limit:
        pairs.append(("limit", status.limit))
    return Group(pairs)


class LicensingHooks(Hooks):
    def computed(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
        state = licensing_state(txn)
        pairs: list[tuple[str, Any]] = [(f.value, _entry(state.features[f])) for f in Feature]
        pairs += [(u.value, _entry(state.users[u], limit=True)) for u in UserLicence]
        return {"features": Group(pairs)}


LICENSING = read_only_view(
    name="licensing",
    collection="system/licensing",
    fields=(Field("features", LIVE, access=READ_ONLY),),
    hooks=LicensingHooks(),
    summary=(
        "Per feature and user licence of this node: status (noLicense, activated, grace, "
        "expired) and expiry; the trial shows as activated until its end."
    ),
)


class ClusterLicensingHooks(Hooks):
    def computed(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
        state = licensing_state(txn)
        return {"features": Group((f.value, _entry(state.cluster[f])) for f in Feature)}


CLUSTER_LICENSING = read_only_view(
    name="clusterLicensing",
    collection="clusterLicensing",
    fields=(Field("features", LIVE, access=READ_ONLY),),
    hooks=ClusterLicensingHooks(),
    summary="The cluster's view of the features: status and expiry (at most 90 days ahead).",
)


class MultipartyLicensingHooks(Hooks):
    def computed(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
        entitlement = licensing_state(txn).entitlement
        values: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            # None (not shown): not limited (the trial, or a licence without a count).
            "personalLicenseLimit": entitlement.personal,
            "sharedLicenseLimit": entitlement.shared,
        }
        for name in (*USAGE_COUNTS, *WEIGHTED_COUNTS):
            values[name] = 0
        values["users"] = txn.count(USER)
        values["personalLicenses"] = personal_licences(txn)
        bridge = txn_env(txn).get("callbridge")
        if bridge is not None:
            usage = bridge.licence_usage()
            values.update({k: v for k, v in usage.items() if k in values})
        return values


class ActivePersonalLicensesHooks(Hooks):
    def computed(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
        bridge = txn_env(txn).get("callbridge")
        usage = bridge.licence_usage() if bridge is not None else {}
        return {
            "personalLicensesActive": usage.get("personalLicensesActive", 0),
            "callsActive": usage.get("callsWithPersonalLicense", 0),
            "weightedCallsActive": usage.get("weightedCallsWithPersonalLicense", 0),
        }


MULTIPARTY_LICENSING = read_only_view(
    name="multipartyLicensing",
    collection="system/multipartyLicensing",
    fields=(
        Field("timestamp", STRING, access=READ_ONLY),
        Field("personalLicenseLimit", NUMBER, access=READ_ONLY),
        Field("sharedLicenseLimit", NUMBER, access=READ_ONLY),
        *(Field(name, NUMBER, access=READ_ONLY) for name in USAGE_COUNTS),
        *(Field(name, DECIMAL, access=READ_ONLY) for name in WEIGHTED_COUNTS),
    ),
    hooks=MultipartyLicensingHooks(),
    summary=(
        "The personal (PMP Plus) and shared (SMP Plus) licence limits (absent: not limited); "
        "users, personal licences held, active calls and participants, calls no personal "
        "licence covers, and the weighted counts (guide B.11: audio-only and point-to-point "
        "calls weigh 1/6)."
    ),
)

ACTIVE_PERSONAL_LICENSES = read_only_view(
    name="activePersonalLicenses",
    collection="system/multipartyLicensing/activePersonalLicenses",
    fields=(
        Field("personalLicensesActive", NUMBER, access=READ_ONLY),
        Field("callsActive", NUMBER, access=READ_ONLY),
        Field("weightedCallsActive", DECIMAL, access=READ_ONLY),
    ),
    hooks=ActivePersonalLicensesHooks(),
    summary="The personal licences in use now and the calls (and their weights) they cover.",
)

TYPES = (LICENSING, CLUSTER_LICENSING, MULTIPARTY_LICENSING, ACTIVE_PERSONAL_LICENSES)
