"""One TCP port, HTTPS only: the listener the web admin and the web bridge share.

Every accepted connection is sorted by its first byte (peeked, not read): a TLS
ClientHello goes to aiohttp over TLS; anything else is plain HTTP and gets a
redirect to https:// or a refusal (:mod:`moot.webadmin.plainhttp`), never content.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Coroutine, Sequence
from typing import Any

from aiohttp import web

from moot.webadmin import plainhttp

log = logging.getLogger("moot.https")

#: The first byte of a TLS record carrying a handshake (the ClientHello).
TLS_HANDSHAKE = 0x16
#: How long a new connection may stay silent before it is closed.
FIRST_BYTE_TIMEOUT = 15.0
TLS_HANDSHAKE_TIMEOUT = 15.0
BACKLOG = 128


def show_address(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def bind_listener(address: str, port: int, hint: str = "webadmin listen <if> <port>") -> socket.socket:
    """A listening TCP socket; the error names the MMP command (``hint``) that moves it."""
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
            f"choose another port with '{hint}'",
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


class HttpsOnlySite:
    """Serves an aiohttp application over TLS on one or more ports; plain HTTP is only redirected."""

    def __init__(self, app: web.Application, endpoints: Sequence[tuple[str, int]], context: ssl.SSLContext,
                 *, redirect: bool, hint: str, name: str) -> None:
        self.app = app
        self.endpoints = list(endpoints)
        self.context = context
        self.redirect = redirect
        self.hint = hint
        self.name = name
        self._runner: web.AppRunner | None = None
        self._socks: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def listeners(self) -> list[str]:
        return [f"https {show_address(address, port)}" for address, port in self.endpoints]

    async def start(self) -> None:
        runner = web.AppRunner(self.app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runner = runner
        try:
            for address, port in self.endpoints:
                self._socks.append(bind_listener(address, port, self.hint))
        except OSError:
            await self.stop()
            raise
        for sock, (address, port) in zip(self._socks, self.endpoints, strict=True):
            https = plainhttp.HttpsAddress(f"[{address}]" if ":" in address else address, port)
            self._accepting.append(asyncio.create_task(self._accept_loop(sock, https)))

    async def stop(self) -> None:
        # The accept loops end before their sockets close, so that the event loop stops
        # watching them first.
        for task in self._accepting:
            task.cancel()
        await asyncio.gather(*self._accepting, return_exceptions=True)
        self._accepting = []
        for sock in self._socks:
            sock.close()
        self._socks = []
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_loop(self, listener: socket.socket, https: plainhttp.HttpsAddress) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(listener)
            except OSError as exc:
                # Out of file descriptors and the like: let it pass, do not spin.
                log.warning("%s: accept failed: %s", self.name, exc)
                await asyncio.sleep(0.5)
                continue
            conn.setblocking(False)
            self._spawn(self._dispatch(conn, https))

    async def _dispatch(self, conn: socket.socket, https: plainhttp.HttpsAddress) -> None:
        handed_over = False
        try:
            first = await asyncio.wait_for(peek_first_byte(conn), FIRST_BYTE_TIMEOUT)
            if not first:
                return
            if first[0] == TLS_HANDSHAKE:
                assert self._runner is not None and self._runner.server is not None
                await asyncio.get_running_loop().connect_accepted_socket(
                    self._runner.server, conn, ssl=self.context,
                    ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
                )
            else:
                await plainhttp.answer(conn, https, self.redirect)
            handed_over = True
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            log.debug("%s: connection dropped: %s", self.name, exc)
        finally:
            if not handed_over:
                conn.close()
