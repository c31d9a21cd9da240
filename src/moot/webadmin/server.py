"""The web admin component: one TCP port, HTTPS only.

Every accepted connection is sorted by its first byte (peeked, not read): a TLS
ClientHello goes to aiohttp over TLS; anything else is plain HTTP and gets a
redirect to https:// or a refusal (``plainhttp``), never content.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from aiohttp import web

from moot.licensing.node import current as licensing_current
from moot.node.component import Component
from moot.node.interfaces import InterfaceNotMapped, listen_address
from moot.node.settings import WEBADMIN_ENABLED, WEBADMIN_HTTP_REDIRECT, WEBADMIN_LISTEN
from moot.pki import PkiError, server_ssl_context
from moot.webadmin import apimount, layout, plainhttp
from moot.webadmin.app import build_app
from moot.webadmin.sessions import WEBADMIN_IDLE_MINUTES, SessionStore
from moot.webadmin.tlsfiles import tls_files

if TYPE_CHECKING:
    from moot.node.context import NodeContext

log = logging.getLogger("moot.webadmin")

#: The first byte of a TLS record carrying a handshake (the ClientHello).
TLS_HANDSHAKE = 0x16
#: How long a new connection may stay silent before it is closed.
FIRST_BYTE_TIMEOUT = 15.0
TLS_HANDSHAKE_TIMEOUT = 15.0
SWEEP_INTERVAL = 60.0
BACKLOG = 128


def show_address(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def bind_listener(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno,
            f"cannot listen on {show_address(address, port)}: {exc.strerror}; "
            "choose another port with 'webadmin listen <if> <port>'",
        ) from None
    return sock


async def peek_first_byte(sock: socket.socket) -> bytes:
    """The first byte the client sent, left in the socket for whoever reads next."""
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    fd = sock.fileno()

    def wake() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await readable
    finally:
        loop.remove_reader(fd)
    return sock.recv(1, socket.MSG_PEEK)


class WebAdmin(Component):
    name = "webadmin"
    title = "Web Admin"

    def __init__(self, node: NodeContext) -> None:
        super().__init__(node)
        self.sessions: SessionStore | None = None
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ssl: ssl.SSLContext | None = None
        self._https: plainhttp.HttpsAddress | None = None
        self._redirect = False
        self._api: apimount.ApiMount | None = None

    def enabled(self) -> bool:
        return bool(self.node.config.get(WEBADMIN_ENABLED))

    async def start(self) -> None:
        config = self.node.config
        node = self.node
        layout.set_banner_source(lambda: licensing_current(node).banner)
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
        self._ssl = context
        self._redirect = bool(config.get(WEBADMIN_HTTP_REDIRECT))
        self._https = plainhttp.HttpsAddress(f"[{address}]" if ":" in address else address, port)
        self.sessions = SessionStore(
            self.node.sessions, idle_timeout=int(config.get(WEBADMIN_IDLE_MINUTES)) * 60.0
        )
        app = build_app(self.node, self.sessions)
        self._api = apimount.ApiMount(self.node)
        self._api.mount(app)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        try:
            self._sock = bind_listener(address, port)
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._accepting = asyncio.create_task(self._accept_loop(self._sock))
        self._spawn(self._sweep_loop())
        self.listeners = [f"https {show_address(address, port)}"]
        self.detail = files.describe() + ("; plain HTTP redirected" if self._redirect else "")

    async def stop(self) -> None:
        if self._accepting is not None:
            # Before the socket closes, so that the event loop stops watching it first.
            self._accepting.cancel()
            await asyncio.gather(self._accepting, return_exceptions=True)
            self._accepting = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.sessions is not None:
            self.sessions.end_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._api is not None:
            self._api.close()
            self._api = None
        self.listeners = []
        self.detail = ""

    # connections -------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(listener)
            except OSError as exc:
                # Out of file descriptors and the like: let it pass, do not spin.
                log.warning("web admin: accept failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            conn.setblocking(False)
            self._spawn(self._dispatch(conn))

    async def _dispatch(self, conn: socket.socket) -> None:
        handed_over = False
        try:
            first = await asyncio.wait_for(peek_first_byte(conn), FIRST_BYTE_TIMEOUT)
            if not first:
                return
            if first[0] == TLS_HANDSHAKE:
                await self._serve_tls(conn)
            else:
                assert self._https is not None
                await plainhttp.answer(conn, self._https, self._redirect)
            handed_over = True
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            log.debug("web admin: connection dropped: %s", exc)
        finally:
            if not handed_over:
                conn.close()

    async def _serve_tls(self, conn: socket.socket) -> None:
        assert self._runner is not None and self._runner.server is not None
        loop = asyncio.get_running_loop()
        await loop.connect_accepted_socket(
            self._runner.server,
            conn,
            ssl=self._ssl,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
        )

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            if self.sessions is not None:
                self.sessions.sweep()
