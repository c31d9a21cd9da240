"""The call bridge's transaction user: SIP calls into spaces, IVRs and dial-outs.

Signalling and decisions run here, in the main process; media runs in the
:class:`~moot.media.pool.MediaPool` workers. Each incoming INVITE is routed by the
dial plans (:mod:`moot.callbridge.routing`), its SDP offer negotiated against the
leg's profile (media encryption), answered, and the leg is put into its space's call
(created on first use) — or first through the IVR dialogue when a call ID or a
passcode is needed. The API reads the same state (``/calls``, ``/callLegs``,
``/participants``, ``/system/status``) and changes it through the ``LiveCalls``
methods, which are safe to call from the API's worker threads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from ipaddress import ip_address
from typing import Any, Literal, TypeVar

from moot.api.encoding import Group
from moot.api.objects.calls import CALL, CALL_LEG, PARTICIPANT, call_row
from moot.callbridge import alarms, ivr, profiles, routing
from moot.callbridge import enforcement as enforcement_module
from moot.callbridge import video as video_module
from moot.callbridge.call import LegListener, LiveCall, LiveLeg
from moot.callbridge.enforcement import Enforcement
from moot.callbridge.projection import Projection
from moot.callbridge.prompts import prompt
from moot.db.apistore import ApiStore
from moot.licensing import assignment, weights
from moot.media.codecs import CodecSpec
from moot.media.pool import (
    DtmfReceived,
    KeyframeWanted,
    LegConfig,
    MediaError,
    MediaPool,
    PlayFinished,
    RtpTimeout,
    SpeakerChanged,
)
from moot.sip import sdp, session_timer
from moot.sip.dialog import BadRequest, Dialog
from moot.sip.endpoint import SipEndpoint
from moot.sip.message import Request, Response, make_response
from moot.sip.transaction import ServerTransaction
from moot.sip.uri import SipUri, UriError
from moot.sip.video_offer import video_media

log = logging.getLogger("moot.callbridge")
T = TypeVar("T")

#: Methods the call bridge answers (Allow header).
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
SUPPORTED = "timer, replaces"
#: Audio codecs in our order of preference when we offer (answers follow the offer's order).
AUDIO_CODECS = (
    sdp.Codec(0, "PCMU", 8000),
    sdp.Codec(8, "PCMA", 8000),
    sdp.Codec(9, "G722", 8000),
    sdp.Codec(111, "opus", 48000, 2),
)
DTMF_PT = 101
#: Seconds a dial-out rings before it is given up.
RING_TIMEOUT = 60.0
#: How long the ACK (with the answer to a delayed offer) may take.
ACK_TIMEOUT = 32.0
#: Seconds between media statistics refreshes.
STATS_INTERVAL = 1.0
#: Seconds between updates of the licence alarms (the enforcement level is re-read as often).
ALARM_INTERVAL = 60.0
#: How long a BYE may take before the leg is dropped anyway.
BYE_TIMEOUT = 8.0
#: Browser legs: the web bridge relays their audio as plain RTP on loopback to the leg's
#: media port, in this codec (the mixer runs at 8 kHz; the browser side is Opus).
WEB_MEDIA_HOST = "127.0.0.1"
WEB_GATEWAY_CODEC = CodecSpec("PCMU", 0, 8000, 1)


class JoinRefused(Exception):
    """A browser may not join (yet): ``code`` is the web app's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _srtp_mode(encryption: str) -> Literal["optional", "required", "refused"]:
    if encryption == "required":
        return "required"
    return "refused" if encryption == "prohibited" else "optional"


def _codec_spec(codec: sdp.Codec) -> CodecSpec:
    return CodecSpec(codec.name, codec.payload_type, codec.clock_rate, codec.channels)


def _display(request: Request) -> tuple[str, str]:
    """(remote party URI, display name) of an incoming request."""
    who = request.from_
    uri = who.uri
    return f"{uri.user}@{uri.host}" if uri.user else uri.host, who.display or (uri.user or uri.host)


class CallBridgeCounters:
    def __init__(self) -> None:
        self.active = 0
        self.max_active = 0
        self.completed = 0

    def joined(self) -> None:
        self.active += 1
        self.max_active = max(self.max_active, self.active)

    def left(self) -> None:
        self.active -= 1
        self.completed += 1


class Bridge:
    """One node's call bridge (also the ``LiveCalls`` the API hooks talk to)."""

    def __init__(self, store: ApiStore, pool: MediaPool, endpoint_factory: Callable[[Bridge], SipEndpoint],
                 *, digit_timeout: float = 10.0, media_ready: Awaitable[None] | None = None,
                 enforcement: Callable[[], Enforcement] = enforcement_module.NONE) -> None:
        self.store = store
        #: Licence enforcement (guide B.4): prompts and notices on joining, no encryption at level 3.
        self.enforcement = enforcement
        self.pool = pool
        self._media_ready = media_ready
        self.endpoint = endpoint_factory(self)
        self.projection = Projection(store)
        self.digit_timeout = digit_timeout
        self.calls: dict[str, LiveCall] = {}
        self.by_space: dict[str, LiveCall] = {}
        self.legs: dict[str, LiveLeg] = {}
        self.counters = CallBridgeCounters()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._events_task: asyncio.Task[None] | None = None

    # lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.projection.start()
        self._events_task = asyncio.create_task(self._media_events(), name="callbridge-media-events")
        self._spawn(self._stats_loop())
        self._spawn(self._alarm_loop())

    async def media(self) -> MediaPool:
        """The media pool, once its workers are up (the first call may wait for them)."""
        if self._media_ready is not None:
            await self._media_ready
        return self.pool

    async def stop(self) -> None:
        if self._media_ready is not None and not getattr(self._media_ready, "done", lambda: True)():
            await asyncio.gather(self._media_ready, return_exceptions=True)
        for leg in list(self.legs.values()):
            await self.end_leg(leg, "call bridge stopping", send_bye=True)
        if self._events_task is not None:
            self._events_task.cancel()
            await asyncio.gather(self._events_task, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.projection.stop()

    def _spawn(self, coro: Coroutine[Any, Any, Any], leg: LiveLeg | None = None) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        owner = leg.tasks if leg is not None else self._tasks
        owner.add(task)
        task.add_done_callback(owner.discard)
        task.add_done_callback(_log_failure)
        return task

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    # SIP: new requests ----------------------------------------------------------------------
    async def on_request(self, txn: ServerTransaction) -> None:
        method = txn.request.method
        if method == "INVITE":
            await self._incoming_invite(txn)
        elif method == "OPTIONS":
            txn.reply(200, extra=[("Allow", ALLOW), ("Accept", "application/sdp"),
                                        ("Supported", SUPPORTED)])
        elif method in ("BYE", "INFO", "UPDATE", "PRACK"):
            txn.reply(481)
        else:
            txn.reply(405, extra=[("Allow", ALLOW)])

    async def _incoming_invite(self, txn: ServerTransaction) -> None:
        request = txn.request
        if request.to.tag:
            txn.reply(481)  # a re-INVITE for a dialog we do not know
            return
        offer: sdp.SessionDescription | None = None
        if request.body:
            if request.content_type != "application/sdp":
                txn.reply(415, extra=[("Accept", "application/sdp")])
                return
            try:
                offer = sdp.parse(request.body)
            except sdp.SdpError as exc:
                txn.reply(400, f"Bad SDP: {exc}"[:100])
                return
        timer = _session_timer(txn)
        if timer is None:
            return
        uri = request.uri
        target, prof = await self._db(self._route, uri.user, uri.host)
        if isinstance(target, routing.Rejected):
            txn.reply(target.status, target.reason)
            return
        answer: sdp.AudioAnswer | None = None
        encryption = self.enforcement().encryption_allowed
        if not encryption and prof.media_encryption == "required":
            txn.reply(488, extra=[("Warning", f'399 moot "{enforcement_module.COMPLIANCE_TEXT}"')])
            return
        if offer is not None:
            try:
                answer = sdp.negotiate_audio(offer, AUDIO_CODECS,
                                             srtp=_srtp_mode(prof.media_encryption) if encryption else "refused")
            except sdp.NotAcceptable as exc:
                reason = str(exc) if encryption else f"{exc} ({enforcement_module.COMPLIANCE_TEXT})"
                txn.reply(488, extra=[("Warning", f'304 moot "{reason}"'[:200])])
                return
        remote, name = _display(request)
        leg = LiveLeg(
            id=str(uuid.uuid4()), participant_id=str(uuid.uuid4()), direction="incoming",
            remote_party=remote, name=name, local_address=f"{txn.source.local[0]}:{txn.source.local[1]}",
            sip_call_id=request.call_id, behind_nat=_behind_nat(txn, offer),
        )
        leg.rx_mute = bool(prof.leg.get("rxAudioMute"))
        leg.tx_mute = bool(prof.leg.get("txAudioMute"))
        leg.needs_activation = bool(prof.leg.get("needsActivation"))
        if answer is not None:
            leg.video = video_module.negotiate(offer, prof, encryption=encryption)
        leg.profile_layout = video_module.profile_layout(
            prof, target.space if isinstance(target, routing.SpaceTarget) else None)
        call: LiveCall | None = None
        if isinstance(target, routing.ForwardTarget):
            call = self._forwarding_call(target)
        elif isinstance(target, routing.SpaceTarget) and not target.passcode:
            call = await self._call_for_space(target.space, prof)
            if not self._has_room(call):
                self._abandon(call)
                txn.reply(486, "Meeting Full")
                return
        if not await self._answer(txn, leg, call, offer, answer, prof, timer):
            if call is not None:
                self._abandon(call)
            return
        if call is not None:
            self.attach(leg, call)
            if isinstance(target, routing.ForwardTarget):
                self._spawn(self._forward(leg, call, target), leg)
        else:
            lookup = self._lookup_call_id if isinstance(target, routing.IvrTarget) else None
            space_target = target if isinstance(target, routing.SpaceTarget) else None
            self._spawn(self._ivr(leg, lookup, space_target), leg)

    async def _answer(self, txn: ServerTransaction, leg: LiveLeg, call: LiveCall | None,
                      offer: sdp.SessionDescription | None, answer: sdp.AudioAnswer | None,
                      prof: profiles.EffectiveProfiles, timer: session_timer.UasDecision) -> bool:
        """Open the leg's media, send the 200 with our SDP, and start the media.

        With an offer in the INVITE the 200 carries the answer. Without one (a *delayed
        offer*, RFC 3261 13.2.1) the 200 carries our offer and the answer comes in the ACK.
        False when the call did not get established (the caller has had its answer).
        """
        request = txn.request
        leg.media_call = call.id if call is not None else f"ivr-{leg.id}"
        host = txn.source.local[0]
        try:
            pool = await self.media()
            leg.media_port = await pool.open_leg(leg.media_call, leg.id, host)
            # Video as the offer has it; with a delayed offer, ours includes video.
            if leg.video is not None or (offer is None and prof.leg.get("videoMode") != "disabled"):
                leg.video_port = await pool.open_video(leg.id)
        except OSError as exc:
            log.error("no media port for a call from %s: %s", leg.remote_party, exc)
            txn.reply(503, "No Media Resources")
            return False
        session_id = secrets.randbelow(2**31)
        if offer is not None and answer is not None:
            leg.answer = answer
            leg.local_sdp = sdp.build_answer(offer, answer, address=host, port=leg.media_port,
                                             session_id=session_id, version=leg.sdp_version,
                                             accepted=self._video_media(offer, leg))
        else:
            secure = prof.media_encryption == "required"
            leg.local_sdp, _ = sdp.build_offer(address=host, port=leg.media_port, codecs=AUDIO_CODECS,
                                               dtmf_pt=DTMF_PT, srtp=secure,
                                               session_id=session_id, version=leg.sdp_version)
            if leg.video_port:
                video_module.offer_with_video(leg.local_sdp, leg.video_port, secure=secure)
        response = make_response(
            request, 200, to_tag=txn.local_tag, body=leg.local_sdp.serialize().encode(),
            extra=[("Contact", self.endpoint.contact_header(txn.source)),
                   ("Content-Type", "application/sdp"), ("Allow", ALLOW), ("Supported", SUPPORTED),
                   *timer.headers],
        )
        if txn.cancelled.is_set() or txn.answered:
            await self.pool.close_leg(leg.id)
            return False
        try:
            leg.dialog = Dialog.create_uas(txn, response)
        except BadRequest as exc:
            await self.pool.close_leg(leg.id)
            txn.reply(400, str(exc)[:100])
            return False
        self.legs[leg.id] = leg
        self._watch_dialog(leg)
        await txn.respond(response)
        if leg.answer is None and not await self._answer_in_ack(leg):
            return False
        if timer.timer is not None:
            self._keep_alive(leg, timer.timer)
        leg.state = "connected"
        leg.connected = time.monotonic()
        await self.pool.start_leg(leg.id, self.leg_config(leg))
        if leg.rx_mute or leg.tx_mute:
            await self.pool.set_mute(leg.id, rx=leg.rx_mute, tx=leg.tx_mute)
        return True

    async def _answer_in_ack(self, leg: LiveLeg) -> bool:
        """The remote's answer to the offer of our 200 arrives in its ACK."""
        dialog = leg.dialog
        assert dialog is not None and leg.local_sdp is not None
        try:
            await asyncio.wait_for(dialog.acked.wait(), ACK_TIMEOUT)
            body = dialog.ack.body if dialog.ack is not None else b""
            leg.answer, leg.video = video_module.answered(leg.local_sdp, sdp.parse(body))
            return True
        except (TimeoutError, sdp.SdpError, sdp.NotAcceptable) as exc:
            reason = "no ACK" if isinstance(exc, TimeoutError) else f"unusable answer in the ACK: {exc}"
            log.info("call from %s: %s", leg.remote_party, reason)
            leg.state = "connected"  # so that end_leg sends the BYE
            await self.end_leg(leg, reason[:80], send_bye=True)
            return False

    def _abandon(self, call: LiveCall) -> None:
        """A call made for a caller that did not get in: gone again if nobody else is in it."""
        if not call.legs and not call.persistent and not call.ended:
            self._end_call_state(call)

    def _route(self, user: str | None, domain: str) -> tuple[routing.Target, profiles.EffectiveProfiles]:
        """Where the call goes and the profiles in force there (one read transaction)."""
        with self.store.reader() as txn:
            target = routing.route_inbound(txn, user, domain)
            if isinstance(target, routing.SpaceTarget):
                return target, profiles.effective(txn, target.space, target.access_method)
            return target, profiles.effective(txn, None)

    def _profiles(self, space: dict[str, Any] | None, method: dict[str, Any] | None) -> profiles.EffectiveProfiles:
        with self.store.reader() as txn:
            return profiles.effective(txn, space, method)

    @staticmethod
    def _video_media(offer: sdp.SessionDescription, leg: LiveLeg) -> dict[int, sdp.MediaDescription]:
        """Our m=video for the answer (by the offer's m-line index), if the leg has video."""
        answer = leg.video
        if answer is None or leg.video_port == 0:
            return {}
        proto = offer.media[answer.media_index].proto
        return {answer.media_index: video_media(answer, port=leg.video_port, proto=proto)}

    def _leg_profiles(self, leg: LiveLeg) -> profiles.EffectiveProfiles:
        from moot.api.objects.cospaces import COSPACE
        with self.store.reader() as txn:
            space_id = leg.call.space_id if leg.call is not None else None
            space = txn.get(COSPACE, space_id) if space_id else None
            return profiles.effective(txn, space)

    def leg_config(self, leg: LiveLeg) -> LegConfig:
        answer = leg.answer
        assert answer is not None
        return LegConfig(
            name=leg.name,
            video=video_module.config_for(leg),
            remote=answer.remote,
            codec=_codec_spec(answer.codec),
            dtmf_payload_type=answer.dtmf.payload_type if answer.dtmf else None,
            ptime_ms=answer.ptime or 20,
            direction=answer.direction,
            srtp_profile=answer.local_crypto.suite if answer.local_crypto else None,
            srtp_tx_key=answer.local_crypto.key_salt if answer.local_crypto else None,
            srtp_rx_key=answer.remote_crypto.key_salt if answer.remote_crypto else None,
            latch=leg.behind_nat,
        )

    # calls ---------------------------------------------------------------------------------
    async def _call_for_space(self, space: dict[str, Any], prof: profiles.EffectiveProfiles) -> LiveCall:
        call = self.by_space.get(space["id"])
        if call is not None and not call.ended:
            return call
        call = LiveCall(id=str(uuid.uuid4()), name=space.get("name") or "", space_id=space["id"],
                        tenant=space.get("tenant"), participant_limit=prof.participant_limit)
        self.calls[call.id] = call
        self.by_space[space["id"]] = call
        self.projection.insert(CALL, call.id, call_row(space, call.name))
        call.personal_holder = await self._db(self._licence_holder, space)
        return call

    def _licence_holder(self, space: dict[str, Any]) -> str | None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self.store.reader() as txn:
            return assignment.licence_holder(txn, space, now=now)

    def _forwarding_call(self, target: routing.ForwardTarget) -> LiveCall:
        destination = f"{target.user}@{target.domain}" if target.user else target.domain
        call = LiveCall(id=str(uuid.uuid4()), name=f"forwarded to {destination}", space_id=None,
                        tenant=target.rule.get("tenant"), call_type="forwarding")
        self.calls[call.id] = call
        self.projection.insert(CALL, call.id, {**call_row(None, call.name, "forwarding"), "tenant": call.tenant})
        return call

    async def _forward(self, leg: LiveLeg, call: LiveCall, target: routing.ForwardTarget) -> None:
        """A forwarding dial plan rule matched: dial the new destination into the same call;
        if it does not answer, the caller is told so and released."""
        from moot.callbridge.dialout import dial_out
        out_id = str(uuid.uuid4())
        destination = f"{target.user}@{target.domain}" if target.user else target.domain
        await dial_out(self, out_id, {"call": call.id, "remoteParty": destination, "kind": CALL_LEG.name})
        out = self.legs.get(out_id)
        if out is None or out.state != "connected":
            await self.end_leg(leg, f"forwarding to {destination} failed", send_bye=True)

    def _has_room(self, call: LiveCall) -> bool:
        return call.participant_limit is None or len(call.legs) < call.participant_limit

    def attach(self, leg: LiveLeg, call: LiveCall) -> None:
        leg.call = call
        call.legs[leg.id] = leg
        call.max_legs = max(call.max_legs, len(call.legs))
        self.counters.joined()
        common = {"call": call.id, "remoteParty": leg.remote_party, "name": leg.name, "tenant": call.tenant}
        new = leg.direction == "incoming"  # a dial-out's row may come from the API's POST
        self.projection.insert(PARTICIPANT, leg.participant_id, {**common, "userJid": leg.user_jid}, new=new)
        self.projection.insert(CALL_LEG, leg.id, {
            **common, "participant": leg.participant_id, "type": "acano" if leg.kind == "web" else "sip",
            "direction": leg.direction,
            "localAddress": leg.local_address, "originalRemoteParty": leg.remote_party,
            "rxAudioMute": leg.rx_mute or None, "txAudioMute": leg.tx_mute or None,
        }, new=new)
        self._spawn(self._activation(call))
        self.call_changed(call)
        self._enforce_on_join(leg)

    def _enforce_on_join(self, leg: LiveLeg) -> None:
        """Guide B.4: at alarm level 2 or 3 every participant joining hears why (and sees it)."""
        enforcement = self.enforcement()
        if enforcement.prompt is not None and leg.state == "connected":
            self._spawn(self.pool.play(leg.id, prompt(enforcement.prompt)), leg)
        if enforcement.notice is not None and leg.listener is not None:
            leg.listener.notice(*enforcement.notice)
        if enforcement.notice is not None and leg.video_port and leg.state == "connected":
            text, seconds = enforcement.notice
            self._spawn(self.pool.set_caption(leg.id, text, seconds), leg)

    def call_changed(self, call: LiveCall) -> None:
        """Tell the call's browser legs that who is in it, or muted, or speaking changed."""
        for leg in list(call.legs.values()):
            if leg.listener is not None:
                leg.listener.call_changed(call)

    @staticmethod
    def _activated(call: LiveCall) -> bool:
        """A call is activated while a leg that needs no activation (an activator) is in it."""
        return any(not leg.needs_activation for leg in call.legs.values())

    async def _push_mute(self, leg: LiveLeg) -> None:
        """Tell the media the leg's mutes: the API's, plus full mute while waiting for activation."""
        waiting = leg.needs_activation and leg.call is not None and not self._activated(leg.call)
        if leg.state == "connected" and leg.id in self.legs:
            await self.pool.set_mute(leg.id, rx=leg.rx_mute or waiting, tx=leg.tx_mute or waiting)

    async def _activation(self, call: LiveCall) -> None:
        for leg in list(call.legs.values()):
            if leg.needs_activation:
                await self._push_mute(leg)

    async def end_leg(self, leg: LiveLeg, reason: str, *, send_bye: bool) -> None:
        if leg.state == "ended":
            return
        was_connected = leg.state == "connected"
        leg.state = "ended"
        if leg.listener is not None:
            leg.listener.leg_ended(reason)
        if leg.session is not None:
            leg.session.stop()
        leg.cancel.set()
        self.legs.pop(leg.id, None)
        for task in list(leg.tasks):
            if task is not asyncio.current_task():
                task.cancel()
        if send_bye and was_connected and leg.dialog is not None:
            try:
                await asyncio.wait_for(leg.dialog.request("BYE", extra=[("Reason", f'Q.850;cause=16;text="{reason}"')]),
                                       BYE_TIMEOUT)
            except Exception as exc:  # the far end may already be gone
                log.info("BYE to %s: %s", leg.remote_party, exc)
        try:
            await self.pool.close_leg(leg.id)
        except KeyError:
            pass
        call = leg.call
        if call is not None and leg.id in call.legs:
            del call.legs[leg.id]
            if call.presenter == leg.id:
                call.presenter = None  # the media worker forgot it with the leg
            self.counters.left()
            self.projection.delete(CALL_LEG, leg.id)
            self.projection.delete(PARTICIPANT, leg.participant_id)
            if not call.legs and not call.persistent:
                self._end_call_state(call)
            elif not self._activated(call):
                self._spawn(self._activation(call))
            self.call_changed(call)
            if call.call_type == "forwarding":
                # A forwarded call joins two parties: one hanging up releases the other.
                for other in list(call.legs.values()):
                    self._spawn(self.end_leg(other, "the other party hung up", send_bye=True))
        elif call is not None:
            self._abandon(call)  # a browser leg that never got its media up
        log.info("leg %s (%s) ended: %s", leg.id, leg.remote_party, reason)

    def _end_call_state(self, call: LiveCall) -> None:
        call.ended = True
        self.calls.pop(call.id, None)
        if call.space_id and self.by_space.get(call.space_id) is call:
            del self.by_space[call.space_id]
        self.projection.delete(CALL, call.id)

    async def end_call(self, call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is None:
            return
        call.persistent = False
        legs = list(call.legs.values())
        if not legs:
            self._end_call_state(call)
        for leg in legs:
            await self.end_leg(leg, "call ended by the administrator", send_bye=True)

    # in-dialog requests ----------------------------------------------------------------------
    def _keep_alive(self, leg: LiveLeg, timer: session_timer.SessionTimer) -> None:
        """RFC 4028: refresh the session, or end the leg when the phone stops refreshing it."""
        assert leg.dialog is not None

        def body() -> tuple[bytes, str | None]:
            if leg.local_sdp is None:
                return b"", None
            return leg.local_sdp.serialize().encode(), "application/sdp"

        def expired() -> None:
            self._spawn(self.end_leg(leg, "session timer expired", send_bye=False))

        leg.session = session_timer.SessionRefresher(leg.dialog, timer, method="UPDATE", body=body,
                                                     on_expired=expired)
        leg.session.start()

    def connect_dialled(self, leg: LiveLeg) -> None:
        """A dial-out was answered: its dialog is now watched like an incoming one's."""
        self._watch_dialog(leg)

    def _watch_dialog(self, leg: LiveLeg) -> None:
        dialog = leg.dialog
        assert dialog is not None
        dialog.on_request = lambda txn: self._in_dialog(leg, txn)

        def terminated(reason: str) -> None:
            if leg.state != "ended":
                self._spawn(self.end_leg(leg, f"dialog ended ({reason})", send_bye=False))
        dialog.on_terminated = terminated

    async def _in_dialog(self, leg: LiveLeg, txn: ServerTransaction) -> None:
        request = txn.request
        method = request.method
        if method == "BYE":
            txn.reply(200)
            await self.end_leg(leg, "remote hung up", send_bye=False)
        elif method in ("INVITE", "UPDATE"):
            await self._renegotiate(leg, txn)
        elif method == "INFO":
            digit = _info_digit(request)
            txn.reply(200)
            if video_module.is_fast_update(request) and leg.video_port:
                self._spawn(self.pool.request_keyframe(leg.id), leg)
            if digit is not None:
                leg.digits.put_nowait(digit)
        elif method == "OPTIONS":
            txn.reply(200, extra=[("Allow", ALLOW)])
        else:
            txn.reply(405, extra=[("Allow", ALLOW)])

    async def _renegotiate(self, leg: LiveLeg, txn: ServerTransaction) -> None:
        request = txn.request
        refresh: list[tuple[str, str]] = []
        if leg.session is not None:
            decision = _session_timer(txn)
            if decision is None:
                return
            refresh = decision.headers
            leg.session.refreshed(decision.timer)
        if not request.body:
            # A session refresh (RFC 4028) or an offerless re-INVITE: answer with our SDP.
            body = leg.local_sdp.serialize().encode() if leg.local_sdp else b""
            txn.reply(200, body=body, extra=([("Content-Type", "application/sdp")] if body else []) + refresh)
            return
        try:
            offer = sdp.parse(request.body)
            keep = leg.answer.local_crypto if leg.answer is not None else None
            answer = sdp.negotiate_audio(offer, AUDIO_CODECS, srtp="required" if keep else "optional",
                                         local_key=keep)
        except sdp.SdpError as exc:
            txn.reply(400, f"Bad SDP: {exc}"[:100])
            return
        except sdp.NotAcceptable as exc:
            txn.reply(488, extra=[("Warning", f'304 moot "{exc}"'[:200])])
            return
        leg.answer = answer
        leg.sdp_version += 1
        host = leg.local_address.rsplit(":", 1)[0]
        keep_video = leg.video.local_crypto if leg.video is not None else None
        prof = await self._db(self._leg_profiles, leg)
        leg.video = video_module.negotiate(offer, prof, encryption=self.enforcement().encryption_allowed)
        if leg.video is not None and keep_video is not None and leg.video.local_crypto is not None \
                and leg.video.local_crypto.suite == keep_video.suite:
            leg.video = dataclasses.replace(leg.video, local_crypto=sdp.Crypto(
                leg.video.local_crypto.tag, keep_video.suite, keep_video.key_salt))
        if leg.video is not None and leg.video_port == 0:
            try:
                leg.video_port = await self.pool.open_video(leg.id)
            except MediaError:
                leg.video = None
        leg.local_sdp = sdp.build_answer(offer, answer, address=host, port=leg.media_port,
                                         session_id=leg.local_sdp.origin.session_id if leg.local_sdp else 1,
                                         version=leg.sdp_version, accepted=self._video_media(offer, leg))
        txn.reply(200, body=leg.local_sdp.serialize().encode(),
                  extra=[("Content-Type", "application/sdp"), *refresh])
        await self.pool.update_leg(leg.id, self.leg_config(leg))

    # IVR -----------------------------------------------------------------------------------
    async def _lookup_call_id(self, digits: str) -> routing.SpaceTarget | None:
        def find() -> routing.SpaceTarget | None:
            with self.store.reader() as txn:
                return routing.by_call_id(txn, digits)
        return await self._db(find)

    async def _ivr(self, leg: LiveLeg, lookup: ivr.Lookup | None, target: routing.SpaceTarget | None) -> None:
        io = _LegIo(self, leg)
        outcome = await ivr.run(io, lookup=lookup, target=target, digit_timeout=self.digit_timeout)
        if outcome.target is None:
            await self.end_leg(leg, outcome.reason, send_bye=True)
            return
        prof = await self._db(self._profiles, outcome.target.space, outcome.target.access_method)
        leg.needs_activation = bool(prof.leg.get("needsActivation"))
        call = await self._call_for_space(outcome.target.space, prof)
        if not self._has_room(call):
            await io.play_to_end("meeting_full")
            await self.end_leg(leg, "meeting full", send_bye=True)
            return
        await self.pool.stop_play(leg.id)
        await self.pool.move_leg(leg.id, call.id)
        leg.media_call = call.id
        self.attach(leg, call)

    # browser legs (the web bridge) ---------------------------------------------------------
    async def open_web_leg(self, target: routing.SpaceTarget, *, name: str, remote_party: str,
                           remote_address: str, local_address: str, user_jid: str | None,
                           listener: LegListener) -> LiveLeg:
        """A browser joins a space: its leg in the space's call, with a media port on loopback
        where the web bridge relays the browser's audio (:meth:`start_web_leg` starts it)."""
        if not self.enforcement().encryption_allowed:
            # Browsers' media is always encrypted (DTLS-SRTP): none are processed at level 3.
            raise JoinRefused("outOfCompliance", enforcement_module.COMPLIANCE_TEXT)
        prof = await self._db(self._profiles, target.space, target.access_method)
        call = await self._call_for_space(target.space, prof)
        if not self._has_room(call):
            self._abandon(call)
            raise JoinRefused("meetingFull", "The meeting is full")
        leg = LiveLeg(id=str(uuid.uuid4()), participant_id=str(uuid.uuid4()), direction="incoming",
                      remote_party=remote_party, name=name, local_address=local_address, kind="web",
                      listener=listener, user_jid=user_jid, remote_address=remote_address)
        leg.profile_layout = video_module.profile_layout(prof, target.space)
        leg.rx_mute = bool(prof.leg.get("rxAudioMute"))
        leg.tx_mute = bool(prof.leg.get("txAudioMute"))
        leg.needs_activation = bool(prof.leg.get("needsActivation"))
        leg.media_call = call.id
        try:
            pool = await self.media()
            leg.media_port = await pool.open_leg(call.id, leg.id, WEB_MEDIA_HOST)
        except (OSError, MediaError) as exc:
            log.error("no media port for a browser joining %s: %s", call.name, exc)
            self._abandon(call)
            raise JoinRefused("mediaFailed", "No media resources are free; try again later") from None
        leg.call = call  # not yet in call.legs: start_web_leg attaches it
        self.legs[leg.id] = leg
        return leg

    async def open_web_video(self, leg: LiveLeg) -> int:
        """A media pool video port for a browser leg (the web bridge relays its video there)."""
        leg.video_port = await self.pool.open_video(leg.id)
        return leg.video_port

    async def start_web_leg(self, leg: LiveLeg, gateway: tuple[str, int],
                            video: video_module.WebVideo | None = None) -> None:
        """The browser's media is up: mix the leg (its RTP comes from and goes to ``gateway``;
        its video, if any, to ``video.gateway``)."""
        call = leg.call
        if leg.state == "ended" or call is None:
            return
        if call.ended:
            await self.end_leg(leg, "the meeting has ended", send_bye=False)
            return
        leg.state = "connected"
        leg.connected = time.monotonic()
        leg.web_video = video if leg.video_port else None
        await self.pool.start_leg(leg.id, LegConfig(remote=gateway, codec=WEB_GATEWAY_CODEC, name=leg.name,
                                                    video=video_module.config_for(leg)))
        self.attach(leg, call)
        if leg.rx_mute or leg.tx_mute or leg.needs_activation:
            await self._push_mute(leg)

    async def web_share(self, leg: LiveLeg, on: bool) -> None:
        """The participant started or stopped sharing their screen in the web app: while
        they share, everyone sees their video big (SIP legs in their main video)."""
        call = leg.call
        if call is None or not leg.video_port or leg.state != "connected":
            return
        if on:
            call.presenter = leg.id
        elif call.presenter == leg.id:
            call.presenter = None
        else:
            return
        await self.pool.set_presenter(leg.id, on)
        self.call_changed(call)

    def web_self_mute(self, leg: LiveLeg, audio: bool, video: bool) -> None:
        """The participant muted or unmuted themselves in the web app."""
        leg.self_audio_muted, leg.self_video_muted = audio, video
        if leg.call is not None:
            self.call_changed(leg.call)

    # media events ----------------------------------------------------------------------------
    async def _media_events(self) -> None:
        while True:
            event = await self.pool.events.get()
            if isinstance(event, DtmfReceived):
                leg = self.legs.get(event.leg_id)
                if leg is not None:
                    leg.digits.put_nowait(event.digit)
            elif isinstance(event, PlayFinished):
                leg = self.legs.get(event.leg_id)
                if leg is not None:
                    leg.play_done.set()
            elif isinstance(event, RtpTimeout):
                leg = self.legs.get(event.leg_id)
                if leg is not None:
                    self._spawn(self.end_leg(leg, "media timeout", send_bye=True))
            elif isinstance(event, KeyframeWanted):
                leg = self.legs.get(event.leg_id)
                if leg is not None and leg.dialog is not None and leg.state == "connected":
                    self._spawn(self._send_fast_update(leg), leg)
            elif isinstance(event, SpeakerChanged):
                call = self.calls.get(event.call_id)
                if call is not None:
                    call.active_speaker = event.leg_id
                    self.call_changed(call)

    async def _send_fast_update(self, leg: LiveLeg) -> None:
        """Ask a SIP endpoint without RTCP feedback for a keyframe (RFC 5168 INFO)."""
        assert leg.dialog is not None
        try:
            await leg.dialog.request("INFO", body=video_module.PICTURE_FAST_UPDATE.encode(),
                                     content_type=video_module.MEDIA_CONTROL)
        except Exception as exc:  # the leg may be ending; the next loss asks again
            log.debug("picture_fast_update to %s failed: %s", leg.remote_party, exc)

    async def _alarm_loop(self) -> None:
        """Keep the licence alarms of ``/system/alarms`` in step with the enforcement level."""
        while True:
            level = self.enforcement().level
            try:
                await self._db(self._sync_alarms, level)
            except Exception:  # the database may be away for a moment: try again next time
                log.exception("licence alarms could not be written")
            await asyncio.sleep(ALARM_INTERVAL)

    def _sync_alarms(self, level: int) -> None:
        with self.store.txn() as txn:
            alarms.sync(txn, level)

    async def _stats_loop(self) -> None:
        """Refresh each connected leg's media statistics and bit rates (the API reads them)."""
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            for leg in list(self.legs.values()):
                if leg.state != "connected":
                    continue
                try:
                    stats = await self.pool.stats(leg.id)
                except (KeyError, ConnectionError):
                    continue
                now = time.monotonic()
                if leg.stats is not None and leg.stats_time is not None and now > leg.stats_time:
                    elapsed = now - leg.stats_time
                    leg.bitrate_rx = int((stats.bytes_rx - leg.stats.bytes_rx) * 8 / elapsed)
                    leg.bitrate_tx = int((stats.bytes_tx - leg.stats.bytes_tx) * 8 / elapsed)
                leg.stats, leg.stats_time = stats, now

    # LiveCalls: what the API reads and does (thread-safe entry points) ---------------------
    def _threadsafe(self, make: Callable[[], Awaitable[Any]]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def run() -> None:
            self._spawn(_await(make()))
        loop.call_soon_threadsafe(run)

    def call_status(self, call_id: str) -> dict[str, Any] | None:
        call = self.calls.get(call_id)
        if call is None:
            return None
        return {"durationSeconds": call.duration_seconds, "numCallLegs": len(call.legs),
                "maxCallLegs": call.max_legs, "numParticipantsLocal": len(call.legs),
                "numParticipantsRemote": 0, "numDistributedInstances": 0,
                "presenterCallLeg": call.presenter}

    def leg_status(self, leg_id: str) -> dict[str, Any] | None:
        leg = self.legs.get(leg_id)
        if leg is None:
            return None
        stats = leg.stats
        answer = leg.answer
        codec = answer.codec.name.lower() if answer else ("opus" if leg.kind == "web" else None)
        audio_rx = Group((
            ("codec", codec),
            ("packetsReceived", stats.packets_rx if stats else 0),
            ("packetsLost", stats.packets_lost if stats else 0),
            ("packetLossPercentage", round(100.0 * stats.packets_lost / max(1, stats.packets_rx + stats.packets_lost), 2) if stats else 0),
            ("jitter", round(stats.jitter_ms, 1) if stats else 0),
            ("bitRate", leg.bitrate_rx),
        ))
        audio_tx = Group((
            ("codec", codec),
            ("packetsSent", stats.packets_tx if stats else 0),
            ("bitRate", leg.bitrate_tx),
        ))
        status = Group((
            ("state", leg.state),
            ("durationSeconds", leg.duration_seconds),
            ("direction", leg.direction),
            ("sipCallId", leg.sip_call_id),
            ("remoteAddress", f"{answer.remote[0]}:{answer.remote[1]}" if answer else leg.remote_address),
            # Browser legs are always DTLS-SRTP.
            ("encrypted", bool(answer and answer.local_crypto) or leg.kind == "web"),
            ("activeSpeaker", bool(leg.call and leg.call.active_speaker == leg.id)),
            ("rxAudio", audio_rx),
            ("txAudio", audio_tx),
            *video_module.status_groups(stats.video if stats else None),
        ))
        return {"status": status, "rxAudioMute": leg.rx_mute, "txAudioMute": leg.tx_mute,
                "chosenLayout": leg.chosen_layout}

    def _live_calls(self) -> list[LiveCall]:
        return [c for c in self.calls.values() if c.legs and not c.ended]

    @staticmethod
    def _call_usage(call: LiveCall) -> weights.CallUsage:
        return weights.CallUsage(
            personal_holder=call.personal_holder, permanent_space=call.space_id is not None,
            participants=len(call.legs), video=any(leg.video_port for leg in call.legs.values()),
        )

    def licence_snapshot(self) -> weights.UsageSnapshot:
        """Licence use now (guide B.9/B.11), for the usage time series."""
        return weights.snapshot(self._call_usage(c) for c in self._live_calls())

    def licence_usage(self) -> dict[str, Any]:
        """Live counts of ``/system/multipartyLicensing`` (guide B.9, B.11): calls with someone
        in them, their participants, the calls no personal licence covers, and their weights."""
        calls = self._live_calls()
        usage = [self._call_usage(c) for c in calls]
        shared = [u for u in usage if u.personal_holder is None]
        personal = [u for u in usage if u.personal_holder is not None]
        return {
            "callsActive": len(calls),
            "participantsActive": sum(len(c.legs) for c in calls),
            "weightedCallsActive": round(sum(map(weights.weight, usage)), 4),
            "callsWithoutPersonalLicense": len(shared),
            "weightedCallsWithoutPersonalLicense": round(sum(map(weights.weight, shared)), 4),
            "personalLicensesActive": len({u.personal_holder for u in personal}),
            "callsWithPersonalLicense": len(personal),
            "weightedCallsWithPersonalLicense": round(sum(map(weights.weight, personal)), 4),
        }

    def system_counters(self) -> dict[str, int]:
        legs = list(self.legs.values())
        return {
            "callLegsActive": self.counters.active,
            "callLegsMaxActive": self.counters.max_active,
            "callLegsCompleted": self.counters.completed,
            "audioBitRateOutgoing": sum(leg.bitrate_tx for leg in legs),
            "audioBitRateIncoming": sum(leg.bitrate_rx for leg in legs),
        }

    def api_end_call(self, call_id: str) -> None:
        self._threadsafe(lambda: self.end_call(call_id))

    def api_hang_up(self, leg_id: str) -> None:
        def go() -> Awaitable[None]:
            leg = self.legs.get(leg_id)
            return self.end_leg(leg, "removed by the administrator", send_bye=True) if leg else _nothing()
        self._threadsafe(go)

    def api_change_leg(self, leg_id: str, values: dict[str, Any]) -> None:
        async def go() -> None:
            leg = self.legs.get(leg_id)
            if leg is None:
                return
            if "rxAudioMute" in values:
                leg.rx_mute = bool(values["rxAudioMute"])
                if leg.listener is not None:
                    leg.listener.host_mute(leg.rx_mute)
            if "txAudioMute" in values:
                leg.tx_mute = bool(values["txAudioMute"])
            if "chosenLayout" in values:
                leg.chosen_layout = values["chosenLayout"] or None
                await self._push_layout(leg)
            await self._push_mute(leg)
            if leg.call is not None:
                self.call_changed(leg.call)
        self._threadsafe(go)

    def api_change_call(self, call_id: str, values: dict[str, Any]) -> None:
        async def go() -> None:
            call = self.calls.get(call_id)
            if call is None or "defaultLayout" not in values:
                return
            call.default_layout = values["defaultLayout"] or None
            for leg in list(call.legs.values()):
                await self._push_layout(leg)
        self._threadsafe(go)

    def api_generate_keyframe(self, leg_id: str) -> None:
        def go() -> Awaitable[None]:
            leg = self.legs.get(leg_id)
            if leg is None or not leg.video_port or leg.state != "connected":
                return _nothing()
            return self.pool.request_keyframe(leg_id)
        self._threadsafe(go)

    async def _push_layout(self, leg: LiveLeg) -> None:
        if leg.video_port and leg.state == "connected" and leg.id in self.legs:
            await self.pool.set_layout(leg.id, video_module.layout_for(leg))

    def api_call_created(self, call_id: str, values: dict[str, Any]) -> None:
        def go() -> Awaitable[None]:
            call = LiveCall(id=call_id, name=values.get("name") or "", space_id=values.get("coSpace"),
                            tenant=values.get("tenant"), call_type=values.get("callType") or "adHoc",
                            persistent=values.get("activeWhenEmpty", True) is not False,
                            default_layout=values.get("defaultLayout"))
            self.calls[call_id] = call
            if call.space_id and call.space_id not in self.by_space:
                self.by_space[call.space_id] = call
            return _nothing()
        self._threadsafe(go)

    def api_dial(self, leg_id: str, values: dict[str, Any]) -> None:
        from moot.callbridge.dialout import dial_out
        self._threadsafe(lambda: dial_out(self, leg_id, values))


class _LegIo:
    """The IVR's prompts and digits on one leg."""

    def __init__(self, bridge: Bridge, leg: LiveLeg) -> None:
        self.bridge = bridge
        self.leg = leg

    async def play(self, name: str) -> None:
        self.leg.play_done.clear()
        await self.bridge.pool.play(self.leg.id, prompt(name))

    async def play_to_end(self, name: str) -> None:
        await self.play(name)
        try:
            await asyncio.wait_for(self.leg.play_done.wait(), len(prompt(name)) / 8000 + 5)
        except TimeoutError:
            pass

    async def read_entry(self, timeout: float) -> str | None:
        entry = ""
        while True:
            try:
                digit = await asyncio.wait_for(self.leg.digits.get(), timeout)
            except TimeoutError:
                return None
            if not entry:
                await self.bridge.pool.stop_play(self.leg.id)  # barge-in
            if digit == "#":
                return entry
            entry += digit


def _behind_nat(txn: ServerTransaction, offer: sdp.SessionDescription | None) -> bool:
    """Whether the phone is behind a NAT: its INVITE came from another address than its Via
    names, or its SDP names a private address while it reached us from a public one. Such a
    leg gets symmetric RTP (media goes back where the phone's media comes from)."""
    source = txn.source.remote[0]
    if txn.request.top_via.host.strip("[]") != source:
        return True
    if offer is None:
        return False
    try:
        addresses = [m.connection.address for m in offer.media if m.connection] or (
            [offer.connection.address] if offer.connection else [])
        return any(ip_address(a).is_private and not ip_address(source).is_private for a in addresses)
    except ValueError:
        return False


def _session_timer(txn: ServerTransaction) -> session_timer.UasDecision | None:
    """RFC 4028 for an INVITE or UPDATE: the phone refreshes if it can. None when the
    request was refused (400 for a broken header, 422 for too short an interval)."""
    try:
        decision = session_timer.negotiate_uas(txn.request, refresher="uac", use_timer=False)
    except session_timer.SessionTimerError as exc:
        txn.reply(400, str(exc)[:100])
        return None
    if decision.reject:
        txn.reply(422, extra=decision.headers)
        return None
    return decision


def _info_digit(request: Request) -> str | None:
    """The digit of a SIP INFO (application/dtmf-relay ``Signal=5`` or application/dtmf ``5``)."""
    text = request.body.decode("utf-8", "replace").strip()
    ctype = request.content_type
    if ctype == "application/dtmf-relay":
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip().lower() == "signal":
                value = value.strip()
                return value if value in set("0123456789*#ABCDabcd") and len(value) == 1 else None
        return None
    if ctype == "application/dtmf":
        return text if len(text) == 1 and text in "0123456789*#ABCDabcd" else None
    return None


async def _await(aw: Awaitable[Any]) -> Any:
    return await aw


async def _nothing() -> None:
    return None


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("call bridge task failed", exc_info=task.exception())


def parse_remote_party(text: str) -> SipUri:
    """What the API's ``remoteParty`` names: a SIP URI, or ``user@host``."""
    text = text.strip()
    if not text.lower().startswith(("sip:", "sips:")):
        text = "sip:" + text
    try:
        uri = SipUri.parse(text)
    except UriError as exc:
        raise ValueError(str(exc)) from None
    if not uri.host:
        raise ValueError("remoteParty needs a domain")
    return uri


def _response_ok(response: Response | None) -> bool:
    return response is not None and 200 <= response.status < 300
