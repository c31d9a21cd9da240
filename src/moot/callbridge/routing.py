"""Where an incoming call goes: the inbound and forwarding dial plans (guide 3.4).

An INVITE's Request-URI domain is matched against the ``inboundDialPlanRules``
(highest priority first). A matching rule resolves the user part to a space (its
``uri`` or ``secondaryUri``, or one of its access methods' ``uri``) or to an IVR,
as the rule's ``resolveTo...`` flags allow, within the rule's tenant if it has one.
A call that no inbound rule takes goes to the ``forwardingDialPlanRules``
(``matchPattern`` with ``*`` wildcards): ``forward`` re-targets it to
``destinationDomain``, ``reject`` refuses it. Anything else is not found.

Runs in a worker thread with a read transaction of the API store.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from moot.api.objects.common import CALL_ID_NAMESPACE, URI_NAMESPACE
from moot.api.objects.cospaces import ACCESS_METHOD, COSPACE
from moot.api.objects.dialplans import (
    FORWARDING_DIAL_PLAN_RULE as FORWARDING_RULE,
)
from moot.api.objects.dialplans import (
    INBOUND_DIAL_PLAN_RULE as INBOUND_RULE,
)
from moot.api.objects.dialplans import (
    OUTBOUND_DIAL_PLAN_RULE as OUTBOUND_RULE,
)
from moot.api.objects.ivrs import IVR
from moot.db.apistore import Txn

#: The most rules one routing decision reads (the product's own dial plans are small).
RULE_SCAN_LIMIT = 10_000


@dataclass(frozen=True)
class SpaceTarget:
    """Join this space's call (access method: the one dialled, if any)."""

    space: dict[str, Any]
    access_method: dict[str, Any] | None = None

    @property
    def passcode(self) -> str | None:
        if self.access_method is not None and self.access_method.get("passcode"):
            return str(self.access_method["passcode"])
        value = self.space.get("passcode")
        return str(value) if value else None


@dataclass(frozen=True)
class IvrTarget:
    ivr: dict[str, Any]


@dataclass(frozen=True)
class ForwardTarget:
    user: str
    domain: str
    rule: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    status: int
    reason: str


Target = SpaceTarget | IvrTarget | ForwardTarget | Rejected


def _rules(txn: Txn, otype: Any) -> list[dict[str, Any]]:
    columns = [f.name for f in otype.stored_fields]
    _, rules = txn.list(otype, None, [], 0, RULE_SCAN_LIMIT, columns)
    # Highest priority first; equal priorities in creation order.
    return sorted(rules, key=lambda r: -int(r.get("priority") or 0))


def domain_matches(pattern: str, domain: str) -> bool:
    """Case-insensitive; ``*`` matches any run of characters (forwarding patterns)."""
    return fnmatch.fnmatchcase(domain.lower(), pattern.lower())


def route_inbound(txn: Txn, user: str | None, domain: str) -> Target:
    """Resolve ``user@domain`` as the call bridge's inbound dial plan does."""
    domain = domain.lower().strip("[]")
    for rule in _rules(txn, INBOUND_RULE):
        if str(rule.get("domain") or "").lower() != domain:
            continue
        target = _resolve_local(txn, rule, user)
        if target is not None:
            return target
    for rule in _rules(txn, FORWARDING_RULE):
        if not domain_matches(str(rule.get("matchPattern") or ""), domain):
            continue
        if rule.get("action") == "reject":
            return Rejected(403, "Forbidden by forwarding dial plan")
        destination = rule.get("destinationDomain") or domain
        return ForwardTarget(user or "", str(destination), rule)
    return Rejected(404, "Not Found")


def _resolve_local(txn: Txn, rule: dict[str, Any], user: str | None) -> Target | None:
    if not user:
        return None
    owner = txn.owner_of(URI_NAMESPACE, user.lower())  # stored lower-case (URI_USER_PART)
    if owner is None:
        return None
    kind, oid = owner
    tenant = rule.get("tenant")
    if kind == COSPACE.name and rule.get("resolveTocoSpaces", True):
        space = txn.get(COSPACE, oid)
        if space is not None and (tenant is None or space.get("tenant") == tenant):
            return SpaceTarget(space)
    elif kind == ACCESS_METHOD.name and rule.get("resolveTocoSpaces", True):
        method = txn.get(ACCESS_METHOD, oid)
        space = txn.get(COSPACE, method["parent_id"]) if method and method.get("parent_id") else None
        if method is not None and space is not None and (tenant is None or space.get("tenant") == tenant):
            return SpaceTarget(space, method)
    elif kind == IVR.name and rule.get("resolveToIvrs", True):
        ivr = txn.get(IVR, oid)
        if ivr is not None and (tenant is None or ivr.get("tenant") == tenant):
            return IvrTarget(ivr)
    return None


@dataclass(frozen=True)
class OutboundRoute:
    """One way to try a dial-out: through ``proxy`` (host[:port]) or by DNS of ``domain``."""

    rule_id: str
    domain: str
    proxy: str | None
    encryption: str
    local_contact_domain: str | None
    local_from_domain: str | None
    continue_on_failure: bool


def outbound_routes(txn: Txn, domain: str) -> list[OutboundRoute]:
    """The ``outboundDialPlanRules`` that match ``domain``, in the order to try them.

    A rule's domain matches exactly or, written ``*.example.com``, any subdomain; an
    empty-looking wildcard ``*`` matches everything. Highest priority first.
    """
    routes = []
    for rule in _rules(txn, OUTBOUND_RULE):
        if not domain_matches(str(rule.get("domain") or ""), domain.lower()):
            continue
        if (rule.get("trunkType") or "sip") != "sip":
            continue
        routes.append(OutboundRoute(
            rule_id=rule["id"],
            domain=domain,
            proxy=rule.get("sipProxy") or None,
            encryption=rule.get("sipControlEncryption") or "auto",
            local_contact_domain=rule.get("localContactDomain") or None,
            local_from_domain=rule.get("localFromDomain") or None,
            continue_on_failure=rule.get("failureAction") == "continue",
        ))
    return routes


def space_of(txn: Txn, owner: tuple[str, str] | None) -> SpaceTarget | None:
    """The space (and access method) owning a unique value (a call ID, a URI)."""
    if owner is None:
        return None
    kind, oid = owner
    if kind == COSPACE.name:
        space = txn.get(COSPACE, oid)
        return SpaceTarget(space) if space else None
    if kind == ACCESS_METHOD.name:
        method = txn.get(ACCESS_METHOD, oid)
        space = txn.get(COSPACE, method["parent_id"]) if method and method.get("parent_id") else None
        return SpaceTarget(space, method) if space and method else None
    return None


def by_call_id(txn: Txn, digits: str) -> SpaceTarget | None:
    """The space a call ID (keyed in the IVR, or typed in the web app) names."""
    return space_of(txn, txn.owner_of(CALL_ID_NAMESPACE, digits))
