"""A UDP socket on the event loop, read in batches.

asyncio's datagram transport reads one datagram per event-loop iteration; a
relay receives many per wakeup, so this reader drains up to ``BATCH`` at once
and sends without buffering (a full socket buffer drops, as UDP may).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

Address = tuple[str, int]
BATCH = 64
MAX_DATAGRAM = 65536

log = logging.getLogger(__name__)


class UdpSocket:
    def __init__(self, sock: socket.socket, on_datagram: Callable[[bytes, Address], None]) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.on_datagram = on_datagram
        self.loop = asyncio.get_running_loop()
        self.address: Address = sock.getsockname()[:2]
        self.loop.add_reader(sock.fileno(), self._ready)
        self.closed = False

    def _ready(self) -> None:
        recv = self.sock.recvfrom
        handle = self.on_datagram
        for _ in range(BATCH):
            try:
                data, addr = recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. an ICMP error reported on the socket
                continue
            try:
                handle(data, addr if len(addr) == 2 else addr[:2])
            except Exception:  # one bad datagram must not stop the reader
                log.exception("error handling a datagram from %s", addr)

    def sendto(self, data: bytes, addr: Address) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError:  # buffer full or peer unreachable: dropped, as UDP may
            pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
