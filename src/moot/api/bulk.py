"""Bulk import and export of API objects as CSV or JSON (``moot api``).

Every imported row goes through the engine's own create (``Api.create_in``):
the same parsing, defaults, hooks, reference checks and uniqueness claims as
``POST``, so a row is refused for exactly the reason the API would give.
Rows are written in batches, one transaction each: a refused row rolls back
its whole batch (nothing half-imported), or, with ``keep_going``, only itself.

File formats:

* CSV: a header row of parameter names, then one object per row. An empty
  cell means "not given" (the declared default applies).
* JSON: an array of objects (``moot api export`` writes one object per line),
  or JSON Lines. Values may be strings, numbers or booleans; null means "not
  given".

An ``id`` column is ignored (imported objects get new ids), so a file written
by ``export`` can be imported into another node as it is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, Any, TextIO

from sqlalchemy import select

from moot.api.engine import Api, Route
from moot.api.errors import ApiFailure, parameter_error
from moot.api.model import Access, Field, ObjectType

EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}
#: A single JSON object bigger than this is refused rather than read into memory.
MAX_JSON_OBJECT = 16 * 1024 * 1024
ID_COLUMN = "id"

#: Called as rows are handled: (rows handled, fraction of the input read or None).
ProgressFn = Callable[[int, float | None], None]


class BulkError(Exception):
    """The whole operation cannot go on (bad file, unknown collection); says what to do."""


@dataclass(frozen=True)
class Row:
    """One object from the file: its first line, its form, or why it cannot be read."""

    line: int
    form: Sequence[tuple[str, str]] = ()
    error: ApiFailure | None = None


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportResult:
    imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    #: Without keep-going: the row that stopped the import, and the first line of
    #: the batch that was rolled back with it.
    stopped: Rejected | None = None
    batch_start: int | None = None
    #: The file could not be read on (bad CSV/JSON): the batches before stay imported.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.rejected and self.stopped is None and self.error is None


def describe(failure: ApiFailure) -> str:
    """A failure as the API names it: ``parameterError parameter="x" error="invalidValue"``."""
    attrs = "".join(f' {k}="{v}"' for k, v in failure.attrs.items())
    return failure.reason + attrs


# --- collections ---------------------------------------------------------------------


def collection_route(api: Api, path: str) -> Route:
    """The route of a collection path (``coSpaces``, ``coSpaces/<id>/accessMethods``)."""
    try:
        route = api.catalog.resolve(path)
    except ApiFailure:
        known = ", ".join(sorted(t.collection for t in api.catalog.types if t.parent is None and not t.singleton))
        raise BulkError(f"unknown collection {path!r}; known collections: {known}") from None
    if route.oid is not None or route.view is not None or route.otype.singleton or route.otype.query:
        raise BulkError(
            f"{path!r} is not a collection; give one such as 'coSpaces' or 'coSpaces/<id>/accessMethods'"
        )
    if route.otype.parent is not None and route.parent_id is None:
        raise BulkError(f"{path!r} is not a collection")
    if route.parent_id is not None:
        parent = api.catalog.by_name[route.otype.parent or ""]
        with api.store.reader() as txn:
            if not txn.exists(parent.name, route.parent_id):
                raise BulkError(
                    f"{parent.failure_not_found}: no {parent.name} {route.parent_id}; "
                    f"list them with 'moot api export {parent.collection}'"
                )
    return route


def detect_format(name: str | None, explicit: str | None) -> str:
    if explicit:
        return explicit
    if name and name != "-":
        for ext, fmt in EXTENSIONS.items():
            if name.lower().endswith(ext):
                return fmt
    raise BulkError("cannot tell the file format from its name; give --format csv or --format json")


# --- reading -------------------------------------------------------------------------


class CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read through it (for progress)."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def _cell(key: str, value: Any) -> str | None:
    """A JSON value as the form value the API would receive; None when not given."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise parameter_error(key)


def _form(pairs: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    form: list[tuple[str, str]] = []
    for key, value in pairs:
        if key == ID_COLUMN:
            continue
        cell = _cell(key, value)
        if cell is not None and cell != "":
            form.append((key, cell))
    return form


def read_csv(stream: TextIO) -> Iterator[Row]:
    reader = csv.reader(stream, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise BulkError(f"line 1: not valid CSV ({exc})") from None
    header = [h.strip() for h in header]
    if not any(header):
        raise BulkError("line 1: the header row names no parameters")
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise BulkError(f"line 1: parameters named twice in the header: {', '.join(duplicates)}")
    previous_end = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise BulkError(f"line {previous_end + 1}: not valid CSV ({exc})") from None
        line = previous_end + 1
        previous_end = reader.line_num
        if not cells or (len(cells) == 1 and cells[0] == ""):
            continue
        if len(cells) > len(header):
            yield Row(line, error=parameter_error("row", "tooManyValues"))
            continue
        try:
            yield Row(line, _form(zip(header, cells, strict=False)))
        except ApiFailure as failure:
            yield Row(line, error=failure)


def read_json(stream: TextIO) -> Iterator[Row]:
    """Objects from a JSON array or JSON Lines, each with the line it starts on."""
    decoder = json.JSONDecoder()
    buffer = ""
    line = 1
    eof = False
    in_array: bool | None = None

    def fill() -> bool:
        nonlocal buffer, eof
        chunk = stream.read(65536)
        if not chunk:
            eof = True
            return False
        buffer += chunk
        return True

    def skip(chars: str) -> None:
        nonlocal buffer, line
        i = 0
        while i < len(buffer) and buffer[i] in chars:
            i += 1
        line += buffer.count("\n", 0, i)
        buffer = buffer[i:]

    while True:
        skip(" \t\r\n" + ("," if in_array else ""))
        if not buffer:
            if eof or not fill():
                if in_array:
                    raise BulkError(f"line {line}: the JSON array is not closed with ']'")
                return
            continue
        if in_array is None:
            in_array = buffer[0] == "["
            if in_array:
                buffer = buffer[1:]
            continue
        if in_array and buffer[0] == "]":
            buffer = buffer[1:]
            skip(" \t\r\n")
            if buffer or fill():
                skip(" \t\r\n")
                if buffer:
                    raise BulkError(f"line {line}: unexpected text after the JSON array")
            return
        try:
            obj, end = decoder.raw_decode(buffer)
        except json.JSONDecodeError as exc:
            if not eof and len(buffer) < MAX_JSON_OBJECT and fill():
                continue
            raise BulkError(
                f"line {line}: not valid JSON ({exc.msg} at line {line + exc.lineno - 1} "
                f"column {exc.colno})"
            ) from None
        if end == len(buffer) and not eof and isinstance(obj, (int, float)) and fill():
            continue  # a number may go on in the next chunk
        start = line
        line += buffer.count("\n", 0, end)
        buffer = buffer[end:]
        if not isinstance(obj, dict):
            yield Row(start, error=parameter_error("row", "notAnObject"))
            continue
        try:
            yield Row(start, _form(obj.items()))
        except ApiFailure as failure:
            yield Row(start, error=failure)


def read_rows(stream: TextIO, fmt: str) -> Iterator[Row]:
    return read_csv(stream) if fmt == "csv" else read_json(stream)


# --- import --------------------------------------------------------------------------


class _Stop(Exception):
    def __init__(self, rejected: Rejected) -> None:
        super().__init__(str(rejected))
        self.rejected = rejected


def import_rows(
    api: Api,
    route: Route,
    rows: Iterable[Row],
    *,
    batch: int,
    keep_going: bool = False,
    progress: ProgressFn | None = None,
    fraction: Callable[[], float | None] = lambda: None,
) -> ImportResult:
    """Create one object per row; ``batch`` rows per transaction (0: all in one)."""
    if not route.otype.creatable:
        raise BulkError(f"{route.path} cannot be created through the API (read-only)")
    result = ImportResult()
    handled = 0
    it = iter(rows)
    while True:
        try:
            chunk = list(islice(it, batch or None))
        except BulkError as exc:
            result.error = str(exc)
            return result
        if not chunk:
            return result
        done = 0
        rejected: list[Rejected] = []
        try:
            with api.store.txn() as txn:
                for row in chunk:
                    try:
                        if row.error is not None:
                            raise row.error
                        if keep_going:
                            with txn.conn.begin_nested():
                                api.create_in(txn, route, row.form)
                        else:
                            api.create_in(txn, route, row.form)
                        done += 1
                    except ApiFailure as failure:
                        bad = Rejected(row.line, describe(failure))
                        if not keep_going:
                            raise _Stop(bad) from None
                        rejected.append(bad)
                    handled += 1
                    if progress is not None:
                        progress(handled, fraction())
        except _Stop as stop:
            result.stopped = stop.rejected
            result.batch_start = chunk[0].line
            return result
        result.imported += done
        result.rejected.extend(rejected)


# --- export --------------------------------------------------------------------------


def export_fields(otype: ObjectType) -> list[Field]:
    """The parameters an export carries: those a create accepts and GET shows."""
    return [f for f in otype.fields if f.access is Access.READ_WRITE]


@contextmanager
def exported(api: Api, route: Route) -> Iterator[tuple[int, Iterator[dict[str, Any]]]]:
    """(count, objects) of a collection in list order, from one read snapshot."""
    otype = route.otype
    fields = export_fields(otype)
    with api.store.reader() as txn:
        table = api.store.tables[otype.name]
        cols = [table.c.id] + [table.c[f.name] for f in fields if f.name in table.c]
        q = select(*cols)
        if route.parent_id is not None:
            q = q.where(table.c.parent_id == route.parent_id)
        q = q.order_by(*[table.c[name] for name in otype.order_by], table.c.seq)
        total = txn.count(otype, route.parent_id)

        def objects() -> Iterator[dict[str, Any]]:
            for r in txn.conn.execution_options(yield_per=2000).execute(q):
                yield dict(r._mapping)

        yield total, objects()


def _shown(f: Field, value: Any) -> str:
    return "" if value is None else f.kind.show(value)


def _json_value(f: Field, value: Any) -> Any:
    if value is None or isinstance(value, (bool, int)):
        return value
    return f.kind.show(value)


def write_csv(out: TextIO, otype: ObjectType, objects: Iterable[dict[str, Any]], progress: ProgressFn | None = None) -> int:
    fields = export_fields(otype)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([ID_COLUMN] + [f.name for f in fields])
    n = 0
    for obj in objects:
        writer.writerow([obj[ID_COLUMN]] + [_shown(f, obj.get(f.name)) for f in fields])
        n += 1
        if progress is not None:
            progress(n, None)
    return n


def write_json(out: TextIO, otype: ObjectType, objects: Iterable[dict[str, Any]], progress: ProgressFn | None = None) -> int:
    """A JSON array, one object per line (readable by line-oriented tools too)."""
    fields = export_fields(otype)
    out.write("[")
    n = 0
    for obj in objects:
        data: dict[str, Any] = {ID_COLUMN: obj[ID_COLUMN]}
        for f in fields:
            value = obj.get(f.name)
            if value is not None:
                data[f.name] = _json_value(f, value)
        out.write(("\n" if n == 0 else ",\n") + json.dumps(data, ensure_ascii=False))
        n += 1
        if progress is not None:
            progress(n, None)
    out.write("\n]\n")
    return n


def write_rows(out: TextIO, fmt: str, otype: ObjectType, objects: Iterable[dict[str, Any]], progress: ProgressFn | None = None) -> int:
    writer = write_csv if fmt == "csv" else write_json
    return writer(out, otype, objects, progress)
