"""The REST API (``/api/v1``) on the web admin's listener, as the guide has it.

The API authenticates on its own (HTTP Basic for admin and api accounts, or
the web admin session through ``auth.session_user``); the sign-in middleware
lets its prefix through. Opening the database can take a while (or hang on an
unreachable PostgreSQL), so it happens in the background: the web admin is up
at once, and API requests wait until the database is open.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from moot.webadmin.auth import API_PREFIX, session_user

if TYPE_CHECKING:
    from moot.api.http import ApiHttp
    from moot.node.context import NodeContext

log = logging.getLogger("moot.webadmin")


def open_api(node: NodeContext) -> ApiHttp | None:
    """The API's HTTP front end over the node's database; None (logged) when it cannot open."""
    from moot.api.http import ApiHttp

    try:
        return ApiHttp(node, node.api, session_user=session_user)
    except Exception as exc:  # the web admin pages must come up even so
        log.error("web admin: the API is not available: %s", exc, exc_info=True)
        return None


class ApiMount:
    """``/api/v1`` routes that hand each request to the API once it is open."""

    def __init__(self, node: NodeContext) -> None:
        self._opening: asyncio.Future[ApiHttp | None] = asyncio.ensure_future(
            asyncio.to_thread(open_api, node)
        )

    def mount(self, app: web.Application) -> None:
        app[API_MOUNT] = self
        app.router.add_route("*", API_PREFIX, self.handle)
        app.router.add_route("*", API_PREFIX + r"/{tail:[\s\S]*}", self.handle)

    async def opened(self) -> ApiHttp | None:
        """The API once open (None when it could not open): the API explorer calls it in-process."""
        return await asyncio.shield(self._opening)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        api = await self.opened()
        if api is None:
            return web.Response(status=503, body=b"")
        return await api.handle(request)

    def close(self) -> None:
        """Close the API now, or as soon as it has opened (a thread cannot be interrupted)."""

        def closed(fut: asyncio.Future[ApiHttp | None]) -> None:
            api = None if fut.cancelled() or fut.exception() else fut.result()
            if api is not None:
                api.close()

        self._opening.add_done_callback(closed)


#: The mount, for the web admin pages that use the API in-process (the API explorer).
API_MOUNT = web.AppKey("apimount", ApiMount)
