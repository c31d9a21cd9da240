"""Fixtures and helpers for the API object tests (a store per module, a Maker of objects)."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from moot.api.catalog import catalog
from moot.api.encoding import xml_list, xml_one
from moot.api.engine import Api
from moot.api.errors import ApiFailure
from moot.api.model import (
    Access,
    Boolean,
    Choice,
    Field,
    Number,
    ObjectType,
    Ref,
    Text,
    ValueError_,
)
from moot.db.apistore import ApiStore
from tests.databases import database_url

CATALOG = catalog()
TYPES = {t.name: t for t in CATALOG.types}
#: Types the generic create/read/update/delete cycle applies to.
COLLECTIONS = [t for t in CATALOG.types if t.creatable and not t.singleton and not t.query]
NOWHERE = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module", name="store", params=["sqlite", "postgresql"])
def store_fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiStore]:
    """One database per module, on SQLite and on PostgreSQL."""
    path: Path = tmp_path_factory.mktemp("api")
    with database_url(request.param, path) as url:
        store = ApiStore(url, CATALOG.types)
        yield store
        store.close()


@pytest.fixture(name="api")
def api_fixture(store: ApiStore) -> Api:
    """An API over an empty store (one schema per module; every table emptied per test)."""
    with store.engine.begin() as conn:
        for table in store.meta.sorted_tables:
            if table.name != "moot_schema":
                conn.execute(table.delete())
    return Api(store, CATALOG)


class Maker:
    """Builds valid forms for any declared type, creating referenced objects as needed."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.counter = itertools.count(1)

    def text(self, kind: Text) -> str:
        n = next(self.counter)
        candidates = [
            f"sample{n}x",
            f"room{n}x.example",
            f"https://host{n}x.example.com/path",
            f"{100000 + n}",
            f"user{n}x@example.com",
            f"room{n}x.$",
            f"*{n % 10}#",
            "permanent",
        ]
        for candidate in candidates:
            try:
                kind.parse(candidate)
            except ValueError_:
                continue
            return candidate
        raise AssertionError(f"no sample value fits {kind}")

    def value(self, otype: ObjectType, f: Field) -> str:
        kind = f.kind
        if otype.name == "coSpaceUser" and f.name == "userJid":
            user = self.create(TYPES["user"])
            return str(self.get(TYPES["user"], user).findtext("userJid"))
        if isinstance(kind, Ref):
            return self.create(TYPES[kind.target])
        if isinstance(kind, Choice):
            return str(kind.values[-1])
        if isinstance(kind, Boolean):
            return "false" if f.default is True else "true"
        if isinstance(kind, Number):
            return str(min(kind.maximum, kind.minimum + 7 + next(self.counter) % 3))
        assert isinstance(kind, Text)
        return self.text(kind)

    def form(self, otype: ObjectType, everything: bool) -> list[tuple[str, str]]:
        fields = [f for f in otype.fields if f.writable and f.access is not Access.ACTION]
        if not everything:
            fields = [f for f in fields if f.required]
        return [(f.name, self.value(otype, f)) for f in fields]

    def path(self, otype: ObjectType) -> str:
        if otype.parent is None:
            return str("/" + otype.collection)
        parent = TYPES[otype.parent]
        return str(f"{self.path(parent)}/{self.create(parent)}/{otype.collection}")

    def create(self, otype: ObjectType, form: list[tuple[str, str]] | None = None, path: str | None = None) -> str:
        path = path or self.path(otype)
        response = self.api.handle("POST", path, [], form if form is not None else self.form(otype, False))
        assert response.location is not None
        return str(response.location[-36:])

    def get(self, otype: ObjectType, oid: str, path: str | None = None) -> ET.Element:
        response = self.api.handle("GET", f"{path or self.path_of(otype, oid)}/{oid}", [], [])
        assert response.item is not None
        return ET.fromstring(xml_one(response.item))

    def path_of(self, otype: ObjectType, oid: str) -> str:
        if otype.parent is None:
            return str("/" + otype.collection)
        with self.api.store.reader() as txn:
            obj = txn.get(otype, oid)
        assert obj is not None
        return str(f"/{TYPES[otype.parent].collection}/{obj['parent_id']}/{otype.collection}")


def failure(api: Api, method: str, path: str, form: list[tuple[str, str]] | None = None,
            query: list[tuple[str, str]] | None = None) -> ApiFailure:
    with pytest.raises(ApiFailure) as info:
        api.handle(method, path, query or [], form or [])
    return info.value


def listing(api: Api, path: str, query: list[tuple[str, str]] | None = None) -> ET.Element:
    response = api.handle("GET", path, query or [], [])
    assert response.listing is not None
    collection, _, total, items = response.listing
    return ET.fromstring(xml_list(collection, total, items))


def expected(f: Field, raw: str) -> str:
    return str(f.kind.show(f.kind.parse(raw)))


# --- the declarations themselves ----------------------------------------------------------


