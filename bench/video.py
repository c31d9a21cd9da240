"""Video capacity benchmark: concurrent 720p30 legs per core in 4-party allEqual calls.

The issue's goal: the most concurrent 720p30 legs per core in 4-party ``allEqual`` calls with
under 10 % dropped frames and under 150 ms added latency; also 1080p30 and 480p30, for the
ratios of the guide's capacity table (Table 4). The guide's figure is 2.5 720p30 legs per
core (D.1); our goal is at least 3. Reported: that ratio, and where the worker's time goes
(decode, compose, encode).

Setup (on this 2-CPU machine)
-----------------------------
* a :class:`moot.media.pool.MediaPool` with ``--workers`` (1) worker processes, worker *i*
  pinned to CPU *i*; every leg is an audio leg (PCMU; its mixes go to a sink socket) with
  video (:meth:`MediaPool.open_video`, :class:`moot.media.leg.VideoConfig`: H.264 PT 96
  packetization-mode 1, or ``--codec VP8``; layout ``allEqual``), named for its pane label;
* the far ends are :class:`tests.video_peer.VideoPeer` objects (an implementation
  independent of Moot's: PyAV + aiortc payloaders) in ``--generators`` (1) load generator
  processes pinned to the last CPU with this script's main process (which only drives the
  pool). Each call's 4 legs send 4 colours (red, green, blue, yellow) as a "noisy" pattern
  (a solid colour with a moving white box and +-3 luma noise that changes every frame, so
  the bridge decodes a realistic ~1.5 Mbit/s 720p stream, not a trivially compressible
  one) at the leg's resolution and 30 fps. Each colour is encoded and packetized ONCE per
  resolution (2 s: an IDR then P-frames, :func:`tests.video_peer.encode_clip`); peers
  replay the packets with their own SSRC, sequence numbers and 90 kHz timestamps, and
  restart at the IDR when the bridge sends PLI/FIR. Replay costs the generator little.

Resolutions: 1280x720, 1920x1080 and 848x480 (16:9 480p), 30 fps, at 1.5, 3 and
0.8 Mbit/s (the legs' VideoConfig bit rate and the sources' encoder target alike).

Measured per step (a window of ``--window`` seconds after ``--settle`` seconds)
----------------------------------------------------------------------------------
* dropped frames, per leg: ``fps x window`` (the frames it should get) minus the frames it
  got whole *and decodable* - every RTP packet of the frame arrived (same timestamp, through
  the marker, no sequence gap) and the decoding chain since the last keyframe is intact (a
  frame after a loss does not count until the next IDR). Probe receivers (below) count
  frames PyAV actually decoded. Frames the bridge never sent (its mixer halves the frame
  rate under overload, guide D.1) are dropped frames too. The step's figure is the sum over
  legs divided by the sum of expected frames.
* added latency, glass to glass through the bridge: in the first ``--probe-calls`` (2)
  calls, leg 0 switches between red and magenta every 0.5-0.7 s (random, so not phase
  locked to the bridge's 30 Hz tick) and leg 1 decodes every frame it gets and samples it
  (:func:`tests.video_peer.colour_share`). A sample is the time from the source sending the
  first packet of its first frame in the new colour to the arrival of the last packet of the
  first frame showing it (so the generator's own decoding is not counted; the bridge's
  receive, decode, wait for its next tick, compose, encode and send are). A switch not seen
  before the next one counts as infinitely late. p50 and p95 per step.
* worker CPU from /proc/<pid>/stat (utime + stime, all its threads) over the window; the
  worker's own decode/compose/encode seconds (``pool.worker_stats()[i]["video"]``,
  wall-clock timers: their shares are of the worker's CPU time, or of their own sum when
  another program on the same CPU makes them add up to more than that).

A step passes when dropped frames < 10 %, latency p95 < 150 ms, every leg got frames and the
mixer did not degrade. The load ramps by one 4-leg call per step until a step fails or
``--max-calls``. The CPUs are shared with other programs: a failing step is measured once
more, up to 3 more times while others use over 10 % of a worker's CPU (``/proc/stat``, the
CPU's busy time less the worker's: ``others_on_worker_cpus``). Without ``--quick`` the best
passing step is then confirmed over ``--confirm`` (30) seconds with fresh calls; if the
confirmation fails, the ramp's figure stands (the JSON shows both).

Legs per core = legs of the highest passing step / worker CPU cores used in that step (the
worker is pinned to one core, so this extrapolates a partly loaded core linearly; at the
knee the two agree). 720p30: ratio to the guide's 2.5 (goal >= 3). 1080p30 and 480p30:
their legs per core divided by 720p30's, compared with Table 4's 1080p30 : 720p30 : 480p30
= 1 : 2 : 4 legs, i.e. 0.5 and 2.0. Profile: the decode, compose and encode shares of the
worker's CPU time at the highest passing 720p step (the rest: RTP, packetization, audio,
the event loop).

    .venv/bin/python bench/video.py             # full run (a few minutes)
    .venv/bin/python bench/video.py --quick     # smoke run (under 3 minutes)

Writes bench/results/video.json; prints one summary line (progress lines before it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import random
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from moot.media.codecs import CODECS  # noqa: E402
from moot.media.leg import LegConfig, VideoConfig  # noqa: E402
from moot.media.pool import MediaPool  # noqa: E402
from tests.video_peer import (  # noqa: E402
    BLUE,
    GREEN,
    MAGENTA,
    RED,
    YELLOW,
    EncodedClip,
    ReceivedFrame,
    Rgb,
    VideoPeer,
    colour_share,
    dominant_colours,
    encode_clip,
)

RESULTS = ROOT / "bench" / "results" / "video.json"
HOST = "127.0.0.1"
PARTY = 4
FPS = 30
DROPPED_LIMIT = 0.10
LATENCY_LIMIT_MS = 150.0
GUIDE_720P_PER_CORE = 2.5
GOAL_720P_PER_CORE = 3.0
GUIDE_RATIOS = {"1080p30": 0.5, "480p30": 2.0}
"""Table 4: 1080p30 : 720p30 : 480p30 = 1 : 2 : 4 legs, as ratios to 720p30."""


@dataclass(frozen=True)
class Resolution:
    name: str
    width: int
    height: int
    bitrate: int


RESOLUTIONS = {
    "720p30": Resolution("720p30", 1280, 720, 1_500_000),
    "1080p30": Resolution("1080p30", 1920, 1080, 3_000_000),
    "480p30": Resolution("480p30", 848, 480, 800_000),
}
LEG_COLOURS: tuple[Rgb, ...] = (RED, GREEN, BLUE, YELLOW)
PROBE_COLOUR: Rgb = MAGENTA
"""Leg 0 of a probe call alternates RED <-> MAGENTA; leg 1 watches for it."""


# ---------------------------------------------------------------------------- generator


@dataclass
class _GenCall:
    peers: list[VideoPeer]
    probe: bool
    task: asyncio.Task[None] | None = None
    latencies: list[float] = field(default_factory=list)
    switches: int = 0
    missed: int = 0
    shown: Rgb | None = None
    pending: tuple[Rgb, int] | None = None
    """(colour the source switched to, switch number) not yet seen by the receiver."""
    panes: list[tuple[Rgb, float]] = field(default_factory=list)
    panes_at: float = -1e9


class Generator:
    """The far ends of the legs of some calls, on one event loop (one process)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.clips: dict[Rgb, EncodedClip] = {}
        self.calls: dict[int, _GenCall] = {}
        self.fps = FPS
        self.payload_type = 96
        self.window_start = time.monotonic()
        self.cpu_start = time.process_time()
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sink.bind((HOST, 0))
        self.sink.setblocking(False)

    def _drain_sink(self) -> None:
        while True:
            try:
                self.sink.recv(2048)
            except BlockingIOError:
                return

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.sink.fileno(), self._drain_sink)
        self.conn.send(self.sink.getsockname())
        while True:
            cmd = await loop.run_in_executor(None, self.conn.recv)
            name, args = cmd[0], cmd[1:]
            if name == "stop":
                for call in list(self.calls):
                    await self._close(call)
                self.conn.send("ok")
                return
            self.conn.send(await getattr(self, f"cmd_{name}")(*args))

    async def cmd_prepare(self, codec: str, width: int, height: int, bitrate: int) -> Any:
        for call in list(self.calls):
            await self._close(call)
        t0 = time.perf_counter()
        self.payload_type = 96 if codec == "H264" else 97
        self.clips = {
            c: encode_clip(codec, width, height, c, fps=self.fps, seconds=2.0, bitrate=bitrate)
            for c in (*LEG_COLOURS, PROBE_COLOUR)
        }
        return {
            "seconds": round(time.perf_counter() - t0, 1),
            "source_kbps": round(
                sum(c.bitrate for c in self.clips.values()) / len(self.clips) / 1000
            ),
        }

    async def cmd_open(self, call: int, probe: bool) -> list[int]:
        peers = []
        for j in range(PARTY):
            peer = VideoPeer(HOST, name=f"call{call}-leg{j}", decode=probe and j == 1)
            await peer.start()
            peers.append(peer)
        self.calls[call] = _GenCall(peers, probe)
        if probe:
            gc = self.calls[call]
            peers[1].on_frame = lambda frame, gc=gc: self._watch(gc, frame)
        return [p.port for p in peers]

    async def cmd_start(self, call: int, remotes: Sequence[tuple[str, int]]) -> str:
        gc = self.calls[call]
        for j, (peer, remote) in enumerate(zip(gc.peers, remotes, strict=True)):
            peer.start_sending(remote, payload_type=self.payload_type, clips=self.clips,
                               colour=LEG_COLOURS[j], fps=self.fps)  # fmt: skip
        if gc.probe:
            gc.task = asyncio.get_running_loop().create_task(self._switch(gc))
        return "ok"

    async def _switch(self, gc: _GenCall) -> None:
        source = gc.peers[0]
        colour = LEG_COLOURS[0]
        rng = random.Random(len(self.calls))
        while True:
            await asyncio.sleep(rng.uniform(0.5, 0.7))
            if gc.pending is not None:
                gc.missed += 1  # the previous switch was never seen
            colour = PROBE_COLOUR if colour == LEG_COLOURS[0] else LEG_COLOURS[0]
            source.set_colour(colour)
            gc.switches += 1
            gc.pending = (colour, gc.switches)

    def _watch(self, gc: _GenCall, frame: ReceivedFrame) -> None:
        if frame.picture is None:
            return
        probe = colour_share(frame.picture, PROBE_COLOUR, 60, grid=(32, 18))
        base = colour_share(frame.picture, LEG_COLOURS[0], 60, grid=(32, 18))
        shown = gc.shown
        if probe > 0.08 and base < 0.01:
            shown = PROBE_COLOUR
        elif base > 0.08 and probe < 0.01:
            shown = LEG_COLOURS[0]
        if shown != gc.shown:
            gc.shown = shown
            sent = gc.peers[0].colour_sent_at
            if gc.pending is not None and gc.pending[0] == shown and sent is not None:
                gc.latencies.append(frame.arrival - sent)
                gc.pending = None
        if frame.arrival - gc.panes_at >= 1.0:  # what the view shows, once a second
            gc.panes_at = frame.arrival
            gc.panes = dominant_colours(frame.picture)

    async def cmd_window(self) -> str:
        for gc in self.calls.values():
            for peer in gc.peers:
                peer.reset_stats()
            gc.latencies.clear()
            gc.switches = gc.missed = 0
            gc.pending = None
        self.window_start = time.monotonic()
        self.cpu_start = time.process_time()
        return "ok"

    async def cmd_report(self) -> dict[str, Any]:
        wall = time.monotonic() - self.window_start
        loop = asyncio.get_running_loop()
        legs = []
        latencies: list[float] = []
        missed = switches = 0
        panes: list[list[Any]] = []
        for gc in self.calls.values():
            for j, peer in enumerate(gc.peers):
                s = peer.stats
                shown = s.frames_decoded if peer.decode else s.frames_received - s.frames_undecodable
                legs.append({
                    "shown": shown, "received": s.frames_received,
                    "incomplete": s.frames_incomplete, "undecodable": s.frames_undecodable,
                    "lost": s.packets_lost, "keyframes": s.keyframes_received,
                    "plis_sent": s.plis_sent, "keyframe_requests": s.plis_received + s.firs_received,
                    "rx_kbps": round(8 * s.bytes_received / max(wall, 1e-9) / 1000),
                    "tx_kbps": round(8 * s.bytes_sent / max(wall, 1e-9) / 1000),
                    "size": [s.width, s.height] if peer.decode else None, "leg": j,
                })  # fmt: skip
            if gc.probe:
                latencies += gc.latencies
                # A switch still unseen at the end of the window counts as missed only if
                # it is older than any interval between switches (0.5 s).
                sent = gc.peers[0].colour_sent_at
                late = gc.pending is not None and sent is not None and loop.time() - sent > 0.5
                missed += gc.missed + int(late)
                switches += gc.switches
                panes.append([[list(c), round(share, 2)] for c, share in gc.panes])
        return {
            "wall": wall,
            "legs": legs,
            "latencies": latencies,
            "missed": missed,
            "switches": switches,
            "panes": panes,
            "cpu": (time.process_time() - self.cpu_start) / max(wall, 1e-9),
        }

    async def cmd_close(self, call: int) -> str:
        await self._close(call)
        return "ok"

    async def _close(self, call: int) -> None:
        gc = self.calls.pop(call, None)
        if gc is None:
            return
        if gc.task is not None:
            gc.task.cancel()
        for peer in gc.peers:
            await peer.close()


def generator_main(conn: Connection, cpu: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    asyncio.run(Generator(conn).run())


# ---------------------------------------------------------------------------- driver


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_times(cpu: int) -> tuple[int, int]:
    """(busy, total) jiffies of one CPU from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            return sum(values[:8]) - idle, sum(values[:8])
    return 0, 0


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pool = MediaPool(
            workers=args.workers, port_range=(20000, 59999), rtp_timeout=600,
            realtime_priority=10 if args.realtime else 0,
        )  # fmt: skip
        self.cpus = os.cpu_count() or 1
        ctx = multiprocessing.get_context("spawn")
        self.gens: list[tuple[Connection, BaseProcess]] = []
        for _ in range(args.generators):
            conn, child = ctx.Pipe()
            proc = ctx.Process(target=generator_main, args=(child, self.cpus - 1), daemon=True)
            self.gens.append((conn, proc))
        self.sink: tuple[str, int] = ("", 0)
        self.calls: list[list[str]] = []
        self.resolution = RESOLUTIONS["720p30"]
        self.codec = args.codec

    async def ask(self, gen: int, *cmd: Any) -> Any:
        conn = self.gens[gen][0]
        conn.send(cmd)
        return await asyncio.to_thread(conn.recv)

    async def ask_all(self, *cmd: Any) -> list[Any]:
        return list(await asyncio.gather(*(self.ask(g, *cmd) for g in range(len(self.gens)))))

    async def start(self) -> None:
        await self.pool.start()
        for i, pid in enumerate(self.pool.worker_pids()):
            os.sched_setaffinity(pid, {i % self.cpus})
        os.sched_setaffinity(0, {self.cpus - 1})
        for conn, proc in self.gens:
            proc.start()
            self.sink = await asyncio.to_thread(conn.recv)

    async def stop(self) -> None:
        await self.close_calls()
        with_timeout = [asyncio.wait_for(self.ask(g, "stop"), 10) for g in range(len(self.gens))]
        await asyncio.gather(*with_timeout, return_exceptions=True)
        for _, proc in self.gens:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
        await self.pool.stop()

    async def prepare(self, resolution: Resolution) -> dict[str, Any]:
        await self.close_calls()
        self.resolution = resolution
        r = resolution
        out: list[dict[str, Any]] = await self.ask_all("prepare", self.codec, r.width, r.height,
                                                       r.bitrate)  # fmt: skip
        return out[0]

    async def add_call(self) -> None:
        index = len(self.calls)
        gen = index % len(self.gens)
        call_id = f"video-{self.resolution.name}-{index}"
        probe = index < self.args.probe_calls
        peer_ports: list[int] = await self.ask(gen, "open", index, probe)
        r = self.resolution
        legs, remotes = [], []
        for j, peer_port in enumerate(peer_ports):
            leg = f"{call_id}-{j}"
            await self.pool.open_leg(call_id, leg, HOST)
            vport = await self.pool.open_video(leg)
            await self.pool.start_leg(leg, LegConfig(
                remote=self.sink, codec=CODECS["PCMU"], name=f"Caller {index}.{j}",
                video=VideoConfig(remote=(HOST, peer_port), codec=self.codec,
                                  payload_type=96 if self.codec == "H264" else 97,
                                  width=r.width, height=r.height, fps=FPS, bitrate=r.bitrate,
                                  layout="allEqual"),
            ))  # fmt: skip
            legs.append(leg)
            remotes.append((HOST, vport))
        await self.ask(gen, "start", index, remotes)
        self.calls.append(legs)

    async def close_calls(self) -> None:
        while self.calls:
            index = len(self.calls) - 1
            for leg in self.calls.pop():
                await self.pool.close_leg(leg)
            await self.ask(index % len(self.gens), "close", index)

    async def measure(self, seconds: float) -> dict[str, Any]:
        await self.ask_all("window")
        before = await self.pool.worker_stats()
        pids = self.pool.worker_pids()
        cores = [i % self.cpus for i in range(len(pids))]
        cpu0 = [_proc_cpu_seconds(p) for p in pids]
        sys0 = [_cpu_times(c) for c in cores]
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        cpu1 = [_proc_cpu_seconds(p) for p in pids]
        sys1 = [_cpu_times(c) for c in cores]
        wall = time.monotonic() - t0
        after = await self.pool.worker_stats()
        reports: list[dict[str, Any]] = await self.ask_all("report")
        legs = [leg for rep in reports for leg in rep["legs"]]
        gen_wall = min(rep["wall"] for rep in reports)
        expected = FPS * gen_wall * len(legs)
        shown = sum(leg["shown"] for leg in legs)
        dropped = max(0.0, expected - shown) / max(1.0, expected)
        latencies = [x for rep in reports for x in rep["latencies"]]
        missed = sum(rep["missed"] for rep in reports)
        samples = latencies + [math.inf] * missed
        worker_cpu = [(b - a) / wall for a, b in zip(cpu0, cpu1, strict=True)]
        # What else ran on the workers' CPUs (other programs on this shared machine).
        others = [
            max(0.0, (b[0] - a[0]) / max(1, b[1] - a[1]) - w)
            for a, b, w in zip(sys0, sys1, worker_cpu, strict=True)
        ]
        video = {
            key: sum(w["video"].get(key, 0) - v["video"].get(key, 0)
                     for w, v in zip(after, before, strict=True))
            for key in ("decode_s", "compose_s", "encode_s", "frames_composed",
                        "frames_encoded", "frames_skipped", "frames_dropped")
        }  # fmt: skip
        cpu_s = sum(b - a for a, b in zip(cpu0, cpu1, strict=True))
        parts = ("decode_s", "compose_s", "encode_s")
        # The worker times its parts with a wall clock: when another program shares its CPU
        # they can add up to more than its CPU time; then the parts are shares of their sum.
        total = max(cpu_s, sum(video[k] for k in parts), 1e-9)
        shares = {k.removesuffix("_s"): round(video[k] / total, 3) for k in parts}
        shares["other"] = round(max(0.0, 1 - sum(shares.values())), 3)

        def ms(x: float) -> float | None:
            return None if math.isinf(x) else round(1000 * x, 1)

        return {
            "resolution": self.resolution.name,
            "calls": len(self.calls),
            "legs": len(legs),
            "seconds": round(wall, 1),
            "frames_expected": round(expected),
            "frames_shown": shown,
            "dropped_fraction": round(dropped, 4),
            "frames_incomplete": sum(leg["incomplete"] for leg in legs),
            "frames_undecodable": sum(leg["undecodable"] for leg in legs),
            "packets_lost": sum(leg["lost"] for leg in legs),
            "silent_legs": sum(1 for leg in legs if leg["received"] == 0),
            "min_leg_fps": round(min((leg["shown"] for leg in legs), default=0) / gen_wall, 1),
            "keyframe_requests_from_bridge": sum(leg["keyframe_requests"] for leg in legs),
            "plis_to_bridge": sum(leg["plis_sent"] for leg in legs),
            "rx_kbps_per_leg": round(sum(leg["rx_kbps"] for leg in legs) / max(1, len(legs))),
            "tx_kbps_per_leg": round(sum(leg["tx_kbps"] for leg in legs) / max(1, len(legs))),
            "probe_view_size": next((leg["size"] for leg in legs if leg["size"]), None),
            "probe_view_colours": [p for rep in reports for p in rep["panes"]],
            "latency_samples": len(latencies),
            "latency_missed": missed,
            "latency_p50_ms": ms(_percentile(samples, 0.5)),
            "latency_p95_ms": ms(_percentile(samples, 0.95)),
            "latency_max_ms": ms(max(samples, default=math.inf)),
            "worker_cpu": [round(c, 3) for c in worker_cpu],
            "others_on_worker_cpus": [round(c, 3) for c in others],
            "worker_video": {k: round(v, 3) for k, v in video.items()},
            "worker_degrade_level": max(w["video"].get("degrade_level", 0) for w in after),
            "worker_shares": shares,
            "generator_cpu": [round(rep["cpu"], 3) for rep in reports],
        }

    @staticmethod
    def passes(m: dict[str, Any]) -> bool:
        p95 = m["latency_p95_ms"]
        return bool(
            m["dropped_fraction"] < DROPPED_LIMIT
            and p95 is not None and p95 < LATENCY_LIMIT_MS
            and m["silent_legs"] == 0
            and m["worker_degrade_level"] == 0
        )


CONTENDED = 0.1
"""Other programs using more than this share of a worker's CPU: the step is retried."""


def _contended(m: dict[str, Any]) -> bool:
    return max(m["others_on_worker_cpus"], default=0.0) > CONTENDED


def _progress(m: dict[str, Any]) -> None:
    print(
        f"  {m['resolution']:>7} {m['legs']:3d} legs: dropped {100 * m['dropped_fraction']:.1f}% "
        f"(min leg {m['min_leg_fps']} fps) latency p50/p95 {m['latency_p50_ms']}/"
        f"{m['latency_p95_ms']} ms ({m['latency_samples']} + {m['latency_missed']} missed) "
        f"worker cpu {m['worker_cpu']} (others {m['others_on_worker_cpus']}) "
        f"degrade {m['worker_degrade_level']} keyframe requests "
        f"{m['keyframe_requests_from_bridge']} in/{m['plis_to_bridge']} out "
        f"shares {m['worker_shares']} gen cpu {m['generator_cpu']} "
        f"{'pass' if m.get('pass') else 'FAIL'}",
        file=sys.stderr, flush=True,
    )  # fmt: skip


async def ramp(bench: Bench, resolution: Resolution) -> dict[str, Any]:
    args = bench.args
    prep = await bench.prepare(resolution)
    print(f"  {resolution.name}: clips encoded in {prep['seconds']} s, sources "
          f"{prep['source_kbps']} kbit/s", file=sys.stderr, flush=True)  # fmt: skip
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    while len(bench.calls) < args.max_calls:
        await bench.add_call()
        await asyncio.sleep(args.settle)
        m = await bench.measure(args.window)
        m["pass"] = bench.passes(m)
        tries = 1
        # A failing step is measured again (once; up to 3 times while other programs use
        # the worker's CPU: this machine is shared).
        while not m["pass"] and (tries < 2 or (tries < 4 and _contended(m))):
            _progress(m)
            steps.append(m)
            await asyncio.sleep(1.0)
            m = await bench.measure(args.window)
            m["pass"] = bench.passes(m)
            m["retry"] = tries
            tries += 1
        _progress(m)
        steps.append(m)
        if not m["pass"]:
            break
        best = m
    if best is not None and args.confirm > 0:
        # Fresh calls: a mixer that degraded in the failing step keeps its lower frame rate
        # while its load stays above its relief threshold.
        await bench.close_calls()
        for _ in range(best["calls"]):
            await bench.add_call()
        await asyncio.sleep(args.settle)
        m = await bench.measure(args.confirm)
        m["pass"] = bench.passes(m)
        m["confirm"] = True
        _progress(m)
        steps.append(m)
        best = m if m["pass"] else best
    await bench.close_calls()
    per_core = None
    if best is not None:
        cores = sum(best["worker_cpu"])
        per_core = round(best["legs"] / cores, 2) if cores > 0 else None
    return {"resolution": resolution.__dict__, "ramp": steps, "best": best,
            "legs_per_core": per_core}  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows (smoke run)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--generators", type=int, default=1, help="load generator processes")
    parser.add_argument("--codec", choices=("H264", "VP8"), default="H264")
    parser.add_argument("--resolutions", default="720p30,1080p30,480p30")
    parser.add_argument("--window", type=float, default=None, help="seconds per ramp step")
    parser.add_argument("--settle", type=float, default=None, help="seconds before a window")
    parser.add_argument("--confirm", type=float, default=None,
                        help="confirmation window at the best step (0: none)")  # fmt: skip
    parser.add_argument("--max-calls", type=int, default=16)
    parser.add_argument("--probe-calls", type=int, default=2)
    parser.add_argument("--realtime", action="store_true",
                        help="run workers SCHED_RR 10 (default: normal priority; the machine "
                             "is shared and a saturated real-time worker starves its CPU)")  # fmt: skip
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.window = args.window or (4.0 if args.quick else 10.0)
    args.settle = args.settle or (2.0 if args.quick else 3.0)
    if args.confirm is None:
        args.confirm = 0.0 if args.quick else 30.0
    names = [n.strip() for n in args.resolutions.split(",") if n.strip()]
    unknown = [n for n in names if n not in RESOLUTIONS]
    if unknown:
        parser.error(f"unknown resolution(s) {unknown}: {sorted(RESOLUTIONS)}")

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t_start = time.monotonic()
    bench = Bench(args)
    await bench.start()
    results: dict[str, dict[str, Any]] = {}
    try:
        for name in names:
            results[name] = await ramp(bench, RESOLUTIONS[name])
    finally:
        await bench.stop()

    base = results.get("720p30", {}).get("legs_per_core")
    ratios = {}
    for name, guide in GUIDE_RATIOS.items():
        value = results.get(name, {}).get("legs_per_core")
        ratios[name] = {
            "legs_per_core": value,
            "ratio_to_720p30": round(value / base, 2) if value and base else None,
            "guide_ratio": guide,
        }
    best720 = results.get("720p30", {}).get("best")
    profile = best720["worker_shares"] if best720 else None
    result = {
        "started": started,
        "duration_s": round(time.monotonic() - t_start),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_at_start": load_at_start},
        "settings": {
            "workers": args.workers, "generators": args.generators, "codec": args.codec,
            "party": PARTY, "layout": "allEqual", "fps": FPS,
            "window_s": args.window, "settle_s": args.settle, "confirm_s": args.confirm,
            "quick": args.quick, "probe_calls": args.probe_calls,
            "limits": {"dropped": DROPPED_LIMIT, "latency_p95_ms": LATENCY_LIMIT_MS},
            "worker_scheduling": "SCHED_RR 10" if args.realtime else "normal",
            "resolutions": {n: RESOLUTIONS[n].__dict__ for n in names},
        },
        "results": results,
        "720p30": {
            "legs_per_core": base,
            "guide_legs_per_core": GUIDE_720P_PER_CORE,
            "ratio_to_guide": round(base / GUIDE_720P_PER_CORE, 2) if base else None,
            "goal": GOAL_720P_PER_CORE,
            "meets_goal": bool(base and base >= GOAL_720P_PER_CORE),
        },
        "resolution_ratios": ratios,
        "profile_720p30": profile,
        "profile_note": (
            "Shares of the worker's CPU time (from /proc) in the highest passing 720p30 step: "
            "decode = all legs' incoming video decoding, compose = the views' scaling, "
            "placing and labels, encode = the views' encoders; other = RTP receive and send, "
            "packetization, the audio mixing of the same legs, the event loop."
        ),
    }
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(_summary(results, ratios, base, profile))


def _summary(results: dict[str, dict[str, Any]], ratios: dict[str, dict[str, Any]],
             base: float | None, profile: dict[str, float] | None) -> str:  # fmt: skip
    parts = []
    best = results.get("720p30", {}).get("best")
    if best is not None and base:
        parts.append(
            f"720p30 {base:.2f} legs/core ({best['legs']} legs at "
            f"{sum(best['worker_cpu']):.2f} cores; {base / GUIDE_720P_PER_CORE:.2f}x the "
            f"guide's 2.5, goal 3: {'met' if base >= GOAL_720P_PER_CORE else 'NOT met'}), "
            f"dropped {100 * best['dropped_fraction']:.1f}%, latency p50/p95 "
            f"{best['latency_p50_ms']}/{best['latency_p95_ms']} ms"
        )
    elif "720p30" in results:
        parts.append("720p30: no step passed")
    for name, r in ratios.items():
        if name not in results:
            continue
        if r["legs_per_core"]:
            ratio = r["ratio_to_720p30"]
            versus = f" (x{ratio} of 720p30, guide x{r['guide_ratio']})" if ratio else ""
            parts.append(f"{name} {r['legs_per_core']:.2f} legs/core{versus}")
        else:
            parts.append(f"{name}: no step passed")
    if profile:
        parts.append("worker time: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in profile.items()))
    return "video: " + "; ".join(parts)


if __name__ == "__main__":
    asyncio.run(main())
