"""``webbridge3`` MMP commands against a running node: listeners, certificates, redirect, on/off."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.helpers import RunningNode, free_port
from tests.integration.test_webadmin import (
    _plain_get,
    file_fingerprint,
    fingerprint,
    openssl_pair,
    served_der,
    table,
)


def _serves_web_app(port: int) -> bool:
    out = subprocess.run(["curl", "-sk", f"https://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=20)
    return 'id="join-view"' in out.stdout or "<title>" in out.stdout


def test_status_and_defaults(node: RunningNode) -> None:
    rows = table(node.mmp("webbridge3").stdout)
    assert rows["Enabled"] == "true"
    assert rows["HTTPS listening ports and interfaces"] == f"a:{node.ports.webbridge}"
    assert rows["HTTPS Key file"] == "none (self-signed default)"
    assert rows["HTTP redirect"] == "Disabled"
    assert rows["STATUS"].startswith("running")
    assert _serves_web_app(node.ports.webbridge)
    assert f"webbridge: listening on https 127.0.0.1:{node.ports.webbridge}" in node.output


def test_listen_certs_redirect_and_restart(node: RunningNode) -> None:
    old, new = node.ports.webbridge, free_port()
    out = node.mmp(f"webbridge3 https listen a:{new}")
    assert out.stdout.strip() == f"SUCCESS: web bridge will listen on a:{new}; apply with 'webbridge3 restart'"
    assert _serves_web_app(old)  # only on restart
    store = node.datadir.files
    openssl_pair(store, "wb")
    assert node.mmp("webbridge3 https certs wb.key wb.crt").returncode == 0
    assert node.mmp("webbridge3 http-redirect enable").returncode == 0
    out = node.mmp("webbridge3 restart")
    assert out.stdout.strip() == "SUCCESS: webbridge restarted", out.stdout
    assert _serves_web_app(new)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", old), timeout=2).close()
    assert fingerprint(served_der(new)) == file_fingerprint(store / "wb.crt")
    head = _plain_get(new, "/meeting/123?secret=x")
    assert head.startswith(b"HTTP/1.1 301 ")
    assert f"Location: https://127.0.0.1:{new}/meeting/123?secret=x".encode() in head
    rows = table(node.mmp("webbridge3").stdout)
    assert (rows["HTTPS Key file"], rows["HTTPS Full chain certificate file"]) == ("wb.key", "wb.crt")
    assert rows["HTTP redirect"] == "Enabled"


def test_disable_and_enable(node: RunningNode) -> None:
    port = node.ports.webbridge
    assert node.mmp("webbridge3 disable").stdout.strip() == "SUCCESS: web bridge disabled"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert table(node.mmp("webbridge3").stdout)["Enabled"] == "false"
    assert node.mmp("webbridge3 enable").stdout.strip() == "SUCCESS: web bridge enabled"
    assert _serves_web_app(port)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("webbridge3 https listen a", "invalid listener 'a'"),
        ("webbridge3 https listen e:443", "invalid listener 'e:443'"),
        ("webbridge3 https listen a:0", "invalid port '0'"),
        ("webbridge3 https listen a:443 a:443", "a:443 is given twice"),
        ("webbridge3 https certs missing.key missing.crt", "missing.key not found"),
        ("webbridge3 http-redirect maybe", "Usage"),
    ],
)
def test_bad_arguments_fail_and_change_nothing(node: RunningNode, command: str, words: str) -> None:
    before = node.mmp("webbridge3").stdout
    out = node.mmp(command)
    assert out.returncode == 1
    assert words in out.stdout + out.stderr
    assert node.mmp("webbridge3").stdout == before


def test_listen_refuses_a_port_another_listener_uses(node: RunningNode) -> None:
    out = node.mmp(f"webbridge3 https listen a:{node.ports.https}")
    assert out.returncode == 1
    assert "used by the web admin" in out.stdout
    out = node.mmp(f"webadmin listen a {node.ports.webbridge}")
    assert out.returncode == 1
    assert "used by the web bridge" in out.stdout
