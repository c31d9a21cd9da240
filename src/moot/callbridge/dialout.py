"""Dial-out: ``POST /calls/<id>/callLegs`` (or ``/participants``) with a ``remoteParty``.

The remote party's domain picks the ``outboundDialPlanRules`` that match it, highest
priority first. Each rule sends the INVITE to its ``sipProxy`` or, without one, to
the domain itself as RFC 3263 resolves it (SRV, then A/AAAA). ``sipControlEncryption``
``encrypted`` uses TLS; ``auto`` and ``unencrypted`` start with what the resolution
gives. A rule whose call fails ends the attempt unless its ``failureAction`` is
``continue``. Ringing legs are shown in ``/callLegs`` and can be deleted, which
CANCELs the INVITE. The INVITE offers video with the audio; a callee that answers it
gets the meeting composed like every other leg (one that leaves the m=video line out of
its answer is taken as audio only).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from moot.api.objects.calls import CALL_LEG, PARTICIPANT
from moot.callbridge import routing
from moot.callbridge import video as video_module
from moot.callbridge.call import LiveLeg
from moot.sip import sdp
from moot.sip.headers import NameAddr
from moot.sip.message import Response
from moot.sip.transport import TransportError
from moot.sip.uri import SipUri

if TYPE_CHECKING:
    from moot.callbridge.bridge import Bridge

log = logging.getLogger("moot.callbridge")


async def dial_out(bridge: Bridge, oid: str, values: dict[str, Any]) -> None:
    from moot.callbridge.bridge import AUDIO_CODECS, DTMF_PT, RING_TIMEOUT, parse_remote_party

    kind = values.get("kind", CALL_LEG.name)
    call = bridge.calls.get(str(values.get("call")))
    leg_id = oid if kind == CALL_LEG.name else str(uuid.uuid4())
    participant_id = oid if kind == PARTICIPANT.name else str(uuid.uuid4())

    def forget(reason: str) -> None:
        log.warning("dial-out to %s failed: %s", values.get("remoteParty"), reason)
        bridge.legs.pop(leg_id, None)
        bridge.projection.delete(CALL_LEG, leg_id)
        bridge.projection.delete(PARTICIPANT, participant_id)

    if call is None:
        forget("the call is not running on this call bridge")
        return
    try:
        uri = parse_remote_party(str(values.get("remoteParty") or ""))
    except ValueError as exc:
        forget(str(exc))
        return
    routes = await asyncio.to_thread(_routes, bridge, uri.host)
    if not routes:
        forget(f"no outbound dial plan rule matches {uri.host}")
        return
    listeners = bridge.endpoint.listeners
    if not listeners:
        forget("the call bridge listens nowhere")
        return
    leg = LiveLeg(id=leg_id, participant_id=participant_id, direction="outgoing",
                  remote_party=uri.address_of_record, name=uri.user or uri.host,
                  local_address=f"{listeners[0][1][0]}:{listeners[0][1][1]}", state="initial")
    bridge.legs[leg.id] = leg
    for route in routes:
        if leg.cancel.is_set():
            break
        response = await _attempt(bridge, leg, call.id, uri, route, AUDIO_CODECS, DTMF_PT, RING_TIMEOUT)
        if response is not None and 200 <= response.status < 300:
            return
        if not route.continue_on_failure:
            break
    if leg.state != "connected":
        leg.state = "ended"
        forget("no route answered" if not leg.cancel.is_set() else "cancelled")


def _routes(bridge: Bridge, domain: str) -> list[routing.OutboundRoute]:
    with bridge.store.reader() as txn:
        return routing.outbound_routes(txn, domain)


async def _attempt(bridge: Bridge, leg: LiveLeg, call_id: str, uri: SipUri, route: routing.OutboundRoute,
                   codecs: tuple[sdp.Codec, ...], dtmf_pt: int, ring_timeout: float) -> Response | None:
    endpoint = bridge.endpoint
    try:
        targets = await endpoint.resolve(uri, route.proxy)
    except (TransportError, OSError, ValueError) as exc:
        log.info("dial-out to %s via rule %s: %s", uri, route.rule_id, exc)
        return None
    if route.encryption == "encrypted":
        targets = [t for t in targets if t.transport == "TLS"]
    elif route.encryption == "unencrypted":
        targets = [t for t in targets if t.transport != "TLS"]
    if not targets:
        return None
    target = targets[0]
    listener = next((a for t, a in endpoint.listeners if t == target.transport), endpoint.listeners[0][1])
    host = listener[0]
    leg.media_call = call_id
    pool = await bridge.media()
    leg.media_port = await pool.open_leg(call_id, leg.id, host)
    leg.video_port = await pool.open_video(leg.id)
    secure = target.transport == "TLS"
    offer, _crypto = sdp.build_offer(address=host, port=leg.media_port, codecs=list(codecs), dtmf_pt=dtmf_pt,
                                     srtp=secure, session_id=secrets.randbelow(2**31),
                                     version=leg.sdp_version)
    video_module.offer_with_video(offer, leg.video_port, secure=secure)
    from_domain = route.local_from_domain or host
    request = endpoint.new_request(
        "INVITE", uri,
        from_=NameAddr(SipUri("sip", "moot", from_domain), display="Moot"),
        to=NameAddr(uri), body=offer.serialize().encode(), content_type="application/sdp",
    )
    leg.sip_call_id = request.call_id

    def provisional(response: Response) -> None:
        if response.status in (180, 183):
            leg.state = "ringing"

    invite = asyncio.create_task(endpoint.invite(request, (target.transport, target.host, target.port),
                                                 on_provisional=provisional))
    cancel = asyncio.create_task(leg.cancel.wait())
    done, _ = await asyncio.wait({invite, cancel}, timeout=ring_timeout, return_when=asyncio.FIRST_COMPLETED)
    cancel.cancel()
    if invite not in done:
        invite.cancel()  # sends CANCEL (and BYE should a 2xx still come)
        await asyncio.gather(invite, return_exceptions=True)
        await bridge.pool.close_leg(leg.id)
        return None
    response, dialog = invite.result()
    if dialog is None or not 200 <= response.status < 300:
        await bridge.pool.close_leg(leg.id)
        return response
    try:
        answer, leg.video = video_module.answered(offer, sdp.parse(response.body))
    except (sdp.SdpError, sdp.NotAcceptable) as exc:
        log.warning("dial-out to %s: unusable answer: %s", uri, exc)
        await dialog.request("BYE")
        await bridge.pool.close_leg(leg.id)
        return None
    leg.answer = answer
    leg.local_sdp = offer
    leg.dialog = dialog
    leg.state = "connected"
    leg.connected = time.monotonic()
    bridge.connect_dialled(leg)
    await bridge.pool.start_leg(leg.id, bridge.leg_config(leg))
    call = bridge.calls.get(call_id)
    if call is None or call.ended:
        await bridge.end_leg(leg, "call ended while dialling", send_bye=True)
        return response
    bridge.attach(leg, call)
    return response
