"""The web admin component: one TCP port, HTTPS only.

The listener itself (TLS sorted from plain HTTP by the first byte, plain HTTP only
redirected or refused) is :class:`moot.node.httpsonly.HttpsOnlySite`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from moot.licensing.node import current as licensing_current
from moot.licensing.usage import recent_node_usage
from moot.node.component import Component
from moot.node.httpsonly import HttpsOnlySite
from moot.node.interfaces import InterfaceNotMapped, listen_address
from moot.node.settings import WEBADMIN_ENABLED, WEBADMIN_HTTP_REDIRECT, WEBADMIN_LISTEN
from moot.pki import PkiError, server_ssl_context
from moot.webadmin import apimount, layout
from moot.webadmin.app import build_app
from moot.webadmin.sessions import WEBADMIN_IDLE_MINUTES, SessionStore
from moot.webadmin.tlsfiles import tls_files

if TYPE_CHECKING:
    from moot.node.context import NodeContext

log = logging.getLogger("moot.webadmin")

SWEEP_INTERVAL = 60.0


class WebAdmin(Component):
    name = "webadmin"
    title = "Web Admin"

    def __init__(self, node: NodeContext) -> None:
        super().__init__(node)
        self.sessions: SessionStore | None = None
        self._site: HttpsOnlySite | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._api: apimount.ApiMount | None = None

    def enabled(self) -> bool:
        return bool(self.node.config.get(WEBADMIN_ENABLED))

    async def start(self) -> None:
        config = self.node.config
        node = self.node
        layout.set_banner_source(lambda: licensing_current(node, usage=recent_node_usage(node)).banner)
        listen = config.get(WEBADMIN_LISTEN)
        port = int(listen["port"])
        try:
            address = listen_address(config, str(listen["iface"]))
        except InterfaceNotMapped as exc:
            raise RuntimeError(str(exc)) from None
        try:
            files = await asyncio.to_thread(tls_files, self.node, address)
            context = server_ssl_context(files.key, files.crt, files.bundle)
        except (PkiError, ValueError) as exc:
            raise RuntimeError(
                f"{exc}; fix with 'webadmin certs' (or 'webadmin certs none')"
            ) from None
        context.set_alpn_protocols(["http/1.1"])
        redirect = bool(config.get(WEBADMIN_HTTP_REDIRECT))
        self.sessions = SessionStore(
            self.node.sessions, idle_timeout=int(config.get(WEBADMIN_IDLE_MINUTES)) * 60.0
        )
        app = build_app(self.node, self.sessions)
        self._api = apimount.ApiMount(self.node)
        self._api.mount(app)
        site = HttpsOnlySite(app, [(address, port)], context, redirect=redirect,
                             hint="webadmin listen <if> <port>", name="web admin")
        await site.start()
        self._site = site
        self._sweeper = asyncio.create_task(self._sweep_loop())
        self.listeners = site.listeners
        self.detail = files.describe() + ("; plain HTTP redirected" if redirect else "")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self.sessions is not None:
            self.sessions.end_all()
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._api is not None:
            self._api.close()
            self._api = None
        self.listeners = []
        self.detail = ""

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            if self.sessions is not None:
                self.sessions.sweep()
