"""The API explorer's forms, derived from the object declarations.

Each kind of field gets its input: Choice a select, Boolean a select of
true/false/unset, Number a number input, Ref a text input naming its target,
WRITE_ONLY a password input, Boolean ACTION fields (``regenerateSecret``) a
checkbox. What the browser sends back becomes the API's form: on create every
value given, on edit only the values that changed (an emptied value unsets).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from moot.api.model import Access, Boolean, Choice, Field, Number, ObjectType, Ref, Text
from moot.webadmin.explorer_text import field_hint
from moot.webadmin.render import Markup, escape, join, render

#: Form fields of the explorer itself; API parameter names are camelCase, so never clash.
OP_FIELD = "_op"


def tag(name: str, content: Markup | str | None = None, /, **attrs: object) -> Markup:
    """``<name attrs>content</name>``; ``content=None`` makes a void element.

    Attribute names take ``_`` for ``-`` (``aria_describedby``); True is a bare
    attribute, False and None leave it out; every value is escaped.
    """
    parts = [name]
    for key, value in attrs.items():
        attr = key.rstrip("_").replace("_", "-")
        if value is True:
            parts.append(attr)
        elif value is not None and value is not False:
            parts.append(f'{attr}="{escape(value)}"')
    opening = Markup("<" + " ".join(parts) + ">")
    if content is None:
        return opening
    return Markup(opening + escape(content) + f"</{name}>")


def shown(f: Field | str, value: Any) -> str:
    """A stored value as the API shows it; "" when unset."""
    if value is None:
        return ""
    if isinstance(f, Field):
        return f.kind.show(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_checkbox(f: Field) -> bool:
    return f.access is Access.ACTION and isinstance(f.kind, Boolean)


def form_fields(otype: ObjectType, creating: bool) -> tuple[Field, ...]:
    """The fields a form sets: a query's parameters, or what POST/PUT accept."""
    if otype.query:
        return tuple(f for f in otype.fields if f.access is Access.ACTION)
    return tuple(f for f in otype.fields if f.writable and (creating or not f.create_only))


def read_only_fields(otype: ObjectType, creating: bool) -> tuple[Field, ...]:
    """Shown on an edit form but not editable (nothing to show on create)."""
    if creating:
        return ()
    return tuple(
        f
        for f in otype.fields
        if f.shown and (f.access is Access.READ_ONLY or (f.create_only and f.writable))
    )


def _options(values: Sequence[tuple[str, str]], selected: str) -> Markup:
    return join(tag("option", label, value=v, selected=v == selected) for v, label in values)


def control(f: Field, value: str, *, creating: bool, described_by: str, invalid: bool) -> Markup:
    """The input for one field."""
    common: dict[str, object] = {
        "id": f"f-{f.name}",
        "name": f.name,
        "aria_describedby": described_by or None,
        "aria_invalid": "true" if invalid else None,
    }
    kind = f.kind
    if is_checkbox(f):
        return tag("input", type="checkbox", value="true", checked=value == "true", **common)
    if isinstance(kind, Boolean):
        opts = [("", "(unset)"), ("true", "true"), ("false", "false")]
        return tag("select", _options(opts, value.lower()), **common)
    if isinstance(kind, Choice):
        opts = [("", "(unset)"), *((v, v) for v in kind.values)]
        return tag("select", _options(opts, value), **common)
    if f.access is Access.WRITE_ONLY:
        return tag("input", type="password", value=value, autocomplete="new-password", **common)
    if isinstance(kind, Number):
        return tag(
            "input",
            type="number",
            value=value,
            min=kind.minimum,
            max=kind.maximum,
            step=1,
            inputmode="numeric",
            **common,
        )
    extra: dict[str, object] = {}
    if isinstance(kind, Ref):
        extra = {"class_": "mono"}
    elif isinstance(kind, Text):
        extra = {"maxlength": kind.max_length}
    return tag(
        "input",
        type="text",
        value=value,
        autocomplete="off",
        spellcheck="false",
        autocapitalize="none",
        required=f.required and creating,
        **extra,
        **common,
    )


def render_field(
    f: Field, value: str, *, creating: bool, error: str = "", browse: str = ""
) -> Markup:
    """Label, input, hint and (after a refused request) the API's complaint."""
    hint = field_hint(f, creating)
    ids = []
    if error:
        ids.append(f"f-{f.name}-error")
    if hint:
        ids.append(f"f-{f.name}-hint")
    hint_markup = Markup("")
    if hint or browse:
        link = tag("a", "browse", href=browse) if browse else Markup("")
        hint_markup = tag("p", Markup(escape(hint) + (" " if hint and link else "") + link),
                          id=f"f-{f.name}-hint", class_="hint")
    error_markup = (
        tag("p", error, id=f"f-{f.name}-error", class_="field-error") if error else Markup("")
    )
    return render(
        "explorer_field.html",
        kind="check" if is_checkbox(f) else "input",
        name=f.name,
        required=Markup(' <span class="req" aria-hidden="true">*</span>')
        if f.required and creating
        else Markup(""),
        control=control(
            f, value, creating=creating, described_by=" ".join(ids), invalid=bool(error)
        ),
        hint=hint_markup,
        error=error_markup,
    )


def submitted(form: Mapping[str, Any], fields: Sequence[Field]) -> dict[str, str]:
    """The declared fields' values as the browser sent them (a checkbox: "true" or "").

    Spaces around values are trimmed, except in secrets."""
    values: dict[str, str] = {}
    for f in fields:
        raw = form.get(f.name)
        text = raw if isinstance(raw, str) else ""
        values[f.name] = text if f.access is Access.WRITE_ONLY else text.strip()
    return values


def api_form(
    fields: Sequence[Field], values: Mapping[str, str], current: Mapping[str, str] | None
) -> list[tuple[str, str]]:
    """The API's form for what was submitted: on create (``current`` None) every value given;
    on edit the changed values, an emptied one unsetting; actions and secrets when given."""
    pairs: list[tuple[str, str]] = []
    for f in fields:
        value = values.get(f.name, "")
        if current is None or f.access in (Access.ACTION, Access.WRITE_ONLY):
            if value != "":
                pairs.append((f.name, value))
        elif value != current.get(f.name, ""):
            pairs.append((f.name, value))
    return pairs
