"""TURN benchmark: Moot's TURN server versus coturn's ``turnserver`` on loopback.

Both servers get the same settings (one realm and user, relay ports, loopback
peers allowed, no TLS) and the same clients:

* relaying: coturn's ``turnutils_uclient`` (``-c -z 0``, M clients, N messages
  of L bytes each, over channels) against ``turnutils_peer`` (an echo peer).
  Every message is relayed twice (client -> peer -> client); we report relayed
  packets per second over the wall time of the run, and the loss uclient reports.
* allocations: one asyncio client opening K UDP sockets that each Allocate
  (401 challenge, then authenticated) and keep the allocation; we report how
  many are held at the end and allocations per second.

Moot runs in high-capacity mode (one worker process per core sharing the port
with SO_REUSEPORT, as ``turn highcapacity-mode enable``) and single-process.

    .venv/bin/python bench/turn.py                 # defaults
    .venv/bin/python bench/turn.py --clients 50 --messages 2000 --allocations 800

Writes bench/results/turn.json; one summary line to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from moot.turn.stun import Attr, Class, Message, Method, long_term_key, parse  # noqa: E402
from moot.turn.worker import READY, ServerSpec  # noqa: E402

USER, PASSWORD, REALM = "bench", "bench-pass", "bench.moot"
RESULTS = ROOT / "bench" / "results" / "turn.json"
NOTES = (
    "Load generator (uclient x procs, turnutils_peer) and server share this machine's CPUs, "
    "so relayed packets/s is bounded by both; avg_rtt_ms shows queueing once the server saturates. "
    "Where Moot's time goes: one asyncio callback, a dict lookup of the allocation and its channel, "
    "a token-bucket check and one sendto() system call per packet and direction, in Python; "
    "coturn does the same work in C with one relay thread per core. Allocations are bounded by "
    "socket creation and one HMAC check per request in both."
)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_binding(port: int, timeout: float = 15) -> None:
    request = Message(Method.BINDING, Class.REQUEST).encode()
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            s.sendto(request, ("127.0.0.1", port))
            try:
                s.recv(2048)
                return
            except OSError:
                continue
    raise RuntimeError(f"no TURN server answers on port {port}")


# -- servers ---------------------------------------------------------------------


class Server:
    name = ""

    def __init__(self, port: int, relay: tuple[int, int]) -> None:
        self.port = port
        self.relay = relay
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def rss_kib(self) -> int:
        total = 0
        for proc in self.procs:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total


class Coturn(Server):
    name = "coturn"

    def __init__(self, port: int, relay: tuple[int, int], tmp: Path) -> None:
        super().__init__(port, relay)
        self.tmp = tmp

    def start(self) -> None:
        args = [
            "turnserver", "-n", "--no-cli", "--no-tls", "--no-dtls",
            "-L", "127.0.0.1", "-E", "127.0.0.1", "-p", str(self.port),
            "--min-port", str(self.relay[0]), "--max-port", str(self.relay[1]),
            "-a", "-r", REALM, "--user", f"{USER}:{PASSWORD}", "--allow-loopback-peers",
            "--user-quota", "0", "--total-quota", "0",
            "--no-stdout-log", "--log-file", str(self.tmp / "coturn.log"), "--simple-log",
            "--pidfile", str(self.tmp / "coturn.pid"), "--no-software-attribute",
            "--userdb", str(self.tmp / "coturn.db"),
        ]
        self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for_binding(self.port)


class Moot(Server):
    def __init__(self, port: int, relay: tuple[int, int], workers: int) -> None:
        super().__init__(port, relay)
        self.workers = workers
        self.name = f"moot-{workers}-process" + ("es" if workers > 1 else "")

    def start(self) -> None:
        spec = ServerSpec(
            listen=[("127.0.0.1", self.port, None)], realm=REALM, users={USER: PASSWORD},
            relay_ip="127.0.0.1", relay_ports=self.relay, nonce_secret=secrets.token_hex(16),
            allowed_peers=["127.0.0.1/32"], user_quota=1_000_000,
        )
        for part in spec.split(self.workers):
            proc = subprocess.Popen(
                [sys.executable, "-m", "moot.turn.worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
            )
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(part.to_json().encode() + b"\n")
            proc.stdin.flush()
            self.procs.append(proc)
            if proc.stdout.readline().decode().strip() != READY:
                raise RuntimeError("a Moot TURN worker did not start")
        wait_for_binding(self.port)


# -- loads -----------------------------------------------------------------------


def relay_load(
    port: int, peer_port: int, clients: int, messages: int, size: int, procs: int
) -> dict[str, Any]:
    """``procs`` uclient processes at once (one paces itself well below a server's capacity)."""
    args = [
        "turnutils_uclient", "-c", "-z", "0", "-e", "127.0.0.1", "-r", str(peer_port),
        "-u", USER, "-w", PASSWORD, "-p", str(port), "-n", str(messages), "-m", str(clients),
        "-l", str(size), "127.0.0.1",
    ]
    start = time.perf_counter()
    running = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(procs)]
    outputs = [proc.communicate(timeout=900)[0] for proc in running]
    elapsed = time.perf_counter() - start
    sent = received = 0
    rtts: list[float] = []
    for out in outputs:
        totals = re.findall(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", out)
        if not totals:
            raise RuntimeError("uclient printed no totals:\n" + out[-2000:])
        sent += int(totals[-1][0])
        received += int(totals[-1][1])
        rtts += [float(x) for x in re.findall(r"Average round trip delay ([\d.]+) ms", out)[-1:]]
    return {
        "seconds": round(elapsed, 3),
        "messages_sent": sent,
        "messages_echoed": received,
        "lost_percent": round(100 * (sent - received) / max(sent, 1), 3),
        "avg_rtt_ms": round(sum(rtts) / len(rtts), 3) if rtts else None,
        "relayed_packets_per_s": round(2 * received / elapsed),
    }


class AllocClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.inbox.put_nowait(data)


async def _ask(proto: AllocClient, transport: asyncio.DatagramTransport, data: bytes) -> Message:
    for _ in range(5):
        transport.sendto(data)
        try:
            return parse(await asyncio.wait_for(proto.inbox.get(), 1.0))
        except TimeoutError:
            continue
    raise TimeoutError


async def allocation_load(port: int, count: int, parallel: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    key = long_term_key(USER, REALM, PASSWORD)
    held: list[tuple[asyncio.DatagramTransport, str]] = []
    failures: dict[str, int] = {}
    gate = asyncio.Semaphore(parallel)

    async def one() -> None:
        async with gate:
            transport, proto = await loop.create_datagram_endpoint(
                AllocClient, remote_addr=("127.0.0.1", port)
            )
            try:
                attrs: dict[int, Any] = {Attr.REQUESTED_TRANSPORT: 17}
                first = await _ask(proto, transport, Message(Method.ALLOCATE, Class.REQUEST, attributes=attrs).encode())
                attrs |= {Attr.USERNAME: USER, Attr.REALM: REALM, Attr.NONCE: first.get(Attr.NONCE)}
                reply = await _ask(proto, transport, Message(Method.ALLOCATE, Class.REQUEST, attributes=attrs).encode(key, True))
            except (TimeoutError, ValueError) as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                transport.close()
                return
            if reply.cls == Class.SUCCESS:
                held.append((transport, str(first.get(Attr.NONCE))))
            else:
                code = str(reply.get(Attr.ERROR_CODE, (0, ""))[0])
                failures[code] = failures.get(code, 0) + 1
                transport.close()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    elapsed = time.perf_counter() - start
    result = {
        "requested": count,
        "held": len(held),
        "seconds": round(elapsed, 3),
        "allocations_per_s": round(len(held) / elapsed),
        "failures": failures,
    }
    # Delete them (Refresh, lifetime 0) so that no later client meets a stale 5-tuple.
    for transport, nonce in held:
        transport.sendto(Message(Method.REFRESH, Class.REQUEST, attributes={
            Attr.LIFETIME: 0, Attr.USERNAME: USER, Attr.REALM: REALM, Attr.NONCE: nonce,
        }).encode(key, True))
    await asyncio.sleep(1.0)
    for transport, _ in held:
        transport.close()
    return result


def run_server(server: Server, args: argparse.Namespace, peer_port: int) -> dict[str, Any]:
    server.start()
    try:
        # Allocations first: uclient leaves its allocations behind when it exits, and a later
        # client socket reusing one of its ports would get 437 Allocation Mismatch.
        allocs = asyncio.run(allocation_load(server.port, args.allocations, args.parallel))
        rss_holding = server.rss_kib()
        relay = [
            relay_load(server.port, peer_port, args.clients, args.messages, args.size, args.procs)
            for _ in range(args.repeat)
        ]
        best = max(relay, key=lambda r: r["relayed_packets_per_s"])
        return {
            "relay_runs": relay,
            "relayed_packets_per_s": best["relayed_packets_per_s"],
            "lost_percent": best["lost_percent"],
            "allocations": allocs,
            "rss_kib_holding_allocations": rss_holding,
            "rss_kib_after_relay": server.rss_kib(),
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--procs", type=int, default=4, help="uclient processes run at once")
    parser.add_argument("--clients", type=int, default=100, help="sessions per uclient (-m)")
    parser.add_argument("--messages", type=int, default=300, help="messages per session (-n)")
    parser.add_argument("--size", type=int, default=160, help="bytes per message (-l), e.g. an audio frame")
    parser.add_argument("--allocations", type=int, default=800, help="allocations to create and hold")
    parser.add_argument("--parallel", type=int, default=100, help="allocations in flight at once")
    parser.add_argument("--repeat", type=int, default=1, help="relay runs per server (best kept)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    for tool in ("turnserver", "turnutils_uclient", "turnutils_peer"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: install the Debian package coturn")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.allocations + 256)), hard))

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="turn-bench-") as tmp:
        peer_port = free_port()
        peer = subprocess.Popen(["turnutils_peer", "-L", "127.0.0.1", "-p", str(peer_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            span = max(2 * args.allocations + 200, 2 * args.procs * args.clients + 200)
            makers: list[Callable[[int, tuple[int, int]], Server]] = [
                lambda p, r: Coturn(p, r, Path(tmp)),
                lambda p, r: Moot(p, r, args.workers),
                lambda p, r: Moot(p, r, 1),
            ]
            base = 20000
            for i, make in enumerate(makers):
                server = make(free_port(), (base + i * span, base + (i + 1) * span - 1))
                print(f"{server.name} ...", file=sys.stderr, flush=True)
                results[server.name] = run_server(server, args, peer_port)
                print(f"  {json.dumps(results[server.name])}", file=sys.stderr, flush=True)
        finally:
            peer.terminate()
            peer.wait()

    coturn = results["coturn"]
    ratios = {}
    for name, res in results.items():
        if name == "coturn":
            continue
        ratios[name] = {
            "relayed_packets_per_s": round(res["relayed_packets_per_s"] / max(coturn["relayed_packets_per_s"], 1), 3),
            "allocations_held": round(res["allocations"]["held"] / max(coturn["allocations"]["held"], 1), 3),
            "allocations_per_s": round(res["allocations"]["allocations_per_s"] / max(coturn["allocations"]["allocations_per_s"], 1), 3),
        }
    report = {
        "benchmark": "turn",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "coturn_version": subprocess.run(["turnserver", "--version"], capture_output=True, text=True).stdout.strip(),
        "settings": vars(args),
        "results": results,
        "ratio_vs_coturn": ratios,
        "notes": NOTES,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    hc = ratios.get(f"moot-{args.workers}-process" + ("es" if args.workers > 1 else ""), {})
    print(f"turn: Moot high-capacity / coturn = {hc.get('relayed_packets_per_s')} relayed pkt/s, "
          f"{hc.get('allocations_held')} allocations held; details in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
