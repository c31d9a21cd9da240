"""Tenants (customers sharing one deployment) and tenant groups."""

from __future__ import annotations

from moot.api.model import (
    CALL_LEG_PROFILE_FILTER,
    NUMBER,
    SEARCH,
    Field,
    Filter,
    FilterOp,
    ObjectType,
    Text,
    ref,
)

TENANT_GROUP = ObjectType(
    name="tenantGroup",
    collection="tenantGroups",
    fields=(),
    filters=(),
    summary="A set of tenants whose spaces share one call ID space.",
)

TENANT = ObjectType(
    name="tenant",
    collection="tenants",
    fields=(
        Field("name", Text(max_length=200), required=True, listed=True, searchable=True),
        Field("tenantGroup", ref("tenantGroup"), listed=True),
        Field("callLegProfile", ref("callLegProfile")),
        Field("callProfile", ref("callProfile")),
        Field("dtmfProfile", ref("dtmfProfile")),
        Field("ivrBrandingProfile", ref("ivrBrandingProfile")),
        Field("callBrandingProfile", ref("callBrandingProfile")),
        Field("participantLimit", NUMBER),
        Field("userProfile", ref("userProfile")),
        Field("dialInSecurityProfile", ref("dialInSecurityProfile")),
        Field("webBridgeProfile", ref("webBridgeProfile")),
    ),
    filters=(
        SEARCH,
        CALL_LEG_PROFILE_FILTER,
        # The reference spells this parameter with a double "l" in one place; accept both.
        Filter("callLegProfileFillter", FilterOp.EQUALS, "callLegProfile"),
    ),
    summary="A customer: its spaces, users and calls, with its own profiles and limits.",
)

TYPES = (TENANT_GROUP, TENANT)
