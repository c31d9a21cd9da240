"""``factory_reset app|full``: what each one removes and keeps, confirmation, reboot."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from moot.node.datadir import DataDir
from moot.node.factory import is_system_setting
from moot.node.interfaces import default_route_device
from moot.node.net.settings import DNS_FORWARD_ZONES, ip_setting
from moot.node.settings import (
    CALLBRIDGE_SIP_PORTS,
    MMP_LISTEN,
    NODE_ID,
    WEBADMIN_HTTP_REDIRECT,
    WEBADMIN_LISTEN,
    iface_device,
)
from tests.helpers import RunningNode, config_of, mmp
from tests.ssh_helpers import add_account


def all_settings(dd: DataDir) -> dict[str, Any]:
    store, _, _ = config_of(dd)
    try:
        return store.items()
    finally:
        store.close()


def account_names(dd: DataDir) -> list[str]:
    store, _, accounts = config_of(dd)
    try:
        return [a.name for a in accounts.all()]
    finally:
        store.close()


def populate(dd: DataDir) -> None:
    """A node in use: app settings, network settings, accounts, database, files, host keys."""
    store, config, accounts = config_of(dd)
    try:
        config.set(WEBADMIN_HTTP_REDIRECT, True)
        config.set(ip_setting("a", 4), {"enabled": True, "auto": False, "addresses": [], "routes": []})
        config.set(DNS_FORWARD_ZONES, [{"domain": ".", "server": "127.0.0.53", "port": 53}])
        rules = accounts.rules
        rules.min_length = 12
        accounts.set_rules(rules)
    finally:
        store.close()
    add_account(dd, "bob", "appadmin")
    db = sqlite3.connect(dd.database_db)
    db.execute("CREATE TABLE spaces (name TEXT)")
    db.commit()
    db.close()
    (dd.files / "webadmin.key").write_text("key")
    (dd.files / "old.bak").write_bytes(b"backup")
    (dd.ssh / "ssh_host_ed25519_key").write_text("host key")


def test_is_system_setting() -> None:
    for key in ("node.id", "iface.a.device", "net.a.ipv4", "dns.forwardzones", "ntp.servers",
                "mmp.listen", "user.rules", "network.apply", "hostname", "timezone"):
        assert is_system_setting(key), key
    for key in ("webadmin.listen", "callbridge.listen", "turn.enabled", "nodes.x", "iface"):
        assert is_system_setting(key) == (key == "iface"), key


def test_app_reset_without_a_node(datadir: DataDir) -> None:
    populate(datadir)
    before = all_settings(datadir)
    r = mmp(datadir, "factory_reset app", input="y\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "This will erase the application configuration" in r.stderr
    assert "SUCCESS: factory reset (app) done; no node is running" in r.stdout

    after = all_settings(datadir)
    assert after == {k: v for k, v in before.items() if is_system_setting(k)}
    for gone in (WEBADMIN_HTTP_REDIRECT, WEBADMIN_LISTEN, CALLBRIDGE_SIP_PORTS):
        assert gone.key not in after
    for kept in (MMP_LISTEN, iface_device("a"), ip_setting("a", 4), DNS_FORWARD_ZONES, NODE_ID):
        assert after[kept.key] == before[kept.key]
    assert after["user.rules"]["min_length"] == 12
    assert account_names(datadir) == ["admin", "bob"]
    assert not datadir.database_db.exists()
    assert sorted(p.name for p in datadir.files.iterdir()) == ["old.bak", "webadmin.key"]
    assert (datadir.ssh / "ssh_host_ed25519_key").exists()
    # The admin password still works: the MMP runs commands as before.
    assert mmp(datadir, "backup list").returncode == 0


def test_full_reset_without_a_node(datadir: DataDir) -> None:
    populate(datadir)
    before = all_settings(datadir)
    r = mmp(datadir, "factory_reset full", input="yes\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "This will erase ALL configuration" in r.stderr
    assert "2 files, 1 of them backups" in r.stderr
    assert "SUCCESS: factory reset (full) done" in r.stdout

    after = all_settings(datadir)
    assert after == {
        "node.id": before["node.id"],
        "node.created": before["node.created"],
        "iface.a.device": default_route_device() or "lo",
    }
    store, _, accounts = config_of(datadir)
    try:
        admin = accounts.get("admin")
        assert [a.name for a in accounts.all()] == ["admin"]
        assert admin is not None and admin.password_hash is None and admin.role == "admin"
    finally:
        store.close()
    assert not datadir.database_db.exists()
    assert list(datadir.files.iterdir()) == []
    assert list(datadir.ssh.iterdir()) == []
    # The logs survive, with the reset in the audit trail.
    assert "factory_reset full" in datadir.audit_log.read_text()
    # Like a new node: admin must choose a password on the console first.
    r = mmp(datadir, "backup list")
    assert r.returncode == 1 and "has no password" in r.stdout


@pytest.mark.parametrize("scope", ["app", "full"])
@pytest.mark.parametrize("answer", ["no\n", "\n", ""])
def test_cancelled_reset_changes_nothing(datadir: DataDir, scope: str, answer: str) -> None:
    populate(datadir)
    before = all_settings(datadir)
    files = sorted(p.name for p in datadir.files.iterdir())
    r = mmp(datadir, f"factory_reset {scope}", input=answer)
    assert r.returncode == 1
    assert ("FAILURE: factory reset cancelled" in r.stdout) or ("FAILURE: no input" in r.stdout)
    assert all_settings(datadir) == before
    assert account_names(datadir) == ["admin", "bob"]
    assert datadir.database_db.exists()
    assert sorted(p.name for p in datadir.files.iterdir()) == files


def test_bad_scope_and_roles(datadir: DataDir) -> None:
    populate(datadir)
    r = mmp(datadir, "factory_reset everything", input="y\n")
    assert r.returncode == 1 and "factory_reset (app|full)" in r.stdout
    r = mmp(datadir, "factory_reset app", input="y\n", user="bob")
    assert r.returncode == 1 and "permission denied" in r.stdout
    assert WEBADMIN_HTTP_REDIRECT.key in all_settings(datadir)


def test_app_reset_reboots_a_running_node(node: RunningNode) -> None:
    dd = node.datadir
    populate(dd)
    r = node.mmp("factory_reset app", input="y\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: factory reset (app) done; the node is rebooting" in r.stdout
    node.wait_for(r"^rebooting$", 15)
    node.wait_for(r"^ready$", 15)
    assert node.proc is not None and node.proc.poll() is None
    assert WEBADMIN_HTTP_REDIRECT.key not in all_settings(dd)
    # Emptied in place (the node may hold it open): what was there is gone. The call bridge
    # opens the API database again on start, so its (empty) tables may be back.
    db = sqlite3.connect(dd.database_db)
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "spaces" not in tables
    if "api_unique" in tables:
        assert db.execute("SELECT count(*) FROM api_unique").fetchone() == (0,)
    db.close()
    # The MMP listener and admin account were kept: the node is administrable as before.
    assert node.mmp("backup list").returncode == 0
