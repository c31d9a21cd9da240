"""The REST API of a running node as the call bridge end-to-end tests use it."""

from __future__ import annotations

import asyncio
import base64
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests.helpers import ADMIN_PASSWORD, RunningNode

AUTH = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()}


class Api:
    def __init__(self, http: aiohttp.ClientSession, node: RunningNode) -> None:
        self.http = http
        self.base = f"https://127.0.0.1:{node.ports.https}/api/v1"

    async def post(self, path: str, **form: str) -> str:
        """Create; the new object's id."""
        resp = await self.http.post(self.base + path, data=form, headers=AUTH)
        assert resp.status == 200, (path, resp.status, await resp.text())
        return resp.headers["Location"].rsplit("/", 1)[-1]

    async def put(self, path: str, **form: str) -> None:
        resp = await self.http.put(self.base + path, data=form, headers=AUTH)
        assert resp.status == 200, (path, resp.status, await resp.text())

    async def delete(self, path: str) -> None:
        resp = await self.http.delete(self.base + path, headers=AUTH)
        assert resp.status == 200, (path, resp.status, await resp.text())

    async def get(self, path: str) -> ET.Element:
        resp = await self.http.get(self.base + path, headers=AUTH)
        assert resp.status == 200, (path, resp.status, await resp.text())
        return ET.fromstring(await resp.read())


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


@pytest.fixture(name="api")
async def api_fixture(node: RunningNode) -> AsyncIterator[Api]:
    """The node's API, with an inbound dial plan rule for calls to 127.0.0.1."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http:
        client = Api(http, node)
        await client.post("/inboundDialPlanRules", domain="127.0.0.1")
        yield client
