"""Malformed SIP over UDP, TCP and TLS: each message gets its status or silence, and a call
set up before keeps working (RFC 3261 18.3, 21.4; the SipParseError statuses)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest

from moot.sip.message import Request, Response
from tests.integration.test_sip_endpoint import (
    HOST,
    SDP,
    Pair,
    RawUdp,
    pair,
    raw_request,
    read_message,
)

#: Expectation on a stream after the message: it stays open waiting for more bytes.
WAIT = "wait"
# A case with a status closes its stream after the answer unless ``tcp_stays_open``
# (well-formed messages leave the framing intact); a silent one closes it too (bad
# framing) unless ``tcp_stays_open`` (a stray response, dropped).


def build(method: str = "OPTIONS", *, uri: str = "sip:bob@127.0.0.1", version: str = "SIP/2.0",
          drop: tuple[str, ...] = (), extra: str = "", body: bytes = b"",
          length: int | str | None = None, cseq_method: str | None = None,
          branch: str = "z9hG4bKbad", transport: str = "UDP") -> bytes:
    lines = [f"{method} {uri} {version}"]
    headers = {
        "Via": f"SIP/2.0/{transport} 127.0.0.1:5999;branch={branch};rport",
        "Max-Forwards": "70",
        "From": "<sip:mallory@moot.test>;tag=m1",
        "To": "<sip:bob@moot.test>",
        "Call-ID": f"bad-{branch}",
        "CSeq": f"1 {cseq_method or method}",
        "Contact": "<sip:mallory@127.0.0.1:5999>",
    }
    lines += [f"{name}: {value}" for name, value in headers.items() if name not in drop]
    if extra:
        lines.append(extra)
    lines.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


@dataclass
class Case:
    name: str
    data: bytes
    udp: int | None  # the status over UDP, None for silence
    tcp: int | str | None  # the status over TCP (then the connection closes), None, WAIT
    tcp_stays_open: bool = False


def corpus(transport: str) -> list[Case]:
    def b(name: str, **kw: object) -> bytes:
        return build(branch=f"z9hG4bK-{name}", transport=transport, **kw)  # type: ignore[arg-type]

    whole = b("truncated")
    cut_in_from = whole[: whole.index(b"From:") + 10]
    cut_after_cseq = whole[: whole.index(b"Contact:")]
    return [
        Case("truncated", cut_in_from, None, WAIT),
        Case("truncated_after_cseq", cut_after_cseq, 400, WAIT),
        Case("oversized_header", b("oversized_header", extra="Subject: " + "x" * 20_000), 413, 413),
        Case("header_line_too_long", b("header_line_too_long", extra="Subject: " + "x" * 9000),
             400, 400),
        Case("too_many_headers", b("too_many_headers",
                                   extra="\r\n".join(f"X-H{i}: v" for i in range(200))), 400, 400),
        Case("content_length_larger", b("content_length_larger", body=b"abc", length=10), 400, WAIT),
        # Extra bytes after the body: dropped on UDP; on a stream they start the next message.
        Case("content_length_smaller", b("content_length_smaller", body=b"abcdef", length=3),
             200, 200, tcp_stays_open=True),
        Case("content_length_not_a_number", b("content_length_not_a_number", length="ten"),
             400, 400),
        Case("content_length_negative", b("content_length_negative", length="-1"), 400, 400),
        Case("missing_via", b("missing_via", drop=("Via",)), None, None),
        Case("missing_call_id", b("missing_call_id", drop=("Call-ID",)), 400, 400),
        Case("missing_cseq", b("missing_cseq", drop=("CSeq",)), None, None),  # cannot be matched
        Case("missing_from", b("missing_from", drop=("From",)), 400, 400),
        Case("missing_to", b("missing_to", drop=("To",)), 400, 400),
        Case("cseq_method_mismatch", b("cseq_method_mismatch", cseq_method="INFO"), 400, 400),
        Case("cseq_not_a_number", b("cseq_not_a_number").replace(b"CSeq: 1 ", b"CSeq: -1 "),
             400, 400),
        Case("bad_request_line", b("bad_request_line").replace(b"OPTIONS sip:", b"OPTIONS  sip:", 1),
             400, 400),
        Case("request_line_without_version",
             b("request_line_without_version").replace(b" SIP/2.0\r\n", b"\r\n", 1), None, None),
        Case("sip_3_0", b("sip_3_0", version="SIP/3.0"), 505, 505),
        Case("garbage", bytes(range(256)) * 80, None, None),
        Case("nul_in_header_name", b("nul_in_header_name", extra="Sub\x00ject: x"), 400, 400),
        Case("nul_in_method", b("nul_in_method").replace(b"OPTIONS", b"OPT\x00IONS", 1), None, None),
        Case("not_utf8", b("not_utf8", extra="Subject: \udcff"), 400, 400),
        Case("body_too_large", b("body_too_large", method="INFO",
                                 body=b"x" * (64_000 if transport == "UDP" else 70_000)), 413, 413),
        Case("folding_abuse", b("folding_abuse", extra="Subject: a" + "\r\n b" * 5000), 413, 413),
        Case("folding_long_line", b("folding_long_line", extra="Subject: a" + "\r\n " + "b" * 8200),
             400, 400),
        Case("continuation_before_headers",
             b("continuation_before_headers").replace(b"\r\nVia", b"\r\n  folded\r\nVia", 1),
             400, 400),
        Case("unsupported_uri_scheme", b("unsupported_uri_scheme", method="INVITE",
                                         uri="http://example.com/"), 416, 416),
        Case("request_uri_too_long", b("request_uri_too_long", uri="sip:" + "a" * 3000 + "@x"),
             414, 414),
        Case("bad_max_forwards",
             b("bad_max_forwards").replace(b"Max-Forwards: 70", b"Max-Forwards: lots"), 400, 400),
        Case("bad_via", b("bad_via").replace(b"127.0.0.1:5999;branch", b";branch", 1), None, None),
        Case("bad_from", b("bad_from").replace(b"tag=m1", b"tag=m1", 1).replace(
            b"From: <sip:mallory@moot.test>", b"From: <sip:mallory@moot.test", 1), 400, 400),
        Case("to_with_http_uri", b("to_with_http_uri").replace(
            b"To: <sip:bob@moot.test>", b"To: <http://bob.example>", 1), 400, 400),
        Case("malformed_ack", b("malformed_ack", method="ACK", drop=("Call-ID",)), None, None),
        Case("malformed_response", b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x\r\n"
                                   b"Content-Length: 0\r\n\r\n", None, None),
        Case("response_sip_3_0", b"SIP/3.0 200 OK\r\nContent-Length: 0\r\n\r\n", None, None),
        Case("stray_response", b("stray").replace(b"OPTIONS sip:bob@127.0.0.1 SIP/2.0",
                                                  b"SIP/2.0 200 OK", 1), None, None,
             tcp_stays_open=True),
        # Parsed, but its Contact is broken: the dialog cannot be made (BadRequest), 400.
        Case("invite_with_bad_contact", b("invite_with_bad_contact", method="INVITE").replace(
            b"Contact: <sip:mallory@127.0.0.1:5999>", b"Contact: <sip:mallory@", 1), 400, 400,
            tcp_stays_open=True),
        Case("invite_without_contact", b("invite_without_contact", method="INVITE",
                                         drop=("Contact",)), 400, 400, tcp_stays_open=True),
    ]


async def establish(p: Pair) -> object:
    response, dialog = await p.a.invite(p.invite(), p.dest)
    assert response.status == 200 and dialog is not None
    await asyncio.wait_for(p.ub.dialogs[0].acked.wait(), 3)
    return dialog


async def still_working(dialog: object) -> None:
    from moot.sip.dialog import Dialog

    assert isinstance(dialog, Dialog)
    assert (await dialog.request("OPTIONS")).status == 200
    info = await dialog.request("INFO", body=b"Signal=1\r\nDuration=160\r\n",
                                content_type="application/dtmf-relay")
    assert info.status == 200
    assert (await dialog.request("INVITE", body=SDP, content_type="application/sdp")).status == 200
    assert (await dialog.bye()).status == 200


def branch_of(data: bytes) -> str | None:
    marker = b"branch="
    at = data.find(marker)
    if at < 0:
        return None
    end = at + len(marker)
    while end < len(data) and data[end:end + 1] not in (b";", b"\r", b"\n", b",", b" "):
        end += 1
    return data[at + len(marker):end].decode()


@dataclass
class Loose:
    """A response read without the strict parser (error answers may lack Call-ID etc)."""

    status: int
    headers: dict[str, str]

    @classmethod
    def parse(cls, data: bytes) -> Loose:
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        assert head[0].startswith("SIP/2.0 "), head[0]
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        return cls(int(head[0].split()[1]), headers)

    @property
    def branch(self) -> str | None:
        return branch_of(self.headers.get("via", "").encode("latin-1"))

    @property
    def to_tag(self) -> str | None:
        to = self.headers.get("to", "")
        return to.split("tag=", 1)[1].split(";")[0] if "tag=" in to else None


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


async def test_malformed_over_udp(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with pair("UDP", tmp_path) as p:
        dialog = await establish(p)
        raw = await RawUdp.open()
        wrong: list[str] = []
        try:
            for number, case in enumerate(corpus("UDP")):
                raw.send(case.data, p.b_port)
                # A valid probe after each case: what arrives before its answer is the
                # case's answer (the endpoint handles datagrams in order).
                probe = f"z9hG4bKprobe{number}"
                raw.send(raw_request("OPTIONS", p.b_port, branch=probe, call_id=f"probe{number}"),
                         p.b_port)
                before: list[Loose] = []
                while True:
                    data, _ = await asyncio.wait_for(raw.queue.get(), 3)
                    message = Loose.parse(data)
                    if message.branch == probe:
                        break
                    before.append(message)
                    if message.headers.get("cseq", "").endswith("INVITE") and message.status >= 300:
                        ack = raw_request("ACK", p.b_port, branch=message.branch or "",
                                          call_id=message.headers["call-id"],
                                          to_tag=message.to_tag, from_tag="m1")
                        raw.send(ack, p.b_port)
                got = [m.status for m in before]
                want = [] if case.udp is None else [case.udp]
                if got != want:
                    wrong.append(f"{case.name}: got {got}, want {want}")
                elif before and before[0].branch != branch_of(case.data):
                    wrong.append(f"{case.name}: answered with another branch")
                elif before and "cseq" not in before[0].headers:
                    wrong.append(f"{case.name}: the answer has no CSeq")
        finally:
            raw.close()
        assert not wrong, "\n".join(wrong)
        assert p.b.transports.stats["parse_errors"] >= 30
        await still_working(dialog)
    assert not no_errors_logged(caplog)


async def test_oversized_datagram_is_not_sendable_and_large_one_gets_413(tmp_path: Path) -> None:
    """A 70 KB datagram does not exist (the IPv4 limit is 65,507 bytes of payload): the
    largest one possible gets 413."""
    async with pair("UDP", tmp_path) as p:
        raw = await RawUdp.open()
        try:
            import socket

            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(OSError):
                s.sendto(b"x" * 70_000, (HOST, p.b_port))
            head = len(build("MESSAGE", branch="z9hG4bKhuge", length=10_000))
            data = build("MESSAGE", branch="z9hG4bKhuge", body=b"y" * (65_507 - head))
            assert len(data) == 65_507
            raw.send(data, p.b_port)
            response = await raw.recv()
            assert isinstance(response, Response) and response.status == 413
        finally:
            raw.close()


async def test_malformed_over_tcp(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with pair("TCP", tmp_path) as p:
        dialog = await establish(p)
        wrong: list[str] = []
        for case in corpus("TCP"):
            reader, writer = await asyncio.open_connection(HOST, p.b_port)
            try:
                writer.write(case.data)
                if case.tcp == WAIT or (case.tcp is None and case.tcp_stays_open):
                    try:
                        data = await asyncio.wait_for(reader.read(1), 0.3)
                        wrong.append(f"{case.name}: got {data!r}, want to wait for more")
                    except TimeoutError:
                        pass
                    continue
                if case.tcp is None:
                    data = await asyncio.wait_for(reader.read(), 3)
                    if data:
                        wrong.append(f"{case.name}: got {data[:60]!r}, want silence")
                    continue
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
                    response = Loose.parse(head)
                except (asyncio.IncompleteReadError, TimeoutError) as exc:
                    wrong.append(f"{case.name}: no response ({exc!r}), want {case.tcp}")
                    continue
                if response.status != case.tcp:
                    wrong.append(f"{case.name}: got {response.status}, want {case.tcp}")
                elif response.branch != branch_of(case.data):
                    wrong.append(f"{case.name}: answered with another branch")
                if case.tcp_stays_open:
                    continue
                # A broken stream is closed after the answer (framing cannot be trusted).
                rest = await asyncio.wait_for(reader.read(), 3)
                if rest:
                    wrong.append(f"{case.name}: more data after the answer: {rest[:60]!r}")
            finally:
                writer.close()
        assert not wrong, "\n".join(wrong)
        await still_working(dialog)
        # Only the call's connection is left.
        for _ in range(50):
            if len(p.b.transports.connections) == 1:
                break
            await asyncio.sleep(0.02)
        assert len(p.b.transports.connections) == 1
    assert not no_errors_logged(caplog)


async def test_pipelined_garbage_closes_only_that_connection(tmp_path: Path) -> None:
    async with pair("TCP", tmp_path) as p:
        dialog = await establish(p)
        reader, writer = await asyncio.open_connection(HOST, p.b_port)
        good = raw_request("OPTIONS", p.b_port, transport="TCP", branch="z9hG4bKgood1")
        writer.write(good)
        first = await read_message(reader)
        assert first.status == 200
        writer.write(b"\x00\x01garbage that is not SIP\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 3) == b""
        writer.close()
        await still_working(dialog)


async def test_tls_garbage_does_not_disturb_calls(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with pair("TLS", tmp_path, handshake_timeout=0.5) as p:
        dialog = await establish(p)
        # A connection that never says anything: closed when the handshake deadline passes,
        # while the call goes on meanwhile.
        idle_reader, idle_writer = await asyncio.open_connection(HOST, p.b_port)
        # Garbage where a ClientHello should be, and plain-text SIP on the TLS port.
        for junk in (bytes(range(256)) * 4,
                     b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\xff" * 600,
                     raw_request("OPTIONS", p.b_port, transport="TLS")):
            reader, writer = await asyncio.open_connection(HOST, p.b_port)
            writer.write(junk)
            try:
                data = await asyncio.wait_for(reader.read(), 3)
            except ConnectionResetError:
                data = b""
            assert b"SIP/2.0" not in data
            writer.close()
        assert (await dialog.request("OPTIONS")).status == 200  # type: ignore[attr-defined]
        try:
            assert await asyncio.wait_for(idle_reader.read(), 3) == b""
        except ConnectionResetError:
            pass
        idle_writer.close()
        # A proper TLS connection that then sends SIP garbage: closed, nothing else is.
        ctx = ssl.create_default_context(cafile=str(tmp_path / "sip.crt"))
        reader, writer = await asyncio.open_connection(HOST, p.b_port, ssl=ctx)
        writer.write(b"NOT SIP AT ALL\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 3) == b""
        writer.close()
        # And a good TLS client is still served.
        reader, writer = await asyncio.open_connection(HOST, p.b_port, ssl=ctx)
        writer.write(raw_request("OPTIONS", p.b_port, transport="TLS", branch="z9hG4bKtlsok"))
        response = await read_message(reader)
        assert response.status == 200
        writer.close()
        await still_working(dialog)
    assert not no_errors_logged(caplog)


async def test_requests_never_raise_out_of_the_endpoint(tmp_path: Path) -> None:
    """Each well-formed request a broken handler chokes on still gets 500."""
    async with pair("UDP", tmp_path) as p:
        async def broken(txn: object) -> None:
            raise RuntimeError("handler bug")

        p.ub.on_request = broken  # type: ignore[assignment,method-assign]
        raw = await RawUdp.open()
        try:
            raw.send(raw_request("OPTIONS", p.b_port, branch="z9hG4bKboom"), p.b_port)
            response = await raw.recv()
            assert isinstance(response, Response) and response.status == 500
            assert not isinstance(response, Request)
        finally:
            raw.close()
