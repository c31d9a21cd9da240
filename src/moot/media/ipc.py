"""Framed, non-blocking message channel between the media pool and its workers.

Each message is a 4-octet big-endian length followed by a pickle. Both ends are the
bridge's own processes (the worker is spawned by the pool), so pickle is safe here. The
socket is read from the event loop with ``loop.add_reader`` and written with a buffered
``add_writer`` fallback, so neither side ever blocks its loop on the other.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_MESSAGE", "Channel"]

MAX_MESSAGE = 64 * 1024 * 1024
_LEN = struct.Struct("!I")


class Channel:
    """One end of a socketpair carrying pickled messages."""

    def __init__(
        self,
        sock: socket.socket,
        loop: asyncio.AbstractEventLoop,
        on_message: Callable[[Any], None],
        on_close: Callable[[], None],
    ) -> None:
        self.sock = sock
        self.loop = loop
        self._on_message = on_message
        self._on_close = on_close
        self._in = bytearray()
        self._out = bytearray()
        self.closed = False
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._readable)

    @property
    def pending_output(self) -> int:
        """Octets queued but not yet written (a worker waits for zero before it exits)."""
        return len(self._out)

    def send(self, message: object) -> None:
        if self.closed:
            raise ConnectionError("media channel is closed")
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        if len(data) > MAX_MESSAGE:
            raise ValueError(f"message of {len(data)} octets exceeds {MAX_MESSAGE}")
        frame = _LEN.pack(len(data)) + data
        if self._out:
            self._out += frame
            return
        try:
            sent = self.sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.close()
            return
        if sent < len(frame):
            self._out += frame[sent:]
            self.loop.add_writer(self.sock.fileno(), self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self._out)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        del self._out[:sent]
        if not self._out:
            self.loop.remove_writer(self.sock.fileno())

    def _readable(self) -> None:
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self._in += data
        while len(self._in) >= 4:
            (size,) = _LEN.unpack_from(self._in, 0)
            if size > MAX_MESSAGE:
                self.close()
                return
            if len(self._in) < 4 + size:
                break
            message = pickle.loads(self._in[4 : 4 + size])
            del self._in[: 4 + size]
            self._on_message(message)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        fd = self.sock.fileno()
        if fd >= 0:
            self.loop.remove_reader(fd)
            self.loop.remove_writer(fd)
        self.sock.close()
        self._on_close()
