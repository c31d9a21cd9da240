"""The node config store: a small, schema-versioned SQLite file per node.

It holds what the MMP configures on one node (settings and admin accounts).
Every write is one SQLite transaction with ``synchronous=FULL``, so a node or
an MMP process killed in the middle of a write leaves the previous, complete
config behind.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _v1(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        """CREATE TABLE accounts (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            password_hash TEXT,
            password_changed REAL,
            must_change INTEGER NOT NULL DEFAULT 0,
            expires REAL,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until REAL,
            history TEXT NOT NULL DEFAULT '[]',
            created REAL NOT NULL,
            last_login REAL
        )"""
    )


#: Migrations in order; the schema version is the number applied.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1,)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    pass


@dataclass
class AccountRow:
    name: str
    role: str
    password_hash: str | None
    password_changed: float | None
    must_change: bool
    expires: float | None
    failed_logins: int
    locked_until: float | None
    history: list[str]
    created: float
    last_login: float | None


_ACCOUNT_COLUMNS = (
    "name, role, password_hash, password_changed, must_change, expires, "
    "failed_logins, locked_until, history, created, last_login"
)


def _account(row: tuple[Any, ...]) -> AccountRow:
    return AccountRow(
        name=row[0],
        role=row[1],
        password_hash=row[2],
        password_changed=row[3],
        must_change=bool(row[4]),
        expires=row[5],
        failed_logins=row[6],
        locked_until=row[7],
        history=json.loads(row[8]),
        created=row[9],
        last_login=row[10],
    )


class NodeStore:
    """Thread-safe access to one node's ``config.db``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        new = not path.exists()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        if new:
            os.chmod(path, 0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self.transaction() as db:
            current = int(db.execute("PRAGMA user_version").fetchone()[0])
            if current > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{self.path} has schema version {current}, newer than this Moot "
                    f"({SCHEMA_VERSION}); upgrade Moot or restore an older backup"
                )
            for version in range(current, SCHEMA_VERSION):
                MIGRATIONS[version](db)
            if current != SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # settings -------------------------------------------------------------
    def get(self, key: str) -> Any | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO settings(key, value) VALUES(?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(value)),
            )

    def set_many(self, values: dict[str, Any]) -> None:
        with self.transaction() as db:
            for key, value in values.items():
                db.execute(
                    "INSERT INTO settings(key, value) VALUES(?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (key, json.dumps(value)),
                )

    def delete(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM settings WHERE key=?", (key,))

    def items(self, prefix: str = "") -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM settings WHERE key LIKE ? ORDER BY key",
                (prefix.replace("%", r"\%") + "%",),
            ).fetchall()
        return {k: json.loads(v) for k, v in rows}

    def clear_settings(self) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM settings")

    # accounts -------------------------------------------------------------
    def account(self, name: str) -> AccountRow | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE name=?", (name,)
            ).fetchone()
        return None if row is None else _account(row)

    def accounts(self) -> list[AccountRow]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY name"
            ).fetchall()
        return [_account(r) for r in rows]

    def put_account(self, acc: AccountRow) -> None:
        with self.transaction() as db:
            db.execute(
                f"INSERT OR REPLACE INTO accounts({_ACCOUNT_COLUMNS}) "
                "VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                (
                    acc.name,
                    acc.role,
                    acc.password_hash,
                    acc.password_changed,
                    int(acc.must_change),
                    acc.expires,
                    acc.failed_logins,
                    acc.locked_until,
                    json.dumps(acc.history),
                    acc.created,
                    acc.last_login,
                ),
            )

    def delete_account(self, name: str) -> bool:
        with self.transaction() as db:
            cur = db.execute("DELETE FROM accounts WHERE name=?", (name,))
        return cur.rowcount > 0

    def clear_accounts(self) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM accounts")

    def backup_to(self, target: Path) -> None:
        """A consistent copy of the store (SQLite online backup)."""
        dest = sqlite3.connect(target)
        try:
            with self._lock:
                self._db.backup(dest)
        finally:
            dest.close()
