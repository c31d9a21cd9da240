"""The TURN server component of a node: settings in, listeners (or worker processes) out."""

from __future__ import annotations

import logging
import os
import secrets
from typing import TYPE_CHECKING

from moot.node.component import Component
from moot.node.interfaces import InterfaceNotMapped, listen_address
from moot.turn.server import TurnServer as Server
from moot.turn.settings import (
    TURN_ALLOWED_PEERS,
    TURN_BANDWIDTH,
    TURN_CERTS,
    TURN_CREDENTIALS,
    TURN_ENABLED,
    TURN_HIGHCAPACITY,
    TURN_LISTEN,
    TURN_PORT,
    TURN_PUBLIC_IP,
    TURN_RELAY_PORTS,
    TURN_SHARED_SECRET,
    TURN_TLS_PORT,
    TURN_USER_QUOTA,
    TURN_WORKERS,
)
from moot.turn.worker import ServerSpec, WorkerPool, build_server

if TYPE_CHECKING:
    from moot.node.context import NodeContext

log = logging.getLogger(__name__)


class TurnServer(Component):
    name = "turn"
    title = "TURN Server"

    def __init__(self, node: NodeContext) -> None:
        super().__init__(node)
        self._server: Server | None = None
        self._workers: WorkerPool | None = None

    def enabled(self) -> bool:
        return bool(self.node.config.get(TURN_ENABLED))

    def spec(self) -> ServerSpec | None:
        """The server to run from the settings; None if it listens on no interface."""
        config = self.node.config
        creds = config.get(TURN_CREDENTIALS)
        if not creds:
            raise RuntimeError("no credentials: set them with 'turn credentials <username> <password> <realm>'")
        hosts = []
        for iface in config.get(TURN_LISTEN):
            try:
                hosts.append(listen_address(config, iface))
            except InterfaceNotMapped as exc:
                raise RuntimeError(str(exc)) from None
        if not hosts:
            return None
        tls_port = config.get(TURN_TLS_PORT)
        certs = config.get(TURN_CERTS)
        tls = None
        if tls_port:
            if not certs:
                raise RuntimeError("a TLS port is set but no certificates: use 'turn certs <key> <crt>'")
            files = self.node.datadir
            bundle = certs.get("bundle")
            tls = (
                str(files.file(certs["key"])),
                str(files.file(certs["crt"])),
                str(files.file(bundle)) if bundle else None,
            )
        port = config.get(TURN_PORT)
        low, high = config.get(TURN_RELAY_PORTS)
        return ServerSpec(
            listen=[(host, port, tls_port) for host in hosts],
            realm=creds["realm"],
            users={creds["username"]: creds["password"]},
            relay_ip=hosts[0],
            relay_ports=(low, high),
            nonce_secret=secrets.token_hex(16),
            shared_secret=config.get(TURN_SHARED_SECRET),
            public_ip=config.get(TURN_PUBLIC_IP),
            allowed_peers=config.get(TURN_ALLOWED_PEERS),
            user_quota=config.get(TURN_USER_QUOTA),
            bandwidth=config.get(TURN_BANDWIDTH),
            tls=tls,
        )

    def worker_count(self) -> int:
        if not self.node.config.get(TURN_HIGHCAPACITY):
            return 0
        return self.node.config.get(TURN_WORKERS) or os.cpu_count() or 1

    async def start(self) -> None:
        spec = self.spec()
        if spec is None:
            self.detail = "listening on no interfaces: use 'turn listen <interface>'"
            return
        count = self.worker_count()
        if count:
            self._workers = WorkerPool()
            try:
                await self._workers.start(spec, count)
            except BaseException:
                await self.stop()
                raise
            mode = f"high capacity, {count} worker processes"
        else:
            self._server = build_server(spec)
            await self._server.start()
            mode = "single process"
        self.listeners = spec.listeners()
        self.detail = f"{mode}; relay {spec.relay_ip}:{spec.relay_ports[0]}-{spec.relay_ports[1]}"

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self._workers is not None:
            await self._workers.stop()
            self._workers = None
        self.listeners = []
        self.detail = ""
