"""``/system/licensing``, ``/clusterLicensing`` and ``/system/multipartyLicensing``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from moot.api.encoding import json_one, xml_one
from moot.api.engine import Api
from moot.licensing.feature import Feature, show_date
from moot.licensing.licensefile import LicenseFile, UserLimit
from moot.licensing.state import evaluate
from tests.api_fixtures import failure

TODAY = date(2024, 6, 1)
FEATURES = ("callBridge", "callBridgeNoEncryption", "customizations", "recording")
PATHS = ("/system/licensing", "/clusterLicensing", "/system/multipartyLicensing")


def get(api: Api, path: str) -> ET.Element:
    item = api.handle("GET", path, [], []).item
    assert item is not None
    return ET.fromstring(xml_one(item))


def licence(expiry: date, *, personal: int = 20, shared: int = 5) -> LicenseFile:
    return LicenseFile(
        issuer="test authority",
        serial="S-1",
        issued=expiry - timedelta(days=365),
        hosts=("h-1",),
        features={Feature.CALL_BRIDGE: expiry, Feature.RECORDING: expiry},
        personal=UserLimit(personal, expiry),
        shared=UserLimit(shared, expiry),
    )


def entries(root: ET.Element) -> dict[str, tuple[str | None, str | None, str | None]]:
    features = root.find("features")
    assert features is not None
    return {
        e.tag: (e.findtext("status"), e.findtext("expiry"), e.findtext("limit")) for e in features
    }


def test_a_fresh_node_is_in_its_trial(api: Api) -> None:
    root = get(api, "/system/licensing")
    assert root.tag == "licensing"
    shown = entries(root)
    assert list(shown) == [*FEATURES, "personal", "shared"]
    today = date.today()
    # The trial shows as activated, until 90 days after the node's creation.
    trial_end = {show_date(today + timedelta(days=90)), show_date(today + timedelta(days=91))}
    for status, expiry, limit in shown.values():
        assert status == "activated"
        assert expiry in trial_end
        assert limit is None
    multiparty = get(api, "/system/multipartyLicensing")
    assert multiparty.find("personalLicenseLimit") is None  # the trial does not limit
    assert multiparty.findtext("callsWithoutPersonalLicense") == "0"


def test_trial_from_the_licensing_state(api: Api) -> None:
    api.env["licensing_state"] = evaluate(TODAY, created=TODAY - timedelta(days=10))
    trial_end = show_date(TODAY + timedelta(days=80))
    shown = entries(get(api, "/system/licensing"))
    assert shown["callBridge"] == ("activated", trial_end, None)
    assert shown["personal"] == ("activated", trial_end, None)
    cluster = entries(get(api, "/clusterLicensing"))
    assert list(cluster) == list(FEATURES)
    assert cluster["recording"][:2] == ("activated", trial_end)


def test_licensed_node(api: Api) -> None:
    expiry = TODAY + timedelta(days=300)
    api.env["licensing_state"] = evaluate(
        TODAY, created=TODAY - timedelta(days=400), licence=licence(expiry)
    )
    shown = entries(get(api, "/system/licensing"))
    assert shown["callBridge"] == ("activated", show_date(expiry), None)
    assert shown["recording"] == ("activated", show_date(expiry), None)
    assert shown["customizations"] == ("noLicense", None, None)
    assert shown["callBridgeNoEncryption"] == ("noLicense", None, None)
    assert shown["personal"] == ("activated", show_date(expiry), "20")
    assert shown["shared"] == ("activated", show_date(expiry), "5")
    # The cluster view never shows an expiry more than 90 days ahead.
    cluster = entries(get(api, "/clusterLicensing"))
    assert cluster["callBridge"][:2] == ("activated", show_date(TODAY + timedelta(days=90)))
    assert cluster["customizations"][0] == "noLicense"
    multiparty = get(api, "/system/multipartyLicensing")
    assert multiparty.tag == "multipartyLicensing"
    assert multiparty.findtext("personalLicenseLimit") == "20"
    assert multiparty.findtext("sharedLicenseLimit") == "5"
    for name in ("personalLicenses", "callsWithoutPersonalLicense",
                 "weightedCallsWithoutPersonalLicense", "callsActive"):
        assert multiparty.findtext(name) == "0"
    assert (multiparty.findtext("timestamp") or "").endswith("Z")


@pytest.mark.parametrize(
    ("days_after_expiry", "status"), [(30, "grace"), (91, "expired")]
)
def test_expired_licence(api: Api, days_after_expiry: int, status: str) -> None:
    expiry = TODAY - timedelta(days=days_after_expiry)
    api.env["licensing_state"] = evaluate(
        TODAY, created=TODAY - timedelta(days=800), licence=licence(expiry)
    )
    shown = entries(get(api, "/system/licensing"))
    assert shown["callBridge"][:2] == (status, show_date(expiry))
    assert shown["personal"][0] == status
    assert entries(get(api, "/clusterLicensing"))["callBridge"] == (
        "expired", show_date(expiry), None)
    multiparty = get(api, "/system/multipartyLicensing")
    assert multiparty.findtext("personalLicenseLimit") == "0"
    assert multiparty.findtext("sharedLicenseLimit") == "0"


def test_unlicensed_after_the_trial(api: Api) -> None:
    api.env["licensing_state"] = evaluate(TODAY, created=TODAY - timedelta(days=200))
    shown = entries(get(api, "/system/licensing"))
    assert all(v == ("noLicense", None, None) for v in shown.values())


def test_json_nests_the_features(api: Api) -> None:
    api.env["licensing_state"] = evaluate(TODAY, created=TODAY)
    item = api.handle("GET", "/system/licensing", [], []).item
    assert item is not None
    data = json.loads(json_one(item))
    assert data["licensing"]["features"]["callBridge"]["status"] == "activated"
    assert data["licensing"]["features"]["shared"]["expiry"] == show_date(
        TODAY + timedelta(days=90))


@pytest.mark.parametrize("path", PATHS)
def test_read_only(api: Api, path: str) -> None:
    for method in ("POST", "PUT", "DELETE"):
        assert failure(api, method, path, [("features", "x")]).reason == "invalidOperation"


def test_recording_and_streaming_need_the_recording_licence(api: Api) -> None:
    """Guide B.4 Table 6: no new recording or stream without an active recording licence."""
    call = api.handle("POST", "/calls", [], [("name", "Board")]).location
    assert call is not None
    path = "/calls/" + call.rsplit("/", 1)[-1]
    # After the trial, unlicensed: refused, and nothing changed.
    api.env["licensing_state"] = evaluate(TODAY, created=TODAY - timedelta(days=200))
    for name in ("recording", "streaming"):
        refused = failure(api, "PUT", path, [(name, "true")])
        assert refused.reason == "recordingNotLicensed" and refused.attrs["parameter"] == name
    shown = get(api, path)
    assert shown.findtext("recording") in (None, "false")
    # Licensed: it starts; an expired licence does not stop one already running.
    api.env["licensing_state"] = evaluate(TODAY, created=TODAY - timedelta(days=200),
                                          licence=licence(TODAY + timedelta(days=100)))
    api.handle("PUT", path, [], [("recording", "true")])
    assert get(api, path).findtext("recording") == "true"
    api.env["licensing_state"] = evaluate(TODAY, created=TODAY - timedelta(days=200))
    api.handle("PUT", path, [], [("recording", "true"), ("name", "Board 2")])
    # In the trial everything is licensed.
    api.env["licensing_state"] = evaluate(TODAY, created=TODAY)
    api.handle("PUT", path, [], [("streaming", "true")])
