"""Storage of API objects: one table per declared object type, built from the declaration.

The same code runs on SQLite (WAL; the default, ``database.db`` in the data dir)
and PostgreSQL (a cluster). On SQLite the ``filter=`` search runs on an FTS5
trigram index per object type (``api_<type>_search``, kept in step by
triggers), so a substring search stays fast at 300,000 objects. Values that must be unique across object types
(a space's ``uri`` and an access method's ``uri``) are claimed in one
``api_unique`` table whose primary key settles races between concurrent writers.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    create_engine,
    event,
    exists,
    false,
    func,
    inspect,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy import column as sql_column
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from moot.api.model import Field, ObjectType, Ref

SCHEMA_VERSION = 1


class Duplicate(Exception):
    def __init__(self, namespace: str, value: str, owner_type: str, owner_id: str) -> None:
        super().__init__(f"{namespace} {value!r} already used by {owner_type} {owner_id}")
        self.namespace = namespace
        self.value = value
        self.owner_type = owner_type
        self.owner_id = owner_id


def _column_type(f: Field) -> Any:
    storage = f.kind.storage
    if storage == "int":
        return Integer()
    if storage == "bool":
        return Boolean()
    if storage == "float":
        return Float()
    if isinstance(f.kind, Ref):
        return String(36)
    return Text()


def table_name(otype: ObjectType) -> str:
    return "api_" + otype.name.lower()


def search_table_name(otype: ObjectType) -> str:
    return table_name(otype) + "_search"


#: FTS5's trigram tokenizer finds substrings of at least this many characters.
TRIGRAM = 3


@dataclass(frozen=True)
class Cond:
    """One list condition: ``op`` is "eq", "ge", "le", "contains", "search", "referenced", "unreferenced"."""

    op: str
    field: str | None = None
    value: Any = None


class ApiStore:
    def __init__(self, url: str, types: Sequence[ObjectType]) -> None:
        self.url = url
        self.types = {t.name: t for t in types}
        self.meta = MetaData()
        self.tables: dict[str, Table] = {}
        self.referrers: dict[str, list[tuple[str, str]]] = {}
        for t in types:
            self.tables[t.name] = self._table(t)
        for t in types:
            for f in t.stored_fields:
                if f.ref:
                    self.referrers.setdefault(f.ref, []).append((t.name, f.name))
        self.unique = Table(
            "api_unique",
            self.meta,
            Column("namespace", String(32), primary_key=True),
            Column("value", String(300), primary_key=True),
            Column("owner_type", String(64), nullable=False),
            Column("owner_id", String(36), nullable=False),
            Index("ix_api_unique_owner", "owner_id"),
        )
        self.meta_table = Table(
            "moot_schema",
            self.meta,
            Column("name", String(64), primary_key=True),
            Column("version", Integer, nullable=False),
        )
        #: Statements built once and reused: SQLAlchemy then skips rebuilding them and
        #: recomputing their cache keys, which dominates the cost of small queries.
        self._statements: dict[tuple[str, ...], Any] = {}
        self.engine = self._engine(url)
        self.migrate()

    def statement(self, key: tuple[str, ...], build: Callable[[], Any]) -> Any:
        stmt = self._statements.get(key)
        if stmt is None:
            stmt = self._statements[key] = build()
        return stmt

    # set-up ---------------------------------------------------------------------
    @staticmethod
    def _engine(url: str) -> Engine:
        if not url.startswith("sqlite"):
            return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            # Transactions are ours (BEGIN IMMEDIATE for writers), not the driver's.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine

    def _table(self, t: ObjectType) -> Table:
        cols: list[Any] = [
            Column("seq", Integer, primary_key=True, autoincrement=True),
            Column("id", String(36), nullable=False, unique=True),
            Column("parent_id", String(36), nullable=True, index=True),
        ]
        indexes: list[Index] = []
        name = table_name(t)
        for f in t.stored_fields:
            cols.append(Column(f.name, _column_type(f), nullable=True))
            if f.ref or f.unique or any(flt.field == f.name for flt in t.filters):
                indexes.append(Index(f"ix_{name}_{f.name.lower()}", f.name))
        return Table(name, self.meta, *cols, *indexes)

    def migrate(self) -> None:
        """Create missing tables, add columns for newly declared fields, record the version."""
        with self.engine.begin() as conn:
            self.meta.create_all(conn)
            insp = inspect(conn)
            for table in self.tables.values():
                have = {c["name"] for c in insp.get_columns(table.name)}
                for col in table.columns:
                    if col.name not in have:
                        ddl = col.type.compile(dialect=conn.dialect)
                        conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {ddl}'))
                for index in table.indexes:
                    index.create(conn, checkfirst=True)
            if conn.dialect.name == "sqlite":
                for otype in self.types.values():
                    self._migrate_search(conn, otype)
            row = conn.execute(select(self.meta_table.c.version).where(self.meta_table.c.name == "api")).first()
            if row is None:
                conn.execute(self.meta_table.insert().values(name="api", version=SCHEMA_VERSION))
            elif row[0] > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the database schema ({row[0]}) is newer than this Moot ({SCHEMA_VERSION})"
                )
            elif row[0] < SCHEMA_VERSION:
                conn.execute(
                    self.meta_table.update().where(self.meta_table.c.name == "api").values(version=SCHEMA_VERSION)
                )

    def _migrate_search(self, conn: Connection, otype: ObjectType) -> None:
        """The FTS5 trigram index of a type's searchable fields, rebuilt when they change."""
        cols = [f.name for f in otype.searchable_fields]
        name, table = search_table_name(otype), table_name(otype)
        quoted = ", ".join(f'"{c}"' for c in cols)
        create = (
            f"CREATE VIRTUAL TABLE {name} USING fts5({quoted}, content='{table}', "
            "content_rowid='seq', tokenize='trigram')"
        )
        have = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :n"), {"n": name}
        ).scalar()
        if have == (create if cols else None):
            return
        for suffix in ("ai", "ad", "au"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}_{suffix}"))
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
        if not cols:
            return
        new = ", ".join(f'new."{c}"' for c in cols)
        old = ", ".join(f'old."{c}"' for c in cols)
        conn.execute(text(create))
        conn.execute(text(
            f"CREATE TRIGGER {name}_ai AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {name}(rowid, {quoted}) VALUES (new.seq, {new}); END"
        ))
        conn.execute(text(
            f"CREATE TRIGGER {name}_ad AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {name}({name}, rowid, {quoted}) VALUES ('delete', old.seq, {old}); END"
        ))
        conn.execute(text(
            f"CREATE TRIGGER {name}_au AFTER UPDATE OF {quoted} ON {table} BEGIN "
            f"INSERT INTO {name}({name}, rowid, {quoted}) VALUES ('delete', old.seq, {old}); "
            f"INSERT INTO {name}(rowid, {quoted}) VALUES (new.seq, {new}); END"
        ))
        conn.execute(text(f"INSERT INTO {name}({name}) VALUES ('rebuild')"))

    def close(self) -> None:
        self.engine.dispose()

    @property
    def sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def txn(self) -> Iterator[Txn]:
        """A write transaction: all or nothing."""
        with self.engine.connect() as conn:
            if not self.sqlite:
                with conn.begin():
                    yield Txn(self, conn)
                return
            # Take SQLite's write lock at the start, so check-then-write cannot race.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield Txn(self, conn)
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")

    @contextmanager
    def reader(self) -> Iterator[Txn]:
        """A read-only snapshot."""
        with self.engine.connect() as conn:
            if not self.sqlite:
                with conn.begin():
                    yield Txn(self, conn)
                return
            conn.exec_driver_sql("BEGIN")
            try:
                yield Txn(self, conn)
            finally:
                conn.exec_driver_sql("ROLLBACK")


class Txn:
    """One transaction over the API tables."""

    def __init__(self, store: ApiStore, conn: Connection) -> None:
        self.store = store
        self.conn = conn

    def _t(self, otype: ObjectType) -> Table:
        return self.store.tables[otype.name]

    @staticmethod
    def _row(table: Table, row: Any) -> dict[str, Any]:
        data = dict(row._mapping)
        data.pop("seq", None)
        return data

    def get(self, otype: ObjectType, oid: str, parent_id: str | None = None) -> dict[str, Any] | None:
        t = self._t(otype)
        if parent_id is None:
            q = self.store.statement(("get", t.name), lambda: select(t).where(t.c.id == bindparam("oid")))
            row = self.conn.execute(q, {"oid": oid.lower()}).first()
        else:
            q = self.store.statement(
                ("get_in", t.name),
                lambda: select(t).where(t.c.id == bindparam("oid"), t.c.parent_id == bindparam("pid")),
            )
            row = self.conn.execute(q, {"oid": oid.lower(), "pid": parent_id.lower()}).first()
        return None if row is None else self._row(t, row)

    def exists(self, type_name: str, oid: str) -> bool:
        t = self.store.tables[type_name]
        q = self.store.statement(("exists", t.name), lambda: select(t.c.seq).where(t.c.id == bindparam("oid")))
        return self.conn.execute(q, {"oid": oid.lower()}).first() is not None

    def _where(self, otype: ObjectType, parent_id: str | None, conds: Sequence[Cond]) -> list[ColumnElement[bool]]:
        t = self._t(otype)
        where: list[ColumnElement[bool]] = []
        if parent_id is not None:
            where.append(t.c.parent_id == parent_id.lower())
        for c in conds:
            if c.op == "eq" and c.field:
                where.append(t.c[c.field] == c.value)
            elif c.op == "ge" and c.field:
                where.append(t.c[c.field] >= c.value)
            elif c.op == "le" and c.field:
                where.append(t.c[c.field] <= c.value)
            elif c.op == "contains" and c.field:
                where.append(self._contains(t.c[c.field], c.value))
            elif c.op == "search":
                cols = [t.c[f.name] for f in otype.searchable_fields]
                if cols and self.store.sqlite and len(c.value) >= TRIGRAM:
                    where.append(t.c.seq.in_(self._search(otype, c.value)))
                elif cols:
                    where.append(or_(*[self._contains(col, c.value) for col in cols]))
            elif c.op in ("referenced", "unreferenced"):
                clauses = []
                for ref_type, ref_field in self.store.referrers.get(otype.name, []):
                    rt = self.store.tables[ref_type]
                    clauses.append(exists().where(rt.c[ref_field] == t.c.id))
                any_ref: ColumnElement[bool] = or_(*clauses) if clauses else false()
                where.append(any_ref if c.op == "referenced" else not_(any_ref))
        return where

    def _contains(self, col: Any, value: str) -> ColumnElement[bool]:
        # SQLite's LIKE already ignores (ASCII) case, as its lower() would: ilike() only
        # adds two lower() calls per row.
        if self.store.sqlite:
            return col.like(_like(value), escape="\\")  # type: ignore[no-any-return]
        return col.ilike(_like(value), escape="\\")  # type: ignore[no-any-return]

    @staticmethod
    def _search(otype: ObjectType, value: str) -> Any:
        """Row numbers whose searchable fields contain ``value`` (case-insensitive), by trigrams."""
        name = search_table_name(otype)
        phrase = '"' + value.replace('"', '""') + '"'
        return text(f"SELECT rowid FROM {name} WHERE {name} MATCH :phrase").bindparams(phrase=phrase).columns(
            sql_column("rowid", Integer)
        )

    def count(self, otype: ObjectType, parent_id: str | None = None, conds: Sequence[Cond] = ()) -> int:
        t = self._t(otype)
        where = self._where(otype, parent_id, conds)
        q = select(func.count()).select_from(t)
        if where:
            q = q.where(and_(*where))
        return int(self.conn.execute(q).scalar_one())

    def list(
        self,
        otype: ObjectType,
        parent_id: str | None,
        conds: Sequence[Cond],
        offset: int,
        limit: int,
        columns: Sequence[str] | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        t = self._t(otype)
        where = self._where(otype, parent_id, conds)
        cols = [t.c.id, t.c.parent_id] + [t.c[c] for c in (columns or []) if c in t.c]
        order = [t.c[name] for name in otype.order_by] + [t.c.seq]
        if otype.order_by:
            q = select(*cols)
            if where:
                q = q.where(and_(*where))
            q = q.order_by(*order).offset(offset).limit(limit)
        else:
            # Step over ``offset`` rows in the narrow (parent_id, seq) index rather than
            # in the table itself: top-level objects all have parent_id NULL.
            if parent_id is None and otype.parent is None:
                where = [t.c.parent_id.is_(None), *where]
            page = select(t.c.seq)
            if where:
                page = page.where(and_(*where))
            page = page.order_by(t.c.seq).offset(offset).limit(limit)
            q = select(*cols).where(t.c.seq.in_(page.scalar_subquery())).order_by(t.c.seq)
        rows = [dict(r._mapping) for r in self.conn.execute(q)]
        if 0 < len(rows) < limit or (offset == 0 and limit > 0 and not rows):
            # The last page: its end is the total, no need to count (same snapshot).
            total = offset + len(rows)
        else:
            total = self.count(otype, parent_id, conds)
        return total, rows

    def insert(self, otype: ObjectType, oid: str, parent_id: str | None, values: dict[str, Any]) -> None:
        t = self._t(otype)
        row = {k: v for k, v in values.items() if k in t.c}
        row.update(id=oid, parent_id=parent_id)
        self.conn.execute(self.store.statement(("insert", t.name), t.insert), row)

    def update(self, otype: ObjectType, oid: str, values: dict[str, Any]) -> None:
        t = self._t(otype)
        row = {k: v for k, v in values.items() if k in t.c and k not in ("id", "parent_id", "seq")}
        if row:
            self.conn.execute(t.update().where(t.c.id == oid).values(**row))

    def delete(self, otype: ObjectType, oid: str) -> None:
        t = self._t(otype)
        self.conn.execute(t.delete().where(t.c.id == oid))
        self.conn.execute(self.store.unique.delete().where(self.store.unique.c.owner_id == oid))

    def ids(self, otype: ObjectType, parent_id: str | None = None) -> builtins.list[str]:
        t = self._t(otype)
        q = select(t.c.id)
        if parent_id is not None:
            q = q.where(t.c.parent_id == parent_id)
        return [r[0] for r in self.conn.execute(q)]

    # uniqueness -------------------------------------------------------------------
    def claim(self, namespace: str, value: str, owner_type: str, owner_id: str) -> None:
        existing = self.owner_of(namespace, value)
        if existing is not None:
            if existing[1] == owner_id:
                return
            raise Duplicate(namespace, value, *existing)
        insert = self.store.statement(("claim",), self.store.unique.insert)
        params = {"namespace": namespace, "value": value, "owner_type": owner_type, "owner_id": owner_id}
        if self.store.sqlite:
            # A SQLite writer holds the database's write lock (BEGIN IMMEDIATE): nobody
            # can have claimed the value since the look-up above.
            self.conn.execute(insert, params)
            return
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert, params)
        except IntegrityError:
            row = self.owner_of(namespace, value)
            raise Duplicate(namespace, value, *(row or ("?", "?"))) from None

    def release(self, namespace: str, value: str, owner_id: str) -> None:
        u = self.store.unique
        self.conn.execute(
            u.delete().where(and_(u.c.namespace == namespace, u.c.value == value, u.c.owner_id == owner_id))
        )

    def owner_of(self, namespace: str, value: str) -> tuple[str, str] | None:
        u = self.store.unique
        q = self.store.statement(
            ("owner_of",),
            lambda: select(u.c.owner_type, u.c.owner_id).where(
                u.c.namespace == bindparam("ns"), u.c.value == bindparam("value")
            ),
        )
        row = self.conn.execute(q, {"ns": namespace, "value": value}).first()
        return None if row is None else (row[0], row[1])

    def references(self, type_name: str, oid: str) -> int:
        total = 0
        for ref_type, ref_field in self.store.referrers.get(type_name, []):
            t = self.store.tables[ref_type]
            total += int(
                self.conn.execute(select(func.count()).select_from(t).where(t.c[ref_field] == oid)).scalar_one()
            )
        return total

    def clear_references(self, type_name: str, oid: str) -> None:
        """Unset every reference to a deleted object."""
        for ref_type, ref_field in self.store.referrers.get(type_name, []):
            t = self.store.tables[ref_type]
            self.conn.execute(t.update().where(t.c[ref_field] == oid).values({ref_field: None}))


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
