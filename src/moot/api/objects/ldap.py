"""LDAP: directory servers, how entries map to users and spaces, what is imported, where to search."""

from __future__ import annotations

from moot.api.model import (
    BOOL,
    NUMBER,
    SEARCH,
    TENANT_FILTER,
    Access,
    Field,
    Number,
    ObjectType,
    Text,
    ref,
)

TEXT = Text(max_length=1024)
ATTRIBUTE = Text(max_length=256)

LDAP_SERVER = ObjectType(
    name="ldapServer",
    collection="ldapServers",
    fields=(
        Field("address", Text(max_length=1024, pattern=r"\S+"), required=True, listed=True, searchable=True),
        Field("name", Text(max_length=200), searchable=True),
        Field("portNumber", Number(minimum=1, maximum=65535), required=True, listed=True),
        Field("username", TEXT, listed=True, searchable=True),
        Field("password", TEXT, access=Access.WRITE_ONLY),
        Field("secure", BOOL, required=True, listed=True),
        Field("usePagedResults", BOOL),
    ),
    filters=(SEARCH,),
    summary="A directory server users are imported from (the password is never shown).",
)

MAPPINGS = (
    "jidMapping",
    "nameMapping",
    "cdrTagMapping",
    "authenticationIdMapping",
    "coSpaceUriMapping",
    "coSpaceSecondaryUriMapping",
    "coSpaceNameMapping",
    "coSpaceCallIdMapping",
)

LDAP_MAPPING = ObjectType(
    name="ldapMapping",
    collection="ldapMappings",
    fields=tuple(
        Field(m, TEXT, listed=m in ("jidMapping", "nameMapping"), searchable=m in ("jidMapping", "nameMapping"))
        for m in MAPPINGS
    ),
    filters=(SEARCH,),
    summary="Templates that turn directory entries into users and their personal spaces.",
)

LDAP_SOURCE = ObjectType(
    name="ldapSource",
    collection="ldapSources",
    fields=(
        Field("server", ref("ldapServer"), required=True, listed=True),
        Field("mapping", ref("ldapMapping"), required=True, listed=True),
        Field("baseDn", TEXT, required=True, listed=True, searchable=True),
        Field("filter", TEXT, listed=True, searchable=True),
        Field("tenant", ref("tenant"), listed=True),
        Field("userProfile", ref("userProfile")),
        Field("nonMemberAccess", BOOL, default=True, listed=True),
    ),
    filters=(SEARCH, TENANT_FILTER),
    summary="One import: which server, which mapping, which part of the tree, for which tenant.",
)

DIRECTORY_SEARCH_LOCATION = ObjectType(
    name="directorySearchLocation",
    collection="directorySearchLocations",
    fields=(
        Field("ldapServer", ref("ldapServer"), required=True, listed=True),
        Field("tenant", ref("tenant"), listed=True),
        Field("baseDn", TEXT, listed=True),
        Field("filterFormat", TEXT, listed=True),
        Field("label", Text(max_length=200), listed=True),
        Field("priority", NUMBER, default=0, listed=True),
        Field("firstName", ATTRIBUTE),
        Field("lastName", ATTRIBUTE),
        Field("displayName", ATTRIBUTE),
        Field("phone", ATTRIBUTE),
        Field("mobile", ATTRIBUTE),
        Field("email", ATTRIBUTE),
        Field("sip", ATTRIBUTE),
        Field("organisation", ATTRIBUTE),
    ),
    filters=(TENANT_FILTER,),
    summary="An extra directory web app users can search, and which LDAP attributes fill each result.",
)

TYPES = (LDAP_SERVER, LDAP_MAPPING, LDAP_SOURCE, DIRECTORY_SEARCH_LOCATION)
