"""The API explorer in Chromium: create a space, find it in the list, filter, open it,
edit it, delete it; at laptop and phone widths, with screenshots for the record."""

# The pages use typographic characters on purpose (1\u201310 of 23, \u2039 Previous).
# ruff: noqa: RUF001

from __future__ import annotations

import base64
import json
import urllib.request
from ssl import CERT_NONE, create_default_context

import pytest

from tests.e2e.test_webadmin_browser import ARTIFACTS, CHROMIUM, chromium  # noqa: F401
from tests.helpers import ADMIN_PASSWORD, RunningNode

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]


def api_post(node: RunningNode, path: str, form: dict[str, str]) -> None:
    """Some spaces made through the REST API, so that the list has pages."""
    ctx = create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = CERT_NONE
    body = "&".join(f"{k}={v}" for k, v in form.items()).encode()
    request = urllib.request.Request(
        f"https://127.0.0.1:{node.ports.https}/api/v1/{path}",
        data=body,
        method="POST",
        headers={
            "Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(request, context=ctx, timeout=10) as r:
        assert r.status == 200


def api_get(node: RunningNode, path: str) -> dict[str, object]:
    ctx = create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = CERT_NONE
    request = urllib.request.Request(
        f"https://127.0.0.1:{node.ports.https}/api/v1/{path}",
        headers={
            "Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode(),
            "Accept": "application/json",
        },
    )
    with urllib.request.urlopen(request, context=ctx, timeout=10) as r:
        result: dict[str, object] = json.loads(r.read())
        return result


def test_api_explorer_create_filter_edit_delete(node: RunningNode, chromium: object) -> None:  # noqa: F811
    from playwright.sync_api import Browser, expect

    assert isinstance(chromium, Browser)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = f"https://127.0.0.1:{node.ports.https}"
    for i in range(14):
        api_post(node, "coSpaces", {"name": f"Project {i:02d}", "uri": f"project.{i:02d}", "callId": f"7000{i:02d}"})
    errors: list[str] = []
    context = chromium.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(base + "/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Status", level=1)).to_be_visible()

    # Configuration > API: the object types; ► expands the list of spaces.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API").click()
    expect(page.get_by_role("heading", name="API explorer")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "webadmin-api-explorer.png"))
    page.get_by_role("link", name="/api/v1/coSpaces", exact=True).click()
    expect(page.get_by_role("link", name="/api/v1/coSpaces", exact=True)).to_have_attribute("aria-expanded", "true")
    panel = page.get_by_role("region", name="coSpaces")
    expect(panel.get_by_text("1–10 of 14")).to_be_visible()
    panel.get_by_role("link", name="Next ›").click()
    expect(panel.get_by_text("11–14 of 14")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "webadmin-api-explorer-list.png"))

    # Create a space: a bad call ID first, then fixed.
    panel.get_by_role("link", name="Create coSpace").click()
    expect(page.get_by_role("heading", name="New coSpace")).to_be_visible()
    page.get_by_label("name", exact=True).fill("Board meeting")
    page.get_by_label("uri", exact=True).fill("Board.Meeting")
    page.get_by_label("callId", exact=True).fill("12ab")
    page.get_by_label("defaultLayout").select_option("speakerOnly")
    page.get_by_label("nonMemberAccess").select_option("false")
    page.get_by_role("button", name="Create coSpace").click()
    expect(page.get_by_role("alert")).to_contain_text("Check the value of callId.")
    expect(page.get_by_role("alert")).to_contain_text('parameterError parameter="callId" error="invalidValue"')
    call_id = page.get_by_label("callId", exact=True)
    expect(call_id).to_have_attribute("aria-invalid", "true")
    expect(call_id).to_have_accessible_description("This value is not valid. Digits only, at most 30 characters.")
    expect(page.get_by_label("name", exact=True)).to_have_value("Board meeting")
    page.screenshot(path=str(ARTIFACTS / "webadmin-api-explorer-error.png"), full_page=True)
    call_id.fill("880001")
    page.get_by_role("button", name="Create coSpace").click()
    expect(page.get_by_text("The object has been created.")).to_be_visible()
    expect(page.get_by_role("heading", name="coSpace “Board meeting”")).to_be_visible()
    expect(page.get_by_text("board.meeting", exact=True)).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "webadmin-api-explorer-object.png"), full_page=True)

    # See it in the list, filter, open it.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="coSpaces").click()
    panel = page.get_by_role("region", name="coSpaces")
    expect(panel.get_by_text("1–10 of 15")).to_be_visible()
    panel.get_by_label("Filter", exact=True).fill("board")
    panel.get_by_label("Filter", exact=True).press("Enter")
    expect(panel.get_by_text("1–1 of 1")).to_be_visible()
    expect(panel.get_by_role("cell", name="Board meeting")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "webadmin-api-explorer-filter.png"))
    panel.get_by_role("row").filter(has_text="Board meeting").get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="coSpace “Board meeting”")).to_be_visible()

    # Edit.
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit coSpace")).to_be_visible()
    expect(page.get_by_label("defaultLayout")).to_have_value("speakerOnly")
    page.get_by_label("name", exact=True).fill("Board meeting (weekly)")
    page.get_by_label("passcode").fill("2468")
    page.get_by_label("regenerateSecret").check()
    page.screenshot(path=str(ARTIFACTS / "webadmin-api-explorer-edit.png"), full_page=True)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your changes have been saved.")).to_be_visible()
    expect(page.get_by_role("heading", name="coSpace “Board meeting (weekly)”")).to_be_visible()
    object_url = page.url

    # Phone width: the same pages, nothing scrolls sideways.
    phone = chromium.new_context(
        ignore_https_errors=True,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        storage_state=context.storage_state(),
    )
    small = phone.new_page()
    for target, shot in (
        (base + "/configuration/api/coSpaces#t-coSpaces", "webadmin-api-explorer-phone.png"),
        (object_url.split("?")[0] + "?edit", "webadmin-api-explorer-edit-phone.png"),
    ):
        small.goto(target)
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{target} scrolls sideways on a phone ({width}px)"
        small.screenshot(path=str(ARTIFACTS / shot), full_page="edit" in shot)
    phone.close()

    # Delete, with confirmation; Cancel first keeps it.
    page.goto(object_url.split("?")[0])
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete this space?")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "webadmin-api-explorer-delete.png"), full_page=True)
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", name="coSpace “Board meeting (weekly)”")).to_be_visible()
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("The object has been deleted.")).to_be_visible()
    expect(page.get_by_role("region", name="coSpaces").get_by_text("1–10 of 14")).to_be_visible()
    spaces = api_get(node, "coSpaces?filter=board")["coSpaces"]
    assert isinstance(spaces, dict) and spaces["total"] == 0

    # Singletons: system/profiles is a form, system/status a table.
    page.goto(base + "/configuration/api/system/profiles#t-system-profiles")
    expect(page.get_by_label("callLegProfile")).to_be_visible()
    expect(page.get_by_role("button", name="Save")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "webadmin-api-explorer-profiles.png"))
    page.goto(base + "/configuration/api/system/status#t-system-status")
    status = page.get_by_role("region", name="system/status")
    expect(status.get_by_text("softwareVersion")).to_be_visible()
    expect(status.get_by_role("button")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "webadmin-api-explorer-status.png"))

    # Keyboard: the type list and the expanded list are reachable with Tab alone.
    page.goto(base + "/configuration/api")
    page.keyboard.press("Tab")  # skip link
    focused = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert "/api/v1/accessQuery" in " ".join(focused), focused
    context.close()
    # The refused create answers 400 on purpose; anything else (a Content-Security-Policy
    # violation, a missing file) is a fault of the pages.
    assert [e for e in errors if "status of 400" not in e] == [], errors
