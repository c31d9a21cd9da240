"""``/system/MPLicenseUsage`` and ``/knownHosts`` (guide B.12) over the API engine, and the
usage feeding the licensing state the API shows."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from moot.api.encoding import json_list, xml_one
from moot.api.engine import Api
from moot.licensing.feature import Feature, show_date
from moot.licensing.licensefile import LicenseFile, UserLimit
from moot.licensing.node import LICENSE_APPLIED, current
from moot.licensing.usage import Interval, Peaks, UsageRecorder, save
from moot.node.context import NodeContext
from moot.node.datadir import DataDir
from moot.node.settings import NODE_CREATED
from tests.api_fixtures import failure, listing

USAGE = "/system/MPLicenseUsage"
HOSTS = "/system/MPLicenseUsage/knownHosts"
#: 10:00Z on 2026-12-05: twelve 5-minute intervals of host-a from here, three of host-b.
T0 = int(datetime(2026, 12, 5, 10, 0, tzinfo=UTC).timestamp())


@pytest.fixture
def series(api: Api) -> Api:
    with api.store.txn() as txn:
        save(txn, [Interval("host-a", T0 + 300 * i, T0 + 300 * (i + 1),
                            Peaks(personal=i, shared_full=1, weighted_shared=i + 1 / 6, recorded=i % 2))
                   for i in range(12)], T0 + 3600)
        save(txn, [Interval("host-b", T0 + 300 * i, T0 + 300 * (i + 1), Peaks(shared_audio_only=2))
                   for i in range(3)], T0 + 900)
    return api


def starts(root: ET.Element) -> list[tuple[str | None, str | None]]:
    return [(e.findtext("hostId"), (e.findtext("startTime") or "")[11:16]) for e in root]


def test_rows_are_listed_in_time_order_with_every_count(series: Api) -> None:
    root = listing(series, USAGE, [("limit", "10")])
    assert root.tag == "MPLicenseUsage" and root.get("total") == "15"
    assert starts(root)[:4] == [("host-a", "10:00"), ("host-b", "10:00"), ("host-a", "10:05"),
                                ("host-b", "10:05")]
    assert len(root) == 10
    element = root[2]
    assert element.tag == "mpLicenseUsage"
    shown = {child.tag: child.text for child in element}
    assert shown == {
        "startTime": "2026-12-05T10:05:00Z", "endTime": "2026-12-05T10:10:00Z", "hostId": "host-a",
        "personal": "1", "sharedAudioOnly": "0", "sharedPointToPoint": "0", "sharedFull": "1",
        "weightedShared": "1.167", "recorded": "1", "streamed": "0",
    }
    one = series.handle("GET", f"{USAGE}/{element.get('id')}", [], []).item
    assert one is not None and one[0] == "mpLicenseUsage"
    assert failure(series, "GET", f"{USAGE}/{'0' * 8}-0000-4000-8000-{'0' * 12}").reason == (
        "mpLicenseUsageDoesNotExist")
    response = series.handle("GET", USAGE, [("hostId", "host-b")], [])
    assert response.listing is not None
    data = json.loads(json_list(*response.listing))
    assert data["MPLicenseUsage"]["total"] == 3
    assert data["MPLicenseUsage"]["mpLicenseUsage"][0]["sharedAudioOnly"] == 2


def test_offset_and_limit_page_through(series: Api) -> None:
    pages = [starts(listing(series, USAGE, [("offset", str(o)), ("limit", "4"), ("hostId", "host-a")]))
             for o in (0, 4, 8, 12)]
    assert [len(p) for p in pages] == [4, 4, 4, 0]
    assert [s for page in pages for _, s in page] == [
        f"{10 + m // 60}:{m % 60:02d}" for m in range(0, 60, 5)]
    assert failure(series, "GET", USAGE, query=[("offset", "-1")]).reason == "parameterError"


@pytest.mark.parametrize(("query", "expected"), [
    # Intervals ending at or after startTime...
    ([("startTime", "2026-12-05T10:50:00Z")], ["10:45", "10:50", "10:55"]),
    ([("startTime", "2026-12-05T10:50:00.5Z")], ["10:50", "10:55"]),
    # ... and starting before endTime.
    ([("endTime", "2026-12-05T10:10:00Z")], ["10:00", "10:05"]),
    ([("endTime", "2026-12-05T10:10:00.5Z")], ["10:00", "10:05", "10:10"]),
    ([("startTime", "2026-12-05T11:20:00+01:00"), ("endTime", "2026-12-05T10:30:00Z")],
     ["10:15", "10:20", "10:25"]),
    ([("startTime", "2026-12-06T00:00:00Z")], []),
])
def test_time_filters(series: Api, query: list[tuple[str, str]], expected: list[str]) -> None:
    root = listing(series, USAGE, [*query, ("hostId", "host-a")])
    assert [s for _, s in starts(root)] == expected
    assert root.get("total") == str(len(expected))


def test_host_and_bad_filters(series: Api) -> None:
    root = listing(series, USAGE, [("hostId", "host-b"), ("startTime", "2026-12-05T10:06:00Z")])
    assert starts(root) == [("host-b", "10:05"), ("host-b", "10:10")]
    assert listing(series, USAGE, [("hostId", "nobody")]).get("total") == "0"
    for name, value in (("startTime", "yesterday"), ("endTime", "2026-12-05 10:00"),
                        ("endTime", "0001-01-01T00:00:00Z"), ("startTime", "2026-12-05T10:00:00")):
        refused = failure(series, "GET", USAGE, query=[(name, value)])
        assert (refused.reason, refused.attrs) == ("parameterError",
                                                   {"parameter": name, "error": "invalidValue"})


def test_known_hosts(series: Api) -> None:
    root = listing(series, HOSTS)
    assert root.tag == "knownHosts" and root.get("total") == "2"
    assert [(e.tag, e.findtext("hostId"), e.findtext("firstSeen"), e.findtext("lastSeen"))
            for e in root] == [
        ("knownHost", "host-a", "2026-12-05T11:00:00Z", "2026-12-05T11:00:00Z"),
        ("knownHost", "host-b", "2026-12-05T10:15:00Z", "2026-12-05T10:15:00Z"),
    ]
    page = listing(series, HOSTS, [("offset", "1"), ("limit", "1")])
    assert page.get("total") == "2" and [e.findtext("hostId") for e in page] == ["host-b"]
    one = series.handle("GET", f"{HOSTS}/{root[0].get('id')}", [], []).item
    assert one is not None and one[0] == "knownHost"


def test_the_series_is_read_only(series: Api) -> None:
    row = listing(series, USAGE)[0].get("id")
    host = listing(series, HOSTS)[0].get("id")
    for method, path, form in [
        ("POST", USAGE, [("personal", "1")]), ("PUT", f"{USAGE}/{row}", [("personal", "9")]),
        ("DELETE", f"{USAGE}/{row}", []), ("DELETE", USAGE, []),
        ("POST", HOSTS, [("hostId", "x")]), ("PUT", f"{HOSTS}/{host}", [("hostId", "x")]),
        ("DELETE", f"{HOSTS}/{host}", []),
    ]:
        refused = failure(series, method, path, form)
        assert (refused.reason, refused.status) == ("invalidOperation", 405), (method, path)
    assert listing(series, USAGE).get("total") == "15"
    assert listing(series, HOSTS).get("total") == "2"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeContext]:
    ctx = NodeContext(DataDir(tmp_path / "node"))
    yield ctx
    ctx.close()


def test_the_licensing_state_the_api_shows_follows_the_usage(api: Api, node: NodeContext) -> None:
    """A licensed node 200 days old that used 3 shared licences of its 2 on the last 20 days:
    the clock stopped moving the expiry on the 15th such day (guide B.3 c/d)."""
    today = datetime.now(UTC).date()
    expiry = today + timedelta(days=300)
    licence = LicenseFile(issuer="Test", serial="s1", issued=today - timedelta(days=400), authority="k1",
                          hosts=(node.node_id,), features={Feature.CALL_BRIDGE: expiry},
                          personal=UserLimit(5, expiry), shared=UserLimit(2, expiry))
    node.config.set_many((NODE_CREATED, time.time() - 200 * 86400),
                         (LICENSE_APPLIED, {"payload": licence.to_payload(), "applied": 0, "sha256": ""}))
    api.env["node"] = node
    cluster = listing_one(api, "/clusterLicensing")
    # No usage reported: the clock ran out 90 days after the node was created.
    assert cluster == ("expired", show_date(today - timedelta(days=110)))
    noon = datetime(today.year, today.month, today.day, 12, tzinfo=UTC).timestamp()
    with api.store.txn() as txn:
        for n in range(90):
            start = int(noon - n * 86400)
            save(txn, [Interval(node.node_id, start, start + 300,
                                Peaks(shared_full=3 if n < 20 else 1, weighted_shared=3.0 if n < 20 else 1.0))],
                 noon)
    assert listing_one(api, "/clusterLicensing") == ("activated", show_date(today + timedelta(days=84)))
    # The call bridge's enforcement: alarm level 1 (out of compliance), from its recorder.
    recorder = UsageRecorder.for_node(node, api.store, lambda: None, clock=lambda: noon + 3600)
    recorder.sample()
    assert listing(api, HOSTS)[0].findtext("hostId") == node.node_id
    state = current(node, usage=recorder.daily)
    assert state.alarm_level == 1 and state.compliance is not None
    assert state.compliance.countdown == 84


def listing_one(api: Api, path: str) -> tuple[str | None, str | None]:
    """The status and expiry of ``callBridge`` in ``path``."""
    item = api.handle("GET", path, [], []).item
    assert item is not None
    entry = ET.fromstring(xml_one(item)).find("features/callBridge")
    assert entry is not None
    return entry.findtext("status"), entry.findtext("expiry")
