"""How API objects are declared: once, as data, interpreted by the generic engine.

An :class:`ObjectType` names its collection path, its parent (for nested
collections such as ``/coSpaces/<id>/accessMethods``), its fields and its
list filters. From that declaration the engine derives GET (list and one),
POST, PUT and DELETE, the XML and JSON encodings, the SQL table, the OpenAPI
document and the API explorer's forms.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moot.media.video.layout import LAYOUTS as LAYOUT_NAMES

if TYPE_CHECKING:
    from moot.api.hooks import Hooks


class ValueError_(ValueError):
    """A form value does not fit its field: becomes ``parameterError ... error="invalidValue"``."""

    def __init__(self, error: str = "invalidValue") -> None:
        super().__init__(error)
        self.error = error


# --- value kinds ---------------------------------------------------------------


class Kind:
    """How a field's value is parsed from a form, stored, and shown."""

    #: SQL storage: "text", "int", "float" or "bool".
    storage = "text"
    #: JSON-schema type for the OpenAPI document.
    json_type = "string"

    def parse(self, raw: str) -> Any:
        return raw

    def show(self, value: Any) -> str:
        return str(value)

    def schema(self) -> dict[str, Any]:
        return {"type": self.json_type}


@dataclass(frozen=True)
class Text(Kind):
    max_length: int = 256
    lower: bool = False
    pattern: str | None = None

    def parse(self, raw: str) -> Any:
        if len(raw) > self.max_length:
            raise ValueError_("valueTooLong")
        if "\x00" in raw:
            raise ValueError_()
        if self.pattern is not None and raw and not re.fullmatch(self.pattern, raw):
            raise ValueError_()
        return raw.lower() if self.lower else raw

    def schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.pattern:
            s["pattern"] = f"^(?:{self.pattern})?$"
        return s


#: The user part of a SIP URI (before any '@'): stored lower-case.
URI_USER_PART = Text(max_length=254, lower=True, pattern=r"[^\s@<>\"]+")
#: A URL (streamUrl, cdr receiver uri, ...).
URL = Text(max_length=1024, pattern=r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
#: A numeric call ID.
CALL_ID = Text(max_length=30, pattern=r"[0-9]+")
#: A passcode (digits).
PASSCODE = Text(max_length=32, pattern=r"[0-9]*")
#: A domain name, possibly wildcarded ("*.com").
DOMAIN = Text(max_length=253, pattern=r"(\*\.?)?[A-Za-z0-9_.-]*")
STRING = Text()
LONG_STRING = Text(max_length=4096)


@dataclass(frozen=True)
class Live(Kind):
    """A nested element computed from the running system (a call leg's ``status``):
    never stored (its column stays empty), shown as an object."""

    json_type = "object"

    def parse(self, raw: str) -> Any:
        raise ValueError_()


LIVE = Live()


@dataclass(frozen=True)
class Ref(Kind):
    """The id of another object (a GUID); the engine checks that it exists."""

    target: str = ""

    def parse(self, raw: str) -> Any:
        if not GUID.fullmatch(raw):
            raise ValueError_()
        return raw.lower()

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "uuid"}


GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Number(Kind):
    minimum: int = 0
    maximum: int = 2_147_483_647
    storage = "int"
    json_type = "integer"

    def parse(self, raw: str) -> Any:
        if not re.fullmatch(r"-?[0-9]{1,12}", raw):
            raise ValueError_()
        value = int(raw)
        if not self.minimum <= value <= self.maximum:
            raise ValueError_()
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True)
class Decimal(Kind):
    """A non-negative number with a fraction (weighted licence counts: 1/6 per light call),
    shown with at most three decimals (``2.167``, ``3``)."""

    storage = "float"
    json_type = "number"

    def parse(self, raw: str) -> Any:
        if not re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,6})?", raw):
            raise ValueError_()
        return float(raw)

    def show(self, value: Any) -> str:
        return f"{float(value):.3f}".rstrip("0").rstrip(".")

    def schema(self) -> dict[str, Any]:
        return {"type": "number", "minimum": 0}


@dataclass(frozen=True)
class Boolean(Kind):
    storage = "bool"
    json_type = "boolean"

    def parse(self, raw: str) -> Any:
        lowered = raw.lower()
        if lowered not in ("true", "false"):
            raise ValueError_()
        return lowered == "true"

    def show(self, value: Any) -> str:
        return "true" if value else "false"


@dataclass(frozen=True)
class Choice(Kind):
    values: tuple[str, ...] = ()

    def parse(self, raw: str) -> Any:
        if raw in self.values:
            return raw
        # Clients are not always careful about case; the canonical spelling is stored.
        for v in self.values:
            if v.lower() == raw.lower():
                return v
        raise ValueError_()

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.values)}


def choice(*values: str) -> Choice:
    return Choice(values=values)


BOOL = Boolean()
NUMBER = Number()
DECIMAL = Decimal()
#: The screen layouts (the compositor's, declared once in :mod:`moot.media.video.layout`).
LAYOUTS = choice(*LAYOUT_NAMES)


def ref(target: str) -> Ref:
    return Ref(target=target)


# --- fields ------------------------------------------------------------------------


class Access(enum.Enum):
    #: Set by POST/PUT, stored, shown by GET.
    READ_WRITE = "rw"
    #: Shown by GET, set only by the server (e.g. ``autoGenerated``, ``numAccessMethods``).
    READ_ONLY = "ro"
    #: Accepted by POST/PUT, never stored or shown (``regenerateSecret``, ``requireCallId``).
    ACTION = "action"
    #: Stored and settable, never shown (credentials such as ldapServers ``password``).
    WRITE_ONLY = "wo"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind = STRING
    #: Stored when absent on create; None means "unset" (not shown).
    default: Any = None
    required: bool = False
    access: Access = Access.READ_WRITE
    #: Shown in the elements of a collection list (GET on the collection).
    listed: bool = False
    #: Matched by the ``filter=`` substring search.
    searchable: bool = False
    #: A namespace in which values must be unique across objects ("uri", "callId"),
    #: with the failure reason for a clash.
    unique: str | None = None
    duplicate_reason: str | None = None
    #: Only on create (POST): e.g. a parent reference fixed at creation.
    create_only: bool = False
    #: Rendered in XML as an attribute of the object's element, not a child
    #: (``<database clustered="disabled"/>``).
    attribute: bool = False

    @property
    def stored(self) -> bool:
        return self.access is not Access.ACTION

    @property
    def shown(self) -> bool:
        return self.access in (Access.READ_WRITE, Access.READ_ONLY)

    @property
    def writable(self) -> bool:
        return self.access in (Access.READ_WRITE, Access.ACTION, Access.WRITE_ONLY)

    @property
    def ref(self) -> str | None:
        return self.kind.target if isinstance(self.kind, Ref) else None


# --- filters -----------------------------------------------------------------------


class FilterOp(enum.Enum):
    #: ``filter=``: substring match over the searchable fields.
    SEARCH = "search"
    #: equality with a field (``tenantFilter=<id>`` matches ``tenant``).
    EQUALS = "equals"
    #: substring match on one field (``emailFilter``).
    CONTAINS = "contains"
    #: ``usageFilter=unreferenced|referenced`` on profiles.
    USAGE = "usage"
    #: a lower or upper bound on one field (``endsAfter=<time>`` matches ``lastEnd >= time``).
    AT_LEAST = "atLeast"
    AT_MOST = "atMost"


@dataclass(frozen=True)
class Filter:
    param: str
    op: FilterOp
    field: str | None = None


SEARCH = Filter("filter", FilterOp.SEARCH)
TENANT_FILTER = Filter("tenantFilter", FilterOp.EQUALS, "tenant")
CALL_LEG_PROFILE_FILTER = Filter("callLegProfileFilter", FilterOp.EQUALS, "callLegProfile")
USAGE_FILTER = Filter("usageFilter", FilterOp.USAGE)


# --- object types ------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectType:
    #: The element name of one object (``coSpace``).
    name: str
    #: The collection's path segment (``coSpaces``); nested under the parent's path.
    collection: str
    fields: tuple[Field, ...]
    #: The element name of the parent object (``coSpace`` for ``accessMethods``).
    parent: str | None = None
    filters: tuple[Filter, ...] = (SEARCH,)
    #: Failure reason when an id does not exist (default ``<name>DoesNotExist``).
    not_found: str | None = None
    creatable: bool = True
    updatable: bool = True
    deletable: bool = True
    #: DELETE on the collection removes every object (coSpaces).
    delete_collection: bool = False
    #: One object at a fixed path (``system/profiles``): GET and PUT, no id.
    singleton: bool = False
    #: A query at a fixed path (``accessQuery``): POST runs ``Hooks.query`` with the
    #: parameters (ACTION fields) and answers with its result; nothing is stored.
    query: bool = False
    #: Extra behaviour (generated call IDs, secrets, computed fields).
    hooks: Hooks | None = None
    #: Ordering of lists, by field names (default: creation order).
    order_by: tuple[str, ...] = ()
    #: Where the declaration comes from (a note for the OpenAPI document).
    summary: str = ""
    #: Fields that are referenced by other objects' Ref fields count as "usage".
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: Also reachable below another object's path, scoped by a reference field:
    #: ``(("call", "call"),)`` serves ``/calls/<id>/callLegs`` as ``/callLegs`` with
    #: ``call=<id>`` (lists filtered by it, creations given it).
    scoped_under: tuple[tuple[str, str], ...] = ()

    @property
    def failure_not_found(self) -> str:
        return self.not_found or f"{self.name}DoesNotExist"

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name.lower() == name.lower():
                return f
        return None

    @property
    def listed_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.listed and f.shown)

    @property
    def stored_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.stored)

    @property
    def searchable_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.searchable)


def read_only_view(name: str, collection: str, fields: tuple[Field, ...], hooks: Hooks, summary: str) -> ObjectType:
    """A singleton computed from the running system (``system/status``): GET only."""
    return ObjectType(name=name, collection=collection, fields=fields, filters=(), singleton=True,
                      creatable=False, updatable=False, deletable=False, hooks=hooks, summary=summary)


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` with strict UTF-8; ValueError when malformed."""
    text = body.decode("utf-8")
    return urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))


Validator = Callable[[dict[str, Any]], str | None]
