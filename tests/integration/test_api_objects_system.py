"""``/system`` objects and the POST queries (accessQuery, uriUsageQuery)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import moot
from moot.api.encoding import xml_one
from moot.api.engine import Api, Response

# The catalog tests' fixtures (one store per module, emptied for each test) and helpers.
from tests.api_fixtures import TYPES, Maker, failure, listing


def element(response: Response) -> ET.Element:
    assert response.item is not None
    return ET.fromstring(xml_one(response.item))


def test_status_defaults_without_a_runtime(api: Api) -> None:
    status = element(api.handle("GET", "/system/status", [], []))
    assert status.tag == "status"
    assert status.findtext("softwareVersion") == moot.__version__
    assert status.findtext("uptimeSeconds") == "0"
    assert status.findtext("activated") == "true"
    assert status.findtext("clusterEnabled") == "false"
    assert status.findtext("callLegsActive") == "0"
    assert status.find("hostId") is None
    assert time.strptime(status.findtext("cdrTime") or "", "%Y-%m-%dT%H:%M:%SZ")
    assert failure(api, "PUT", "/system/status", [("uptimeSeconds", "5")]).reason == "invalidOperation"
    assert failure(api, "POST", "/system/status").reason == "invalidOperation"


class _Counters:
    """Stands in for the running call bridge's counters (the call bridge tests use the real one)."""

    def system_counters(self) -> dict[str, int]:
        return {"callLegsActive": 3}


def test_status_reads_the_runtime_environment(api: Api) -> None:
    api.env.update(started=time.time() - 90, host_id="h-1", callbridge=_Counters(), cluster_enabled=True)
    status = element(api.handle("GET", "/System/Status/", [], []))
    assert 89 <= int(status.findtext("uptimeSeconds") or 0) <= 100
    assert status.findtext("hostId") == "h-1"
    assert status.findtext("callLegsActive") == "3"
    assert status.findtext("clusterEnabled") == "true"


def test_database_shows_clustering_as_an_attribute(api: Api) -> None:
    item = api.handle("GET", "/system/database", [], []).item
    assert item is not None
    assert xml_one(item) == b'<?xml version="1.0"?><database clustered="disabled"></database>'
    api.env["database_clustered"] = True
    assert element(api.handle("GET", "/system/database", [], [])).get("clustered") == "enabled"


def test_alarms_list_is_empty_and_read_only(api: Api) -> None:
    root = listing(api, "/system/alarms")
    assert (root.tag, root.get("total"), len(root)) == ("alarms", "0", 0)
    assert failure(api, "POST", "/system/alarms", [("type", "x")]).reason == "invalidOperation"


def test_system_profiles_set_and_unset(api: Api) -> None:
    maker = Maker(api)
    profile = maker.create(TYPES["callLegProfile"])
    assert len(element(api.handle("GET", "/system/profiles", [], []))) == 0
    api.handle("PUT", "/system/profiles", [], [("callLegProfile", profile)])
    profiles = element(api.handle("GET", "/system/profiles", [], []))
    assert (profiles.tag, profiles.findtext("callLegProfile")) == ("profiles", profile)
    missing = "00000000-0000-4000-8000-000000000001"
    assert failure(api, "PUT", "/system/profiles", [("dtmfProfile", missing)]).reason == "dtmfProfileDoesNotExist"
    assert failure(api, "POST", "/system/profiles", [("callLegProfile", profile)]).reason == "invalidOperation"
    api.handle("PUT", "/system/profiles", [], [("callLegProfile", "")])
    assert element(api.handle("GET", "/system/profiles", [], [])).find("callLegProfile") is None


def test_cluster_configuration_defaults_and_limits(api: Api) -> None:
    cluster = element(api.handle("GET", "/system/configuration/cluster", [], []))
    assert cluster.tag == "cluster"
    assert cluster.findtext("newConferenceLoadLimitBasisPoints") == "5000"
    assert cluster.findtext("existingConferenceLoadLimitBasisPoints") == "8000"
    api.handle("PUT", "/system/configuration/cluster", [], [("uniqueName", "cb1"), ("participantLimit", "200")])
    cluster = element(api.handle("GET", "/system/configuration/cluster", [], []))
    assert (cluster.findtext("uniqueName"), cluster.findtext("participantLimit")) == ("cb1", "200")
    err = failure(api, "PUT", "/system/configuration/cluster", [("loadLimit", "-1")])
    assert err.attrs == {"parameter": "loadLimit", "error": "invalidValue"}
    err = failure(api, "PUT", "/system/configuration/cluster", [("newConferenceLoadLimitBasisPoints", "10001")])
    assert err.attrs["parameter"] == "newConferenceLoadLimitBasisPoints"


def test_cdr_receivers_accept_url_and_are_limited(api: Api) -> None:
    location = api.handle("POST", "/system/cdrReceivers", [], [("url", "https://cdr.example.com/1")]).location
    assert location is not None and location.startswith("/api/v1/system/cdrReceivers/")
    receiver = element(api.handle("GET", f"/system/cdrReceivers/{location[-36:]}", [], []))
    assert receiver.findtext("uri") == "https://cdr.example.com/1" and receiver.find("url") is None
    for n in range(2, 5):
        api.handle("POST", "/system/cdrReceivers", [], [("uri", f"https://cdr.example.com/{n}")])
    assert failure(api, "POST", "/system/cdrReceivers", [("uri", "https://x.example.com/")]).reason == "tooManyCdrReceivers"
    assert listing(api, "/system/cdrReceivers").get("total") == "4"
    assert failure(api, "GET", "/system/cdrReceivers/00000000-0000-4000-8000-000000000002").reason == "cdrReceiverDoesNotExist"


# --- queries ---------------------------------------------------------------------------------


def test_access_query_finds_uri_web_address_and_ivr(api: Api) -> None:
    api.handle("POST", "/inboundDialPlanRules", [], [("domain", "low.example"), ("priority", "1")])
    api.handle("POST", "/inboundDialPlanRules", [], [("domain", "meet.example"), ("priority", "9")])
    api.handle("POST", "/webBridges", [], [("url", "https://join.example/")])
    api.handle("POST", "/ivrs", [], [("uri", "dialin")])
    api.handle("POST", "/coSpaces", [], [("name", "Sales"), ("uri", "Sales.Room"), ("callId", "7654321")])
    by_uri = element(api.handle("POST", "/accessQuery", [], [("uri", "sales.room")]))
    assert by_uri.tag == "accessQuery"
    assert by_uri.findtext("uri") == "sales.room@meet.example"
    assert by_uri.findtext("webAddress") == "https://join.example/meeting/7654321"
    assert by_uri.findtext("ivr") == "dialin@meet.example"
    by_call_id = element(api.handle("POST", "/accessQuery", [], [("callId", "7654321")]))
    assert by_call_id.findtext("uri") == "sales.room@meet.example"
    assert len(element(api.handle("POST", "/accessQuery", [], [("uri", "nobody")]))) == 0


def test_access_query_respects_the_tenant(api: Api) -> None:
    maker = Maker(api)
    tenant = maker.create(TYPES["tenant"])
    api.handle("POST", "/coSpaces", [], [("name", "T"), ("uri", "t.room"), ("tenant", tenant)])
    assert len(element(api.handle("POST", "/accessQuery", [], [("uri", "t.room"), ("tenant", tenant)]))) == 1
    other = maker.create(TYPES["tenant"])
    assert len(element(api.handle("POST", "/accessQuery", [], [("uri", "t.room"), ("tenant", other)]))) == 0
    missing = "00000000-0000-4000-8000-000000000003"
    assert failure(api, "POST", "/accessQuery", [("uri", "t.room"), ("tenant", missing)]).reason == "tenantDoesNotExist"
    assert failure(api, "POST", "/accessQuery", [("bogus", "1")]).attrs["error"] == "unrecognised"


def test_queries_answer_only_post(api: Api) -> None:
    for path in ("/accessQuery", "/uriUsageQuery"):
        assert failure(api, "GET", path).reason == "invalidOperation"
        assert failure(api, "PUT", path, [("uri", "x")]).reason == "invalidOperation"
        assert failure(api, "DELETE", path).reason == "invalidOperation"


def test_uri_usage_query_names_space_user_and_ivr(api: Api) -> None:
    space = api.handle("POST", "/coSpaces", [], [("name", "Ann"), ("uri", "ann")]).location
    user = api.handle("POST", "/users", [], [("userJid", "ann@example.com")]).location
    assert space is not None and user is not None
    usage = element(api.handle("POST", "/uriUsageQuery", [], [("uri", "ANN")]))
    assert usage.tag == "uriUsageQuery"
    assert usage.findtext("coSpaceId") == space[-36:]
    assert usage.findtext("userId") == user[-36:]
    ivr = api.handle("POST", "/ivrs", [], [("uri", "menu")]).location
    assert ivr is not None
    assert element(api.handle("POST", "/uriUsageQuery", [], [("uri", "menu")])).findtext("ivrId") == ivr[-36:]
    assert failure(api, "POST", "/uriUsageQuery", []).attrs == {"parameter": "uri", "error": "required"}
    # Objects of a tenant are found only when asking within that tenant.
    tenant = Maker(api).create(TYPES["tenant"])
    api.handle("POST", "/coSpaces", [], [("name", "T"), ("uri", "tenanted"), ("tenant", tenant)])
    assert len(element(api.handle("POST", "/uriUsageQuery", [], [("uri", "tenanted")]))) == 0
    within = element(api.handle("POST", "/uriUsageQuery", [], [("uri", "tenanted"), ("tenant", tenant)]))
    assert within.find("coSpaceId") is not None
