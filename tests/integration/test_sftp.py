"""SFTP to the node's file store against a running node: asyncssh and OpenSSH sftp."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import asyncssh
import pytest

from moot.mmp.sftp import MAX_FILE_SIZE
from tests.helpers import ADMIN_PASSWORD, RunningNode
from tests.ssh_helpers import (
    PASSWORD,
    add_account,
    connect,
    needs_openssh,
    openssh,
    openssh_options,
)


async def test_upload_download_list_remove_rename(node: RunningNode) -> None:
    data = os.urandom(200_000)
    async with connect(node.ports) as conn, conn.start_sftp_client() as sftp:
        async with sftp.open("webadmin.key", "wb") as f:
            await f.write(data)
        stored = node.datadir.files / "webadmin.key"
        assert stored.read_bytes() == data
        assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
        async with sftp.open("/webadmin.key", "rb") as f:
            assert await f.read() == data
        names = await sftp.listdir("/")
        assert {"log", "audit", "webadmin.key"} <= set(names)
        await sftp.rename("webadmin.key", "old.key")
        assert not stored.exists()
        assert (node.datadir.files / "old.key").read_bytes() == data
        await sftp.remove("old.key")
        assert "old.key" not in await sftp.listdir(".")
        assert await sftp.realpath(".") == "/"
    assert "sftp: admin from 127.0.0.1" in node.datadir.syslog.read_text()


async def test_logs_are_readable_and_read_only(node: RunningNode) -> None:
    async with connect(node.ports) as conn:
        await conn.run("version")  # something in the audit log
        async with conn.start_sftp_client() as sftp:
            async with sftp.open("audit", "rb") as f:
                audit = await f.read()
            assert b"issued command < version>" in audit
            async with sftp.open("log", "rb") as f:
                assert b"SSH login: admin" in await f.read()
            attrs = await sftp.stat("log")
            assert attrs.permissions is not None and attrs.permissions & 0o222 == 0
            for action in (
                lambda: sftp.open("log", "wb"),
                lambda: sftp.open("audit", "ab"),
                lambda: sftp.remove("audit"),
                lambda: sftp.rename("log", "x"),
            ):
                with pytest.raises(asyncssh.SFTPPermissionDenied):
                    await action()
    assert node.datadir.syslog.stat().st_size > 0


async def test_paths_outside_the_store_are_refused(node: RunningNode, tmp_path: Path) -> None:
    before = sorted(os.listdir(node.datadir.files))
    async with connect(node.ports) as conn, conn.start_sftp_client() as sftp:
        for path in ("../x", "/../x", "/etc/x", "sub/x", "./../../x"):
            with pytest.raises(asyncssh.SFTPPermissionDenied):
                await sftp.open(path, "wb")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.open("/etc/passwd", "rb")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.mkdir("sub")
        with pytest.raises(asyncssh.SFTPError):
            await sftp.listdir("/etc")
    assert not (node.datadir.root / "x").exists()
    assert not (node.datadir.files / "sub").exists()
    assert sorted(os.listdir(node.datadir.files)) == before


async def test_no_links_made_and_planted_links_not_followed(
    node: RunningNode, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the store")
    os.symlink(secret, node.datadir.files / "leak")
    os.symlink(node.datadir.config_db, node.datadir.files / "config")
    async with connect(node.ports) as conn, conn.start_sftp_client() as sftp:
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.symlink(str(secret), "mine")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.link("log", "hard")
        for name in ("leak", "config"):
            with pytest.raises(asyncssh.SFTPPermissionDenied):
                await sftp.open(name, "rb")
            with pytest.raises(asyncssh.SFTPPermissionDenied):
                await sftp.open(name, "wb")
            with pytest.raises(asyncssh.SFTPPermissionDenied):
                await sftp.readlink(name)
        # Removing a planted link removes the link, not its target.
        await sftp.remove("leak")
    assert secret.read_text() == "outside the store"
    assert not os.path.lexists(node.datadir.files / "leak")
    assert not os.path.lexists(node.datadir.files / "mine")


async def test_oversize_upload_refused_and_removed(node: RunningNode) -> None:
    async with connect(node.ports) as conn, conn.start_sftp_client() as sftp:
        async with sftp.open("big.bin", "wb") as f:
            await f.write(b"start")
            with pytest.raises(asyncssh.SFTPFailure, match="64 MiB"):
                await f.write(b"x", MAX_FILE_SIZE)
        with pytest.raises(asyncssh.SFTPFailure):
            async with sftp.open("grow.bin", "wb") as f:
                await f.truncate(MAX_FILE_SIZE + 1)
        # Exactly the limit is fine.
        async with sftp.open("edge.bin", "wb") as f:
            await f.write(b"y", MAX_FILE_SIZE - 1)
    assert not (node.datadir.files / "big.bin").exists()
    assert os.path.getsize(node.datadir.files / "edge.bin") == MAX_FILE_SIZE


async def test_sftp_only_for_admin_and_crypto(node: RunningNode) -> None:
    add_account(node.datadir, "auditor", "audit")
    add_account(node.datadir, "appy", "appadmin")
    add_account(node.datadir, "cryp", "crypto")
    for user in ("auditor", "appy"):
        async with connect(node.ports, user, PASSWORD) as conn:
            with pytest.raises((asyncssh.ChannelOpenError, asyncssh.SFTPError, OSError)):
                async with conn.start_sftp_client():
                    pass
            # The shell still works for them.
            assert (await conn.run("version")).exit_status == 0
    async with (
        connect(node.ports, "cryp", PASSWORD) as conn,
        conn.start_sftp_client() as sftp,
        sftp.open("cms.lic", "wb") as f,
    ):
        await f.write(b"licence")
    assert (node.datadir.files / "cms.lic").read_bytes() == b"licence"
    assert "SFTP refused for auditor" in node.datadir.syslog.read_text()


async def test_sftp_refused_until_password_changed(node: RunningNode) -> None:
    add_account(node.datadir, "newbie", "admin", fresh=True)
    async with connect(node.ports, "newbie", PASSWORD) as conn:
        with pytest.raises((asyncssh.ChannelOpenError, asyncssh.SFTPError, OSError)):
            async with conn.start_sftp_client():
                pass


@needs_openssh
@pytest.mark.slow
def test_openssh_sftp_put_get_and_refusals(node: RunningNode, tmp_path: Path) -> None:
    local = tmp_path / "cert.pem"
    local.write_bytes(os.urandom(50_000))
    back = tmp_path / "back.pem"
    before = set(os.listdir(node.datadir.files))
    opts = openssh_options(node.ports, tmp_path)
    ok = openssh(
        "sftp",
        [*opts, "-b", "-", "admin@127.0.0.1"],
        ADMIN_PASSWORD,
        input=f"put {local} webadmin.crt\nget webadmin.crt {back}\nls -l\nget log {tmp_path / 'log'}\n",
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert back.read_bytes() == local.read_bytes()
    assert "webadmin.crt" in ok.stdout
    assert (tmp_path / "log").read_text().count("SSH login") >= 1
    for command in (f"put {local} ../x", f"put {local} /etc/x", "mkdir d", "symlink log l"):
        refused = openssh("sftp", [*opts, "-b", "-", "admin@127.0.0.1"], ADMIN_PASSWORD, input=command + "\n")
        assert refused.returncode != 0, command
    assert set(os.listdir(node.datadir.files)) == before | {"webadmin.crt"}


@needs_openssh
@pytest.mark.slow
def test_openssh_sftp_oversize_put_refused(node: RunningNode, tmp_path: Path) -> None:
    big = tmp_path / "big.bak"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_SIZE + 1)
    result = openssh(
        "sftp",
        [*openssh_options(node.ports, tmp_path), "-b", "-", "admin@127.0.0.1"],
        ADMIN_PASSWORD,
        input=f"put {big} big.bak\n",
        timeout=120,
    )
    assert result.returncode != 0
    assert not (node.datadir.files / "big.bak").exists()
