"""Worker processes with a request/reply channel: what the media pool and the web bridge's
WebRTC pool share.

A :class:`WorkerSet` spawns ``count`` processes (``multiprocessing`` spawn context: a clean
interpreter, no inherited loop, sockets or threads) running ``target(sock, *args)``, and
talks to each over a socketpair :class:`~moot.media.ipc.Channel`. A request is
``(req_id, method, args)``; the worker answers ``("reply", req_id, ok, value)`` or sends
``("event", payload)`` at any time. A worker that exits fails its pending requests and is
reported to ``on_exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from moot.media.ipc import Channel

REQUEST_TIMEOUT = 10.0


@dataclass
class WorkerProcess:
    index: int
    process: BaseProcess
    channel: Channel
    pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    #: What the owner places on it (legs), for least-loaded placement.
    load: int = 0
    alive: bool = True


def _child_main(title: str, target: Callable[..., None], *args: Any) -> None:
    """In the child: name the process (``ps``, ``top`` show ``moot-media-0``), then run."""
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_text(title[:15])
    target(*args)


class WorkerSet:
    def __init__(self, name: str, target: Callable[..., None], args: tuple[Any, ...], count: int, *,
                 on_event: Callable[[Any], None], on_exit: Callable[[WorkerProcess], None] = lambda w: None,
                 error: type[Exception] = RuntimeError) -> None:
        self.name = name
        self.target = target
        self.args = args
        self.count = count
        self.on_event = on_event
        self.on_exit = on_exit
        self.error = error
        self.workers: list[WorkerProcess] = []
        self._ids = itertools.count(1)

    def spawn(self) -> None:
        loop = asyncio.get_running_loop()
        ctx = multiprocessing.get_context("spawn")
        for index in range(self.count):
            parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            title = f"moot-{self.name}-{index}"
            process = ctx.Process(target=_child_main, args=(title, self.target, child, *self.args), name=title,
                                  daemon=True)
            process.start()
            child.close()

            def on_message(message: Any, index: int = index) -> None:
                self._on_message(self.workers[index], message)

            def on_close(index: int = index) -> None:
                self._on_closed(self.workers[index])

            self.workers.append(WorkerProcess(index, process, Channel(parent, loop, on_message, on_close)))

    async def stop(self, method: str = "stop") -> None:
        """Ask every worker to stop, then make sure it has."""
        for w in self.workers:
            if w.alive:
                with contextlib.suppress(self.error, asyncio.TimeoutError):
                    await self.request(w, method, timeout=5.0)
        for w in self.workers:
            await asyncio.to_thread(w.process.join, 5.0)
            if w.process.is_alive():
                w.process.terminate()
                await asyncio.to_thread(w.process.join, 2.0)
            w.channel.close()
        self.workers.clear()

    def alive(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.alive]

    def least_loaded(self) -> WorkerProcess:
        alive = self.alive()
        if not alive:
            raise self.error(f"no {self.name} worker is running")
        return min(alive, key=lambda w: w.load)

    async def request(self, worker: WorkerProcess, method: str, *args: Any, timeout: float = REQUEST_TIMEOUT) -> Any:
        if not worker.alive:
            raise self.error(f"{self.name} worker {worker.index} is not running")
        req_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        worker.pending[req_id] = future
        try:
            worker.channel.send((req_id, method, args))
        except ConnectionError as exc:
            worker.pending.pop(req_id, None)
            raise self.error(f"{self.name} worker {worker.index}: {exc}") from exc
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            worker.pending.pop(req_id, None)
            raise self.error(f"{self.name} worker {worker.index} did not answer {method!r}") from None

    def _on_message(self, worker: WorkerProcess, message: Any) -> None:
        if message[0] == "event":
            self.on_event(message[1])
            return
        _kind, req_id, ok, value = message
        future = worker.pending.pop(req_id, None)
        if future is None or future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(self.error(value))

    def _on_closed(self, worker: WorkerProcess) -> None:
        worker.alive = False
        for future in worker.pending.values():
            if not future.done():
                future.set_exception(self.error(f"{self.name} worker {worker.index} exited"))
        worker.pending.clear()
        self.on_exit(worker)
