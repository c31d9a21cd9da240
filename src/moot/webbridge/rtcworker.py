"""A WebRTC worker process: the browsers' peer connections, out of the node's main process.

aiortc's per-packet work (ICE, DTLS-SRTP, Opus, its decoder threads) is most of a web leg's
cost; run in the main process it would compete with signalling, the API and the database,
and share one interpreter lock however many cores there are. The web bridge's
:class:`~moot.webbridge.rtcpool.RtcPool` spawns one such process per core and places each
browser leg on the least loaded. Requests: ``open`` (bind the leg's loopback relay; its
address), ``answer`` (apply the offer, start relaying to the media pool ports; the answer
and the video relay's address and codec),
``close``, ``legs``, ``stop``. Event: ``("failed", leg_id, reason)``.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import TYPE_CHECKING, Any

from moot.media.ipc import Channel
from moot.webbridge.offer import BadOffer

if TYPE_CHECKING:
    from moot.webbridge.webrtc_leg import WebRtcMedia

#: Error replies that mean "the browser's offer", told apart from the worker's own failures.
BAD_OFFER = "bad offer: "


class RtcWorker:
    def __init__(self) -> None:
        self.legs: dict[str, WebRtcMedia] = {}
        self.channel: Channel | None = None
        self.stopped = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def on_message(self, message: Any) -> None:
        req_id, method, args = message
        task = asyncio.ensure_future(self._call(req_id, method, args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, req_id: int, method: str, args: tuple[Any, ...]) -> None:
        try:
            value: Any = await getattr(self, f"do_{method}")(*args)
            ok = True
        except BadOffer as exc:
            ok, value = False, BAD_OFFER + str(exc)
        except Exception as exc:  # the reply carries it; the worker goes on
            ok, value = False, f"{type(exc).__name__}: {exc}"
        if self.channel is not None and not self.channel.closed:
            self.channel.send(("reply", req_id, ok, value))

    def _event(self, *event: Any) -> None:
        if self.channel is not None and not self.channel.closed:
            self.channel.send(("event", event))

    async def do_open(self, leg_id: str) -> tuple[str, int]:
        from moot.webbridge.webrtc_leg import WebRtcMedia  # in the worker only: aiortc is heavy

        media = WebRtcMedia(on_failed=lambda reason: self._event("failed", leg_id, reason))
        self.legs[leg_id] = media
        return await media.open_relay()

    async def do_answer(self, leg_id: str, offer: str, pool_port: int,
                        pool_video_port: int = 0) -> tuple[str, tuple[str, int, str, int] | None]:
        media = self.legs[leg_id]
        media.connect_pool(pool_port, pool_video_port)
        answer = await media.answer(offer)
        return answer, media.video

    async def do_close(self, leg_id: str) -> None:
        media = self.legs.pop(leg_id, None)
        if media is not None:
            await media.close()

    async def do_legs(self) -> int:
        return len(self.legs)

    async def do_stop(self) -> None:
        await asyncio.gather(*(m.close() for m in self.legs.values()), return_exceptions=True)
        self.legs.clear()
        self.stopped.set()


def rtc_worker_main(sock: socket.socket) -> None:
    """Entry point of a WebRTC worker process (spawned by the web bridge's RtcPool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        worker = RtcWorker()
        worker.channel = Channel(sock, loop, worker.on_message, worker.stopped.set)
        await worker.stopped.wait()
        await asyncio.gather(*(m.close() for m in worker.legs.values()), return_exceptions=True)
        channel = worker.channel
        for _ in range(100):  # let the reply to "stop" go out before the process exits
            if channel.closed or not channel.pending_output:
                break
            await asyncio.sleep(0.01)

    asyncio.run(run())
