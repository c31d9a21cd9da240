"""The interactive local console (``moot mmp``) in a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

from moot.node.datadir import DataDir
from tests.helpers import MOOT, Ports, prepare_datadir

NEW = "Console-Pa55"


class Pty:
    def __init__(self, args: list[str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
            env=dict(os.environ, TERM="xterm", COLUMNS="120", LINES="40", PROMPT_TOOLKIT_NO_CPR="1"),
        )
        os.close(slave)
        self.buffer = ""
        self.pos = 0

    def expect(self, pattern: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            clean = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r", "", self.buffer)
            m = rx.search(clean, self.pos)
            if m:
                seen = clean[self.pos : m.end()]
                self.pos = m.end()
                return seen
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.buffer += os.read(self.master, 65536).decode(errors="replace")
                except OSError:
                    break
        raise AssertionError(f"no {pattern!r} in console output:\n{self.buffer[-2000:]!r}")

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> int:
        try:
            return self.proc.wait(10)
        finally:
            os.close(self.master)


def test_first_console_login_sets_admin_password_then_runs_commands(tmp_path: Path) -> None:
    dd: DataDir = prepare_datadir(tmp_path / "n", Ports(), admin_password=None)
    con = Pty([MOOT, "mmp", "--data", str(dd.root)])
    con.expect(r"has no password yet")
    con.expect(r"Please enter new password:")
    con.send(NEW + "\r")
    con.expect(r"again:")
    con.send(NEW + "\r")
    con.expect(r"SUCCESS: password changed")
    con.expect(r"\w>")
    con.send("version\r")
    out = con.expect(r"Version\s+: ")
    assert NEW not in out  # the password was never echoed
    con.expect(r"\w>")
    con.send("user lis\t")  # tab completes "list"
    con.expect(r"user list")
    con.send("\r")
    con.expect(r"USERNAME\s+ROLE")
    con.expect(r"\w>")
    con.send("bogus\r")
    con.expect(r"Unknown command")
    con.send("exit\r")
    assert con.close() == 0
    from tests.helpers import config_of

    store, _, accounts = config_of(dd)
    try:
        admin = accounts.get("admin")
        assert admin is not None and admin.password_hash and not admin.must_change
    finally:
        store.close()
    # History survives the session.
    assert "version" in (dd.run / "history-admin").read_text()


def test_scripted_first_password_via_stdin(tmp_path: Path) -> None:
    dd = prepare_datadir(tmp_path / "n", Ports(), admin_password=None)
    res = subprocess.run([MOOT, "mmp", "--data", str(dd.root), "-c", "user list"],
                         capture_output=True, text=True, input="", timeout=30)
    assert res.returncode == 1 and "no password yet" in res.stdout
    res = subprocess.run([MOOT, "mmp", "--data", str(dd.root), "-c", "passwd"],
                         capture_output=True, text=True, input=f"{NEW}\n{NEW}\n", timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([MOOT, "mmp", "--data", str(dd.root), "-c", "user list"],
                         capture_output=True, text=True, input="", timeout=30)
    assert res.returncode == 0 and res.stdout.startswith("USERNAME")
