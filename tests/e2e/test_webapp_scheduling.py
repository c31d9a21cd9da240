"""The scheduler issue's web app part, in Chromium: a signed-in user schedules a weekly meeting
from the web app, sees it in "Upcoming meetings", and the scheduler's API has it with the user
as organizer. A wrong entry (end before start) is refused at the field."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.callbridge_api import Api
from tests.e2e.test_webbridge_browser import ARTIFACTS, CHROMIUM, chromium, new_page
from tests.helpers import RunningNode

__all__ = ["chromium"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


async def test_user_schedules_a_weekly_meeting_in_the_web_app(node: RunningNode, api: Api, chromium: Any) -> None:
    from playwright.async_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await api.post("/users", userJid="pat@example.com", name="Pat Planner", email="pat@example.com",
                   password="Plan-Ahead-42")
    assert node.mmp("scheduler enable").returncode == 0
    page, errors = await new_page(chromium, 1280, 1100)
    await page.goto(f"https://127.0.0.1:{node.ports.webbridge}/")
    await page.click("#signin-open")
    await page.fill("#signin-username", "pat@example.com")
    await page.fill("#signin-password", "Plan-Ahead-42")
    await page.click("#signin-button")
    await expect(page.locator("#meetings-section")).to_be_visible(timeout=10000)
    await expect(page.locator("#meetings-empty")).to_be_visible()
    await page.fill("#schedule-name", "Design review")
    await page.fill("#schedule-date", "2031-06-02")
    await page.fill("#schedule-start", "14:00")
    await page.fill("#schedule-end", "13:00")
    await page.fill("#schedule-timezone", "Europe/Berlin")
    await page.click("#schedule-submit")
    await expect(page.locator("#schedule-error")).to_contain_text("must end after it starts")
    await page.fill("#schedule-end", "15:00")
    await page.select_option("#schedule-repeat", "weekly")
    await page.fill("#schedule-count", "4")
    await page.fill("#schedule-invitees", "ann@example.com, bo@example.com")
    await page.click("#schedule-submit")
    await expect(page.locator("#schedule-done")).to_be_visible(timeout=10000)
    item = page.locator("#meetings-list li").first
    await expect(item).to_contain_text("Design review", timeout=10000)
    await expect(item).to_contain_text("Every week, 4 times")
    await expect(item).to_contain_text("Europe/Berlin")
    await page.screenshot(path=str(ARTIFACTS / "webapp-scheduling.png"), full_page=True)
    meeting_id = await item.get_attribute("data-meeting-id")
    assert meeting_id
    # The scheduler's API has the meeting, organized by Pat, with the invitees.
    from moot.node.context import NodeContext
    from moot.scheduler.api import scheduling

    ctx = NodeContext(node.datadir)
    try:
        response = scheduling(ctx).api.handle("GET", f"/meetings/{meeting_id}", [], [])
    finally:
        ctx.close()
    assert response.item is not None
    fields = {(f if isinstance(f, str) else f.name): v for f, v in response.item[2]}
    assert fields["name"] == "Design review"
    assert fields["recurrence"] == "FREQ=WEEKLY;COUNT=4"
    assert fields["start"] == "2031-06-02T14:00:00" and fields["timeZone"] == "Europe/Berlin"
    assert fields["invitees"] == "ann@example.com,bo@example.com"
    assert fields["organizerDisplayName"] == "Pat Planner"
    # The only console errors are the browser's own notes on the refused request.
    assert not [e for e in errors if "Failed to load resource" not in e], errors
