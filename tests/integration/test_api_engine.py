"""The generic API engine on a real SQLite database: paths, paging, atomic writes, races."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from moot.api.catalog import catalog
from moot.api.encoding import xml_failure, xml_list, xml_one
from moot.api.engine import PAGE_LIMIT, Api
from moot.api.errors import ApiFailure
from moot.db.apistore import ApiStore
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
    return loc[-36:]


def failure(api: Api, method: str, path: str, form: dict[str, str] | None = None, query: dict[str, str] | None = None) -> bytes:
    with pytest.raises(ApiFailure) as info:
        api.handle(method, path, list((query or {}).items()), list((form or {}).items()))
    return xml_failure(info.value)


def test_location_is_canonical_and_paths_case_insensitive(api: Api) -> None:
    loc = api.handle("POST", "/cospaces/", [], [("name", "A")]).location
    assert loc is not None and loc.startswith("/api/v1/coSpaces/") and len(loc) == len("/api/v1/coSpaces/") + 36
    oid = loc[-36:]
    sub = api.handle("POST", f"/COSPACES/{oid}/accessmethods", [], [("uri", "x")]).location
    assert sub == f"/api/v1/coSpaces/{oid}/accessMethods/{sub[-36:]}"  # type: ignore[index]
    item = api.handle("GET", f"/coSpaces/{oid.upper()}/", [], []).item
    assert item is not None and item[1] == oid


def test_failure_bytes_are_exact(api: Api) -> None:
    assert failure(api, "GET", "/coSpaces/00000000-0000-0000-0000-000000000000") == (
        b'<?xml version="1.0"?><failureDetails><coSpaceDoesNotExist /></failureDetails>'
    )
    assert failure(api, "POST", "/coSpaces", {"streamUrl": "not a url"}) == (
        b'<?xml version="1.0"?><failureDetails><parameterError parameter="streamUrl" error="invalidValue" /></failureDetails>'
    )
    assert b"unrecognizedObject" in failure(api, "GET", "/noSuchThings")


def test_uri_stored_lower_case_and_unique_across_access_methods(api: Api) -> None:
    space = create(api, "/coSpaces", name="One", uri="Team.Room")
    item = api.handle("GET", f"/coSpaces/{space}", [], []).item
    assert item is not None and ("team.room" in [v for _, v in item[2]])
    other = create(api, "/coSpaces", name="Two")
    assert b"duplicateCoSpaceUri" in failure(api, "POST", f"/coSpaces/{other}/accessMethods", {"uri": "TEAM.room"})
    assert b"duplicateCoSpaceUri" in failure(api, "PUT", f"/coSpaces/{other}", {"secondaryUri": "team.room"})
    # Freed when the owner lets go of it.
    api.handle("PUT", f"/coSpaces/{space}", [], [("uri", "")])
    api.handle("PUT", f"/coSpaces/{other}", [], [("secondaryUri", "team.room")])


def test_failed_write_changes_nothing(api: Api) -> None:
    create(api, "/coSpaces", name="Taken", callId="5551234")
    before = api.handle("GET", "/coSpaces", [], []).listing
    # uri is free but callId clashes: neither the space nor the uri claim may remain.
    assert b"duplicateCoSpaceId" in failure(api, "POST", "/coSpaces", {"name": "New", "uri": "fresh", "callId": "5551234"})
    assert api.handle("GET", "/coSpaces", [], []).listing == before
    create(api, "/coSpaces", name="New", uri="fresh")


def test_generated_call_ids_and_secrets(api: Api) -> None:
    oid = create(api, "/coSpaces", name="Auto")
    values = dict((getattr(f, "name", f), v) for f, v in api.handle("GET", f"/coSpaces/{oid}", [], []).item[2])  # type: ignore[index]
    assert values["callId"].isdigit() and len(values["callId"]) == 9
    assert len(values["secret"]) == 22
    api.handle("PUT", f"/coSpaces/{oid}", [], [("regenerateSecret", "TRUE")])
    after = dict((getattr(f, "name", f), v) for f, v in api.handle("GET", f"/coSpaces/{oid}", [], []).item[2])  # type: ignore[index]
    assert after["secret"] != values["secret"] and after["callId"] == values["callId"]
    none = create(api, "/coSpaces", name="NoId", requireCallId="false")
    nv = dict((getattr(f, "name", f), v) for f, v in api.handle("GET", f"/coSpaces/{none}", [], []).item[2])  # type: ignore[index]
    assert nv.get("callId") is None


def test_paging_total_and_filters(api: Api) -> None:
    for i in range(25):
        create(api, "/coSpaces", name=f"room {i:02d}", uri=f"room{i:02d}")
    listing = api.handle("GET", "/coSpaces", [], []).listing
    assert listing is not None and listing[2] == 25 and len(listing[3]) == PAGE_LIMIT
    listing = api.handle("GET", "/coSpaces", [("offset", "20"), ("limit", "10")], []).listing
    assert listing is not None and [i[1] for i in listing[3]] and len(listing[3]) == 5
    listing = api.handle("GET", "/coSpaces", [("offset", "5000000")], []).listing
    assert listing is not None and listing[2] == 25 and listing[3] == []
    listing = api.handle("GET", "/coSpaces", [("filter", "room 1"), ("tenantFilter", "")], []).listing
    assert listing is not None and listing[2] == 10
    # LIKE wildcards in a filter are literal characters.
    listing = api.handle("GET", "/coSpaces", [("filter", "%")], []).listing
    assert listing is not None and listing[2] == 0
    assert b'parameter="offset"' in failure(api, "GET", "/coSpaces", query={"offset": "-1"})
    assert b'parameter="limit"' in failure(api, "GET", "/coSpaces", query={"limit": "ten"})
    xml = xml_list("coSpaces", 0, [])
    assert xml == b'<?xml version="1.0"?><coSpaces total="0"></coSpaces>'


def test_delete_collection_and_children(api: Api) -> None:
    oid = create(api, "/coSpaces", name="A", uri="a")
    create(api, f"/coSpaces/{oid}/accessMethods", uri="a2")
    api.handle("DELETE", "/coSpaces", [], [])
    assert api.handle("GET", "/coSpaces", [], []).listing[2] == 0  # type: ignore[index]
    # The uris of the space and its access method are free again.
    create(api, "/coSpaces", name="B", uri="a")
    create(api, "/coSpaces", name="C", uri="a2")


def test_racing_creates_get_one_winner(api: Api) -> None:
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        try:
            api.handle("POST", "/coSpaces", [], [("name", "race"), ("uri", "contested")])
            results.append("ok")
        except ApiFailure as f:
            results.append(f.reason)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1
    assert results.count("duplicateCoSpaceUri") == 7
    listing = api.handle("GET", "/coSpaces", [("filter", "contested")], []).listing
    assert listing is not None and listing[2] == 1


def test_xml_one_escapes_text(api: Api) -> None:
    oid = create(api, "/coSpaces", name="R&D <lab>")
    body = xml_one(api.handle("GET", f"/coSpaces/{oid}", [], []).item)  # type: ignore[arg-type]
    assert b"<name>R&amp;D &lt;lab&gt;</name>" in body


def test_non_ascii_digits_are_parameter_errors(api: Api) -> None:
    # "²".isdigit() is True but int("²") fails: such input must be a parameterError, not a crash.
    assert b'parameter="offset"' in failure(api, "GET", "/coSpaces", query={"offset": "²"})
    assert b'parameter="limit"' in failure(api, "GET", "/coSpaces", query={"limit": "٣"})
