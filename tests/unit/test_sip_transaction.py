"""SIP transaction state machines (RFC 3261 17, RFC 6026) driven by a manual clock."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import pytest

from moot.sip.message import Headers, Request, Response, make_response, parse_datagram
from moot.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    State,
    Timers,
    build_ack,
    build_cancel,
)
from moot.sip.transport import Source, Target, TransportError
from moot.sip.uri import SipUri

TIMERS = Timers()  # the RFC defaults: T1 0.5 s, T2 4 s, T4 5 s; the clock is virtual
UDP = Source("UDP", ("192.0.2.7", 5060), ("192.0.2.1", 5060))
TCP = Source("TCP", ("192.0.2.7", 40001), ("192.0.2.1", 5060))


class Handle:
    def __init__(self, when: float, seq: int, callback: Callable[..., object], args: Any) -> None:
        self.when, self.seq, self.callback, self.args = when, seq, callback, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Handle) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)


class FakeClock:
    """``call_later`` on virtual time; ``advance`` runs what falls due, in order."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[Handle] = []
        self._seq = 0

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Handle:
        self._seq += 1
        handle = Handle(self.now + delay, self._seq, callback, args)
        heapq.heappush(self._heap, handle)
        return handle

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._heap and self._heap[0].when <= target + 1e-9:
            handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            self.now = handle.when
            handle.callback(*handle.args)
        self.now = target

    def pending(self) -> int:
        return sum(1 for h in self._heap if not h.cancelled)


class Wire:
    """What a transaction sent, with virtual timestamps."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, bytes]] = []
        self.fail = False

    def __call__(self, data: bytes) -> None:
        if self.fail:
            raise TransportError("connection reset")
        self.sent.append((self.clock.now, data))

    def times(self) -> list[float]:
        return [round(t, 3) for t, _ in self.sent]

    def messages(self) -> list[Request | Response]:
        return [parse_datagram(d) for _, d in self.sent]

    def statuses(self) -> list[int]:
        return [m.status for m in self.messages() if isinstance(m, Response)]


class FakeOwner:
    user_agent = "Moot-test"

    def __init__(self) -> None:
        self.terminated: list[object] = []
        self.cancelled: list[ClientTransaction] = []

    def contact_for(self, where: Source | str, user: str | None = None, *,
                    secure: bool = False) -> SipUri:
        return SipUri.parse("sip:moot@192.0.2.1:5060")

    def contact_header(self, source: Source, secure: bool = False) -> str:
        return f"<{self.contact_for(source, secure=secure)}>"

    def transaction_terminated(self, txn: object) -> None:
        self.terminated.append(txn)

    def send_cancel(self, txn: ClientTransaction) -> None:
        self.cancelled.append(txn)

    def capabilities(self) -> list[tuple[str, str]]:
        return [("Allow", "INVITE, ACK, CANCEL, BYE")]


def request(method: str = "INVITE", branch: str = "z9hG4bKabc123", cseq: int = 1) -> Request:
    headers = Headers()
    headers.add("Via", f"SIP/2.0/UDP 192.0.2.7:5060;branch={branch}")
    headers.add("Max-Forwards", "70")
    headers.add("From", "<sip:alice@example.com>;tag=fromtag")
    headers.add("To", "<sip:bob@example.com>")
    headers.add("Call-ID", "call-1@example.com")
    headers.add("CSeq", f"{cseq} {method}")
    headers.add("Contact", "<sip:alice@192.0.2.7:5060>")
    headers.add("Route", "<sip:proxy.example.com;lr>")
    return Request(headers=headers, method=method, uri=SipUri.parse("sip:bob@example.com"))


def response_to(req: Request, status: int, tag: str | None = "totag") -> Response:
    return make_response(req, status, to_tag=tag if status > 100 else None)


def client(method: str = "INVITE", *, reliable: bool = False, timers: Timers = TIMERS
           ) -> tuple[ClientTransaction, FakeClock, Wire, FakeOwner, list[Response]]:
    clock = FakeClock()
    wire = Wire(clock)
    owner = FakeOwner()
    provisional: list[Response] = []
    txn = ClientTransaction(request(method), Target("TCP" if reliable else "UDP", "192.0.2.9", 5060),
                            wire, timers=timers, reliable=reliable, scheduler=clock, owner=owner,
                            on_provisional=provisional.append)
    txn.start()
    return txn, clock, wire, owner, provisional


def server(method: str = "INVITE", *, source: Source = UDP, timers: Timers = TIMERS
           ) -> tuple[ServerTransaction, FakeClock, Wire, FakeOwner]:
    clock = FakeClock()
    wire = Wire(clock)
    owner = FakeOwner()
    txn = ServerTransaction(request(method), source, wire, timers=timers, scheduler=clock,
                            owner=owner)
    return txn, clock, wire, owner


# client transactions ---------------------------------------------------------------------
async def test_invite_client_timer_a_doubles_until_timer_b_synthesises_408() -> None:
    txn, clock, wire, owner, _ = client("INVITE")
    clock.advance(40)
    # Sent at 0 and retransmitted at T1, 3*T1, 7*T1, ... until Timer B (64*T1 = 32 s).
    assert wire.times() == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    final = await txn.final()
    assert final.status == 408
    assert txn.state is State.TERMINATED
    assert owner.terminated == [txn]


async def test_invite_client_stops_retransmitting_on_provisional_and_never_times_out() -> None:
    txn, clock, wire, _, provisional = client("INVITE")
    clock.advance(0.7)
    txn.receive_response(response_to(txn.request, 180))
    clock.advance(60)
    assert wire.times() == [0, 0.5]
    assert [r.status for r in provisional] == [180]
    assert txn.state is State.PROCEEDING and not txn.done


async def test_invite_client_over_reliable_transport_does_not_retransmit() -> None:
    txn, clock, wire, _, _ = client("INVITE", reliable=True)
    clock.advance(31.9)
    assert len(wire.sent) == 1 and not txn.done
    clock.advance(0.2)
    assert (await txn.final()).status == 408


async def test_non_invite_client_timer_e_caps_at_t2_then_timer_f() -> None:
    txn, clock, wire, owner, _ = client("OPTIONS")
    clock.advance(33)
    assert wire.times() == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert (await txn.final()).status == 408
    assert owner.terminated == [txn]


async def test_non_invite_client_retransmits_every_t2_after_provisional() -> None:
    txn, clock, wire, _, provisional = client("BYE")
    clock.advance(0.6)  # sent at 0, 0.5
    txn.receive_response(response_to(txn.request, 100))
    clock.advance(10)
    assert wire.times() == [0, 0.5, 1.5, 5.5, 9.5]
    assert [r.status for r in provisional] == [100]


async def test_non_invite_client_timer_k_absorbs_retransmitted_finals() -> None:
    txn, clock, wire, owner, _ = client("OPTIONS")
    ok = response_to(txn.request, 200)
    txn.receive_response(ok)
    assert (await txn.final()).status == 200
    assert txn.state is State.COMPLETED
    txn.receive_response(response_to(txn.request, 200))  # a retransmission: absorbed
    clock.advance(4.9)
    assert txn.state is State.COMPLETED and len(wire.sent) == 1
    clock.advance(0.2)  # Timer K = T4
    assert txn.state is State.TERMINATED and owner.terminated == [txn]


async def test_non_invite_client_reliable_terminates_at_once() -> None:
    txn, _, _, owner, _ = client("OPTIONS", reliable=True)
    txn.receive_response(response_to(txn.request, 200))
    assert txn.state is State.TERMINATED and owner.terminated == [txn]


async def test_invite_client_acks_non_2xx_and_timer_d_absorbs_retransmissions() -> None:
    txn, clock, wire, owner, _ = client("INVITE")
    busy = response_to(txn.request, 486, tag="busytag")
    txn.receive_response(busy)
    assert (await txn.final()).status == 486
    ack = wire.messages()[-1]
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.top_via.branch == "z9hG4bKabc123"  # same branch as the INVITE (17.1.1.3)
    assert ack.to.tag == "busytag" and ack.cseq.number == 1 and ack.cseq.method == "ACK"
    assert ack.headers.get_all("Route") == ["<sip:proxy.example.com;lr>"]
    txn.receive_response(response_to(txn.request, 486, tag="busytag"))
    assert [m.method for m in wire.messages() if isinstance(m, Request)] == ["INVITE", "ACK", "ACK"]
    clock.advance(31.9)
    assert txn.state is State.COMPLETED
    clock.advance(0.2)  # Timer D = 32 s on UDP
    assert txn.state is State.TERMINATED and owner.terminated == [txn]


async def test_invite_client_2xx_accepted_state_passes_retransmissions_to_tu() -> None:
    txn, clock, wire, owner, _ = client("INVITE")
    seen: list[int] = []
    txn.on_2xx = lambda r: seen.append(r.status)
    txn.receive_response(response_to(txn.request, 200))
    assert (await txn.final()).status == 200
    assert txn.state is State.ACCEPTED
    assert len(wire.sent) == 1  # no ACK from the transaction for a 2xx
    txn.receive_response(response_to(txn.request, 200))
    txn.receive_response(response_to(txn.request, 200, tag="fork2"))
    assert seen == [200, 200]
    clock.advance(32.1)  # Timer M
    assert txn.state is State.TERMINATED and owner.terminated == [txn]


async def test_client_transport_error_gives_503() -> None:
    clock = FakeClock()
    wire = Wire(clock)
    wire.fail = True
    txn = ClientTransaction(request("OPTIONS"), Target("TCP", "192.0.2.9", 5060), wire,
                            timers=TIMERS, reliable=True, scheduler=clock)
    txn.start()
    assert (await txn.final()).status == 503
    assert txn.state is State.TERMINATED


async def test_cancel_before_provisional_waits_for_it() -> None:
    txn, _clock, _, owner, _ = client("INVITE")
    txn.cancel()
    assert owner.cancelled == []  # 9.1: not before a provisional response
    txn.receive_response(response_to(txn.request, 180))
    assert owner.cancelled == [txn]
    txn.cancel()
    txn.receive_response(response_to(txn.request, 183))
    assert owner.cancelled == [txn]  # once
    txn.receive_response(response_to(txn.request, 487))
    assert (await txn.final()).status == 487


async def test_timer_c_cancels_an_invite_left_proceeding() -> None:
    txn, clock, _, owner, _ = client("INVITE", timers=Timers(c=60))
    txn.receive_response(response_to(txn.request, 180))
    clock.advance(59)
    assert owner.cancelled == []
    clock.advance(2)
    assert owner.cancelled == [txn]
    clock.advance(33)  # no answer to the CANCEL either: 408
    assert (await txn.final()).status == 408


def test_build_cancel_copies_what_9_1_requires() -> None:
    invite = request("INVITE", cseq=7)
    cancel = build_cancel(invite)
    assert cancel.method == "CANCEL" and str(cancel.uri) == str(invite.uri)
    assert cancel.headers.get_all("Via") == invite.headers.get_all("Via")[:1]
    assert cancel.cseq.number == 7 and cancel.cseq.method == "CANCEL"
    for name in ("From", "To", "Call-ID"):
        assert cancel.headers.get(name) == invite.headers.get(name)
    assert cancel.headers.get_all("Route") == invite.headers.get_all("Route")


def test_build_ack_takes_to_from_the_response() -> None:
    invite = request("INVITE", cseq=3)
    ack = build_ack(invite, response_to(invite, 404, tag="t404"))
    assert ack.to.tag == "t404" and ack.cseq.number == 3 and ack.call_id == invite.call_id
    assert ack.headers.get("Contact") is None


# server transactions ---------------------------------------------------------------------
async def test_invite_server_sends_100_after_200ms_when_tu_is_silent() -> None:
    txn, clock, wire, _ = server("INVITE")
    clock.advance(0.19)
    assert wire.sent == []
    clock.advance(0.02)
    assert wire.statuses() == [100]
    # A retransmitted INVITE gets the last provisional again.
    txn.receive_request(request("INVITE"))
    assert wire.statuses() == [100, 100]


async def test_invite_server_no_100_when_tu_answers_quickly() -> None:
    txn, clock, wire, _ = server("INVITE")
    txn.reply(180)
    clock.advance(1)
    assert wire.statuses() == [180]
    ringing = wire.messages()[0]
    assert ringing.to.tag == txn.local_tag
    assert ringing.headers.get("Contact") == "<sip:moot@192.0.2.1:5060>"


async def test_invite_server_timer_g_retransmits_until_timer_h() -> None:
    txn, clock, wire, owner = server("INVITE")
    timeouts: list[bool] = []
    txn.on_ack_timeout = lambda: timeouts.append(True)
    txn.reply(486)
    clock.advance(40)
    assert wire.times() == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert set(wire.statuses()) == {486}
    assert timeouts == [True]
    assert txn.state is State.TERMINATED and owner.terminated == [txn]


async def test_invite_server_ack_confirms_and_timer_i_absorbs() -> None:
    txn, clock, wire, owner = server("INVITE")
    txn.reply(603)
    clock.advance(0.6)  # one retransmission
    txn.receive_request(request("ACK"))
    assert txn.state is State.CONFIRMED and txn.acked.is_set()
    txn.receive_request(request("INVITE"))  # absorbed: nothing sent
    txn.receive_request(request("ACK"))
    clock.advance(4.9)
    assert len(wire.sent) == 2 and txn.state is State.CONFIRMED
    clock.advance(0.2)  # Timer I = T4
    assert txn.state is State.TERMINATED and owner.terminated == [txn]


async def test_invite_server_non_2xx_over_tcp_does_not_retransmit() -> None:
    txn, clock, wire, _ = server("INVITE", source=TCP)
    txn.reply(486)
    clock.advance(10)
    assert len(wire.sent) == 1
    txn.receive_request(request("ACK"))
    assert txn.state is State.TERMINATED  # Timer I = 0 on reliable transports


async def test_invite_server_2xx_retransmitted_until_ack() -> None:
    txn, clock, wire, owner = server("INVITE")
    txn.reply(200)
    clock.advance(8)
    assert wire.times() == [0, 0.5, 1.5, 3.5, 7.5]
    txn.receive_2xx_ack(request("ACK", branch="z9hG4bKack"))
    assert txn.acked.is_set()
    txn.receive_request(request("INVITE"))  # RFC 6026 Accepted: absorbed
    clock.advance(20)
    assert len(wire.sent) == 5
    assert txn.state is State.ACCEPTED
    clock.advance(5)  # Timer L = 64*T1 from the 2xx
    assert txn.state is State.TERMINATED and owner.terminated == [txn]


async def test_invite_server_2xx_without_ack_reports_timeout() -> None:
    txn, clock, wire, _ = server("INVITE", source=TCP)
    timeouts: list[bool] = []
    txn.on_ack_timeout = lambda: timeouts.append(True)
    txn.reply(200)
    clock.advance(31.9)
    assert timeouts == []
    # 13.3.1.4: the 2xx is retransmitted end to end, on TCP too: T1 doubling to T2.
    assert wire.times() == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    clock.advance(0.2)
    assert timeouts == [True]
    assert txn.state is State.TERMINATED


async def test_cancel_gives_487_and_late_tu_answer_is_dropped() -> None:
    txn, _clock, wire, _ = server("INVITE")
    txn.reply(180)
    assert txn.receive_cancel() is True
    assert txn.cancelled.is_set()
    assert wire.statuses() == [180, 487]
    final = wire.messages()[-1]
    assert final.to.tag == txn.local_tag  # same dialog tag as the 180
    txn.reply(200)  # too late: dropped
    assert wire.statuses() == [180, 487]
    assert txn.receive_cancel() is False
    txn.receive_request(request("ACK"))
    assert txn.state is State.CONFIRMED


async def test_cancel_after_final_does_nothing() -> None:
    txn, _, wire, _ = server("INVITE")
    txn.reply(200)
    assert txn.receive_cancel() is False
    assert not txn.cancelled.is_set()
    assert wire.statuses() == [200]


async def test_non_invite_server_trying_absorbs_and_timer_j_keeps_final() -> None:
    txn, clock, wire, owner = server("OPTIONS")
    txn.receive_request(request("OPTIONS"))  # Trying: absorbed without a response
    assert wire.sent == []
    txn.reply(200)
    txn.receive_request(request("OPTIONS"))
    txn.receive_request(request("OPTIONS"))
    assert wire.statuses() == [200, 200, 200]
    assert txn.state is State.COMPLETED
    clock.advance(31.9)
    assert txn.state is State.COMPLETED
    clock.advance(0.2)  # Timer J = 64*T1 on UDP
    assert txn.state is State.TERMINATED and owner.terminated == [txn]
    txn.receive_request(request("OPTIONS"))
    assert len(wire.sent) == 3


async def test_non_invite_server_proceeding_resends_provisional() -> None:
    txn, _, wire, _ = server("BYE")
    txn.reply(100)
    txn.receive_request(request("BYE"))
    assert wire.statuses() == [100, 100]
    assert txn.state is State.PROCEEDING


async def test_non_invite_server_reliable_terminates_on_final() -> None:
    txn, _, _, owner = server("INFO", source=TCP)
    txn.reply(200)
    assert txn.state is State.TERMINATED and owner.terminated == [txn]


async def test_non_invite_server_forgotten_by_tu_is_dropped_after_timer_f() -> None:
    txn, clock, wire, _owner = server("INFO")
    clock.advance(32.1)
    assert txn.state is State.TERMINATED and wire.sent == []


async def test_invite_server_unanswered_gets_408_after_timer_c() -> None:
    txn, clock, wire, _ = server("INVITE", timers=Timers(c=30))
    clock.advance(30.1)
    assert wire.statuses() == [100, 408]
    assert txn.state is State.COMPLETED  # and Timer G retransmits it until the ACK


async def test_server_transport_error_terminates() -> None:
    txn, _, wire, owner = server("INVITE", source=TCP)
    wire.fail = True
    txn.reply(200)
    assert txn.state is State.TERMINATED and owner.terminated == [txn]


@pytest.mark.parametrize("status", [180, 200, 486])
async def test_responses_carry_server_header_and_tag(status: int) -> None:
    txn, _, wire, _ = server("INVITE")
    txn.reply(status)
    sent = wire.messages()[0]
    assert sent.headers.get("Server") == "Moot-test"
    assert sent.to.tag == txn.local_tag


@pytest.mark.parametrize("text", [
    "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKabc;rport",
    "SIP/2.0/tcp Host.Example.COM;branch=z9hG4bK1;received=10.0.0.1;rport=5070",
    "SIP/2.0/TLS [2001:DB8::1]:5061 ;branch=z9hG4bKx ; alias",
    'SIP/2.0/UDP 192.0.2.7;branch=z9hG4bKq;comment="a;b"',
    "SIP/2.0/UDP 192.0.2.7:5060",
])
def test_fast_via_agrees_with_via_parse(text: str) -> None:
    from moot.sip.headers import Via
    from moot.sip.transaction import fast_via

    assert fast_via(text) == Via.parse(text)


def test_response_for_matches_make_response() -> None:
    from moot.sip.transaction import response_for

    req = request("INVITE")
    req.headers.add("Via", "SIP/2.0/UDP 192.0.2.8;branch=z9hG4bKb2, SIP/2.0/UDP 192.0.2.9")
    ours = response_for(req, 486, to_tag="t1", extra=[("Retry-After", "5")])
    theirs = make_response(req, 486, to_tag="t1", extra=[("Retry-After", "5")])
    assert parse_datagram(ours.encode()).headers.get_all("Via") == theirs.headers.get_all("Via")
    assert [(n, v) for n, v in ours.headers if n != "Via"] == \
        [(n, v) for n, v in theirs.headers if n != "Via"]
    assert ours.reason == theirs.reason == "Busy Here"


async def test_reply_sends_at_once_and_may_be_awaited() -> None:
    txn, _, wire, _ = server("OPTIONS")
    sent = txn.reply(200)
    assert wire.statuses() == [200]  # sent without awaiting
    assert isinstance(sent, Response) and sent.status == 200
    txn2, _, wire2, _ = server("INFO")
    awaited = await txn2.reply(486, extra=[("Retry-After", "3")])
    assert wire2.statuses() == [486] and awaited.headers.get("Retry-After") == "3"
