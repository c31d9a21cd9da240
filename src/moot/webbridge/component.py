"""The web bridge component (guide: Web Bridge 3): the web app over HTTPS and browsers' legs.

``webbridge3 https listen`` chooses the interfaces and ports (``a:9443`` by default);
``webbridge3 https certs`` the key and full-chain certificate from the file store (a
self-signed certificate is made when none are set); ``webbridge3 http-redirect`` whether
plain HTTP on those ports is redirected to HTTPS. Browser legs join the calls of the call
bridge on the same node; ``webbridge3 restart`` ends them (the browsers are told) and
starts again with the current settings.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from moot.node.component import Component
from moot.node.httpsonly import HttpsOnlySite
from moot.node.interfaces import InterfaceNotMapped, listen_address
from moot.node.settings import (
    WEBBRIDGE_CERTS,
    WEBBRIDGE_ENABLED,
    WEBBRIDGE_HTTP_REDIRECT,
    WEBBRIDGE_LISTEN,
)
from moot.pki import PkiError, server_ssl_context
from moot.scheduler.settings import SCHEDULER_ENABLED
from moot.webadmin.tlsfiles import tls_files
from moot.webbridge.app import build_app
from moot.webbridge.rtcpool import RtcPool
from moot.webbridge.service import WebBridgeService

if TYPE_CHECKING:
    from moot.callbridge.bridge import Bridge
    from moot.node.context import NodeContext
    from moot.scheduler.api import Scheduling

log = logging.getLogger("moot.webbridge")


class WebBridge(Component):
    name = "webbridge"
    title = "Web Bridge"

    def __init__(self, node: NodeContext) -> None:
        super().__init__(node)
        self.service: WebBridgeService | None = None
        self._site: HttpsOnlySite | None = None
        self._rtc: RtcPool | None = None
        self._rtc_ready: asyncio.Task[None] | None = None

    def enabled(self) -> bool:
        return bool(self.node.config.get(WEBBRIDGE_ENABLED))

    async def start(self) -> None:
        config = self.node.config
        endpoints: list[tuple[str, int]] = []
        for entry in config.get(WEBBRIDGE_LISTEN):
            try:
                endpoints.append((listen_address(config, str(entry["iface"])), int(entry["port"])))
            except InterfaceNotMapped as exc:
                raise RuntimeError(str(exc)) from None
        if not endpoints:
            raise RuntimeError("no HTTPS listener; set one with 'webbridge3 https listen a:443'")
        try:
            files = await asyncio.to_thread(tls_files, self.node, endpoints[0][0], WEBBRIDGE_CERTS, "webbridge")
            context = server_ssl_context(files.key, files.crt, files.bundle)
        except (PkiError, ValueError, FileNotFoundError) as exc:
            raise RuntimeError(f"{exc}; fix with 'webbridge3 https certs' (or 'webbridge3 https certs none')") from None
        context.set_alpn_protocols(["http/1.1"])
        redirect = bool(config.get(WEBBRIDGE_HTTP_REDIRECT))
        api = await asyncio.to_thread(lambda: self.node.api)
        host, port = endpoints[0]
        public = f"https://{f'[{host}]' if ':' in host else host}{'' if port == 443 else f':{port}'}"

        def bridge() -> Bridge | None:
            found: Bridge | None = api.env.get("callbridge")
            return found

        node = self.node

        def scheduling() -> Scheduling | None:
            # The scheduler of this node, once it runs (it installs the mail outbox).
            from moot.scheduler.api import scheduling as scheduling_of
            return scheduling_of(node) if config.get(SCHEDULER_ENABLED) else None

        # The WebRTC workers (a process per core) come up while the listener starts; the first
        # browser waits for them if it comes first.
        rtc = RtcPool()
        rtc_ready = asyncio.create_task(rtc.start(), name="webrtc-workers")
        self._rtc, self._rtc_ready = rtc, rtc_ready
        service = WebBridgeService(api.store, bridge, public, scheduling, rtc, rtc_ready)
        site = HttpsOnlySite(build_app(service), endpoints, context, redirect=redirect,
                             hint="webbridge3 https listen <if>:<port>", name="web bridge")
        try:
            await site.start()
        except BaseException:
            await self._stop_rtc()
            raise
        self.service, self._site = service, site
        self.listeners = site.listeners
        self.detail = (files.describe() + ("; plain HTTP redirected" if redirect else "")
                       + f"; {rtc.count} WebRTC workers")

    async def stop(self) -> None:
        service, self.service = self.service, None
        if service is not None:
            sessions = list(service.sessions)
            await asyncio.gather(*(s.end("The web bridge is restarting") for s in sessions),
                                 return_exceptions=True)
        if self._site is not None:
            await self._site.stop()
            self._site = None
        await self._stop_rtc()
        self.listeners = []
        self.detail = ""

    async def _stop_rtc(self) -> None:
        rtc, ready = self._rtc, self._rtc_ready
        self._rtc = self._rtc_ready = None
        if ready is not None:
            await asyncio.gather(ready, return_exceptions=True)
        if rtc is not None:
            await rtc.stop()
