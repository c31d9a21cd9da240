"""Media plane capacity benchmark: how many G.711 legs one core mixes in 10-party calls.

Setup (on this 2-CPU machine):

* a :class:`moot.media.pool.MediaPool` with ``--workers`` worker processes (default 1),
  each pinned to its own CPU (CPU 0, 1, ...);
* one load generator process pinned to the last CPU (with this script's main process,
  which only hosts the pool's mostly idle control side). It plays every phone: every 20 ms
  it sends one prebuilt PCMU packet (sequence number and timestamp patched in place) to
  every leg's RTP port from one socket, and receives all legs' mixes on one socket (every
  leg's remote address is that socket), tracking sequence gaps per leg;
* calls of ``--party`` (10) PCMU legs; in each call two legs "talk" (tones), the others
  send low-level noise, so the N-1 mix and speaker detection do real work.

Measured per window: outgoing packets late or lost = packets the worker sent more than one
frame after their deadline or skipped (worker counters) + packets the generator never
received (sequence gaps); mix latency = time from a frame's deadline to the last packet of
that call leaving (worker histogram, p99 and max); worker CPU use.

The load is ramped in steps of whole calls with short windows to find the knee, then the
highest passing load (< 1 % late/lost, p99 mix latency < 40 ms) is confirmed over a
``--seconds`` window (default 60; ``--quick``: 10) and one worker is profiled with cProfile.

    .venv/bin/python bench/media.py             # full run
    .venv/bin/python bench/media.py --quick

Writes bench/results/media.json; prints one summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import socket
import struct
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from moot.media.codecs import CODECS  # noqa: E402
from moot.media.g711 import ulaw_encode  # noqa: E402
from moot.media.leg import LegConfig  # noqa: E402
from moot.media.pool import MediaPool  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "media.json"
HOST = "127.0.0.1"
LATE_LOST_LIMIT = 0.01
LATENCY_LIMIT_MS = 40.0


# ---------------------------------------------------------------------------- generator


def _payload(kind: int, seed: int) -> bytes:
    """20 ms of PCMU: a talker's tone (kind 1) or quiet background noise (kind 0)."""
    rng = np.random.default_rng(seed)
    t = np.arange(160) / 8000
    if kind:
        freq = 200 + 50 * (seed % 16)  # whole cycles in 20 ms: seamless when repeated
        pcm = 6000 * np.sin(2 * np.pi * freq * t)
    else:
        pcm = rng.normal(0, 60, 160)
    return bytes(ulaw_encode(np.clip(pcm, -32768, 32767).astype(np.int16)))


def generator_main(conn: Connection, cpu: int) -> None:
    """The phones: send 20 ms packets to every leg, receive and account for the mixes."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE (root)
    except OSError:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.bind((HOST, 0))
    rx.setblocking(False)
    conn.send(rx.getsockname())

    targets: list[tuple[bytearray, tuple[str, int]]] = []
    # per source port: [received, first_ext_seq, max_ext_seq, last_seq, cycles]
    track: dict[int, list[int]] = {}
    buf = bytearray(2048)
    seq = 0
    ts = 0
    sent = 0
    next_tick = time.monotonic()
    tick = 0
    pack = struct.Struct("!HI").pack_into
    recv = rx.recvfrom_into
    sendto = tx.sendto
    send_errors = 0
    window_cpu = time.process_time()
    window_wall = time.monotonic()
    while True:
        for packet, addr in targets:
            pack(packet, 2, seq, ts)
            try:
                sendto(packet, addr)
            except OSError:
                send_errors += 1
        sent += len(targets)
        seq = (seq + 1) & 0xFFFF
        ts = (ts + 160) & 0xFFFFFFFF
        while True:
            try:
                _n, addr = recv(buf)
            except BlockingIOError:
                break
            st = track.get(addr[1])
            if st is None:
                continue
            s = (buf[2] << 8) | buf[3]
            if st[0] == 0:
                st[1] = st[2] = s
                st[3] = s
            else:
                d = (s - st[3]) & 0xFFFF
                if d < 0x8000:  # forward (in order or a gap)
                    if s < st[3]:
                        st[4] += 0x10000
                    st[3] = s
                    st[2] = st[4] + s
            st[0] += 1
        tick += 1
        if tick % 5 == 0 and conn.poll():
            cmd = conn.recv()
            if cmd[0] == "legs":
                ports: list[int] = cmd[1]
                targets = []
                for i, port in enumerate(ports):
                    header = struct.pack("!BBHII", 0x80, 0, 0, 0, 0x10000 + i)
                    talker = 1 if i % 10 in (0, 1) else 0
                    targets.append((bytearray(header + _payload(talker, i)), (HOST, port)))
                conn.send(("ok",))
            elif cmd[0] == "window":
                # The pool sends to us from each leg's RTP port: track those.
                track = {port: [0, 0, 0, 0, 0] for port in cmd[1]}
                window_cpu = time.process_time()
                window_wall = time.monotonic()
                sent = 0
                send_errors = 0
                conn.send(("ok",))
            elif cmd[0] == "report":
                received = sum(st[0] for st in track.values())
                expected = sum(st[2] - st[1] + 1 for st in track.values() if st[0])
                silent = sum(1 for st in track.values() if st[0] == 0)
                conn.send(
                    {
                        "received": received,
                        "expected": expected,
                        "lost": max(0, expected - received),
                        "silent_legs": silent,
                        "sent": sent,
                        "send_errors": send_errors,
                        "cpu": (time.process_time() - window_cpu)
                        / max(1e-9, time.monotonic() - window_wall),
                    }
                )
            elif cmd[0] == "stop":
                conn.send(("ok",))
                return
        next_tick += 0.02
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.04:
            next_tick = time.monotonic()  # fell behind: do not burst


# ---------------------------------------------------------------------------- driver


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pool = MediaPool(
            workers=args.workers,
            port_range=(20000, 59999),
            rtp_timeout=600,
            realtime_priority=0 if args.no_realtime else 10,
        )
        self.calls = 0
        self.ports: list[int] = []
        self.legs: list[str] = []
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.cpus = os.cpu_count() or 1
        self.gen = ctx.Process(target=generator_main, args=(child, self.cpus - 1), daemon=True)
        self.gen_addr: tuple[str, int] = ("", 0)

    async def ask(self, cmd: tuple[Any, ...]) -> Any:
        self.conn.send(cmd)
        return await asyncio.to_thread(self.conn.recv)

    async def start(self) -> None:
        await self.pool.start()
        for i, pid in enumerate(self.pool.worker_pids()):
            os.sched_setaffinity(pid, {i % self.cpus})
        os.sched_setaffinity(0, {self.cpus - 1})
        self.gen.start()
        self.gen_addr = await asyncio.to_thread(self.conn.recv)

    async def stop(self) -> None:
        await self.ask(("stop",))
        self.gen.join(5)
        await self.pool.stop()

    async def grow_to(self, legs: int) -> None:
        party = self.args.party
        spec = CODECS["PCMU"]
        while len(self.legs) + party <= legs:
            call = f"call-{self.calls}"
            self.calls += 1
            for j in range(party):
                leg = f"{call}-{j}"
                port = await self.pool.open_leg(call, leg, HOST)
                await self.pool.start_leg(leg, LegConfig(remote=self.gen_addr, codec=spec))
                self.legs.append(leg)
                self.ports.append(port)
        await self.ask(("legs", list(self.ports)))

    async def measure(self, seconds: float) -> dict[str, Any]:
        await asyncio.sleep(2.0)  # let jitter buffers prime at the new load
        await self.ask(("window", list(self.ports)))
        before = await self.pool.worker_stats(reset=True)
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        after = await self.pool.worker_stats()
        wall = time.monotonic() - t0
        gen = await self.ask(("report",))
        hist = np.sum([w["latency_hist_ms"] for w in after], axis=0)
        total = max(1, int(hist.sum()))
        cdf = np.cumsum(hist) / total
        p99 = float(np.searchsorted(cdf, 0.99))  # ms bucket
        max_ms = float(np.nonzero(hist)[0].max()) if hist.any() else 0.0
        late = sum(w["late_or_lost_tx"] for w in after)
        cpu = [
            (a["cpu_s"] - b["cpu_s"]) / wall for a, b in zip(after, before, strict=True)
        ]
        expected = max(1, gen["expected"])
        late_lost = (late + gen["lost"]) / max(1, len(self.legs) * 50 * wall)
        return {
            "legs": len(self.legs),
            "calls": self.calls,
            "seconds": round(wall, 1),
            "late_tx": late,
            "lost_tx": gen["lost"],
            "received": gen["received"],
            "expected": expected,
            "silent_legs": gen["silent_legs"],
            "late_lost_fraction": round(late_lost, 5),
            "mix_latency_p99_ms": p99 + 1.0,  # upper edge of the bucket
            "mix_latency_max_ms": max_ms + 1.0,
            "frames_skipped": sum(w["frames_skipped"] for w in after),
            "rx_lost": sum(w.get("rx_lost", 0) for w in after),
            "worker_cpu": [round(c, 3) for c in cpu],
            "generator_send_errors": gen["send_errors"],
            "generator_cpu": round(gen["cpu"], 3),
        }

    def passes(self, m: dict[str, Any]) -> bool:
        return bool(
            m["late_lost_fraction"] < LATE_LOST_LIMIT
            and m["mix_latency_p99_ms"] < LATENCY_LIMIT_MS
            and m["silent_legs"] == 0
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="confirmation window")
    parser.add_argument("--quick", action="store_true", help="short windows (CI smoke run)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--party", type=int, default=10)
    parser.add_argument("--start", type=int, default=200, help="first load, legs")
    parser.add_argument("--step", type=int, default=100, help="ramp step, legs")
    parser.add_argument("--max-legs", type=int, default=3000)
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--no-realtime",
        action="store_true",
        help="run workers at normal priority (default: SCHED_RR 10, as media servers do)",
    )
    args = parser.parse_args()
    window = 3.0 if args.quick else 5.0
    confirm = 10.0 if args.quick else args.seconds
    profile_seconds = 4.0 if args.quick else args.profile_seconds

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    bench = Bench(args)
    await bench.start()
    ramp: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        legs = args.start
        while legs <= args.max_legs:
            await bench.grow_to(legs)
            m = await bench.measure(window)
            m["pass"] = bench.passes(m)
            if not m["pass"]:
                # One retry: the CPUs are shared with whatever else runs on this machine.
                ramp.append(m)
                m = await bench.measure(window)
                m["pass"] = bench.passes(m)
                m["retry"] = True
            ramp.append(m)
            print(
                f"  ramp {m['legs']:5d} legs: late/lost {100 * m['late_lost_fraction']:.3f}% "
                f"p99 {m['mix_latency_p99_ms']:.0f} ms cpu {m['worker_cpu']} "
                f"late {m['late_tx']} lost {m['lost_tx']} skipped {m['frames_skipped']} "
                f"rx_lost {m['rx_lost']} gen cpu {m['generator_cpu']}",
                flush=True,
            )
            if not m["pass"]:
                break
            best = m
            legs += args.step
        # Confirm the best passing load over the long window (step back if it fails).
        confirmed: dict[str, Any] | None = None
        target = best["legs"] if best else args.start
        for _ in range(8):
            bench_legs = await _reset_to(bench, target)
            m = await bench.measure(confirm)
            m["pass"] = bench.passes(m)
            print(
                f"  confirm {bench_legs} legs over {confirm:.0f} s: late/lost "
                f"{100 * m['late_lost_fraction']:.3f}% p99 {m['mix_latency_p99_ms']:.0f} ms "
                f"cpu {m['worker_cpu']}",
                flush=True,
            )
            if m["pass"]:
                confirmed = m
                break
            target -= args.step
            if target < args.party:
                break
        profile = await bench.pool.profile_worker(0, profile_seconds, top=25)
    finally:
        await bench.stop()

    per_core = confirmed["legs"] / args.workers if confirmed else 0
    util = (sum(confirmed["worker_cpu"]) / args.workers) if confirmed else 0.0
    result = {
        "started": started,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": load_at_start,
        },
        "settings": {
            "workers": args.workers,
            "party": args.party,
            "codec": "PCMU 20 ms",
            "ramp_window_s": window,
            "confirm_window_s": confirm,
            "limits": {"late_lost": LATE_LOST_LIMIT, "mix_latency_p99_ms": LATENCY_LIMIT_MS},
            "quick": args.quick,
            "worker_scheduling": "nice -10" if args.no_realtime else "SCHED_RR 10",
        },
        "ramp": ramp,
        "confirmed": confirmed,
        "legs_per_core": per_core,
        "worker_cpu_at_confirmed": round(util, 3),
        "worker_cpu_us_per_leg_frame": (
            round(1e6 * util / (per_core * 50), 1) if confirmed and per_core else None
        ),
        "profile_note": (
            "cProfile of worker 0 at the confirmed load, by own time. "
            "{method 'poll' of 'select.epoll' objects} aggregates the event loop's idle wait "
            "for the next frame timer with the per-call drain polls (the latter ~3 % of wall "
            "time when timed separately); sendto/recvfrom are the kernel's per-packet cost; "
            "_frame/_on_rtp are the per-leg Python work; mix_n_minus_1 and the speaker "
            "detector are a few numpy calls per call and frame."
        ),
        "profile_top": profile.splitlines()[:45],
    }
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if confirmed:
        print(
            f"media: {per_core:.0f} G.711 legs/core ({args.party}-party calls, {args.workers} "
            f"worker) with {100 * confirmed['late_lost_fraction']:.3f}% late/lost, mix latency "
            f"p99 {confirmed['mix_latency_p99_ms']:.0f} ms max "
            f"{confirmed['mix_latency_max_ms']:.0f} ms, worker CPU {100 * util:.0f}% "
            f"over {confirmed['seconds']:.0f} s"
        )
    else:
        print("media: no load passed the limits")


async def _reset_to(bench: Bench, legs: int) -> int:
    """Close whole calls until at most ``legs`` remain."""
    party = bench.args.party
    while len(bench.legs) > legs:
        for leg in bench.legs[-party:]:
            await bench.pool.close_leg(leg)
        del bench.legs[-party:]
        del bench.ports[-party:]
        bench.calls -= 1
    await bench.ask(("legs", list(bench.ports)))
    return len(bench.legs)


if __name__ == "__main__":
    asyncio.run(main())
