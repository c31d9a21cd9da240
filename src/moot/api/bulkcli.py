"""``moot api export|import``: bulk tooling for operators migrating many objects.

Works directly on the node's database (the running node may stay up: SQLite
WAL and PostgreSQL both let it go on serving while a batch is written).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, TextIO

from moot.node.datadir import DataDir

if TYPE_CHECKING:
    from moot.api.engine import Api

# The engine and the database driver are imported when a command runs, so that
# building the ``moot`` parser stays quick.

FORMATS = ("csv", "json")
DEFAULT_BATCH = 1000

#: Rejected rows listed in full; beyond that, only counted.
MAX_LISTED = 50

EPILOG = """\
examples:
  moot api export --data /srv/moot coSpaces --output spaces.csv
  moot api import --data /srv/moot coSpaces spaces.csv
  moot api import --data /srv/moot coSpaces/<id>/accessMethods methods.json
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], data_arg: argparse.ArgumentParser) -> None:
    """The ``api`` subcommand; ``data_arg`` is a parent parser giving ``--data``."""
    api = sub.add_parser(
        "api",
        help="import/export API objects (CSV or JSON) in bulk",
        description="Bulk import and export of API objects (spaces, users, ...) directly on\n"
        "the node's database, with the same validation and failure reasons as the REST API.\n"
        "Run 'moot api ACTION --help' for the file formats and options.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = api.add_subparsers(dest="api_cmd", metavar="ACTION", required=True)

    exp = actions.add_parser(
        "export",
        parents=[data_arg],
        help="write every object of a collection as CSV or JSON",
        description="Write every object of COLLECTION with the parameters a create accepts "
        "(plus its id), in list order. The file can be imported as it is.",
    )
    exp.add_argument("collection", metavar="COLLECTION", help="e.g. coSpaces, or coSpaces/<id>/accessMethods")
    exp.add_argument("--format", choices=FORMATS, help="csv or json (default: from --output's name, else csv)")
    exp.add_argument("--output", "-o", metavar="FILE", help="write to FILE (default: standard output)")

    imp = actions.add_parser(
        "import",
        parents=[data_arg],
        help="create objects from a CSV or JSON file",
        description="Create one object of COLLECTION per row of FILE (CSV: a header row of "
        "parameter names; JSON: an array of objects or JSON Lines). Each row is validated "
        "exactly as a POST to the API; refused rows are reported with their line number and "
        "the API's failure reason. Rows are written BATCH at a time, one transaction each: "
        "by default the first refused row stops the import and its batch is rolled back "
        "(earlier batches stay). An 'id' column is ignored; empty cells mean 'not given'.",
    )
    imp.add_argument("collection", metavar="COLLECTION", help="e.g. coSpaces, or coSpaces/<id>/accessMethods")
    imp.add_argument("file", metavar="FILE", help="the CSV or JSON file ('-' for standard input)")
    imp.add_argument("--format", choices=FORMATS, help="csv or json (default: from FILE's name)")
    imp.add_argument(
        "--batch",
        type=_batch,
        default=DEFAULT_BATCH,
        metavar="N",
        help=f"rows per transaction (default {DEFAULT_BATCH}; 0: the whole file in one transaction)",
    )
    imp.add_argument(
        "--keep-going",
        action="store_true",
        help="skip refused rows (reported at the end) instead of stopping at the first",
    )
    imp.add_argument(
        "--from-line",
        type=_batch,
        default=0,
        metavar="L",
        help="skip the rows before line L (to resume after fixing a refused row)",
    )


def _batch(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def run(args: argparse.Namespace, datadir: DataDir) -> int:
    if not datadir.exists():
        print(
            f"moot api: no node data dir at {datadir.root}; give the node's --data DIR",
            file=sys.stderr,
        )
        return 1
    from moot.api.bulk import BulkError
    from moot.node.context import NodeContext

    node = NodeContext(datadir)
    try:
        if args.api_cmd == "export":
            return _export(node.api, args)
        return _import(node.api, args)
    except BulkError as exc:
        print(f"moot api: {exc}", file=sys.stderr)
        return 1
    finally:
        node.close()


def _export(api: Api, args: argparse.Namespace) -> int:
    from moot.api.bulk import collection_route, detect_format, exported, write_rows
    from moot.api.progress import Progress

    fmt = args.format or (detect_format(args.output, None) if args.output and "." in Path(args.output).name else "csv")
    route = collection_route(api, args.collection)
    progress = Progress(f"export {route.path}")
    with exported(api, route) as (total, objects), _output(args.output) as out:
        n = write_rows(out, fmt, route.otype, objects, lambda rows, _: progress.update(rows, rows / total if total else None))
    progress.finish()
    return 0 if n == total else 1


@contextmanager
def _output(name: str | None) -> Iterator[TextIO]:
    if not name or name == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    tmp = Path(f"{name}.part")
    with open(tmp, "w", encoding="utf-8", newline="") as out:
        yield out
    os.replace(tmp, name)


def _import(api: Api, args: argparse.Namespace) -> int:
    from moot.api.bulk import (
        BulkError,
        CountingReader,
        Row,
        collection_route,
        detect_format,
        import_rows,
        read_rows,
    )
    from moot.api.progress import Progress

    fmt = detect_format(args.file, args.format)
    route = collection_route(api, args.collection)
    raw: IO[bytes]
    if args.file == "-":
        raw, size = sys.stdin.buffer, 0
    else:
        try:
            raw = open(args.file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise BulkError(f"cannot read {args.file}: {exc.strerror}") from None
        size = os.fstat(raw.fileno()).st_size
    counter = CountingReader(raw)
    text = _text(counter)
    progress = Progress(f"import {route.path}")
    rows: Iterator[Row] = read_rows(text, fmt)
    if args.from_line:
        rows = (r for r in rows if r.line >= args.from_line)
    try:
        result = import_rows(
            api,
            route,
            rows,
            batch=args.batch,
            keep_going=args.keep_going,
            progress=progress.update,
            fraction=lambda: counter.count / size if size else None,
        )
    except UnicodeDecodeError:
        progress.clear()
        raise BulkError(f"{args.file} is not UTF-8 text; save it as UTF-8 and try again") from None
    except BulkError:
        progress.clear()
        raise
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()
    progress.rows = result.imported
    progress.finish()
    for bad in result.rejected[:MAX_LISTED]:
        print(f"rejected {bad}", file=sys.stderr)
    if len(result.rejected) > MAX_LISTED:
        print(f"... and {len(result.rejected) - MAX_LISTED} more rejected rows", file=sys.stderr)
    if result.stopped is not None:
        print(f"rejected {result.stopped}", file=sys.stderr)
        print(
            f"import stopped: {result.imported} objects were created (rows before line "
            f"{result.batch_start}); the batch from line {result.batch_start} was rolled back. "
            f"Fix line {result.stopped.line} and resume with --from-line {result.batch_start}, "
            "or use --keep-going to skip refused rows.",
            file=sys.stderr,
        )
        return 1
    if result.error is not None:
        print(f"moot api: {result.error}", file=sys.stderr)
        print(
            f"import stopped: {result.imported} objects were created (the batches before the "
            "unreadable part); fix the file and resume with --from-line.",
            file=sys.stderr,
        )
        return 1
    summary = f"imported {result.imported} objects into {route.path}"
    if result.rejected:
        summary += f"; {len(result.rejected)} rows rejected"
    print(summary)
    return 1 if result.rejected else 0


def _text(raw: io.RawIOBase) -> TextIO:
    return io.TextIOWrapper(io.BufferedReader(raw, 65536), encoding="utf-8-sig", newline="")
