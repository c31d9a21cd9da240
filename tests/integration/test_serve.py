"""``moot serve``: start-up, listeners, one node per data dir, clean stops, per-component restarts."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time

import pytest

from moot.node.datadir import DataDir
from tests.helpers import MOOT, Ports, RunningNode, prepare_datadir


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _tls(port: int) -> ssl.SSLSocket:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(_connect(port), server_hostname="127.0.0.1")


def test_first_start_is_ready_fast_and_prints_listeners(tmp_path: object, ports: Ports) -> None:
    dd = prepare_datadir(tmp_path / "n", ports)  # type: ignore[operator]
    started = time.monotonic()
    node = RunningNode(dd, ports).start()
    try:
        elapsed = time.monotonic() - started
        ready = node.wait_for(r"^ready in")
        assert float(ready.split()[2]) < 2.0, ready
        assert elapsed < 5, elapsed  # includes the interpreter start
        out = "\n".join(node.output)
        assert f"mmp: listening on ssh 127.0.0.1:{ports.ssh}" in out
        assert f"webadmin: listening on https 127.0.0.1:{ports.https}" in out
        # Both accept now.
        assert _connect(ports.ssh).recv(4).startswith(b"SSH-")
        with _tls(ports.https) as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        assert node.stop() == 0


def test_data_dir_is_private(node: RunningNode) -> None:
    dd = node.datadir
    for path in [dd.root, dd.files, dd.logs, dd.ssh, dd.run]:
        assert os.stat(path).st_mode & 0o077 == 0, path
    for path in [dd.config_db, dd.syslog, dd.audit_log, *dd.ssh.iterdir()]:
        assert os.stat(path).st_mode & 0o077 == 0, path


def test_second_serve_on_same_data_dir_refuses(node: RunningNode) -> None:
    proc = subprocess.run(
        [MOOT, "serve", "--data", str(node.datadir.root)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "already running" in proc.stderr
    assert str(node.proc.pid) in proc.stderr  # type: ignore[union-attr]
    # The first node is untouched.
    assert node.mmp("version").returncode == 0
    assert node.proc.poll() is None  # type: ignore[union-attr]


def test_sigterm_stops_cleanly(datadir: DataDir, ports: Ports) -> None:
    node = RunningNode(datadir, ports).start()
    assert datadir.control_socket.exists()
    assert node.proc is not None
    node.proc.send_signal(signal.SIGTERM)
    assert node.proc.wait(15) == 0
    node.stop()
    assert "stopped" in node.output
    assert not datadir.control_socket.exists()
    with pytest.raises(OSError):
        _connect(ports.ssh)
    # The lock is free: the node starts again.
    again = RunningNode(datadir, ports).start()
    assert again.stop() == 0


def test_restart_one_component_leaves_the_others(node: RunningNode) -> None:
    ports = node.ports
    with _tls(ports.https) as web:
        ssh = _connect(ports.ssh)
        assert ssh.recv(64).startswith(b"SSH-")
        res = node.mmp("callbridge restart")
        assert res.returncode == 0, res.stdout
        assert "SUCCESS: callbridge restarted" in res.stdout
        # The open SSH and HTTPS connections were not touched.
        web.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert web.recv(12).startswith(b"HTTP/1.1")
        ssh.sendall(b"SSH-2.0-probe\r\n")
        assert ssh.recv(1) != b""
        ssh.close()
    with _connect(ports.ssh) as ssh2:
        ssh2.settimeout(5)
        assert ssh2.recv(4) == b"SSH-"
        res = node.mmp("webadmin restart")
        assert res.returncode == 0, res.stdout
        ssh2.sendall(b"SSH-2.0-probe\r\n")
        assert ssh2.recv(1) != b""
    with _tls(ports.https) as s:
        assert s.version()


def test_mmp_reboot_and_shutdown(node: RunningNode) -> None:
    res = node.mmp("reboot")
    assert res.returncode == 0 and "SUCCESS" in res.stdout
    node.wait_for(r"^rebooting")
    ready_lines = [line for line in node.output if line.startswith("ready")]
    deadline = time.monotonic() + 15
    while len(ready_lines) < 2 and time.monotonic() < deadline:
        node.wait_for(r"^ready$", 15)
        ready_lines = [line for line in node.output if line.startswith("ready")]
    assert len(ready_lines) >= 2
    assert node.mmp("version").returncode == 0
    res = node.mmp("shutdown")
    assert res.returncode == 0 and "SUCCESS: shutting down" in res.stdout
    assert node.proc is not None and node.proc.wait(15) == 0
    res = node.mmp("shutdown")
    assert res.returncode == 1 and "no node is running" in res.stdout


def test_commands_work_without_a_running_node(datadir: DataDir) -> None:
    from tests.helpers import mmp

    res = mmp(datadir, "callbridge listen a")
    assert res.returncode == 0
    res = mmp(datadir, "callbridge restart")
    assert res.returncode == 0 and "not running" in res.stdout
