"""Log rotation in the node (``moot.node.logs``) and following a log across it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from moot.mmp.commands.syslog import LogFollower
from moot.node import logs
from moot.node.datadir import DataDir


@pytest.fixture
def log_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DataDir]:
    """The node's log set-up on a fresh data dir, rotating at 4 KiB; undone afterwards."""
    monkeypatch.setattr(logs, "MAX_BYTES", 4096)
    dd = DataDir(tmp_path / "node")
    dd.ensure()
    logs.setup(dd, rotate=True)
    yield dd
    for name in ("moot", "moot.audit"):
        logger = logging.getLogger(name)
        for h in list(logger.handlers):
            logger.removeHandler(h)
            h.close()


def test_node_logs_rotate(log_setup: DataDir) -> None:
    dd = log_setup
    log = logging.getLogger("moot.test")
    for i in range(2000):
        log.info("filler line %05d %s", i, "x" * 40)
    for i in range(50):
        logs.audit("admin", "local", f"backup list {i}", "permission granted")
    rotated = sorted(p.name for p in dd.logs.glob("syslog.*"))
    assert rotated == [f"syslog.{n}" for n in range(1, logs.BACKUPS + 1)]
    assert (dd.logs / "audit.1").exists()
    for path in dd.logs.iterdir():
        assert path.stat().st_size <= 4096, path
        assert oct(path.stat().st_mode & 0o777) == "0o600", path
    # Newest last: the current file ends with the last audit line.
    assert dd.syslog.read_text().splitlines()[-1].endswith(
        "cli: User admin from local issued command < backup list 49>: permission granted"
    )


def test_follower_sees_every_line_across_node_rotations(log_setup: DataDir) -> None:
    dd = log_setup
    follower = LogFollower(dd.syslog)
    log = logging.getLogger("moot.test")
    seen: list[str] = []
    for i in range(600):
        log.info("numbered %04d %s", i, "y" * 30)
        if i % 20 == 19:  # a poll per ~1.5 KiB: at most one rotation between polls
            seen += follower.poll()
    seen += follower.poll()
    follower.close()
    numbers = [int(line.split("numbered ")[1][:4]) for line in seen if "numbered " in line]
    assert numbers == list(range(600))
    assert len(list(dd.logs.glob("syslog.*"))) == logs.BACKUPS  # it did rotate, many times


def test_tail_and_partial_lines(tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    path.write_text("".join(f"line {i}\n" for i in range(100)) + "unfinished")
    follower = LogFollower(path)
    assert follower.tail(20) == [f"line {i}" for i in range(80, 100)]
    assert follower.poll() == []
    with path.open("a") as f:
        f.write(" now finished\nand ")
    assert follower.poll() == ["unfinished now finished"]
    with path.open("a") as f:
        f.write("more\n")
    assert follower.poll() == ["and more"]


def test_tail_of_short_and_empty_files(tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    path.write_text("")
    assert LogFollower(path).tail(20) == []
    path.write_text("only\n")
    assert LogFollower(path).tail(20) == ["only"]
    long_lines = [("z" * 50_000) + str(i) for i in range(5)]
    path.write_text("\n".join(long_lines) + "\n")
    assert LogFollower(path).tail(3) == long_lines[-3:]


def test_rotation_by_rename_keeps_the_last_lines(tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    path.write_text("before\n")
    follower = LogFollower(path)
    with path.open("a") as f:
        f.write("written just before rotation\nno newline at rotation")
    path.rename(tmp_path / "syslog.1")
    assert follower.poll() == ["written just before rotation"]
    path.write_text("in the new file\n")
    # The old file's unfinished last line is shown once the new file is there.
    assert follower.poll() == ["no newline at rotation", "in the new file"]
    with path.open("a") as f:
        f.write("and another\n")
    assert follower.poll() == ["and another"]


def test_truncation_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    follower = LogFollower(path)  # no log yet
    assert follower.tail(20) == [] and follower.poll() == []
    path.write_text("first\nsecond\n")
    assert follower.poll() == ["first", "second"]
    path.write_text("")  # truncated in place (copytruncate)
    assert follower.poll() == []
    with path.open("a") as f:
        f.write("after truncation\n")
    assert follower.poll() == ["after truncation"]


def test_invalid_utf8_is_shown_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    path.write_bytes(b"")
    follower = LogFollower(path)
    with path.open("ab") as f:
        f.write(b"bad \xff byte\r\n")
    assert follower.poll() == ["bad \ufffd byte"]
