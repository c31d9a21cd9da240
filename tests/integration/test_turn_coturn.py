"""coturn's own test client (turnutils_uclient) relaying through Moot's TURN server
to coturn's echo peer (turnutils_peer): UDP, TCP, TLS, channels, Send indications,
RTCP pairs (EVEN-PORT + RESERVATION-TOKEN) and time-limited REST credentials."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.turn_helpers import PASSWORD, SECRET, USER, running_turn

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("turnutils_uclient") is None, reason="coturn is not installed (scripts/test installs it)"
    ),
]

MESSAGES = 40
CLIENTS = 4  # uclient pairs sessions (RTP/RTCP): keep it even


@asynccontextmanager
async def echo_peer() -> AsyncIterator[int]:
    port = free_port(socket.SOCK_DGRAM)
    proc = await asyncio.create_subprocess_exec(
        "turnutils_peer", "-L", "127.0.0.1", "-p", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(0.3)
    try:
        yield port
    finally:
        proc.terminate()
        await proc.wait()


async def uclient(*args: str, timeout: float = 60) -> str:
    """uclient's output; a client still retrying after ``timeout`` is stopped."""
    proc = await asyncio.create_subprocess_exec(
        "turnutils_uclient", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    chunks: list[bytes] = []

    async def collect() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(4096):
            chunks.append(chunk)

    try:
        await asyncio.wait_for(collect(), timeout)
    except TimeoutError:
        proc.kill()
    await proc.wait()
    return b"".join(chunks).decode(errors="replace")


def relayed_counts(output: str) -> tuple[int, int, int]:
    """(sent, received, lost) from uclient's closing summary."""
    totals = re.findall(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", output)
    lost = re.findall(r"Total lost packets (\d+) \(", output)
    assert totals and lost, output[-2000:]
    return int(totals[-1][0]), int(totals[-1][1]), int(lost[-1])


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(["-c"], id="udp-channels"),
        pytest.param(["-c", "-s"], id="udp-send-indications"),
        pytest.param([], id="udp-rtcp-pairs-even-port"),
        pytest.param(["-t"], id="tcp"),
        pytest.param(["-t", "-s"], id="tcp-send-indications"),
        pytest.param(["-c", "-D"], id="udp-padded-channels"),
    ],
)
async def test_uclient_relays_through_moot(flags: list[str]) -> None:
    async with running_turn(user_quota=100) as turn, echo_peer() as peer_port:
        out = await uclient(
            *flags, "-e", "127.0.0.1", "-r", str(peer_port), "-u", USER, "-w", PASSWORD,
            "-p", str(turn.port), "-n", str(MESSAGES), "-m", str(CLIENTS), "-l", "120", "127.0.0.1",
        )
        sent, received, lost = relayed_counts(out)
        assert sent == MESSAGES * CLIENTS, out[-1500:]
        assert received >= sent * 0.98 and lost <= sent * 0.02, out[-1500:]
        assert "error" not in out.lower(), out[-1500:]


async def test_uclient_over_tls(tmp_path: Path) -> None:
    async with running_turn(tls_dir=tmp_path, user_quota=100) as turn, echo_peer() as peer_port:
        assert turn.tls_port is not None
        out = await uclient(
            "-t", "-S", "-E", str(tmp_path / "turn.crt"), "-e", "127.0.0.1", "-r", str(peer_port),
            "-u", USER, "-w", PASSWORD, "-p", str(turn.tls_port), "-n", str(MESSAGES),
            "-m", "2", "127.0.0.1",
        )
        sent, received, _ = relayed_counts(out)
        assert sent == MESSAGES * 2 and received >= sent * 0.98, out[-1500:]
        assert all(key[0] == "tls" for key in turn.core.table.by_tuple) and turn.core.stats


async def test_uclient_with_rest_api_secret() -> None:
    async with running_turn(user_quota=100) as turn, echo_peer() as peer_port:
        out = await uclient(
            "-c", "-W", SECRET, "-u", "webapp", "-e", "127.0.0.1", "-r", str(peer_port),
            "-p", str(turn.port), "-n", str(MESSAGES), "-m", "2", "127.0.0.1",
        )
        sent, received, _ = relayed_counts(out)
        assert sent == MESSAGES * 2 and received >= sent * 0.98, out[-1500:]


async def test_uclient_with_wrong_secret_relays_nothing() -> None:
    async with running_turn() as turn, echo_peer() as peer_port:
        await uclient(
            "-c", "-W", "not-the-secret", "-u", "webapp", "-e", "127.0.0.1", "-r", str(peer_port),
            "-p", str(turn.port), "-n", "5", "127.0.0.1", timeout=5,
        )
        assert not turn.core.table.by_tuple
        assert turn.core.stats["auth_failures"] >= 1
