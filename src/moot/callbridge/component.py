"""The call bridge component: SIP listeners, media workers and the live calls.

``callbridge listen`` chooses the interfaces; on each, SIP listens on UDP and TCP
(port 5060 by default) and, when ``callbridge certs`` are set, TLS (5061). The media
workers (one per core) start with the component. ``callbridge restart`` stops
everything — calls in progress end with a BYE — and starts again with the current
settings.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import moot
from moot.callbridge.bridge import Bridge
from moot.callbridge.enforcement import EnforcementSource
from moot.licensing.node import current as licensing_current
from moot.licensing.node import load as licensing_load
from moot.licensing.usage import UsageRecorder
from moot.media.pool import MediaPool
from moot.node.component import Component
from moot.node.interfaces import InterfaceNotMapped, listen_address
from moot.node.net.settings import forward_zones
from moot.node.settings import CALLBRIDGE_CERTS, CALLBRIDGE_LISTEN, CALLBRIDGE_SIP_PORTS
from moot.pki.tls import server_ssl_context
from moot.sip.endpoint import SipEndpoint
from moot.sip.resolver import Resolver

if TYPE_CHECKING:
    from moot.node.context import NodeContext

log = logging.getLogger("moot.callbridge")


class CallBridge(Component):
    name = "callbridge"
    title = "Call Bridge"

    def __init__(self, node: NodeContext) -> None:
        super().__init__(node)
        self.bridge: Bridge | None = None
        self.pool: MediaPool | None = None
        self.usage: UsageRecorder | None = None

    async def start(self) -> None:
        config = self.node.config
        interfaces = config.get(CALLBRIDGE_LISTEN)
        certs = config.get(CALLBRIDGE_CERTS) or {}
        ports = config.get(CALLBRIDGE_SIP_PORTS)
        hosts: list[tuple[str, str]] = []
        for iface in interfaces:
            try:
                hosts.append((iface, listen_address(config, iface)))
            except InterfaceNotMapped as exc:
                raise RuntimeError(str(exc)) from None
        ssl_context = None
        if certs.get("key") and certs.get("crt"):
            files = self.node.datadir
            for name in (certs.get("key"), certs.get("crt"), certs.get("bundle")):
                if name and not files.file(name).exists():
                    raise FileNotFoundError(f"certificate file {name} not found in the file store")
            bundle = files.file(certs["bundle"]) if certs.get("bundle") else None
            ssl_context = await asyncio.to_thread(
                server_ssl_context, files.file(certs["key"]), files.file(certs["crt"]), bundle
            )
        # Licence files (cms.lic in the file store) are applied here: on every start, so
        # "callbridge restart" installs an uploaded one (guide B.14).
        licence = await asyncio.to_thread(licensing_load, self.node)
        if licence.refused is not None:
            log.warning("cms.lic refused: %s", licence.message)
        api = await asyncio.to_thread(lambda: self.node.api)
        # The licence usage time series (guide B.12), no use while no call bridge runs.
        usage = self.usage = UsageRecorder.for_node(
            self.node, api.store, lambda: self.bridge.licence_snapshot() if self.bridge else None)
        await usage.start()
        if not hosts:
            self.detail = f"listening on no interfaces; {licence.message}"
            return
        self.pool = MediaPool()
        # The workers (a process per core) come up while SIP starts listening: the node is
        # ready sooner, and the first call waits for them if it comes first.
        pool_started = asyncio.create_task(self.pool.start(), name="media-workers")
        # Dial-out lookups (RFC 3263 SRV, A) go to the MMP ``dns`` root forward zone's
        # servers when it has one, else to the system's resolvers.
        root = [z for z in forward_zones(config) if z.domain == "."]
        resolver = Resolver([str(z.server) for z in root], port=root[0].port) if root else None
        node = self.node
        bridge = Bridge(api.store, self.pool,
                        lambda b: SipEndpoint(b, user_agent=f"Moot/{moot.__version__}", resolver=resolver),
                        media_ready=pool_started,
                        enforcement=EnforcementSource(
                            lambda: licensing_current(node, usage=usage.daily).alarm_level))
        self.bridge = bridge
        try:
            await bridge.start()
            listening = []
            for _iface, host in hosts:
                for transport in ("udp", "tcp"):
                    await bridge.endpoint.listen(transport, host, ports[transport])
                    listening.append(f"{transport} {host}:{ports[transport]}")
                if ssl_context is not None:
                    await bridge.endpoint.listen("tls", host, ports["tls"], ssl_context)
                    listening.append(f"tls {host}:{ports['tls']}")
        except BaseException:
            await self._teardown()
            raise
        api.env["callbridge"] = bridge
        self.listeners = [f"sip {entry}" for entry in listening]
        self.detail = (f"SIP on interface {', '.join(i for i, _ in hosts)}; {self.pool.workers_count} media workers; "
                       f"{licence.message}")

    async def stop(self) -> None:
        await self._teardown()
        self.listeners = []
        self.detail = ""

    async def _teardown(self) -> None:
        usage, self.usage = self.usage, None
        if usage is not None:
            await usage.stop()  # a last sample, with the calls still up
        bridge, self.bridge = self.bridge, None
        pool, self.pool = self.pool, None
        if bridge is not None:
            api = self.node.api
            if api.env.get("callbridge") is bridge:
                del api.env["callbridge"]
            try:
                await bridge.stop()
            finally:
                await bridge.endpoint.close()
        if pool is not None:
            await pool.stop()
