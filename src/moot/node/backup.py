"""Snapshots of a node (``backup snapshot``) and rolling back to one (``backup rollback``).

A snapshot is one file, ``<name>.bak``, in the file store (so SFTP can download
it): a gzip'd tar holding

    manifest.json   format, Moot version, node id, schema version, time, and the
                    sha256 and size of every other member
    config.db       the node config (settings, MMP accounts)
    database.db     the database, when the node has one
    files/<name>    the file store's keys, certificates and licences

The SQLite files are copied with SQLite's online backup, so the copy is
consistent while the node writes. The archive is written under a hidden
temporary name and linked into place only when complete, so a killed process
never leaves a ``.bak`` that looks whole, and an existing snapshot is never
overwritten.

A rollback verifies everything (members, checksums, schema version, SQLite
integrity) in a private staging directory before it changes anything, and
restores the SQLite files *into* the live databases with the online backup
API, so processes that hold them open see one consistent switch rather than a
file replaced underneath them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moot import __version__
from moot.db.nodestore import SCHEMA_VERSION, NodeStore
from moot.node.datadir import DataDir

FORMAT = "moot-backup"
FORMAT_VERSION = 1
SUFFIX = ".bak"
MANIFEST = "manifest.json"
CONFIG_MEMBER = "config.db"
DATABASE_MEMBER = "database.db"
FILES_DIR = "files"
#: What of the file store a snapshot keeps: keys, certificates, CSRs and licences
#: (not other snapshots, not uploads of other kinds).
STORE_SUFFIXES = frozenset({".key", ".pem", ".crt", ".cer", ".der", ".csr", ".p12", ".pfx", ".lic"})
#: Databases bigger than this get percentages while they are copied.
LARGE_DB_BYTES = 16 * 1024 * 1024
#: Pages per online-backup step when reporting progress.
COPY_STEP_PAGES = 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CHUNK = 1024 * 1024
#: A manifest bigger than this is not one of ours.
_MAX_MANIFEST = 1024 * 1024

#: Where progress lines go (``Backing up node config... done``).
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class BackupError(Exception):
    """A snapshot or rollback cannot be done; the message tells the operator why."""


class BackupInvalid(BackupError):
    """The archive is damaged, tampered with, or not for this Moot."""


# names and listing -----------------------------------------------------------


def backup_name(name: str) -> str:
    """The snapshot name without ``.bak``; the operator may type either form."""
    base = name[: -len(SUFFIX)] if name.lower().endswith(SUFFIX) else name
    if not _NAME.fullmatch(base) or base.endswith("."):
        raise BackupError(
            f"invalid backup name {name!r}: use up to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no directories)"
        )
    return base


def archive_path(datadir: DataDir, name: str) -> Path:
    return datadir.backups / (backup_name(name) + SUFFIX)


@dataclass(frozen=True)
class BackupFile:
    name: str
    path: Path
    size: int
    modified: float


def list_backups(datadir: DataDir) -> list[BackupFile]:
    if not datadir.backups.is_dir():
        return []
    found = []
    for path in sorted(datadir.backups.iterdir()):
        if path.suffix == SUFFIX and not path.name.startswith(".") and path.is_file():
            st = path.stat()
            found.append(BackupFile(path.stem, path, st.st_size, st.st_mtime))
    return found


def store_files(datadir: DataDir) -> list[Path]:
    """The file store's files that a snapshot keeps."""
    if not datadir.files.is_dir():
        return []
    return [
        p
        for p in sorted(datadir.files.iterdir())
        if p.is_file()
        and not p.is_symlink()
        and not p.name.startswith(".")
        and p.suffix.lower() in STORE_SUFFIXES
    ]


# manifest --------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    sha256: str
    size: int


@dataclass
class Manifest:
    moot_version: str
    node_id: str
    schema_version: int
    created: float
    members: dict[str, Member] = field(default_factory=dict)
    #: ``PRAGMA user_version`` of the database copy, when there is one.
    database_schema: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "moot_version": self.moot_version,
            "node_id": self.node_id,
            "schema_version": self.schema_version,
            "database_schema": self.database_schema,
            "created": self.created,
            "members": {
                name: {"sha256": m.sha256, "size": m.size} for name, m in sorted(self.members.items())
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        try:
            if data["format"] != FORMAT:
                raise BackupInvalid("it is not a Moot backup")
            if data["format_version"] != FORMAT_VERSION:
                raise BackupInvalid(
                    f"its format version {data['format_version']} is not supported by this Moot"
                )
            members = {
                str(name): Member(str(m["sha256"]), int(m["size"]))
                for name, m in data["members"].items()
            }
            db_schema = data.get("database_schema")
            return cls(
                moot_version=str(data["moot_version"]),
                node_id=str(data["node_id"]),
                schema_version=int(data["schema_version"]),
                created=float(data["created"]),
                members=members,
                database_schema=None if db_schema is None else int(db_schema),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BackupInvalid(f"its manifest is not valid ({type(exc).__name__}: {exc})") from None


# SQLite helpers ----------------------------------------------------------------


def copy_sqlite(
    source: sqlite3.Connection,
    target: sqlite3.Connection,
    report: Callable[[int], None] | None = None,
) -> None:
    """Online backup from ``source`` into ``target``; ``report`` gets whole percentages.

    Without ``report`` the copy is one step: one transaction on the target, so
    readers of the target see the old content or the new, never a mix.
    """
    if report is None:
        source.backup(target)
        return
    last = -1

    def step(_status: int, remaining: int, total: int) -> None:
        nonlocal last
        percent = 100 if total == 0 else int(100 * (total - remaining) / total)
        if percent != last:
            last = percent
            report(percent)

    source.backup(target, pages=COPY_STEP_PAGES, progress=step)


def _connect(path: Path, *, timeout: float = 30) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=timeout)
    db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    return db


def _check_sqlite(path: Path, what: str) -> int:
    """``PRAGMA integrity_check`` must pass; returns the file's user_version."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = db.execute("PRAGMA integrity_check").fetchall()
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise BackupInvalid(f"its {what} is not a valid SQLite database ({exc})") from None
    if result != [("ok",)]:
        raise BackupInvalid(f"its {what} failed the integrity check ({result[0][0]})")
    return version


def restore_sqlite(source: Path, target: Path) -> None:
    """Make ``target`` hold what ``source`` holds, safely even while others have it open."""
    if not target.exists():
        _install_copy(source, target)
        return
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = _connect(target)
        try:
            copy_sqlite(src, dst)
        finally:
            dst.close()
    finally:
        src.close()


def empty_sqlite(target: Path, *, in_use: bool) -> None:
    """Leave ``target`` without data: removed when nobody uses it, else emptied in place."""
    if not target.exists():
        return
    if not in_use:
        for path in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            path.unlink(missing_ok=True)
        return
    dst = _connect(target)
    try:
        page_size = int(dst.execute("PRAGMA page_size").fetchone()[0])
        src = sqlite3.connect(":memory:")
        try:
            # The online backup into a WAL database needs equal page sizes.
            src.execute(f"PRAGMA page_size={page_size}")
            src.execute("VACUUM")
            copy_sqlite(src, dst)
        finally:
            src.close()
    finally:
        dst.close()


# files -----------------------------------------------------------------------


def _sha256(path: Path) -> Member:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return Member(h.hexdigest(), size)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _install_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically (temporary file, fsync, rename)."""
    tmp = target.with_name(f".{target.name}.restore")
    with source.open("rb") as src, open(tmp, "wb") as dst:
        os.fchmod(dst.fileno(), 0o600)
        shutil.copyfileobj(src, dst, _CHUNK)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(name: str) -> int | None:
    """The pid in a scratch name (``snapshot-<pid>-...``, ``.b1.bak.<pid>.partial``)."""
    m = re.search(r"(?:^(?:snapshot|rollback|reset)-|\.)(\d+)(?:-|\.partial$)", name)
    return int(m.group(1)) if m else None


def remove_leftovers(datadir: DataDir) -> None:
    """Scratch files of processes that were killed (staging dirs, partial archives)."""
    candidates = [p for p in _listdir(datadir.run) if p.is_dir()] + [
        p for p in _listdir(datadir.backups) if p.name.startswith(".") and p.name.endswith(".partial")
    ]
    for path in candidates:
        pid = _owner_pid(path.name)
        if pid is not None and pid != os.getpid() and not _alive(pid):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _listdir(directory: Path) -> list[Path]:
    return list(directory.iterdir()) if directory.is_dir() else []


@contextlib.contextmanager
def staging(datadir: DataDir, purpose: str) -> Iterator[Path]:
    """A private scratch directory inside the data dir, removed afterwards."""
    datadir.run.mkdir(parents=True, exist_ok=True)
    remove_leftovers(datadir)
    prefix = f"{purpose}-{os.getpid()}-"
    with tempfile.TemporaryDirectory(dir=datadir.run, prefix=prefix) as tmp:
        yield Path(tmp)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _done(progress: Progress, label: str, work: Callable[[], None]) -> None:
    work()
    progress(f"{label}... done")


def _copy_database(
    source_path: Path, target: Path, progress: Progress, large_bytes: int
) -> None:
    src = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            if source_path.stat().st_size > large_bytes:
                copy_sqlite(src, dst, lambda pct: progress(f"Backing up database... {pct}%"))
            else:
                copy_sqlite(src, dst)
        finally:
            dst.close()
    finally:
        src.close()
    progress("Backing up database... done")


def _tarinfo(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600
    return info


def snapshot(
    datadir: DataDir,
    store: NodeStore,
    name: str,
    progress: Progress = _quiet,
    *,
    large_bytes: int = LARGE_DB_BYTES,
    clock: Callable[[], float] = time.time,
) -> BackupFile:
    """Write ``<name>.bak`` into the file store; refuse to overwrite an existing one."""
    target = archive_path(datadir, name)
    if target.exists():
        raise BackupError(
            f"{target.name} already exists; choose another name, or delete it first "
            f"(backup delete {target.stem})"
        )
    datadir.backups.mkdir(parents=True, exist_ok=True)
    with staging(datadir, "snapshot") as stage:
        config = stage / CONFIG_MEMBER
        _done(progress, "Backing up node config", lambda: store.backup_to(config))
        members: dict[str, Path] = {CONFIG_MEMBER: config}
        schema = _check_sqlite(config, "node config")
        node_id = _read_node_id(config)

        database_schema = None
        if datadir.database_db.exists():
            database = stage / DATABASE_MEMBER
            _copy_database(datadir.database_db, database, progress, large_bytes)
            database_schema = _check_sqlite(database, "database")
            members[DATABASE_MEMBER] = database

        files = store_files(datadir)
        (stage / FILES_DIR).mkdir()

        def copy_files() -> None:
            for path in files:
                copy = stage / FILES_DIR / path.name
                shutil.copyfile(path, copy)
                members[f"{FILES_DIR}/{path.name}"] = copy

        _done(progress, f"Backing up file store ({_count(len(files), 'file')})", copy_files)

        manifest = Manifest(
            moot_version=__version__,
            node_id=node_id,
            schema_version=schema,
            created=clock(),
            database_schema=database_schema,
            members={arc: _sha256(path) for arc, path in members.items()},
        )
        _done(
            progress,
            f"Writing {target.name}",
            lambda: _write_archive(target, manifest, members),
        )
    st = target.stat()
    return BackupFile(target.stem, target, st.st_size, st.st_mtime)


def _read_node_id(config: Path) -> str:
    db = sqlite3.connect(f"file:{config}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM settings WHERE key='node.id'").fetchone()
    except sqlite3.DatabaseError:
        row = None
    finally:
        db.close()
    return str(json.loads(row[0])) if row else ""


def _write_archive(target: Path, manifest: Manifest, members: dict[str, Path]) -> None:
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as raw:
            os.fchmod(raw.fileno(), 0o600)
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                data = json.dumps(manifest.to_json(), indent=2).encode()
                info = _tarinfo(tarfile.TarInfo(MANIFEST))
                info.size = len(data)
                info.mtime = int(manifest.created)
                tar.addfile(info, io.BytesIO(data))
                for arc, path in members.items():
                    tar.add(path, arcname=arc, recursive=False, filter=_tarinfo)
            raw.flush()
            os.fsync(raw.fileno())
        # A hard link appears whole or not at all, and fails rather than overwrite.
        os.link(partial, target)
    except FileExistsError:
        raise BackupError(f"{target.name} was created meanwhile; choose another name") from None
    finally:
        partial.unlink(missing_ok=True)
    _fsync_dir(target.parent)


# verify and restore ------------------------------------------------------------


@dataclass
class VerifiedBackup:
    """An archive whose contents passed every check, unpacked in a staging dir."""

    name: str
    manifest: Manifest
    config: Path
    database: Path | None
    files: list[Path]


def _member_name(name: str) -> str | None:
    """The member's place in the archive, or None when it is not one we write."""
    if name in (MANIFEST, CONFIG_MEMBER, DATABASE_MEMBER):
        return name
    prefix, _, rest = name.partition("/")
    plain = bool(rest) and not rest.startswith(".") and not set(rest) & {"/", "\\", "\0"}
    return name if prefix == FILES_DIR and plain else None


def verify(datadir: DataDir, name: str, stage: Path) -> VerifiedBackup:
    """Check ``<name>.bak`` completely and unpack it into ``stage``; changes nothing else."""
    path = archive_path(datadir, name)
    if not path.is_file():
        raise BackupError(f"no backup named {path.name} in the file store (see: backup list)")
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            manifest, unpacked = _unpack(tar, stage)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        if isinstance(exc, BackupError):
            raise
        raise BackupInvalid(f"it cannot be read as a Moot backup ({exc})") from None
    expected = set(manifest.members)
    if set(unpacked) != expected:
        missing = sorted(expected - set(unpacked))
        extra = sorted(set(unpacked) - expected)
        detail = (f"missing {', '.join(missing)}" if missing else "") + (
            f"{'; ' if missing else ''}not in the manifest: {', '.join(extra)}" if extra else ""
        )
        raise BackupInvalid(f"its contents do not match its manifest ({detail})")
    for arc, member in sorted(manifest.members.items()):
        actual = _sha256(unpacked[arc])
        if actual != member:
            raise BackupInvalid(f"the checksum of {arc} does not match its manifest")
    if CONFIG_MEMBER not in unpacked:
        raise BackupInvalid("it holds no node config")
    if manifest.schema_version > SCHEMA_VERSION:
        raise BackupInvalid(
            f"it was made by a newer Moot (node config schema {manifest.schema_version}, this "
            f"Moot has {SCHEMA_VERSION}); upgrade Moot before rolling back to it"
        )
    schema = _check_sqlite(unpacked[CONFIG_MEMBER], "node config")
    if schema != manifest.schema_version:
        raise BackupInvalid(
            f"its node config has schema {schema}, its manifest says {manifest.schema_version}"
        )
    database = unpacked.get(DATABASE_MEMBER)
    if database is not None:
        _check_sqlite(database, "database")
    files = sorted(p for arc, p in unpacked.items() if arc.startswith(FILES_DIR + "/"))
    return VerifiedBackup(path.stem, manifest, unpacked[CONFIG_MEMBER], database, files)


def _unpack(tar: tarfile.TarFile, stage: Path) -> tuple[Manifest, dict[str, Path]]:
    manifest: Manifest | None = None
    unpacked: dict[str, Path] = {}
    (stage / FILES_DIR).mkdir(exist_ok=True)
    for info in tar:
        arc = _member_name(info.name)
        if arc is None or not info.isfile():
            raise BackupInvalid(f"it holds an unexpected member {info.name!r}")
        if arc in unpacked or (arc == MANIFEST and manifest is not None):
            raise BackupInvalid(f"it holds {arc} twice")
        stream = tar.extractfile(info)
        if stream is None:
            raise BackupInvalid(f"its member {arc} cannot be read")
        if arc == MANIFEST:
            if info.size > _MAX_MANIFEST:
                raise BackupInvalid("its manifest is too big")
            try:
                manifest = Manifest.from_json(json.loads(stream.read()))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise BackupInvalid("its manifest is not valid JSON") from None
            continue
        if manifest is None:
            raise BackupInvalid("its manifest is missing or not first")
        declared = manifest.members.get(arc)
        if declared is None or declared.size != info.size:
            raise BackupInvalid(f"{arc} is not in its manifest or has the wrong size")
        out = stage / arc
        with open(out, "wb") as f:
            shutil.copyfileobj(stream, f, _CHUNK)
        unpacked[arc] = out
    if manifest is None:
        raise BackupInvalid("its manifest is missing")
    return manifest, unpacked


def restore(
    datadir: DataDir, backup: VerifiedBackup, progress: Progress = _quiet, *, in_use: bool
) -> None:
    """Put a verified backup in place. ``in_use``: a node has the databases open.

    The database goes first and the node config last, so the config never
    names a certificate that is not back yet. Store files that the backup does
    not hold are left alone.
    """
    database = backup.database
    if database is not None:
        _done(progress, "Restoring database", lambda: restore_sqlite(database, datadir.database_db))
    elif datadir.database_db.exists():
        _done(
            progress,
            "Restoring database (empty in the backup)",
            lambda: empty_sqlite(datadir.database_db, in_use=in_use),
        )

    def copy_files() -> None:
        datadir.files.mkdir(parents=True, exist_ok=True)
        for path in backup.files:
            _install_copy(path, datadir.file(path.name))

    _done(progress, f"Restoring file store ({_count(len(backup.files), 'file')})", copy_files)
    _done(progress, "Restoring node config", lambda: restore_sqlite(backup.config, datadir.config_db))
