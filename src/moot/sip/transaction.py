"""SIP transactions (RFC 3261 section 17, as amended by RFC 6026).

A client transaction sends one request and collects its responses: it retransmits over
UDP (Timer A for INVITE, doubling; Timer E for the others, doubling up to T2), gives up
after 64*T1 (Timers B and F, a 408 is synthesised), ACKs non-2xx final responses to
INVITE itself, and lingers to absorb retransmitted responses (Timers D and K, and the
Accepted state with Timer M for 2xx to INVITE).

A server transaction receives one request and sends its responses: retransmitted
requests are absorbed (the last response is sent again), non-2xx finals to INVITE are
retransmitted until the ACK (Timer G, up to Timer H), and 2xx to INVITE are retransmitted
(T1 doubling to T2) until the ACK arrives or 64*T1 passes (RFC 6026 Accepted state,
Timer L; RFC 3261 13.3.1.4). Timers I, J keep completed transactions to absorb
retransmissions. On reliable transports the lingering timers are zero.

Timers run on a :class:`Scheduler` (the event loop by default) so that tests can drive
them with a manual clock. Messages are encoded once: retransmissions resend the bytes.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import re
import secrets
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from moot.sip.headers import CSeq, Via
from moot.sip.message import REASONS, Headers, Request, Response, make_response
from moot.sip.transport import Source, Target, TransportError

if TYPE_CHECKING:
    from moot.sip.dialog import Dialog
    from moot.sip.uri import SipUri

logger = logging.getLogger("moot.sip.transaction")

#: RFC 3261 8.1.1.7: branches of RFC 3261 implementations start with this.
MAGIC_COOKIE = "z9hG4bK"


@dataclass(frozen=True)
class Timers:
    """RFC 3261 timer values (seconds). T1, T2, T4 are configurable so tests run fast.

    ``d`` is Timer D on unreliable transports (at least 32 s in the RFC); ``trying`` is how
    long an INVITE server transaction waits for the TU before it sends 100 Trying itself
    (17.2.1: 200 ms); ``c`` bounds the Proceeding state of INVITE transactions (like a
    proxy's Timer C, 16.6): a client transaction then cancels its INVITE, a server
    transaction the TU never answered answers 408 itself, so neither lives forever.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d: float = 32.0
    trying: float = 0.2
    c: float = 180.0

    @property
    def b(self) -> float:
        """INVITE client transaction timeout."""
        return 64 * self.t1

    @property
    def f(self) -> float:
        """Non-INVITE client transaction timeout."""
        return 64 * self.t1

    @property
    def h(self) -> float:
        """Wait time for the ACK to a non-2xx final response."""
        return 64 * self.t1

    @property
    def j(self) -> float:
        """Wait time for non-INVITE request retransmissions (unreliable transports)."""
        return 64 * self.t1

    @property
    def l(self) -> float:  # noqa: E743 - the RFC's name
        """RFC 6026: wait time for INVITE retransmissions after a 2xx (and for its ACK)."""
        return 64 * self.t1

    @property
    def m(self) -> float:
        """RFC 6026: wait time for retransmissions of the 2xx at the client."""
        return 64 * self.t1


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Anything with ``call_later`` like an event loop (a manual clock in tests)."""

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> TimerHandle: ...


class State(enum.StrEnum):
    TRYING = "Trying"
    CALLING = "Calling"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class TransactionOwner(Protocol):
    """What a transaction needs from its endpoint."""

    user_agent: str

    def contact_for(self, where: Source | str, user: str | None = None) -> SipUri: ...

    def contact_header(self, source: Source, secure: bool = False) -> str: ...

    def transaction_terminated(self, txn: ServerTransaction | ClientTransaction) -> None: ...

    def send_cancel(self, txn: ClientTransaction) -> None: ...

    def capabilities(self) -> list[tuple[str, str]]: ...


def new_branch() -> str:
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


Send = Callable[[bytes], None]
ResponseCallback = Callable[[Response], object]


def call_back(callback: Callable[..., object] | None, *args: Any) -> None:
    """Call a sync callback, or schedule a coroutine one as a task; errors are logged."""
    if callback is None:
        return
    try:
        result = callback(*args)
    except Exception:
        logger.exception("error in callback %r", callback)
        return
    if inspect.isawaitable(result):
        task = asyncio.ensure_future(result)
        _BACKGROUND.add(task)
        task.add_done_callback(_task_done)


_BACKGROUND: set[asyncio.Future[Any]] = set()


def _task_done(task: asyncio.Future[Any]) -> None:
    _BACKGROUND.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("error in callback task", exc_info=task.exception())


def build_ack(invite: Request, response: Response) -> Request:
    """ACK for a non-2xx final response (17.1.1.3): same branch, To of the response."""
    headers = Headers()
    vias = invite.headers.get_all("Via")
    if vias:
        headers.add("Via", vias[0])
    for name in ("Route",):
        for value in invite.headers.get_all(name):
            headers.add(name, value)
    headers.add("Max-Forwards", "70")
    headers.add("From", invite.headers.get("From") or "")
    headers.add("To", response.headers.get("To") or invite.headers.get("To") or "")
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.number} ACK")
    return Request(headers=headers, method="ACK", uri=invite.uri)


def build_cancel(invite: Request) -> Request:
    """CANCEL for an INVITE (9.1): same Request-URI, Call-ID, From, To, CSeq number, top
    Via and Route headers."""
    headers = Headers()
    vias = invite.headers.get_all("Via")
    if vias:
        headers.add("Via", vias[0])
    for value in invite.headers.get_all("Route"):
        headers.add("Route", value)
    headers.add("Max-Forwards", "70")
    for name in ("From", "To", "Call-ID"):
        headers.add(name, invite.headers.get(name) or "")
    headers.add("CSeq", f"{invite.cseq.number} CANCEL")
    return Request(headers=headers, method="CANCEL", uri=invite.uri)


def synthesize(request: Request, status: int, reason: str | None = None) -> Response:
    """A response the transaction layer makes up itself (408 on timeout, 503 on error)."""
    return make_response(request, status, reason)


# server transactions --------------------------------------------------------------------
class ServerTransaction:
    """An INVITE (17.2.1 + RFC 6026) or non-INVITE (17.2.2) server transaction.

    The TU answers with :meth:`reply` (build and send) or :meth:`respond` (send a
    prepared response). Responses to INVITE above 100 get the transaction's ``local_tag``
    as To tag and our Contact when they lack them, so provisional and final responses of
    one transaction belong to the same dialog.
    """

    def __init__(
        self,
        request: Request,
        source: Source,
        send: Send,
        *,
        timers: Timers,
        reliable: bool | None = None,
        scheduler: Scheduler | None = None,
        owner: TransactionOwner | None = None,
        key: tuple[Any, ...] = (),
        cseq: CSeq | None = None,
    ) -> None:
        self.request = request
        self.source = source
        #: The request's CSeq, parsed once.
        self.cseq = cseq if cseq is not None else request.cseq
        self.timers = timers
        self.reliable = source.reliable if reliable is None else reliable
        self.owner = owner
        self.key = key
        self.method = request.method
        self.is_invite = request.method == "INVITE"
        self.state = State.PROCEEDING if self.is_invite else State.TRYING
        self.cancelled = asyncio.Event()
        #: Set when the ACK arrives (for the 2xx or for the non-2xx final response).
        self.acked = asyncio.Event()
        self.ack: Request | None = None
        self.final_response: Response | None = None
        self.last_response: Response | None = None
        self.dialog: Dialog | None = None
        #: Called when no ACK came for the final response within 64*T1 (Timers H / L).
        self.on_ack_timeout: Callable[[], object] | None = None
        #: Extra keys the owner indexes this transaction under (removed on termination).
        self.index_keys: list[tuple[Any, ...]] = []
        self._send = send
        self._sched: Scheduler = scheduler or asyncio.get_running_loop()
        self._tag: str | None = None
        self._last_bytes: bytes | None = None
        self._retransmit: TimerHandle | None = None
        self._timeout: TimerHandle | None = None
        self._limit: TimerHandle | None = None
        self._interval = timers.t1
        if self.is_invite:
            self._limit = self._sched.call_later(timers.c, self._timer_c)
            if timers.trying <= 0:
                self.reply(100)
            else:
                self._timeout = self._sched.call_later(timers.trying, self._trying_timer)
        else:
            # No TU answer within Timer F: the client has given up; forget the request.
            self._timeout = self._sched.call_later(timers.f, self._abandon)

    def __repr__(self) -> str:
        return f"<ServerTransaction {self.method} {self.state.value} from {self.source.remote}>"

    @property
    def local_tag(self) -> str:
        """The To tag this transaction's responses carry (made up on first use)."""
        if self._tag is None:
            self._tag = new_tag()
        return self._tag

    @local_tag.setter
    def local_tag(self, value: str) -> None:
        self._tag = value

    @property
    def answered(self) -> bool:
        """A final response was sent (by the TU or the stack)."""
        return self.final_response is not None

    # TU interface ------------------------------------------------------------------------
    def reply(
        self,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        body: bytes = b"",
        extra: list[tuple[str, str]] | None = None,
        content_type: str | None = None,
    ) -> Reply:
        """Build a response to the request (8.2.6) and send it at once; returns it (the
        result may be awaited too: ``await txn.reply(200)``)."""
        headers = list(extra or [])
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        tag = to_tag if to_tag is not None else (self.local_tag if status > 100 else None)
        response = response_for(self.request, status, reason, to_tag=tag, body=body,
                                extra=headers, cls=Reply)
        assert isinstance(response, Reply)
        self.send_response(response)
        return response

    async def respond(self, response: Response) -> None:
        """Send a response the TU built (``make_response``)."""
        self.send_response(response)

    def complete_response(self, response: Response) -> None:
        """Add the To tag and Contact a response to INVITE needs (idempotent)."""
        status = response.status
        if status == 100:
            return
        if self.is_invite or self.method in ("SUBSCRIBE", "REFER", "NOTIFY"):
            to = response.headers.get("To") or ""
            if ";tag=" not in to.replace(" ", "").lower():
                response.headers.set("To", f"{to};tag={self.local_tag}")
            else:
                tag = tag_of(to)
                if tag and self._tag is None:
                    self._tag = tag
        owner = self.owner
        if owner is None:
            return
        present = {name for name, _ in response.headers}
        if "Server" not in present and "User-Agent" not in present:
            response.headers.add("Server", owner.user_agent)
        if self.is_invite and status < 300 and "Contact" not in present:
            # 12.1.1: a sips Request-URI over TLS needs a sips Contact.
            secure = self.request.uri.scheme == "sips" and self.source.transport == "TLS"
            response.headers.add("Contact", owner.contact_header(self.source, secure))
        if status < 300 and (self.is_invite or self.method == "OPTIONS"):
            for name, value in owner.capabilities():
                if name not in present:
                    response.headers.add(name, value)

    def send_response(self, response: Response) -> None:
        """Pass a response to the transaction (17.2.1 / 17.2.2 state machine)."""
        state = self.state
        if state in (State.COMPLETED, State.CONFIRMED, State.ACCEPTED, State.TERMINATED):
            logger.debug("%r: response %d after the final one dropped", self, response.status)
            return
        self.complete_response(response)
        status = response.status
        data = response.encode()
        self._cancel_timers()
        self.last_response = response
        self._last_bytes = data
        if status < 200:
            if not self.is_invite:
                self.state = State.PROCEEDING
                self._timeout = self._sched.call_later(self.timers.f, self._abandon)
            self._transmit(data)
            return
        self.final_response = response
        if self._limit is not None:
            self._limit.cancel()
            self._limit = None
        if self.is_invite and status < 300:
            # RFC 6026 Accepted: the 2xx is resent (T1 doubling to T2) until the ACK.
            self.state = State.ACCEPTED
            self._transmit(data)
            if self.state is State.ACCEPTED:
                self._interval = self.timers.t1
                self._retransmit = self._sched.call_later(self._interval, self._retransmit_2xx)
                self._timeout = self._sched.call_later(self.timers.l, self._timer_l)
            return
        self.state = State.COMPLETED
        self._transmit(data)
        if self.state is not State.COMPLETED:
            return
        if self.is_invite:
            if not self.reliable:
                self._interval = self.timers.t1
                self._retransmit = self._sched.call_later(self._interval, self._timer_g)
            self._timeout = self._sched.call_later(self.timers.h, self._timer_h)
        elif self.reliable:
            self.terminate()
        else:
            self._timeout = self._sched.call_later(self.timers.j, self.terminate)

    # from the endpoint ------------------------------------------------------------------
    def receive_request(self, request: Request) -> None:
        """A retransmission of the request, or the ACK (matched to this transaction)."""
        if request.method == "ACK":
            if self.state is State.COMPLETED and self.is_invite:
                self.state = State.CONFIRMED
                self._cancel_timers()
                self.ack = request
                self.acked.set()
                if self.reliable:
                    self.terminate()
                else:
                    self._timeout = self._sched.call_later(self.timers.t4, self.terminate)
            elif self.state is State.ACCEPTED:
                self.receive_2xx_ack(request)
            return
        if self.state in (State.PROCEEDING, State.COMPLETED):
            if self._last_bytes is not None:
                self._transmit(self._last_bytes)
            elif self.is_invite:
                self.reply(100)

    def receive_2xx_ack(self, ack: Request) -> None:
        """The ACK for our 2xx (a new transaction of its own, matched by the endpoint)."""
        if self.acked.is_set():
            return
        self.ack = ack
        self.acked.set()
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None
        if self.dialog is not None:
            self.dialog.receive_ack(ack)

    def receive_cancel(self) -> bool:
        """CANCEL matched this INVITE: 487 unless already answered (9.2). True if it applied."""
        if self.answered or self.state is State.TERMINATED:
            return False
        self.cancelled.set()
        self.reply(487)
        return True

    def transport_error(self) -> None:
        logger.debug("%r: transport error", self)
        self.terminate()

    def terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        self._cancel_timers()
        if self._limit is not None:
            self._limit.cancel()
            self._limit = None
        if self.owner is not None:
            self.owner.transaction_terminated(self)

    # internals ----------------------------------------------------------------------------
    def _transmit(self, data: bytes) -> None:
        try:
            self._send(data)
        except TransportError as exc:
            logger.debug("%r: %s", self, exc)
            self.transport_error()

    def _timer_c(self) -> None:
        self._limit = None
        if self.final_response is None and self.state is State.PROCEEDING:
            logger.warning("%r: the TU did not answer within %.0f s", self, self.timers.c)
            self.reply(408)

    def _cancel_timers(self) -> None:
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None

    def _trying_timer(self) -> None:
        self._timeout = None
        if self.state is State.PROCEEDING and self.last_response is None:
            self.reply(100)

    def _abandon(self) -> None:
        self._timeout = None
        if self.final_response is None:
            logger.debug("%r: no answer from the TU", self)
            self.terminate()

    def _timer_g(self) -> None:
        if self.state is not State.COMPLETED or self._last_bytes is None:
            return
        self._transmit(self._last_bytes)
        self._interval = min(2 * self._interval, self.timers.t2)
        if self.state is State.COMPLETED:
            self._retransmit = self._sched.call_later(self._interval, self._timer_g)

    def _timer_h(self) -> None:
        self._timeout = None
        if self.state is State.COMPLETED:
            self._ack_timed_out()

    def _retransmit_2xx(self) -> None:
        if self.state is not State.ACCEPTED or self.acked.is_set() or self._last_bytes is None:
            return
        self._transmit(self._last_bytes)
        self._interval = min(2 * self._interval, self.timers.t2)
        if self.state is State.ACCEPTED:
            self._retransmit = self._sched.call_later(self._interval, self._retransmit_2xx)

    def _timer_l(self) -> None:
        self._timeout = None
        if not self.acked.is_set():
            self._ack_timed_out()
        else:
            self.terminate()

    def _ack_timed_out(self) -> None:
        logger.debug("%r: no ACK", self)
        self.terminate()
        call_back(self.on_ack_timeout)
        if self.dialog is not None:
            self.dialog.ack_timed_out()


# client transactions ---------------------------------------------------------------------
class ClientTransaction:
    """An INVITE (17.1.1 + RFC 6026) or non-INVITE (17.1.2) client transaction.

    ``await final()`` gives the final response: the first 2xx, a non-2xx final, or one
    synthesised by the stack (408 when Timer B/F fires, 503 on a transport error).
    ``on_provisional`` sees each 1xx; ``on_2xx`` sees 2xx responses to INVITE after the
    first (retransmissions and forks), so the TU can ACK them again.
    """

    def __init__(
        self,
        request: Request,
        destination: Target,
        send: Send,
        *,
        timers: Timers,
        reliable: bool,
        scheduler: Scheduler | None = None,
        owner: TransactionOwner | None = None,
        on_provisional: ResponseCallback | None = None,
        flow: Source | None = None,
    ) -> None:
        self.request = request
        self.destination = destination
        self.flow = flow
        self.timers = timers
        self.reliable = reliable
        self.owner = owner
        self.method = request.method
        self.is_invite = request.method == "INVITE"
        self.state = State.CALLING if self.is_invite else State.TRYING
        self.branch = fast_via(request.headers.get_all("Via")[0]).branch or ""
        self.key = (self.branch, self.method)
        self.provisional: Response | None = None
        self.final_response: Response | None = None
        self.on_provisional = on_provisional
        self.on_2xx: ResponseCallback | None = None
        self.cancel_requested = False
        self.cancel_sent = False
        self._send = send
        self._sched: Scheduler = scheduler or asyncio.get_running_loop()
        self._future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._data = b""
        self._ack_data: bytes | None = None
        self._retransmit: TimerHandle | None = None
        self._timeout: TimerHandle | None = None
        self._interval = timers.t1

    def __repr__(self) -> str:
        return f"<ClientTransaction {self.method} {self.state.value} to {self.destination}>"

    def start(self) -> None:
        """Send the request and start Timers A/B (INVITE) or E/F."""
        self._data = self.request.encode()
        timers = self.timers
        if self.is_invite:
            self._timeout = self._sched.call_later(timers.b, self._timer_b)
        else:
            self._timeout = self._sched.call_later(timers.f, self._timer_b)
        if not self.reliable:
            self._retransmit = self._sched.call_later(timers.t1, self._timer_a_e)
        self._transmit(self._data)

    async def final(self) -> Response:
        """The final response (408 on timeout, 503 on transport error)."""
        return await asyncio.shield(self._future)

    @property
    def done(self) -> bool:
        return self._future.done()

    def cancel(self) -> None:
        """Cancel the INVITE (9.1): the CANCEL goes once a provisional response came."""
        if not self.is_invite or self.cancel_requested or self._future.done():
            return
        self.cancel_requested = True
        if self.state is State.PROCEEDING:
            self._send_cancel()

    # from the endpoint ------------------------------------------------------------------
    def receive_response(self, response: Response) -> None:
        status = response.status
        state = self.state
        if state is State.TERMINATED:
            return
        if status < 200:
            if state in (State.CALLING, State.TRYING, State.PROCEEDING):
                self.state = State.PROCEEDING
                self.provisional = response
                if self.is_invite:
                    self._cancel_timers()
                    self._timeout = self._sched.call_later(self.timers.c, self._timer_c)
                    if self.cancel_requested and not self.cancel_sent:
                        self._send_cancel()
                elif self._retransmit is not None and not self.reliable:
                    # 17.1.2.2: in Proceeding, retransmit every T2.
                    self._interval = self.timers.t2
                call_back(self.on_provisional, response)
            return
        if self.is_invite:
            self._invite_final(response)
        elif state in (State.TRYING, State.PROCEEDING):
            self._cancel_timers()
            self.state = State.COMPLETED
            self._finish(response)
            if self.reliable:
                self.terminate()
            else:
                self._timeout = self._sched.call_later(self.timers.t4, self.terminate)

    def _invite_final(self, response: Response) -> None:
        state = self.state
        if response.status < 300:
            if state in (State.CALLING, State.PROCEEDING):
                self._cancel_timers()
                self.state = State.ACCEPTED
                self._finish(response)
                self._timeout = self._sched.call_later(self.timers.m, self.terminate)
            elif state is State.ACCEPTED:
                call_back(self.on_2xx, response)
            return
        if state in (State.CALLING, State.PROCEEDING):
            self._cancel_timers()
            self.state = State.COMPLETED
            self._ack_data = build_ack(self.request, response).encode()
            self._transmit(self._ack_data)
            self._finish(response)
            if self.state is State.COMPLETED:
                if self.reliable:
                    self.terminate()
                else:
                    self._timeout = self._sched.call_later(self.timers.d, self.terminate)
        elif state is State.COMPLETED and self._ack_data is not None:
            self._transmit(self._ack_data)

    def transport_error(self, reason: str = "transport error") -> None:
        """The flow failed: a 503 is synthesised (8.1.3.1)."""
        if self.state is State.TERMINATED:
            return
        if not self._future.done():
            self._finish(synthesize(self.request, 503, "Service Unavailable"))
        self.terminate()

    def terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        self._cancel_timers()
        if not self._future.done():
            self._future.set_result(synthesize(self.request, 408))
        if self.owner is not None:
            self.owner.transaction_terminated(self)

    # internals ----------------------------------------------------------------------------
    def _finish(self, response: Response) -> None:
        if self.final_response is None:
            self.final_response = response
        if not self._future.done():
            self._future.set_result(response)

    def _send_cancel(self) -> None:
        self.cancel_sent = True
        if self.owner is not None:
            self.owner.send_cancel(self)

    def _transmit(self, data: bytes) -> None:
        try:
            self._send(data)
        except TransportError as exc:
            logger.debug("%r: %s", self, exc)
            self.transport_error(str(exc))

    def _cancel_timers(self) -> None:
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None

    def _timer_a_e(self) -> None:
        self._retransmit = None
        if self.state not in (State.CALLING, State.TRYING, State.PROCEEDING):
            return
        if self.is_invite and self.state is not State.CALLING:
            return
        self._transmit(self._data)
        if self.final_response is not None or self._future.done():
            return
        if self.is_invite:
            self._interval = 2 * self._interval  # Timer A: doubling, no cap (17.1.1.2)
        elif self.state is State.TRYING:
            self._interval = min(2 * self._interval, self.timers.t2)
        else:
            self._interval = self.timers.t2
        self._retransmit = self._sched.call_later(self._interval, self._timer_a_e)

    def _timer_b(self) -> None:
        """Timer B (INVITE) / F (non-INVITE): no final response in 64*T1."""
        self._timeout = None
        if self.state in (State.CALLING, State.TRYING, State.PROCEEDING):
            logger.debug("%r: timed out", self)
            self._finish(synthesize(self.request, 408))
            self.terminate()

    def _timer_c(self) -> None:
        """No final response long after a provisional one: cancel, then give up."""
        self._timeout = self._sched.call_later(self.timers.b, self._timer_b)
        if self.state is State.PROCEEDING and not self.cancel_sent:
            self.cancel_requested = True
            self._send_cancel()


def tag_of(header: str) -> str | None:
    """The tag parameter of a From/To value, without parsing the URI."""
    tail = header.rpartition(">")[2] if "<" in header else header
    if "tag" not in tail.lower():
        return None
    for part in tail.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "tag":
            return value.strip() or None
    return None


_VIA = re.compile(
    r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
    r"(?:\s*:\s*(\d{1,5}))?\s*(;.*)?$", re.ASCII | re.DOTALL)


def fast_via(text: str) -> Via:
    """``Via.parse`` for the common case (no quoted parameters) without its slow path.

    Only for a Via the message parser has validated already."""
    if '"' not in text:
        match = _VIA.match(text.strip())
        if match is not None:
            params: dict[str, str | None] = {}
            rest = match.group(4)
            if rest:
                for item in rest.split(";")[1:]:
                    name, eq, value = item.partition("=")
                    name = name.strip().lower()
                    if name:
                        params[name] = value.strip() if eq else None
            port = match.group(3)
            return Via(match.group(1).upper(), match.group(2).lower(),
                       int(port) if port else None, params)
    return Via.parse(text)


_COPIED = ("Via", "From", "To", "Call-ID", "CSeq")


class Reply(Response):
    """A response :meth:`ServerTransaction.reply` has sent already.

    ``txn.reply(...)`` sends at once; awaiting its result (``await txn.reply(...)``) just
    gives the response back, so callers may treat ``reply`` like the async ``respond``.
    """

    def __await__(self) -> Generator[Any, None, Reply]:
        return self
        yield  # a generator: nothing to wait for


def response_for(request: Request, status: int, reason: str | None = None, *,
                 to_tag: str | None = None, body: bytes = b"",
                 extra: list[tuple[str, str]] | None = None,
                 cls: type[Response] = Response) -> Response:
    """``make_response`` in one pass over the request's headers (Via lines copied as they
    are rather than split and rejoined)."""
    copied: dict[str, list[str]] = {name: [] for name in _COPIED}
    for name, value in request.headers:
        found = copied.get(name)
        if found is not None:
            found.append(value)
    headers = Headers()
    for value in copied["Via"]:
        headers.add("Via", value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        values = copied[name]
        if values:
            value = values[0]
            if name == "To" and to_tag and status != 100 and ";tag=" not in value.replace(" ", "").lower():
                value = f"{value};tag={to_tag}"
            headers.add(name, value)
    for name, value in extra or []:
        headers.add(name, value)
    return cls(headers=headers, body=body, status=status,
               reason=reason or REASONS.get(status, "Unknown"))
