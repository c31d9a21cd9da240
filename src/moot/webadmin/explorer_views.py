"""The API explorer's pieces of HTML: addresses, breadcrumbs, object tables, lists, pager.

Nothing here talks to the API; :mod:`moot.webadmin.explorer` fetches and calls these.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from moot.api.encoding import Item
from moot.api.engine import Catalog, Route
from moot.api.model import Field, Filter, FilterOp, ObjectType, Ref
from moot.webadmin.explorer_forms import shown, tag
from moot.webadmin.explorer_text import words
from moot.webadmin.render import Markup, join, render

BASE = "/configuration/api"
API_BASE = "/api/v1"


# addresses -----------------------------------------------------------------------


def url(path: str = "", flag: str = "", query: Mapping[str, str] | None = None, anchor: str = "") -> str:
    """The explorer's page for an API path: ``/configuration/api/coSpaces?new#t-coSpaces``."""
    out = BASE + ("/" + path.strip("/") if path.strip("/") else "")
    params = urllib.parse.urlencode({k: v for k, v in (query or {}).items() if v != ""})
    if flag or params:
        out += "?" + "&".join(p for p in (flag, params) if p)
    return out + ("#" + anchor if anchor else "")


def anchor(otype: ObjectType) -> str:
    return "t-" + otype.collection.replace("/", "-")


def object_path(route: Route) -> str:
    return f"{route.path}/{route.oid}" if route.oid else route.path


def parent_path(route: Route) -> str:
    """``coSpaces/<id>/accessMethods`` -> ``coSpaces/<id>``."""
    return route.path.rsplit("/", 1)[0]


def collection_url(route: Route) -> str:
    """Where a collection is listed: expanded on the index, or on its parent object's page."""
    return url(route.path, anchor=anchor(route.otype))


def ref_url(catalog: Catalog, f: Field | str, value: Any) -> str:
    """A reference's page, when its target is a top-level collection."""
    if not isinstance(f, Field) or not isinstance(f.kind, Ref) or value is None:
        return ""
    target = catalog.by_name.get(f.kind.target)
    if target is None or target.parent is not None or target.singleton:
        return ""
    return url(f"{target.collection}/{value}")


def short_id(oid: str) -> str:
    return oid[:8] + "…" if len(oid) > 12 else oid


# breadcrumbs ---------------------------------------------------------------------


def _collection_crumbs(catalog: Catalog, otype: ObjectType, path: str) -> list[tuple[str, str]]:
    here = (otype.collection, url(path, anchor=anchor(otype)))
    if otype.parent is None:
        return [here]
    parent = catalog.by_name[otype.parent]
    parent_coll, pid = path.rsplit("/", 2)[:2]
    return [*_collection_crumbs(catalog, parent, parent_coll), (short_id(pid), url(f"{parent_coll}/{pid}")), here]


def crumbs(catalog: Catalog, route: Route, last: str = "") -> Markup:
    """API > coSpaces > 1b2c3d4e... > accessMethods > ... (the last one is the current page)."""
    items = [("API", BASE), *_collection_crumbs(catalog, route.otype, route.path)]
    if route.oid:
        items.append((short_id(route.oid), url(object_path(route))))
    if last:
        items.append((last, ""))
    parts = []
    for i, (label, href) in enumerate(items):
        current = i == len(items) - 1
        inner = tag("span", label, aria_current="page") if current or not href else tag("a", label, href=href)
        parts.append(tag("li", inner))
    return render("explorer_crumbs.html", items=join(parts))


# values --------------------------------------------------------------------------


def value_markup(catalog: Catalog, f: Field | str, value: Any, unset: str = "unset") -> Markup:
    text = shown(f, value)
    if text == "":
        return tag("span", unset, class_="unset")
    href = ref_url(catalog, f, value)
    if href:
        return tag("a", text, href=href, class_="mono")
    if isinstance(f, Field) and isinstance(f.kind, Ref):
        return tag("span", text, class_="mono")
    return tag("span", text)


def facts(catalog: Catalog, pairs: Sequence[tuple[Field | str, Any]]) -> Markup:
    """An object's values as a definition list; unset ones say so."""
    if not pairs:
        return tag("p", "Nothing to show.", class_="muted")
    rows = join(
        tag("div", Markup(tag("dt", f.name if isinstance(f, Field) else f) + tag("dd", value_markup(catalog, f, v))))
        for f, v in pairs
    )
    return tag("dl", rows, class_="facts api-facts")


# lists ---------------------------------------------------------------------------


def filter_inputs(otype: ObjectType, query: Mapping[str, str]) -> Markup:
    """One input per declared list filter (``filter``, ``tenantFilter``, ``usageFilter``)."""
    parts = []
    for flt in otype.filters:
        value = query.get(flt.param, "")
        fid = f"q-{anchor(otype)}-{flt.param}"
        control = _filter_control(otype, flt, fid, value)
        label = "Filter" if flt.op is FilterOp.SEARCH else flt.param
        parts.append(tag("div", Markup(tag("label", label, for_=fid) + control), class_="field"))
    return join(parts)


def _filter_control(otype: ObjectType, flt: Filter, fid: str, value: str) -> Markup:
    if flt.op is FilterOp.USAGE:
        opts = [("", "any"), ("referenced", "referenced"), ("unreferenced", "unreferenced")]
        return tag(
            "select",
            join(tag("option", label, value=v, selected=v == value) for v, label in opts),
            id=fid,
            name=flt.param,
        )
    f = otype.field(flt.field or "")
    extra: dict[str, object] = {}
    if flt.op is FilterOp.SEARCH:
        names = [x.name for x in otype.searchable_fields]
        hint = ", ".join(names[:2]) + (", \u2026" if len(names) > 2 else "")
        extra = {"type": "search", "placeholder": hint, "title": "Matches " + ", ".join(names)}
    elif f is not None and isinstance(f.kind, Ref):
        extra = {"type": "text", "placeholder": f"id of a {words(f.kind.target)}", "class_": "mono"}
    else:
        extra = {"type": "text"}
    return tag("input", id=fid, name=flt.param, value=value, autocomplete="off", spellcheck="false", **extra)


def list_table(catalog: Catalog, route: Route, items: Sequence[Item]) -> Markup:
    otype = route.otype
    head = join(tag("th", name, scope="col") for name in ["id", *(f.name for f in otype.listed_fields)])
    rows = []
    for _, oid, pairs in items:
        link = tag("a", oid or "", href=url(f"{route.path}/{oid}"), class_="mono")
        cells = [tag("th", link, scope="row", data_label="id")]
        cells += [
            tag("td", value_markup(catalog, f, v, "\u2014"), data_label=f.name if isinstance(f, Field) else f)
            for f, v in pairs
        ]
        rows.append(tag("tr", join(cells)))
    return render(
        "explorer_table.html", caption=otype.collection, head=head, rows=join(rows)
    )


def pager(route: Route, query: Mapping[str, str], offset: int, shown_count: int, total: int, limit: int) -> Markup:
    """Previous / next and ``1-10 of 300,000`` (with an en dash)."""
    if total == 0:
        text = "No objects"
    elif shown_count == 0:
        text = f"Nothing at {offset + 1:,} of {total:,}"
    else:
        text = f"{offset + 1:,}\u2013{offset + shown_count:,} of {total:,}"

    def link(label: str, new_offset: int | None, rel: str) -> Markup:
        if new_offset is None:
            return tag("span", label, class_="btn btn-secondary is-disabled", aria_disabled="true")
        q = {**query, "offset": str(new_offset) if new_offset else ""}
        return tag("a", label, href=url(route.path, query=q, anchor=anchor(route.otype)), rel=rel, class_="btn btn-secondary")

    prev_offset = max(0, min(offset - limit, max(total - 1, 0) // limit * limit)) if offset > 0 else None
    next_offset = offset + limit if offset + limit < total else None
    return render(
        "explorer_pager.html",
        collection=route.otype.collection,
        prev=link("\u2039 Previous", prev_offset, "prev"),
        range=text,
        next=link("Next \u203a", next_offset, "next"),
    )
