"""The generic API engine: GET/POST/PUT/DELETE for every declared object type.

Paths are matched case-insensitively, with or without a trailing slash. Every
write runs in one transaction, so a refused request changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from moot.api import hooks
from moot.api.encoding import Item
from moot.api.errors import ApiFailure, parameter_error
from moot.api.model import Access, Field, FilterOp, ObjectType, ValueError_
from moot.db.apistore import ApiStore, Cond, Duplicate, Txn

#: The most objects one GET of a collection returns (the product's own page limit).
PAGE_LIMIT = 10
MAX_OFFSET = 2_000_000_000


@dataclass
class Response:
    status: int = 200
    item: Item | None = None
    #: For lists: (collection element, one element name, total, items).
    listing: tuple[str, str, int, list[Item]] | None = None
    location: str | None = None


@dataclass(frozen=True)
class Route:
    otype: ObjectType
    #: Ids of the ancestors (outermost first) and of the object, if given.
    parent_id: str | None
    oid: str | None
    #: A read-only view below an object (``meetingEntryDetail``).
    view: str | None = None
    #: An operation below an object (``generateKeyframe``), POSTed to.
    operation: str | None = None
    #: The canonical collection path (``coSpaces/<id>/accessMethods``).
    path: str = ""
    #: (field, id) for a top-level type reached below another object (``scoped_under``).
    scope: tuple[str, str] | None = None


@dataclass
class Catalog:
    """All declared object types, and how paths reach them."""

    types: Sequence[ObjectType]
    by_name: dict[str, ObjectType] = field(init=False)
    top: dict[tuple[str, ...], ObjectType] = field(init=False)
    children: dict[str, dict[str, ObjectType]] = field(init=False)
    #: parent type name -> collection -> (type, scoping field) (see ``scoped_under``).
    scoped: dict[str, dict[str, tuple[ObjectType, str]]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_name = {t.name: t for t in self.types}
        self.top = {}
        self.children = {}
        self.scoped = {}
        for t in self.types:
            for parent, field_name in t.scoped_under:
                self.scoped.setdefault(parent, {})[t.collection.lower()] = (t, field_name)
            key = tuple(seg.lower() for seg in t.collection.split("/"))
            if t.parent is None:
                self.top[key] = t
            else:
                self.children.setdefault(t.parent, {})[t.collection.lower()] = t

    def resolve(self, path: str) -> Route:
        segs = [s for s in path.strip("/").split("/") if s]
        lowered = [s.lower() for s in segs]
        best: tuple[int, ObjectType] | None = None
        for key, t in self.top.items():
            if tuple(lowered[: len(key)]) == key and (best is None or len(key) > best[0]):
                best = (len(key), t)
        if best is None:
            raise ApiFailure("unrecognizedObject", status=404)
        n, otype = best
        canonical = otype.collection
        rest = segs[n:]
        parent_id: str | None = None
        while True:
            if otype.singleton:
                if rest:
                    raise ApiFailure("unrecognizedObject", status=404)
                return Route(otype, None, None, path=canonical)
            if not rest:
                return Route(otype, parent_id, None, path=canonical)
            oid = rest[0].lower()
            if len(rest) == 1:
                return Route(otype, parent_id, oid, path=canonical)
            sub = rest[1].lower()
            child = self.children.get(otype.name, {}).get(sub)
            scoped = self.scoped.get(otype.name, {}).get(sub)
            if child is None and scoped is not None and parent_id is None:
                target, field_name = scoped
                path = f"{canonical}/{rest[0]}/{target.collection}"
                if len(rest) == 2:
                    return Route(target, None, None, path=path, scope=(field_name, oid))
                if len(rest) == 3:
                    return Route(target, None, rest[2].lower(), path=path, scope=(field_name, oid))
                raise ApiFailure("unrecognizedObject", status=404)
            if child is None:
                views = otype.hooks.views() if otype.hooks else {}
                for name in views:
                    if name.lower() == sub and len(rest) == 2:
                        return Route(otype, parent_id, oid, view=name, path=canonical)
                operations = otype.hooks.operations() if otype.hooks else {}
                for name in operations:
                    if name.lower() == sub and len(rest) == 2:
                        return Route(otype, parent_id, oid, operation=name, path=canonical)
                raise ApiFailure("unrecognizedObject", status=404)
            canonical = f"{canonical}/{rest[0]}/{child.collection}"
            parent_id = oid
            otype = child
            rest = rest[2:]


class Api:
    def __init__(self, store: ApiStore, catalog: Catalog, env: dict[str, Any] | None = None) -> None:
        self.store = store
        self.catalog = catalog
        #: Runtime things hooks may need (the node, a clock, call bridge state).
        self.env = env or {}

    # entry point ----------------------------------------------------------------------
    def handle(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        form: Sequence[tuple[str, str]],
    ) -> Response:
        route = self.catalog.resolve(path)
        otype = route.otype
        if otype.query:
            if method != "POST":
                raise ApiFailure("invalidOperation", status=405)
            return self._query(route, form)
        if route.operation:
            if method != "POST":
                raise ApiFailure("invalidOperation", status=405)
            return self._operate(route)
        if method == "GET":
            if route.view:
                return self._view(route)
            if route.oid is None and not otype.singleton:
                return self._list(route, query)
            return self._get(route)
        if method == "POST":
            if route.oid is not None or otype.singleton or not otype.creatable:
                raise ApiFailure("invalidOperation", status=405)
            return self._create(route, form)
        if method == "PUT":
            if otype.singleton:
                return self._update_singleton(route, form)
            if route.oid is None or not otype.updatable:
                raise ApiFailure("invalidOperation", status=405)
            return self._update(route, form)
        if method == "DELETE":
            if otype.singleton or not otype.deletable:
                raise ApiFailure("invalidOperation", status=405)
            if route.oid is None:
                if not otype.delete_collection:
                    raise ApiFailure("invalidOperation", status=405)
                return self._delete_all(route)
            return self._delete(route)
        raise ApiFailure("invalidOperation", status=405)

    # reads ----------------------------------------------------------------------------
    def _txn_env(self, txn: Txn) -> Txn:
        txn.env = self.env  # type: ignore[attr-defined]
        return txn

    def _check_parent(self, txn: Txn, route: Route) -> None:
        if route.scope is not None:
            field_name, scope_id = route.scope
            f = route.otype.field(field_name)
            target = self.catalog.by_name[f.ref] if f is not None and f.ref else None
            if target is not None and not txn.exists(target.name, scope_id):
                raise ApiFailure(target.failure_not_found)
        if route.otype.parent and route.parent_id is not None:
            parent = self.catalog.by_name[route.otype.parent]
            if not txn.exists(parent.name, route.parent_id):
                raise ApiFailure(parent.failure_not_found)

    def _list(self, route: Route, query: Sequence[tuple[str, str]]) -> Response:
        otype = route.otype
        params = {k.lower(): v for k, v in query}
        offset = _int_param(params, "offset", 0, MAX_OFFSET)
        limit = _int_param(params, "limit", PAGE_LIMIT, MAX_OFFSET)
        limit = min(limit, PAGE_LIMIT)
        conds: list[Cond] = []
        for flt in otype.filters:
            raw = params.get(flt.param.lower())
            if raw is None or raw == "":
                continue
            if "\x00" in raw:
                raise parameter_error(flt.param)
            if flt.op is FilterOp.SEARCH:
                conds.append(Cond("search", value=raw))
            elif flt.op is FilterOp.CONTAINS:
                conds.append(Cond("contains", flt.field, raw))
            elif flt.op in _COMPARISONS:
                f = otype.field(flt.field or "")
                value: Any = raw
                if f is not None:
                    try:
                        value = f.kind.parse(raw)
                    except ValueError_:
                        raise parameter_error(flt.param) from None
                conds.append(Cond(_COMPARISONS[flt.op], flt.field, value))
            elif flt.op is FilterOp.USAGE:
                if raw not in ("referenced", "unreferenced"):
                    raise parameter_error(flt.param)
                conds.append(Cond(raw))
        if route.scope is not None:
            conds.append(Cond("eq", route.scope[0], route.scope[1]))
        columns = [f.name for f in otype.listed_fields if f.stored]
        with self.store.reader() as txn:
            self._txn_env(txn)
            self._check_parent(txn, route)
            total, rows = txn.list(otype, route.parent_id, conds, offset, limit, columns)
        items: list[Item] = [
            (otype.name, r["id"], [(f, r.get(f.name)) for f in otype.listed_fields]) for r in rows
        ]
        collection = otype.collection.split("/")[-1]
        return Response(listing=(collection, otype.name, total, items))

    def _load(self, txn: Txn, route: Route) -> dict[str, Any]:
        assert route.oid is not None
        self._check_parent(txn, route)
        obj = txn.get(route.otype, route.oid, route.parent_id)
        if obj is not None and route.scope is not None and obj.get(route.scope[0]) != route.scope[1]:
            obj = None
        if obj is None:
            raise ApiFailure(route.otype.failure_not_found)
        return obj

    def _render(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> Item:
        extra = otype.hooks.computed(txn, otype, obj) if otype.hooks else {}
        pairs: list[tuple[Field | str, Any]] = []
        for f in otype.fields:
            if not f.shown:
                continue
            pairs.append((f, extra[f.name] if f.name in extra else obj.get(f.name)))
        oid = None if otype.singleton else obj.get("id")
        return (otype.name, oid, pairs)

    def _get(self, route: Route) -> Response:
        with self.store.reader() as txn:
            self._txn_env(txn)
            if route.otype.singleton:
                obj = txn.get(route.otype, route.otype.name) or _defaults(route.otype)
            else:
                obj = self._load(txn, route)
            return Response(item=self._render(txn, route.otype, obj))

    def _view(self, route: Route) -> Response:
        assert route.otype.hooks is not None and route.view is not None
        with self.store.reader() as txn:
            self._txn_env(txn)
            obj = self._load(txn, route)
            element, pairs = route.otype.hooks.views()[route.view](txn, obj)
        return Response(item=(element, None, pairs))

    def _operate(self, route: Route) -> Response:
        assert route.otype.hooks is not None and route.operation is not None
        with self.store.reader() as txn:
            self._txn_env(txn)
            obj = self._load(txn, route)
            route.otype.hooks.operations()[route.operation](txn, obj)
        return Response()

    # writes ---------------------------------------------------------------------------
    def _parse(self, otype: ObjectType, form: Sequence[tuple[str, str]], creating: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        values: dict[str, Any] = {}
        actions: dict[str, Any] = {}
        for key, raw in form:
            f = otype.field(key)
            if f is None or not f.writable:
                raise parameter_error(key, "unrecognised")
            if f.create_only and not creating:
                raise parameter_error(f.name, "unrecognised")
            if raw == "":
                value = None  # an empty value unsets
            else:
                try:
                    value = f.kind.parse(raw)
                except ValueError_ as exc:
                    raise parameter_error(f.name, exc.error) from None
            (actions if f.access is Access.ACTION else values)[f.name] = value
        return values, actions

    def _validate(self, txn: Txn, otype: ObjectType, values: dict[str, Any]) -> None:
        for name, value in values.items():
            f = otype.field(name)
            if f is None or value is None or f.ref is None:
                continue
            target = self.catalog.by_name.get(f.ref)
            if target is not None and not txn.exists(target.name, value):
                raise ApiFailure(target.failure_not_found)

    def _claims(self, txn: Txn, otype: ObjectType, oid: str, new: dict[str, Any], old: dict[str, Any]) -> None:
        for f in otype.fields:
            if not f.unique or f.name not in new:
                continue
            before, after = old.get(f.name), new[f.name]
            if before == after:
                continue
            if before is not None:
                txn.release(f.unique, str(before), oid)
            if after is not None:
                try:
                    txn.claim(f.unique, str(after), otype.name, oid)
                except Duplicate:
                    raise ApiFailure(f.duplicate_reason or f"duplicate{f.name[0].upper()}{f.name[1:]}") from None

    def _query(self, route: Route, form: Sequence[tuple[str, str]]) -> Response:
        otype = route.otype
        assert otype.hooks is not None
        values, params = self._parse(otype, form, creating=True)
        params.update(values)
        for f in otype.fields:
            if f.required and params.get(f.name) is None:
                raise parameter_error(f.name, "required")
        with self.store.reader() as txn:
            self._txn_env(txn)
            self._validate(txn, otype, params)
            element, pairs = otype.hooks.query(txn, otype, params)
        return Response(item=(element, None, pairs))

    def _location(self, route: Route, oid: str) -> str:
        if route.scope is not None:
            return f"/api/v1/{route.otype.collection}/{oid}"
        return f"/api/v1/{route.path}/{oid}"

    def _create(self, route: Route, form: Sequence[tuple[str, str]]) -> Response:
        with self.store.txn() as txn:
            oid = self.create_in(txn, route, form)
        return Response(location=self._location(route, oid))

    def create_in(self, txn: Txn, route: Route, form: Sequence[tuple[str, str]]) -> str:
        """Create one object inside ``txn`` (bulk imports put many in one transaction)."""
        otype = route.otype
        if route.scope is not None:
            field_name = route.scope[0]
            form = [(k, v) for k, v in form if k.lower() != field_name.lower()]
            form.append((field_name, route.scope[1]))
        values, actions = self._parse(otype, form, creating=True)
        for f in otype.fields:
            if f.required and values.get(f.name) is None:
                raise parameter_error(f.name, "required")
            if f.name not in values and f.default is not None and f.stored:
                values[f.name] = f.default
        oid = str(uuid.uuid4())
        self._txn_env(txn)
        self._check_parent(txn, route)
        if otype.hooks:
            otype.hooks.prepare(txn, otype, values, None, actions)
        self._validate(txn, otype, values)
        self._claims(txn, otype, oid, values, {})
        txn.insert(otype, oid, route.parent_id, values)
        if otype.hooks:
            otype.hooks.created(txn, otype, oid, values)
        return oid

    def _update(self, route: Route, form: Sequence[tuple[str, str]]) -> Response:
        otype = route.otype
        values, actions = self._parse(otype, form, creating=False)
        with self.store.txn() as txn:
            self._txn_env(txn)
            old = self._load(txn, route)
            if otype.hooks:
                otype.hooks.prepare(txn, otype, values, old, actions)
            self._validate(txn, otype, values)
            self._claims(txn, otype, old["id"], values, old)
            txn.update(otype, old["id"], values)
        return Response()

    def _update_singleton(self, route: Route, form: Sequence[tuple[str, str]]) -> Response:
        otype = route.otype
        if not otype.updatable:
            raise ApiFailure("invalidOperation", status=405)
        values, actions = self._parse(otype, form, creating=False)
        with self.store.txn() as txn:
            self._txn_env(txn)
            old = txn.get(otype, otype.name)
            if otype.hooks:
                otype.hooks.prepare(txn, otype, values, old, actions)
            self._validate(txn, otype, values)
            if old is None:
                txn.insert(otype, otype.name, None, {**_defaults(otype), **values})
            else:
                txn.update(otype, otype.name, values)
        return Response()

    def _delete_tree(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> None:
        if otype.hooks:
            otype.hooks.before_delete(txn, otype, obj)
        hooks.deleting(txn, otype.name, obj)
        for child in self.catalog.children.get(otype.name, {}).values():
            for cid in txn.ids(child, obj["id"]):
                cobj = txn.get(child, cid)
                if cobj is not None:
                    self._delete_tree(txn, child, cobj)
        txn.clear_references(otype.name, obj["id"])
        txn.delete(otype, obj["id"])

    def _delete(self, route: Route) -> Response:
        with self.store.txn() as txn:
            self._txn_env(txn)
            obj = self._load(txn, route)
            self._delete_tree(txn, route.otype, obj)
        return Response()

    def _delete_all(self, route: Route) -> Response:
        with self.store.txn() as txn:
            self._txn_env(txn)
            self._check_parent(txn, route)
            for oid in txn.ids(route.otype, route.parent_id):
                obj = txn.get(route.otype, oid)
                if obj is not None:
                    self._delete_tree(txn, route.otype, obj)
        return Response()


_COMPARISONS = {FilterOp.EQUALS: "eq", FilterOp.AT_LEAST: "ge", FilterOp.AT_MOST: "le"}


def _int_param(params: dict[str, str], name: str, default: int, maximum: int) -> int:
    raw = params.get(name.lower())
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > maximum:
        raise parameter_error(name)
    return int(raw)


def _defaults(otype: ObjectType) -> dict[str, Any]:
    return {f.name: f.default for f in otype.fields if f.default is not None}
