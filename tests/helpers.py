"""Shared test helpers: free ports, a prepared data dir, a running node, the MMP CLI."""

from __future__ import annotations

import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from moot.db.nodestore import NodeStore
from moot.node.accounts import Accounts
from moot.node.datadir import DataDir
from moot.node.settings import (
    CALLBRIDGE_SIP_PORTS,
    MMP_LISTEN,
    WEBADMIN_LISTEN,
    WEBBRIDGE_LISTEN,
    NodeConfig,
    iface_device,
    listener,
)

ROOT = Path(__file__).resolve().parent.parent
MOOT = str(Path(sys.executable).parent / "moot")
ADMIN_PASSWORD = "Adm1n-Pass!"


#: Ports handed to test listeners: below Linux's ephemeral range (32768-60999, where port-0
#: binds and outgoing connections land, so a client socket cannot take a port between the
#: test choosing it and the node binding it) and below the media pool's RTP range (16384-).
TEST_PORTS = (10000, 16384)
_handed: set[int] = set()


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free for both TCP and UDP on loopback (``kind`` kept for callers' clarity),
    not handed out before in this test run."""
    del kind
    for _ in range(500):
        port = random.randrange(*TEST_PORTS)
        if port not in _handed and _bindable(port):
            _handed.add(port)
            return port
    raise OSError(f"no free port in {TEST_PORTS}")


@dataclass
class Ports:
    ssh: int = field(default_factory=free_port)
    https: int = field(default_factory=free_port)
    sip: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    sip_tls: int = field(default_factory=free_port)
    webbridge: int = field(default_factory=free_port)


def prepare_datadir(root: Path, ports: Ports | None = None, admin_password: str | None = ADMIN_PASSWORD) -> DataDir:
    """A new data dir on loopback with free ports and (by default) an admin password set."""
    from moot.node.context import NodeContext

    ports = ports or Ports()
    dd = DataDir(root)
    node = NodeContext(dd)
    try:
        node.config.set_many(
            (iface_device("a"), "lo"),
            (MMP_LISTEN, listener("a", ports.ssh)),
            (WEBADMIN_LISTEN, listener("a", ports.https)),
            (CALLBRIDGE_SIP_PORTS, {"udp": ports.sip, "tcp": ports.sip, "tls": ports.sip_tls}),
            (WEBBRIDGE_LISTEN, [listener("a", ports.webbridge)]),
        )
        if admin_password is not None:
            node.accounts.set_password("admin", admin_password, by_self=True)
    finally:
        node.close()
    return dd


def config_of(dd: DataDir) -> tuple[NodeStore, NodeConfig, Accounts]:
    store = NodeStore(dd.config_db)
    return store, NodeConfig(store), Accounts(store)


def mmp(
    dd: DataDir, command: str, input: str | None = None, user: str = "admin", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``moot mmp --data DIR -c CMD`` with ``input`` piped to its prompts."""
    return subprocess.run(
        [MOOT, "mmp", "--data", str(dd.root), "--user", user, "-c", command],
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class RunningNode:
    """``moot serve`` in a subprocess, waited for until it prints ``ready``."""

    def __init__(self, dd: DataDir, ports: Ports) -> None:
        self.datadir = dd
        self.ports = ports
        self.output: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._pending = b""

    def start(self, timeout: float = 15) -> RunningNode:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [MOOT, "serve", "--data", str(self.datadir.root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.wait_for(r"^ready in", timeout)
        return self

    def wait_for(self, pattern: str, timeout: float = 15) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        for line in self.output:
            if rx.search(line):
                return line
        # Raw reads: a buffered readline() could hold lines that select() no longer sees.
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                *complete, self._pending = (self._pending + chunk).split(b"\n")
                lines = [raw.decode(errors="replace") for raw in complete]
                self.output.extend(lines)
                for line in lines:
                    if rx.search(line):
                        return line
        raise AssertionError(
            f"node did not print {pattern!r} within {timeout}s; output:\n" + "\n".join(self.output)
        )

    def mmp(self, command: str, input: str | None = None, user: str = "admin") -> subprocess.CompletedProcess[str]:
        return mmp(self.datadir, command, input, user)

    def stop(self, timeout: float = 15) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            rest = self._pending.decode(errors="replace") + self.proc.stdout.read()
            self.output.extend(rest.splitlines())
            self.proc.stdout.close()
        return int(self.proc.returncode or 0)


class ScriptedTerminal:
    """A terminal for in-process command tests: answers prompts from a list, records output."""

    interactive = False

    def __init__(self, answers: list[str] | None = None) -> None:
        self.answers = list(answers or [])
        self.prompts: list[str] = []
        self.out: list[str] = []

    def write(self, text: str) -> None:
        self.out.append(text)

    async def read_line(self, prompt: str, *, secret: bool = False) -> str | None:
        self.prompts.append(prompt)
        return self.answers.pop(0) if self.answers else None

    @property
    def text(self) -> str:
        return "".join(self.out)


async def run_line(
    node: object, line: str, answers: list[str] | None = None, user: str = "admin", channel: str = "console"
) -> tuple[bool, str]:
    """Run one MMP line in-process as ``user``; returns (ok, output)."""
    from moot.mmp.context import Context
    from moot.mmp.shell import execute

    acc = node.accounts.get(user)  # type: ignore[attr-defined]
    assert acc is not None, user
    term = ScriptedTerminal(answers)
    ctx = Context(node, acc, term, channel=channel)  # type: ignore[arg-type]
    ok = await execute(ctx, line)
    return ok, term.text
