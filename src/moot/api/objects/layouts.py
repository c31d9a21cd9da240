"""Custom layout templates (the JSON template body arrives with the media work)."""

from __future__ import annotations

from moot.api.model import NUMBER, SEARCH, Access, Field, ObjectType, Text

LAYOUT_TEMPLATE = ObjectType(
    name="layoutTemplate",
    collection="layoutTemplates",
    fields=(
        Field("name", Text(max_length=200), listed=True, searchable=True),
        Field("templateSize", NUMBER, default=0, access=Access.READ_ONLY, listed=True),
    ),
    filters=(SEARCH,),
    summary="A named custom screen layout that profiles and legs can refer to.",
)

TYPES = (LAYOUT_TEMPLATE,)
