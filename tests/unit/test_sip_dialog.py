"""Dialog state and in-dialog request building (RFC 3261 12), session timer negotiation
(RFC 4028)."""

from __future__ import annotations

import pytest

from moot.sip.dialog import Dialog
from moot.sip.message import Headers, Request, Response, make_response, parse_datagram
from moot.sip.session_timer import (
    SessionTimerError,
    negotiate_uac,
    negotiate_uas,
    parse_session_expires,
    retry_interval,
    uac_headers,
)
from moot.sip.transaction import ServerTransaction, Timers
from moot.sip.transport import Source
from moot.sip.uri import SipUri
from tests.unit.test_sip_transaction import FakeClock, Wire

UDP = Source("UDP", ("192.0.2.7", 5060), ("192.0.2.1", 5060))


def invite(*, record_route: list[str] | None = None, contact: str = "<sip:alice@192.0.2.7:5070>",
           cseq: int = 10, method: str = "INVITE", to_tag: str | None = None,
           extra: list[tuple[str, str]] | None = None) -> Request:
    headers = Headers()
    headers.add("Via", "SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1")
    for route in record_route or []:
        headers.add("Record-Route", route)
    headers.add("From", '"Alice" <sip:alice@example.com>;tag=atag')
    headers.add("To", "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else ""))
    headers.add("Call-ID", "dlg-1@example.com")
    headers.add("CSeq", f"{cseq} {method}")
    headers.add("Contact", contact)
    for name, value in extra or []:
        headers.add(name, value)
    return Request(headers=headers, method=method, uri=SipUri.parse("sip:bob@192.0.2.1"))


def uas_dialog(req: Request) -> tuple[Dialog, ServerTransaction, Response]:
    clock = FakeClock()
    txn = ServerTransaction(req, UDP, Wire(clock), timers=Timers(), scheduler=clock)
    ok = make_response(req, 200, extra=[("Contact", "<sip:bridge@192.0.2.1:5060>")])
    dialog = Dialog.create_uas(txn, ok)
    txn.send_response(ok)
    return dialog, txn, ok


def roundtrip(request: Request) -> Request:
    """The request as a peer parses it (the endpoint adds the Via when sending)."""
    request.headers.add("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx")
    parsed = parse_datagram(request.encode())
    assert isinstance(parsed, Request)
    return parsed


async def test_uas_dialog_state_from_invite_and_2xx() -> None:
    req = invite(record_route=["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"])
    dialog, txn, ok = uas_dialog(req)
    assert dialog.call_id == "dlg-1@example.com"
    assert dialog.remote_tag == "atag"
    assert dialog.local_tag == txn.local_tag == ok.to.tag  # the tag was added to the 2xx
    assert str(dialog.remote_target) == "sip:alice@192.0.2.7:5070"
    assert dialog.route_set == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert dialog.remote_seq == 10 and dialog.local_seq is None
    assert str(dialog.local_target) == "sip:bridge@192.0.2.1:5060"
    assert not dialog.is_uac and dialog.key == ("dlg-1@example.com", txn.local_tag, "atag")


async def test_uas_request_uses_route_set_in_order_and_swaps_from_to() -> None:
    req = invite(record_route=["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"])
    dialog, txn, _ = uas_dialog(req)
    bye = roundtrip(dialog.build_request("BYE"))
    assert str(bye.uri) == "sip:alice@192.0.2.7:5070"
    assert bye.headers.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert bye.from_.tag == txn.local_tag and str(bye.from_.uri) == "sip:bob@example.com"
    assert bye.to.tag == "atag" and bye.to.display == "Alice"
    assert bye.call_id == "dlg-1@example.com"
    assert bye.headers.get("Contact") is None  # BYE is not a target refresh


async def test_cseq_increments_and_ack_reuses_invite_number() -> None:
    req = invite()
    dialog, _, _ = uas_dialog(req)
    first = dialog.build_request("INFO").cseq.number
    assert 1 <= first <= 2**16  # 12.2.1.1: chosen when the local sequence was empty
    assert dialog.build_request("INVITE").cseq.number == first + 1
    assert dialog.build_request("BYE").cseq.number == first + 2
    ok = make_response(dialog.build_request("INVITE"), 200, to_tag="x")
    ack = dialog.build_ack(ok)
    assert ack.cseq.number == first + 3 and ack.cseq.method == "ACK"
    assert dialog.build_request("UPDATE").cseq.number == first + 4


async def test_uac_dialog_reverses_record_route_and_continues_cseq() -> None:
    req = invite(cseq=41, record_route=[])
    ok = make_response(req, 200, to_tag="btag", extra=[
        ("Record-Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>"),
        ("Contact", "<sip:bob@192.0.2.9:5090;transport=tcp>")])
    dialog = Dialog.create_uac(req, ok, send_ack=False)
    assert dialog.is_uac and dialog.local_tag == "atag" and dialog.remote_tag == "btag"
    assert dialog.route_set == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.9:5090;transport=tcp"
    ack = roundtrip(dialog.build_ack(ok))
    assert ack.cseq.number == 41 and ack.method == "ACK"
    assert ack.headers.get_all("Route") == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    bye = roundtrip(dialog.build_request("BYE"))
    assert bye.cseq.number == 42
    assert bye.from_.tag == "atag" and bye.to.tag == "btag"
    assert str(bye.uri) == "sip:bob@192.0.2.9:5090;transport=tcp"


async def test_strict_route_becomes_request_uri() -> None:
    req = invite(record_route=["<sip:strict.example.com>", "<sip:p2.example.com;lr>"])
    dialog, _, _ = uas_dialog(req)
    info = roundtrip(dialog.build_request("INFO"))
    assert str(info.uri) == "sip:strict.example.com"
    assert info.headers.get_all("Route") == [
        "<sip:p2.example.com;lr>", "<sip:alice@192.0.2.7:5070>"]


async def test_reinvite_contact_updates_remote_target() -> None:
    dialog, txn, _ = uas_dialog(invite())
    clock = FakeClock()
    wire = Wire(clock)
    reinvite = invite(cseq=11, contact="<sip:alice@198.51.100.5:6000>", to_tag=txn.local_tag)
    re_txn = ServerTransaction(reinvite, UDP, wire, timers=Timers(), scheduler=clock)
    dialog.receive_request(re_txn)
    assert wire.statuses() == [488]  # no TU handler for re-INVITEs
    assert str(dialog.remote_target) == "sip:alice@198.51.100.5:6000"
    assert dialog.remote_seq == 11
    assert str(dialog.build_request("BYE").uri) == "sip:alice@198.51.100.5:6000"
    # An INFO is no target refresh: its Contact (if any) does not move the target.
    info = invite(cseq=12, method="INFO", contact="<sip:elsewhere@203.0.113.1>",
                  to_tag=txn.local_tag)
    dialog.receive_request(ServerTransaction(info, UDP, wire, timers=Timers(), scheduler=clock))
    assert str(dialog.remote_target) == "sip:alice@198.51.100.5:6000"


async def test_uac_target_refreshed_by_2xx_contact() -> None:
    req = invite(cseq=1)
    ok = make_response(req, 200, to_tag="btag", extra=[("Contact", "<sip:bob@192.0.2.9>")])
    dialog = Dialog.create_uac(req, ok, send_ack=False)
    reinvite = dialog.build_request("INVITE")
    ok2 = make_response(reinvite, 200, extra=[("Contact", "<sip:bob@203.0.113.9:5080>")])
    dialog.refresh_target(ok2)
    assert str(dialog.build_request("BYE").uri) == "sip:bob@203.0.113.9:5080"


async def test_out_of_order_cseq_gets_500_and_glare_gets_500_retry_after() -> None:
    dialog, txn, _ = uas_dialog(invite(cseq=10))

    async def later(txn: ServerTransaction) -> None:  # the TU answers some other time
        return None

    dialog.on_request = later
    clock = FakeClock()
    wire = Wire(clock)
    old = invite(cseq=9, method="INFO", to_tag=txn.local_tag)
    dialog.receive_request(ServerTransaction(old, UDP, wire, timers=Timers(), scheduler=clock))
    assert wire.statuses() == [500]
    first = ServerTransaction(invite(cseq=11, to_tag=txn.local_tag), UDP, wire, timers=Timers(),
                              scheduler=clock)
    dialog.receive_request(first)
    second = ServerTransaction(invite(cseq=12, to_tag=txn.local_tag), UDP, wire,
                               timers=Timers(), scheduler=clock)
    dialog.receive_request(second)
    assert wire.statuses() == [500, 500]  # 14.2: a re-INVITE while one is pending
    assert wire.messages()[-1].headers.get("Retry-After") is not None


async def test_bye_terminates_and_later_requests_get_481() -> None:
    dialog, txn, _ = uas_dialog(invite(cseq=10))
    clock = FakeClock()
    wire = Wire(clock)
    bye = invite(cseq=11, method="BYE", to_tag=txn.local_tag)
    dialog.receive_request(ServerTransaction(bye, UDP, wire, timers=Timers(), scheduler=clock))
    assert dialog.state == "terminated" and dialog.terminated.is_set()
    info = invite(cseq=12, method="INFO", to_tag=txn.local_tag)
    dialog.receive_request(ServerTransaction(info, UDP, wire, timers=Timers(), scheduler=clock))
    assert wire.statuses() == [200, 481]  # no TU handler: the stack answers the BYE itself


async def test_ack_sets_acked() -> None:
    dialog, txn, _ok = uas_dialog(invite())
    assert not dialog.acked.is_set()
    ack = invite(method="ACK", to_tag=txn.local_tag, cseq=10)
    txn.receive_2xx_ack(ack)
    assert dialog.acked.is_set() and dialog.ack is ack


# RFC 4028 -----------------------------------------------------------------------------------
def test_parse_session_expires() -> None:
    assert parse_session_expires("1800;refresher=UAC") == (1800, "uac")
    assert parse_session_expires("90") == (90, None)
    with pytest.raises(SessionTimerError):
        parse_session_expires("soon")
    with pytest.raises(SessionTimerError):
        parse_session_expires("1800;refresher=proxy")


def test_uas_rejects_too_small_interval_with_422_min_se() -> None:
    req = invite(extra=[("Supported", "timer"), ("Session-Expires", "60")])
    decision = negotiate_uas(req, min_se=120)
    assert decision.reject and decision.headers == [("Min-SE", "120")]
    assert retry_interval(make_response(req, 422, extra=decision.headers)) == 120


def test_uas_raises_interval_for_uac_without_timer_support() -> None:
    req = invite(extra=[("Session-Expires", "60")])  # a proxy added it; the UAC cannot retry
    decision = negotiate_uas(req, min_se=120)
    assert not decision.reject and decision.timer is not None
    assert decision.timer.interval == 120 and decision.timer.refresher == "uas"
    assert decision.timer.we_refresh
    assert ("Require", "timer") not in decision.headers


def test_uas_keeps_requested_refresher_and_lowers_long_interval() -> None:
    req = invite(extra=[("Supported", "timer"), ("Session-Expires", "7200;refresher=uac"),
                        ("Min-SE", "100")])
    decision = negotiate_uas(req, expires=1800)
    assert decision.timer is not None
    assert decision.timer.interval == 1800 and decision.timer.refresher == "uac"
    assert not decision.timer.we_refresh
    assert decision.headers == [("Session-Expires", "1800;refresher=uac"), ("Require", "timer")]


def test_uas_without_session_expires_in_request() -> None:
    decision = negotiate_uas(invite(extra=[("Supported", "timer")]), expires=600, refresher="uac")
    assert decision.timer is not None and decision.timer.refresher == "uac"
    assert decision.headers[0] == ("Session-Expires", "600;refresher=uac")
    assert negotiate_uas(invite(), use_timer=False).timer is None


def test_uac_side() -> None:
    headers = uac_headers(900, 90, "uac")
    assert headers == [("Session-Expires", "900;refresher=uac"), ("Min-SE", "90")]
    req = invite(extra=headers)
    ok = make_response(req, 200, to_tag="b", extra=[("Session-Expires", "900;refresher=uac")])
    timer = negotiate_uac(ok)
    assert timer is not None and timer.interval == 900 and timer.we_refresh
    ok_uas = make_response(req, 200, to_tag="b", extra=[("Session-Expires", "900;refresher=uas")])
    timer = negotiate_uac(ok_uas)
    assert timer is not None and not timer.we_refresh
    assert negotiate_uac(make_response(req, 200, to_tag="b")) is None


async def test_uac_dialog_from_2xx_without_contact_uses_request_uri() -> None:
    req = invite(cseq=5)
    ok = make_response(req, 200, to_tag="b5")
    dialog = Dialog.create_uac(req, ok, send_ack=False)
    assert str(dialog.remote_target) == "sip:bob@192.0.2.1"
    assert dialog.remote_tag == "b5" and dialog.local_seq == 5
