"""What the call bridge holds in memory about the calls it is running."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from moot.callbridge.video import WebVideo
    from moot.media.pool import LegStats
    from moot.sip.dialog import Dialog
    from moot.sip.sdp import AudioAnswer, SessionDescription
    from moot.sip.session_timer import SessionRefresher
    from moot.sip.video_offer import VideoAnswer


class LegListener(Protocol):
    """Who hears about a leg besides SIP: the web bridge's session of a browser leg."""

    def leg_ended(self, reason: str) -> None: ...
    def call_changed(self, call: LiveCall) -> None: ...
    def host_mute(self, audio: bool) -> None: ...
    def notice(self, text: str, seconds: int | None) -> None: ...


@dataclass
class LiveCall:
    """One active call: a space's meeting, an API-created call, or a forwarded call."""

    id: str
    name: str
    space_id: str | None
    tenant: str | None
    call_type: str = "coSpace"
    participant_limit: int | None = None
    #: Created through the API: stays until deleted even when empty (activeWhenEmpty).
    persistent: bool = False
    legs: dict[str, LiveLeg] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    max_legs: int = 0
    active_speaker: str | None = None
    ended: bool = False
    #: The user whose personal licence covers the call (guide B.9); None: shared licences.
    personal_holder: str | None = None
    #: The call's ``defaultLayout`` (API), over the legs' profiles' and the space's.
    default_layout: str | None = None
    #: The leg sharing content (its screen): shown big to everyone (``presenterCallLeg``).
    presenter: str | None = None

    @property
    def duration_seconds(self) -> int:
        return int(time.monotonic() - self.started)


@dataclass
class LiveLeg:
    """One participant's connection: a SIP dialog (in an IVR dialogue, in a call, or being
    dialled) or a browser's WebRTC session through the web bridge (``kind == "web"``)."""

    id: str
    participant_id: str
    direction: str  # "incoming" | "outgoing"
    remote_party: str
    name: str
    local_address: str
    call: LiveCall | None = None
    dialog: Dialog | None = None
    state: str = "initial"  # initial | ringing | connected | ended
    answer: AudioAnswer | None = None
    local_sdp: SessionDescription | None = None
    media_port: int = 0
    media_call: str = ""
    rx_mute: bool = False
    tx_mute: bool = False
    #: From the leg's profile: hears and is heard only while an activator is in the call.
    needs_activation: bool = False
    sip_call_id: str = ""
    #: Reached us through a NAT: media is sent back to where its RTP comes from.
    behind_nat: bool = False
    created: float = field(default_factory=time.monotonic)
    connected: float | None = None
    digits: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    play_done: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    #: Cancels a dial-out still ringing.
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    sdp_version: int = 1
    session: SessionRefresher | None = None
    stats: LegStats | None = None
    stats_time: float | None = None
    bitrate_rx: int = 0
    bitrate_tx: int = 0
    kind: str = "sip"  # "sip" | "web"
    #: The web bridge session of a browser leg (told when the leg ends or the call changes).
    listener: LegListener | None = None
    #: The participant muted their own microphone / camera (web app buttons).
    self_audio_muted: bool = False
    self_video_muted: bool = False
    user_jid: str | None = None
    #: Where a browser leg's signalling comes from (SIP legs show their SDP's address).
    remote_address: str | None = None
    #: The SIP leg's negotiated main video and its media pool port (0: none).
    video: VideoAnswer | None = None
    video_port: int = 0
    #: A browser leg's video relay (the web bridge's loopback socket and codec).
    web_video: WebVideo | None = None
    #: ``chosenLayout`` set through the API; the layout from the leg's profile or space.
    chosen_layout: str | None = None
    profile_layout: str | None = None

    @property
    def duration_seconds(self) -> int:
        return int(time.monotonic() - self.connected) if self.connected is not None else 0
