"""The media pool: the main process's asynchronous handle on the media workers.

:class:`MediaPool` spawns worker processes (``multiprocessing`` spawn context, one per
core by default; see :mod:`moot.media.worker`) and talks to each over a socketpair read
with ``loop.add_reader``, so no request ever blocks the main event loop.

* A call lives on one worker, chosen least-loaded (fewest legs) when its first leg is
  opened; all its legs are opened there, so mixing stays in one process.
* RTP ports are allocated here, centrally: even ports from ``port_range`` in round-robin
  order, skipping ports the pool holds and ports the worker finds in use (another
  program). A leg keeps its port for its lifetime, including across :meth:`move_leg` to a
  call on another worker (the old worker closes the socket, the new one binds the same
  port; the pool never hands that port to anyone else in between).
* Worker events (DTMF, RTP timeout, speaker changes, prompt end) arrive on
  :attr:`MediaPool.events`.

Workers are started with the ``spawn`` method (a clean interpreter: no inherited event
loop, sockets or threads), which re-imports the program's main module in the child: a
script that starts a pool must guard its entry point with ``if __name__ == "__main__"``.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from moot.media.codecs import CodecSpec
from moot.media.leg import (
    DtmfReceived,
    KeyframeWanted,
    LegConfig,
    LegStats,
    MediaError,
    MediaEvent,
    PlayFinished,
    PoolTotals,
    RtpTimeout,
    SpeakerChanged,
    VideoConfig,
    VideoStats,
)
from moot.media.worker import LegState, WorkerOptions, worker_main
from moot.media.workers import REQUEST_TIMEOUT, WorkerProcess, WorkerSet

__all__ = [
    "CodecSpec",
    "DtmfReceived",
    "KeyframeWanted",
    "LegConfig",
    "LegStats",
    "MediaError",
    "MediaEvent",
    "MediaPool",
    "PlayFinished",
    "PoolTotals",
    "RtpTimeout",
    "SpeakerChanged",
    "VideoConfig",
    "VideoStats",
]

PORT_CANDIDATES = 16
"""Ports offered to a worker per bind attempt (it binds the first free one)."""


@dataclass
class _LegInfo:
    worker: int
    call_id: str
    host: str
    port: int
    video_port: int | None = None


#: RTP ports: below Linux's ephemeral range (32768-60999), so that the kernel never hands
#: a media port to an outgoing connection (or the other way round) between our check and
#: our bind — the range media servers conventionally use.
RTP_PORT_RANGE = (16384, 32767)


class MediaPool:
    """Worker processes that terminate RTP, mix calls and send the mixes back."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        port_range: tuple[int, int] = RTP_PORT_RANGE,
        rtp_timeout: float = 30.0,
        realtime_priority: int = 0,
    ) -> None:
        low, high = port_range
        if not (1024 <= low < high <= 65535):
            raise MediaError(f"bad RTP port range {port_range}")
        self.workers_count = workers or os.cpu_count() or 1
        self.port_range = (low + (low % 2), high)
        self.options = WorkerOptions(
            rtp_timeout=rtp_timeout,
            cname=f"moot@{socket.gethostname()}",
            realtime_priority=realtime_priority,
        )
        self.events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self._set = WorkerSet("media", worker_main, (self.options,), self.workers_count,
                              on_event=self.events.put_nowait, error=MediaError)
        self._workers = self._set.workers
        self._legs: dict[str, _LegInfo] = {}
        self._calls: dict[str, int] = {}  # call id -> worker index
        self._call_legs: dict[str, int] = {}
        self._ports_held: set[int] = set()
        self._next_port = self.port_range[0]
        self._started = False

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._started:
            return
        self._set.spawn()
        self._started = True
        # Wait until every worker answers, so the first real request is not slowed by
        # interpreter start-up.
        try:
            await asyncio.gather(
                *(self._request(w, "totals", timeout=60.0) for w in self._workers)
            )
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if not self._started:
            return
        await self._set.stop()
        self._legs.clear()
        self._calls.clear()
        self._call_legs.clear()
        self._ports_held.clear()
        self._started = False

    async def __aenter__(self) -> MediaPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------- IPC

    async def _request(
        self, worker: WorkerProcess, method: str, *args: Any, timeout: float = REQUEST_TIMEOUT
    ) -> Any:
        return await self._set.request(worker, method, *args, timeout=timeout)

    def _require_started(self) -> None:
        if not self._started:
            raise MediaError("media pool is not started")

    def _leg(self, leg_id: str) -> tuple[_LegInfo, WorkerProcess]:
        self._require_started()
        info = self._legs.get(leg_id)
        if info is None:
            raise MediaError(f"no media leg {leg_id!r}")
        return info, self._workers[info.worker]

    def _port_candidates(self) -> list[int]:
        low, high = self.port_range
        span = (high - low + 1) // 2
        out: list[int] = []
        for _ in range(span):
            port = self._next_port
            self._next_port += 2
            if self._next_port + 1 > high:
                self._next_port = low
            if port + 1 <= high and port not in self._ports_held:
                out.append(port)
                if len(out) == PORT_CANDIDATES:
                    break
        return out

    def _worker_for_call(self, call_id: str) -> WorkerProcess:
        index = self._calls.get(call_id)
        return self._set.least_loaded() if index is None else self._workers[index]

    def _add_to_call(self, call_id: str, worker: WorkerProcess) -> None:
        self._calls[call_id] = worker.index
        self._call_legs[call_id] = self._call_legs.get(call_id, 0) + 1
        worker.load += 1

    def _remove_from_call(self, call_id: str, worker: WorkerProcess) -> None:
        worker.load -= 1
        left = self._call_legs.get(call_id, 1) - 1
        if left <= 0:
            self._call_legs.pop(call_id, None)
            self._calls.pop(call_id, None)
        else:
            self._call_legs[call_id] = left

    # ----------------------------------------------------------------- the API

    async def open_leg(self, call_id: str, leg_id: str, host: str) -> int:
        """Bind an RTP port (RTCP on port + 1) for a leg of ``call_id``; return the port."""
        self._require_started()
        if leg_id in self._legs:
            raise MediaError(f"media leg {leg_id!r} already exists")
        worker = self._worker_for_call(call_id)
        self._add_to_call(call_id, worker)  # reserve the call's worker before awaiting
        try:
            port = await self._bind(worker, "open_leg", call_id, leg_id, host)
        except BaseException:
            self._remove_from_call(call_id, worker)
            raise
        self._legs[leg_id] = _LegInfo(worker.index, call_id, host, port)
        return port

    async def _bind(self, worker: WorkerProcess, method: str, *args: Any) -> int:
        """Have ``worker`` bind a port pair (``method(*args, candidates)``), offering it
        candidates held for the purpose until one binds; the port."""
        tried = 0
        while tried < (self.port_range[1] - self.port_range[0]) // 2:
            candidates = self._port_candidates()
            if not candidates:
                break
            tried += len(candidates)
            self._ports_held.update(candidates)
            try:
                port: int = await self._request(worker, method, *args, candidates)
            except MediaError as exc:
                self._ports_held.difference_update(candidates)
                if "no free RTP port" in str(exc):
                    continue
                raise
            self._ports_held.difference_update(set(candidates) - {port})
            return port
        raise MediaError(f"no free RTP port in {self.port_range}")

    async def open_video(self, leg_id: str) -> int:
        """Bind a video RTP port (RTCP on port + 1) for an opened leg; return the port."""
        info, worker = self._leg(leg_id)
        if info.video_port is None:
            info.video_port = await self._bind(worker, "open_video", leg_id)
        return info.video_port

    async def set_layout(self, leg_id: str, layout: str) -> None:
        """Change the layout a leg sees (takes effect with its next video frame)."""
        _info, worker = self._leg(leg_id)
        await self._request(worker, "set_layout", leg_id, layout)

    async def set_presenter(self, leg_id: str, on: bool) -> None:
        """The leg shares content (its video shown big to the whole call), or stops."""
        _info, worker = self._leg(leg_id)
        await self._request(worker, "set_presenter", leg_id, on)

    async def set_caption(self, leg_id: str, text: str | None, seconds: float | None = None) -> None:
        """Draw ``text`` over the top of the leg's video for ``seconds`` (None: for good;
        ``text`` None removes it)."""
        _info, worker = self._leg(leg_id)
        await self._request(worker, "set_caption", leg_id, text, seconds)

    async def request_keyframe(self, leg_id: str) -> None:
        """Send the leg a keyframe (IDR) with its next video frame."""
        _info, worker = self._leg(leg_id)
        await self._request(worker, "request_keyframe", leg_id)

    async def start_leg(self, leg_id: str, config: LegConfig) -> None:
        """Start media on an opened leg with the negotiated configuration."""
        config.validate()
        _info, worker = self._leg(leg_id)
        await self._request(worker, "start_leg", leg_id, config)

    async def update_leg(self, leg_id: str, config: LegConfig) -> None:
        """Apply a re-negotiated configuration (re-INVITE, hold/resume)."""
        config.validate()
        _info, worker = self._leg(leg_id)
        await self._request(worker, "update_leg", leg_id, config)

    async def set_mute(
        self, leg_id: str, *, rx: bool | None = None, tx: bool | None = None
    ) -> None:
        """rx mute: the leg's audio is not mixed for others; tx mute: the leg hears silence."""
        _info, worker = self._leg(leg_id)
        await self._request(worker, "set_mute", leg_id, rx, tx)

    async def play(self, leg_id: str, pcm: npt.NDArray[np.int16], *, loop: bool = False) -> None:
        """Play 8 kHz int16 PCM into one leg (mixed over what it hears); PlayFinished at end."""
        arr = np.asarray(pcm)
        if arr.dtype != np.int16 or arr.ndim != 1:
            raise MediaError("play() needs a 1-D int16 array at 8 kHz")
        _info, worker = self._leg(leg_id)
        await self._request(worker, "play", leg_id, arr, loop)

    async def stop_play(self, leg_id: str) -> None:
        _info, worker = self._leg(leg_id)
        await self._request(worker, "stop_play", leg_id)

    async def move_leg(self, leg_id: str, call_id: str) -> None:
        """Move a leg into another call, keeping its RTP port (and SSRC/sequence)."""
        info, worker = self._leg(leg_id)
        if info.call_id == call_id:
            return
        target_index = self._calls.get(call_id, info.worker)
        target = self._workers[target_index]
        if target is worker:
            await self._request(worker, "move_leg", leg_id, call_id)
        else:
            state: LegState = await self._request(worker, "detach_leg", leg_id)
            try:
                await self._request(
                    target, "attach_leg", call_id, leg_id, info.host, info.port, state
                )
            except MediaError:
                self._remove_from_call(info.call_id, worker)
                self._ports_held.discard(info.port)
                if info.video_port is not None:
                    self._ports_held.discard(info.video_port)
                del self._legs[leg_id]
                raise
        self._remove_from_call(info.call_id, worker)
        self._add_to_call(call_id, target)
        info.worker = target.index
        info.call_id = call_id

    async def close_leg(self, leg_id: str) -> LegStats:
        """Stop the leg's media, free its port and return its final statistics."""
        info, worker = self._leg(leg_id)
        try:
            stats: LegStats = await self._request(worker, "close_leg", leg_id)
        finally:
            self._remove_from_call(info.call_id, worker)
            self._ports_held.discard(info.port)
            if info.video_port is not None:
                self._ports_held.discard(info.video_port)
            self._legs.pop(leg_id, None)
        return stats

    async def stats(self, leg_id: str) -> LegStats:
        _info, worker = self._leg(leg_id)
        stats: LegStats = await self._request(worker, "stats", leg_id)
        return stats

    async def totals(self) -> PoolTotals:
        """Legs in the pool and the audio bit rates in/out over the last second or so."""
        self._require_started()
        results = await asyncio.gather(
            *(self._request(w, "totals") for w in self._workers if w.alive)
        )
        return PoolTotals(
            legs=sum(r[0] for r in results),
            audio_bps_in=sum(r[1] for r in results),
            audio_bps_out=sum(r[2] for r in results),
        )

    # ----------------------------------------------------------------- diagnostics

    def worker_pids(self) -> list[int]:
        """Process ids of the workers (for pinning or monitoring)."""
        return [w.process.pid or 0 for w in self._workers]

    def leg_worker(self, leg_id: str) -> int:
        """The index of the worker hosting a leg."""
        return self._leg(leg_id)[0].worker

    async def worker_stats(self, *, reset: bool = False) -> list[dict[str, Any]]:
        """Per-worker counters (ticks, late/skipped frames, latency histogram, CPU)."""
        self._require_started()
        return list(
            await asyncio.gather(*(self._request(w, "worker_stats", reset) for w in self._workers))
        )

    async def profile_worker(self, index: int, seconds: float, top: int = 30) -> str:
        """cProfile one worker for ``seconds``; return the pstats listing by own time."""
        self._require_started()
        worker = self._workers[index]
        await self._request(worker, "profile_start")
        await asyncio.sleep(seconds)
        text: str = await self._request(worker, "profile_stop", top)
        return text
