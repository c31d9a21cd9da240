"""SIP dialogs (RFC 3261 section 12), with re-INVITE (14), BYE (15) and the 2xx/ACK
handshake (13.2.2.4, 13.3.1.4, RFC 6026).

A dialog is identified by Call-ID, local tag and remote tag. It keeps the route set
(Record-Route in order at the UAS, reversed at the UAC), the remote target (the peer's
Contact, replaced by target refresh requests: re-INVITE and UPDATE), and the local and
remote CSeq numbers. :meth:`Dialog.request` builds an in-dialog request from that state
(12.2.1.1), sends it and waits for the final response, ACKing a 2xx to re-INVITE itself.
Incoming in-dialog requests are checked (500 for a CSeq out of order, 491 for re-INVITE
glare) and handed to ``dialog.on_request``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from moot.sip.headers import HeaderError, NameAddr
from moot.sip.message import Headers, Request, Response, make_response
from moot.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    State,
    call_back,
    tag_of,
)
from moot.sip.transport import Source, Target, TransportError
from moot.sip.uri import SipUri

if TYPE_CHECKING:
    from moot.sip.endpoint import SipEndpoint

logger = logging.getLogger("moot.sip.dialog")

#: In-dialog requests that replace the remote target (12.2, RFC 3311).
TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})

InDialogHandler = Callable[[ServerTransaction], Awaitable[None]]


class DialogError(Exception):
    """A dialog cannot be created from these messages, or cannot send this request."""


class BadRequest(DialogError):
    """The peer's message cannot set up a dialog (no Contact, a broken From/To/Contact).

    Raised out of a request handler, the stack answers 400 with the reason."""


class Dialog:
    """A confirmed dialog (12.1). Create with :meth:`create_uas` or :meth:`create_uac`."""

    def __init__(
        self,
        endpoint: SipEndpoint | None,
        *,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_uri: NameAddr | str,
        remote_uri: NameAddr | str,
        remote_target: SipUri,
        route_set: list[str] | None = None,
        local_seq: int | None = None,
        remote_seq: int | None = None,
        secure: bool = False,
        local_target: SipUri | str | None = None,
        destination: Target | None = None,
        flow: Source | None = None,
        is_uac: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        # From/To/Contact texts are parsed when first needed (most dialogs never send).
        self._local_uri: NameAddr | str = local_uri
        self._remote_uri: NameAddr | str = remote_uri
        self._local_target: SipUri | str | None = local_target
        self.remote_target = remote_target
        self.route_set = list(route_set or [])
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.secure = secure
        #: Where in-dialog requests go when ``flow`` is closed (resolved on first use).
        self.destination = destination
        #: The connection the dialog was set up on: reused while it is open (TCP/TLS).
        self.flow = flow
        self.is_uac = is_uac
        self.state = "confirmed"
        #: The ACK for the 2xx that set up the dialog arrived (UAS), or was sent (UAC).
        self.acked = asyncio.Event()
        #: The latest ACK received (its body carries the answer to an offer in the 2xx).
        self.ack: Request | None = None
        self.terminated = asyncio.Event()
        self.termination_reason = ""
        #: The TU's handler for in-dialog requests (BYE, re-INVITE, INFO, UPDATE, ...).
        self.on_request: InDialogHandler | None = None
        #: Called when no ACK came for our 2xx within 64*T1. Unset: the stack sends BYE.
        self.on_ack_timeout: Callable[[], object] | None = None
        #: Called with each ACK received (also for 2xx to re-INVITEs).
        self.on_ack: Callable[[Request], object] | None = None
        #: Called once when the dialog ends (with the reason).
        self.on_terminated: Callable[[str], object] | None = None
        self._ack_data: bytes | None = None
        self._ack_flow: Source | None = None
        self._ack_tag: str | None = None
        self._invite_client: ClientTransaction | None = None
        self._invite_server: ServerTransaction | None = None

    def __repr__(self) -> str:
        role = "UAC" if self.is_uac else "UAS"
        return f"<Dialog {role} {self.call_id} {self.state}>"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @property
    def transport(self) -> str:
        """The transport in-dialog requests use ("UDP", "TCP", "TLS")."""
        if self.flow is not None:
            return self.flow.transport
        if self.destination is not None:
            return self.destination.transport
        return self.remote_target.transport.upper()

    @property
    def local_uri(self) -> NameAddr:
        """Our address (From of our requests), without tag."""
        if isinstance(self._local_uri, str):
            self._local_uri = _without_tag(NameAddr.parse(self._local_uri))
        elif "tag" in self._local_uri.params:
            self._local_uri = _without_tag(self._local_uri)
        return self._local_uri

    @local_uri.setter
    def local_uri(self, value: NameAddr) -> None:
        self._local_uri = value

    @property
    def remote_uri(self) -> NameAddr:
        """The peer's address (To of our requests), without tag."""
        if isinstance(self._remote_uri, str):
            self._remote_uri = _without_tag(NameAddr.parse(self._remote_uri))
        elif "tag" in self._remote_uri.params:
            self._remote_uri = _without_tag(self._remote_uri)
        return self._remote_uri

    @remote_uri.setter
    def remote_uri(self, value: NameAddr) -> None:
        self._remote_uri = value

    @property
    def local_target(self) -> SipUri | None:
        """Our Contact (sent in target refresh requests)."""
        if isinstance(self._local_target, str):
            try:
                self._local_target = NameAddr.parse(self._local_target).uri
            except HeaderError:
                self._local_target = None
        return self._local_target

    @local_target.setter
    def local_target(self, value: SipUri | None) -> None:
        self._local_target = value

    # creation --------------------------------------------------------------------------
    @classmethod
    def create_uas(cls, txn: ServerTransaction, response: Response) -> Dialog:
        """The dialog a 2xx (or 1xx with tag) to ``txn``'s request sets up (12.1.1).

        Adds the To tag and Contact to ``response`` when missing (the same ones
        ``txn.respond`` would add), registers the dialog, and ties it to the transaction
        so the ACK reaches it. Does not send the response.
        """
        request = txn.request
        txn.complete_response(response)
        endpoint = _endpoint_of(txn.owner)
        # From and To were checked by the parser; the Contact is checked here, so that a
        # broken one fails now (400) rather than when the dialog first sends.
        try:
            contact = request.contact
        except HeaderError as exc:
            raise BadRequest(f"Bad Contact: {exc}") from None
        if contact is None:
            raise BadRequest("Missing Contact")
        to_text = response.headers.get("To") or ""
        from_text = request.headers.get("From") or ""
        headers = request.headers
        dialog = cls(
            endpoint,
            call_id=request.call_id,
            local_tag=tag_of(to_text) or txn.local_tag,
            remote_tag=tag_of(from_text) or "",
            local_uri=to_text,
            remote_uri=from_text,
            remote_target=contact.uri,
            route_set=headers.get_all("Record-Route") if "Record-Route" in headers else [],
            local_seq=None,
            remote_seq=txn.cseq.number,
            secure=request.uri.scheme == "sips" and txn.source.transport == "TLS",
            local_target=response.headers.get("Contact"),
            flow=txn.source,
            is_uac=False,
        )
        txn.dialog = dialog
        if txn.is_invite:
            dialog._invite_server = txn
        if txn.acked.is_set() and txn.ack is not None:
            dialog.receive_ack(txn.ack)
        if endpoint is not None:
            endpoint.register_dialog(dialog)
        return dialog

    @classmethod
    def create_uac(
        cls,
        request: Request | ClientTransaction,
        response: Response,
        *,
        endpoint: SipEndpoint | None = None,
        send_ack: bool = True,
    ) -> Dialog:
        """The dialog a 2xx response to our INVITE sets up (12.1.2).

        ``request`` is the client transaction (or the request it sent). With ``send_ack``
        the ACK for the 2xx is sent in the background (``await dialog.send_ack(response)``
        to send it in line instead).
        """
        txn: ClientTransaction | None
        if isinstance(request, ClientTransaction):
            txn = request
            request = txn.request
        else:
            from moot.sip.endpoint import find_client_transaction

            txn = find_client_transaction(request)
        if endpoint is None and txn is not None:
            endpoint = _endpoint_of(txn.owner)
        try:
            from_ = request.from_
            to = response.to
            contact = response.contact
            own_contact = request.contact
        except HeaderError as exc:
            raise BadRequest(f"Bad Contact, From or To: {exc}") from None
        if contact is None:
            # A broken peer; the Request-URI is the best guess of where it is.
            logger.warning("2xx to INVITE %s without Contact", request.call_id)
        dialog = cls(
            endpoint,
            call_id=request.call_id,
            local_tag=from_.tag or "",
            remote_tag=to.tag or "",  # no tag: an RFC 2543 peer (12.1.2)
            local_uri=from_,
            remote_uri=to,
            remote_target=contact.uri if contact is not None else _copy_uri(request.uri),
            route_set=list(reversed(response.headers.get_all("Record-Route"))),
            local_seq=request.cseq.number,
            remote_seq=None,
            secure=request.uri.scheme == "sips",
            local_target=own_contact.uri if own_contact else None,
            flow=txn.flow if txn is not None else None,
            is_uac=True,
        )
        if txn is not None and txn.on_2xx is None:
            dialog._watch_2xx(txn)
        if endpoint is not None:
            endpoint.register_dialog(dialog)
            if send_ack:
                endpoint._spawn(dialog.send_ack(response))
        return dialog

    # building requests (12.2.1.1) ---------------------------------------------------------
    def next_cseq(self) -> int:
        if self.local_seq is None:
            self.local_seq = random.randint(1, 2**16)
        else:
            self.local_seq += 1
        return self.local_seq

    def build_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
        cseq: int | None = None,
    ) -> Request:
        """An in-dialog request: Request-URI and Route from the route set and remote
        target, From/To with the tags, Call-ID, the next CSeq (ACK and CANCEL reuse the
        number passed as ``cseq``)."""
        method = method.upper()
        if cseq is None:
            cseq = self.next_cseq()
        headers = Headers()
        uri = self.remote_target
        routes = list(self.route_set)
        if routes and not _loose(routes[0]):
            # Strict routing (12.2.1.1): the first route becomes the Request-URI.
            uri = NameAddr.parse(routes[0]).uri
            uri.params.pop("lr", None)
            routes = [*routes[1:], f"<{self.remote_target}>"]
        for route in routes:
            headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        headers.add("From", str(NameAddr(self.local_uri.uri, self.local_uri.display,
                                         {**self.local_uri.params, "tag": self.local_tag})))
        remote_params = dict(self.remote_uri.params)
        if self.remote_tag:
            remote_params["tag"] = self.remote_tag
        headers.add("To", str(NameAddr(self.remote_uri.uri, self.remote_uri.display, remote_params)))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{cseq} {method}")
        if method in TARGET_REFRESH and self.local_target is not None:
            headers.add("Contact", f"<{self.local_target}>")
        if self.endpoint is not None:
            headers.add("User-Agent", self.endpoint.user_agent)
        if content_type is not None:
            headers.add("Content-Type", content_type)
        for name, value in extra or []:
            headers.add(name, value)
        return Request(headers=headers, body=body, method=method, uri=_copy_uri(uri))

    def build_ack(self, response: Response, *, body: bytes = b"",
                  content_type: str | None = None) -> Request:
        """The ACK for a 2xx to INVITE (13.2.2.4): the INVITE's CSeq number."""
        number = _cseq_number(response)
        return self.build_request("ACK", body=body, content_type=content_type, cseq=number)

    # sending ------------------------------------------------------------------------------
    async def route(self) -> tuple[Target, Source | None]:
        """Where the next request goes: the dialog's connection while open, else the first
        Route (or the remote target) resolved by RFC 3263."""
        endpoint = self._require_endpoint()
        flow = self.flow
        if flow is not None and flow.transport != "UDP" and endpoint.transports.is_open(flow):
            return Target(flow.transport, *flow.remote), flow
        if self.destination is None:
            uri = NameAddr.parse(self.route_set[0]).uri if self.route_set else self.remote_target
            targets = await endpoint.resolve(uri)
            if not targets:
                raise TransportError(f"cannot resolve {uri}")
            self.destination = targets[0]
        return self.destination, None

    async def request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> Response:
        """Send an in-dialog request and return its final response.

        A 2xx to re-INVITE is ACKed here; 481 and 408 end the dialog (12.2.1.2), and so
        does any final response to BYE.
        """
        method = method.upper()
        if method in ("ACK", "CANCEL"):
            raise DialogError(f"{method} is not sent with Dialog.request")
        endpoint = self._require_endpoint()
        if self.state == "terminated":
            if method != "BYE":
                raise DialogError(f"dialog {self.call_id} is terminated")
            # Both sides hung up at once: the peer's BYE ended the dialog already.
            request = self.build_request(method, extra=extra)
            return make_response(request, 481, "Dialog Already Terminated")
        if method == "INVITE" and self._invite_client is not None:
            raise DialogError("a re-INVITE is already in progress")
        request = self.build_request(method, body=body, content_type=content_type, extra=extra)
        try:
            target, flow = await self.route()
        except TransportError as exc:
            response = make_response(request, 503, f"Service Unavailable ({exc})"[:100])
            if method == "BYE":
                self.terminate("bye")
            return response
        txn = await endpoint.send_request(request, target, flow=flow)
        if method == "INVITE":
            self._invite_client = txn
        try:
            response = await txn.final()
        finally:
            if method == "INVITE":
                self._invite_client = None
        if method == "INVITE" and 200 <= response.status < 300:
            self._watch_2xx(txn)
            self.refresh_target(response)
            await self.send_ack(response)
        elif 200 <= response.status < 300 and method in TARGET_REFRESH:
            self.refresh_target(response)
        if method == "BYE":
            self.terminate("bye")
        elif response.status in (408, 481):
            self.terminate(f"{response.status} to {method}")
        return response

    async def bye(self, extra: list[tuple[str, str]] | None = None) -> Response:
        """End the dialog (15.1.1)."""
        return await self.request("BYE", extra=extra)

    async def send_ack(self, response: Response, *, body: bytes = b"",
                       content_type: str | None = None) -> None:
        """ACK a 2xx to INVITE; the ACK is kept to answer retransmissions of the 2xx."""
        endpoint = self._require_endpoint()
        ack = self.build_ack(response, body=body, content_type=content_type)
        try:
            target, flow = await self.route()
            self._ack_flow, self._ack_data = await endpoint.send_stateless(ack, target, flow=flow)
            self._ack_tag = self.remote_tag
        except TransportError as exc:
            logger.warning("%r: ACK not sent: %s", self, exc)
            return
        self.acked.set()

    # receiving ---------------------------------------------------------------------------
    def receive_request(self, txn: ServerTransaction) -> None:
        """An in-dialog request (12.2.2), from the endpoint."""
        request = txn.request
        method = request.method
        number = txn.cseq.number
        if self.remote_seq is not None and number < self.remote_seq:
            txn.reply(500, "CSeq Out of Order")
            return
        self.remote_seq = number
        if self.state == "terminated":
            txn.reply(481)
            return
        if method == "INVITE":
            if self._invite_client is not None:
                txn.reply(491)  # 14.2: glare
                return
            pending = self._invite_server
            if pending is not None and not pending.answered and pending is not txn:
                txn.reply(500, extra=[("Retry-After", str(random.randint(0, 10)))])
                return
            self._invite_server = txn
            txn.dialog = self
        if method in TARGET_REFRESH:
            self.refresh_target(request)
        if method == "BYE":
            self.terminate("bye received")
        if self.on_request is None:
            self._default(txn)  # no TU handler: answered at once, no task needed
            return
        endpoint = self.endpoint
        if endpoint is not None:
            endpoint._spawn(self._run_handler(txn))

    async def _run_handler(self, txn: ServerTransaction) -> None:
        from moot.sip.endpoint import answer_handler_error, default_response

        handler = self.on_request
        if handler is None:
            self._default(txn)
            return
        try:
            await handler(txn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            answer_handler_error(txn, exc)
            return
        default_response(txn)

    @staticmethod
    def _default(txn: ServerTransaction) -> None:
        """In-dialog requests nobody handles: 488 to re-INVITE, 200 to BYE/OPTIONS, 501."""
        from moot.sip.endpoint import default_response

        if txn.method == "INVITE":
            txn.reply(488)
        else:
            default_response(txn)

    def receive_ack(self, ack: Request) -> None:
        """The ACK for a 2xx we sent (from the transaction or the endpoint)."""
        self.ack = ack
        self.acked.set()
        call_back(self.on_ack, ack)

    def ack_timed_out(self) -> None:
        """No ACK for our 2xx within 64*T1 (13.3.1.4): the session should end."""
        if self.state == "terminated":
            return
        if self.on_ack_timeout is not None:
            call_back(self.on_ack_timeout)
        elif self.endpoint is not None:
            logger.info("%r: no ACK for the 2xx, sending BYE", self)
            self.endpoint._spawn(self.request("BYE"))

    def refresh_target(self, message: Request | Response) -> None:
        """Replace the remote target with the message's Contact (12.2)."""
        try:
            contact = message.contact
        except HeaderError:
            return
        if contact is not None and str(contact.uri) != str(self.remote_target):
            self.remote_target = contact.uri
            self.destination = None

    def terminate(self, reason: str = "") -> None:
        if self.state == "terminated":
            return
        self.state = "terminated"
        self.termination_reason = reason
        self.terminated.set()
        if self.endpoint is not None:
            self.endpoint.unregister_dialog(self)
        call_back(self.on_terminated, reason)

    # internals ---------------------------------------------------------------------------
    def _watch_2xx(self, txn: ClientTransaction) -> None:
        """Answer retransmitted 2xx with the same ACK; ACK and BYE a forked one."""

        def on_2xx(response: Response) -> None:
            endpoint = self.endpoint
            if endpoint is None:
                return
            tag = _tag(response)
            if tag == self.remote_tag:
                if self._ack_data is not None and self._ack_flow is not None:
                    try:
                        endpoint.transports.send(self._ack_flow, self._ack_data)
                    except TransportError:
                        pass
            elif tag:
                endpoint._spawn(_ack_and_bye(txn, response))

        txn.on_2xx = on_2xx

    def _require_endpoint(self) -> SipEndpoint:
        if self.endpoint is None:
            raise DialogError("dialog has no endpoint")
        return self.endpoint


async def _ack_and_bye(txn: ClientTransaction, response: Response) -> None:
    """A 2xx from a second fork: a dialog we do not want (13.2.2.4)."""
    other = Dialog.create_uac(txn, response, send_ack=False)
    other._invite_client = None
    await other.send_ack(response)
    await other.request("BYE")


def _without_tag(addr: NameAddr) -> NameAddr:
    return NameAddr(addr.uri, addr.display, {k: v for k, v in addr.params.items() if k != "tag"})


def _endpoint_of(owner: Any) -> SipEndpoint | None:
    from moot.sip.endpoint import SipEndpoint

    return owner if isinstance(owner, SipEndpoint) else None


def _loose(route: str) -> bool:
    try:
        return "lr" in NameAddr.parse(route).uri.params
    except HeaderError:
        return True


def _copy_uri(uri: SipUri) -> SipUri:
    return SipUri(uri.scheme, uri.user, uri.host, uri.port, uri.password, dict(uri.params),
                  dict(uri.headers))


def _cseq_number(message: Request | Response) -> int:
    return message.cseq.number


def _tag(response: Response) -> str | None:
    try:
        return response.to.tag
    except HeaderError:
        return None


__all__ = ["TARGET_REFRESH", "BadRequest", "Dialog", "DialogError", "State"]
