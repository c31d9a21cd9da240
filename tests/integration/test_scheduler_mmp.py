"""``scheduler`` MMP commands (guide 3.6-3.6.7): syntax, output, and bad input changing nothing."""

from __future__ import annotations

import json
import socket
import ssl
import stat
from collections.abc import Iterator
from typing import Any

import pytest

from moot.node.context import NodeContext
from moot.node.datadir import DataDir
from moot.scheduler import settings as S
from tests.helpers import RunningNode, config_of, free_port, mmp, run_line

PASSWORD = "Smtp-S3cret!"
ALL_SETTINGS = [v for v in vars(S).values() if isinstance(v, S.Setting)]


def ok(dd: DataDir, command: str, input: str | None = None) -> str:
    result = mmp(dd, command, input=input)
    assert result.returncode == 0, f"{command!r} failed:\n{result.stdout}{result.stderr}"
    assert "FAILURE" not in result.stdout
    return result.stdout


def fails(dd: DataDir, command: str, input: str | None = None) -> str:
    result = mmp(dd, command, input=input)
    assert result.returncode != 0, f"{command!r} should have failed:\n{result.stdout}"
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("FAILURE: ")]
    assert lines, result.stdout + result.stderr
    return lines[-1]


def table(text: str) -> dict[str, str]:
    rows = {}
    for line in text.splitlines():
        key, sep, value = line.partition(" : ")
        if sep:
            rows[key.strip()] = value.strip()
    return rows


def snapshot(dd: DataDir) -> dict[str, Any]:
    store, config, _ = config_of(dd)
    try:
        return {s.key: config.get(s) for s in ALL_SETTINGS}
    finally:
        store.close()


@pytest.fixture
def node_ctx(datadir: DataDir) -> Iterator[NodeContext]:
    import moot.mmp.commands  # noqa: F401 - registers the commands

    ctx = NodeContext(datadir)
    yield ctx
    ctx.close()


# --- the guide's flows through `moot mmp -c` -------------------------------------------------
def test_defaults_in_status(datadir: DataDir) -> None:
    rows = table(ok(datadir, "scheduler"))
    assert rows["Enabled"] == "false"
    assert rows["HTTPS listening interface"] == "a"
    assert rows["HTTPS listening port"] == "8444"
    assert rows["Key file"] == "none (self-signed default)"
    assert rows["Email server"] == "none"
    assert rows["Email protocol"] == "smtp"
    assert rows["Email auth"] == "disabled"
    assert rows["Email starttls"] == "disabled"
    assert rows["Email username"] == "none"
    assert rows["Email trust"] == "none (any certificate accepted)"
    assert rows["Email common address"] == "none"
    assert rows["Outbox"] == "0 waiting, 0 retrying, 0 sent (last 24 h)"
    assert rows["STATUS"] == "scheduler not running (the node is not running)"


def test_guide_smtps_auth_flow(datadir: DataDir) -> None:
    ok(datadir, "scheduler disable")
    ok(datadir, "scheduler email server exchange.example.com 25")
    ok(datadir, "scheduler email server 10.27.33.55 25")
    ok(datadir, "scheduler email auth enable")
    result = mmp(datadir, "scheduler email username test@test.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    # Piped answers: the guide's prompts go to stderr, results to stdout.
    assert "Please enter password:" in result.stderr
    assert "Please enter password again:" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    ok(datadir, "scheduler email protocol smtps")
    ok(datadir, "scheduler email starttls enable")
    ok(datadir, 'scheduler email common-address meetings@mail.example.com "Meeting Invites"')
    ok(datadir, "scheduler enable")
    status = ok(datadir, "scheduler")
    rows = table(status)
    assert rows["Enabled"] == "true"
    assert rows["Email server"] == "10.27.33.55"
    assert rows["Email server port"] == "25"
    assert rows["Email protocol"] == "smtps"
    assert rows["Email auth"] == "enabled"
    assert rows["Email starttls"] == "enabled"
    assert rows["Email username"] == "test@test.com"
    assert rows["Email common address"] == "meetings@mail.example.com"
    assert rows["Email display name"] == "Meeting Invites"
    assert PASSWORD not in status
    settings = snapshot(datadir)
    assert settings[S.EMAIL_PASSWORD.key] == PASSWORD
    # The password is stored in the node config, which only the node's owner can read.
    mode = stat.S_IMODE(datadir.config_db.stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)
    assert PASSWORD not in datadir.audit_log.read_text()
    # Clearing.
    ok(datadir, "scheduler email common-address none")
    ok(datadir, "scheduler email server none")
    ok(datadir, "scheduler email username none")
    rows = table(ok(datadir, "scheduler"))
    assert rows["Email server"] == "none" and rows["Email common address"] == "none"
    assert snapshot(datadir)[S.EMAIL_PASSWORD.key] is None


def test_mismatched_or_missing_passwords_change_nothing(datadir: DataDir) -> None:
    before = snapshot(datadir)
    assert "do not match" in fails(datadir, "scheduler email username u@example.com", input="one\ntwo\n")
    assert "empty password" in fails(datadir, "scheduler email username u@example.com", input="\n\n")
    assert "no input" in fails(datadir, "scheduler email username u@example.com", input="only-once\n")
    assert snapshot(datadir) == before


def test_enable_refused_without_a_call_bridge(datadir: DataDir) -> None:
    ok(datadir, "callbridge listen none")
    line = fails(datadir, "scheduler enable")
    assert "needs a call bridge" in line and "callbridge listen" in line
    assert snapshot(datadir)[S.SCHEDULER_ENABLED.key] is False
    ok(datadir, "scheduler disable")  # always allowed
    ok(datadir, "callbridge listen a")
    ok(datadir, "scheduler enable")


def test_timed_logging(datadir: DataDir) -> None:
    out = ok(datadir, "scheduler timedLogging")
    assert out == '{\n  "webBridge": "0",\n  "api": "0",\n  "email": "0"\n}\n'
    assert ok(datadir, "scheduler timedLogging webBridge 600") == "SUCCESS\n"
    shown = json.loads(ok(datadir, "scheduler timedLogging"))
    assert list(shown) == ["webBridge", "api", "email"]
    assert 590 <= int(shown["webBridge"]) <= 600 and shown["api"] == "0" and shown["email"] == "0"
    assert ok(datadir, "scheduler timedlogging EMAIL 30") == "SUCCESS\n"
    assert 0 < int(json.loads(ok(datadir, "scheduler timedLogging"))["email"]) <= 30
    ok(datadir, "scheduler timedLogging webBridge 0")
    assert json.loads(ok(datadir, "scheduler timedLogging"))["webBridge"] == "0"


def test_trust_and_certs_from_the_file_store(datadir: DataDir) -> None:
    assert "not found" in fails(datadir, "scheduler email trust missing.crt")
    ok(datadir, "pki selfsigned mail CN:mail.example.com")
    ok(datadir, "scheduler email trust mail.crt")
    assert table(ok(datadir, "scheduler"))["Email trust"] == "mail.crt"
    # A key is not a certificate bundle.
    fails(datadir, "scheduler email trust mail.key")
    assert snapshot(datadir)[S.EMAIL_TRUST.key] == "mail.crt"
    ok(datadir, "scheduler email trust none")
    ok(datadir, "pki selfsigned sched CN:127.0.0.1")
    ok(datadir, "scheduler https certs sched.key sched.crt")
    rows = table(ok(datadir, "scheduler"))
    assert rows["Key file"] == "sched.key" and rows["Certificate file"] == "sched.crt"
    fails(datadir, "scheduler https certs mail.key sched.crt")
    assert snapshot(datadir)[S.SCHEDULER_CERTS.key]["key"] == "sched.key"
    ok(datadir, "scheduler https certs none")


# --- bad input, in-process (fast) -------------------------------------------------------------
BAD = [
    ("scheduler email server exchange..example.com 25", "invalid email server"),
    ("scheduler email server -bad.example.com 25", "invalid email server"),
    ("scheduler email server 10.27.33 25", "invalid email server"),
    ("scheduler email server 300.1.1.1 25", "invalid email server"),
    ("scheduler email server mail_server 25", "invalid email server"),
    ("scheduler email server mail.example.com 0", "invalid port"),
    ("scheduler email server mail.example.com 65536", "invalid port"),
    ("scheduler email server mail.example.com smtp", "invalid port"),
    ("scheduler https listen a 0", "invalid port"),
    ("scheduler https listen a 99999", "invalid port"),
    ("scheduler email common-address not-an-address", "invalid email address"),
    ("scheduler email common-address @example.com", "invalid email address"),
    ("scheduler email common-address a@localhost", "not a mail domain"),
    ("scheduler email common-address a..b@example.com", "invalid email address"),
    ('scheduler email common-address a@example.com "bad\x07name"', "invalid display name"),
    ("scheduler timedLogging email -5", "invalid time"),
    ("scheduler timedLogging email ten", "invalid time"),
    ("scheduler timedLogging email 99999999", "invalid time"),
    ("scheduler email trust ../etc/passwd", "not a file name in the file store"),
]


@pytest.mark.parametrize(("line", "message"), BAD, ids=[b[0] for b in BAD])
async def test_bad_input_fails_and_changes_nothing(node_ctx: NodeContext, datadir: DataDir, line: str, message: str) -> None:
    before = snapshot(datadir)
    done, out = await run_line(node_ctx, line)
    assert not done, out
    assert out.startswith("FAILURE: ") and message in out, out
    assert snapshot(datadir) == before


SYNTAX = [
    "scheduler email protocol pop3",
    "scheduler email auth maybe",
    "scheduler email starttls on",
    "scheduler timedLogging webapp 10",
    "scheduler https listen e 8444",
    "scheduler email server mail.example.com",
    "scheduler enabled",
]


@pytest.mark.parametrize("line", SYNTAX)
async def test_syntax_errors(node_ctx: NodeContext, datadir: DataDir, line: str) -> None:
    before = snapshot(datadir)
    done, out = await run_line(node_ctx, line)
    assert not done and out, out
    assert snapshot(datadir) == before


async def test_good_input_is_stored(node_ctx: NodeContext) -> None:
    cases = [
        ("scheduler email server Mail.Example.COM. 587", S.EMAIL_SERVER, {"host": "mail.example.com", "port": 587}),
        ("scheduler email server ::1 2525", S.EMAIL_SERVER, {"host": "::1", "port": 2525}),
        ("scheduler email server [2001:db8::1] 25", S.EMAIL_SERVER, {"host": "2001:db8::1", "port": 25}),
        ("scheduler email protocol SMTPS", S.EMAIL_PROTOCOL, "smtps"),
        ("scheduler email auth enable", S.EMAIL_AUTH, True),
        ("scheduler email starttls enable", S.EMAIL_STARTTLS, True),
        ("scheduler https listen b 9443", S.SCHEDULER_LISTEN, {"iface": "b", "port": 9443}),
        ("scheduler email common-address Invites@Mail.Example.com", S.EMAIL_COMMON_ADDRESS,
         {"address": "Invites@mail.example.com", "name": ""}),
        ('scheduler email common-address x@example.com "Zoë: Meetings"', S.EMAIL_COMMON_ADDRESS,
         {"address": "x@example.com", "name": "Zoë: Meetings"}),
    ]
    for line, setting, value in cases:
        done, out = await run_line(node_ctx, line)
        assert done and out.startswith("SUCCESS"), (line, out)
        assert node_ctx.config.get(setting) == value, line
    done, out = await run_line(node_ctx, "scheduler email username  someone", answers=["pw1", "pw1"])
    assert done and node_ctx.config.get(S.EMAIL_USERNAME) == "someone"


async def test_https_port_conflicts(node_ctx: NodeContext, ports: Any) -> None:
    done, out = await run_line(node_ctx, f"scheduler https listen a {ports.https}")
    assert not done and "used by the web admin" in out
    done, out = await run_line(node_ctx, f"scheduler https listen a {ports.ssh}")
    assert not done and "MMP" in out
    done, _ = await run_line(node_ctx, f"scheduler https listen b {ports.https}")
    assert done


async def test_audit_role_cannot_configure(node_ctx: NodeContext) -> None:
    from moot.node.accounts import Role

    node_ctx.accounts.add("auditor", Role.AUDIT, "Aud1t-Pass!")
    done, out = await run_line(node_ctx, "scheduler email server mail.example.com 25", user="auditor")
    assert not done
    done, out = await run_line(node_ctx, "scheduler", user="auditor")
    assert done and "Email server" in out


# --- on a running node ----------------------------------------------------------------------
@pytest.mark.slow
def test_enable_disable_restart_on_a_running_node(datadir: DataDir, ports: Any) -> None:
    port = free_port()
    ok(datadir, f"scheduler https listen a {port}")
    node = RunningNode(datadir, ports).start()
    try:
        assert table(node.mmp("scheduler").stdout)["STATUS"].startswith("scheduler disabled")
        assert "SUCCESS: scheduler enabled" in node.mmp("scheduler enable").stdout
        assert table(node.mmp("scheduler").stdout)["STATUS"].startswith("scheduler running")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert datadir.file("scheduler-selfsigned.crt").exists()
        assert "SUCCESS: scheduler restarted" in node.mmp("scheduler restart").stdout
        assert "SUCCESS: scheduler disabled" in node.mmp("scheduler disable").stdout
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        # Enabling without a call bridge is refused on a running node too.
        assert node.mmp("callbridge listen none").returncode == 0
        result = node.mmp("scheduler enable")
        assert result.returncode != 0 and "needs a call bridge" in result.stdout
    finally:
        node.stop()
