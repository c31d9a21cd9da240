"""``backup snapshot|list|rollback`` against a running node, over ``moot mmp -c`` and SSH."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile

from moot.node.control import SocketControl
from moot.node.datadir import DataDir
from moot.node.settings import WEBADMIN_HTTP_REDIRECT
from tests.helpers import RunningNode, config_of, mmp
from tests.ssh_helpers import PASSWORD, add_account, connect, refused


def has_account(dd: DataDir, name: str) -> bool:
    store, _, accounts = config_of(dd)
    try:
        return accounts.get(name) is not None
    finally:
        store.close()


def redirect(dd: DataDir) -> bool:
    store, config, _ = config_of(dd)
    try:
        return config.get(WEBADMIN_HTTP_REDIRECT)
    finally:
        store.close()


def set_redirect(dd: DataDir, value: bool) -> None:
    store, config, _ = config_of(dd)
    try:
        config.set(WEBADMIN_HTTP_REDIRECT, value)
    finally:
        store.close()


def node_pid(dd: DataDir) -> int | None:
    status = asyncio.run(SocketControl(dd.control_socket).status())
    return None if status is None else status.pid


def snapshot(node: RunningNode, name: str = "b1") -> None:
    r = node.mmp(f"backup snapshot {name}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {name}.bak created" in r.stdout
    assert "Backing up node config... done" in r.stdout


def change_config(dd: DataDir) -> None:
    add_account(dd, "bob", "admin")
    set_redirect(dd, True)
    (dd.files / "webadmin.key").write_text("a key uploaded after the snapshot")


def test_rollback_restores_config_and_reboots(node: RunningNode) -> None:
    dd = node.datadir
    (dd.files / "webadmin.key").write_text("the key at snapshot time")
    snapshot(node)
    listing = node.mmp("backup list")
    assert listing.returncode == 0
    assert listing.stdout.splitlines()[0].split() == ["NAME", "SIZE", "DATE"]
    assert listing.stdout.splitlines()[1].startswith("b1.bak ")

    change_config(dd)
    assert has_account(dd, "bob") and redirect(dd)

    r = node.mmp("backup rollback b1", input="y\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "This will overwrite the current configuration, including admin accounts" in r.stderr
    assert "Node         : " in r.stdout and "(this node)" in r.stdout
    assert "Restoring node config... done" in r.stdout
    assert "SUCCESS: configuration rolled back to b1.bak; the node is rebooting" in r.stdout

    node.wait_for(r"^rebooting$", 15)
    node.wait_for(r"^ready$", 15)
    assert node.proc is not None and node.proc.poll() is None
    assert node_pid(dd) == node.proc.pid
    assert not has_account(dd, "bob")
    assert redirect(dd) is False
    assert (dd.files / "webadmin.key").read_text() == "the key at snapshot time"
    # The rebooted node answers MMP commands as before (the admin password came back too).
    assert node.mmp("backup list").returncode == 0


def test_tampered_archive_is_refused_and_nothing_changes(node: RunningNode) -> None:
    dd = node.datadir
    snapshot(node)
    change_config(dd)
    archive = dd.files / "b1.bak"
    with tarfile.open(archive, "r:gz") as tar:
        content = {i.name: tar.extractfile(i).read() for i in tar}  # type: ignore[union-attr]
    manifest = json.loads(content["manifest.json"])
    manifest["node_id"] = "someone-else"
    content["config.db"] = content["config.db"][:-1] + b"\x01"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in content.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    before = dd.config_db.read_bytes()

    r = node.mmp("backup rollback b1", input="y\n")
    assert r.returncode == 1
    assert "FAILURE: b1.bak cannot be used: the checksum of config.db does not match" in r.stdout
    assert "nothing was changed" in r.stdout
    assert "Continue?" not in r.stderr  # refused before asking
    assert has_account(dd, "bob") and redirect(dd)
    assert dd.config_db.read_bytes() == before
    assert "rebooting" not in node.output


def test_cancelled_rollback_changes_nothing(node: RunningNode) -> None:
    dd = node.datadir
    snapshot(node)
    change_config(dd)
    for answer in ("n\n", "\n", "whatever\n", ""):
        r = node.mmp("backup rollback b1", input=answer)
        assert r.returncode == 1
        assert "FAILURE:" in r.stdout
        assert "cancelled" in r.stdout or "no input" in r.stdout
        assert has_account(dd, "bob") and redirect(dd)
    assert (dd.files / "webadmin.key").read_text() == "a key uploaded after the snapshot"
    assert list(dd.run.glob("rollback-*")) == []


def test_snapshot_names_and_missing_backups(node: RunningNode) -> None:
    snapshot(node)
    r = node.mmp("backup snapshot b1")
    assert r.returncode == 1 and "FAILURE: b1.bak already exists" in r.stdout
    r = node.mmp("backup snapshot ../etc/passwd")
    assert r.returncode == 1 and "FAILURE: invalid backup name" in r.stdout
    r = node.mmp("backup rollback nope", input="y\n")
    assert r.returncode == 1 and "FAILURE: no backup named nope.bak" in r.stdout
    r = node.mmp("backup delete b1")
    assert r.returncode == 0 and "SUCCESS: b1.bak deleted" in r.stdout
    assert "No backups" in node.mmp("backup list").stdout
    assert node.mmp("backup delete b1").returncode == 1


def test_roles(node: RunningNode) -> None:
    add_account(node.datadir, "auditor", "audit")
    snapshot(node)
    assert mmp(node.datadir, "backup list", user="auditor").returncode == 0
    for cmd in ("backup snapshot b2", "backup rollback b1", "backup delete b1"):
        r = mmp(node.datadir, cmd, input="y\n", user="auditor")
        assert r.returncode == 1
        assert "permission denied" in r.stdout
    assert [p.name for p in node.datadir.files.glob("*.bak")] == ["b1.bak"]


async def test_rollback_over_ssh_and_download(node: RunningNode) -> None:
    """Over SSH the command runs inside the node: the in-process restore and reboot."""
    dd = node.datadir
    async with connect(node.ports) as conn:
        r = await conn.run("backup snapshot b1", check=False)
        assert "SUCCESS: b1.bak created" in r.stdout
        async with conn.start_sftp_client() as sftp, sftp.open("b1.bak", "rb") as f:
            downloaded = await f.read()
        assert downloaded == (dd.files / "b1.bak").read_bytes()
        with tarfile.open(fileobj=io.BytesIO(downloaded), mode="r:gz") as tar:
            assert tar.getnames()[0] == "manifest.json"
        change_config(dd)
        r = await conn.run("backup rollback b1", input="y\n", check=False)
        assert "SUCCESS: configuration rolled back to b1.bak; the node is rebooting" in r.stdout
    await asyncio.to_thread(node.wait_for, r"^ready$", 15)
    assert not has_account(dd, "bob") and not redirect(dd)
    # A login still works after the reboot; bob's does not.
    async with connect(node.ports) as conn:
        r = await conn.run("backup list", check=False)
        assert "b1.bak" in r.stdout
    assert await refused(node.ports, "bob", PASSWORD)


def test_rollback_without_a_node(datadir: DataDir) -> None:
    r = mmp(datadir, "backup snapshot b1")
    assert r.returncode == 0, r.stdout + r.stderr
    change_config(datadir)
    r = mmp(datadir, "backup rollback b1", input="yes\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no node is running" in r.stdout
    assert not has_account(datadir, "bob") and not redirect(datadir)
