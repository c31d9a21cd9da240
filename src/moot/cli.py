"""The ``moot`` command: serve, mmp, api, license, version."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from moot import PRODUCT_VERSION, __version__
from moot.api.bulkcli import add_parser as add_api_parser
from moot.licensing.cli import add_parser as add_license_parser
from moot.node.datadir import ENV_HOME, DataDir, default_data_dir


def _data_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"the node's data dir (default: ${ENV_HOME}, else ./moot-data)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moot",
        description="Moot, an open-source meeting server.",
        epilog="Start a node with 'moot serve', then administer it with 'moot mmp' or over SSH.",
    )
    parser.add_argument("--version", action="version", version=f"moot {__version__}")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run a node (all components of a single combined server)",
        description="Run a node on DIR until SIGTERM or the MMP 'shutdown' command. "
        "A new DIR is initialised with the embedded defaults.",
    )
    _data_arg(serve)

    mmp = sub.add_parser(
        "mmp",
        help="the local admin console (MMP)",
        description="The MMP on the local console. Interactive with history and completion, "
        "or run one command with -c (exit status 1 when it fails). "
        "Prompts read from standard input when it is not a terminal.",
    )
    _data_arg(mmp)
    mmp.add_argument("--user", default="admin", help="act as this MMP account (default: admin)")
    mmp.add_argument("-c", dest="command", metavar="CMD", help="run one MMP command and exit")

    data_parent = argparse.ArgumentParser(add_help=False)
    _data_arg(data_parent)
    add_api_parser(sub, data_parent)
    add_license_parser(sub)

    sub.add_parser("version", help="print the version")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cmd is None:
        parser.print_help()
        return 2
    if args.cmd == "version":
        print(f"moot {__version__} (follows the meeting server guide {PRODUCT_VERSION})")
        return 0
    if args.cmd == "license":
        from moot.licensing.cli import run as run_license

        return run_license(args)
    datadir = DataDir((args.data or default_data_dir()).resolve())
    try:
        if args.cmd == "serve":
            from moot.node.serve import serve

            return asyncio.run(serve(datadir))
        if args.cmd == "mmp":
            from moot.mmp.console import run_console

            return asyncio.run(run_console(datadir, args.user, args.command))
        if args.cmd == "api":
            from moot.api.bulkcli import run as run_api

            return run_api(args, datadir)
    except KeyboardInterrupt:
        return 130
    except PermissionError as exc:
        print(f"moot: {exc}. Run as the owner of the data dir.", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
