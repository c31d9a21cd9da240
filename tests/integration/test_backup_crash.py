"""Processes killed with SIGKILL in the middle of writing: config.db and backups stay whole."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from moot.node.datadir import DataDir
from tests.helpers import MOOT, RunningNode, mmp

KEYS = 20

#: Writes the same counter into KEYS settings per transaction, forever, through the
#: node store (the code path of every MMP configuration command).
WRITER = f"""
import sys
from pathlib import Path
from moot.db.nodestore import NodeStore
store = NodeStore(Path(sys.argv[1]))
i = int(sys.argv[2])
print("writing", flush=True)
while True:
    i += 1
    store.set_many({{f"crash.k{{j}}": i for j in range({KEYS})}})
"""


def settings(dd: DataDir) -> dict[str, object]:
    db = sqlite3.connect(dd.config_db)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {k: v for k, v in db.execute("SELECT key, value FROM settings WHERE key LIKE 'crash.%'")}
    finally:
        db.close()


def test_config_survives_kill_9_during_writes(datadir: DataDir) -> None:
    last = 0
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(datadir.config_db), str(last)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(random.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        values = settings(datadir)
        # One transaction per round: all keys hold the same value, never a mix.
        assert len(values) == KEYS
        assert len(set(values.values())) == 1
        current = int(str(next(iter(values.values()))))
        assert current >= last
        last = current
    assert last > 0
    # The MMP still opens and uses the store.
    r = mmp(datadir, "backup snapshot after-crash")
    assert r.returncode == 0, r.stdout + r.stderr


def test_config_survives_kill_9_of_the_node(node: RunningNode) -> None:
    """A node killed while another process writes leaves a whole, usable config."""
    dd = node.datadir
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(dd.config_db), "0"], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "writing"
    time.sleep(0.3)
    assert node.proc is not None
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait()
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    values = settings(dd)
    assert len(values) == KEYS and len(set(values.values())) == 1
    # A new node starts on it (the stale lock and socket of the killed one do not matter).
    again = RunningNode(dd, node.ports).start()
    try:
        assert again.mmp("backup snapshot b1").returncode == 0
    finally:
        again.stop()


def _big_database(path: Path, megabytes: int) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE blobs (data BLOB)")
    chunk = 1024 * 1024
    db.executemany("INSERT INTO blobs VALUES (?)", ((os.urandom(chunk),) for _ in range(megabytes)))
    db.commit()
    db.close()


@pytest.mark.slow
def test_killed_snapshot_leaves_no_archive(datadir: DataDir) -> None:
    _big_database(datadir.database_db, 64)
    proc = subprocess.Popen(
        [MOOT, "mmp", "--data", str(datadir.root), "-c", "backup snapshot big"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line.strip())
        if line.startswith("Backing up file store"):
            break
    time.sleep(0.3)  # into the writing of the archive (64 MB of incompressible data)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert any(line.endswith("%") for line in seen), seen  # percentages for a big database
    assert not (datadir.files / "big.bak").exists()
    assert len(list(datadir.files.glob(".big.bak.*.partial"))) == 1
    assert len(list(datadir.run.glob("snapshot-*"))) == 1
    assert "big" not in mmp(datadir, "backup list").stdout

    # The next snapshot works and cleans up what the killed one left behind.
    r = mmp(datadir, "backup snapshot big", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [p.name for p in datadir.files.iterdir()] == ["big.bak"]
    assert list(datadir.run.glob("snapshot-*")) == []
