"""Guide B.9: which personal licence a call uses - the space owner's (even absent), else the
ad hoc escalator's, else the scheduled meeting owner's, else none (shared licences).

A real API store (SQLite) with the node's types and the scheduler's meetings, written through
the API engine as an operator would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moot.api.catalog import catalog
from moot.api.engine import Api
from moot.db.apistore import ApiStore
from moot.licensing.assignment import licence_holder
from moot.scheduler.meetings import TYPES as MEETING_TYPES


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    cat = catalog()
    store = ApiStore(f"sqlite:///{tmp_path / 'api.db'}", (*cat.types, *MEETING_TYPES))
    try:
        yield Api(store, cat)
    finally:
        store.close()


def post(api: Api, path: str, **form: str) -> str:
    response = api.handle("POST", path, [], list(form.items()))
    assert response.location is not None
    return response.location.rsplit("/", 1)[-1]


def holder(api: Api, space_id: str | None, **kwargs: Any) -> str | None:
    with api.store.reader() as txn:
        space = txn.get(api.catalog.by_name["coSpace"], space_id) if space_id else None
        return licence_holder(txn, space, **kwargs)


def test_assignment_order(api: Api) -> None:
    licensed = post(api, "/userProfiles", hasLicense="true")
    unlicensed = post(api, "/userProfiles", hasLicense="false")
    owner = post(api, "/users", userJid="owner@example.com", userProfile=licensed)
    plain = post(api, "/users", userJid="plain@example.com", userProfile=unlicensed)
    escalator = post(api, "/users", userJid="escalator@example.com", userProfile=licensed)
    organizer = post(api, "/users", userJid="organizer@example.com", userProfile=licensed)

    owned = post(api, "/coSpaces", name="Owned", uri="owned", ownerId=owner)
    assert holder(api, owned) == owner  # the owner's, though the owner is not in the call

    not_licensed_owner = post(api, "/coSpaces", name="Plain", uri="plain", ownerId=plain)
    assert holder(api, not_licensed_owner) is None  # shared licences
    # An ad hoc call escalated by a licensed user: the escalator's.
    assert holder(api, None, escalator=escalator) == escalator
    assert holder(api, None, escalator=plain) is None
    # The space owner's comes before the escalator's.
    assert holder(api, owned, escalator=escalator) == owner

    # A scheduled meeting on the plain space: its organizer's licence, while it has not ended.
    # (meetings belong to the scheduler's API: written to the shared store directly)
    with api.store.txn() as txn:
        txn.insert(api.store.types["meeting"], str(uuid.uuid4()), None, {
            "name": "Review", "start": "2026-12-05T10:00:00", "end": "2026-12-05T11:00:00",
            "timeZone": "UTC", "organizer": organizer, "coSpace": not_licensed_owner,
            "firstStart": "2026-12-05T10:00:00Z", "lastEnd": "2026-12-05T11:00:00Z"})
    assert holder(api, not_licensed_owner, now="2026-12-05T10:30:00Z") == organizer
    assert holder(api, not_licensed_owner, now="2026-12-05T12:00:00Z") is None  # over
    # The system default user profile licenses users without a profile of their own.
    nobody = post(api, "/users", userJid="default@example.com")
    default_owned = post(api, "/coSpaces", name="Default", uri="default", ownerId=nobody)
    assert holder(api, default_owned) is None
    api.handle("PUT", "/system/profiles", [], [("userProfile", licensed)])
    assert holder(api, default_owned) == nobody
