"""What the web bridge's handlers share: the database, the call bridge, limits, sign-ins."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from moot.api.objects.users import find_user_by_jid
from moot.callbridge import profiles
from moot.webbridge import access, iceservers, meetings
from moot.webbridge.access import AccessDenied, Meeting
from moot.webbridge.ratelimit import RateLimiter
from moot.webbridge.signalling import Join
from moot.webbridge.signin import SignedIn, SignIns, authenticate, my_spaces

if TYPE_CHECKING:
    from moot.callbridge.bridge import Bridge
    from moot.db.apistore import ApiStore
    from moot.scheduler.api import Scheduling
    from moot.webbridge.rtcpool import RtcPool
    from moot.webbridge.session import WebSession


class MediaHandle(Protocol):
    """One browser's media as a web session drives it (:class:`WebRtcMedia` or a worker's)."""

    #: After :meth:`answer`: (relay host, relay port, codec, payload type) of the video, if any.
    video: tuple[str, int, str, int] | None

    async def open_relay(self) -> tuple[str, int]: ...
    def connect_pool(self, port: int, video_port: int = 0) -> None: ...
    async def answer(self, offer: str) -> str: ...
    async def close(self) -> None: ...


class WebBridgeService:
    def __init__(self, store: ApiStore, bridge: Callable[[], Bridge | None], public_url: str,
                 scheduling: Callable[[], Scheduling | None] = lambda: None,
                 rtc: RtcPool | None = None, rtc_ready: Awaitable[None] | None = None) -> None:
        self.store = store
        self.bridge = bridge
        self.scheduling = scheduling
        #: The WebRTC worker processes (None: peer connections run in this process).
        self.rtc = rtc
        self._rtc_ready = rtc_ready
        self.public_url = public_url.rstrip("/")
        self.limiter = RateLimiter()
        self.signins = SignIns()
        self.sessions: set[WebSession] = set()

    async def new_media(self, on_failed: Callable[[str], None]) -> MediaHandle:
        """A browser's media: in a WebRTC worker process (once they are up), else in this one."""
        if self.rtc is None:
            from moot.webbridge.webrtc_leg import WebRtcMedia  # aiortc: only where it runs
            return WebRtcMedia(on_failed)
        if self._rtc_ready is not None:
            await self._rtc_ready
        return self.rtc.media(on_failed)

    def join_url(self, holder: dict[str, Any]) -> str | None:
        """``https://<web bridge>/meeting/<callId>?secret=<secret>`` for a space or access method."""
        if not holder.get("callId"):
            return None
        url = f"{self.public_url}/meeting/{quote(str(holder['callId']))}"
        return f"{url}?secret={quote(str(holder['secret']))}" if holder.get("secret") else url

    async def lookup(self, meeting_id: str) -> Meeting:
        def find() -> Meeting:
            with self.store.reader() as txn:
                return access.find_meeting(txn, meeting_id, self.public_url)
        return await asyncio.to_thread(find)

    async def admit(self, join: Join, *, signed_in: bool) -> Meeting:
        """The meeting a ``join`` may enter, or :class:`AccessDenied`."""
        bridge = self.bridge()

        def check() -> Meeting:
            with self.store.reader() as txn:
                meeting = access.find_meeting(txn, join.meeting_id, self.public_url)
                access.check_entry(meeting, passcode=join.passcode, secret=join.secret, signed_in=signed_in)
                running = bridge.by_space.get(meeting.target.space["id"]) if bridge is not None else None
                call_profile = profiles.effective(txn, meeting.target.space, meeting.target.access_method).call
                if access.call_locked(txn, running.id if running else None, bool(call_profile.get("locked"))):
                    raise AccessDenied("meetingLocked", "The meeting is locked; nobody new can join right now.")
                return meeting
        return await asyncio.to_thread(check)

    async def ice_servers(self, who: str) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            with self.store.reader() as txn:
                return iceservers.ice_servers(txn, who)
        return await asyncio.to_thread(read)

    async def upcoming_meetings(self, who: SignedIn) -> list[dict[str, Any]] | None:
        """The user's upcoming meetings; None where no scheduler runs on this node."""
        sched = self.scheduling()
        if sched is None or not meetings.available(sched):
            return None

        def read() -> list[dict[str, Any]]:
            assert sched is not None
            with self.store.reader() as txn:
                user = find_user_by_jid(txn, who.user_jid, ("email",))
            return meetings.upcoming(sched, who, str(user["email"]) if user and user.get("email") else None)
        return await asyncio.to_thread(read)

    async def schedule_meeting(self, who: SignedIn, body: dict[str, Any]) -> dict[str, Any] | None:
        """Schedule a meeting organized by ``who``; None where no scheduler runs on this node."""
        sched = self.scheduling()
        if sched is None or not meetings.available(sched):
            return None
        return await asyncio.to_thread(meetings.schedule, sched, who, body)

    async def sign_in(self, username: str, password: str) -> SignedIn | None:
        def check() -> SignedIn | None:
            with self.store.reader() as txn:
                return authenticate(txn, username, password)
        return await asyncio.to_thread(check)

    async def spaces_of(self, who: SignedIn) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            with self.store.reader() as txn:
                return my_spaces(txn, who, self.join_url)
        return await asyncio.to_thread(read)
