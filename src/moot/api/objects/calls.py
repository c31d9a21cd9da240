"""Active calls, their call legs and participants.

Their behaviour arrives with the call bridge; for now their configuration is
declared so that it stores, validates and reads back like the product's. The
product also reaches legs and participants below a call
(``/calls/<id>/callLegs``, ``/calls/<id>/participants``); here they carry a
``call`` reference given on creation until the engine has such aliases.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from moot.api.errors import ApiFailure
from moot.api.hooks import Hooks, Operation
from moot.api.model import (
    BOOL,
    LAYOUTS,
    LIVE,
    NUMBER,
    SEARCH,
    STRING,
    TENANT_FILTER,
    Access,
    Field,
    Filter,
    FilterOp,
    ObjectType,
    Text,
    choice,
    ref,
)
from moot.api.objects.cospaces import COSPACE
from moot.api.objects.leg_settings import DTMF_SEQUENCE, LEG_ONLY_SETTINGS, LEG_SETTINGS
from moot.db.apistore import Cond, Txn

READ_ONLY = Access.READ_ONLY
WRITE_ONLY = Access.WRITE_ONLY
#: The most legs or participants one call's deletion removes in one go.
SCAN_LIMIT = 1_000_000
PANE_PLACEMENT_SELF = choice("skip", "self", "blank")


class LiveCalls(Protocol):
    """The running call bridge as the API sees it (``env["callbridge"]``); the ``api_*``
    methods are safe to call from the API's threads and act after they return."""

    def call_status(self, call_id: str) -> dict[str, Any] | None: ...
    def leg_status(self, leg_id: str) -> dict[str, Any] | None: ...
    def api_call_created(self, call_id: str, values: dict[str, Any]) -> None: ...
    def api_end_call(self, call_id: str) -> None: ...
    def api_dial(self, leg_id: str, values: dict[str, Any]) -> None: ...
    def api_hang_up(self, leg_id: str) -> None: ...
    def api_change_leg(self, leg_id: str, values: dict[str, Any]) -> None: ...
    def api_change_call(self, call_id: str, values: dict[str, Any]) -> None: ...
    def api_generate_keyframe(self, leg_id: str) -> None: ...


def live_calls(txn: Txn) -> LiveCalls | None:
    env: dict[str, Any] = getattr(txn, "env", None) or {}
    bridge: LiveCalls | None = env.get("callbridge")
    return bridge


def call_row(space: dict[str, Any] | None, name: str | None, call_type: str | None = None) -> dict[str, Any]:
    """The stored values of a new call (of ``space``, or ad hoc)."""
    values: dict[str, Any] = {
        "callCorrelator": str(uuid.uuid4()),
        "callType": call_type or ("coSpace" if space is not None else "adHoc"),
        "name": name,
    }
    if space is not None:
        values["coSpace"] = space["id"]
        values["tenant"] = space.get("tenant")
        values["name"] = name or space.get("name")
        values["ownerName"] = space.get("meetingScheduler")
    return values


def _check_recording_licence(txn: Txn, values: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Guide B.4 Table 6: without an active ``recording`` licence (it covers streaming too) a
    new recording or stream cannot start; one already running is not stopped."""
    from moot.api.objects.licensing import licensing_state
    from moot.licensing.feature import Feature

    for name in ("recording", "streaming"):
        starting = values.get(name) is True and not (old is not None and old.get(name))
        if starting and not licensing_state(txn).allows(Feature.RECORDING):
            raise ApiFailure("recordingNotLicensed", status=400, parameter=name)


class CallHooks(Hooks):
    def prepare(self, txn: Txn, otype: ObjectType, values: dict[str, Any], old: dict[str, Any] | None, actions: dict[str, Any]) -> None:
        _check_recording_licence(txn, values, old)
        if old is not None:
            bridge = live_calls(txn)
            if bridge is not None:
                bridge.api_change_call(old["id"], values)
            return
        space_id = values.get("coSpace")
        space = txn.get(COSPACE, space_id) if space_id else None
        row = call_row(space, values.get("name"))
        values.update({k: v for k, v in row.items() if k != "coSpace"})

    def created(self, txn: Txn, otype: ObjectType, oid: str, values: dict[str, Any]) -> None:
        bridge = live_calls(txn)
        if bridge is not None:
            bridge.api_call_created(oid, values)

    def computed(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
        bridge = live_calls(txn)
        status = bridge.call_status(obj["id"]) if bridge is not None else None
        return status or {}

    def before_delete(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> None:
        # Ending a call ends its legs and participants.
        for child in (CALL_LEG, PARTICIPANT):
            _, rows = txn.list(child, None, [Cond("eq", "call", obj["id"])], 0, SCAN_LIMIT)
            for row in rows:
                txn.delete(child, row["id"])
        bridge = live_calls(txn)
        if bridge is not None:
            bridge.api_end_call(obj["id"])


CALL = ObjectType(
    name="call",
    collection="calls",
    fields=(
        Field("name", Text(max_length=200), listed=True, searchable=True),
        Field("coSpace", ref("coSpace"), create_only=True, listed=True),
        Field("callCorrelator", STRING, access=READ_ONLY, listed=True),
        Field("callType", choice("coSpace", "forwarding", "adHoc", "lyncConferencing"), access=READ_ONLY),
        Field("tenant", ref("tenant"), access=READ_ONLY, listed=True),
        Field("ownerName", STRING, access=READ_ONLY),
        Field("durationSeconds", NUMBER, access=READ_ONLY),
        Field("numCallLegs", NUMBER, access=READ_ONLY),
        Field("maxCallLegs", NUMBER, access=READ_ONLY),
        Field("numParticipantsLocal", NUMBER, access=READ_ONLY),
        Field("numParticipantsRemote", NUMBER, access=READ_ONLY),
        Field("numDistributedInstances", NUMBER, access=READ_ONLY),
        Field("presenterCallLeg", ref("callLeg"), access=READ_ONLY),
        Field("locked", BOOL),
        Field("recording", BOOL),
        Field("streaming", BOOL),
        Field("allowAllMuteSelf", BOOL),
        Field("allowAllPresentationContribution", BOOL, default=False),
        Field("joinAudioMuteOverride", BOOL),
        Field("messageText", Text(max_length=1024)),
        Field("messagePosition", choice("top", "middle", "bottom")),
        Field("messageDuration", Text(max_length=12, pattern=r"[0-9]+|permanent")),
        Field("messageTimeRemaining", NUMBER, access=READ_ONLY),
        Field("activeWhenEmpty", BOOL, default=True),
        Field("endpointRecording", BOOL, access=READ_ONLY),
        Field("lyncAudienceMute", BOOL, access=READ_ONLY),
        Field("panePlacementHighestImportance", NUMBER),
        Field("panePlacementSelfPaneMode", PANE_PLACEMENT_SELF),
        Field("defaultLayout", LAYOUTS),
    ),
    filters=(Filter("coSpaceFilter", FilterOp.EQUALS, "coSpace"), TENANT_FILTER),
    hooks=CallHooks(),
    summary="An active meeting: a space's instantiation or an ad hoc call.",
)

#: What a new leg or participant is told on creation (POST only, not shown afterwards).
DIAL_OUT = (
    Field("remoteParty", Text(max_length=512, pattern=r"\S+"), required=True, create_only=True, listed=True,
          searchable=True),
    Field("call", ref("call"), required=True, create_only=True, listed=True),
    Field("bandwidth", NUMBER, create_only=True, access=WRITE_ONLY),
    Field("confirmation", BOOL, create_only=True, access=WRITE_ONLY),
    Field("ownerId", Text(max_length=200)),
    Field("chosenLayout", LAYOUTS),
    Field("callLegProfile", ref("callLegProfile")),
    Field("dtmfSequence", DTMF_SEQUENCE),
)


def _generate_keyframe(txn: Txn, leg: dict[str, Any]) -> None:
    """``POST /callLegs/<id>/generateKeyframe``: the leg is sent a keyframe now."""
    bridge = live_calls(txn)
    if bridge is None or bridge.leg_status(leg["id"]) is None:
        raise ApiFailure("callLegDoesNotExist", status=400)
    bridge.api_generate_keyframe(leg["id"])


class LegHooks(Hooks):
    def prepare(self, txn: Txn, otype: ObjectType, values: dict[str, Any], old: dict[str, Any] | None, actions: dict[str, Any]) -> None:
        if old is None:
            call = txn.get(CALL, values["call"])
            values["tenant"] = call.get("tenant") if call else None
            values["direction"] = "outgoing"
            values["type"] = "sip"
            return
        bridge = live_calls(txn)
        if bridge is not None:
            bridge.api_change_leg(old["id"], values)

    def created(self, txn: Txn, otype: ObjectType, oid: str, values: dict[str, Any]) -> None:
        bridge = live_calls(txn)
        if bridge is not None:
            bridge.api_dial(oid, {**values, "kind": otype.name})

    def operations(self) -> dict[str, Operation]:
        return {"generateKeyframe": _generate_keyframe}

    def computed(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
        bridge = live_calls(txn)
        status = bridge.leg_status(obj["id"]) if bridge is not None and otype is CALL_LEG else None
        return status or {}

    def before_delete(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> None:
        bridge = live_calls(txn)
        if bridge is None:
            return
        if otype is CALL_LEG:
            bridge.api_hang_up(obj["id"])
        else:
            _, rows = txn.list(CALL_LEG, None, [Cond("eq", "participant", obj["id"])], 0, SCAN_LIMIT)
            for row in rows:
                bridge.api_hang_up(row["id"])
                txn.delete(CALL_LEG, row["id"])


CALL_LEG = ObjectType(
    name="callLeg",
    collection="callLegs",
    fields=(
        Field("name", Text(max_length=200), access=READ_ONLY, listed=True, searchable=True),
        *DIAL_OUT,
        Field("originalRemoteParty", STRING, access=READ_ONLY),
        Field("localAddress", STRING, access=READ_ONLY),
        Field("tenant", ref("tenant"), access=READ_ONLY, listed=True),
        Field("participant", ref("participant"), access=READ_ONLY),
        Field("type", choice("sip", "acano"), access=READ_ONLY),
        Field("direction", choice("incoming", "outgoing"), access=READ_ONLY),
        *LEG_SETTINGS,
        *LEG_ONLY_SETTINGS,
        Field("status", LIVE, access=READ_ONLY),
    ),
    filters=(SEARCH, Filter("participantFilter", FilterOp.EQUALS, "participant"), TENANT_FILTER),
    hooks=LegHooks(),
    scoped_under=(("call", "call"),),
    summary="One connection to a remote party within a call.",
)

PARTICIPANT = ObjectType(
    name="participant",
    collection="participants",
    fields=(
        Field("name", Text(max_length=200), access=READ_ONLY, listed=True, searchable=True),
        *DIAL_OUT,
        Field("tenant", ref("tenant"), access=READ_ONLY, listed=True),
        Field("callBridge", ref("callBridge"), listed=True),
        Field("callBridgeGroup", ref("callBridgeGroup")),
        Field("uri", STRING, access=READ_ONLY, searchable=True),
        Field("originalUri", STRING, access=READ_ONLY),
        Field("userJid", STRING, access=READ_ONLY),
        Field("isActivator", BOOL, access=READ_ONLY),
        Field("numCallLegs", NUMBER, access=READ_ONLY),
        Field("importance", NUMBER),
        Field("deactivated", BOOL),
        *LEG_SETTINGS,
        *LEG_ONLY_SETTINGS,
    ),
    filters=(SEARCH, TENANT_FILTER, Filter("callBridgeFilter", FilterOp.EQUALS, "callBridge")),
    hooks=LegHooks(),
    scoped_under=(("call", "call"),),
    summary="A person or system in a call (one or more call legs).",
)

TYPES = (CALL, CALL_LEG, PARTICIPANT)
