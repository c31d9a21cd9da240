"""List paging and the ``filter=`` search of the store, on SQLite (FTS5 trigrams) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from moot.api.catalog import catalog
from moot.api.engine import Api
from moot.api.objects.cospaces import ACCESS_METHOD
from moot.db.apistore import ApiStore, search_table_name
from tests.databases import database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    cat = catalog()
    with database_url(request.param, tmp_path) as url:
        store = ApiStore(url, cat.types)
        yield Api(store, cat)
        store.close()


def create(api: Api, path: str, **form: str) -> str:
    loc = api.handle("POST", path, [], list(form.items())).location
    assert loc is not None
    return loc.rsplit("/", 1)[-1]


def found(api: Api, value: str, **extra: str) -> tuple[int, list[str]]:
    resp = api.handle("GET", "/coSpaces", [("filter", value), *extra.items()], [])
    assert resp.listing is not None
    _, _, total, items = resp.listing
    names = [str(dict((f if isinstance(f, str) else f.name, v) for f, v in pairs)["name"]) for _, _, pairs in items]
    return total, names


def test_filter_is_a_case_insensitive_substring_search(api: Api) -> None:
    create(api, "/coSpaces", name="Board Room", uri="board.room", callId="700100")
    create(api, "/coSpaces", name="Team 50% Done", uri="team_room")
    create(api, "/coSpaces", name='Say "hi"', secondaryUri="quoted.room")
    assert found(api, "ROOM") == (3, ["Board Room", "Team 50% Done", 'Say "hi"'])
    assert found(api, "oard r") == (1, ["Board Room"])
    assert found(api, "0010") == (1, ["Board Room"])  # callId
    assert found(api, "50%") == (1, ["Team 50% Done"])  # % is not a wildcard
    assert found(api, "m_r") == (1, ["Team 50% Done"])  # nor is _
    assert found(api, '"hi"') == (1, ['Say "hi"'])
    assert found(api, "bo") == (1, ["Board Room"])  # shorter than a trigram
    assert found(api, "nowhere") == (0, [])


def test_search_follows_updates_and_deletes(api: Api) -> None:
    space = create(api, "/coSpaces", name="Old name", uri="old.uri")
    api.handle("PUT", f"/coSpaces/{space}", [], [("name", "Renamed"), ("uri", "")])
    assert found(api, "old") == (0, [])
    assert found(api, "renamed") == (1, ["Renamed"])
    api.handle("DELETE", f"/coSpaces/{space}", [], [])
    assert found(api, "renamed") == (0, [])


def test_totals_on_every_page(api: Api) -> None:
    for i in range(25):
        create(api, "/coSpaces", name=f"Space {i:02d}", uri=f"space.{i:02d}")
    create(api, "/coSpaces", name="Other")
    assert found(api, "space") == (25, [f"Space {i:02d}" for i in range(10)])
    assert found(api, "space", offset="20") == (25, [f"Space {i:02d}" for i in range(20, 25)])
    assert found(api, "space", offset="25") == (25, [])
    assert found(api, "space", offset="99") == (25, [])
    assert found(api, "space", limit="0") == (25, [])
    resp = api.handle("GET", "/coSpaces", [("offset", "24"), ("limit", "3")], [])
    assert resp.listing is not None and resp.listing[2] == 26 and len(resp.listing[3]) == 2


def test_nested_types_listed_across_parents(api: Api) -> None:
    one = create(api, "/coSpaces", name="One")
    two = create(api, "/coSpaces", name="Two")
    create(api, f"/coSpaces/{one}/accessMethods", uri="am.one")
    create(api, f"/coSpaces/{two}/accessMethods", uri="am.two")
    with api.store.reader() as txn:
        total, rows = txn.list(ACCESS_METHOD, None, [], 0, 10, ["uri"])
        assert total == 2 and [r["uri"] for r in rows] == ["am.one", "am.two"]
        total, rows = txn.list(ACCESS_METHOD, two, [], 0, 10, ["uri"])
        assert total == 1 and [r["uri"] for r in rows] == ["am.two"]


def test_search_index_rebuilt_when_missing(tmp_path: Path) -> None:
    cat = catalog()
    url = f"sqlite:///{tmp_path / 'database.db'}"
    store = ApiStore(url, cat.types)
    api = Api(store, cat)
    create(api, "/coSpaces", name="Before the index")
    name = search_table_name(cat.by_name["coSpace"])
    with store.engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {name}"))
    store.close()
    store = ApiStore(url, cat.types)  # an older database: the index is built from the rows
    try:
        assert found(Api(store, cat), "before") == (1, ["Before the index"])
    finally:
        store.close()
