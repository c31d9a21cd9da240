"""One browser's WebSocket: join, the leg while in the meeting, leave.

States: ``idle`` (no leg; ``join`` may be retried after a refusal) → ``joining`` →
``joined`` → ``ended``. A message that does not fit the state is a fatal ``badMessage``.
The leg ends when the browser leaves, the socket closes or stops answering pings, the
media fails, or the call bridge ends it (API removal, call ended); in every case the
browser is told why when it can still hear it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from moot.callbridge.bridge import Bridge, JoinRefused
from moot.callbridge.call import LiveCall, LiveLeg
from moot.callbridge.video import WebVideo
from moot.webbridge import signalling
from moot.webbridge.access import AccessDenied, Meeting
from moot.webbridge.offer import BadOffer, check_offer
from moot.webbridge.signalling import Join, Leave, Mute, Ping, ProtocolError, Share
from moot.webbridge.signin import SignedIn

if TYPE_CHECKING:
    from moot.webbridge.service import MediaHandle, WebBridgeService

log = logging.getLogger("moot.webbridge")

#: Codes that count as a guess (rate limited per address).
GUESSES = ("unknownMeeting", "wrongPasscode")


class WebSession:
    def __init__(self, service: WebBridgeService, ws: web.WebSocketResponse, address: str,
                 local_address: str, user: SignedIn | None) -> None:
        self.service = service
        self.ws = ws
        self.address = address
        self.local_address = local_address
        self.user = user
        self.state = "idle"
        self.leg: LiveLeg | None = None
        self.media: MediaHandle | None = None
        self._speaker: str | None = None
        self._participants_due = False
        self._ending: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --------------------------------------------------------------- the socket
    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    if not await self._handle(msg.data):
                        break
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            await self.end("the browser disconnected", tell=False)

    async def _handle(self, data: str | bytes) -> bool:
        """Act on one message; False when the session is over."""
        try:
            message = signalling.parse(data)
        except ProtocolError as exc:
            log.info("web bridge: %s from %s: %s", exc.code, self.address, exc.message)
            await self.send(signalling.error(exc.code, exc.message, fatal=True))
            await self.end(f"bad message: {exc.message}", tell=False)
            return False
        if isinstance(message, Ping):
            await self.send({"type": "pong"})
        elif isinstance(message, Join):
            if self.state != "idle":
                await self.send(signalling.error("badMessage", "already joined", fatal=True))
                await self.end("a second join", tell=False)
                return False
            await self._join(message)
        elif isinstance(message, Mute):
            if self.state != "joined" or self.leg is None:
                await self.send(signalling.error("badMessage", "'mute' before 'join'", fatal=True))
                await self.end("mute before join", tell=False)
                return False
            bridge = self.service.bridge()
            if bridge is not None:
                bridge.web_self_mute(self.leg, message.audio, message.video)
        elif isinstance(message, Share):
            if self.state != "joined" or self.leg is None:
                await self.send(signalling.error("badMessage", "'share' before 'join'", fatal=True))
                await self.end("share before join", tell=False)
                return False
            bridge = self.service.bridge()
            if bridge is not None:
                await bridge.web_share(self.leg, message.on)
        elif isinstance(message, Leave):
            await self.end("You left the meeting")
            return False
        return self.state != "ended"

    async def send(self, message: dict[str, Any]) -> None:
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_json(message)

    # --------------------------------------------------------------- joining
    async def _join(self, join: Join) -> None:
        wait = self.service.limiter.retry_after(self.address)
        if wait is not None:
            await self.send(signalling.error("rateLimited", f"Too many failed attempts; try again in {wait:.0f} s.",
                                             fatal=False, retryAfter=round(wait)))
            return
        name = self.user.name if self.user is not None else join.name
        if not name:
            await self.send(signalling.error("nameRequired", "Enter your name to join.", fatal=False))
            return
        bridge = self.service.bridge()
        if bridge is None:
            await self.send(signalling.error("unavailable", "The meeting server is not taking calls right now; "
                                             "try again in a minute.", fatal=False))
            return
        try:
            check_offer(join.sdp)
            meeting = await self.service.admit(join, signed_in=self.user is not None)
        except AccessDenied as exc:
            if exc.code in GUESSES:
                self.service.limiter.failed(self.address, f"{exc.code} for meeting {join.meeting_id[:40]!r}")
            await self.send(signalling.error(exc.code, exc.message, fatal=False))
            return
        except BadOffer as exc:
            await self.send(signalling.error("badSdp", str(exc), fatal=False))
            return
        self.state = "joining"
        try:
            await self._connect(bridge, meeting, join, name)
        except (JoinRefused, BadOffer) as exc:
            code = exc.code if isinstance(exc, JoinRefused) else "badSdp"
            await self._undo_join()
            await self.send(signalling.error(code, exc.message if isinstance(exc, JoinRefused) else str(exc),
                                             fatal=False))
        except Exception:
            log.exception("web bridge: joining %s failed", meeting.name)
            await self._undo_join()
            await self.send(signalling.error("unavailable", "Joining failed on the server; try again.",
                                             fatal=False))

    async def _connect(self, bridge: Bridge, meeting: Meeting, join: Join, name: str) -> None:
        self.media = await self.service.new_media(self._media_failed)
        relay = await self.media.open_relay()
        self.leg = await bridge.open_web_leg(
            meeting.target, name=name, remote_party=self.user.user_jid if self.user else f"guest@{self.address}",
            remote_address=self.address, local_address=self.local_address,
            user_jid=self.user.user_jid if self.user else None, listener=self)
        assert self.leg is not None
        video_port = await bridge.open_web_video(self.leg)
        self.media.connect_pool(self.leg.media_port, video_port)
        answer = await self.media.answer(join.sdp)
        if self.state != "joining":  # ended while negotiating
            return
        relayed = self.media.video
        video = WebVideo((relayed[0], relayed[1]), relayed[2], relayed[3]) if relayed else None
        await bridge.start_web_leg(self.leg, relay, video)
        bridge.web_self_mute(self.leg, join.audio_muted, join.video_muted)
        self.state = "joined"
        call = self.leg.call
        log.info("web bridge: %s (%s) joined %s", name, self.address, meeting.name)
        await self.send({"type": "joined", "legId": self.leg.id, "participantId": self.leg.participant_id,
                         "callId": call.id if call else None,
                         "meeting": {"name": meeting.name, "meetingId": meeting.meeting_id}, "sdp": answer})
        if call is not None:
            await self._send_participants(call)
            if self.leg.rx_mute:
                await self.send({"type": "hostMute", "audio": True})

    async def _undo_join(self) -> None:
        leg, self.leg = self.leg, None
        media, self.media = self.media, None
        self.state = "idle"
        bridge = self.service.bridge()
        if leg is not None and bridge is not None:
            leg.listener = None
            await bridge.end_leg(leg, "join failed", send_bye=False)
        if media is not None:
            await media.close()

    # --------------------------------------------------------------- ending
    async def end(self, reason: str, *, tell: bool = True) -> None:
        """End the leg (if any), tell the browser why, close the socket. Idempotent."""
        if self.state == "ended":
            return
        self.state = "ended"
        leg, self.leg = self.leg, None
        if leg is not None:
            leg.listener = None
            bridge = self.service.bridge()
            if bridge is not None:
                await bridge.end_leg(leg, reason, send_bye=False)
        if self.media is not None:
            await self.media.close()
        if tell:
            await self.send({"type": "ended", "reason": reason})
        with contextlib.suppress(Exception):
            await self.ws.close()

    def _media_failed(self, reason: str) -> None:
        if self.state in ("joining", "joined") and self._ending is None:
            async def fail() -> None:
                await self.send(signalling.error("mediaFailed", reason, fatal=True))
                await self.end(reason, tell=False)
            self._ending = self._spawn(fail())

    # --------------------------------------------------------------- LegListener
    def leg_ended(self, reason: str) -> None:
        """The call bridge ended the leg (API removal, call ended, ...)."""
        if self._ending is None and self.state != "ended":
            self.leg = None  # already ended there
            self._ending = self._spawn(self.end(_for_person(reason)))

    def call_changed(self, call: LiveCall) -> None:
        if self._participants_due or self.state != "joined":
            return
        self._participants_due = True

        async def later() -> None:
            await asyncio.sleep(0.05)  # one list for a burst of changes
            self._participants_due = False
            if self.state == "joined":
                await self._send_participants(call)
        self._spawn(later())

    def notice(self, text: str, seconds: int | None) -> None:
        """A text over the meeting (licence enforcement); ``seconds`` None: it stays."""
        self._spawn(self.send({"type": "notice", "text": text, "seconds": seconds}))

    def host_mute(self, audio: bool) -> None:
        self._spawn(self.send({"type": "hostMute", "audio": audio}))

    async def _send_participants(self, call: LiveCall) -> None:
        legs = [leg for leg in call.legs.values() if leg.state == "connected"]
        mine = self.leg.id if self.leg is not None else None
        await self.send({"type": "participants", "participants": [{
            "id": leg.participant_id, "name": leg.name, "kind": leg.kind,
            "audioMuted": leg.rx_mute or leg.self_audio_muted,
            "videoMuted": leg.self_video_muted if leg.kind == "web" else True,
            "self": leg.id == mine,
            "presenting": call.presenter == leg.id,
        } for leg in legs]})
        speaker = call.legs.get(call.active_speaker or "")
        speaker_id = speaker.participant_id if speaker is not None else None
        if speaker_id != self._speaker:
            self._speaker = speaker_id
            await self.send({"type": "speaker", "participantId": speaker_id})


def _for_person(reason: str) -> str:
    return {
        "removed by the administrator": "You were removed from the meeting",
        "call ended by the administrator": "The meeting was ended",
        "call bridge stopping": "The meeting server is restarting",
    }.get(reason, reason[:1].upper() + reason[1:])
