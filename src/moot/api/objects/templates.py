"""Space templates and their access method templates (instantiated into spaces later)."""

from __future__ import annotations

from typing import Any

from moot.api.hooks import Hooks
from moot.api.model import (
    BOOL,
    CALL_LEG_PROFILE_FILTER,
    NUMBER,
    SEARCH,
    Access,
    Field,
    ObjectType,
    Text,
    ref,
)
from moot.db.apistore import Txn

NAME = Text(max_length=200)
#: Letters, digits, '.', '-', '_' and exactly one '$' (replaced when a space is made).
URI_GENERATOR = Text(max_length=254, pattern=r"[A-Za-z0-9._-]*\$[A-Za-z0-9._-]*")


class CoSpaceTemplateHooks(Hooks):
    def computed(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
        return {"numAccessMethodTemplates": txn.count(ACCESS_METHOD_TEMPLATE, obj["id"])}


COSPACE_TEMPLATE = ObjectType(
    name="coSpaceTemplate",
    collection="coSpaceTemplates",
    fields=(
        Field("name", NAME, listed=True, searchable=True),
        Field("description", Text(max_length=1024), searchable=True),
        Field("callProfile", ref("callProfile"), listed=True),
        Field("callLegProfile", ref("callLegProfile"), listed=True),
        Field("dialInSecurityProfile", ref("dialInSecurityProfile"), listed=True),
        Field("numAccessMethodTemplates", NUMBER, access=Access.READ_ONLY),
    ),
    filters=(SEARCH,),
    hooks=CoSpaceTemplateHooks(),
    summary="A pattern from which users create spaces.",
)

ACCESS_METHOD_TEMPLATE = ObjectType(
    name="accessMethodTemplate",
    collection="accessMethodTemplates",
    parent="coSpaceTemplate",
    fields=(
        Field("name", NAME, listed=True, searchable=True),
        Field("uriGenerator", URI_GENERATOR, listed=True, searchable=True),
        Field("callLegProfile", ref("callLegProfile"), listed=True),
        Field("generateUniqueCallId", BOOL, default=False, listed=True),
        Field("dialInSecurityProfile", ref("dialInSecurityProfile"), listed=True),
    ),
    filters=(SEARCH, CALL_LEG_PROFILE_FILTER),
    not_found="coSpaceAccessMethodTemplateDoesNotExist",
    summary="An access method every space made from the template gets.",
)

TYPES = (COSPACE_TEMPLATE, ACCESS_METHOD_TEMPLATE)
