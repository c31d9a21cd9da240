"""Configuration > API (the API explorer) against a running node: list, filter, page,
create with a validation error then fix it, edit, delete with confirmation, CSRF."""

# The pages use typographic characters on purpose (1\u201310 of 23, \u2039 Previous).
# ruff: noqa: RUF001

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.helpers import ADMIN_PASSWORD, RunningNode
from tests.integration.test_webadmin import Browser, Page

EXPLORER = "/configuration/api"
GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
NOWHERE = "00000000-0000-4000-8000-000000000000"
BASIC = "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()


@pytest.fixture
async def admin(node: RunningNode) -> AsyncIterator[Browser]:
    b = Browser(node.ports.https)
    try:
        signed_in = await b.login()
        assert signed_in.status == 303 and signed_in.location == "/"
        yield b
    finally:
        await b.http.close()


async def api_json(node: RunningNode, method: str, path: str, data: dict[str, str] | None = None) -> tuple[int, Any]:
    """The REST API itself, with HTTP Basic, to check what the explorer did."""
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http,
        http.request(
            method,
            f"https://127.0.0.1:{node.ports.https}/api/v1/{path}",
            data=data,
            headers={"Accept": "application/json", "Authorization": BASIC},
        ) as r,
    ):
        body = await r.read()
        return r.status, json.loads(body) if body else None


def text_of(page: Page) -> str:
    """The page's visible words, tags dropped and entities decoded."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))


def field_html(page: Page, name: str) -> str:
    m = re.search(rf'<div class="field field-\w+">\s*<label for="f-{name}">.*?</div>', page.text, re.S)
    assert m, f"no field {name} in the form"
    return m.group(0)


async def create_space(admin: Browser, **values: str) -> Page:
    form = await admin.get(f"{EXPLORER}/coSpaces?new")
    return await admin.post(f"{EXPLORER}/coSpaces", {"csrf": form.csrf(), "_op": "create", **values})


# the list of object types and the lists -----------------------------------------


async def test_object_types_listed_and_expand(node: RunningNode, admin: Browser) -> None:
    index = await admin.get(EXPLORER)
    assert index.status == 200
    assert "API explorer" in index.text
    for path in ("coSpaces", "tenants", "callLegProfiles", "system/status", "system/profiles"):
        assert f'href="{EXPLORER}/{path}#t-{path.replace("/", "-")}"' in index.text
        assert f"/api/v1/{path}<" in index.text
    # nested collections are reached from their parent object, not listed at the top
    assert "/api/v1/accessMethods" not in index.text and "/api/v1/coSpaces/" not in index.text
    assert index.text.count('aria-expanded="true"') == 0
    found = await admin.get(f"{EXPLORER}?types=profile")
    assert "/api/v1/callLegProfiles<" in found.text and "/api/v1/coSpaces<" not in found.text

    spaces = await admin.get(f"{EXPLORER}/coSpaces")
    assert spaces.status == 200
    assert spaces.text.count('aria-expanded="true"') == 1
    assert "▼" in spaces.text and "There are no coSpaces yet." in spaces.text
    assert "No objects" in spaces.text
    assert f'href="{EXPLORER}/coSpaces?new"' in spaces.text
    # the declared filters of coSpaces, each with a label
    for param in ("filter", "tenantFilter", "callLegProfileFilter"):
        assert f'<label for="q-t-coSpaces-{param}">' in spaces.text


async def test_paging_and_filter(node: RunningNode, admin: Browser) -> None:
    for i in range(23):
        status, _ = await api_json(node, "POST", "coSpaces", {"name": f"Room {i:02d}", "uri": f"room.{i:02d}"})
        assert status == 200
    first = await admin.get(f"{EXPLORER}/coSpaces")
    assert "1–10 of 23" in text_of(first)
    assert text_of(first).count("Room ") == 10
    assert 'aria-disabled="true">‹ Previous' in first.text
    nxt = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert nxt and "offset=10" in nxt.group(1)
    last = await admin.get(f"{EXPLORER}/coSpaces?offset=20")
    assert "21–23 of 23" in text_of(last) and "Room 22" in text_of(last)
    assert 'aria-disabled="true">Next ›' in last.text

    filtered = await admin.get(f"{EXPLORER}/coSpaces?filter=room.1")
    words = text_of(filtered)
    assert "1–10 of 10" in words and "Room 10" in words and "Room 05" not in words
    assert 'value="room.1"' in filtered.text and ">Clear<" in filtered.text
    none = await admin.get(f"{EXPLORER}/coSpaces?filter=no-such-room")
    assert "Nothing matches this filter." in none.text
    # a bad filter value is the API's failure, shown; the list is still there unfiltered
    bad = await admin.get(f"{EXPLORER}/coSpaces?tenantFilter=not-a-guid")
    assert bad.status == 200, text_of(bad)
    assert 'parameterError parameter="tenantFilter" error="invalidValue"' in text_of(bad)
    assert "1–10 of 23" in text_of(bad)


# create, edit, delete ----------------------------------------------------------------


async def test_create_form_comes_from_the_declaration(node: RunningNode, admin: Browser) -> None:
    form = await admin.get(f"{EXPLORER}/coSpaces?new")
    assert form.status == 200 and "New coSpace" in form.text
    assert '<select id="f-defaultLayout" name="defaultLayout"' in form.text
    assert '<option value="onePlusFive">' in field_html(form, "defaultLayout")
    booleans = field_html(form, "nonMemberAccess")
    assert "<select" in booleans and "(unset)" in booleans and 'value="false"' in booleans
    assert 'type="number"' in field_html(form, "panePlacementHighestImportance")
    assert 'type="checkbox"' in field_html(form, "regenerateSecret")
    assert 'type="checkbox"' in field_html(form, "requireCallId")
    tenant = field_html(form, "tenant")
    assert 'type="text"' in tenant and "The id of a tenant." in tenant
    assert f'href="{EXPLORER}/tenants#t-tenants"' in tenant
    assert 'maxlength="200"' in field_html(form, "name")
    # read-only fields are not inputs
    assert 'name="numAccessMethods"' not in form.text and 'name="autoGenerated"' not in form.text
    # secrets are password inputs (ldapServers password is write-only)
    ldap = await admin.get(f"{EXPLORER}/ldapServers?new")
    assert 'type="password"' in field_html(ldap, "password")


async def test_create_with_a_validation_error_then_fix_it(node: RunningNode, admin: Browser) -> None:
    refused = await create_space(admin, name="Team room", uri="Team.Room", callId="12ab")
    assert refused.status == 400
    words = text_of(refused)
    assert "Check the value of callId." in words
    assert 'parameterError parameter="callId" error="invalidValue"' in words
    error = field_html(refused, "callId")
    assert 'aria-invalid="true"' in error and "This value is not valid." in error
    assert 'aria-describedby="f-callId-error f-callId-hint"' in error
    # what was typed is kept
    assert 'value="Team room"' in field_html(refused, "name")
    assert 'value="12ab"' in error
    assert (await api_json(node, "GET", "coSpaces"))[1]["coSpaces"]["total"] == 0

    missing_tenant = await create_space(admin, name="Team room", tenant=NOWHERE)
    assert missing_tenant.status == 400
    assert "There is no tenant with this id." in field_html(missing_tenant, "tenant")
    assert "tenantDoesNotExist" in missing_tenant.text

    created = await create_space(admin, name="Team room", uri="Team.Room", callId="1234", nonMemberAccess="false")
    assert created.status == 303
    m = re.fullmatch(rf"{EXPLORER}/coSpaces/({GUID})\?created", created.location)
    assert m, created.location
    oid = m.group(1)
    shown = await admin.get(created.location)
    words = text_of(shown)
    assert "The object has been created." in words
    assert "coSpace “Team room”" in words and f"/api/v1/coSpaces/{oid}" in words
    assert "uri team.room" in words and "callId 1234" in words and "nonMemberAccess false" in words
    status, body = await api_json(node, "GET", f"coSpaces/{oid}")
    assert status == 200
    assert body["coSpace"]["uri"] == "team.room" and body["coSpace"]["nonMemberAccess"] is False
    assert "secret" in body["coSpace"]  # generated by the server as through the API

    duplicate = await create_space(admin, name="Other", uri="team.room")
    assert duplicate.status == 400
    words = text_of(duplicate)
    assert "Another space, access method or IVR already uses this URI." in words
    assert "The API answered duplicateCoSpaceUri" in words
    assert (await api_json(node, "GET", "coSpaces"))[1]["coSpaces"]["total"] == 1


async def test_edit_and_delete_with_confirmation(node: RunningNode, admin: Browser) -> None:
    status, _ = await api_json(node, "POST", "coSpaces", {"name": "Old", "uri": "old", "passcode": "42"})
    assert status == 200
    oid = (await api_json(node, "GET", "coSpaces"))[1]["coSpaces"]["coSpace"][0]["id"]
    path = f"{EXPLORER}/coSpaces/{oid}"
    secret = (await api_json(node, "GET", f"coSpaces/{oid}"))[1]["coSpace"]["secret"]

    form = await admin.get(path + "?edit")
    assert form.status == 200 and "Edit coSpace" in form.text
    assert 'value="Old"' in field_html(form, "name") and 'value="42"' in field_html(form, "passcode")
    assert "Set by the server" in form.text  # numAccessMethods, autoGenerated shown, not editable
    assert "autoGenerated false" in text_of(form) and 'name="autoGenerated"' not in form.text
    base = {"csrf": form.csrf(), "_op": "update", "name": "Old", "uri": "old", "passcode": "42"}

    bad = await admin.post(path, {**base, "panePlacementHighestImportance": "-5"})
    assert bad.status == 400
    assert "A whole number from 0 to" in field_html(bad, "panePlacementHighestImportance")
    assert (await api_json(node, "GET", f"coSpaces/{oid}"))[1]["coSpace"]["name"] == "Old"

    saved = await admin.post(path, {**base, "name": "New name", "passcode": "", "regenerateSecret": "true"})
    assert saved.status == 303 and saved.location == path + "?saved"
    after = (await api_json(node, "GET", f"coSpaces/{oid}"))[1]["coSpace"]
    assert after["name"] == "New name" and "passcode" not in after and after["uri"] == "old"
    assert after["secret"] != secret
    assert "Your changes have been saved." in (await admin.get(saved.location)).text

    # without the form's CSRF token nothing happens
    forged = await admin.post(path, {"_op": "delete"})
    assert forged.status == 403 and "This form has expired" in forged.text
    forged = await admin.post(path, {**base, "csrf": "wrong", "name": "Forged"})
    assert forged.status == 403
    assert (await api_json(node, "GET", f"coSpaces/{oid}"))[0] == 200
    assert (await api_json(node, "GET", f"coSpaces/{oid}"))[1]["coSpace"]["name"] == "New name"

    confirm = await admin.get(path + "?delete")
    assert confirm.status == 200
    words = text_of(confirm)
    assert "Delete this space?" in words, words
    assert "with its coSpaceUsers and accessMethods" in words
    assert "cannot be undone" in words
    gone = await admin.post(path, {"csrf": confirm.csrf(), "_op": "delete"})
    assert gone.status == 303 and gone.location == f"{EXPLORER}/coSpaces?deleted#t-coSpaces"
    assert (await api_json(node, "GET", f"coSpaces/{oid}"))[0] == 400
    listed = await admin.get(gone.location.split("#")[0])
    assert "The object has been deleted." in listed.text and "There are no coSpaces yet." in listed.text
    missing = await admin.get(path)
    assert missing.status == 404 and "There is no space with this id." in text_of(missing)


async def test_nested_access_methods_from_the_space(node: RunningNode, admin: Browser) -> None:
    await api_json(node, "POST", "coSpaces", {"name": "Parent", "uri": "parent"})
    oid = (await api_json(node, "GET", "coSpaces"))[1]["coSpaces"]["coSpace"][0]["id"]
    space = await admin.get(f"{EXPLORER}/coSpaces/{oid}")
    assert "Inside this space" in space.text
    child = f"{EXPLORER}/coSpaces/{oid}/accessMethods"
    assert f'href="{child}#t-accessMethods"' in space.text
    assert f'href="{EXPLORER}/coSpaces/{oid}/meetingEntryDetail#v-meetingEntryDetail"' in space.text
    expanded = await admin.get(child)
    assert "There are no accessMethods yet." in expanded.text and 'aria-expanded="true"' in expanded.text
    form = await admin.get(child + "?new")
    assert form.status == 200 and "POST /api/v1/coSpaces/" in text_of(form)
    made = await admin.post(child, {"csrf": form.csrf(), "_op": "create", "uri": "parent.guest", "scope": "public"})
    assert made.status == 303
    assert re.fullmatch(rf"{child}/{GUID}\?created", made.location)
    method = await admin.get(made.location)
    assert "uri parent.guest" in text_of(method)
    assert f'href="{child}#t-accessMethods"' in method.text  # breadcrumb back to the list
    listed = await admin.get(child)
    assert "parent.guest" in listed.text and "1–1 of 1" in text_of(listed)
    detail = await admin.get(f"{EXPLORER}/coSpaces/{oid}/meetingEntryDetail")
    assert "meetingEntryDetail" in detail.text and "parent" in text_of(detail)


async def test_singletons_and_queries(node: RunningNode, admin: Browser) -> None:
    status = await admin.get(f"{EXPLORER}/system/status")
    assert status.status == 200 and "softwareVersion" in status.text
    assert "<form method=\"post\"" not in status.text.split('class="panel"')[1].split("</li>")[0]

    profiles = await admin.get(f"{EXPLORER}/system/profiles")
    assert 'name="callLegProfile"' in profiles.text
    bad = await admin.post(
        f"{EXPLORER}/system/profiles", {"csrf": profiles.csrf(), "_op": "update", "callLegProfile": NOWHERE}
    )
    assert bad.status == 400
    assert "There is no call leg profile with this id." in field_html(bad, "callLegProfile")
    await api_json(node, "POST", "callLegProfiles", {"name": "Default"})
    pid = (await api_json(node, "GET", "callLegProfiles"))[1]["callLegProfiles"]["callLegProfile"][0]["id"]
    ok = await admin.post(
        f"{EXPLORER}/system/profiles", {"csrf": profiles.csrf(), "_op": "update", "callLegProfile": pid}
    )
    assert ok.status == 303 and ok.location == f"{EXPLORER}/system/profiles?saved#t-system-profiles"
    assert (await api_json(node, "GET", "system/profiles"))[1]["profiles"]["callLegProfile"] == pid
    again = await admin.get(ok.location.split("#")[0])
    assert "Your changes have been saved." in again.text and f'value="{pid}"' in again.text

    query = await admin.get(f"{EXPLORER}/uriUsageQuery")
    missing = await admin.post(f"{EXPLORER}/uriUsageQuery", {"csrf": query.csrf(), "_op": "query"})
    assert missing.status == 400 and "This value is required." in field_html(missing, "uri")
    await api_json(node, "POST", "coSpaces", {"uri": "used"})
    answer = await admin.post(f"{EXPLORER}/uriUsageQuery", {"csrf": query.csrf(), "_op": "query", "uri": "used"})
    assert answer.status == 200 and "coSpaceId" in answer.text


async def test_unknown_objects_and_operations(node: RunningNode, admin: Browser) -> None:
    nothing = await admin.get(f"{EXPLORER}/noSuchThing")
    assert nothing.status == 404 and "There is no such object type or object." in nothing.text
    wrong = await admin.get(f"{EXPLORER}/coSpaces/{NOWHERE}")
    assert wrong.status == 404 and "coSpaceDoesNotExist" in wrong.text
    form = await admin.get(f"{EXPLORER}/coSpaces?new")
    odd = await admin.post(f"{EXPLORER}/system/status", {"csrf": form.csrf(), "_op": "update"})
    assert odd.status == 400
    # signed out: the explorer is behind the sign-in like every page
    anonymous = Browser(node.ports.https)
    try:
        assert (await anonymous.get(f"{EXPLORER}/coSpaces")).location == "/login"
    finally:
        await anonymous.http.close()
