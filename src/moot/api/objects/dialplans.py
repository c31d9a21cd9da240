"""Dial plans: outbound, inbound and forwarding rules, and dial transforms."""

from __future__ import annotations

from moot.api.model import (
    BOOL,
    DOMAIN,
    NUMBER,
    SEARCH,
    TENANT_FILTER,
    Field,
    ObjectType,
    Text,
    choice,
    ref,
)

#: A host name, domain or address without wildcards (inbound rules need a complete domain).
HOST = Text(max_length=253, pattern=r"[A-Za-z0-9_.:\[\]-]+")
RULE_FILTERS = (SEARCH, TENANT_FILTER)

OUTBOUND_DIAL_PLAN_RULE = ObjectType(
    name="outboundDialPlanRule",
    collection="outboundDialPlanRules",
    fields=(
        Field("domain", DOMAIN, required=True, listed=True, searchable=True),
        Field("priority", NUMBER, default=0, listed=True),
        Field("localContactDomain", HOST),
        Field("localFromDomain", HOST),
        Field("sipProxy", HOST, searchable=True),
        Field("trunkType", choice("sip", "lync", "avaya"), default="sip"),
        Field("failureAction", choice("stop", "continue"), default="stop"),
        Field("sipControlEncryption", choice("auto", "encrypted", "unencrypted"), default="auto"),
        Field("scope", choice("global", "callBridge", "callBridgeGroup"), default="global"),
        Field("callBridge", ref("callBridge")),
        Field("callBridgeGroup", ref("callBridgeGroup")),
        Field("tenant", ref("tenant"), listed=True),
        Field("callRouting", choice("default", "traversal"), default="default"),
    ),
    filters=RULE_FILTERS,
    summary="Where calls to a domain are sent: proxy, trunk type and encryption.",
)

INBOUND_DIAL_PLAN_RULE = ObjectType(
    name="inboundDialPlanRule",
    collection="inboundDialPlanRules",
    fields=(
        Field("domain", HOST, required=True, listed=True, searchable=True),
        Field("priority", NUMBER, default=0, listed=True),
        Field("resolveToUsers", BOOL, default=True),  # removed in API 3.0; kept for older scripts
        Field("resolveTocoSpaces", BOOL, default=True),
        Field("resolveToIvrs", BOOL, default=True),
        Field("resolveToLyncConferences", BOOL, default=False),
        Field("resolveToLyncSimplejoin", BOOL, default=False),
        Field("tenant", ref("tenant"), listed=True),
    ),
    filters=RULE_FILTERS,
    summary="A domain this server answers calls for, and what such calls may reach.",
)

FORWARDING_DIAL_PLAN_RULE = ObjectType(
    name="forwardingDialPlanRule",
    collection="forwardingDialPlanRules",
    fields=(
        Field("matchPattern", DOMAIN, required=True, listed=True, searchable=True),
        Field("destinationDomain", HOST, searchable=True),
        Field("action", choice("forward", "reject")),
        Field("callerIdMode", choice("regenerate", "preserve"), default="regenerate"),
        Field("priority", NUMBER, default=0, listed=True),
        Field("tenant", ref("tenant"), listed=True),
        Field("uriParameters", choice("discard", "forward"), default="discard"),
    ),
    filters=RULE_FILTERS,
    summary="What happens to calls for domains no inbound rule matches: forward or reject.",
)

DIAL_TRANSFORM = ObjectType(
    name="dialTransform",
    collection="dialTransforms",
    fields=(
        Field("type", choice("raw", "strip", "phone"), listed=True),
        Field("match", Text(max_length=1024), searchable=True),
        Field("transform", Text(max_length=1024), searchable=True),
        Field("priority", NUMBER, default=0),
        Field("action", choice("accept", "acceptPhone", "deny")),
    ),
    filters=(SEARCH,),
    summary="Rewrites dialled strings before the outbound rules are applied.",
)

TYPES = (OUTBOUND_DIAL_PLAN_RULE, INBOUND_DIAL_PLAN_RULE, FORWARDING_DIAL_PLAN_RULE, DIAL_TRANSFORM)
