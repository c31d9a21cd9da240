"""The main process's handle on the WebRTC worker processes (:mod:`moot.webbridge.rtcworker`).

:meth:`RtcPool.media` gives a web session a :class:`RemoteMedia`: the same three steps as an
in-process :class:`~moot.webbridge.webrtc_leg.WebRtcMedia` (open the relay, answer the
offer towards the leg's media pool port, close), carried out in the least loaded worker.
A worker that dies fails the legs it held (their sessions end them), nothing else.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from moot.media.workers import WorkerProcess, WorkerSet
from moot.webbridge.offer import BadOffer
from moot.webbridge.rtcworker import BAD_OFFER, rtc_worker_main

#: An answer may take a while: ICE gathering on every interface.
ANSWER_TIMEOUT = 20.0


class RtcError(RuntimeError):
    """A WebRTC worker request failed (worker gone, no answer, internal error)."""


class RtcPool:
    def __init__(self, workers: int | None = None) -> None:
        self.count = workers or os.cpu_count() or 1
        self._set = WorkerSet("webrtc", rtc_worker_main, (), self.count, on_event=self._on_event,
                              on_exit=self._on_exit, error=RtcError)
        self._media: dict[str, RemoteMedia] = {}

    async def start(self) -> None:
        self._set.spawn()
        for worker in self._set.workers:  # up and answering before the first browser
            await self._set.request(worker, "legs", timeout=60.0)

    async def stop(self) -> None:
        await self._set.stop()
        self._media.clear()

    def media(self, on_failed: Callable[[str], None]) -> RemoteMedia:
        return RemoteMedia(self, on_failed)

    def legs_per_worker(self) -> list[int]:
        return [w.load for w in self._set.workers]

    def worker_pids(self) -> list[int]:
        return [w.process.pid or 0 for w in self._set.workers]

    def _on_event(self, event: Any) -> None:
        kind, leg_id, detail = event
        media = self._media.get(leg_id)
        if kind == "failed" and media is not None:
            media.on_failed(str(detail))

    def _on_exit(self, worker: WorkerProcess) -> None:
        for media in [m for m in self._media.values() if m.worker is worker]:
            media.on_failed("the web media process stopped")


class RemoteMedia:
    """One browser's media, held by a WebRTC worker."""

    def __init__(self, pool: RtcPool, on_failed: Callable[[str], None]) -> None:
        self.pool = pool
        self.on_failed = on_failed
        self.id = str(uuid.uuid4())
        self.worker: WorkerProcess | None = None
        self._pool_port = 0
        self._pool_video_port = 0
        self.video: tuple[str, int, str, int] | None = None
        self._closed = False

    async def open_relay(self) -> tuple[str, int]:
        worker = self.pool._set.least_loaded()
        self.worker = worker
        worker.load += 1
        self.pool._media[self.id] = self
        host, port = await self.pool._set.request(worker, "open", self.id)
        return str(host), int(port)

    def connect_pool(self, port: int, video_port: int = 0) -> None:
        self._pool_port = port
        self._pool_video_port = video_port

    async def answer(self, offer: str) -> str:
        assert self.worker is not None
        try:
            answer, video = await self.pool._set.request(self.worker, "answer", self.id, offer, self._pool_port,
                                                         self._pool_video_port, timeout=ANSWER_TIMEOUT)
        except RtcError as exc:
            text = str(exc)
            if text.startswith(BAD_OFFER):
                raise BadOffer(text[len(BAD_OFFER):]) from None
            raise
        self.video = tuple(video) if video is not None else None  # type: ignore[assignment]
        return str(answer)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.pool._media.pop(self.id, None)
        worker = self.worker
        if worker is None:
            return
        worker.load -= 1
        if worker.alive:
            try:
                await self.pool._set.request(worker, "close", self.id)
            except RtcError:
                pass  # the worker is gone: so are the leg's sockets
