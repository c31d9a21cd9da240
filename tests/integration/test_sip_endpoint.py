"""Two SipEndpoints on loopback over UDP, TCP and TLS; raw sockets for the wire details;
RFC 3263 against a small DNS server; sipp against one endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import dns.message
import dns.rcode
import dns.rrset
import pytest

from moot.sip.dialog import Dialog
from moot.sip.endpoint import SipEndpoint
from moot.sip.message import Request, Response, make_response, parse_datagram
from moot.sip.resolver import Resolver
from moot.sip.session_timer import SessionRefresher, SessionTimer
from moot.sip.transaction import ServerTransaction, Timers
from moot.sip.transport import Target
from moot.sip.uri import SipUri

HOST = "127.0.0.1"
FAST = Timers(t1=0.05, t2=0.4, t4=0.25, d=0.5)
SDP = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


# helpers ------------------------------------------------------------------------------------
@dataclass
class Uas:
    """A request handler that answers INVITEs (optionally ringing, or holding until
    CANCEL) and records everything it sees, in and out of dialogs."""

    ring: bool = False
    hold: bool = False
    answer: int = 200
    requests: list[ServerTransaction] = field(default_factory=list)
    in_dialog: list[Request] = field(default_factory=list)
    dialogs: list[Dialog] = field(default_factory=list)
    got: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_request(self, txn: ServerTransaction) -> None:
        self.requests.append(txn)
        self.got.set()
        if txn.request.method != "INVITE":
            if txn.request.method == "OPTIONS":
                txn.reply(200, extra=[("Accept", "application/sdp")])
            return
        if self.ring:
            txn.reply(180)
        if self.hold:
            await txn.cancelled.wait()
            return
        if self.answer >= 300:
            txn.reply(self.answer)
            return
        ok = make_response(txn.request, 200, body=SDP, extra=[("Content-Type", "application/sdp")])
        dialog = Dialog.create_uas(txn, ok)
        dialog.on_request = self.on_in_dialog
        self.dialogs.append(dialog)
        await txn.respond(ok)

    async def on_in_dialog(self, txn: ServerTransaction) -> None:
        self.in_dialog.append(txn.request)
        self.got.set()
        if txn.request.method == "INVITE":
            txn.reply(200, body=SDP, content_type="application/sdp")
        else:
            txn.reply(200)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            self.got.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.got.wait(), 0.05)


def tls_contexts(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    from moot.pki import server_ssl_context
    from moot.pki.selfsigned import make_selfsigned

    make_selfsigned(tmp / "sip.key", tmp / "sip.crt", HOST, [HOST])
    server = server_ssl_context(tmp / "sip.key", tmp / "sip.crt", None)
    client = ssl.create_default_context(cafile=str(tmp / "sip.crt"))
    return server, client


@dataclass
class Pair:
    a: SipEndpoint
    b: SipEndpoint
    ua: Uas
    ub: Uas
    transport: str
    b_port: int
    a_port: int

    def uri(self, user: str = "bob") -> str:
        params = "" if self.transport == "UDP" else f";transport={self.transport.lower()}"
        return f"sip:{user}@{HOST}:{self.b_port}{params}"

    @property
    def dest(self) -> tuple[str, str, int]:
        return (self.transport, HOST, self.b_port)

    def invite(self, **kw: object) -> Request:
        return self.a.new_request("INVITE", self.uri(), from_="<sip:alice@moot.test>",
                                  to="<sip:bob@moot.test>", body=SDP,
                                  content_type="application/sdp", **kw)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def pair(transport: str, tmp: Path, timers: Timers = FAST, **kw: object
               ) -> AsyncIterator[Pair]:
    server_ctx = client_ctx = None
    if transport == "TLS":
        server_ctx, client_ctx = tls_contexts(tmp)
    ua, ub = Uas(), Uas()
    a = SipEndpoint(ua, timers=timers, tls_client_context=client_ctx, **kw)  # type: ignore[arg-type]
    b = SipEndpoint(ub, timers=timers, tls_client_context=client_ctx, **kw)  # type: ignore[arg-type]
    try:
        _, a_port = await a.listen(transport, HOST, 0, server_ctx)
        _, b_port = await b.listen(transport, HOST, 0, server_ctx)
        yield Pair(a, b, ua, ub, transport, b_port, a_port)
    finally:
        await a.close()
        await b.close()


class RawUdp(asyncio.DatagramProtocol):
    """A bare UDP socket: send bytes, read parsed messages."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls) -> RawUdp:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(cls, local_addr=(HOST, 0))
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.queue.put_nowait((data, addr))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, (HOST, port))

    async def recv(self, timeout: float = 2.0) -> Request | Response:
        data, _ = await asyncio.wait_for(self.queue.get(), timeout)
        return parse_datagram(data)

    async def silent(self, seconds: float) -> bool:
        """Nothing arrives for ``seconds``."""
        try:
            await asyncio.wait_for(self.queue.get(), seconds)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def raw_request(method: str, port: int, *, via: str | None = None, branch: str = "z9hG4bKraw1",
                call_id: str = "raw-1", cseq: int = 1, to_tag: str | None = None,
                extra: str = "", from_tag: str = "rawtag", body: bytes = b"",
                transport: str = "UDP", sent_by: str = "127.0.0.1:5999", rport: bool = True
                ) -> bytes:
    via = via or f"SIP/2.0/{transport} {sent_by};branch={branch}" + (";rport" if rport else "")
    to = "<sip:bob@moot.test>" + (f";tag={to_tag}" if to_tag else "")
    head = (f"{method} sip:bob@{HOST}:{port} SIP/2.0\r\n"
            f"Via: {via}\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:raw@moot.test>;tag={from_tag}\r\n"
            f"To: {to}\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:raw@{HOST}:5999>\r\n"
            f"{extra}"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


# calls over every transport ------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["UDP", "TCP", "TLS"])
async def test_invite_ack_info_reinvite_bye(transport: str, tmp_path: Path) -> None:
    async with pair(transport, tmp_path) as p:
        p.ub.ring = True
        provisional: list[int] = []
        response, dialog = await p.a.invite(p.invite(), p.dest,
                                            on_provisional=lambda r: provisional.append(r.status))
        assert response.status == 200 and dialog is not None
        assert dialog.transport == transport
        assert provisional == [180]
        assert response.body == SDP and response.content_type == "application/sdp"
        contact = response.contact
        assert contact is not None and contact.uri.port == p.b_port
        assert (contact.uri.params.get("transport") or "udp") == transport.lower()
        uas = p.ub.dialogs[0]
        await asyncio.wait_for(uas.acked.wait(), 3)
        assert uas.ack is not None and uas.ack.method == "ACK"
        assert dialog.key == (uas.call_id, uas.remote_tag, uas.local_tag)

        info = await dialog.request("INFO", body=b"Signal=5\r\n", content_type="application/dtmf-relay")
        assert info.status == 200
        assert p.ub.in_dialog[-1].method == "INFO" and p.ub.in_dialog[-1].body == b"Signal=5\r\n"

        reinvite = await dialog.request("INVITE", body=SDP, content_type="application/sdp")
        assert reinvite.status == 200
        await p.ub.wait_for(lambda: uas.ack is not None and uas.ack.cseq.number == reinvite.cseq.number)

        # B moves: its re-INVITE carries a new Contact, A's next request goes there.
        assert uas.local_target is not None
        uas.local_target.user = "moved"
        p.ua.requests.clear()
        dialog.on_request = p.ua.on_in_dialog
        back = await uas.request("INVITE", body=SDP, content_type="application/sdp")
        assert back.status == 200
        assert dialog.remote_target.user == "moved"

        bye = await dialog.bye()
        assert bye.status == 200
        assert dialog.state == "terminated"
        await asyncio.wait_for(uas.terminated.wait(), 3)
        assert p.ub.in_dialog[-1].method == "BYE" and p.ub.in_dialog[-1].uri.user == "moved"
        assert not p.a.dialogs and not p.b.dialogs
        if transport != "UDP":
            # One connection, reused both ways (18.2.2, 18.1.1).
            assert len(p.a.transports.connections) == 1
            assert len(p.b.transports.connections) == 1


@pytest.mark.parametrize("transport", ["UDP", "TCP", "TLS"])
async def test_cancel_gives_487(transport: str, tmp_path: Path) -> None:
    async with pair(transport, tmp_path) as p:
        p.ub.ring = True
        p.ub.hold = True
        rang = asyncio.Event()
        txn = await p.a.send_request(p.invite(), p.dest, on_provisional=lambda r: rang.set())
        await asyncio.wait_for(rang.wait(), 3)
        txn.cancel()
        final = await asyncio.wait_for(txn.final(), 3)
        assert final.status == 487
        server_txn = p.ub.requests[0]
        assert server_txn.cancelled.is_set()
        await p.ub.wait_for(lambda: server_txn.acked.is_set())  # the stack ACKed the 487


async def test_cancelling_the_invite_task_sends_cancel(tmp_path: Path) -> None:
    async with pair("UDP", tmp_path) as p:
        p.ub.ring = True
        p.ub.hold = True
        task = asyncio.ensure_future(p.a.invite(p.invite(), p.dest))
        await p.ub.wait_for(lambda: bool(p.ub.requests))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(p.ub.requests[0].cancelled.wait(), 3)


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_options_and_rejected_invite(transport: str, tmp_path: Path) -> None:
    async with pair(transport, tmp_path) as p:
        options = p.a.new_request("OPTIONS", p.uri(), from_="<sip:alice@moot.test>",
                                  to="<sip:bob@moot.test>")
        txn = await p.a.send_request(options, p.dest)
        ok = await txn.final()
        assert ok.status == 200
        assert "INVITE" in (ok.headers.get("Allow") or "")
        assert ok.headers.get("Accept") == "application/sdp"
        p.ub.answer = 486
        response, dialog = await p.a.invite(p.invite(), p.dest)
        assert response.status == 486 and dialog is None
        await p.ub.wait_for(lambda: p.ub.requests[-1].acked.is_set())


async def test_uas_checks(tmp_path: Path) -> None:
    async with pair("UDP", tmp_path) as p:
        async def send(method: str, *, to: str = "<sip:bob@moot.test>",
                       extra: list[tuple[str, str]] | None = None) -> Response:
            request = p.a.new_request(method, p.uri(), from_="<sip:alice@moot.test>", to=to,
                                      extra=extra)
            return await (await p.a.send_request(request, p.dest)).final()

        unknown = await send("FROBNICATE")
        assert unknown.status == 405
        assert "INVITE" in (unknown.headers.get("Allow") or "")
        required = await send("OPTIONS", extra=[("Require", "timer, 100rel, foo")])
        assert required.status == 420
        assert required.headers.get("Unsupported") == "100rel, foo"
        no_dialog = await send("BYE", to="<sip:bob@moot.test>;tag=nosuch")
        assert no_dialog.status == 481
        hops = p.a.new_request("INFO", p.uri(), from_="<sip:alice@moot.test>", to="<sip:bob@moot.test>")
        hops.headers.set("Max-Forwards", "0")
        assert (await (await p.a.send_request(hops, p.dest)).final()).status == 483
        ping = p.a.new_request("OPTIONS", p.uri(), from_="<sip:alice@moot.test>", to="<sip:bob@moot.test>")
        ping.headers.set("Max-Forwards", "0")
        assert (await (await p.a.send_request(ping, p.dest)).final()).status == 200
        # No handler answer for a non-INVITE: the stack answers 501.
        message = await send("NOTIFY", extra=[("Event", "dialog")])
        assert message.status == 501
        assert not p.ub.requests or all(t.request.method != "FROBNICATE" for t in p.ub.requests)


async def test_merged_request_gets_482(tmp_path: Path) -> None:
    async with pair("UDP", tmp_path) as p:
        p.ub.hold = True
        first = p.invite(call_id="merged-1")
        second = p.invite(call_id="merged-1")
        second.headers.set("From", first.headers.get("From") or "")
        t1 = await p.a.send_request(first, p.dest)
        await p.ub.wait_for(lambda: bool(p.ub.requests))
        t2 = await p.a.send_request(second, p.dest)  # same From tag, Call-ID, CSeq; new branch
        assert (await asyncio.wait_for(t2.final(), 3)).status == 482
        t1.cancel()
        assert len(p.ub.requests) == 1


async def test_cancel_without_invite_gets_481(tmp_path: Path) -> None:
    async with pair("UDP", tmp_path) as p:
        raw = await RawUdp.open()
        try:
            raw.send(raw_request("CANCEL", p.b_port, branch="z9hG4bKnoinvite"), p.b_port)
            response = await raw.recv()
            assert isinstance(response, Response) and response.status == 481
        finally:
            raw.close()


# wire details over raw sockets --------------------------------------------------------------
async def test_received_and_rport_and_retransmission_absorbed(tmp_path: Path) -> None:
    async with pair("UDP", tmp_path) as p:
        raw = await RawUdp.open()
        try:
            data = raw_request("OPTIONS", p.b_port,
                               via="SIP/2.0/UDP 10.9.9.9:5099;branch=z9hG4bKrport;rport")
            raw.send(data, p.b_port)
            first = await raw.recv()
            raw.send(data, p.b_port)  # a retransmission: the same response, no new TU call
            second = await raw.recv()
            assert isinstance(first, Response) and first.status == 200
            assert first.encode() == second.encode()
            via = first.top_via
            assert via.params["received"] == HOST
            assert via.params["rport"] == str(raw.port)
            assert len([t for t in p.ub.requests if t.request.method == "OPTIONS"]) == 1
        finally:
            raw.close()


async def test_without_rport_response_goes_to_via_port(tmp_path: Path) -> None:
    async with pair("UDP", tmp_path) as p:
        raw, other = await RawUdp.open(), await RawUdp.open()
        try:
            raw.send(raw_request("OPTIONS", p.b_port, sent_by=f"{HOST}:{other.port}", rport=False),
                     p.b_port)
            response = await other.recv()
            assert isinstance(response, Response) and response.status == 200
            assert "received" not in response.top_via.params
            assert await raw.silent(0.2)
        finally:
            raw.close()
            other.close()


async def test_2xx_retransmitted_until_ack(tmp_path: Path) -> None:
    async with pair("UDP", tmp_path) as p:
        raw = await RawUdp.open()
        try:
            raw.send(raw_request("INVITE", p.b_port, branch="z9hG4bKinv", call_id="rt-1",
                                 extra="Content-Type: application/sdp\r\n", body=SDP), p.b_port)
            oks = []
            for _ in range(3):  # 0, T1, 3*T1
                oks.append(await raw.recv())
            assert all(isinstance(m, Response) and m.status == 200 for m in oks)
            assert len({m.encode() for m in oks}) == 1
            tag = oks[0].to.tag
            raw.send(raw_request("ACK", p.b_port, branch="z9hG4bKack", call_id="rt-1",
                                 to_tag=tag), p.b_port)
            dialog = p.ub.dialogs[0]
            await asyncio.wait_for(dialog.acked.wait(), 2)
            # Drain what was in flight, then silence.
            with contextlib.suppress(TimeoutError):
                while True:
                    await raw.recv(0.12)
            assert await raw.silent(0.5)
        finally:
            raw.close()


async def test_no_ack_calls_on_ack_timeout(tmp_path: Path) -> None:
    async with pair("UDP", tmp_path, timers=Timers(t1=0.02, t2=0.1)) as p:
        raw = await RawUdp.open()
        timed_out = asyncio.Event()

        async def on_request(txn: ServerTransaction) -> None:
            ok = make_response(txn.request, 200)
            dialog = Dialog.create_uas(txn, ok)
            dialog.on_ack_timeout = timed_out.set
            await txn.respond(ok)

        p.ub.on_request = on_request  # type: ignore[method-assign]
        try:
            raw.send(raw_request("INVITE", p.b_port, branch="z9hG4bKnoack", call_id="noack"),
                     p.b_port)
            await asyncio.wait_for(timed_out.wait(), 3)  # 64*T1 = 1.28 s
            count = raw.queue.qsize()
            assert count >= 5  # retransmissions at 0, .02, .06, .14, .24, .34, ...
        finally:
            raw.close()


async def test_uac_acks_retransmitted_2xx(tmp_path: Path) -> None:
    async with pair("UDP", tmp_path) as p:
        raw = await RawUdp.open()
        try:
            request = p.a.new_request("INVITE", f"sip:bob@{HOST}:{raw.port}",
                                      from_="<sip:alice@moot.test>", to="<sip:bob@moot.test>")
            task = asyncio.ensure_future(p.a.invite(request, ("UDP", HOST, raw.port)))
            invite = await raw.recv()
            assert isinstance(invite, Request) and invite.method == "INVITE"
            assert "rport" in invite.top_via.params
            ok = make_response(invite, 200, to_tag="rawuas",
                               extra=[("Contact", f"<sip:bob@{HOST}:{raw.port}>")])
            raw.send(ok.encode(), p.a_port)
            ack = await raw.recv()
            assert isinstance(ack, Request) and ack.method == "ACK"
            assert ack.top_via.branch != invite.top_via.branch
            assert ack.cseq.number == invite.cseq.number and ack.to.tag == "rawuas"
            response, dialog = await task
            assert response.status == 200 and dialog is not None
            raw.send(ok.encode(), p.a_port)  # the 2xx again: the same ACK again
            again = await raw.recv()
            assert again.encode() == ack.encode()
        finally:
            raw.close()


async def test_timer_b_gives_408_against_silent_peer(tmp_path: Path) -> None:
    async with pair("UDP", tmp_path, timers=Timers(t1=0.02)) as p:
        raw = await RawUdp.open()
        try:
            request = p.a.new_request("INVITE", f"sip:x@{HOST}:{raw.port}",
                                      from_="<sip:alice@moot.test>", to="<sip:x@moot.test>")
            started = time.monotonic()
            txn = await p.a.send_request(request, ("UDP", HOST, raw.port))
            final = await asyncio.wait_for(txn.final(), 5)
            assert final.status == 408
            assert 1.1 < time.monotonic() - started < 3
            # Timer A: sent at 0, .02, .06, .14, .30, .62 and 1.26 s (the last one only
            # 20 ms before Timer B: a busy machine may not get to it).
            assert 6 <= raw.queue.qsize() <= 7
        finally:
            raw.close()


async def test_tcp_refused_gives_503(tmp_path: Path) -> None:
    async with pair("TCP", tmp_path) as p:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        request = p.a.new_request("OPTIONS", f"sip:x@{HOST}:{port};transport=tcp",
                                  from_="<sip:alice@moot.test>", to="<sip:x@moot.test>")
        txn = await p.a.send_request(request, ("TCP", HOST, port))
        assert (await asyncio.wait_for(txn.final(), 3)).status == 503


async def test_connection_closed_while_waiting_gives_503(tmp_path: Path) -> None:
    async with pair("TCP", tmp_path) as p:
        got = asyncio.Event()

        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            got.set()
            writer.close()

        server = await asyncio.start_server(swallow, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        try:
            request = p.a.new_request("INVITE", f"sip:x@{HOST}:{port};transport=tcp",
                                      from_="<sip:alice@moot.test>", to="<sip:x@moot.test>")
            txn = await p.a.send_request(request, ("TCP", HOST, port))
            assert (await asyncio.wait_for(txn.final(), 3)).status == 503
            assert got.is_set()
        finally:
            server.close()


async def open_tcp(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(HOST, port)


async def read_message(reader: asyncio.StreamReader, timeout: float = 2) -> Response:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith((b"content-length:", b"l:")):
            length = int(line.split(b":", 1)[1])
    body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
    message = parse_datagram(head + body)
    assert isinstance(message, Response)
    return message


async def test_tcp_response_on_same_connection_and_keepalive(tmp_path: Path) -> None:
    async with pair("TCP", tmp_path) as p:
        reader, writer = await open_tcp(p.b_port)
        try:
            # Via names a port nobody listens on: the response still comes back here.
            writer.write(raw_request("OPTIONS", p.b_port, transport="TCP", sent_by=f"{HOST}:1",
                                     rport=False))
            response = await read_message(reader)
            assert response.status == 200
            assert response.top_via.params.get("received") is None
            writer.write(b"\r\n\r\n")  # RFC 5626 ping
            assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"
            # Two messages in one write are both answered, in order.
            writer.write(raw_request("OPTIONS", p.b_port, transport="TCP", branch="z9hG4bKp1")
                         + raw_request("OPTIONS", p.b_port, transport="TCP", branch="z9hG4bKp2",
                                       cseq=2))
            first, second = await read_message(reader), await read_message(reader)
            assert [first.top_via.branch, second.top_via.branch] == ["z9hG4bKp1", "z9hG4bKp2"]
        finally:
            writer.close()


async def test_connection_limit_and_idle_timeout(tmp_path: Path) -> None:
    async with pair("TCP", tmp_path, max_connections=2, idle_timeout=0.4) as p:
        conns = [await open_tcp(p.b_port) for _ in range(2)]
        await asyncio.sleep(0.05)
        reader3, writer3 = await open_tcp(p.b_port)
        assert await asyncio.wait_for(reader3.read(), 2) == b""  # refused at once
        writer3.close()
        assert len(p.b.transports.connections) == 2
        # Activity keeps a connection open; the silent one is closed.
        for _ in range(4):
            conns[0][1].write(b"\r\n\r\n")
            await asyncio.wait_for(conns[0][0].readexactly(2), 2)
            await asyncio.sleep(0.15)
        assert await asyncio.wait_for(conns[1][0].read(), 2) == b""
        assert len(p.b.transports.connections) == 1
        for _, writer in conns:
            writer.close()


# session timers ------------------------------------------------------------------------------
async def test_session_refresher_refreshes_and_the_other_side_expires(tmp_path: Path) -> None:
    async with pair("UDP", tmp_path) as p:
        _, dialog = await p.a.invite(p.invite(), p.dest)
        assert dialog is not None
        uas = p.ub.dialogs[0]
        refresher = SessionRefresher(dialog, SessionTimer(1, "uac", we_refresh=True))
        refresher.start()
        await asyncio.sleep(1.3)
        updates = [r for r in p.ub.in_dialog if r.method == "UPDATE"]
        assert len(updates) == 2  # at 0.5 s and 1.0 s
        assert updates[0].headers.get("Session-Expires") == "1;refresher=uac"
        assert refresher.refreshes == 2
        refresher.stop()
        # B expects refreshes every 1.5 s; none come: B sends BYE before expiry (1.5 - 0.5).
        expired = asyncio.Event()
        watcher = SessionRefresher(uas, SessionTimer(1, "uac", we_refresh=False),
                                   on_expired=expired.set)
        dialog.on_request = p.ua.on_in_dialog
        watcher.start()
        await asyncio.wait_for(expired.wait(), 3)
        await asyncio.wait_for(dialog.terminated.wait(), 2)
        assert uas.state == "terminated"
        assert p.ua.in_dialog[-1].method == "BYE"


# RFC 3263 --------------------------------------------------------------------------------------
class FakeDns(asyncio.DatagramProtocol):
    """Answers A/AAAA/SRV from a table; counts queries."""

    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = records
        self.queries: list[tuple[str, str]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text().rstrip(".")
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        reply = dns.message.make_response(query)
        values = self.records.get((name, rdtype))
        if values:
            reply.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", rdtype, values))
        elif not any(n == name for n, _ in self.records):
            reply.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(reply.to_wire(), addr)


@contextlib.asynccontextmanager
async def fake_dns(records: dict[tuple[str, str], list[str]]) -> AsyncIterator[tuple[FakeDns, int]]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: FakeDns(records),
                                                           local_addr=(HOST, 0))
    try:
        yield proto, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


async def test_rfc3263_resolution() -> None:
    records = {
        ("_sip._udp.example.test", "SRV"): ["10 60 5070 sip1.example.test.",
                                              "20 0 5080 sip2.example.test."],
        ("_sip._tcp.example.test", "SRV"): ["10 0 5072 sip1.example.test."],
        ("_sips._tcp.example.test", "SRV"): ["10 0 5071 sip1.example.test."],
        ("sip1.example.test", "A"): ["127.0.0.1"],
        ("sip2.example.test", "A"): ["127.0.0.2"],
        ("sip2.example.test", "AAAA"): ["::1"],
        ("plain.example.test", "A"): ["127.0.0.3"],
    }
    async with fake_dns(records) as (server, port):
        resolver = Resolver([HOST], port=port, timeout=2)
        targets = await resolver.resolve(SipUri.parse("sip:bob@example.test"))
        assert targets == [Target("UDP", "127.0.0.1", 5070), Target("UDP", "127.0.0.2", 5080),
                           Target("UDP", "::1", 5080), Target("TCP", "127.0.0.1", 5072),
                           Target("TLS", "127.0.0.1", 5071)]
        assert await resolver.resolve(SipUri.parse("sips:bob@example.test")) == [
            Target("TLS", "127.0.0.1", 5071)]
        assert await resolver.resolve(SipUri.parse("sip:bob@example.test;transport=tcp")) == [
            Target("TCP", "127.0.0.1", 5072)]
        # A port in the URI: no SRV, A/AAAA only.
        before = len(server.queries)
        assert await resolver.resolve(SipUri.parse("sip:x@sip2.example.test:6000")) == [
            Target("UDP", "127.0.0.2", 6000), Target("UDP", "::1", 6000)]
        assert all(t != "SRV" for _, t in server.queries[before:])
        # No SRV records: A with the default port.
        assert await resolver.resolve(SipUri.parse("sip:x@plain.example.test")) == [
            Target("UDP", "127.0.0.3", 5060)]
        assert await resolver.resolve(SipUri.parse("sip:x@nowhere.example.test")) == []
        # IP literals need no DNS at all.
        before = len(server.queries)
        assert await resolver.resolve(SipUri.parse("sip:x@192.0.2.4")) == [
            Target("UDP", "192.0.2.4", 5060)]
        assert await resolver.resolve(SipUri.parse("sips:x@[2001:db8::1]:5090")) == [
            Target("TLS", "2001:db8::1", 5090)]
        assert await resolver.resolve(SipUri.parse("sip:x@192.0.2.4"),
                                      proxy="sip:127.0.0.9:5062;transport=tcp") == [
            Target("TCP", "127.0.0.9", 5062)]
        assert len(server.queries) == before
        # Answers are cached.
        await resolver.resolve(SipUri.parse("sip:bob@example.test"))
        await resolver.resolve(SipUri.parse("sip:bob@example.test"))
        assert server.queries.count(("_sip._udp.example.test", "SRV")) == 1


async def test_call_to_a_domain_through_srv(tmp_path: Path) -> None:
    async with pair("UDP", tmp_path) as p:
        records = {("_sip._udp.bridge.test", "SRV"): [f"0 0 {p.b_port} b.bridge.test."],
                   ("b.bridge.test", "A"): [HOST]}
        async with fake_dns(records) as (_, port):
            p.a.resolver = Resolver([HOST], port=port)
            uri = SipUri.parse("sip:bob@bridge.test")
            targets = await p.a.resolve(uri)
            assert targets == [Target("UDP", HOST, p.b_port)]
            request = p.a.new_request("INVITE", uri, from_="<sip:alice@moot.test>",
                                      to="<sip:bob@bridge.test>")
            response, dialog = await p.a.invite(request, targets[0])
            assert response.status == 200 and dialog is not None
            assert (await dialog.bye()).status == 200


# sipp ------------------------------------------------------------------------------------------
def sipp_available() -> bool:
    return shutil.which("sipp") is not None


async def run_sipp(args: list[str], timeout: float = 60) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "sipp", *args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.skipif(not sipp_available(), reason="sipp not installed")
@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_sipp_uac_calls(transport: str, tmp_path: Path) -> None:
    handler = Uas()
    endpoint = SipEndpoint(handler)
    _, port = await endpoint.listen(transport, HOST, 0)
    calls = 200
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((HOST, 0))
            local_port = s.getsockname()[1]
        args = ["-sn", "uac", f"{HOST}:{port}", "-i", HOST, "-p", str(local_port),
                "-m", str(calls), "-r", "100", "-d", "0", "-nostdin", "-timeout", "40",
                "-timeout_error", "-max_recv_loops", "10000",
                "-trace_stat", "-stf", str(tmp_path / "stat.csv")]
        if transport == "TCP":
            args += ["-t", "t1"]
        started = time.monotonic()
        code, out = await run_sipp(args)
        elapsed = time.monotonic() - started
        assert code == 0, out[-3000:]
        stats = (tmp_path / "stat.csv").read_text().splitlines()
        header, last = stats[0].split(";"), stats[-1].split(";")
        row = dict(zip(header, last, strict=False))
        assert int(row["SuccessfulCall(C)"]) == calls
        assert int(row["FailedCall(C)"]) == 0
        assert elapsed < 20
        invites = [t for t in handler.requests if t.request.method == "INVITE"]
        assert len(invites) == calls
        assert all(d.state == "terminated" for d in handler.dialogs)
        assert not endpoint.dialogs
    finally:
        await endpoint.close()

