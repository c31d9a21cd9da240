"""``syslog follow`` as a live process: lines written after it started appear; signals stop it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time

import pytest

from moot.node.datadir import DataDir
from tests.helpers import MOOT, RunningNode, mmp
from tests.ssh_helpers import add_account, connect


class Follower:
    """``moot mmp -c "syslog follow"`` in a subprocess, its output collected by a thread."""

    def __init__(self, dd: DataDir, user: str = "admin") -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [MOOT, "mmp", "--data", str(dd.root), "--user", user, "-c", "syslog follow"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not followed within {timeout}s; got:\n" + "\n".join(self.lines))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(5)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream:
                    stream.close()
        return rc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_follow_shows_new_lines_until_a_signal(datadir: DataDir, sig: int) -> None:
    with datadir.syslog.open("a") as f:
        for i in range(30):
            f.write(f"old line {i}\n")
    follower = Follower(datadir)
    try:
        # The last lines first (its own audit line is the newest of them)...
        follower.wait_for("issued command < syslog follow>")
        assert "old line 11" in follower.lines
        assert "old line 10" not in follower.lines
        # ...then what other MMP processes write (each command is audited to the syslog)...
        assert mmp(datadir, "backup list").returncode == 0
        follower.wait_for("issued command < backup list>: permission granted")
        # ...and lines appended by anyone, including one written in two pieces.
        with datadir.syslog.open("a") as f:
            f.write("a line written in ")
            f.flush()
            time.sleep(0.5)
            f.write("two pieces\n")
        follower.wait_for("a line written in two pieces")
        assert follower.proc.poll() is None
    finally:
        rc = follower.stop(sig)
    assert rc == 0
    assert "a line written in " not in follower.lines  # never printed half


def test_follow_with_a_running_node(node: RunningNode) -> None:
    """The node's own log lines (here: its reboot) reach the follower."""
    follower = Follower(node.datadir)
    try:
        follower.wait_for("issued command < syslog follow>")
        assert node.mmp("reboot").returncode == 0
        follower.wait_for("reboot: starting all components again", 15)
    finally:
        assert follower.stop() == 0


def test_follow_survives_the_log_being_rotated(datadir: DataDir) -> None:
    follower = Follower(datadir)
    try:
        follower.wait_for("issued command < syslog follow>")
        with datadir.syslog.open("a") as f:
            f.write("last line before rotation\n")
        datadir.syslog.rename(datadir.logs / "syslog.1")
        datadir.syslog.write_text("first line after rotation\n")
        follower.wait_for("first line after rotation")
        assert "last line before rotation" in follower.lines
        assert mmp(datadir, "syslog").returncode == 0
        follower.wait_for("issued command < syslog>")
    finally:
        assert follower.stop() == 0


def test_audit_role_may_follow(datadir: DataDir) -> None:
    add_account(datadir, "auditor", "audit")
    follower = Follower(datadir, user="auditor")
    try:
        follower.wait_for("User auditor from local issued command < syslog follow>: permission granted")
    finally:
        assert follower.stop() == 0


def test_syslog_status(datadir: DataDir) -> None:
    mmp(datadir, "backup list")
    r = mmp(datadir, "syslog")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = dict(
        (key.strip(), value) for key, value in (line.split(" : ", 1) for line in r.stdout.splitlines())
    )
    assert next(iter(rows)) == "Directory" and rows["Directory"] == str(datadir.logs)
    size = datadir.audit_log.stat().st_size
    assert rows["audit"].startswith(f"{size} bytes, last written ")
    assert rows["syslog"].endswith(" UTC")
    assert rows["Rotation"] == "at 10 MiB, 5 old files kept"


async def test_follow_over_ssh_ends_with_the_session(node: RunningNode) -> None:
    async with connect(node.ports) as conn:
        process = await conn.create_process("syslog follow")
        seen: list[str] = []

        async def until(text: str) -> None:
            while not any(text in line for line in seen):
                line = await asyncio.wait_for(process.stdout.readline(), 10)
                assert line, "session ended early"
                seen.append(line)

        await until("issued command < syslog follow>")
        assert (await asyncio.to_thread(node.mmp, "backup list")).returncode == 0
        await until("issued command < backup list>")
        # Ctrl-D (end of input) ends the follow and the command.
        process.stdin.write_eof()
        await asyncio.wait_for(process.wait(), 10)
    # The node carried on: another session works.
    assert node.mmp("syslog").returncode == 0
