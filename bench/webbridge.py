"""Web bridge capacity benchmark: web audio legs per core in 10-party calls, and join time.

The issue's goal: web audio legs per core with synthetic aiortc clients in 10-party calls
(under 1 % loss, as the SIP benchmark), join time from "Join" to first audio (p50/p95), and
the ratio to the guide's small edge (4 vCPU, 850 web audio calls: 212.5 per vCPU).

Method
------
* A real node (``moot serve``, ``tests.helpers``) on a fresh data dir under a temp dir; its
  HTTPS web bridge terminates WebRTC with aiortc in its WebRTC worker processes and relays each
  leg's audio as PCMU on loopback into the call bridge's media pool (worker processes), which
  sends back the leg's N-1 mix. Spaces (one per 10 legs, passcode) come from the REST API.
* The browsers are ``tests.webrtc_client.WebClient`` (aiortc: ICE, DTLS-SRTP, Opus) in K
  client processes (multiprocessing spawn, one event loop each, at most
  ``--clients-per-process``; a process holds whole calls). Every client sends a sine (its own
  frequency, low level so nine of them never clip) all the time, so every frame of every
  leg's mix is audible.
* The load ramps in ``--step`` legs (whole calls). New legs join ``--join-rate`` per second,
  in call order; each join is timed from the ``join()`` call (the user's "Join": the offer's
  ICE gathering included) to the first decoded frame whose peak passes 1 % of full scale.
  The first leg of each call hears nobody until the second is in, so its time is left out.
* After joining and ``--settle`` seconds, a ``--hold`` window measures:
  - clients: inbound RTP packets received and lost (aiortc getStats; lost = sequence gaps),
    the received packet rate against 50/s per leg (the server stops sending rather than
    bursting when its loop falls behind: a shortfall without gaps), and quiet frames (a
    decoded frame under 1 % of full scale after audio started: a gap in the mix);
  - server: loss on the relay -> media pool RTP of a sample of legs (API ``/callLegs/<id>``
    rxAudio packetsLost / packetsReceived);
  - CPU, from /proc utime+stime deltas: the node's process tree (main process, split into
    its event loop thread and its other threads - aiortc's per-leg decoder threads and the
    executor running the Opus encoder -, and the media workers) and the client processes.
  A step passes when each of client RTP loss, send shortfall, quiet frames and server
  relay loss is under 1 % and every leg joined and heard audio. The ramp stops at the first
  failing step, when the node's event loop thread is saturated (>= 95 % of a core), at
  ``--max-legs``, or when ``--budget`` seconds are used up. Steps where the whole machine
  is busy (>= 97 % of all cores) are flagged, not stopped at.
* Legs per core = legs of the highest passing step / server CPU (CPU seconds per second:
  all the node's processes) at that step. The clients run on the same 2 shared cores, so
  the wall capacity of this machine says little; the per-core figure is from the server's
  own CPU.
* Where the time goes: the CPU split above, per leg and 20 ms frame, and an in-process
  micro-measurement of each per-frame step of the relay path (SRTP, Opus decode, resample
  48 kHz stereo -> 8 kHz mono, PCMU encode and RTP, back: RTP and PCMU decode, the mix
  frame, Opus encode, SRTP); what the main process spends beyond their sum is aiortc's
  per-packet Python work (ICE/DTLS demux, jitter buffer, thread hand-offs, RTCP, asyncio).

    .venv/bin/python bench/webbridge.py              # full ramp (a few minutes)
    .venv/bin/python bench/webbridge.py --quick      # smoke run: 10 legs, 5 s

Writes bench/results/webbridge.json; one summary line to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import fractions
import json
import math
import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.sip_setup import (  # noqa: E402
    PROFILED_SERVE,
    CpuSample,
    Drain,
    machine_busy,
    noteworthy,
    read_profile,
)

from tests.callbridge_api import Api  # noqa: E402
from tests.helpers import Ports, RunningNode, prepare_datadir  # noqa: E402
from tests.webrtc_client import JoinRefused, WebClient  # noqa: E402

RESULTS: Final = ROOT / "bench" / "results" / "webbridge.json"
PARTY: Final = 10
PASSCODE: Final = "2468"
FIRST_CALL_ID: Final = 880_000
LOSS_LIMIT: Final = 0.01
FRAMES_PER_SECOND: Final = 50
GUIDE_EDGE_CALLS: Final = 850
GUIDE_EDGE_VCPUS: Final = 4
GUIDE_PER_VCPU: Final = GUIDE_EDGE_CALLS / GUIDE_EDGE_VCPUS
LOOP_SATURATED: Final = 0.95  # of one core: the node's event loop thread
MACHINE_SATURATED: Final = 0.97  # of all cores
FIRST_AUDIO_TIMEOUT: Final = 20.0
TONE_AMPLITUDE: Final = 0.05

NOTES: Final = (
    "This is a 2-core shared machine: the synthetic clients (aiortc, Opus encode and decode "
    "per leg, in separate processes) compete with the server for the same CPUs, so the "
    "number of legs the machine holds is bounded by both and is not the server's capacity. "
    "Legs per core is therefore legs held / the server's own measured CPU (all processes of "
    "moot serve, CPU seconds per second) at the highest step under 1 % loss. aiortc runs in "
    "the web bridge's WebRTC worker processes (one per core, legs placed on the least loaded), "
    "the mixing in the media workers: both scale per core; the main process holds signalling "
    "only. Join time is from join() (the offer's ICE gathering included) "
    "to the first audible decoded frame; the first leg of every call is left out (it hears "
    "nobody until the second joins)."
)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(np.array(values, dtype=np.float64), q))


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# --- client processes ------------------------------------------------------------------------


@dataclass(frozen=True)
class LegSpec:
    """One synthetic browser to join: which meeting, as whom, when (after the batch starts)."""

    index: int
    meeting_id: str
    name: str
    tone_hz: float
    delay_s: float
    first_in_call: bool


class ClientHost:
    """The clients of one client process, on its event loop."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.clients: dict[int, WebClient] = {}

    async def join_all(self, specs: list[LegSpec]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self._join_one(spec) for spec in specs)))

    async def _join_one(self, spec: LegSpec) -> dict[str, Any]:
        await asyncio.sleep(spec.delay_s)
        client = WebClient(self.base_url, tone_hz=spec.tone_hz, amplitude=TONE_AMPLITUDE,
                           name=spec.name, keep_seconds=1.0)
        result: dict[str, Any] = {"index": spec.index, "first_in_call": spec.first_in_call,
                                  "ok": False}
        started = time.monotonic()
        try:
            await client.connect()
            joined = await client.join(spec.meeting_id, passcode=PASSCODE)
        except (JoinRefused, TimeoutError, ConnectionError, aiohttp.ClientError) as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"[:200]
            await client.close()
            return result
        result.update(ok=True, leg_id=joined.leg_id, call_id=joined.call_id,
                      signalled_s=time.monotonic() - started)
        self.clients[spec.index] = client
        deadline = time.monotonic() + FIRST_AUDIO_TIMEOUT
        while client.time_to_first_audio is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        result["first_audio_s"] = client.time_to_first_audio
        return result

    async def stats(self) -> dict[str, Any]:
        totals = {"legs": 0, "packets_received": 0, "packets_lost": 0, "frames_decoded": 0,
                  "quiet_frames": 0, "not_connected": 0}
        for client in self.clients.values():
            s = await client.stats()
            totals["legs"] += 1
            totals["packets_received"] += s.packets_received
            totals["packets_lost"] += s.packets_lost
            totals["frames_decoded"] += s.frames_decoded
            totals["quiet_frames"] += s.quiet_frames
            totals["not_connected"] += client.connection_state != "connected"
        return totals

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients.values()), return_exceptions=True)
        self.clients.clear()


def client_process_main(conn: Connection, base_url: str, niceness: int) -> None:
    """Entry point of a client process: serve the driver's commands until ``close``.

    The clients run niced: on a machine they share with the server, the server should get
    the CPU first (its figures are what is measured); a starved client shows up as its own
    late packets, not as the server's."""
    if niceness:
        os.nice(niceness)
    asyncio.run(_serve_driver(conn, base_url))


async def _serve_driver(conn: Connection, base_url: str) -> None:
    host = ClientHost(base_url)
    loop = asyncio.get_running_loop()
    # A thread of its own for the blocking pipe read: aiortc uses the default executor.
    reader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="driver-pipe")
    while True:
        command, argument = await loop.run_in_executor(reader, conn.recv)
        if command == "join":
            conn.send(await host.join_all(argument))
        elif command == "stats":
            conn.send(await host.stats())
        elif command == "close":
            await host.close()
            conn.send("closed")
            break
    reader.shutdown()


class ClientFleet:
    """The driver's side of the client processes: spawned as legs are added, whole calls each."""

    def __init__(self, base_url: str, per_process: int, niceness: int) -> None:
        self.base_url = base_url
        self.niceness = niceness
        self.per_process = max(PARTY, per_process - per_process % PARTY)
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[tuple[BaseProcess, Connection]] = []

    def process_of(self, leg_index: int) -> int:
        return leg_index // self.per_process

    def ensure_processes(self, legs: int) -> None:
        while len(self.processes) * self.per_process < legs:
            here, there = self.context.Pipe()
            proc = self.context.Process(target=client_process_main, args=(there, self.base_url, self.niceness),
                                        name=f"webclients-{len(self.processes)}", daemon=True)
            proc.start()
            self.processes.append((proc, here))

    async def ask(self, process: int, command: str, argument: Any = None) -> Any:
        conn = self.processes[process][1]
        conn.send((command, argument))
        return await asyncio.to_thread(conn.recv)

    async def ask_all(self, command: str, argument: Any = None) -> list[Any]:
        return list(await asyncio.gather(
            *(self.ask(i, command, argument) for i in range(len(self.processes)))))

    def pids(self) -> list[int]:
        return [proc.pid for proc, _ in self.processes if proc.pid is not None]

    async def close(self) -> None:
        await asyncio.gather(*(self.ask(i, "close") for i, (p, _) in enumerate(self.processes)
                               if p.is_alive()), return_exceptions=True)
        for proc, conn in self.processes:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
            conn.close()


# --- the node --------------------------------------------------------------------------------


def process_cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads), seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Snapshot:
    """Everything read at one edge of a measuring window."""

    at: float
    server: CpuSample
    clients_cpu_s: float
    driver_cpu_s: float
    machine_busy_s: float
    client_totals: dict[str, int]
    api_legs: dict[str, dict[str, int]]


class Bench:
    """A node, its API, the client processes and the legs joined so far.

    With ``profile``, the node runs under ``bench.sip_setup.PROFILED_SERVE`` (cProfile of the
    main process between SIGUSR1 and SIGUSR2, written to ``<profile>.main``/``.threads``).
    """

    def __init__(self, args: argparse.Namespace, workdir: Path, profile: Path | None = None) -> None:
        self.args = args
        self.profile = profile
        self.ports = Ports()
        self.node = RunningNode(prepare_datadir(workdir / "node", self.ports), self.ports)
        self.drain: Drain | None = None
        self.http: aiohttp.ClientSession | None = None
        self.api: Api | None = None
        self.base_url = f"https://127.0.0.1:{self.ports.webbridge}"
        self.fleet = ClientFleet(self.base_url, args.clients_per_process, args.client_nice)
        self.spaces = 0
        self.joins: list[dict[str, Any]] = []  # every join result so far
        self.leg_ids: list[str] = []

    @property
    def node_pid(self) -> int:
        assert self.node.proc is not None
        return self.node.proc.pid

    async def start(self) -> None:
        if self.profile is None:
            await asyncio.to_thread(self.node.start, 60)
        else:
            self.node.proc = subprocess.Popen(
                [sys.executable, "-c", PROFILED_SERVE, str(self.profile), str(self.node.datadir.root)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )
            await asyncio.to_thread(self.node.wait_for, r"^ready in", 90)
        self.drain = Drain(self.node).start()
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))
        self.api = Api(self.http, self.node)

    async def stop(self) -> int:
        await self.fleet.close()
        if self.http is not None:
            await self.http.close()
        if self.drain is not None:
            self.drain.stop()
        return await asyncio.to_thread(self.node.stop, 60)

    async def ensure_spaces(self, calls: int) -> None:
        assert self.api is not None
        while self.spaces < calls:
            call_id = str(FIRST_CALL_ID + self.spaces)
            await self.api.post("/coSpaces", name=f"Web bench {self.spaces}",
                                uri=f"webbench{self.spaces}", callId=call_id, passcode=PASSCODE)
            self.spaces += 1

    # ---------------------------------------------------------------- joining
    async def grow_to(self, legs: int) -> list[dict[str, Any]]:
        start = len(self.joins)
        await self.ensure_spaces(math.ceil(legs / PARTY))
        self.fleet.ensure_processes(legs)
        by_process: dict[int, list[LegSpec]] = {}
        for offset, index in enumerate(range(start, legs)):
            position = index % PARTY
            spec = LegSpec(index=index, meeting_id=str(FIRST_CALL_ID + index // PARTY),
                           name=f"Web {index}", tone_hz=300.0 + 70.0 * position,
                           delay_s=offset / self.args.join_rate, first_in_call=position == 0)
            by_process.setdefault(self.fleet.process_of(index), []).append(spec)
        answers = await asyncio.gather(
            *(self.fleet.ask(p, "join", specs) for p, specs in sorted(by_process.items())))
        results = sorted((r for batch in answers for r in batch), key=lambda r: int(r["index"]))
        self.joins.extend(results)
        self.leg_ids.extend(str(r["leg_id"]) for r in results if r["ok"])
        return results

    # ---------------------------------------------------------------- measuring
    def api_sample(self) -> list[str]:
        """Up to ``--api-sample`` legs spread over the calls."""
        count = min(self.args.api_sample, len(self.leg_ids))
        if count == 0:
            return []
        stride = len(self.leg_ids) / count
        return [self.leg_ids[int(i * stride)] for i in range(count)]

    async def api_leg_stats(self, leg_ids: list[str]) -> dict[str, dict[str, int]]:
        assert self.api is not None
        api = self.api

        async def one(leg_id: str) -> tuple[str, dict[str, int]] | None:
            try:
                leg = await api.get(f"/callLegs/{leg_id}")
            except AssertionError:
                return None  # the leg is gone
            return leg_id, {"rx": _int_at(leg, "status/rxAudio/packetsReceived"),
                            "lost": _int_at(leg, "status/rxAudio/packetsLost"),
                            "tx": _int_at(leg, "status/txAudio/packetsSent")}

        found = await asyncio.gather(*(one(leg_id) for leg_id in leg_ids))
        return dict(item for item in found if item is not None)

    async def snapshot(self, leg_ids: list[str]) -> Snapshot:
        totals: dict[str, int] = {}
        for part in await self.fleet.ask_all("stats"):
            for key, value in part.items():
                totals[key] = totals.get(key, 0) + int(value)
        api_legs = await self.api_leg_stats(leg_ids)
        return Snapshot(
            at=time.monotonic(),
            server=CpuSample.take(self.node_pid),
            clients_cpu_s=sum(process_cpu_s(pid) for pid in self.fleet.pids()),
            driver_cpu_s=process_cpu_s(os.getpid()),
            machine_busy_s=machine_busy()[0],
            client_totals=totals,
            api_legs=api_legs,
        )

    async def idle_cpu(self, seconds: float) -> dict[str, Any]:
        before = CpuSample.take(self.node_pid)
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        used = CpuSample.take(self.node_pid).minus(before)
        wall = time.monotonic() - t0
        return {"seconds": round(wall, 1), "cores": round(used["total_s"] / wall, 4),
                "main_cores": round(used["main_s"] / wall, 4)}

    async def measure(self, hold: float) -> dict[str, Any]:
        sample = self.api_sample()
        before = await self.snapshot(sample)
        await asyncio.sleep(hold)
        after = await self.snapshot(sample)
        return window_figures(before, after, legs=len(self.leg_ids))


def _int_at(element: ET.Element, path: str) -> int:
    text = element.findtext(path)
    return int(text) if text and text.lstrip("-").isdigit() else 0


def window_figures(before: Snapshot, after: Snapshot, legs: int) -> dict[str, Any]:
    """The step's figures from the two edges of its window."""
    wall = after.at - before.at
    server = after.server.minus(before.server)
    client = {k: after.client_totals.get(k, 0) - before.client_totals.get(k, 0)
              for k in ("packets_received", "packets_lost", "frames_decoded", "quiet_frames")}
    received, lost = client["packets_received"], client["packets_lost"]
    expected_by_clock = legs * FRAMES_PER_SECOND * wall
    api_rx = api_lost = api_tx = 0
    for leg_id, end in after.api_legs.items():
        start = before.api_legs.get(leg_id)
        if start is not None:
            api_rx += end["rx"] - start["rx"]
            api_lost += end["lost"] - start["lost"]
            api_tx += end["tx"] - start["tx"]
    sampled = sum(1 for leg_id in after.api_legs if leg_id in before.api_legs)
    threads = server["main_threads_s"]
    loss = {
        "client_rtp_loss": lost / max(1, received + lost),
        "client_send_shortfall": max(0.0, 1.0 - received / max(1.0, expected_by_clock)),
        "client_quiet_frames": client["quiet_frames"] / max(1, client["frames_decoded"]),
        "server_relay_loss": api_lost / max(1, api_rx + api_lost),
    }
    cores = server["total_s"] / wall
    clients_cores = (after.clients_cpu_s - before.clients_cpu_s) / wall
    driver_cores = (after.driver_cpu_s - before.driver_cpu_s) / wall
    machine_cores = (after.machine_busy_s - before.machine_busy_s) / wall
    return {
        "legs": legs,
        "seconds": round(wall, 2),
        "loss": {k: round(v, 5) for k, v in loss.items()},
        "worst_loss": round(max(loss.values()), 5),
        "client_packets": {"received": received, "lost": lost,
                           "expected_by_clock": round(expected_by_clock),
                           "frames_decoded": client["frames_decoded"],
                           "quiet_frames": client["quiet_frames"],
                           "legs_not_connected": after.client_totals.get("not_connected", 0)},
        "server_sample": {"legs": sampled, "relay_rx": api_rx, "relay_lost": api_lost,
                          "pool_tx_per_leg_s": round(api_tx / max(1, sampled) / wall, 2)},
        "server_cores": round(cores, 3),
        "server_main_cores": round(server["main_s"] / wall, 3),
        "server_main_loop_thread_cores": round(threads["main thread (event loop)"] / wall, 3),
        "server_main_other_threads_cores": round(threads["other threads (executor, ...)"] / wall, 3),
        "server_workers_cores": round(server["children_s"] / wall, 3),
        "server_children": [
            {"what": c["what"], "cores": round(c["cpu_s"] / wall, 3)} for c in server["children"]
        ],
        "client_cores": round(clients_cores, 3),
        "driver_cores": round(driver_cores, 3),
        "machine_busy_cores": round(machine_cores, 3),
        "other_programs_cores": round(max(0.0, machine_cores - cores - clients_cores - driver_cores), 3),
        "server_cpu_us_per_leg_frame": {
            "total": round(1e6 * cores / max(1, legs * FRAMES_PER_SECOND), 1),
            "main": round(1e6 * server["main_s"] / wall / max(1, legs * FRAMES_PER_SECOND), 1),
            "workers": round(1e6 * server["children_s"] / wall / max(1, legs * FRAMES_PER_SECOND), 1),
            "webrtc_workers": round(1e6 * _kind_s(server, "webrtc worker") / wall
                                    / max(1, legs * FRAMES_PER_SECOND), 1),
            "media_workers": round(1e6 * _kind_s(server, "media worker") / wall
                                   / max(1, legs * FRAMES_PER_SECOND), 1),
        },
    }


def _kind_s(server: dict[str, Any], what: str) -> float:
    """CPU seconds of the node's worker processes of one kind (by their process names)."""
    return float(sum(c["cpu_s"] for c in server["children"] if c["what"] == what))


def join_figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Join outcome and times of a batch; first legs of calls are out of the time figures."""
    timed = [r for r in results if r["ok"] and not r["first_in_call"]]
    first_audio = [float(r["first_audio_s"]) for r in timed if r.get("first_audio_s") is not None]
    signalled = [float(r["signalled_s"]) for r in results if r["ok"]]
    errors: dict[str, int] = {}
    for r in results:
        if not r["ok"]:
            kind = str(r.get("error", "?")).split(":", 1)[0]
            errors[kind] = errors.get(kind, 0) + 1
    return {
        "attempted": len(results),
        "joined": sum(1 for r in results if r["ok"]),
        "failed": sum(1 for r in results if not r["ok"]),
        "errors": errors,
        "error_examples": [r["error"] for r in results if not r["ok"]][:3],
        "no_audio_within_s": {"timeout": FIRST_AUDIO_TIMEOUT,
                              "legs": sum(1 for r in timed if r.get("first_audio_s") is None)},
        "joined_message_p50_s": rounded(percentile(signalled, 50)),
        "join_to_audio_p50_s": rounded(percentile(first_audio, 50)),
        "join_to_audio_p95_s": rounded(percentile(first_audio, 95)),
        "join_to_audio_max_s": rounded(max(first_audio) if first_audio else None),
        "join_to_audio_samples": len(first_audio),
    }


def step_passes(step: dict[str, Any]) -> bool:
    return bool(step["worst_loss"] < LOSS_LIMIT and step["join"]["failed"] == 0
                and step["join"]["no_audio_within_s"]["legs"] == 0)


def loop_saturated(step: dict[str, Any]) -> str | None:
    if step["server_main_loop_thread_cores"] >= LOOP_SATURATED:
        return f"the node's event loop thread is saturated ({step['server_main_loop_thread_cores']:.2f} core)"
    return None


def machine_saturated(step: dict[str, Any]) -> bool:
    """All cores busy: from here on clients and server starve each other (not a stop: the
    server's per-core figure stays measurable until the loss limit says no)."""
    return bool(step["machine_busy_cores"] >= MACHINE_SATURATED * (os.cpu_count() or 1))


# --- where the time goes: per-frame costs of the relay path -----------------------------------


def _time_us(action: Callable[[], object], frames: int) -> float:
    for _ in range(min(50, frames)):  # warm up (codec state, caches)
        action()
    started = time.perf_counter()
    for _ in range(frames):
        action()
    return 1e6 * (time.perf_counter() - started) / frames


def relay_frame_costs(frames: int) -> dict[str, Any]:
    """Microseconds per 20 ms frame of each step of one web leg's relay path, in this process.

    The same library calls the node makes (aiortc's Opus codec classes, PyAV's resampler,
    moot's G.711 and RTP, libsrtp via pylibsrtp with aiortc's first SRTP profile), timed one
    at a time on realistic data: a 48 kHz stereo tone as a browser sends it, and 160 samples
    of 8 kHz mix as the media pool returns them.
    """
    from aiortc.codecs.opus import OpusDecoder, OpusEncoder
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.rtcdtlstransport import SRTP_PROFILES
    from aiortc.rtp import RtpPacket as AiortcRtp
    from av import AudioFrame, AudioResampler
    from pylibsrtp import Policy, Session

    from moot.media.g711 import ulaw_decode, ulaw_encode
    from moot.media.rtp import RtpPacket
    from moot.webbridge.webrtc_leg import FRAME, PCMU, RATE, TIME_BASE

    t = np.arange(960) / 48_000
    tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    browser_frame = AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16",
                                            layout="stereo")
    browser_frame.sample_rate = 48_000
    browser_frame.pts = 0
    browser_frame.time_base = fractions.Fraction(1, 48_000)
    browser_encoder = OpusEncoder()
    payloads, _ = browser_encoder.encode(browser_frame)
    opus_payload = payloads[0]

    profile = SRTP_PROFILES[0]
    key = bytes(range(profile.key_length + profile.salt_length))
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile.libsrtp_profile))
    rx_policy = Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile.libsrtp_profile)
    rx_policy.allow_repeat_tx = True
    rx_policy.window_size = 1024
    rx = Session(rx_policy)
    opus_rtp = AiortcRtp(payload_type=111, sequence_number=1, timestamp=960, ssrc=1234,
                         payload=opus_payload).serialize()
    sequence = [0]

    def protect() -> bytes:
        sequence[0] = (sequence[0] + 1) & 0xFFFF
        packet = AiortcRtp(payload_type=111, sequence_number=sequence[0], timestamp=960 * sequence[0],
                           ssrc=1234, payload=opus_payload)
        return bytes(tx.protect(packet.serialize()))

    protected = [protect() for _ in range(frames + 60)]
    cursor = [0]

    def unprotect() -> bytes:
        cursor[0] = (cursor[0] + 1) % len(protected)
        return bytes(rx.unprotect(protected[cursor[0]]))

    decoder = OpusDecoder()
    decoded = decoder.decode(JitterFrame(opus_payload, 0))[0]
    assert isinstance(decoded, AudioFrame)
    resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
    pcm8k = np.resize(resampler.resample(decoded)[0].to_ndarray().reshape(-1), FRAME).astype(np.int16)
    relay_rtp = RtpPacket(payload_type=PCMU, sequence_number=1, timestamp=160, ssrc=99,
                          payload=ulaw_encode(pcm8k)).serialize()
    mix_encoder = OpusEncoder()
    mix_pts = [0]

    def mix_frame() -> AudioFrame:
        # As MixTrack.recv: the pool's 160 samples as a frame with a running timestamp.
        frame = AudioFrame.from_ndarray(pcm8k.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = mix_pts[0]
        frame.time_base = TIME_BASE
        mix_pts[0] += FRAME
        return frame

    ready_mixes = [mix_frame() for _ in range(frames + 60)]
    mix_cursor = [0]

    def encode_mix() -> object:
        # Enough frames for the warm-up and the timed run: timestamps never go backwards.
        mix_cursor[0] = (mix_cursor[0] + 1) % len(ready_mixes)
        return mix_encoder.encode(ready_mixes[mix_cursor[0]])
    inbound = {
        "srtp_unprotect": _time_us(unprotect, frames),
        "rtp_parse_aiortc": _time_us(lambda: AiortcRtp.parse(opus_rtp), frames),
        "opus_decode_48k_stereo": _time_us(
            lambda: decoder.decode(JitterFrame(opus_payload, 0)), frames),
        "resample_48k_stereo_to_8k_mono": _time_us(
            lambda: [f.to_ndarray() for f in resampler.resample(decoded)], frames),
        "pcmu_encode_and_rtp_serialize": _time_us(
            lambda: RtpPacket(payload_type=PCMU, sequence_number=1, timestamp=160, ssrc=99,
                              payload=ulaw_encode(pcm8k)).serialize(), frames),
    }
    outbound = {
        "rtp_parse_and_pcmu_decode": _time_us(
            lambda: ulaw_decode(RtpPacket.parse(relay_rtp).payload), frames),
        "mix_frame_to_av_frame": _time_us(mix_frame, frames),
        "opus_encode_8k_mono_via_48k_stereo": _time_us(encode_mix, frames),
        "rtp_serialize_aiortc_and_srtp_protect": _time_us(protect, frames),
    }
    return {
        "frames_timed": frames,
        "srtp_profile": profile.openssl_profile.decode(),
        "browser_to_mix_us": {k: round(v, 1) for k, v in inbound.items()},
        "mix_to_browser_us": {k: round(v, 1) for k, v in outbound.items()},
        "sum_us_per_leg_frame": round(sum(inbound.values()) + sum(outbound.values()), 1),
        "opus_share_us": round(inbound["opus_decode_48k_stereo"]
                               + outbound["opus_encode_8k_mono_via_48k_stereo"], 1),
    }


def where_time_goes(best: dict[str, Any] | None, costs: dict[str, Any]) -> dict[str, Any]:
    """The measured WebRTC-worker CPU per leg-frame against the sum of the codec steps."""
    if best is None:
        return {"note": "no passing step to compare with"}
    per = best["server_cpu_us_per_leg_frame"]
    webrtc_us = float(per["webrtc_workers"])
    codec_us = float(costs["sum_us_per_leg_frame"])
    return {
        "at_legs": best["legs"],
        "server_us_per_leg_frame": per,
        "main_process_share_of_server_cpu": round(
            best["server_main_cores"] / max(1e-9, best["server_cores"]), 3),
        "relay_codec_steps_us": codec_us,
        "opus_us": costs["opus_share_us"],
        "aiortc_python_plumbing_us_estimate": round(webrtc_us - codec_us, 1),
        "codec_steps_share_of_webrtc_workers": round(codec_us / max(1e-9, webrtc_us), 3),
        "note": (
            "per web leg and 20 ms frame (one packet in and one out): main = moot serve's main "
            "process (signalling only); webrtc_workers = the processes running aiortc; "
            "media_workers = the media pool mixing the leg as any PCMU leg. relay_codec_steps = "
            "the micro-measured per-frame library calls (relay_frame_costs); the rest of the "
            "WebRTC workers' time is aiortc's per-packet Python work (ICE/DTLS demultiplexing, "
            "jitter buffer, decoder thread and executor hand-offs, RTCP, MixTrack pacing, asyncio "
            "scheduling) and the web bridge's relay."
        ),
    }


# --- the run ---------------------------------------------------------------------------------


def step_line(step: dict[str, Any]) -> str:
    join = step["join"]
    loss = step["loss"]
    p50 = join["join_to_audio_p50_s"]
    p95 = join["join_to_audio_p95_s"]
    return (
        f"  {step['legs']:4d} legs: {'pass' if step['pass'] else 'FAIL'} worst loss "
        f"{100 * step['worst_loss']:.2f}% (rtp {100 * loss['client_rtp_loss']:.2f} short "
        f"{100 * loss['client_send_shortfall']:.2f} quiet {100 * loss['client_quiet_frames']:.2f} "
        f"relay {100 * loss['server_relay_loss']:.2f}) server {step['server_cores']:.2f} cores "
        f"(loop {step['server_main_loop_thread_cores']:.2f} threads "
        f"{step['server_main_other_threads_cores']:.2f} workers {step['server_workers_cores']:.2f}) "
        f"clients {step['client_cores']:.2f} others {step['other_programs_cores']:.2f} "
        f"machine {step['machine_busy_cores']:.2f}; joins "
        f"{join['joined']}/{join['attempted']} join->audio p50 {p50 if p50 is not None else '-'} "
        f"p95 {p95 if p95 is not None else '-'} s"
    )


async def ramp(bench: Bench, args: argparse.Namespace, deadline: float) -> tuple[list[dict[str, Any]], str]:
    steps: list[dict[str, Any]] = []
    legs = 0
    while True:
        target = legs + args.step
        if target > args.max_legs:
            return steps, f"--max-legs {args.max_legs} reached"
        per_step = args.step / args.join_rate + args.settle + args.hold + 5
        if steps and time.monotonic() + per_step > deadline:
            return steps, f"--budget {args.budget:.0f} s used up"
        started = time.monotonic()
        results = await bench.grow_to(target)
        join_s = time.monotonic() - started
        legs = target
        await asyncio.sleep(args.settle)
        step = await bench.measure(args.hold)
        if step["worst_loss"] >= LOSS_LIMIT:
            # One more window before calling it: the CPUs are shared with other programs.
            log(f"  {target} legs: worst loss {100 * step['worst_loss']:.2f}%, measuring again")
            retried = await bench.measure(args.hold)
            retried["first_window"] = step
            step = retried
        step["join"] = join_figures(results)
        step["join"]["batch_seconds"] = round(join_s, 1)
        step["attempted_legs"] = target
        step["pass"] = step_passes(step)
        step["machine_saturated"] = machine_saturated(step)
        step["legs_per_server_core"] = round(step["legs"] / max(1e-9, step["server_cores"]), 1)
        steps.append(step)
        log(step_line(step))
        if not step["pass"]:
            busy = " with the machine saturated" if step["machine_saturated"] else ""
            return steps, f"a step failed (loss or joins){busy}"
        reason = loop_saturated(step)
        if reason is not None:
            return steps, reason


async def profile_run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """``--profile-legs`` legs on a fresh node whose main process is under cProfile (thread
    CPU time) for ``--profile-seconds``: own time by area and the top functions, per leg and
    20 ms frame. A separate node, so the ramp's figures carry no profiling overhead."""
    prof = workdir / "node.prof"
    bench = Bench(args, workdir, profile=prof)
    out: dict[str, Any] = {"legs": args.profile_legs, "seconds": args.profile_seconds}
    done = Path(f"{prof}.threads")
    await bench.start()
    try:
        results = await bench.grow_to(args.profile_legs)
        out["joined"] = sum(1 for r in results if r["ok"])
        await asyncio.sleep(args.settle)
        start = await bench.snapshot([])
        os.kill(bench.node_pid, signal.SIGUSR1)
        await asyncio.sleep(args.profile_seconds)
        os.kill(bench.node_pid, signal.SIGUSR2)
        end = await bench.snapshot([])
        deadline = time.monotonic() + 30
        while not done.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        wall = end.at - start.at
        used = end.server.minus(start.server)
        # The frames the server actually sent: profiling slows it down, and MixTrack drops
        # rather than bursts when its loop falls behind.
        leg_frames = max(1, end.client_totals.get("packets_received", 0)
                         - start.client_totals.get("packets_received", 0))
        out["server_main_cores_while_profiled"] = round(used["main_s"] / wall, 3)
        out["leg_frames_sent"] = leg_frames
        out["frames_per_leg_s"] = round(leg_frames / max(1, out["joined"]) / wall, 1)
    finally:
        out["node_exit_code"] = await bench.stop()
    if not done.exists():
        out["error"] = "the node wrote no profile"
        return out
    out["event_loop_thread"] = read_profile(Path(f"{prof}.main"), leg_frames)
    out["other_threads"] = read_profile(done, leg_frames)
    out["note"] = (
        "cProfile with a thread-CPU-time timer; figures named *_ms_per_call are per leg and 20 ms "
        "frame here: divided by the mix frames the server sent to the clients in the window "
        "(leg_frames_sent; frames_per_leg_s shows how far under 50/s profiling pushed it). event_loop_thread: aiortc's transports, RTP/RTCP, "
        "the relay, MixTrack, asyncio; other_threads: aiortc's per-leg Opus decoder threads and "
        "the executor that runs its Opus encoder. Profiling inflates Python-heavy code (compare "
        "server_main_cores_while_profiled with the ramp): read the proportions."
    )
    return out


def summary(best: dict[str, Any] | None, all_joins: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    p50 = all_joins["join_to_audio_p50_s"]
    p95 = all_joins["join_to_audio_p95_s"]
    joins = (f"join->audio p50 {p50:.2f} s p95 {p95:.2f} s" if p50 is not None and p95 is not None
             else "join->audio: no samples")
    if best is None:
        return f"webbridge: no step held under 1% loss; {joins}", {"legs_per_core": None}
    per_core = best["legs"] / max(1e-9, best["server_cores"])
    ratio = per_core / GUIDE_PER_VCPU
    line = (
        f"webbridge: {best['legs']} web legs held (<1% loss) on {best['server_cores']:.2f} server "
        f"cores = {per_core:.0f} legs/core (guide edge {GUIDE_PER_VCPU:.0f}/vCPU: {ratio:.2f}x); {joins}"
    )
    return line, {"legs_per_core": round(per_core, 1), "guide_ratio": round(ratio, 3)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    started_wall = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    deadline = time.monotonic() + args.budget
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="moot-webbench-") as tmp:
        bench = Bench(args, Path(tmp))
        log(f"webbridge bench: starting a node in {tmp}")
        await bench.start()
        mark = bench.drain.mark() if bench.drain else 0
        try:
            idle = await bench.idle_cpu(3.0)
            log(f"  node idle: {idle['cores']:.3f} cores")
            steps, stopped = await ramp(bench, args, deadline)
            log(f"  ramp stopped: {stopped}")
        finally:
            log_lines = bench.drain.since(mark) if bench.drain else []
            exit_code = await bench.stop()
        profile: dict[str, Any] | None = None
        if args.profile_legs > 0:
            log(f"  profiling the node's main process at {args.profile_legs} legs "
                f"for {args.profile_seconds:.0f} s (fresh node) ...")
            profile = await profile_run(args, Path(tmp) / "profiled")
    log("  timing the relay path's per-frame steps ...")
    costs = relay_frame_costs(args.micro_frames)
    passing = [s for s in steps if s["pass"]]
    best = max(passing, key=lambda s: int(s["legs"])) if passing else None
    all_joins = join_figures(bench.joins)
    line, headline = summary(best, all_joins)
    return {
        "summary": line,
        "started": started_wall,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_at_start": load_at_start},
        "settings": {
            "party": PARTY, "step": args.step, "max_legs": args.max_legs, "hold_s": args.hold,
            "settle_s": args.settle, "join_rate_per_s": args.join_rate,
            "clients_per_process": bench.fleet.per_process,
            "client_processes": len(bench.fleet.processes), "api_sample_legs": args.api_sample,
            "loss_limit": LOSS_LIMIT, "tone_amplitude": TONE_AMPLITUDE, "quick": args.quick,
            "budget_s": args.budget, "client_niceness": args.client_nice,
        },
        "notes": NOTES,
        "node_idle": idle,
        "steps": steps,
        "stopped_because": stopped,
        "best": best,
        **headline,
        "guide": {"edge_web_audio_calls": GUIDE_EDGE_CALLS, "edge_vcpus": GUIDE_EDGE_VCPUS,
                  "per_vcpu": GUIDE_PER_VCPU},
        "join_all_steps": all_joins,
        "where_time_goes": where_time_goes(best, costs),
        "relay_frame_costs": costs,
        "main_process_profile": profile,
        "node_log": noteworthy(log_lines),
        "node_exit_code": exit_code,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--max-legs", type=int, default=200, help="stop the ramp here (default 200)")
    parser.add_argument("--step", type=int, default=10, help="legs added per step, whole 10-party calls (default 10)")
    parser.add_argument("--hold", type=float, default=10.0, help="measuring window per step, s (default 10)")
    parser.add_argument("--settle", type=float, default=2.0, help="wait after the joins before measuring, s")
    parser.add_argument("--join-rate", type=float, default=5.0, help="new legs joining per second (default 5)")
    parser.add_argument("--clients-per-process", type=int, default=20,
                        help="synthetic browsers per client process, whole calls (default 20)")
    parser.add_argument("--client-nice", type=int, default=10,
                        help="niceness of the client processes (default 10; 0: same as the node)")
    parser.add_argument("--api-sample", type=int, default=10, help="legs whose server-side stats are read")
    parser.add_argument("--budget", type=float, default=480.0, help="no new step after this many seconds")
    parser.add_argument("--profile-legs", type=int, default=0,
                        help="legs for a cProfile run of the node's main process (0, the default: none; "
                        "WebRTC runs in the worker processes, so the main process holds only signalling)")
    parser.add_argument("--profile-seconds", type=float, default=5.0, help="profiled window, s")
    parser.add_argument("--micro-frames", type=int, default=2000, help="frames per timed relay step")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 legs, 5 s window")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/webbridge.json")
    args = parser.parse_args()
    if args.step % PARTY or args.step <= 0:
        parser.error(f"--step must be a positive multiple of {PARTY} (whole calls)")
    if args.quick:
        args.max_legs, args.step, args.hold, args.micro_frames = PARTY, PARTY, 5.0, 300
        args.profile_legs, args.profile_seconds = min(args.profile_legs, PARTY), 3.0
    return args


def main() -> int:
    args = parse_args()
    result = asyncio.run(run(args))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        log(f"  wrote {RESULTS.relative_to(ROOT)}")
    print(result["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
