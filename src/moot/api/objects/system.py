"""``/system``: status, alarms, database, CDR receivers, the global profiles, cluster settings.

Status, alarms and database describe the running node; their values come from
``txn.env`` (filled by the runtime), with sensible values when it is absent
(unit tests, a node without a call bridge yet).
"""

from __future__ import annotations

import time
from typing import Any

import moot
from moot.api.errors import ApiFailure
from moot.api.hooks import Hooks
from moot.api.model import (
    BOOL,
    NUMBER,
    STRING,
    URL,
    Access,
    Field,
    Number,
    ObjectType,
    choice,
    read_only_view,
    ref,
)
from moot.db.apistore import Txn

READ_ONLY = Access.READ_ONLY
#: How many CDR receivers may be configured.
MAX_CDR_RECEIVERS = 4
#: Counters of the call bridge shown by ``/system/status`` (0 until it reports them).
CALL_COUNTERS = (
    "callLegsActive",
    "callLegsMaxActive",
    "callLegsCompleted",
    "audioBitRateOutgoing",
    "audioBitRateIncoming",
    "videoBitRateOutgoing",
    "videoBitRateIncoming",
)


def txn_env(txn: Txn) -> dict[str, Any]:
    env: dict[str, Any] = getattr(txn, "env", None) or {}
    return env


def cdr_time(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


class StatusHooks(Hooks):
    def computed(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
        env = txn_env(txn)
        now = time.time()
        started = env.get("started")
        bridge = env.get("callbridge")
        counters: dict[str, Any] = bridge.system_counters() if bridge is not None else {}
        values: dict[str, Any] = {
            "hostId": env.get("host_id"),
            "softwareVersion": moot.__version__,
            "uptimeSeconds": max(0, int(now - float(started))) if started is not None else 0,
            "cdrTime": cdr_time(now),
            "activated": True,
            "clusterEnabled": bool(env.get("cluster_enabled", False)),
            "clusterId": env.get("cluster_id"),
            "cdrCorrelatorIndex": int(env.get("cdr_correlator_index", 0)),
        }
        for name in CALL_COUNTERS:
            values[name] = int(counters.get(name, 0))
        return values


STATUS = read_only_view(
    name="status",
    collection="system/status",
    fields=(
        Field("hostId", STRING, access=READ_ONLY),
        Field("softwareVersion", STRING, access=READ_ONLY),
        Field("uptimeSeconds", NUMBER, access=READ_ONLY),
        Field("cdrTime", STRING, access=READ_ONLY),
        Field("activated", BOOL, access=READ_ONLY),
        Field("clusterEnabled", BOOL, access=READ_ONLY),
        Field("clusterId", STRING, access=READ_ONLY),
        Field("cdrCorrelatorIndex", NUMBER, access=READ_ONLY),
        *(Field(name, NUMBER, access=READ_ONLY) for name in CALL_COUNTERS),
    ),
    hooks=StatusHooks(),
    summary="Version, uptime and call counters of this node.",
)

class AlarmHooks(Hooks):
    def computed(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
        raised = obj.get("raisedAt")
        return {"activeTimeSeconds": int(time.time() - raised)} if raised else {}


ALARM = ObjectType(
    name="alarm",
    collection="system/alarms",
    fields=(
        Field("type", STRING, access=READ_ONLY, listed=True),
        Field("activeTimeSeconds", NUMBER, access=READ_ONLY, listed=True),
        Field("failureReason", STRING, access=READ_ONLY, listed=True),
        #: When the condition began (epoch seconds; the server's, not shown).
        Field("raisedAt", NUMBER, access=Access.WRITE_ONLY),
    ),
    hooks=AlarmHooks(),
    filters=(),
    creatable=False,
    updatable=False,
    deletable=False,
    summary="Conditions currently needing attention (an empty list when all is well).",
)


class DatabaseHooks(Hooks):
    def computed(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
        return {"clustered": "enabled" if txn_env(txn).get("database_clustered") else "disabled"}


DATABASE = read_only_view(
    name="database",
    collection="system/database",
    fields=(Field("clustered", choice("enabled", "disabled"), access=READ_ONLY, attribute=True),),
    hooks=DatabaseHooks(),
    summary="Whether the configuration database is clustered.",
)


class CdrReceiverHooks(Hooks):
    def prepare(self, txn: Txn, otype: ObjectType, values: dict[str, Any], old: dict[str, Any] | None, actions: dict[str, Any]) -> None:
        # Some clients send the address as "url" (the product's prose) rather than "uri".
        if "url" in actions:
            values["uri"] = actions["url"]
        if old is None and txn.count(otype) >= MAX_CDR_RECEIVERS:
            raise ApiFailure("tooManyCdrReceivers")


CDR_RECEIVER = ObjectType(
    name="cdrReceiver",
    collection="system/cdrReceivers",
    fields=(
        Field("uri", URL, listed=True),
        Field("url", URL, access=Access.ACTION),
    ),
    filters=(),
    hooks=CdrReceiverHooks(),
    summary=f"Where call detail records are sent (at most {MAX_CDR_RECEIVERS}).",
)

#: The profiles in force when nothing lower (tenant, space, ...) sets one.
SYSTEM_PROFILES = ObjectType(
    name="profiles",
    collection="system/profiles",
    fields=tuple(
        Field(target, ref(target))
        for target in (
            "callLegProfile",
            "callProfile",
            "dtmfProfile",
            "userProfile",
            "ivrBrandingProfile",
            "callBrandingProfile",
            "compatibilityProfile",
            "dialInSecurityProfile",
            "webBridgeProfile",
        )
    ),
    filters=(),
    singleton=True,
    summary="The system-wide (top-level) profiles.",
)

BASIS_POINTS = Number(minimum=0, maximum=10000)

CLUSTER = ObjectType(
    name="cluster",
    collection="system/configuration/cluster",
    fields=(
        Field("uniqueName", STRING),
        Field("peerLinkBitRate", NUMBER),
        Field("maxPeerVideoStreams", NUMBER),
        Field("participantLimit", NUMBER),
        Field("loadLimit", NUMBER),
        Field("newConferenceLoadLimitBasisPoints", BASIS_POINTS, default=5000),
        Field("existingConferenceLoadLimitBasisPoints", BASIS_POINTS, default=8000),
    ),
    filters=(),
    singleton=True,
    summary="This call bridge's name and limits within the call bridge cluster.",
)

TYPES = (STATUS, ALARM, DATABASE, CDR_RECEIVER, SYSTEM_PROFILES, CLUSTER)
