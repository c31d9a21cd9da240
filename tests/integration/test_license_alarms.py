"""Licence alarms in /system/alarms (guide B.3/B.4): raised with the alarm level, replaced when
it changes, cleared when it goes; their active time counts from when they were raised."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from moot.api.encoding import xml_one
from moot.api.engine import Api
from moot.callbridge import alarms
from tests.api_fixtures import failure, listing


def listed(api: Api) -> list[ET.Element]:
    return list(listing(api, "/system/alarms"))


def test_licence_alarms_follow_the_level(api: Api) -> None:
    assert listed(api) == []
    with api.store.txn() as txn:
        alarms.sync(txn, 0, now=1000.0)
    assert listed(api) == []
    with api.store.txn() as txn:
        alarms.sync(txn, 2, now=1000.0)
    [alarm] = listed(api)
    assert alarm.findtext("type") == "licenseExpired"
    assert "grace" in (alarm.findtext("failureReason") or "")
    # Still level 2 a minute later: the same alarm, its active time updated.
    with api.store.txn() as txn:
        alarms.sync(txn, 2, now=1060.0)
    [alarm] = listed(api)
    assert alarm.findtext("activeTimeSeconds") == "60"
    one = api.handle("GET", f"/system/alarms/{alarm.get('id')}", [], []).item
    assert one is not None
    detail = ET.fromstring(xml_one(one))
    assert int(detail.findtext("activeTimeSeconds") or 0) > 60  # from the real clock: raised in 1970
    assert detail.find("raisedAt") is None  # not shown
    # Level 3 replaces it; level 0 clears it.
    with api.store.txn() as txn:
        alarms.sync(txn, 3, now=1100.0)
    assert [a.findtext("type") for a in listed(api)] == ["licenseOutOfComplianceExpired"]
    with api.store.txn() as txn:
        alarms.sync(txn, 0, now=1200.0)
    assert listed(api) == []
    # Operators cannot make or delete alarms.
    assert failure(api, "POST", "/system/alarms", [("type", "x")]).status == 405
