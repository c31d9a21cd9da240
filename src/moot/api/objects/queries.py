"""Queries answered by POST: ``accessQuery`` (how to reach a URI or call ID) and
``uriUsageQuery`` (what uses a URI). Nothing is stored; the answer is built from
the spaces, access methods, IVRs, users, inbound rules and web bridges.
"""

from __future__ import annotations

from typing import Any

from moot.api.hooks import Hooks
from moot.api.model import CALL_ID, URI_USER_PART, Access, Field, ObjectType, ref
from moot.api.objects.cluster import WEB_BRIDGE
from moot.api.objects.common import CALL_ID_NAMESPACE, URI_NAMESPACE
from moot.api.objects.cospaces import ACCESS_METHOD, COSPACE
from moot.api.objects.dialplans import INBOUND_DIAL_PLAN_RULE
from moot.api.objects.ivrs import IVR
from moot.api.objects.users import USER
from moot.db.apistore import Cond, Txn

PARAM = Access.ACTION
#: The most rules, bridges or users one query looks at.
SCAN_LIMIT = 10_000
OWNER_TYPES = {t.name: t for t in (COSPACE, ACCESS_METHOD, IVR)}

Pairs = list[tuple["Field | str", Any]]


def _owner(txn: Txn, namespace: str, value: str) -> tuple[str, dict[str, Any]] | None:
    owner = txn.owner_of(namespace, value)
    if owner is None or owner[0] not in OWNER_TYPES:
        return None
    obj = txn.get(OWNER_TYPES[owner[0]], owner[1])
    return None if obj is None else (owner[0], obj)


def _tenant_of(txn: Txn, type_name: str, obj: dict[str, Any]) -> str | None:
    if type_name == ACCESS_METHOD.name:
        space = txn.get(COSPACE, obj["parent_id"]) if obj.get("parent_id") else None
        return space.get("tenant") if space else None
    tenant: str | None = obj.get("tenant")
    return tenant


def _rows(txn: Txn, otype: ObjectType, columns: list[str], conds: list[Cond] | None = None) -> list[dict[str, Any]]:
    _, rows = txn.list(otype, None, conds or [], 0, SCAN_LIMIT, columns)
    return rows


def _domain(txn: Txn, tenant: str | None, resolves: str) -> str | None:
    """The domain of the highest-priority inbound rule that reaches such objects of this tenant."""
    best: tuple[int, str] | None = None
    for rule in _rows(txn, INBOUND_DIAL_PLAN_RULE, ["domain", "priority", "tenant"], [Cond("eq", resolves, True)]):
        if rule.get("tenant") not in (None, tenant):
            continue
        priority = int(rule.get("priority") or 0)
        if best is None or priority > best[0]:
            best = (priority, str(rule["domain"]))
    return None if best is None else best[1]


def _full_uri(user_part: str, domain: str | None) -> str:
    return f"{user_part}@{domain}" if domain else user_part


class AccessQueryHooks(Hooks):
    def query(self, txn: Txn, otype: ObjectType, params: dict[str, Any]) -> tuple[str, Pairs]:
        found: tuple[str, dict[str, Any]] | None = None
        if params.get("uri"):
            found = _owner(txn, URI_NAMESPACE, params["uri"])
        elif params.get("callId"):
            found = _owner(txn, CALL_ID_NAMESPACE, params["callId"])
        if found is None:
            return "accessQuery", []
        type_name, obj = found
        tenant = _tenant_of(txn, type_name, obj)
        if params.get("tenant") is not None and params["tenant"] != tenant:
            return "accessQuery", []
        pairs: Pairs = []
        if obj.get("uri"):
            resolves = "resolveToIvrs" if type_name == IVR.name else "resolveTocoSpaces"
            pairs.append(("uri", _full_uri(obj["uri"], _domain(txn, tenant, resolves))))
        call_id = obj.get("callId")
        if call_id:
            bridge = next(
                (b for b in _rows(txn, WEB_BRIDGE, ["url", "tenant"]) if b.get("url") and b.get("tenant") in (None, tenant)),
                None,
            )
            if bridge is not None:
                pairs.append(("webAddress", f"{str(bridge['url']).rstrip('/')}/meeting/{call_id}"))
            ivr = next(
                (i for i in _rows(txn, IVR, ["uri", "tenant"]) if i.get("tenant") in (None, tenant)),
                None,
            )
            if ivr is not None:
                pairs.append(("ivr", _full_uri(ivr["uri"], _domain(txn, tenant, "resolveToIvrs"))))
        return "accessQuery", pairs


ACCESS_QUERY = ObjectType(
    name="accessQuery",
    collection="accessQuery",
    fields=(
        Field("uri", URI_USER_PART, access=PARAM),
        Field("callId", CALL_ID, access=PARAM),
        Field("tenant", ref("tenant"), access=PARAM),
    ),
    filters=(),
    singleton=True,
    query=True,
    creatable=False,
    updatable=False,
    deletable=False,
    hooks=AccessQueryHooks(),
    summary="How a space URI or call ID can be reached: full URI, web address, IVR.",
)


class UriUsageQueryHooks(Hooks):
    def query(self, txn: Txn, otype: ObjectType, params: dict[str, Any]) -> tuple[str, Pairs]:
        uri: str = params["uri"]
        tenant = params.get("tenant")
        pairs: Pairs = []
        found = _owner(txn, URI_NAMESPACE, uri)
        if found is not None and _tenant_of(txn, *found) == tenant:
            type_name, obj = found
            if type_name == COSPACE.name:
                pairs.append(("coSpaceId", obj["id"]))
            elif type_name == ACCESS_METHOD.name:
                pairs.append(("coSpaceId", obj["parent_id"]))
                pairs.append(("accessMethodId", obj["id"]))
            else:
                pairs.append(("ivrId", obj["id"]))
        for user in _rows(txn, USER, ["userJid", "tenant"], [Cond("contains", "userJid", f"{uri}@")]):
            if str(user["userJid"]).lower().startswith(f"{uri}@") and user.get("tenant") == tenant:
                pairs.append(("userId", user["id"]))
        return "uriUsageQuery", pairs


URI_USAGE_QUERY = ObjectType(
    name="uriUsageQuery",
    collection="uriUsageQuery",
    fields=(
        Field("uri", URI_USER_PART, access=PARAM, required=True),
        Field("tenant", ref("tenant"), access=PARAM),
    ),
    filters=(),
    singleton=True,
    query=True,
    creatable=False,
    updatable=False,
    deletable=False,
    hooks=UriUsageQueryHooks(),
    summary="Which space, access method, IVR or user uses a URI (within a tenant, or none).",
)

TYPES = (ACCESS_QUERY, URI_USAGE_QUERY)
