"""``turn`` MMP commands, and a node relaying for aioice in both process modes."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aioice.turn import create_turn_endpoint

from moot.node.datadir import DataDir
from tests.helpers import RunningNode, free_port, mmp
from tests.turn_helpers import peer_socket

TURN_PASSWORD = "Turn-Pa55word"


def _ok(dd: DataDir, command: str) -> str:
    res = mmp(dd, command)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout, res.stdout
    return res.stdout


def _fails(dd: DataDir, command: str, text: str) -> None:
    res = mmp(dd, command)
    assert res.returncode != 0 and "FAILURE" in res.stdout and text in res.stdout, res.stdout


def _configure(dd: DataDir, port: int, relay_low: int) -> None:
    _ok(dd, "turn listen a")
    _ok(dd, f"turn credentials webrtc {TURN_PASSWORD} moot.test")
    _ok(dd, f"turn port {port}")
    _ok(dd, f"turn relay-ports {relay_low} {relay_low + 99}")
    _ok(dd, "turn allow-peers 127.0.0.1/32")


def test_status_table_masks_secrets(datadir: DataDir) -> None:
    out = mmp(datadir, "turn").stdout
    assert "Enabled                 : false" in out
    assert "Username                : none" in out
    assert "High Capacity Mode      : enabled" in out
    assert "TLS port                : none" in out
    _ok(datadir, f"turn credentials webrtc {TURN_PASSWORD} moot.test")
    _ok(datadir, "turn shared-secret 0123456789abcdef-secret")
    _ok(datadir, "turn listen a b")
    _ok(datadir, "turn public-ip 203.0.113.7")
    _ok(datadir, "turn tls 5349")
    out = mmp(datadir, "turn").stdout
    assert "Username                : webrtc" in out
    assert "Password                : ********" in out
    assert "Shared secret           : ********" in out
    assert "Realm                   : moot.test" in out
    assert "Public IP               : 203.0.113.7" in out
    assert "Relay address           : 127.0.0.1" in out
    assert "TLS port                : 5349" in out
    assert "Listen interface      a" in out and "Listen interface      b" in out
    assert TURN_PASSWORD not in out and "0123456789abcdef" not in out
    # The audit log masks the password typed on the command line.
    audit = datadir.audit_log.read_text()
    assert "turn credentials webrtc" in audit
    assert TURN_PASSWORD not in audit and "0123456789abcdef-secret" not in audit


def test_bad_values_change_nothing(datadir: DataDir) -> None:
    _fails(datadir, "turn tls 70000", "invalid port")
    _fails(datadir, "turn public-ip 300.1.1.1", "not an IPv4 address")
    _fails(datadir, "turn listen a none", "cannot be combined")
    _fails(datadir, "turn relay-ports 5000 5001", "at least 16 ports")
    _fails(datadir, "turn allow-peers 10.0.0.0/33", "not an IP address")
    _fails(datadir, "turn credentials u p " + "r" * 40, "at most 32 bytes")
    _fails(datadir, "turn shared-secret short", "at least 16")
    _fails(datadir, "turn enable", "turn credentials")
    _fails(datadir, "turn certs nokey.pem nocrt.pem", "")
    out = mmp(datadir, "turn").stdout
    assert "TLS port                : none" in out and "Public IP               : none" in out
    assert "Relay port range        : 49152-65535" in out and "Enabled                 : false" in out


async def _relay_through(port: int) -> None:
    async with peer_socket() as peer:
        class Receiver(asyncio.DatagramProtocol):
            def __init__(self) -> None:
                self.queue: asyncio.Queue[bytes] = asyncio.Queue()

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                self.queue.put_nowait(data)

        # Several clients: with SO_REUSEPORT they spread over the workers.
        for n in range(4):
            transport, client = await create_turn_endpoint(
                Receiver, ("127.0.0.1", port), "webrtc", TURN_PASSWORD
            )
            try:
                transport.sendto(b"ping %d" % n, peer.address)
                data, source = await asyncio.wait_for(peer.queue.get(), 5)
                assert data == b"ping %d" % n
                assert peer.transport is not None
                peer.transport.sendto(b"pong %d" % n, source)
                assert await asyncio.wait_for(client.queue.get(), 5) == b"pong %d" % n
            finally:
                transport.close()
                await asyncio.sleep(0.2)


@pytest.mark.parametrize("highcapacity", ["enable", "disable"])
def test_node_relays_for_aioice(datadir: DataDir, ports: object, highcapacity: str) -> None:
    port = free_port(socket.SOCK_DGRAM)
    _configure(datadir, port, free_port(socket.SOCK_DGRAM) // 2 + 20000)
    _ok(datadir, f"turn highcapacity-mode {highcapacity}")
    node = RunningNode(datadir, ports).start()  # type: ignore[arg-type]
    try:
        _ok(datadir, "turn enable")
        status = mmp(datadir, "turn").stdout
        mode = "worker processes" if highcapacity == "enable" else "single process"
        assert "STATUS                  : turn running" in status and mode in status, status
        asyncio.run(_relay_through(port))
        assert "turn restarted" in _ok(datadir, "turn restart")
        asyncio.run(_relay_through(port))
        _ok(datadir, "turn disable")
        assert "STATUS                  : turn disabled" in mmp(datadir, "turn").stdout
    finally:
        node.stop()
