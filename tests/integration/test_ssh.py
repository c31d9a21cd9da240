"""The MMP over SSH against a running node: asyncssh and OpenSSH clients."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from moot.node.control import SocketControl
from moot.node.settings import MMP_LISTEN, listener
from tests.helpers import ADMIN_PASSWORD, Ports, RunningNode, config_of, free_port
from tests.ssh_helpers import (
    NEW_PASSWORD,
    PASSWORD,
    add_account,
    connect,
    needs_openssh,
    openssh,
    openssh_options,
    refused,
)

PROMPT = socket.gethostname().split(".")[0] + "> "


async def read_until(proc: Any, text: str, timeout: float = 10) -> str:
    """Read a pty session's output until ``text`` shows (returns everything read)."""
    out = ""
    deadline = time.monotonic() + timeout
    while text not in out:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{text!r} not seen; got {out!r}")
        chunk = await asyncio.wait_for(proc.stdout.read(4096), left)
        if not chunk:
            raise AssertionError(f"session ended before {text!r}; got {out!r}")
        out += chunk
    return out


def syslog(node: RunningNode) -> str:
    return node.datadir.syslog.read_text()


def set_rules(node: RunningNode, **rules: Any) -> None:
    store, _, accounts = config_of(node.datadir)
    try:
        from dataclasses import replace

        accounts.set_rules(replace(accounts.rules, **rules))
    finally:
        store.close()


def change_account(node: RunningNode, name: str, **changes: Any) -> None:
    store, _, accounts = config_of(node.datadir)
    try:
        acc = accounts.get(name)
        assert acc is not None
        for key, value in changes.items():
            setattr(acc, key, value)
        store.put_account(acc)
    finally:
        store.close()


# login and commands -----------------------------------------------------------
async def test_exec_runs_one_command_with_exit_status(node: RunningNode) -> None:
    async with connect(node.ports) as conn:
        ok = await conn.run("version")
        assert ok.exit_status == 0
        assert re.search(r"^Version\s*: \S+", ok.stdout, re.M), ok.stdout
        bad = await conn.run("nonsense words")
        assert bad.exit_status == 1
        assert bad.stdout.startswith("Unknown command"), bad.stdout
        failed = await conn.run("mmp listen a 99999")
        assert failed.exit_status == 1
        assert failed.stdout.startswith("FAILURE: invalid port"), failed.stdout
    audit = node.datadir.audit_log.read_text()
    assert re.search(r"User admin from 127\.0\.0\.1:\d+ issued command < version>", audit), audit


async def test_interactive_session_prompt_history_and_exit(node: RunningNode) -> None:
    async with connect(node.ports) as conn:
        proc = await conn.create_process(term_type="xterm", term_size=(100, 30))
        banner = await read_until(proc, PROMPT)
        assert "Moot MMP" in banner
        proc.stdin.write("version\r")
        out = await read_until(proc, PROMPT)
        assert "Version" in out
        # Up-arrow brings back the last line.
        proc.stdin.write("\x1b[A\r")
        out = await read_until(proc, PROMPT)
        assert "Version" in out
        # Tab completes a unique command word.
        proc.stdin.write("versi\t\r")
        out = await read_until(proc, PROMPT)
        assert "Version" in out, out
        proc.stdin.write("exit\r")
        await asyncio.wait_for(proc.wait_closed(), 10)
        assert proc.exit_status == 0


async def test_end_of_input_ends_the_session(node: RunningNode) -> None:
    async with connect(node.ports) as conn:
        proc = await conn.create_process(term_type="xterm")
        await read_until(proc, PROMPT)
        proc.stdin.write("\x04")  # Ctrl-D on an empty line
        await asyncio.wait_for(proc.wait_closed(), 10)
        assert proc.exit_status == 0


async def test_shell_without_pty_reads_lines_and_keeps_stdout_clean(node: RunningNode) -> None:
    async with connect(node.ports) as conn:
        result = await conn.run(input="version\nquit\n")
        assert result.exit_status == 0
        assert "Version" in result.stdout
        assert PROMPT in result.stderr


# refusals -------------------------------------------------------------------------
async def test_wrong_password_refused_and_logged_without_it(node: RunningNode) -> None:
    assert await refused(node.ports, "admin", "Wrong-pass-42")
    assert await refused(node.ports, "nobody", "Wrong-pass-42")
    log = syslog(node)
    assert re.search(r"failed SSH login for admin from 127\.0\.0\.1:\d+", log), log
    assert re.search(r"failed SSH login for nobody from 127\.0\.0\.1:\d+", log), log
    assert "Wrong-pass-42" not in log
    assert "Wrong-pass-42" not in node.datadir.audit_log.read_text()


async def test_lockout_after_max_failed_logins(node: RunningNode) -> None:
    add_account(node.datadir, "bob", "admin")
    set_rules(node, max_failed_logins=3, lockout_time=15)
    for _ in range(3):
        assert await refused(node.ports, "bob", "Wrong-pass-42")
    # Locked now: the right password does not get in either.
    assert await refused(node.ports, "bob", PASSWORD)
    assert "account bob locked" in syslog(node)
    # Others are not affected; an admin unlocks bob.
    result = node.mmp("user unlock bob")
    assert result.returncode == 0, result.stdout + result.stderr
    async with connect(node.ports, "bob", PASSWORD) as conn:
        assert (await conn.run("version")).exit_status == 0


async def test_account_without_password_refused(node: RunningNode) -> None:
    add_account(node.datadir, "carol", "admin")
    change_account(node, "carol", password_hash=None, password_changed=None)
    assert await refused(node.ports, "carol", "")
    assert await refused(node.ports, "carol", PASSWORD)
    assert "failed SSH login for carol" in syslog(node)


async def test_api_role_refused(node: RunningNode) -> None:
    add_account(node.datadir, "robot", "api")
    assert await refused(node.ports, "robot", PASSWORD)
    assert re.search(r"failed SSH login for robot .*role api", syslog(node))


async def test_disabled_account_refused(node: RunningNode) -> None:
    add_account(node.datadir, "dave", "audit")
    async with connect(node.ports, "dave", PASSWORD) as conn:
        assert (await conn.run("version")).exit_status == 0
    change_account(node, "dave", expires=time.time() - 60)
    assert await refused(node.ports, "dave", PASSWORD)


async def test_role_limits_commands(node: RunningNode) -> None:
    add_account(node.datadir, "auditor", "audit")
    async with connect(node.ports, "auditor", PASSWORD) as conn:
        result = await conn.run("mmp restart")
        assert result.exit_status == 1
        assert "FAILURE: permission denied" in result.stdout


# forced password change ------------------------------------------------------------------
async def test_new_account_must_change_password_at_first_login(node: RunningNode) -> None:
    add_account(node.datadir, "erin", "admin", fresh=True)
    async with connect(node.ports, "erin", PASSWORD) as conn:
        # A command alone is refused until the password is changed.
        result = await conn.run("version")
        assert result.exit_status == 1
        assert result.stdout.startswith("FAILURE: You must change your password"), result.stdout
        proc = await conn.create_process(term_type="xterm")
        await read_until(proc, "Please enter new password: ")
        proc.stdin.write(NEW_PASSWORD + "\r")
        await read_until(proc, "again: ")
        proc.stdin.write(NEW_PASSWORD + "\r")
        out = await read_until(proc, PROMPT)
        assert "SUCCESS: password changed" in out
        assert NEW_PASSWORD not in out  # not echoed
        proc.stdin.write("exit\r")
        await asyncio.wait_for(proc.wait_closed(), 10)
    assert await refused(node.ports, "erin", PASSWORD)
    async with connect(node.ports, "erin", NEW_PASSWORD) as conn:
        assert (await conn.run("version")).exit_status == 0


async def test_expired_password_change_failure_ends_session(node: RunningNode) -> None:
    add_account(node.datadir, "frank", "admin")
    assert node.mmp("user expire frank").returncode == 0
    async with connect(node.ports, "frank", PASSWORD) as conn:
        proc = await conn.create_process(term_type="xterm")
        for _ in range(3):
            await read_until(proc, "Please enter new password: ")
            proc.stdin.write(NEW_PASSWORD + "\r")
            await read_until(proc, "again: ")
            proc.stdin.write("Different-pass-1\r")
        await asyncio.wait_for(proc.wait_closed(), 10)
        assert proc.exit_status == 1
    # The old password still works, and still must be changed.
    async with connect(node.ports, "frank", PASSWORD) as conn:
        assert (await conn.run("version")).exit_status == 1


async def test_password_older_than_password_age_must_be_changed(node: RunningNode) -> None:
    add_account(node.datadir, "gina", "admin")
    set_rules(node, password_age=30)
    change_account(node, "gina", password_changed=time.time() - 31 * 86400)
    async with connect(node.ports, "gina", PASSWORD) as conn:
        result = await conn.run("version")
        assert result.exit_status == 1
        assert "Your password has expired" in result.stdout
        proc = await conn.create_process(term_type="xterm")
        out = await read_until(proc, "Please enter new password: ")
        assert "Your password has expired" in out


# sessions -------------------------------------------------------------------------------
async def test_user_evict_closes_the_connection(node: RunningNode) -> None:
    add_account(node.datadir, "bob", "admin")
    async with connect(node.ports, "bob", PASSWORD) as conn:
        proc = await conn.create_process(term_type="xterm")
        await read_until(proc, PROMPT)
        sessions = await SocketControl(node.datadir.control_socket).sessions()
        assert [s["user"] for s in sessions if s["kind"] == "ssh"] == ["bob"]
        result = await asyncio.to_thread(node.mmp, "user evict bob")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 session" in result.stdout
        await asyncio.wait_for(conn.wait_closed(), 5)
    assert await SocketControl(node.datadir.control_socket).sessions() == []


async def test_mmp_status_listen_and_restart(node: RunningNode) -> None:
    status = node.mmp("mmp")
    assert status.returncode == 0
    assert re.search(rf"^Port\s+: {node.ports.ssh}$", status.stdout, re.M), status.stdout
    assert re.search(r"^Host key\s+: ssh-ed25519 SHA256:\S+$", status.stdout, re.M)
    assert re.search(r"^State\s+: running$", status.stdout, re.M)
    # An unmapped interface is refused and nothing changes.
    bad = node.mmp("mmp listen b 2022")
    assert bad.returncode == 1 and bad.stdout.startswith("FAILURE: interface b is not mapped")
    new_port = free_port()
    assert node.mmp(f"mmp listen a {new_port}").returncode == 0
    # Takes effect on restart only.
    async with connect(node.ports) as conn:
        assert (await conn.run("version")).exit_status == 0
    restart = node.mmp("mmp restart")
    assert restart.returncode == 0, restart.stdout + restart.stderr
    with pytest.raises(OSError):
        async with connect(node.ports):
            pass
    moved = Ports(ssh=new_port)
    async with connect(moved) as conn:
        result = await conn.run("mmp")
        assert re.search(r"^SSH sessions\s+: 1$", result.stdout, re.M), result.stdout
    _, config, _ = config_of(node.datadir)
    assert config.get(MMP_LISTEN) == listener("a", new_port)


async def test_mmp_restart_over_ssh_ends_the_session(node: RunningNode) -> None:
    async with connect(node.ports) as conn:
        result = await conn.run("mmp restart")
        assert result.exit_status == 0
        assert result.stdout.startswith("SUCCESS"), result.stdout
    await asyncio.sleep(1.5)
    async with connect(node.ports) as conn:
        assert (await conn.run("version")).exit_status == 0


async def test_host_keys_persist_across_restarts(node: RunningNode) -> None:
    async with connect(node.ports) as conn:
        first = conn.get_server_host_key().get_fingerprint()
    keys = sorted(p.name for p in node.datadir.ssh.iterdir())
    assert "ssh_host_ed25519_key" in keys and "ssh_host_ecdsa_key" in keys
    for path in node.datadir.ssh.iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert node.stop() == 0
    node.output.clear()  # wait for the new "ready", not the old one
    node.start()
    async with connect(node.ports) as conn:
        assert conn.get_server_host_key().get_fingerprint() == first
    assert sorted(p.name for p in node.datadir.ssh.iterdir()) == keys


# OpenSSH ------------------------------------------------------------------------------
@needs_openssh
@pytest.mark.slow
def test_openssh_exec_and_exit_status(node: RunningNode, tmp_path: Path) -> None:
    opts = openssh_options(node.ports, tmp_path)
    ok = openssh("ssh", [*opts, "admin@127.0.0.1", "version"], ADMIN_PASSWORD)
    assert ok.returncode == 0, ok.stderr
    assert re.search(r"^Version\s*: ", ok.stdout, re.M)
    bad = openssh("ssh", [*opts, "admin@127.0.0.1", "nonsense"], ADMIN_PASSWORD)
    assert bad.returncode == 1
    assert bad.stdout.startswith("Unknown command")
    # The host key OpenSSH stored is one the node shows in `mmp`.
    shown = re.findall(r"SHA256:\S+", node.mmp("mmp").stdout)
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "known_hosts")],
        capture_output=True, text=True, check=True,
    ).stdout
    assert re.findall(r"SHA256:\S+", listed)[0] in shown


@needs_openssh
@pytest.mark.slow
def test_openssh_wrong_password(node: RunningNode, tmp_path: Path) -> None:
    result = openssh(
        "ssh", [*openssh_options(node.ports, tmp_path), "admin@127.0.0.1", "version"], "Wrong-1-pass"
    )
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    assert "failed SSH login for admin" in syslog(node)


@needs_openssh
@pytest.mark.slow
def test_openssh_interactive_session(node: RunningNode, tmp_path: Path) -> None:
    result = openssh(
        "ssh",
        ["-tt", *openssh_options(node.ports, tmp_path), "admin@127.0.0.1"],
        ADMIN_PASSWORD,
        input="version\nexit\n",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert PROMPT in result.stdout
    assert "Version" in result.stdout



async def test_reboot_over_ssh_ends_the_session_and_the_node_comes_back(node: RunningNode) -> None:
    async with connect(node.ports) as conn:
        before = conn.get_server_host_key().get_fingerprint()
        proc = await conn.create_process(term_type="xterm")
        await read_until(proc, PROMPT)
        proc.stdin.write("reboot\r")
        out = await read_until(proc, "SUCCESS")
        assert "rebooting" in out
        await asyncio.wait_for(conn.wait_closed(), 10)
    await asyncio.to_thread(node.wait_for, r"^rebooting", 10)
    await asyncio.to_thread(node.wait_for, r"^ready$", 15)
    async with connect(node.ports) as conn:
        assert conn.get_server_host_key().get_fingerprint() == before
        assert (await conn.run("version")).exit_status == 0
