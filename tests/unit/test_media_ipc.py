from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import numpy as np

from moot.media.ipc import MAX_MESSAGE, Channel


async def test_messages_arrive_in_order_including_large_ones() -> None:
    loop = asyncio.get_running_loop()
    a_sock, b_sock = socket.socketpair()
    got: list[Any] = []
    done = asyncio.Event()

    def on_b(message: Any) -> None:
        got.append(message)
        if len(got) == 3:
            done.set()

    a = Channel(a_sock, loop, lambda m: None, lambda: None)
    b = Channel(b_sock, loop, on_b, lambda: None)
    big = np.arange(3_000_000, dtype=np.int16)  # 6 MB: needs buffered, partial writes
    a.send(("first", 1))
    a.send(("big", big))
    a.send(("last", 3))
    await asyncio.wait_for(done.wait(), 10)
    assert got[0] == ("first", 1) and got[2] == ("last", 3)
    assert got[1][0] == "big" and np.array_equal(got[1][1], big)
    a.close()
    b.close()


async def test_peer_close_and_oversized_frame_close_the_channel() -> None:
    loop = asyncio.get_running_loop()
    a_sock, b_sock = socket.socketpair()
    closed = asyncio.Event()
    b = Channel(b_sock, loop, lambda m: None, closed.set)
    # A length prefix beyond the limit is refused by closing, not by allocating.
    a_sock.send(struct.pack("!I", MAX_MESSAGE + 1) + b"xxxx")
    await asyncio.wait_for(closed.wait(), 5)
    assert b.closed
    a_sock.close()
    try:
        b.send("late")
    except ConnectionError as exc:
        assert "closed" in str(exc)
    else:
        raise AssertionError("send on a closed channel must fail")
