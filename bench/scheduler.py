"""Scheduler benchmark at the guide's capacity (D.5): 150,000 meetings in the embedded database.

In-process, on a fresh SQLite database: creates N meetings through the API
engine (each with its invitation queued in the outbox, in the same
transaction), then measures a user's upcoming meetings
(``organizerFilter=<user>&endsAfter=now``), modify (PUT) and cancel (DELETE)
latencies (p50/p99), the invite send rate from the outbox to a local aiosmtpd,
and RSS. Every phase is bounded by ``--max-minutes``.

Results go to bench/results/scheduler.json; one summary line to stdout.

    .venv/bin/python bench/scheduler.py              # N = 150,000
    .venv/bin/python bench/scheduler.py --n 10000    # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from moot.scheduler.api import Scheduling  # noqa: E402
from moot.scheduler.outbox import Outbox  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scheduler.json"
GOAL_LIST_P99_MS = 50.0
GOAL_SENDS_PER_S = 200.0
ZONES = ("Europe/Paris", "America/New_York", "Asia/Tokyo", "Europe/London", "Australia/Sydney", "UTC")
RULES = (None, None, None, "FREQ=WEEKLY;COUNT=12", "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=40", "FREQ=DAILY;COUNT=20",
         "FREQ=WEEKLY", "FREQ=MONTHLY;UNTIL=20281231T000000Z")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return round(s[min(len(s) - 1, int(len(s) * p))] * 1000, 2) if s else 0.0


def meeting_form(rng: random.Random, user: str, n: int) -> list[tuple[str, str]]:
    day = rng.randrange(-30, 365)
    start = time.gmtime(time.time() + day * 86400)
    hour = rng.randrange(7, 19)
    base = f"{start.tm_year:04d}-{start.tm_mon:02d}-{start.tm_mday:02d}T{hour:02d}:{rng.choice(('00', '30'))}"
    end = f"{base[:11]}{hour + 1:02d}:{base[14:]}"
    form = [("name", f"Meeting {n}"), ("start", base), ("end", end), ("timeZone", rng.choice(ZONES)),
            ("organizer", user), ("invitees", ",".join(f"guest{rng.randrange(10**6)}@example.com" for _ in range(rng.randrange(1, 4))))]
    rule = rng.choice(RULES)
    if rule:
        form.append(("recurrence", rule))
    return form


def send_rate(outbox: Outbox, limit: int, seconds: float) -> dict[str, Any]:
    try:
        from aiosmtpd.controller import Controller

        from moot.scheduler.mailer import SmtpConfig
        from moot.scheduler.outbox import OutboxWorker
    except ImportError as exc:
        return {"skipped": str(exc)}

    class Counter:
        received = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            Counter.received += 1
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    worker = OutboxWorker(outbox, "bench", lambda: SmtpConfig("127.0.0.1", port))

    async def run() -> tuple[int, float]:
        sent, t0 = 0, time.perf_counter()
        while sent < limit and time.perf_counter() - t0 < seconds:
            n = await worker.run_once()
            if n == 0:
                break
            sent += n
        return sent, time.perf_counter() - t0

    try:
        sent, elapsed = asyncio.run(run())
    finally:
        controller.stop()
    return {"sent": sent, "received": Counter.received, "seconds": round(elapsed, 2),
            "per_second": round(sent / elapsed, 1) if elapsed else 0.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=150_000)
    ap.add_argument("--users", type=int, default=2_000)
    ap.add_argument("--samples", type=int, default=2_000)
    ap.add_argument("--sends", type=int, default=5_000)
    ap.add_argument("--max-minutes", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    deadline = time.monotonic() + args.max_minutes * 60
    rng = random.Random(args.seed)
    out: dict[str, Any] = {"n_goal": args.n, "users": args.users, "platform": platform.platform(),
                           "python": platform.python_version()}
    with tempfile.TemporaryDirectory(prefix="moot-bench-sched-") as tmp:
        sched = Scheduling(f"sqlite:///{tmp}/database.db", None, hostname="bench.example")
        outbox = Outbox(sched.store.engine)
        sched.set_outbox(outbox)
        users_route = sched.spaces.catalog.resolve("/users")
        with sched.store.txn() as txn:
            users = [sched.spaces.create_in(txn, users_route, [("userJid", f"u{i}@example.com"), ("email", f"u{i}@example.com")])
                     for i in range(args.users)]
        # create -------------------------------------------------------------------------
        ids: list[str] = []
        create_lat: list[float] = []
        t0 = time.perf_counter()
        for n in range(args.n):
            form = meeting_form(rng, rng.choice(users), n)
            t = time.perf_counter()
            loc = sched.api.handle("POST", "/meetings", [], form).location
            create_lat.append(time.perf_counter() - t)
            assert loc is not None
            ids.append(loc[-36:])
            if n % 10_000 == 0 and n:
                print(f"  {n} meetings, {n / (time.perf_counter() - t0):.0f}/s, RSS {rss_mb():.0f} MB", file=sys.stderr)
            if time.monotonic() > deadline - 120:
                out["create_stopped_early"] = True
                break
        created_s = time.perf_counter() - t0
        out["meetings"] = len(ids)
        out["create_per_s"] = round(len(ids) / created_s, 1)
        out["create_p50_ms"], out["create_p99_ms"] = pct(create_lat, 0.5), pct(create_lat, 0.99)
        # list a user's upcoming meetings ---------------------------------------------------------
        lat: list[float] = []
        totals: list[int] = []
        for _ in range(args.samples):
            q = [("organizerFilter", rng.choice(users)), ("endsAfter", "now")]
            t = time.perf_counter()
            listing = sched.api.handle("GET", "/meetings", q, []).listing
            lat.append(time.perf_counter() - t)
            assert listing is not None
            totals.append(listing[2])
        out["list_upcoming_p50_ms"], out["list_upcoming_p99_ms"] = pct(lat, 0.5), pct(lat, 0.99)
        out["list_upcoming_avg_total"] = round(sum(totals) / len(totals), 1)
        lat = []
        for _ in range(args.samples // 4):
            t = time.perf_counter()
            sched.api.handle("GET", f"/meetings/{rng.choice(ids)}", [], [])
            lat.append(time.perf_counter() - t)
        out["get_one_p99_ms"] = pct(lat, 0.99)
        # modify and cancel ------------------------------------------------------------------
        picks = rng.sample(ids, min(len(ids), 1000))
        lat = []
        for mid in picks[:500]:
            t = time.perf_counter()
            sched.api.handle("PUT", f"/meetings/{mid}", [], [("name", "Changed"), ("invitees", "new@example.com,other@example.com")])
            lat.append(time.perf_counter() - t)
        out["modify_p50_ms"], out["modify_p99_ms"] = pct(lat, 0.5), pct(lat, 0.99)
        lat = []
        for mid in picks[500:]:
            t = time.perf_counter()
            sched.api.handle("DELETE", f"/meetings/{mid}", [], [])
            lat.append(time.perf_counter() - t)
        out["cancel_p50_ms"], out["cancel_p99_ms"] = pct(lat, 0.5), pct(lat, 0.99)
        out["outbox_waiting"] = outbox.counts().waiting
        out["database_mb"] = round(Path(f"{tmp}/database.db").stat().st_size / 2**20, 1)
        out["rss_mb"] = round(rss_mb(), 1)
        out["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        left = deadline - time.monotonic()
        out["invite_send"] = send_rate(outbox, args.sends, max(10.0, min(120.0, left))) if left > 10 else {"skipped": "out of time"}
        sched.close()
    out["goal_list_p99_ms"] = GOAL_LIST_P99_MS
    out["list_goal_met"] = out["list_upcoming_p99_ms"] < GOAL_LIST_P99_MS
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    send = out["invite_send"].get("per_second", "-")
    print(f"scheduler: {out['meetings']} meetings, create {out['create_per_s']}/s, list upcoming p99 "
          f"{out['list_upcoming_p99_ms']} ms (goal {GOAL_LIST_P99_MS}), modify p99 {out['modify_p99_ms']} ms, "
          f"cancel p99 {out['cancel_p99_ms']} ms, invites {send}/s, RSS {out['rss_mb']} MB")
    return 0 if out["list_goal_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
