"""Storage of API objects: one table per declared object type, built from the declaration.

The same code runs on SQLite (WAL; the default, ``database.db`` in the data dir)
and PostgreSQL (a cluster). Values that must be unique across object types
(a space's ``uri`` and an access method's ``uri``) are claimed in one
``api_unique`` table whose primary key settles races between concurrent writers.
"""

from __future__ import annotations

import builtins

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
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
    if isinstance(f.kind, Ref):
        return String(36)
    return Text()


def table_name(otype: ObjectType) -> str:
    return "api_" + otype.name.lower()


@dataclass(frozen=True)
class Cond:
    """One list condition: ``op`` is "eq", "contains", "search", "referenced", "unreferenced"."""

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
        self.engine = self._engine(url)
        self.migrate()

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
        q = select(t).where(t.c.id == oid.lower())
        if parent_id is not None:
            q = q.where(t.c.parent_id == parent_id.lower())
        row = self.conn.execute(q).first()
        return None if row is None else self._row(t, row)

    def exists(self, type_name: str, oid: str) -> bool:
        t = self.store.tables[type_name]
        return self.conn.execute(select(t.c.seq).where(t.c.id == oid.lower())).first() is not None

    def _where(self, otype: ObjectType, parent_id: str | None, conds: Sequence[Cond]) -> list[ColumnElement[bool]]:
        t = self._t(otype)
        where: list[ColumnElement[bool]] = []
        if parent_id is not None:
            where.append(t.c.parent_id == parent_id.lower())
        for c in conds:
            if c.op == "eq" and c.field:
                where.append(t.c[c.field] == c.value)
            elif c.op == "contains" and c.field:
                where.append(t.c[c.field].ilike(_like(c.value), escape="\\"))
            elif c.op == "search":
                cols = [t.c[f.name] for f in otype.searchable_fields]
                if cols:
                    where.append(or_(*[col.ilike(_like(c.value), escape="\\") for col in cols]))
            elif c.op in ("referenced", "unreferenced"):
                clauses = []
                for ref_type, ref_field in self.store.referrers.get(otype.name, []):
                    rt = self.store.tables[ref_type]
                    clauses.append(exists().where(rt.c[ref_field] == t.c.id))
                any_ref: ColumnElement[bool] = or_(*clauses) if clauses else false()
                where.append(any_ref if c.op == "referenced" else not_(any_ref))
        return where

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
        total = self.count(otype, parent_id, conds)
        cols = [t.c.id, t.c.parent_id] + [t.c[c] for c in (columns or []) if c in t.c]
        q = select(*cols)
        if where:
            q = q.where(and_(*where))
        order = [t.c[name] for name in otype.order_by] + [t.c.seq]
        q = q.order_by(*order).offset(offset).limit(limit)
        rows = [dict(r._mapping) for r in self.conn.execute(q)]
        return total, rows

    def insert(self, otype: ObjectType, oid: str, parent_id: str | None, values: dict[str, Any]) -> None:
        t = self._t(otype)
        row = {k: v for k, v in values.items() if k in t.c}
        self.conn.execute(t.insert().values(id=oid, parent_id=parent_id, **row))

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
        u = self.store.unique
        existing = self.conn.execute(
            select(u.c.owner_type, u.c.owner_id).where(and_(u.c.namespace == namespace, u.c.value == value))
        ).first()
        if existing is not None:
            if existing[1] == owner_id:
                return
            raise Duplicate(namespace, value, existing[0], existing[1])
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    u.insert().values(namespace=namespace, value=value, owner_type=owner_type, owner_id=owner_id)
                )
        except IntegrityError:
            row = self.conn.execute(
                select(u.c.owner_type, u.c.owner_id).where(and_(u.c.namespace == namespace, u.c.value == value))
            ).first()
            raise Duplicate(namespace, value, *(row or ("?", "?"))) from None

    def release(self, namespace: str, value: str, owner_id: str) -> None:
        u = self.store.unique
        self.conn.execute(
            u.delete().where(and_(u.c.namespace == namespace, u.c.value == value, u.c.owner_id == owner_id))
        )

    def owner_of(self, namespace: str, value: str) -> tuple[str, str] | None:
        u = self.store.unique
        row = self.conn.execute(
            select(u.c.owner_type, u.c.owner_id).where(and_(u.c.namespace == namespace, u.c.value == value))
        ).first()
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
