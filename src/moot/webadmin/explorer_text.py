"""The API explorer's words: API failure reasons in plain language, field hints.

Every text is derived from the declarations (kinds, limits, reference targets),
so a new object type or field needs no new words here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from moot.api.engine import Catalog
from moot.api.errors import ApiFailure
from moot.api.model import (
    CALL_ID,
    DOMAIN,
    PASSCODE,
    URI_USER_PART,
    URL,
    Access,
    Boolean,
    Choice,
    Field,
    Number,
    ObjectType,
    Ref,
    Text,
)

#: Reasons whose plain words cannot be derived from their name.
REASONS = {
    "duplicateCoSpaceUri": "Another space, access method or IVR already uses this URI.",
    "duplicateCoSpaceId": "Another space or access method already uses this call ID.",
    "duplicateUserJid": "Another user already has this JID.",
    "duplicateCallBridgeName": "Another call bridge already has this name.",
    "ivrUriConflict": "A space or access method already uses this URI.",
    "tooManyCdrReceivers": "No more CDR receivers can be added: delete one first.",
    "invalidOperation": "This operation is not possible on this object.",
    "unrecognizedObject": "There is no such object type or object.",
    "databaseNotReady": "The database is not ready. Try again in a moment.",
}

#: ``parameterError error="..."`` in plain words (the field's limits are added where known).
PARAMETER_ERRORS = {
    "required": "This value is required.",
    "unrecognised": "This value cannot be set here.",
    "valueTooLong": "This value is too long.",
    "invalidValue": "This value is not valid.",
}


#: What the declared text patterns accept, in words.
PATTERNS = {
    CALL_ID.pattern: "Digits only",
    PASSCODE.pattern: "Digits only",
    URI_USER_PART.pattern: "The part before any @, without spaces",
    URL.pattern: "A URL such as https://host/path",
    DOMAIN.pattern: "A domain name, which may start with *.",
    r"[A-Za-z0-9_-]+": "Letters, digits, _ and -",
}


def words(camel: str) -> str:
    """``callLegProfile`` -> ``call leg profile``; ``coSpace`` -> ``space`` (the guide's name)."""
    if camel.lower() == "cospace":
        return "space"
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", camel).lower().replace("co space", "space")


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def raw_reason(failure: ApiFailure) -> str:
    """The reason as the API sends it: ``parameterError parameter="callId" error="invalidValue"``."""
    return " ".join([failure.reason, *(f'{k}="{v}"' for k, v in failure.attrs.items())])


def kind_hint(f: Field) -> str:
    """What a field accepts, in a few words."""
    kind = f.kind
    if isinstance(kind, Ref):
        return f"The id of a {words(kind.target)}."
    if isinstance(kind, Number):
        return f"A whole number from {kind.minimum:,} to {kind.maximum:,}."
    if isinstance(kind, Boolean):
        return "true or false."
    if isinstance(kind, Choice):
        return "One of: " + ", ".join(kind.values) + "."
    if isinstance(kind, Text):
        what = PATTERNS.get(kind.pattern, "Text") if kind.pattern else "Text"
        return f"{what}, at most {kind.max_length:,} characters."
    return ""


def field_hint(f: Field, creating: bool) -> str:
    parts: list[str] = []
    if f.access is Access.WRITE_ONLY:
        parts.append("Never shown." + ("" if creating else " Leave empty to keep it."))
    elif f.access is Access.ACTION and isinstance(f.kind, Boolean):
        return "Done once when you save; not stored."
    if not isinstance(f.kind, (Boolean, Choice)):
        parts.append(kind_hint(f))
    if f.required:
        parts.append("Required.")
    if f.default is not None and creating:
        parts.append(f"Default: {f.kind.show(f.default)}.")
    return " ".join(p for p in parts if p)


def parameter_text(error: str) -> str:
    return PARAMETER_ERRORS.get(error, sentence(words(error)) + ".")


def reason_text(reason: str) -> str:
    if reason in REASONS:
        return REASONS[reason]
    m = re.fullmatch(r"(\w+?)DoesNotExist", reason)
    if m:
        return f"There is no {words(m.group(1))} with this id."
    m = re.fullmatch(r"duplicate(\w+)", reason)
    if m:
        return f"Another object already uses this {words(m.group(1))}."
    return sentence(words(reason)) + "."


@dataclass
class Problem:
    """Why the API refused a request: a banner, and texts next to the fields concerned."""

    summary: str
    raw: str
    fields: dict[str, str] = field(default_factory=dict)


def explain(
    failure: ApiFailure, otype: ObjectType, catalog: Catalog, given: Iterable[str] = ()
) -> Problem:
    """``failure`` in plain words; ``given`` names the fields the request set."""
    given = set(given)
    raw = raw_reason(failure)
    if failure.reason == "parameterError":
        name = failure.attrs.get("parameter", "")
        f = otype.field(name)
        text = parameter_text(failure.attrs.get("error", "invalidValue"))
        if f is not None and f.writable:
            # The field's hint, right below the message, says what it accepts.
            return Problem(f"Check the value of {f.name}.", raw, {f.name: text})
        hint = " " + kind_hint(f) if f is not None else ""
        return Problem(f"{name}: {text}{hint}" if name else text, raw)
    text = reason_text(failure.reason)
    # A missing reference names its field when only one given field refers to that type.
    refs = [
        f.name
        for f in otype.fields
        if f.name in given
        and isinstance(f.kind, Ref)
        and f.kind.target in catalog.by_name
        and failure.reason == catalog.by_name[f.kind.target].failure_not_found
    ]
    return Problem(text, raw, {refs[0]: text} if len(refs) == 1 else {})
