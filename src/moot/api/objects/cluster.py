"""The deployment's components: call bridges and their groups, web bridges, TURN servers."""

from __future__ import annotations

from moot.api.model import (
    BOOL,
    NUMBER,
    SEARCH,
    TENANT_FILTER,
    URL,
    Access,
    Field,
    Number,
    ObjectType,
    Text,
    choice,
    ref,
)

NAME = Text(max_length=200)
ADDRESS = Text(max_length=1024, pattern=r"\S+")
PORT = Number(minimum=1, maximum=65535)

CALL_BRIDGE_GROUP = ObjectType(
    name="callBridgeGroup",
    collection="callBridgeGroups",
    fields=(
        Field("name", NAME, listed=True),
        Field("loadBalancingEnabled", BOOL, default=False),
        Field("loadBalanceLyncCalls", BOOL, default=False),
        Field("loadBalanceOutgoingCalls", BOOL, default=False),
        Field("loadBalanceUserCalls", BOOL, default=True),
        Field("loadBalanceIndirectCalls", BOOL, default=False),
    ),
    filters=(),
    summary="Call bridges that share load between them.",
)

CALL_BRIDGE = ObjectType(
    name="callBridge",
    collection="callBridges",
    fields=(
        Field("name", NAME, listed=True, unique="callBridgeName", duplicate_reason="duplicateCallBridgeName"),
        Field("address", ADDRESS),
        Field("sipDomain", Text(max_length=253)),
        Field("callBridgeGroup", ref("callBridgeGroup")),
    ),
    filters=(),
    summary="A call bridge of the cluster and how its peers reach it.",
)

WEB_BRIDGE = ObjectType(
    name="webBridge",
    collection="webBridges",
    fields=(
        Field("url", URL, listed=True, searchable=True),
        Field("tenant", ref("tenant")),
        Field("tenantGroup", ref("tenantGroup")),
        Field("callBridge", ref("callBridge")),
        Field("callBridgeGroup", ref("callBridgeGroup")),
        Field("webBridgeProfile", ref("webBridgeProfile")),
        # The following were removed in API 3.0 (moved to webBridgeProfiles); kept for older scripts.
        Field("resourceArchive", URL),
        Field("idEntryMode", choice("disabled", "secure", "legacy"), default="secure"),
        Field("allowWeblinkAccess", BOOL, default=True),
        Field("showSignIn", BOOL, default=True),
        Field("resolveCoSpaceCallIds", BOOL, default=True),
        Field("resolveLyncConferenceIds", BOOL, default=False),
    ),
    filters=(SEARCH, TENANT_FILTER),
    summary="A web bridge (web app server) and what call bridge it serves.",
)

TURN_SERVER = ObjectType(
    name="turnServer",
    collection="turnServers",
    fields=(
        Field("serverAddress", ADDRESS, listed=True, searchable=True),
        Field("clientAddress", ADDRESS, listed=True, searchable=True),
        Field("username", Text(max_length=256)),
        Field("password", Text(max_length=256), access=Access.WRITE_ONLY),
        Field("type", choice("acano", "cms", "expressway", "lyncEdge", "standard"), default="standard"),
        Field("numRegistrations", NUMBER),
        Field("tcpPortNumberOverride", PORT),
        Field("callBridge", ref("callBridge")),
        Field("callBridgeGroup", ref("callBridgeGroup")),
    ),
    filters=(SEARCH,),
    summary="A TURN server for media traversal, for call bridges and web app clients.",
)

TYPES = (CALL_BRIDGE_GROUP, CALL_BRIDGE, WEB_BRIDGE, TURN_SERVER)
