"""The SIP endpoint: transports, transactions and dialogs of one user agent (RFC 3261 8, 17).

Incoming requests are matched to server transactions (17.2.3: branch, sent-by and
method; ACK matches INVITE), so retransmissions are absorbed. New requests pass the UAS
checks of 8.2 (483 for Max-Forwards 0 except OPTIONS, 405 with Allow, 482 for merged
requests, 420 with Unsupported) and go to the dialog they belong to (To tag, 12.2.2;
481 when there is none) or to the :class:`RequestHandler`. CANCEL is matched to its
INVITE (9.2): 200 to the CANCEL, 487 to the INVITE unless it was answered. ACKs for 2xx
stop the 2xx retransmissions (RFC 6026) and reach the dialog. Responses are matched to
client transactions by branch and CSeq method (17.1.3); strays are dropped.

Received Via headers get ``received`` and ``rport`` (18.2.1, RFC 3581); responses go back
on the connection the request came on, or over UDP to the received address and rport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import ssl
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from moot.sip.dialog import BadRequest, Dialog
from moot.sip.headers import CSeq, HeaderError, NameAddr, Via
from moot.sip.message import Headers, Request, Response
from moot.sip.resolver import Resolver, proxy_uri
from moot.sip.transaction import (
    MAGIC_COOKIE,
    ClientTransaction,
    ResponseCallback,
    Scheduler,
    ServerTransaction,
    Timers,
    build_cancel,
    call_back,
    fast_via,
    new_branch,
    new_tag,
    tag_of,
)
from moot.sip.transport import (
    DEFAULT_PORTS,
    Address,
    Source,
    Target,
    TransportError,
    Transports,
    format_host,
    is_ip_literal,
    normalize_target,
)
from moot.sip.uri import SipUri

logger = logging.getLogger("moot.sip.endpoint")

#: Methods the endpoint accepts by default (others get 405 with this Allow list).
DEFAULT_ALLOW = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "UPDATE", "NOTIFY", "REFER")
#: Option tags the endpoint understands by default (RFC 4028 session timers).
DEFAULT_SUPPORTED = ("timer",)

_ENDPOINTS: weakref.WeakSet[SipEndpoint] = weakref.WeakSet()
DEFAULT_TIMERS = Timers()


class RequestHandler(Protocol):
    async def on_request(self, txn: ServerTransaction) -> None:
        """A new request outside any dialog (INVITE, OPTIONS, INFO, ...).

        Answer with ``txn.reply`` / ``txn.respond``. A non-INVITE request still unanswered
        when this returns gets a default answer (200 for OPTIONS, 501 otherwise); one that
        raises gets 500. INVITEs may be answered later (the transaction waits).
        """


def default_response(txn: ServerTransaction) -> None:
    """What the stack answers for a non-INVITE request the TU left unanswered."""
    if txn.answered or txn.method in ("INVITE", "ACK"):
        return
    if txn.method in ("OPTIONS", "BYE"):
        txn.reply(200)
    else:
        txn.reply(501)


def answer_handler_error(txn: ServerTransaction, exc: Exception) -> None:
    """A handler raised: 400 for a :class:`BadRequest` (malformed input), else 500 and
    the traceback in the log."""
    if isinstance(exc, BadRequest):
        logger.info("%s from %s: %s", txn.method, txn.source.remote, exc)
        if not txn.answered:
            reason = "".join(ch if " " <= ch < "\x7f" else "?" for ch in str(exc))
            txn.reply(400, f"Bad Request ({reason})"[:120])
        return
    logger.error("request handler failed on %s", txn.method, exc_info=exc)
    if not txn.answered:
        txn.reply(500)


class SipEndpoint:
    """A SIP user agent core: listeners, transactions, dialogs, and the client helpers."""

    def __init__(
        self,
        handler: RequestHandler,
        *,
        user_agent: str = "Moot",
        timers: Timers = DEFAULT_TIMERS,
        allow: tuple[str, ...] = DEFAULT_ALLOW,
        supported: tuple[str, ...] = DEFAULT_SUPPORTED,
        resolver: Resolver | None = None,
        tls_client_context: ssl.SSLContext | None = None,
        max_connections: int = 1024,
        idle_timeout: float = 900.0,
        handshake_timeout: float = 10.0,
        max_transactions: int = 100_000,
        contact_user: str | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.handler = handler
        self.user_agent = user_agent
        self.timers = timers
        self.allow = tuple(m.upper() for m in allow)
        self.supported = tuple(supported)
        self._allow_set = frozenset(self.allow) | {"ACK", "CANCEL"}
        self._supported_set = frozenset(s.lower() for s in supported)
        self._capabilities = [("Allow", ", ".join(self.allow))]
        if self.supported:
            self._capabilities.append(("Supported", ", ".join(self.supported)))
        self.resolver = resolver or Resolver()
        self.max_transactions = max_transactions
        self.contact_user = contact_user
        self.scheduler = scheduler
        self.transports = Transports(
            self._on_message,
            on_closed=self._on_flow_closed,
            max_connections=max_connections,
            idle_timeout=idle_timeout,
            handshake_timeout=handshake_timeout,
            tls_client_context=tls_client_context,
        )
        #: Confirmed dialogs by (Call-ID, local tag, remote tag).
        self.dialogs: dict[tuple[str, str, str], Dialog] = {}
        self._server: dict[tuple[Any, ...], ServerTransaction] = {}
        self._client: dict[tuple[str, str], ClientTransaction] = {}
        #: Out-of-dialog requests by (Call-ID, From tag, CSeq number, method): 482 (8.2.2.2).
        self._merged: dict[tuple[str, str, int, str], ServerTransaction] = {}
        #: INVITE server transactions by (Call-ID, From tag, CSeq number), for 2xx ACKs.
        self._invites: dict[tuple[str, str, int], ServerTransaction] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._contact_cache: dict[tuple[str, Address, bool], str] = {}
        self.closed = False
        _ENDPOINTS.add(self)

    # listeners ---------------------------------------------------------------------------
    async def listen(
        self,
        transport: str,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        *,
        advertise: str | None = None,
    ) -> Address:
        """Listen for SIP on ``transport`` ("UDP", "TCP" or "TLS"); port 0 picks one.

        ``advertise`` is the host to put in Via and Contact (for wildcard or NATed binds).
        """
        return await self.transports.listen(
            transport, host, port, ssl_context, advertise=advertise
        )

    @property
    def listeners(self) -> list[tuple[str, Address]]:
        return [(item.transport, item.address) for item in self.transports.listeners]

    async def close(self) -> None:
        """Stop listening, end every transaction and close every connection."""
        if self.closed:
            return
        self.closed = True
        for stxn in list(self._server.values()):
            stxn.terminate()
        for ctxn in list(self._client.values()):
            ctxn.transport_error("endpoint closed")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        for dialog in list(self.dialogs.values()):
            dialog.terminate("endpoint closed")
        await self.transports.close()

    def contact_for(
        self, where: Source | str, user: str | None = None, *, secure: bool = False
    ) -> SipUri:
        """Our Contact URI on the listener a flow uses (or the first of a transport)."""
        if isinstance(where, Source):
            transport = where.transport
            listener = None
            for item in self.transports.listeners:
                if item.transport == transport and (
                    item.address == where.local
                    or (item.wildcard and item.address[1] == where.local[1])
                ):
                    listener = item
                    break
            listener = listener or self.transports.listener_for(transport)
            if listener is not None:
                if listener.advertise:
                    host = listener.advertise
                elif not listener.wildcard:
                    host = listener.address[0]
                elif where.local[0] not in ("0.0.0.0", "::"):
                    host = where.local[0]
                else:
                    host = self.transports.local_ip_toward(where.remote[0])
                port = listener.address[1]
            else:
                host, port = where.local
        else:
            transport = where.upper()
            listener = self.transports.listener_for(transport)
            if listener is None:
                raise TransportError(f"no {transport} listener")
            host = self.transports.advertised_host(listener)
            port = listener.address[1]
        params: dict[str, str | None] = {}
        if secure:
            scheme = "sips"
        else:
            scheme = "sip"
            if transport != "UDP":
                params["transport"] = transport.lower()
        return SipUri(scheme, user or self.contact_user, format_host(host), port, params=params)

    def contact_header(self, source: Source, secure: bool = False) -> str:
        """``<contact URI>`` for responses on ``source`` (cached per listener)."""
        key = (source.transport, source.local, secure)
        cached = self._contact_cache.get(key)
        if cached is not None:
            return cached
        value = f"<{self.contact_for(source, secure=secure)}>"
        listener = self.transports.listener_for(source.transport, source.local)
        if listener is not None and (listener.advertise or not listener.wildcard):
            self._contact_cache[key] = value
        return value

    def capabilities(self) -> list[tuple[str, str]]:
        return self._capabilities

    # client side ---------------------------------------------------------------------------
    def new_request(
        self,
        method: str,
        uri: SipUri | str,
        *,
        from_: NameAddr | SipUri | str,
        to: NameAddr | SipUri | str,
        call_id: str | None = None,
        cseq: int = 1,
        contact: SipUri | str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> Request:
        """A new out-of-dialog request (8.1.1); the From tag is made up when missing.

        Via is added by :meth:`send_request`, and Contact too for INVITE when absent.
        """
        method = method.upper()
        request_uri = SipUri.parse(uri) if isinstance(uri, str) else uri
        from_addr = _name_addr(from_)
        if not from_addr.tag:
            from_addr.params["tag"] = new_tag()
        to_addr = _name_addr(to)
        headers = Headers()
        headers.add("Max-Forwards", "70")
        headers.add("From", str(from_addr))
        headers.add("To", str(to_addr))
        headers.add("Call-ID", call_id or secrets.token_hex(16))
        headers.add("CSeq", f"{cseq} {method}")
        if contact is not None:
            headers.add("Contact", f"<{contact}>")
        headers.add("User-Agent", self.user_agent)
        if method in ("INVITE", "OPTIONS", "UPDATE"):
            for name, value in self._capabilities:
                headers.add(name, value)
        if content_type is not None:
            headers.add("Content-Type", content_type)
        for name, value in extra or []:
            headers.add(name, value)
        return Request(headers=headers, body=body, method=method, uri=request_uri)

    async def resolve(self, uri: SipUri, proxy: str | None = None) -> list[Target]:
        """RFC 3263: where to send a request for ``uri`` (or to ``proxy``)."""
        targets = await self.resolver.resolve(uri, proxy)
        # RFC 5922: a TLS server is verified against the domain, not the SRV target.
        name = (proxy_uri(proxy) if proxy else uri).host
        if name and not is_ip_literal(name):
            for target in targets:
                if target.transport == "TLS":
                    self.transports.tls_names[(target.host, target.port)] = name
        return targets

    async def send_request(
        self,
        request: Request,
        destination: tuple[str, str, int],
        *,
        on_provisional: ResponseCallback | None = None,
        flow: Source | None = None,
    ) -> ClientTransaction:
        """Start a client transaction for ``request`` to ``destination`` (transport, host,
        port). A Via with a new branch is added on top (and a Contact to INVITEs without
        one). ``flow`` reuses a connection when it is still open. Never raises for
        transport problems: ``final()`` then gives a synthesised 503."""
        target = normalize_target(destination)
        source: Source | None = None
        error: str | None = None
        try:
            if flow is not None and flow.transport == target.transport and self.transports.is_open(flow):
                source = flow
            else:
                if not is_ip_literal(target.host):
                    addresses = await self.resolver.resolve_host(target.host)
                    if not addresses:
                        raise TransportError(f"cannot resolve {target.host}")
                    if target.transport == "TLS":
                        self.transports.tls_names[(addresses[0], target.port)] = target.host
                    target = Target(target.transport, addresses[0], target.port)
                source = await self.transports.connect(target)
        except TransportError as exc:
            error = str(exc)
        self._add_via(request, target, source)
        if request.method == "INVITE" and "Contact" not in request.headers and source is not None:
            secure = request.uri.scheme == "sips"
            request.headers.add("Contact", f"<{self.contact_for(source, secure=secure)}>")
        send: Callable[[bytes], None]
        if source is not None:
            flow_source = source

            def send(data: bytes) -> None:
                self.transports.send(flow_source, data)

        else:

            def send(data: bytes) -> None:
                raise TransportError(error or "no flow")

        txn = ClientTransaction(
            request,
            target,
            send,
            timers=self.timers,
            reliable=target.transport != "UDP",
            scheduler=self.scheduler,
            owner=self,
            on_provisional=on_provisional,
            flow=source,
        )
        if self.closed:
            txn.transport_error("endpoint closed")
            return txn
        self._client[txn.key] = txn
        txn.start()
        return txn

    async def send_stateless(
        self, request: Request, destination: tuple[str, str, int], *, flow: Source | None = None
    ) -> tuple[Source, bytes]:
        """Send a request outside any transaction (the ACK for a 2xx, 13.2.2.4).

        Returns the flow and the bytes, so the caller can send them again.
        """
        target = normalize_target(destination)
        if flow is not None and flow.transport == target.transport and self.transports.is_open(flow):
            source = flow
        else:
            if not is_ip_literal(target.host):
                addresses = await self.resolver.resolve_host(target.host)
                if not addresses:
                    raise TransportError(f"cannot resolve {target.host}")
                target = Target(target.transport, addresses[0], target.port)
            source = await self.transports.connect(target)
        self._add_via(request, target, source)
        data = request.encode()
        self.transports.send(source, data)
        return source, data

    async def invite(
        self,
        request: Request,
        destination: tuple[str, str, int],
        on_provisional: ResponseCallback | None = None,
    ) -> tuple[Response, Dialog | None]:
        """Send an INVITE and wait for its final response; a 2xx is ACKed and gives the
        dialog. Cancelling the awaiting task sends CANCEL (and ACK + BYE should a 2xx
        still arrive)."""
        txn = await self.send_request(request, destination, on_provisional=on_provisional)
        try:
            response = await txn.final()
        except asyncio.CancelledError:
            txn.cancel()
            self._spawn(self._reap_cancelled(txn))
            raise
        if not 200 <= response.status < 300:
            return response, None
        try:
            dialog = Dialog.create_uac(txn, response, send_ack=False)
        except BadRequest as exc:
            logger.warning("unusable 2xx to INVITE %s: %s", request.call_id, exc)
            return response, None
        await dialog.send_ack(response)
        return response, dialog

    async def _reap_cancelled(self, txn: ClientTransaction) -> None:
        response = await txn.final()
        if 200 <= response.status < 300:
            try:
                dialog = Dialog.create_uac(txn, response, send_ack=False)
            except BadRequest:
                return
            await dialog.send_ack(response)
            await dialog.request("BYE")

    def send_cancel(self, txn: ClientTransaction) -> None:
        """CANCEL an INVITE client transaction (called by the transaction, 9.1)."""
        self._spawn(self._send_cancel(txn))

    async def _send_cancel(self, txn: ClientTransaction) -> None:
        cancel = build_cancel(txn.request)
        await self.send_request(cancel, txn.destination, flow=txn.flow)

    # transaction bookkeeping ---------------------------------------------------------------
    def transaction_terminated(self, txn: ServerTransaction | ClientTransaction) -> None:
        if isinstance(txn, ServerTransaction):
            if self._server.get(txn.key) is txn:
                del self._server[txn.key]
            for key in txn.index_keys:
                if self._merged.get(key) is txn:
                    del self._merged[key]
                if self._invites.get(key) is txn:
                    del self._invites[key]
        elif self._client.get(txn.key) is txn:
            del self._client[txn.key]

    def register_dialog(self, dialog: Dialog) -> None:
        self.dialogs[dialog.key] = dialog

    def unregister_dialog(self, dialog: Dialog) -> None:
        if self.dialogs.get(dialog.key) is dialog:
            del self.dialogs[dialog.key]

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("SIP task failed", exc_info=task.exception())

    def _on_flow_closed(self, source: Source) -> None:
        for txn in list(self._client.values()):
            if txn.flow == source and not txn.done:
                txn.transport_error("connection closed")

    def _add_via(self, request: Request, target: Target, source: Source | None) -> None:
        if source is not None and source.transport != "UDP":
            listener = self.transports.listener_for(source.transport)
        elif source is not None:
            listener = self.transports.listener_for("UDP", source.local)
        else:
            listener = self.transports.listener_for(target.transport)
        if listener is not None:
            host = self.transports.advertised_host(listener, target.host)
            port = listener.address[1]
        elif source is not None:
            host, port = source.local
        else:
            host, port = "invalid", DEFAULT_PORTS[target.transport]
        if request.method == "CANCEL" and "Via" in request.headers:
            return  # CANCEL keeps the INVITE's Via (9.1)
        # A UA's request has one Via, its own: a request sent again (after a 401 or 422,
        # say) gets a new branch in place of the old one.
        via = f"SIP/2.0/{target.transport} {format_host(host)}:{port};branch={new_branch()};rport"
        if "Via" in request.headers:
            request.headers.set("Via", via)
        else:
            request.headers.add("Via", via)
        if "Max-Forwards" not in request.headers:
            request.headers.add("Max-Forwards", "70")

    # incoming ------------------------------------------------------------------------------
    def _on_message(self, message: Request | Response, source: Source) -> None:
        if self.closed:
            return
        if isinstance(message, Response):
            self._on_response(message, source)
        else:
            self._on_request(message, source)

    def _on_response(self, response: Response, source: Source) -> None:
        top = _first_via(response.headers)
        cseq = response.headers.get("CSeq") or ""
        try:
            branch = fast_via(top).branch or ""
            method = cseq.split()[1]
        except (HeaderError, IndexError):
            return
        txn = self._client.get((branch, method))
        if txn is None:
            logger.debug("stray %d response to %s dropped", response.status, method)
            return
        txn.receive_response(response)

    def _on_request(self, request: Request, source: Source) -> None:
        headers = request.headers
        method = request.method
        top = _first_via(headers)
        try:
            via = fast_via(top)
            cseq = request.cseq
        except HeaderError:
            return
        # 18.2.1 / RFC 3581: where the request really came from.
        remote_host, remote_port = source.remote
        via_host = via.host[1:-1] if via.host.startswith("[") else via.host
        changed = False
        if via_host != remote_host:
            via.params["received"] = remote_host
            changed = True
        if "rport" in via.params and via.params["rport"] is None:
            via.params["rport"] = str(remote_port)
            changed = True
        if changed:
            vias = headers.get_all("Via")
            vias[0] = str(via)
            headers.set("Via", ", ".join(vias))
        if source.transport != "UDP" and "alias" in via.params and via.port:
            self.transports.add_alias(source, (via_host, via.port))
        branch = via.branch or ""
        match_method = "INVITE" if method == "ACK" else method
        call_id = request.call_id
        from_tag = tag_of(headers.get("From") or "") or ""
        key: tuple[Any, ...]
        if branch.startswith(MAGIC_COOKIE):
            key = (branch, via.host, via.port, match_method)
        else:
            key = ("2543", call_id, from_tag, cseq.number, via.host, via.port, branch, match_method)
        existing = self._server.get(key)
        if existing is not None:
            existing.receive_request(request)
            return
        to_tag = tag_of(headers.get("To") or "")
        if method == "ACK":
            self._on_ack(request, call_id, from_tag, to_tag, cseq.number)
            return
        txn = self._new_server_txn(request, source, via, key, cseq)
        if method == "CANCEL":
            invite = self._server.get((*key[:-1], "INVITE"))
            if invite is None:
                txn.reply(481)
            else:
                txn.reply(200)
                invite.receive_cancel()
            return
        # 8.2: UAS checks.
        if len(self._server) > self.max_transactions:
            txn.reply(503, extra=[("Retry-After", str(random.randint(1, 10)))])
            return
        forwards = headers.get("Max-Forwards")
        if forwards is not None and int(forwards) == 0 and method != "OPTIONS":
            txn.reply(483)
            return
        if method not in self._allow_set:
            txn.reply(405, extra=[("Allow", ", ".join(self.allow))])
            return
        if not to_tag:
            merged_key = (call_id, from_tag, cseq.number, method)
            other = self._merged.get(merged_key)
            if other is not None and other.state.value != "Terminated":
                txn.reply(482)
                return
            self._merged[merged_key] = txn
            txn.index_keys.append(merged_key)
        required = headers.get_all("Require")
        if required:
            unsupported = [tag for tag in required if tag.lower() not in self._supported_set]
            if unsupported:
                txn.reply(420, extra=[("Unsupported", ", ".join(unsupported))])
                return
        if method == "INVITE":
            invite_index = (call_id, from_tag, cseq.number)
            self._invites[invite_index] = txn
            txn.index_keys.append(invite_index)
        if to_tag:
            dialog = self.dialogs.get((call_id, to_tag, from_tag))
            if dialog is None:
                txn.reply(481)
                return
            dialog.receive_request(txn)
            return
        self._spawn(self._run_handler(txn))

    def _new_server_txn(
        self, request: Request, source: Source, via: Via, key: tuple[Any, ...], cseq: CSeq
    ) -> ServerTransaction:
        send: Callable[[bytes], None]
        if source.transport == "UDP":
            port = source.remote[1] if via.params.get("rport") else (via.port or 5060)
            flow = source if port == source.remote[1] else Source("UDP", (source.remote[0], port), source.local)
            transports = self.transports

            def send_udp(data: bytes) -> None:
                transports.send(flow, data)

            send = send_udp
        else:
            fallback: Address = (source.remote[0], via.port or DEFAULT_PORTS[source.transport])
            send = self._stream_sender(source, fallback)
        txn = ServerTransaction(
            request,
            source,
            send,
            timers=self.timers,
            reliable=source.transport != "UDP",
            scheduler=self.scheduler,
            owner=self,
            key=key,
            cseq=cseq,
        )
        self._server[key] = txn
        return txn

    def _stream_sender(self, source: Source, fallback: Address) -> Callable[[bytes], None]:
        transports = self.transports

        def send(data: bytes) -> None:
            if transports.is_open(source):
                transports.send(source, data)
            else:
                # 18.2.2: the connection is gone; open one to the received address and
                # the sent-by port.
                self._spawn(self._send_fallback(Target(source.transport, *fallback), data))

        return send

    async def _send_fallback(self, target: Target, data: bytes) -> None:
        with contextlib.suppress(TransportError):
            flow = await self.transports.connect(target)
            self.transports.send(flow, data)

    def _on_ack(
        self, ack: Request, call_id: str, from_tag: str, to_tag: str | None, number: int
    ) -> None:
        txn = self._invites.get((call_id, from_tag, number))
        if txn is not None and txn.state.value == "Accepted":
            txn.receive_2xx_ack(ack)
            return
        if to_tag:
            dialog = self.dialogs.get((call_id, to_tag, from_tag))
            if dialog is not None:
                dialog.receive_ack(ack)
                return
        logger.debug("stray ACK dropped")

    async def _run_handler(self, txn: ServerTransaction) -> None:
        try:
            await self.handler.on_request(txn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            answer_handler_error(txn, exc)
            return
        default_response(txn)


def _first_via(headers: Headers) -> str:
    value = headers.get("Via") or ""
    if "," in value:
        return headers.get_all("Via")[0]
    return value


def _name_addr(value: NameAddr | SipUri | str) -> NameAddr:
    if isinstance(value, NameAddr):
        return NameAddr(value.uri, value.display, dict(value.params))
    if isinstance(value, SipUri):
        return NameAddr(value)
    return NameAddr.parse(value)


def find_client_transaction(request: Request) -> ClientTransaction | None:
    """The client transaction that sent ``request`` (by its top Via branch), if any."""
    try:
        branch = fast_via(_first_via(request.headers)).branch or ""
    except HeaderError:
        return None
    for endpoint in list(_ENDPOINTS):
        txn = endpoint._client.get((branch, request.method))
        if txn is not None:
            return txn
    return None


__all__ = [
    "DEFAULT_ALLOW",
    "DEFAULT_SUPPORTED",
    "RequestHandler",
    "SipEndpoint",
    "answer_handler_error",
    "call_back",
    "default_response",
    "find_client_transaction",
]
