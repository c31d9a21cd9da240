"""The web admin in Chromium: sign in, look at the status page at laptop and phone widths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ADMIN_PASSWORD, ROOT, RunningNode, config_of

NEW_PASSWORD = "Br0wser-Chosen!"

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


@pytest.fixture
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_sign_in_and_status_page(node: RunningNode, chromium: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(chromium, Browser)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = f"https://127.0.0.1:{node.ports.https}"
    errors: list[str] = []

    context = chromium.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 800}
    )
    page = context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(base + "/")
    expect(page).to_have_url(base + "/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "webadmin-login.png"))

    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")

    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/")
    expect(page.get_by_role("heading", name="Status", level=1)).to_be_visible()
    expect(page.get_by_text("This server is currently unlicensed")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_contain_text("admin")
    table = page.get_by_role("table")
    expect(table).to_contain_text("Web Admin")
    expect(table).to_contain_text(f"https 127.0.0.1:{node.ports.https}")
    expect(table.get_by_text("running").first).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Status")).to_have_attribute("aria-current", "page")
    page.screenshot(path=str(ARTIFACTS / "webadmin-status.png"), full_page=True)

    nav.get_by_role("link", name="Configuration").click()
    expect(page.get_by_text("Nothing to configure here yet")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "webadmin-configuration.png"))
    nav.get_by_role("link", name="API").click()
    expect(page.get_by_role("heading", name="API explorer")).to_be_visible()

    # Phone width: the same session, everything still reachable.
    phone = chromium.new_context(
        ignore_https_errors=True,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        storage_state=context.storage_state(),
    )
    small = phone.new_page()
    small.goto(base + "/")
    expect(small.get_by_role("heading", name="Status", level=1)).to_be_visible()
    expect(small.get_by_role("button", name="Sign out")).to_be_visible()
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    small.screenshot(path=str(ARTIFACTS / "webadmin-status-phone.png"), full_page=True)
    phone.close()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto(base + "/")
    expect(page).to_have_url(base + "/login")

    # A new account must choose its own password before anything else.
    store, _, accounts = config_of(node.datadir)
    accounts.add("carol", "admin", ADMIN_PASSWORD)
    store.close()
    page.get_by_label("User name").fill("carol")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/password")
    expect(page.get_by_text("You must choose a new password")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "webadmin-password.png"))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password has been changed.")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_contain_text("carol")
    context.close()
    # The refused sign-in answers 401 on purpose; anything else (a Content-Security-Policy
    # violation, a missing file) is a fault of the pages.
    assert [e for e in errors if "status of 401" not in e] == [], errors
