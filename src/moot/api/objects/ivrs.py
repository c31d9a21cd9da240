"""IVRs: numbers callers dial to type a space's call ID.

An IVR's ``uri`` shares the namespace of space and access method URIs; a
clash is refused with ``ivrUriConflict``.
"""

from __future__ import annotations

from moot.api.model import BOOL, SEARCH, TENANT_FILTER, URI_USER_PART, Field, ObjectType, ref
from moot.api.objects.common import URI_NAMESPACE

IVR = ObjectType(
    name="ivr",
    collection="ivrs",
    fields=(
        Field("uri", URI_USER_PART, required=True, listed=True, searchable=True, unique=URI_NAMESPACE,
              duplicate_reason="ivrUriConflict"),
        Field("tenant", ref("tenant"), listed=True),
        Field("tenantGroup", ref("tenantGroup")),
        Field("ivrBrandingProfile", ref("ivrBrandingProfile")),
        Field("resolveCoSpaceCallIds", BOOL, default=True),
        Field("resolveLyncConferenceIds", BOOL, default=False),
    ),
    filters=(SEARCH, TENANT_FILTER),
    summary="A dial-in number whose callers enter a call ID (and passcode) to join a space.",
)

TYPES = (IVR,)
