"""Snapshot archives: what goes in, verification before anything changes, restore."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from moot.db.nodestore import SCHEMA_VERSION, NodeStore
from moot.node import backup
from moot.node.accounts import Accounts
from moot.node.backup import BackupError, BackupInvalid
from moot.node.datadir import DataDir


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    d = DataDir(tmp_path / "node")
    d.ensure()
    return d


@pytest.fixture
def store(dd: DataDir) -> Iterator[NodeStore]:
    s = NodeStore(dd.config_db)
    s.set_many({"node.id": "node-1", "webadmin.enabled": True, "net.a.ipv4": {"auto": True}})
    Accounts(s).ensure_default()
    yield s
    s.close()


def make_database(path: Path, rows: int = 3, blob: int = 10) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE spaces (id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
    db.executemany(
        "INSERT INTO spaces(name, data) VALUES(?, ?)",
        [(f"space{i}", os.urandom(blob)) for i in range(rows)],
    )
    db.execute("PRAGMA user_version=7")
    db.commit()
    db.close()


def space_names(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute("SELECT name FROM spaces ORDER BY id")]
    finally:
        db.close()


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        out = {}
        for info in tar:
            f = tar.extractfile(info)
            assert f is not None
            out[info.name] = f.read()
        return out


def rewrite(path: Path, change: Callable[[dict[str, bytes]], None], *, links: bool = False) -> None:
    """Rewrite an archive with ``change`` applied to its members (tampering)."""
    content = members(path)
    change(content)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in content.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if links:
            info = tarfile.TarInfo("files/evil.key")
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)


def edit_manifest(content: dict[str, bytes], **changes: object) -> None:
    manifest = json.loads(content["manifest.json"])
    manifest.update(changes)
    content["manifest.json"] = json.dumps(manifest).encode()


# names -----------------------------------------------------------------------


@pytest.mark.parametrize("name,base", [("b1", "b1"), ("b1.bak", "b1"), ("Pre-upgrade_2.x", "Pre-upgrade_2.x")])
def test_valid_names(name: str, base: str) -> None:
    assert backup.backup_name(name) == base


@pytest.mark.parametrize("name", ["", ".bak", "../x", "a/b", "a\\b", ".hidden", "-x", "a b", "x" * 65, "b."])
def test_invalid_names(name: str) -> None:
    with pytest.raises(BackupError, match="invalid backup name"):
        backup.backup_name(name)


# snapshot --------------------------------------------------------------------


def test_snapshot_holds_config_database_and_store_files(dd: DataDir, store: NodeStore) -> None:
    make_database(dd.database_db)
    for name in ("webadmin.key", "webadmin.crt", "cms.lic", "ca.pem"):
        (dd.files / name).write_text(name)
    (dd.files / "notes.txt").write_text("not config")
    (dd.files / "older.bak").write_bytes(b"an older snapshot")
    (dd.files / ".hidden.key").write_text("hidden")
    lines: list[str] = []

    made = backup.snapshot(dd, store, "b1", lines.append, clock=lambda: 1700000000.0)

    assert made.path == dd.files / "b1.bak"
    assert oct(made.path.stat().st_mode & 0o777) == "0o600"
    content = members(made.path)
    assert sorted(content) == [
        "config.db", "database.db", "files/ca.pem", "files/cms.lic",
        "files/webadmin.crt", "files/webadmin.key", "manifest.json",
    ]
    assert next(iter(content)) == "manifest.json"
    manifest = json.loads(content["manifest.json"])
    assert manifest["format"] == "moot-backup"
    assert manifest["node_id"] == "node-1"
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["database_schema"] == 7
    assert manifest["created"] == 1700000000.0
    import hashlib

    for name, data in content.items():
        if name != "manifest.json":
            assert manifest["members"][name] == {
                "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)
            }
    assert lines == [
        "Backing up node config... done",
        "Backing up database... done",
        "Backing up file store (4 files)... done",
        "Writing b1.bak... done",
    ]
    # Nothing left behind: no staging dir, no partial archive.
    assert list(dd.run.iterdir()) == []
    assert not any(p.name.endswith(".partial") for p in dd.files.iterdir())


def test_large_database_reports_percentages(dd: DataDir, store: NodeStore) -> None:
    make_database(dd.database_db, rows=400, blob=40_000)  # ~16 MB, several backup steps
    lines: list[str] = []
    backup.snapshot(dd, store, "big", lines.append, large_bytes=1024)
    percents = [line for line in lines if line.startswith("Backing up database... ") and line.endswith("%")]
    assert len(percents) >= 3
    assert percents[-1] == "Backing up database... 100%"
    assert "Backing up database... done" in lines


def test_snapshot_refuses_existing_name(dd: DataDir, store: NodeStore) -> None:
    first = backup.snapshot(dd, store, "b1")
    before = first.path.read_bytes()
    with pytest.raises(BackupError, match="already exists"):
        backup.snapshot(dd, store, "b1.bak")
    assert first.path.read_bytes() == before


def test_failed_snapshot_leaves_no_archive(
    dd: DataDir, store: NodeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    (dd.files / "a.key").write_text("k")
    real_add = tarfile.TarFile.add

    def add_then_die(self: tarfile.TarFile, name: str, *args: object, **kw: object) -> None:
        real_add(self, name, *args, **kw)  # type: ignore[arg-type]
        raise OSError("disk full")

    monkeypatch.setattr(tarfile.TarFile, "add", add_then_die)
    with pytest.raises(OSError, match="disk full"):
        backup.snapshot(dd, store, "b1")
    assert sorted(p.name for p in dd.files.iterdir()) == ["a.key"]
    assert backup.list_backups(dd) == []


def test_list_shows_only_archives(dd: DataDir, store: NodeStore) -> None:
    backup.snapshot(dd, store, "b2")
    backup.snapshot(dd, store, "b1")
    (dd.files / ".b3.bak.partial").write_bytes(b"half")
    (dd.files / "cert.crt").write_text("c")
    found = backup.list_backups(dd)
    assert [f.name for f in found] == ["b1", "b2"]
    assert all(f.size > 0 for f in found)


# verify ----------------------------------------------------------------------


def test_verify_accepts_good_archive(dd: DataDir, store: NodeStore, tmp_path: Path) -> None:
    make_database(dd.database_db)
    (dd.files / "a.key").write_text("k")
    backup.snapshot(dd, store, "b1")
    stage = tmp_path / "stage"
    stage.mkdir()
    v = backup.verify(dd, "b1", stage)
    assert v.manifest.node_id == "node-1"
    assert v.database is not None and space_names(v.database) == ["space0", "space1", "space2"]
    assert [p.name for p in v.files] == ["a.key"]


def _verify(dd: DataDir, tmp_path: Path, name: str = "b1") -> backup.VerifiedBackup:
    stage = tmp_path / "stage"
    stage.mkdir(exist_ok=True)
    return backup.verify(dd, name, stage)


def test_verify_missing_archive(dd: DataDir, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"no backup named nope\.bak"):
        _verify(dd, tmp_path, "nope")


def test_verify_rejects_changed_member(dd: DataDir, store: NodeStore, tmp_path: Path) -> None:
    made = backup.snapshot(dd, store, "b1")

    def tamper(c: dict[str, bytes]) -> None:
        c["config.db"] = c["config.db"].replace(b"node-1", b"node-X")

    rewrite(made.path, tamper)
    with pytest.raises(BackupInvalid, match=r"size|checksum"):
        _verify(dd, tmp_path)


def test_verify_rejects_same_size_change(dd: DataDir, store: NodeStore, tmp_path: Path) -> None:
    (dd.files / "a.key").write_text("secret-1")
    made = backup.snapshot(dd, store, "b1")
    rewrite(made.path, lambda c: c.update({"files/a.key": b"secret-2"}))
    with pytest.raises(BackupInvalid, match=r"checksum of files/a\.key"):
        _verify(dd, tmp_path)


def test_verify_rejects_newer_schema(dd: DataDir, store: NodeStore, tmp_path: Path) -> None:
    made = backup.snapshot(dd, store, "b1")
    rewrite(made.path, lambda c: edit_manifest(c, schema_version=SCHEMA_VERSION + 1))
    with pytest.raises(BackupInvalid, match="newer Moot"):
        _verify(dd, tmp_path)


def test_verify_rejects_schema_mismatch(dd: DataDir, store: NodeStore, tmp_path: Path) -> None:
    made = backup.snapshot(dd, store, "b1")
    rewrite(made.path, lambda c: edit_manifest(c, schema_version=0))
    with pytest.raises(BackupInvalid, match="its manifest says 0"):
        _verify(dd, tmp_path)


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda c: c.pop("config.db"), "missing config.db"),
        (lambda c: c.update({"files/extra.key": b"x"}), "not in its manifest"),
        (lambda c: c.update({"../escape": b"x"}), "unexpected member '../escape'"),
        (lambda c: c.update({"files/sub/x.key": b"x"}), "unexpected member"),
        (lambda c: c.pop("manifest.json"), "manifest is missing"),
        (lambda c: c.update({"manifest.json": b"{not json"}), "not valid JSON"),
        (lambda c: edit_manifest(c, format="tarball"), "not a Moot backup"),
        (lambda c: edit_manifest(c, format_version=99), "format version 99"),
        (lambda c: edit_manifest(c, members=[]), "manifest is not valid"),
    ],
)
def test_verify_rejects_bad_archives(
    dd: DataDir, store: NodeStore, tmp_path: Path, change: Callable[[dict[str, bytes]], None], message: str
) -> None:
    made = backup.snapshot(dd, store, "b1")
    rewrite(made.path, change)
    with pytest.raises(BackupInvalid, match=message):
        _verify(dd, tmp_path)


def test_verify_rejects_links(dd: DataDir, store: NodeStore, tmp_path: Path) -> None:
    made = backup.snapshot(dd, store, "b1")
    rewrite(made.path, lambda c: None, links=True)
    with pytest.raises(BackupInvalid, match=r"unexpected member 'files/evil\.key'"):
        _verify(dd, tmp_path)


@pytest.mark.parametrize("data", [b"", b"plain text, not gzip", b"\x1f\x8b\x08\x00garbage"])
def test_verify_rejects_non_archives(dd: DataDir, tmp_path: Path, data: bytes) -> None:
    (dd.files / "b1.bak").write_bytes(data)
    with pytest.raises(BackupInvalid, match=r"cannot be read|manifest is missing"):
        _verify(dd, tmp_path)


def test_verify_rejects_truncated_archive(dd: DataDir, store: NodeStore, tmp_path: Path) -> None:
    make_database(dd.database_db, rows=50, blob=5000)
    made = backup.snapshot(dd, store, "b1")
    data = made.path.read_bytes()
    made.path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BackupInvalid):
        _verify(dd, tmp_path)


def test_verify_rejects_corrupt_sqlite(dd: DataDir, store: NodeStore, tmp_path: Path) -> None:
    """Checksums recomputed by a tamperer do not let a broken database through."""
    made = backup.snapshot(dd, store, "b1")
    import hashlib

    def corrupt(c: dict[str, bytes]) -> None:
        data = b"not a database" * 100
        c["config.db"] = data
        manifest = json.loads(c["manifest.json"])
        manifest["members"]["config.db"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        c["manifest.json"] = json.dumps(manifest).encode()

    rewrite(made.path, corrupt)
    with pytest.raises(BackupInvalid, match="not a valid SQLite database"):
        _verify(dd, tmp_path)


# restore ---------------------------------------------------------------------


def test_restore_brings_everything_back_into_open_databases(
    dd: DataDir, store: NodeStore, tmp_path: Path
) -> None:
    make_database(dd.database_db)
    (dd.files / "a.key").write_text("original key")
    backup.snapshot(dd, store, "b1")

    # Change everything after the snapshot.
    store.set("webadmin.enabled", False)
    store.set("callbridge.listen", ["b"])
    Accounts(store).add("bob", "admin", "Secret-Pass-123")
    db = sqlite3.connect(dd.database_db)
    db.execute("INSERT INTO spaces(name) VALUES('later')")
    db.commit()
    (dd.files / "a.key").write_text("replaced key")
    (dd.files / "new.crt").write_text("uploaded later")

    # Another process's connection (the running node) stays open throughout.
    other = NodeStore(dd.config_db)
    assert other.account("bob") is not None
    lines: list[str] = []
    v = _verify(dd, tmp_path)
    backup.restore(dd, v, lines.append, in_use=True)

    assert lines == [
        "Restoring database... done",
        "Restoring file store (1 file)... done",
        "Restoring node config... done",
    ]
    for s in (store, other):
        assert s.get("webadmin.enabled") is True
        assert s.get("callbridge.listen") is None
        assert s.account("bob") is None
        assert s.account("admin") is not None
    assert space_names(dd.database_db) == ["space0", "space1", "space2"]
    assert (dd.files / "a.key").read_text() == "original key"
    assert (dd.files / "new.crt").read_text() == "uploaded later"
    check = sqlite3.connect(dd.config_db)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    check.close()
    other.close()


def test_restore_without_database_in_backup(dd: DataDir, store: NodeStore, tmp_path: Path) -> None:
    backup.snapshot(dd, store, "b1")
    make_database(dd.database_db)
    backup.restore(dd, _verify(dd, tmp_path), in_use=True)
    # Emptied in place (a running node may hold it open): no tables left.
    db = sqlite3.connect(dd.database_db)
    assert db.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


def test_restore_database_that_is_gone(dd: DataDir, store: NodeStore, tmp_path: Path) -> None:
    make_database(dd.database_db)
    backup.snapshot(dd, store, "b1")
    dd.database_db.unlink()
    backup.restore(dd, _verify(dd, tmp_path), in_use=False)
    assert space_names(dd.database_db) == ["space0", "space1", "space2"]
    assert oct(dd.database_db.stat().st_mode & 0o777) == "0o600"


def test_empty_sqlite_unused_removes_files(dd: DataDir) -> None:
    make_database(dd.database_db)
    backup.empty_sqlite(dd.database_db, in_use=False)
    assert not dd.database_db.exists()
    assert not Path(f"{dd.database_db}-wal").exists()
    backup.empty_sqlite(dd.database_db, in_use=False)  # nothing to do: no error


def test_empty_sqlite_in_use_with_other_page_size(dd: DataDir) -> None:
    db = sqlite3.connect(dd.database_db)
    db.execute("PRAGMA page_size=8192")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    backup.empty_sqlite(dd.database_db, in_use=True)
    assert db.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    db.close()


def test_leftovers_of_killed_processes_are_removed(dd: DataDir, store: NodeStore) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    live_pid = os.getppid()  # alive for the whole test
    (dd.run / f"snapshot-{dead_pid}-abc").mkdir()
    (dd.run / f"snapshot-{dead_pid}-abc" / "config.db").write_bytes(b"x")
    (dd.run / f"rollback-{live_pid}-def").mkdir()
    (dd.run / "history-admin").write_text("not ours")
    (dd.run / f"other-{dead_pid}-x").mkdir()
    (dd.files / f".b1.bak.{dead_pid}.partial").write_bytes(b"half")
    (dd.files / f".b2.bak.{live_pid}.partial").write_bytes(b"being written")

    backup.snapshot(dd, store, "b3")

    assert sorted(p.name for p in dd.run.iterdir()) == sorted(
        [f"rollback-{live_pid}-def", "history-admin", f"other-{dead_pid}-x"]
    )
    assert sorted(p.name for p in dd.files.iterdir()) == [f".b2.bak.{live_pid}.partial", "b3.bak"]
