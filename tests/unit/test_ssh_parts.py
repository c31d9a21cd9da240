"""The SSH front end's parts without sockets: tab completion, host keys, SFTP paths."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import asyncssh
import pytest

import moot.mmp.commands  # noqa: F401  (registers the commands that completion offers)
from moot.mmp.sftp import StoreSftpServer
from moot.mmp.sshkeys import HOST_KEYS, fingerprints, load_host_keys
from moot.mmp.sshterm import complete
from moot.node.datadir import DataDir


# tab completion -------------------------------------------------------------------
def test_complete_unique_word_adds_a_space() -> None:
    assert complete("versi", 5) == ("version ", 8)


def test_complete_keeps_text_after_the_cursor() -> None:
    line, pos = complete("versi --x", 5)  # type: ignore[misc]
    assert line == "version  --x" and pos == 8


def test_complete_second_word_of_a_family() -> None:
    assert complete("mmp rest", 8) == ("mmp restart ", 12)


def test_complete_ambiguous_or_unknown_rings_the_bell() -> None:
    assert complete("zzz", 3) is False
    # After "mmp", "listen" and "restart" may follow: nothing to add.
    assert complete("mmp ", 4) is False


# host keys ---------------------------------------------------------------------------
def test_host_keys_made_once_private_and_reused(tmp_path: Path) -> None:
    assert fingerprints(tmp_path) == []
    first = load_host_keys(tmp_path)
    assert [k.get_algorithm() for k in first] == [alg for _, alg in HOST_KEYS]
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    again = load_host_keys(tmp_path)
    assert [k.get_fingerprint() for k in again] == [k.get_fingerprint() for k in first]
    shown = fingerprints(tmp_path)
    assert [f.sha256 for f in shown] == [k.get_fingerprint() for k in first]
    assert str(shown[0]).startswith("ssh-ed25519 SHA256:")


# SFTP paths -----------------------------------------------------------------------------
@pytest.fixture
def sftp(tmp_path: Path) -> StoreSftpServer:
    dd = DataDir(tmp_path / "node")
    dd.ensure()
    chan: Any = None
    return StoreSftpServer(chan, dd, "tester", max_file_size=10)


@pytest.mark.parametrize(
    ("path", "name"),
    [(b"/", None), (b".", None), (b"", None), (b"/a.key", "a.key"), (b"./a.key", "a.key"),
     (b"//a.key", "a.key"), (b"a.key/", "a.key")],
)
def test_store_names(sftp: StoreSftpServer, path: bytes, name: str | None) -> None:
    assert sftp._name(path) == name


@pytest.mark.parametrize("path", [b"../x", b"/../x", b"a/../../x", b"/etc/passwd", b"sub/x"])
def test_paths_leaving_the_store_or_with_directories_are_refused(
    sftp: StoreSftpServer, path: bytes
) -> None:
    with pytest.raises(asyncssh.SFTPPermissionDenied):
        sftp._name(path)


def test_non_utf8_and_backslash_names_refused(sftp: StoreSftpServer) -> None:
    with pytest.raises(asyncssh.SFTPInvalidFilename):
        sftp._name(b"\xff")
    with pytest.raises(asyncssh.SFTPInvalidFilename):
        sftp._name(b"a\\b")


def test_realpath_stays_at_root(sftp: StoreSftpServer) -> None:
    assert sftp.realpath(b".") == b"/"
    assert sftp.realpath(b"..") == b"/"
    assert sftp.realpath(b"/x/../y") == b"/y"


def test_open_creates_0600_and_enforces_the_size_limit(sftp: StoreSftpServer) -> None:
    flags = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC
    f = sftp.open(b"k.pem", flags, asyncssh.SFTPAttrs(permissions=0o666))
    assert sftp.write(f, 0, b"0123456789") == 10
    with pytest.raises(asyncssh.SFTPFailure):
        sftp.write(f, 10, b"x")
    sftp.close(f)
    # A refused upload that made the file removes it.
    assert not os.path.exists(os.path.join(sftp.root, "k.pem"))
    f = sftp.open(b"ok.pem", flags, asyncssh.SFTPAttrs(permissions=0o666))
    sftp.write(f, 0, b"abc")
    sftp.close(f)
    path = os.path.join(sftp.root, "ok.pem")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sftp.read(sftp.open(b"ok.pem", asyncssh.FXF_READ, asyncssh.SFTPAttrs()), 0, 10) == b"abc"


def test_links_in_the_store_are_not_followed(sftp: StoreSftpServer, tmp_path: Path) -> None:
    target = tmp_path / "outside"
    target.write_text("secret")
    os.symlink(target, os.path.join(sftp.root, "link"))
    with pytest.raises(asyncssh.SFTPPermissionDenied):
        sftp.open(b"link", asyncssh.FXF_READ, asyncssh.SFTPAttrs())
    with pytest.raises(asyncssh.SFTPPermissionDenied):
        sftp.stat(b"link")
    assert stat.S_ISLNK(os.lstat(os.path.join(sftp.root, "link")).st_mode)
    lattrs = sftp.lstat(b"link")
    assert isinstance(lattrs, os.stat_result) and stat.S_ISLNK(lattrs.st_mode)
