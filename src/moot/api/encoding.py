"""XML (the product's wire format) and JSON renderings of API responses.

XML is one line with the ``<?xml version="1.0"?>`` prolog; a failure is
``<failureDetails><reason /></failureDetails>`` with the space before ``/>``
that some clients cut by byte position.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from moot.api.errors import ApiFailure
from moot.api.model import Field

PROLOG = '<?xml version="1.0"?>'

#: One object ready to render: element name, id (or None), ordered (field, value) pairs.
Item = tuple[str, str | None, Sequence[tuple[Field | str, Any]]]


class Group(tuple[tuple[str, Any], ...]):
    """A nested element (``<status><rxAudio><codec>...``): ordered (name, value) pairs,
    values plain or Groups again. Computed by hooks for live state."""

    __slots__ = ()


def _xml_group(name: str, group: Group) -> str:
    inner = "".join(
        _xml_group(k, v) if isinstance(v, Group) else f"<{k}>{escape(_show(k, v))}</{k}>"
        for k, v in group
        if v is not None
    )
    return f"<{name}>{inner}</{name}>"


def _json_group(group: Group) -> dict[str, Any]:
    return {
        k: _json_group(v) if isinstance(v, Group) else _json_value(k, v)
        for k, v in group
        if v is not None
    }


def _show(f: Field | str, value: Any) -> str:
    if isinstance(f, Field):
        return f.kind.show(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _name(f: Field | str) -> str:
    return f.name if isinstance(f, Field) else f


def _xml_item(item: Item) -> str:
    element, oid, pairs = item
    attrs = f" id={quoteattr(oid)}" if oid else ""
    for f, value in pairs:
        if isinstance(f, Field) and f.attribute and value is not None:
            attrs += f" {f.name}={quoteattr(_show(f, value))}"
    parts = [f"<{element}{attrs}>"]
    for f, value in pairs:
        if value is None or (isinstance(f, Field) and f.attribute):
            continue
        name = _name(f)
        if isinstance(value, Group):
            parts.append(_xml_group(name, value))
            continue
        text = _show(f, value)
        parts.append(f"<{name}>{escape(text)}</{name}>" if text != "" else f"<{name}/>")
    parts.append(f"</{element}>")
    return "".join(parts)


def xml_one(item: Item) -> bytes:
    return (PROLOG + _xml_item(item)).encode()


def xml_list(collection: str, total: int, items: Iterable[Item]) -> bytes:
    body = "".join(_xml_item(i) for i in items)
    return f'{PROLOG}<{collection} total="{total}">{body}</{collection}>'.encode()


def xml_failure(failure: ApiFailure) -> bytes:
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in failure.attrs.items())
    return f"{PROLOG}<failureDetails><{failure.reason}{attrs} /></failureDetails>".encode()


def _json_value(f: Field | str, value: Any) -> Any:
    if isinstance(value, (bool, int)) or value is None:
        return value
    if isinstance(value, float):
        return round(value, 3)
    return _show(f, value)


def _json_item(item: Item) -> dict[str, Any]:
    _, oid, pairs = item
    data: dict[str, Any] = {"id": oid} if oid else {}
    for f, value in pairs:
        if isinstance(value, Group):
            data[_name(f)] = _json_group(value)
        elif value is not None:
            data[_name(f)] = _json_value(f, value)
    return data


def json_one(item: Item) -> bytes:
    return json.dumps({item[0]: _json_item(item)}).encode()


def json_list(collection: str, element: str, total: int, items: Iterable[Item]) -> bytes:
    return json.dumps({collection: {"total": total, element: [_json_item(i) for i in items]}}).encode()


def json_failure(failure: ApiFailure) -> bytes:
    return json.dumps({"failureDetails": {failure.reason: dict(failure.attrs)}}).encode()
