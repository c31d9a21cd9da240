"""Call setup rate benchmark: sipp calls into spaces, INVITE -> 200 -> ACK -> pause -> BYE -> 200.

The issue's goal: the highest call rate with 0 failed calls, at least 200 calls/s.

Method
------
* A real node (``moot serve``) on a fresh data dir on loopback (``tests.helpers``), an
  inbound dial plan rule for domain 127.0.0.1 and K spaces (uris ``room0`` .. ``room{K-1}``)
  made through the REST API.
* One sipp UAC (``-t u1``: one UDP socket; ``-t t1``: one TCP connection) runs a scenario
  written to the temp dir: INVITE with an SDP offer (PCMU only, sendrecv) to
  ``sip:room<i>@127.0.0.1`` (the space taken from an ``-inf`` CSV, SEQUENTIAL, so the calls
  spread evenly over the K spaces), optional 100/180/183, 200 (response time "invite"), ACK,
  ``--pause-ms`` in the call, BYE, 200 (response time "bye"). INVITE and BYE are retransmitted
  every 500 ms over UDP (T1). No RTP is sent; the SDP offers the port of a UDP socket the
  benchmark holds and never reads, so the server's mixed audio is dropped by the kernel - but
  the server still opens a media port per leg on a worker and mixes/sends for it while the
  call is up, which is part of what a call costs.
* The rate is stepped (``--rates``); each step places ``rate x --step-seconds`` calls, then
  waits until the node's ``/system/status`` shows no active leg. A step has **0 failed
  calls** when sipp exits 0 and reports no failed call, every call finished, no out-of-call
  message arrived and no leg is left on the node. It is **clean** when in addition the server
  kept up: retransmissions at most ``--clean-retrans-percent`` (1 %) of the calls, no
  dead-call messages (late retransmitted responses), the answered rate (200 OKs to INVITE
  over the time from the first to the last) at least 90 % of the target, and INVITE->200 p90
  at most ``--max-p90-ms`` (500 ms: T1, where UDP starts retransmitting - so that TCP, which
  never retransmits, is held to the same bound). The ladder stops at the first step with a
  failed call, a retransmission storm (over ``--storm-percent``, 10 %, of the calls) or an
  answered rate under 75 % of the target. Results: the highest rate up to which every step
  was clean (the headline, compared with the goal) and the highest with 0 failed calls (the
  issue's literal criterion). The same runs over TCP (``--tcp-rates``; by default the UDP
  ladder up to two steps past the UDP result).
* Per step: successful/failed calls (and sipp's failure counters), retransmissions (and of
  which message), response times (every call's, from ``-trace_rtt``, whole ms as sipp
  measures them: p50/p90/p99/max) and server CPU: utime+stime of ``moot serve`` and of its
  live descendants (the media workers) from /proc/<pid>/stat, taken before sipp starts and
  after the node has drained, per call in ms. The main process is split by thread (the
  event loop thread vs. the others, i.e. ``asyncio.to_thread`` work). The node's idle CPU
  (measured before the ladder) is reported so it can be subtracted, and so is the CPU that
  other programs used meanwhile (from /proc/stat): figures taken on a busy machine are low
  and carry a warning.
* Where the time goes: a last step (``--profile-rate``, 30/s, ``--profile-seconds``) on a
  fresh node whose main process runs under cProfile with a thread-CPU-time timer, switched
  on and off around the step by signals: the event loop thread, and its other threads
  merged; own time per call by area (moot.sip, sqlalchemy, ...) and the top functions.
  Media workers are not profiled (their CPU per call is in every step).
* sipp and the server share this machine's CPUs: sipp's own CPU time per step is reported.

    .venv/bin/python bench/sip_setup.py            # default ladder, UDP then TCP, profile (~3-4 min)
    .venv/bin/python bench/sip_setup.py --quick    # short steps, a few rates
    .venv/bin/python bench/sip_setup.py --rates 200,300 --pause-ms 0 --no-tcp

Needs /usr/bin/sipp and root (as the call bridge's sipp tests). Writes
bench/results/sip_setup.json; one summary line to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.helpers import ADMIN_PASSWORD, Ports, RunningNode, prepare_datadir  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "sip_setup.json"
GOAL_CPS = 200.0
DEFAULT_RATES = "100,150,200,250,300,400,500,600,800,1000"
QUICK_RATES = "100,200,300"
CLK_TCK = os.sysconf("SC_CLK_TCK")
OTHER_CPU_WARN = 20.0
"""Other programs' CPU (percent of one core) during a step above which the results carry a warning."""

NOTES = (
    "Load generator (one sipp, single-threaded) and server (moot serve: one asyncio main process "
    "for SIP and call control, plus one media worker process per core) share this machine's CPUs, "
    "so the found rate is bounded by both; sipp_cpu_s per step shows the generator's share. "
    "Server CPU per call is measured from sipp's start until the node has no active leg, so it "
    "includes the media workers mixing and sending 20 ms frames for every leg during --pause-ms "
    "(a cost proportional to call length, not to setup) and the node's idle load "
    "(idle_cpu_percent) over the step's wall time; server_cpu_ms_per_call_net subtracts the idle "
    "part. Over UDP a retransmission means the server took over 500 ms (T1) to answer."
)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A precondition or a step of the benchmark failed (the message says which)."""


# --- the scenario ----------------------------------------------------------------------------


SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- bench/sip_setup.py: INVITE (PCMU offer) > [100/180/183] < 200 > ACK, pause, > BYE < 200. -->
<scenario name="sip_setup">
  <send retrans="500" start_rtd="invite">
    <![CDATA[

      INVITE sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "bench" <sip:bench@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:bench@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      User-Agent: moot bench/sip_setup.py
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=bench [pid][call_number] 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [sink_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=ptime:20
      a=sendrecv

    ]]>
  </send>

  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="invite" rrs="true"/>

  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "bench" <sip:bench@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

  <pause milliseconds="{pause_ms}"/>

  <send retrans="500" start_rtd="bye">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "bench" <sip:bench@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" rtd="bye" crlf="true"/>

  <ResponseTimeRepartition value="5, 10, 20, 50, 100, 200, 500, 1000"/>
  <CallLengthRepartition value="500, 1000, 2000, 5000, 10000"/>
</scenario>
"""


def write_scenario(workdir: Path, pause_ms: int, spaces: int) -> tuple[Path, Path]:
    scenario = workdir / "sip_setup.xml"
    # A pause of 0 ms is not a pause sipp accepts everywhere: 1 ms is "none" for our purpose.
    scenario.write_text(SCENARIO.replace("{pause_ms}", str(max(pause_ms, 1))))
    inf = workdir / "spaces.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"room{i};\n" for i in range(spaces)))
    return scenario, inf


def sipp_version(sipp: str) -> str:
    out = subprocess.run([sipp, "-v"], capture_output=True, text=True, timeout=10)
    match = re.search(r"SIPp v\S+", out.stdout + out.stderr)
    return match.group(0) if match else (out.stdout + out.stderr).strip()[:80]


# --- the node ----------------------------------------------------------------------------


class Api:
    """The REST API of the node (HTTP basic auth, form-encoded writes), with urllib."""

    def __init__(self, port: int) -> None:
        self.base = f"https://127.0.0.1:{port}/api/v1"
        token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.ssl = ssl.create_default_context()
        self.ssl.check_hostname = False
        self.ssl.verify_mode = ssl.CERT_NONE

    def _do(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, context=self.ssl, timeout=15) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def post(self, path: str, **form: str) -> str:
        status, headers, body = self._do("POST", path, form)
        if status != 200:
            raise BenchError(f"POST {path} {form}: HTTP {status} {body[:300]!r}")
        return headers.get("Location", "").rsplit("/", 1)[-1]

    def status(self) -> dict[str, str]:
        """The flat fields of /system/status."""
        import xml.etree.ElementTree as ET

        code, _, body = self._do("GET", "/system/status")
        if code != 200:
            raise BenchError(f"GET /system/status: HTTP {code} {body[:300]!r}")
        return {el.tag: el.text or "" for el in ET.fromstring(body) if len(el) == 0}


class Drain:
    """Reads the node's stdout all the time (a full pipe would stall the server under load)."""

    def __init__(self, node: RunningNode) -> None:
        self.node = node
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, name="node-output", daemon=True)
        self.lock = threading.Lock()

    def start(self) -> Drain:
        self.thread.start()
        return self

    def _run(self) -> None:
        import select

        proc = self.node.proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        while not self.stop_flag.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            with self.lock:
                *complete, self.node._pending = (self.node._pending + chunk).split(b"\n")
                self.node.output.extend(raw.decode(errors="replace") for raw in complete)

    def mark(self) -> int:
        with self.lock:
            return len(self.node.output)

    def since(self, mark: int) -> list[str]:
        with self.lock:
            return list(self.node.output[mark:])

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join(5)


_NOTEWORTHY = re.compile(r"error|exception|traceback|warning|critical|failed|timed? ?out|\b5\d\d\b", re.I)


def noteworthy(lines: list[str], limit: int = 15) -> dict[str, Any]:
    """Error-looking lines of the node's output, grouped with digits and hex ids masked."""
    hits = [line for line in lines if _NOTEWORTHY.search(line)]
    groups: Counter[str] = Counter()
    first: dict[str, str] = {}
    for line in hits:
        key = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+", "#", line)
        groups[key] += 1
        first.setdefault(key, line)
    return {
        "lines": len(hits),
        "kinds": [{"count": n, "example": first[k][:400]} for k, n in groups.most_common(limit)],
    }


# --- CPU accounting ------------------------------------------------------------------------


def _stat_fields(path: str) -> tuple[str, list[str]]:
    text = Path(path).read_text()
    comm = text[text.index("(") + 1 : text.rindex(")")]
    return comm, text[text.rindex(")") + 2 :].split()


def _cpu_of(path: str) -> float:
    _, f = _stat_fields(path)
    return (int(f[11]) + int(f[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            _, f = _stat_fields(f"/proc/{entry}/stat")
        except (OSError, ValueError):
            continue
        children.setdefault(int(f[1]), []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _label(pid: int) -> str:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        comm = ""
    if comm.startswith("moot-"):
        # Moot's worker processes name themselves: moot-media-0, moot-webrtc-1, ...
        return comm.rstrip("0123456789").rstrip("-").replace("moot-", "") + " worker"
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    if "resource_tracker" in cmd:
        return "resource_tracker"
    if "spawn_main" in cmd or "multiprocessing" in cmd:
        return "media worker"
    return cmd[:60]


def rss_mb(pid: int) -> dict[str, float]:
    """Resident memory of the main process and (summed) of its descendants, MB."""
    def one(p: int) -> float:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    return {"main": round(one(pid), 1), "children": round(sum(one(c) for c in descendants(pid)), 1)}


def machine_busy() -> tuple[float, float]:
    """CPU seconds the whole machine spent busy (user+nice+system+irq+softirq) and stolen."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


@dataclass
class CpuSample:
    pid: int
    main: float
    threads: dict[str, float] = field(default_factory=dict)  # "comm/tid" -> seconds
    children: dict[int, tuple[str, float]] = field(default_factory=dict)

    @staticmethod
    def take(pid: int) -> CpuSample:
        sample = CpuSample(pid, _cpu_of(f"/proc/{pid}/stat"))
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                comm, f = _stat_fields(f"/proc/{pid}/task/{tid}/stat")
            except (OSError, ValueError):
                continue
            sample.threads[f"{comm}/{tid}"] = (int(f[11]) + int(f[12])) / CLK_TCK
        for child in descendants(pid):
            try:
                sample.children[child] = (_label(child), _cpu_of(f"/proc/{child}/stat"))
            except (OSError, ValueError):
                continue
        return sample

    def minus(self, before: CpuSample) -> dict[str, Any]:
        workers = {
            pid: (label, cpu - before.children.get(pid, (label, 0.0))[1])
            for pid, (label, cpu) in self.children.items()
        }
        by_thread = {"main thread (event loop)": 0.0, "other threads (executor, ...)": 0.0}
        for key, cpu in self.threads.items():
            # Python does not name its threads for the kernel: the main thread is the one
            # whose tid is the pid.
            main_thread = key.rsplit("/", 1)[1] == str(self.pid)
            name = "main thread (event loop)" if main_thread else "other threads (executor, ...)"
            by_thread[name] += cpu - before.threads.get(key, 0.0)
        main = self.main - before.main
        child_total = sum(cpu for _, cpu in workers.values())
        return {
            "main_s": round(main, 3),
            "children_s": round(child_total, 3),
            "total_s": round(main + child_total, 3),
            "main_threads_s": {k: round(v, 3) for k, v in by_thread.items()},
            "children": sorted(
                ({"pid": pid, "what": label, "cpu_s": round(cpu, 3)} for pid, (label, cpu) in workers.items()),
                key=lambda c: -float(c["cpu_s"]),  # type: ignore[arg-type]
            ),
        }


# --- one step --------------------------------------------------------------------------------


def _parse_semicolon_csv(path: Path) -> list[dict[str, str]]:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return []
    if len(lines) < 2:
        return []
    header = lines[0].rstrip(";").split(";")
    return [dict(zip(header, line.rstrip(";").split(";"), strict=False)) for line in lines[1:]]


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def read_rtt(workdir: Path) -> dict[str, Any]:
    """Every response time sipp traced (``-trace_rtt``): per rtd, percentiles in ms, and the
    answered rate (200s to INVITE over the time from the first to the last)."""
    rows: dict[str, list[tuple[float, float]]] = {}
    for path in workdir.glob("*_rtt.csv"):
        for line in path.read_text(errors="replace").splitlines()[1:]:
            parts = line.strip().rstrip(";").split(";")
            if len(parts) < 3:
                continue
            try:
                rows.setdefault(parts[2], []).append((float(parts[0]), float(parts[1])))
            except ValueError:
                continue
    out: dict[str, Any] = {}
    for name, values in rows.items():
        times = [v for _, v in values]
        out[name] = {
            "n": len(times),
            "mean_ms": round(statistics.fmean(times), 2),
            "p50_ms": round(_pct(times, 0.5), 2),
            "p90_ms": round(_pct(times, 0.9), 2),
            "p99_ms": round(_pct(times, 0.99), 2),
            "max_ms": round(max(times), 2),
        }
        dates = sorted(d for d, _ in values)
        if len(dates) > 1 and dates[-1] > dates[0]:
            # the date column is in ms (sipp's "Date_ms")
            out[name]["rate_per_s"] = round((len(dates) - 1) / ((dates[-1] - dates[0]) / 1000), 1)
    return out


def read_counts(workdir: Path) -> dict[str, int]:
    """The non-zero retransmission / timeout / unexpected counters per message (-trace_counts)."""
    out: dict[str, int] = {}
    for path in workdir.glob("*_counts.csv"):
        rows = _parse_semicolon_csv(path)
        if rows:
            for key, value in rows[-1].items():
                if re.search(r"_(Retrans|Timeout|Unexp|Lost)$", key) and _int(value):
                    out[key] = _int(value)
    return out


def read_errors(workdir: Path, limit: int = 8) -> dict[str, Any]:
    """sipp's -trace_err log: the distinct complaints (digits masked), with one example each."""
    text = "".join(p.read_text(errors="replace") for p in workdir.glob("*_errors.log"))
    heads = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith((" ", "\t"))]
    kinds: Counter[str] = Counter()
    first: dict[str, str] = {}
    for line in heads:
        if not re.search(r"abort|unexpected|timeout|fail|error|retrans|refused|closed|broken", line, re.I):
            continue
        key = re.sub(r"\d+", "#", line)[:200]
        kinds[key] += 1
        first.setdefault(key, line[:400])
    statuses = Counter(re.findall(r"received 'SIP/2\.0 (\d{3})", text))
    return {
        "lines": len(heads),
        "received_statuses": dict(statuses),
        "kinds": [{"count": n, "example": first[k]} for k, n in kinds.most_common(limit)],
    }


@dataclass
class Env:
    node: RunningNode
    api: Api
    drain: Drain
    sipp: str
    workdir: Path
    scenario: Path
    inf: Path
    sink_port: int
    idle_cpu_per_s: float
    args: argparse.Namespace


def wait_idle(env: Env, timeout: float) -> tuple[dict[str, str], float]:
    """Wait until the node has no active leg; return its status and how long that took."""
    started = time.monotonic()
    status = env.api.status()
    while _int(status.get("callLegsActive")) > 0 and time.monotonic() - started < timeout:
        time.sleep(0.2)
        status = env.api.status()
    return status, time.monotonic() - started


def run_step(env: Env, transport: str, rate: int, calls: int) -> dict[str, Any]:
    args = env.args
    pid = env.node.proc.pid if env.node.proc else 0
    step_dir = env.workdir / f"{transport}-{rate}"
    step_dir.mkdir(parents=True, exist_ok=True)
    wall = calls / rate + args.pause_ms / 1000
    limit = max(50, int(rate * (args.pause_ms / 1000 + 10)))
    sipp_timeout = int(wall + 60)
    cmd = [
        env.sipp, "-sf", str(env.scenario), "-inf", str(env.inf),
        f"127.0.0.1:{env.node.ports.sip}", "-i", "127.0.0.1", "-mi", "127.0.0.1",
        "-t", transport, "-r", str(rate), "-rp", "1000", "-m", str(calls), "-l", str(limit),
        "-key", "sink_port", str(env.sink_port),
        "-recv_timeout", "10000", "-timeout", str(sipp_timeout), "-timeout_error",
        "-max_recv_loops", "10000", "-max_sched_loops", "10000",
        "-trace_stat", "-stf", str(step_dir / "stat.csv"), "-fd", "1",
        "-trace_rtt", "-rtt_freq", "1", "-trace_counts", "-trace_err", "-trace_screen",
        "-max_log_size", str(4 << 20), "-nostdin",
    ]  # fmt: skip
    before_status = env.api.status()
    mark = env.drain.mark()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = CpuSample.take(pid)
    busy_before, steal_before = machine_busy()
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    with open(step_dir / "stderr.log", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=step_dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        killed = False
        try:
            rc = proc.wait(sipp_timeout + 15)
        except subprocess.TimeoutExpired:
            killed = True
            proc.kill()
            rc = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    sipp_seconds = time.monotonic() - started
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after_status, drain_s = wait_idle(env, timeout=args.pause_ms / 1000 + 40)
    cpu = CpuSample.take(pid).minus(cpu_before)
    busy_after, steal_after = machine_busy()
    step_wall = time.monotonic() - started

    stat = _parse_semicolon_csv(step_dir / "stat.csv")
    last = stat[-1] if stat else {}
    successful = _int(last.get("SuccessfulCall(C)"))
    failed = _int(last.get("FailedCall(C)"))
    retrans = _int(last.get("Retransmissions(C)"))
    failure_counters = {
        k.removesuffix("(C)"): _int(v)
        for k, v in last.items()
        if k.endswith("(C)") and (k.startswith("Failed") or k.startswith(("OutOfCall", "DeadCall", "Watchdog")))
        and _int(v) and k != "FailedCall(C)"
    }
    rtt = read_rtt(step_dir)
    leaked = _int(after_status.get("callLegsActive"))
    completed = _int(after_status.get("callLegsCompleted")) - _int(before_status.get("callLegsCompleted"))
    hard: list[str] = []  # any of these: the step does not have "0 failed calls"
    if rc != 0 or killed:
        hard.append(f"sipp exit code {rc}" + (" (killed after its timeout)" if killed else ""))
    if failed:
        hard.append(f"{failed} failed calls")
    if successful + failed < calls:
        hard.append(f"only {successful + failed} of {calls} calls finished")
    if failure_counters.get("OutOfCallMsgs"):
        hard.append(f"{failure_counters['OutOfCallMsgs']} out-of-call messages (for calls sipp does not know)")
    if leaked:
        hard.append(f"{leaked} legs still active on the node {drain_s:.0f} s after sipp ended")
    soft: list[str] = []  # the server did not keep up (0 failed calls, but not sustainable)
    if retrans > calls * args.clean_retrans_percent / 100:
        soft.append(f"{retrans} retransmissions (> {args.clean_retrans_percent:g}% of calls)")
    if failure_counters.get("DeadCallMsgs"):
        # late retransmitted responses for calls sipp had finished: a symptom of slow answers
        soft.append(f"{failure_counters['DeadCallMsgs']} dead-call messages (late retransmissions)")
    answered_rate = rtt.get("invite", {}).get("rate_per_s", 0.0)
    if answered_rate < 0.9 * rate:
        soft.append(f"answered {answered_rate}/s, under 90% of the target {rate}/s")
    p90 = rtt.get("invite", {}).get("p90_ms", 0.0)
    if p90 > args.max_p90_ms:
        soft.append(f"INVITE->200 p90 {p90:g} ms > {args.max_p90_ms:g} ms")
    stop: list[str] = []
    if retrans > calls * args.storm_percent / 100:
        stop.append(f"retransmission storm: {retrans} (> {args.storm_percent:g}% of calls)")
    if answered_rate < 0.75 * rate:
        stop.append(f"saturated: answered {answered_rate}/s, under 75% of the target")
    sipp_cpu = (usage_after.ru_utime + usage_after.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime)
    idle_part = env.idle_cpu_per_s * step_wall
    # CPU the rest of the machine used meanwhile (other programs): the measurement is only
    # trustworthy when this is small.
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    bench_cpu = (self_after.ru_utime + self_after.ru_stime) - (self_before.ru_utime + self_before.ru_stime)
    other = max(busy_after - busy_before - cpu["total_s"] - sipp_cpu - bench_cpu, 0.0)
    per_call = 1000 * cpu["total_s"] / max(successful, 1)
    result: dict[str, Any] = {
        "transport": "udp" if transport.startswith("u") else "tcp",
        "rate": rate,
        "calls": calls,
        "zero_failed": not hard,
        "clean": not hard and not soft,
        "reasons": hard + soft,
        "stop_ladder": bool(hard or stop),
        "stop_reasons": hard + stop,
        "successful": successful,
        "failed": failed,
        "failure_counters": failure_counters,
        "retransmissions": retrans,
        "message_counters": read_counts(step_dir),
        "answered_rate_per_s": answered_rate,
        "response_time_ms": rtt,
        "sipp_exit_code": rc,
        "sipp_seconds": round(sipp_seconds, 2),
        "sipp_cpu_s": round(sipp_cpu, 2),
        "drain_seconds": round(drain_s, 2),
        "node_legs_completed": completed,
        "node_legs_max_active": _int(after_status.get("callLegsMaxActive")),
        "server_cpu": cpu,
        "server_rss_mb_after": rss_mb(pid),
        "server_cpu_ms_per_call": round(per_call, 3),
        "server_cpu_ms_per_call_main": round(1000 * cpu["main_s"] / max(successful, 1), 3),
        "server_cpu_ms_per_call_workers": round(1000 * cpu["children_s"] / max(successful, 1), 3),
        "server_cpu_ms_per_call_main_thread": round(
            1000 * cpu["main_threads_s"]["main thread (event loop)"] / max(successful, 1), 3),
        "server_cpu_ms_per_call_other_threads": round(
            1000 * cpu["main_threads_s"]["other threads (executor, ...)"] / max(successful, 1), 3),
        "server_cpu_ms_per_call_net": round(1000 * max(cpu["total_s"] - idle_part, 0.0) / max(successful, 1), 3),
        "server_cpu_percent": round(100 * cpu["total_s"] / step_wall, 1),
        "other_programs_cpu_percent": round(100 * other / step_wall, 1),
        "steal_cpu_percent": round(100 * (steal_after - steal_before) / step_wall, 1),
        "loadavg_1min_at_start": round(load_before, 2),
        "sipp_errors": read_errors(step_dir),
        "node_output": noteworthy(env.drain.since(mark)),
    }
    if not args.keep_logs:
        shutil.rmtree(step_dir, ignore_errors=True)
    inv = rtt.get("invite", {})
    log(
        f"  {result['transport']} {rate:>5}/s: {successful}/{calls} ok, {failed} failed, {retrans} retrans, "
        f"answered {answered_rate}/s, INVITE->200 p50/p99 {inv.get('p50_ms')}/{inv.get('p99_ms')} ms, "
        f"server {per_call:.2f} ms CPU/call (loop {result['server_cpu_ms_per_call_main_thread']}, "
        f"threads {result['server_cpu_ms_per_call_other_threads']}, "
        f"workers {result['server_cpu_ms_per_call_workers']}), sipp {sipp_cpu:.1f} s CPU, "
        f"other programs {result['other_programs_cpu_percent']}% CPU"
        + ("" if not (hard or soft) else f"  {'FAIL' if hard else 'NOT CLEAN'}: {'; '.join(hard + soft)}")
    )
    return result


def ladder(env: Env, transport: str, rates: list[int], deadline: float) -> dict[str, Any]:
    """Step up the rate until a step has a failed call, a retransmission storm or the server
    answers under 75 % of the rate; the results are the highest rates up to which every step
    was clean / had 0 failed calls."""
    steps: list[dict[str, Any]] = []
    clean: int | None = None
    zero_failed: int | None = None
    stopped = "ladder completed"
    for rate in rates:
        calls = max(int(rate * env.args.step_seconds), 10)
        needed = calls / rate + env.args.pause_ms / 1000 + 5
        if time.monotonic() + needed > deadline:
            stopped = f"out of time before {rate}/s (--max-minutes)"
            break
        status, _ = wait_idle(env, timeout=40)
        if _int(status.get("callLegsActive")):
            stopped = f"node still has {status.get('callLegsActive')} active legs before {rate}/s"
            break
        step = run_step(env, transport, rate, calls)
        steps.append(step)
        if step["zero_failed"] and zero_failed == (steps[-2]["rate"] if len(steps) > 1 else None):
            zero_failed = rate
        if step["clean"] and clean == (steps[-2]["rate"] if len(steps) > 1 else None):
            clean = rate
        if step["stop_ladder"]:
            stopped = f"stopped at {rate}/s: {'; '.join(step['stop_reasons'])}"
            break
        time.sleep(env.args.cooldown)
    return {"highest_clean_rate": clean, "highest_rate_with_0_failed": zero_failed,
            "stopped": stopped, "steps": steps}


# --- main ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except (OSError, IndexError):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def preflight(args: argparse.Namespace) -> str:
    sipp: str | None = shutil.which(args.sipp)
    if sipp is None:
        raise BenchError(f"sipp not found ({args.sipp}); install it: apt-get install sip-tester")
    if os.geteuid() != 0:
        raise BenchError("run as root: sipp needs it here (raw sockets, open-file limits), as in the sipp tests")
    return sipp


def parse_rates(text: str) -> list[int]:
    try:
        rates = [int(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise BenchError(f"bad rate list {text!r}: use comma-separated integers") from None
    if not rates or any(r <= 0 for r in rates) or rates != sorted(rates):
        raise BenchError(f"bad rate list {text!r}: positive integers in increasing order")
    return rates


PROFILED_SERVE = """
import cProfile, gc, json, marshal, os, signal, sys, threading, time
from moot.cli import main

out = sys.argv[1]
main_prof = cProfile.Profile(time.thread_time)  # CPU time of the thread, not wall time
thread_profs = []
lock = threading.Lock()
base = []

def hook(frame, event, arg):
    # The first profile event of every new thread gives it its own profiler (enable()
    # replaces this hook for that thread).
    prof = cProfile.Profile(time.thread_time)
    with lock:
        thread_profs.append(prof)
    prof.enable()

def snapshot(prof):
    prof.snapshot_stats()  # reads, unlike create_stats() does not disable
    return dict(prof.stats)

gc_active = False
gc_started = {}
gc_pauses = {0: [], 1: [], 2: []}

def on_gc(phase, info):
    # Garbage collector pauses (every thread waits: the collector holds the GIL).
    if not gc_active:
        return
    if phase == "start":
        gc_started[info["generation"]] = time.perf_counter()
    elif info["generation"] in gc_started:
        gc_pauses[info["generation"]].append(time.perf_counter() - gc_started.pop(info["generation"]))

def begin(signum, frame):
    global base, gc_active
    with lock:
        base = [(p, snapshot(p)) for p in thread_profs]
    gc_active = True
    main_prof.enable()

def end(signum, frame):
    global gc_active
    main_prof.disable()
    gc_active = False
    with open(out + ".gc", "w") as f:
        json.dump({str(g): p for g, p in gc_pauses.items()}, f)
    main_prof.dump_stats(out + ".main.tmp")
    before = {id(p): s for p, s in base}
    merged = {}
    with lock:
        profs = list(thread_profs)
    for p in profs:
        earlier = before.get(id(p), {})
        for key, (cc, nc, tt, ct, _callers) in snapshot(p).items():
            b = earlier.get(key, (0, 0, 0.0, 0.0, {}))
            m = merged.get(key, (0, 0, 0.0, 0.0, {}))
            merged[key] = (m[0] + cc - b[0], m[1] + nc - b[1], m[2] + tt - b[2], m[3] + ct - b[3], {})
    with open(out + ".threads.tmp", "wb") as f:
        marshal.dump({k: v for k, v in merged.items() if v[1] > 0 or v[2] > 0}, f)
    os.replace(out + ".main.tmp", out + ".main")
    os.replace(out + ".threads.tmp", out + ".threads")

threading.setprofile(hook)
gc.callbacks.append(on_gc)
signal.signal(signal.SIGUSR1, begin)
signal.signal(signal.SIGUSR2, end)
sys.exit(main(["serve", "--data", sys.argv[2]]))
"""
"""``moot serve`` profiled (cProfile, thread CPU time) between SIGUSR1 and SIGUSR2: the main
thread into ``<out>.main``, all other threads of the process merged into ``<out>.threads``."""


def start_node(root: Path, spaces: int, profile: Path | None = None) -> tuple[RunningNode, Drain, Api]:
    """A node on a new data dir under ``root`` with the inbound rule and ``spaces`` spaces;
    with ``profile``, it is :data:`PROFILED_SERVE` writing its profile there."""
    ports = Ports()
    datadir = prepare_datadir(root, ports)
    node = RunningNode(datadir, ports)
    if profile is None:
        node.start(timeout=60)
    else:
        node.proc = subprocess.Popen(
            [sys.executable, "-c", PROFILED_SERVE, str(profile), str(datadir.root)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        node.wait_for(r"^ready in", 90)
    drain = Drain(node).start()
    api = Api(ports.https)
    api.post("/inboundDialPlanRules", domain="127.0.0.1")
    for i in range(spaces):
        api.post("/coSpaces", name=f"Bench room {i}", uri=f"room{i}")
    return node, drain, api


def stop_node(node: RunningNode, drain: Drain | None) -> int:
    if drain is not None:
        drain.stop()
    return node.stop(timeout=60)


def _where(path: str) -> str:
    """A short name for a profiled function's file: src-relative, or the stdlib/site module."""
    src = f"{ROOT / 'src'}/"
    if path.startswith(src):
        return path[len(src):]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    match = re.search(r"/lib/python3\.\d+/(.*)", path)
    return match.group(1) if match else path


def _area(path: str) -> str:
    """Group a file into an area: moot.<package>, a stdlib module, a site package, or builtins."""
    if path == "~" or not path:
        return "C functions (builtins, extension modules)"
    short = _where(path)
    if short.startswith("moot/"):
        parts = short.split("/")
        return "moot." + parts[1].removesuffix(".py")
    first = short.split("/", 1)[0].removesuffix(".py")
    return first


def read_profile(path: Path, calls: int, top: int = 25) -> dict[str, Any]:
    import pstats

    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    rows = []
    areas: Counter[str] = Counter()
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in raw.items():
        areas[_area(filename)] += tottime
        rows.append((tottime, cumtime, ncalls, f"{_where(filename)}:{line}({func})"))

    def fmt(r: tuple[float, float, int, str]) -> dict[str, Any]:
        return {"function": r[3], "own_ms_per_call": round(1000 * r[0] / calls, 4),
                "cum_ms_per_call": round(1000 * r[1] / calls, 4), "ncalls": r[2]}

    return {
        "profiled_seconds_of_cpu": round(total, 2),
        "own_time_by_area_ms_per_call": {
            k: round(1000 * v / calls, 3) for k, v in areas.most_common(20) if v > 0.0005 * total
        },
        "top_own_time": [fmt(r) for r in sorted(rows, key=lambda r: -r[0])[:top]],
        "top_cumulative_moot": [
            fmt(r) for r in sorted((r for r in rows if r[3].startswith("moot/")), key=lambda r: -r[1])[:top]
        ],
    }


def profile_run(args: argparse.Namespace, sipp: str, root: Path, sink_port: int) -> dict[str, Any]:
    """One step at ``--profile-rate`` on a fresh node whose main process is profiled (cProfile,
    thread CPU time) for the duration of the step only: the event loop thread, and the other
    threads (asyncio.to_thread work) merged. cProfile slows the profiled code down (roughly
    2x): the proportions are what this is for."""
    root.mkdir(parents=True, exist_ok=True)
    prof = root / "node.prof"
    scenario, inf = write_scenario(root, args.pause_ms, args.spaces)
    node, drain, api = start_node(root / "node", args.spaces, prof)
    out: dict[str, Any] = {"rate": args.profile_rate}
    done = Path(f"{prof}.threads")
    try:
        assert node.proc is not None
        time.sleep(2.0)
        env = Env(node, api, drain, sipp, root, scenario, inf, sink_port, 0.0, args)
        calls = max(int(args.profile_rate * args.profile_seconds), 10)
        os.kill(node.proc.pid, signal.SIGUSR1)
        step = run_step(env, "u1", args.profile_rate, calls)
        os.kill(node.proc.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 20
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        out["step"] = {k: step[k] for k in (
            "calls", "successful", "failed", "retransmissions", "answered_rate_per_s",
            "server_cpu_ms_per_call_main_thread", "server_cpu_ms_per_call_other_threads",
            "server_cpu_ms_per_call_workers", "other_programs_cpu_percent")}
    finally:
        out["node_exit_code"] = stop_node(node, drain)
    calls_ok = max(out.get("step", {}).get("successful", 0), 1)
    if done.exists():
        out["event_loop_thread"] = read_profile(Path(f"{prof}.main"), calls_ok)
        out["other_threads"] = read_profile(done, calls_ok)
        gc_file = Path(f"{prof}.gc")
        if gc_file.exists():
            pauses = json.loads(gc_file.read_text())
            out["gc_pauses"] = {
                f"generation_{g}": {
                    "count": len(v), "total_ms_per_call": round(1000 * sum(v) / calls_ok, 4),
                    "max_ms": round(1000 * max(v), 1) if v else 0.0,
                    "longest_ms": sorted((round(1000 * x, 1) for x in v), reverse=True)[:5],
                }
                for g, v in pauses.items()
            }
        out["note"] = ("cProfile (timer: thread CPU time) of the main process from sipp's start "
                       "until the node had drained, per successful call: the event loop thread "
                       "(SIP, call control, API) and, merged, its other threads (asyncio.to_thread: "
                       "routing/profile look-ups, API store commits). Media workers are not profiled. "
                       "Profiling inflates the times (see step: compare with the unprofiled ladder).")
    else:
        out["error"] = "the node wrote no profile"
    return out


def run(args: argparse.Namespace, sipp: str) -> dict[str, Any]:
    deadline = time.monotonic() + args.max_minutes * 60
    rates = parse_rates(args.rates)
    results: dict[str, Any] = {
        "goal_calls_per_s": GOAL_CPS,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "sipp": {"path": sipp, "version": sipp_version(sipp)},
        "parameters": {
            "spaces": args.spaces, "pause_ms": args.pause_ms, "step_seconds": args.step_seconds,
            "rates": rates, "clean_retrans_percent": args.clean_retrans_percent, "max_p90_ms": args.max_p90_ms,
            "storm_percent": args.storm_percent, "quick": args.quick,
            "codec_offer": "PCMU (payload type 0), sendrecv, no RTP sent",
        },
        "method": __doc__.split("Method\n------\n", 1)[1].split("\n\n    .venv", 1)[0] if __doc__ else "",
        "notes": NOTES,
    }
    old_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (old_nofile[1], old_nofile[1]))
    except (ValueError, OSError):
        pass
    keep = Path(tempfile.mkdtemp(prefix="moot-sip-setup-logs-")) if args.keep_logs else None
    if keep is not None:
        log(f"logs kept in {keep}")
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sink.bind(("127.0.0.1", 0))
        sink_port = sink.getsockname()[1]
        with tempfile.TemporaryDirectory(prefix="moot-sip-setup-") as tmp:
            root = keep or Path(tmp)
            scenario, inf = write_scenario(root, args.pause_ms, args.spaces)
            log("starting moot serve ...")
            node: RunningNode | None = None
            drain: Drain | None = None
            try:
                node, drain, api = start_node(root / "node", args.spaces)
                assert node.proc is not None
                time.sleep(2.0)  # let the node settle (workers up) before the idle measurement
                before = CpuSample.take(node.proc.pid)
                time.sleep(args.idle_seconds)
                idle = CpuSample.take(node.proc.pid).minus(before)
                idle_per_s = idle["total_s"] / args.idle_seconds
                results["idle_cpu_percent"] = {
                    "total": round(100 * idle_per_s, 2),
                    "main": round(100 * idle["main_s"] / args.idle_seconds, 2),
                    "children": round(100 * idle["children_s"] / args.idle_seconds, 2),
                    "processes": 1 + len(idle["children"]),
                }
                log(f"node pid {node.proc.pid} with {len(idle['children'])} child processes; "
                    f"idle CPU {100 * idle_per_s:.1f}%")
                env = Env(node, api, drain, sipp, root, scenario, inf, sink_port, idle_per_s, args)
                log(f"UDP ladder {rates} (calls of {args.pause_ms} ms into {args.spaces} spaces, "
                    f"{args.step_seconds:g} s per step)")
                results["udp"] = ladder(env, "u1", rates, deadline)
                if not args.no_tcp:
                    if args.tcp_rates:
                        tcp_rates = parse_rates(args.tcp_rates)
                    else:
                        udp = results["udp"]
                        best = udp["highest_clean_rate"] or udp["highest_rate_with_0_failed"] or rates[0]
                        tcp_rates = [r for r in rates if r <= best] + [r for r in rates if r > best][:2]
                    log(f"TCP ladder {tcp_rates}")
                    results["tcp"] = ladder(env, "t1", tcp_rates, deadline)
                results["node_status_at_end"] = api.status()
            finally:
                if node is not None:
                    results["node_exit_code"] = stop_node(node, drain)
                    results["node_output"] = noteworthy(node.output)
                    results["node_output_tail"] = node.output[-12:]
            if not args.no_profile:
                log(f"profile: {args.profile_rate}/s for {args.profile_seconds:g} s on a node under cProfile")
                results["profile_main_process"] = profile_run(args, sipp, root / "profile", sink_port)
                gcp = results["profile_main_process"].get("gc_pauses", {}).get("generation_2")
                if gcp:
                    log(f"  full (generation 2) GC pauses: {gcp['count']}, longest {gcp['longest_ms']} ms")
                for part in ("event_loop_thread", "other_threads"):
                    areas = results["profile_main_process"].get(part, {}).get("own_time_by_area_ms_per_call", {})
                    log(f"  {part} own time by area, ms per call: "
                        + ", ".join(f"{k} {v}" for k, v in list(areas.items())[:8]))
    finally:
        sink.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, old_nofile)
    results["where_the_time_goes"] = where_time_goes(results)
    busy = [s["other_programs_cpu_percent"] for t in ("udp", "tcp") if t in results for s in results[t]["steps"]]
    if busy and max(busy) > OTHER_CPU_WARN:
        results["warning"] = (
            f"other programs used up to {max(busy):.0f}% CPU (of {100 * (os.cpu_count() or 1)}%) during the "
            f"steps: the figures are lower than this machine gives when quiet")
    results["goal"] = goal(results)
    return results


def where_time_goes(r: dict[str, Any]) -> dict[str, Any]:
    """Server CPU per call at the highest clean UDP rate (else the first UDP step), by place."""
    udp = r.get("udp", {})
    steps = udp.get("steps", [])
    step = next((s for s in steps if s["rate"] == udp.get("highest_clean_rate")), steps[0] if steps else None)
    if step is None:
        return {}
    out: dict[str, Any] = {
        "at_rate": step["rate"],
        "server_cpu_ms_per_call": {
            "main process, event loop thread (SIP, call control, API)": step["server_cpu_ms_per_call_main_thread"],
            "main process, other threads (asyncio.to_thread: routing look-ups, API store commits)":
                step["server_cpu_ms_per_call_other_threads"],
            "media workers (leg set-up, and mixing/sending frames during the call)":
                step["server_cpu_ms_per_call_workers"],
            "total": step["server_cpu_ms_per_call"],
        },
        "one_core_bound_calls_per_s": round(1000 / max(step["server_cpu_ms_per_call_main"], 0.001)),
        "note": ("the main process (event loop + its threads, which share the GIL) is the serial part: "
                 "one_core_bound_calls_per_s = 1000 / its CPU ms per call, its ceiling if it had a core "
                 "to itself and nothing else limited it."),
    }
    prof = r.get("profile_main_process", {})
    if "gc_pauses" in prof:
        out["gc_pauses_during_profiled_step"] = prof["gc_pauses"]
    for part in ("event_loop_thread", "other_threads"):
        if part in prof:
            out[f"profiled_{part}_own_ms_per_call_by_area"] = prof[part]["own_time_by_area_ms_per_call"]
            out[f"profiled_{part}_top_moot_cumulative"] = [
                f"{f['function']} {f['cum_ms_per_call']} ms" for f in prof[part]["top_cumulative_moot"][:8]]
    return out


def goal(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for transport in ("udp", "tcp"):
        if transport not in r:
            continue
        lad = r[transport]
        clean = lad["highest_clean_rate"] or 0
        loose = lad["highest_rate_with_0_failed"] or 0
        step = next((s for s in lad["steps"] if s["rate"] == clean), None)
        out[transport] = {
            "highest_clean_rate": clean,
            "highest_rate_with_0_failed": loose,
            "answered_rate_per_s_at_clean_rate": step["answered_rate_per_s"] if step else 0.0,
            "ratio_to_goal": round(clean / GOAL_CPS, 2),
            "ratio_to_goal_0_failed_only": round(loose / GOAL_CPS, 2),
            "met": clean >= GOAL_CPS,
            # every step of the ladder was clean: the real limit may be higher
            "limited_by_ladder_top": bool(lad["steps"]) and clean == lad["steps"][-1]["rate"]
            and lad["stopped"] == "ladder completed",
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default=None, help=f"UDP rates to step through, calls/s (default {DEFAULT_RATES})")
    parser.add_argument("--tcp-rates", default=None,
                        help="TCP rates (default: the UDP ladder up to two steps past its result)")
    parser.add_argument("--no-tcp", action="store_true", help="skip the TCP ladder")
    parser.add_argument("--step-seconds", type=float, default=None, help="seconds of calls per step (default 10)")
    parser.add_argument("--pause-ms", type=int, default=1000, help="time between ACK and BYE (default 1000)")
    parser.add_argument("--spaces", type=int, default=10, help="spaces the calls spread over (default 10)")
    parser.add_argument("--clean-retrans-percent", type=float, default=1.0,
                        help="a clean step has at most this %% of retransmissions per call (default 1)")
    parser.add_argument("--max-p90-ms", type=float, default=500.0,
                        help="a clean step answers 90%% of INVITEs within this (default 500 ms = T1, "
                             "where UDP retransmits)")
    parser.add_argument("--storm-percent", type=float, default=10.0,
                        help="retransmissions above this %% of a step's calls stop the ladder (default 10)")
    parser.add_argument("--cooldown", type=float, default=1.0, help="seconds between steps (default 1)")
    parser.add_argument("--idle-seconds", type=float, default=3.0, help="idle CPU measurement (default 3)")
    parser.add_argument("--max-minutes", type=float, default=5.0, help="no new step after this long (default 5)")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run of the main process")
    parser.add_argument("--profile-rate", type=int, default=30,
                        help="calls/s of the profiled step (default 30: profiling makes the main process "
                             "2-3x slower, and retransmissions would distort the per-call figures)")
    parser.add_argument("--profile-seconds", type=float, default=None, help="profiled step length (default 10)")
    parser.add_argument("--quick", action="store_true", help=f"rates {QUICK_RATES}, 3 s steps")
    parser.add_argument("--keep-logs", action="store_true", help="keep each step's sipp logs (path on stderr)")
    parser.add_argument("--sipp", default="/usr/bin/sipp", help="the sipp binary (default /usr/bin/sipp)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results file (default {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args()
    args.rates = args.rates or (QUICK_RATES if args.quick else DEFAULT_RATES)
    args.step_seconds = args.step_seconds or (3.0 if args.quick else 10.0)
    args.profile_seconds = args.profile_seconds or (2.0 if args.quick else 10.0)
    if not 1 <= args.spaces <= 10_000 or args.pause_ms < 0 or args.step_seconds <= 0:
        parser.error("--spaces 1..10000, --pause-ms >= 0, --step-seconds > 0")
    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop sipp and the node.
    signal.signal(signal.SIGTERM, interrupted)
    try:
        sipp = preflight(args)
        results = run(args, sipp)
    except BenchError as exc:
        print(f"sip_setup: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sip_setup: interrupted; sipp and the node were stopped, no results written", file=sys.stderr)
        return 130
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    parts = []
    for transport, g in results["goal"].items():
        best = g["highest_clean_rate"]
        step = next((s for s in results[transport]["steps"] if s["rate"] == best), None)
        text = (f"{transport} {best}/s clean ({g['ratio_to_goal']}x goal {GOAL_CPS:g}/s), "
                f"{g['highest_rate_with_0_failed']}/s with 0 failed")
        text += " (ladder top)" if g["limited_by_ladder_top"] else ""
        if step is not None:
            inv = step["response_time_ms"].get("invite", {})
            text += (f", INVITE->200 p50/p99 {inv.get('p50_ms')}/{inv.get('p99_ms')} ms, server "
                     f"{step['server_cpu_ms_per_call']} ms CPU/call (main {step['server_cpu_ms_per_call_main']})")
        parts.append(text)
    for transport in ("udp", "tcp"):
        if transport in results:
            parts.append(f"{transport} {results[transport]['stopped']}")
    if "warning" in results:
        parts.append("WARNING: " + results["warning"])
    print("sip_setup: " + "; ".join(parts))
    return 0 if results["goal"].get("udp", {}).get("met") else 1


if __name__ == "__main__":
    sys.exit(main())
