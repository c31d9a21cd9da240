"""The MMP over SSH (and SFTP to the file store) as a node component.

It listens where ``mmp listen <if> <port>`` says (interface a, port 2222 on a
new data dir; the guide's MMP is fixed on port 22 of interface a). A restart
ends every SSH session and applies a changed listener.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import asyncssh

from moot.mmp.sshconn import MmpConnection
from moot.mmp.sshkeys import load_host_keys
from moot.node.component import Component
from moot.node.interfaces import listen_address
from moot.node.settings import MMP_LISTEN

if TYPE_CHECKING:
    from moot.node.context import NodeContext

log = logging.getLogger("moot.mmp.ssh")

#: Seconds a client has to log in before the connection is dropped.
LOGIN_TIMEOUT = 60
#: Seconds ``stop`` waits for each connection to close.
CLOSE_TIMEOUT = 2.0


def show_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class MmpSshServer(Component):
    name = "mmp"
    title = "MMP (SSH)"

    def __init__(self, node: NodeContext) -> None:
        super().__init__(node)
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self.connections: set[MmpConnection] = set()

    async def start(self) -> None:
        listen = self.node.config.get(MMP_LISTEN)
        iface, port = str(listen["iface"]), int(listen["port"])
        host = listen_address(self.node.config, iface)
        keys = load_host_keys(self.node.datadir.ssh)
        self._acceptor = await asyncssh.create_server(
            lambda: MmpConnection(self.node, self.connections),
            host,
            port,
            server_host_keys=keys,
            login_timeout=LOGIN_TIMEOUT,
            errors="replace",
            reuse_address=True,
        )
        self.listeners = [f"ssh {show_address(host, port)}"]
        self.detail = f"interface {iface}"

    async def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        connections = list(self.connections)
        for conn in connections:
            conn.close()
        if connections:
            await asyncio.wait(
                [asyncio.ensure_future(c.wait_closed()) for c in connections],
                timeout=CLOSE_TIMEOUT,
            )
        self.connections.clear()
        self.listeners = []
