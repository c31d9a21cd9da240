"""API benchmark at the guide's cluster maximum: 300,000 spaces and 300,000 users.

Starts a real node (``moot serve``) on a fresh data dir on loopback, loads N
spaces and N users through the bulk path (``moot api import``), creates
``--api-creates`` spaces through the REST API with several concurrent HTTP
clients, then measures GET one, list pages (offset 0 and N-10,000) and the
``filter=`` search by name and by uri (p50/p99), and the server's RSS.

Results go to bench/results/api.json; one summary line to stdout, the
figures to stderr. Every phase is bounded by ``--max-minutes``.

    .venv/bin/python bench/api.py            # N = 300,000
    .venv/bin/python bench/api.py --n 20000  # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import json
import os
import platform
import random
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

import aiohttp  # noqa: E402

from tests.helpers import ADMIN_PASSWORD, MOOT, Ports, RunningNode, prepare_datadir  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "api.json"
GOAL_P99_MS = 20.0
GOAL_RSS_MB = 500.0
GOAL_API_CREATES = 500.0


class OutOfTime(Exception):
    pass


@dataclass
class Clock:
    deadline: float

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, phase: str) -> None:
        if self.left() <= 0:
            raise OutOfTime(f"out of time before {phase}")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- data --------------------------------------------------------------------------------


def write_spaces(path: Path, n: int) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["name", "uri", "passcode", "defaultLayout"])
        for i in range(n):
            w.writerow([f"Bulk space {i:07d}", f"bulk.space.{i:07d}", str(1000 + i % 9000), "allEqual"])


def write_users(path: Path, n: int) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["userJid", "name", "email"])
        for i in range(n):
            w.writerow([f"user{i:07d}@example.com", f"User {i:07d}", f"user{i:07d}@example.com"])


def bulk_import(datadir: Path, collection: str, path: Path, clock: Clock) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.run(
        [MOOT, "api", "import", "--data", str(datadir), collection, str(path), "--batch", "2000"],
        capture_output=True,
        text=True,
        timeout=max(clock.left(), 1),
    )
    seconds = time.monotonic() - started
    with open(path) as f:
        rows = sum(1 for _ in f) - 1
    if proc.returncode != 0:
        raise RuntimeError(f"moot api import {collection} failed:\n{proc.stderr[-2000:]}")
    return {"rows": rows, "seconds": round(seconds, 2), "rate_per_s": round(rows / seconds, 1)}


# --- the server ----------------------------------------------------------------------------


@dataclass
class Target:
    base: str
    pid: int
    served_by: str
    ssl: ssl.SSLContext | bool
    stop: Callable[[], None] = lambda: None
    auth: str = field(default="")


def _client_ssl() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _probe(base: str, ssl_ctx: ssl.SSLContext | bool, auth: str) -> bool:
    try:
        async with aiohttp.ClientSession() as s, s.get(
            f"{base}/api/v1/coSpaces?limit=1", headers={"Authorization": auth}, ssl=ssl_ctx,
            timeout=aiohttp.ClientTimeout(total=10),
        ) as r:
            return r.status == 200 and b"<coSpaces" in await r.read()
    except (aiohttp.ClientError, TimeoutError):
        return False


def serve_standalone(datadir: str, port: int) -> None:
    """Fallback when the node does not mount the API yet: ApiHttp alone, plain HTTP."""
    from aiohttp import web

    from moot.api.http import ApiHttp
    from moot.node.context import NodeContext
    from moot.node.datadir import DataDir

    node = NodeContext(DataDir(Path(datadir)))
    handler = ApiHttp(node, node.api)
    app = web.Application()
    app.add_routes(handler.routes())
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_target(node: RunningNode, ports: Ports, datadir: Path, auth: str) -> Target:
    https = f"https://127.0.0.1:{ports.https}"
    assert node.proc is not None
    if asyncio.run(_probe(https, _client_ssl(), auth)):
        return Target(https, node.proc.pid, "node (web admin listener)", _client_ssl(), auth=auth)
    port = ports.sip_tls  # a free TCP port the node does not use for this run
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-api", str(datadir), str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    base = f"http://127.0.0.1:{port}"
    for _ in range(50):
        if asyncio.run(_probe(base, False, auth)):
            break
        time.sleep(0.2)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    return Target(base, proc.pid, "standalone ApiHttp process (node does not mount /api/v1 yet)", False, stop, auth)


def rss_mb(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


# --- measurements --------------------------------------------------------------------------


async def api_creates(t: Target, count: int, clients: int, clock: Clock) -> tuple[dict[str, Any], list[str]]:
    ids: list[str] = []
    errors: list[str] = []
    todo = iter(range(count))
    headers = {"Authorization": t.auth, "Content-Type": "application/x-www-form-urlencoded"}

    async def client(session: aiohttp.ClientSession) -> None:
        for i in todo:
            if clock.left() <= 0:
                return
            body = f"name=API+space+{i:07d}&uri=api.space.{i:07d}&passcode=1234"
            async with session.post(f"{t.base}/api/v1/coSpaces", data=body, headers=headers, ssl=t.ssl) as r:
                await r.read()
                if r.status == 200 and "Location" in r.headers:
                    ids.append(r.headers["Location"].rsplit("/", 1)[-1])
                else:
                    errors.append(f"{r.status}")

    conn = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=conn) as session:
        started = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        seconds = time.monotonic() - started
    done = len(ids)
    return {
        "created": done,
        "errors": len(errors),
        "clients": clients,
        "seconds": round(seconds, 2),
        "rate_per_s": round(done / seconds, 1) if seconds else 0.0,
    }, ids


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def latency(
    t: Target, name: str, paths: Callable[[int], str], requests: int, clock: Clock, check: Callable[[bytes], bool]
) -> dict[str, Any]:
    times: list[float] = []
    bad = 0
    headers = {"Authorization": t.auth}
    async with aiohttp.ClientSession() as session:
        for i in range(requests + 5):
            if clock.left() <= 0:
                break
            started = time.perf_counter()
            async with session.get(f"{t.base}/api/v1/{paths(i)}", headers=headers, ssl=t.ssl) as r:
                body = await r.read()
            elapsed = (time.perf_counter() - started) * 1000
            if r.status != 200 or not check(body):
                bad += 1
            if i >= 5:  # warm-up
                times.append(elapsed)
    if not times:
        return {"requests": 0}
    return {
        "requests": len(times),
        "bad": bad,
        "p50_ms": round(_pct(times, 0.5), 2),
        "p99_ms": round(_pct(times, 0.99), 2),
        "max_ms": round(max(times), 2),
    }


async def measure_reads(
    t: Target, n: int, total: int, ids: list[str], requests: int, clock: Clock, users: bool
) -> dict[str, Any]:
    """``n`` bulk-loaded spaces (and users), ``total`` spaces in all."""
    rnd = random.Random(7)
    deep = max(total - 10_000, total // 2)
    found = lambda body: b"<coSpace " in body  # noqa: E731
    cases: list[tuple[str, Callable[[int], str], Callable[[bytes], bool]]] = [
        ("get_one", lambda i: f"coSpaces/{rnd.choice(ids)}", lambda b: b"<coSpace id=" in b),
        ("list_offset_0", lambda i: "coSpaces?offset=0&limit=10", found),
        (f"list_offset_{deep}", lambda i: f"coSpaces?offset={deep + i % 100}&limit=10", found),
        ("filter_name", lambda i: f"coSpaces?filter=Bulk+space+{rnd.randrange(n):07d}", found),
        ("filter_uri", lambda i: f"coSpaces?filter=bulk.space.{rnd.randrange(n):07d}", found),
    ]
    if users:
        cases += [
            ("users_list_offset_0", lambda i: "users?offset=0&limit=10", lambda b: b"<user " in b),
            (f"users_list_offset_{max(n - 10_000, n // 2)}", lambda i: f"users?offset={max(n - 10_000, n // 2) + i % 100}&limit=10", lambda b: b"<user " in b),
        ]
    out: dict[str, Any] = {}
    for name, path, check in cases:
        out[name] = await latency(t, name, path, requests, clock, check)
        log(f"  {name:28s} {out[name]}")
    return out


# --- main ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    clock = Clock(time.monotonic() + args.max_minutes * 60)
    from moot.api.catalog import catalog

    has_users = "user" in catalog().by_name and catalog().by_name["user"].creatable
    results: dict[str, Any] = {
        "n": args.n,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with tempfile.TemporaryDirectory(prefix="moot-bench-") as tmp:
        root = Path(tmp)
        ports = Ports()
        datadir = prepare_datadir(root / "node", ports)
        node = RunningNode(datadir, ports).start(timeout=60)
        target: Target | None = None
        auth = "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        try:
            log(f"writing {args.n:,} spaces and users to CSV ...")
            write_spaces(root / "spaces.csv", args.n)
            if has_users:
                write_users(root / "users.csv", args.n)
            bulk: dict[str, Any] = {}
            log("bulk import (moot api import) ...")
            bulk["coSpaces"] = bulk_import(datadir.root, "coSpaces", root / "spaces.csv", clock)
            log(f"  coSpaces {bulk['coSpaces']}")
            if has_users:
                clock.check("users import")
                bulk["users"] = bulk_import(datadir.root, "users", root / "users.csv", clock)
                log(f"  users    {bulk['users']}")
            results["bulk"] = bulk
            target = start_target(node, ports, datadir.root, auth)
            results["served_by"] = target.served_by
            log(f"API served by: {target.served_by} at {target.base}")
            clock.check("API creates")
            log(f"API creates: {args.api_creates:,} with {args.clients} clients ...")
            creates, ids = asyncio.run(api_creates(target, args.api_creates, args.clients, clock))
            results["api_create"] = creates
            log(f"  {creates}")
            if not ids:
                raise RuntimeError("no space was created through the API")
            clock.check("reads")
            log(f"reads ({args.requests} requests each, one client) ...")
            results["latency"] = asyncio.run(
                measure_reads(target, args.n, args.n + creates["created"], ids, args.requests, clock, has_users)
            )
            results["rss_mb"] = rss_mb(target.pid)
            if target.pid != (node.proc.pid if node.proc else -1) and node.proc is not None:
                results["node_rss_mb"] = rss_mb(node.proc.pid)
            results["database_mb"] = round(datadir.database_db.stat().st_size / 2**20, 1)
        except OutOfTime as exc:
            results["incomplete"] = str(exc)
        finally:
            if target is not None:
                target.stop()
            node.stop()
    results["goals"] = goals(results)
    return results


def goals(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lat = r.get("latency", {})
    for name, value in lat.items():
        if name.startswith(("get_one", "list_offset", "users_list_offset")) and "p99_ms" in value:
            out[f"{name}_p99_under_{GOAL_P99_MS:g}ms"] = {"value": value["p99_ms"], "met": value["p99_ms"] < GOAL_P99_MS}
    if "rss_mb" in r:
        rss = r["rss_mb"].get("VmRSS", 0.0)
        out[f"rss_under_{GOAL_RSS_MB:g}MB"] = {"value": rss, "met": rss < GOAL_RSS_MB}
    if "api_create" in r:
        rate = r["api_create"]["rate_per_s"]
        out[f"api_creates_at_least_{GOAL_API_CREATES:g}_per_s"] = {"value": rate, "met": rate >= GOAL_API_CREATES}
    return out


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-api":
        serve_standalone(sys.argv[2], int(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300_000, help="spaces and users to load (default 300,000)")
    parser.add_argument("--api-creates", type=int, default=5000, help="spaces created through the API (default 5,000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent API clients (default 8)")
    parser.add_argument("--requests", type=int, default=300, help="requests per read measurement (default 300)")
    parser.add_argument("--max-minutes", type=float, default=45, help="stop measuring after this long (default 45)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results file (default {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args()
    results = run(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    g = results["goals"]
    for name, goal in g.items():
        log(f"  goal {name:40s} {goal['value']:>10}  {'met' if goal['met'] else 'MISSED'}")
    lat = results.get("latency", {})
    bulk = results.get("bulk", {})
    parts = [f"n={results['n']}"]
    parts += [f"bulk {k} {v['rate_per_s']:.0f}/s" for k, v in bulk.items()]
    if "api_create" in results:
        parts.append(f"api create {results['api_create']['rate_per_s']:.0f}/s")
    parts += [f"{k} p50/p99 {v['p50_ms']}/{v['p99_ms']} ms" for k, v in lat.items() if "p50_ms" in v]
    if "rss_mb" in results:
        parts.append(f"rss {results['rss_mb'].get('VmRSS')} MB")
    met = sum(1 for v in g.values() if v["met"])
    parts.append(f"goals met {met}/{len(g)}" + (f" (incomplete: {results['incomplete']})" if "incomplete" in results else ""))
    print("; ".join(parts))
    return 0 if met == len(g) and "incomplete" not in results else 1


if __name__ == "__main__":
    sys.exit(main())
