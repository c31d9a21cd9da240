"""MMP ``syslog``: the node's log files, and following the log live (``syslog follow``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from moot.mmp.context import Context
from moot.mmp.registry import READ, command
from moot.node import logs

#: Lines shown before following starts.
TAIL_LINES = 20
POLL_SECONDS = 0.2
_BLOCK = 64 * 1024


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")


class LogFollower:
    """The lines appended to a log file, across rotation (rename, new file) and truncation.

    The open file is kept until the path names another file, and read to its end
    first, so lines written just before a rotation are not lost.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._partial = b""
        self._open(at_end=True)

    def _open(self, *, at_end: bool) -> None:
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 (kept open while following)
        except FileNotFoundError:
            self._file = None
            return
        if at_end:
            self._file.seek(0, os.SEEK_END)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def tail(self, count: int) -> list[str]:
        """The last ``count`` complete lines before where following starts."""
        if self._file is None or count <= 0:
            return []
        f = self._file
        end = f.tell()
        data = b""
        pos = end
        while pos > 0 and data.count(b"\n") <= count:
            step = min(_BLOCK, pos)
            pos -= step
            f.seek(pos)
            data = f.read(step) + data
        f.seek(end)
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        else:
            # An unfinished last line is printed when it is finished.
            self._partial = lines.pop() if lines else b""
        return [_decode(line) for line in lines[-count:]]

    def _read(self) -> list[str]:
        assert self._file is not None
        data = self._partial + self._file.read()
        *lines, self._partial = data.split(b"\n")
        return [_decode(line) for line in lines]

    def poll(self) -> list[str]:
        """Lines written since the last poll."""
        if self._file is None:
            self._open(at_end=False)
            if self._file is None:
                return []
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        lines = self._read()
        mine = os.fstat(self._file.fileno())
        if current is None:
            return lines
        if (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
            # Rotated before the stat above: the old file is complete and read.
            if self._partial:
                lines.append(_decode(self._partial))
                self._partial = b""
            self.close()
            self._open(at_end=False)
            if self._file is not None:
                lines += self._read()
        elif current.st_size < self._file.tell():
            # Truncated in place: start again from its beginning.
            self._file.seek(0)
            self._partial = b""
            lines += self._read()
        return lines


@contextlib.contextmanager
def _signals_stop(stop: asyncio.Event, enabled: bool) -> Iterator[None]:
    """Ctrl-C / SIGTERM end the follow instead of the process (console and ``-c`` only)."""
    sigs = (signal.SIGINT, signal.SIGTERM)
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    for sig in sigs:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in sigs:
            loop.remove_signal_handler(sig)


async def _until_input(ctx: Context, stop: asyncio.Event) -> None:
    """A line, Ctrl-C or the end of input (the SSH channel closing) ends the follow."""
    await ctx.term.read_line("")
    stop.set()


async def follow(ctx: Context, path: Path, stop: asyncio.Event) -> None:
    """Print the last lines of ``path``, then new lines as they come, until ``stop``."""
    follower = LogFollower(path)
    try:
        for line in follower.tail(TAIL_LINES):
            ctx.print(line)
        while not stop.is_set():
            for line in follower.poll():
                ctx.print(line)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)
        for line in follower.poll():
            ctx.print(line)
    finally:
        follower.close()


def _log_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file())


@command("syslog", help="The node's log files, their sizes and rotation", roles=READ)
async def syslog_status(ctx: Context) -> None:
    rows: list[tuple[str, object]] = [("Directory", ctx.node.datadir.logs)]
    for path in _log_files(ctx.node.datadir.logs):
        st = path.stat()
        written = time.strftime("%Y-%b-%d %H:%M:%S UTC", time.gmtime(st.st_mtime))
        rows.append((path.name, f"{st.st_size} bytes, last written {written}"))
    rows.append(
        ("Rotation", f"at {logs.MAX_BYTES // (1024 * 1024)} MiB, {logs.BACKUPS} old files kept")
    )
    ctx.table(rows)


@command(
    "syslog follow",
    help="Show the last lines of the node's log, then new lines as they are written; "
    "Ctrl-C (or closing the session) stops",
    roles=READ,
)
async def syslog_follow(ctx: Context) -> None:
    stop = asyncio.Event()
    local = ctx.channel in ("console", "command")
    # ``moot mmp -c`` follows until a signal, whatever its standard input; an interactive
    # console stops on Ctrl-C; SSH and piped consoles stop at a line or the end of input.
    watch_input = ctx.channel == "ssh" or (ctx.channel == "console" and not ctx.term.interactive)
    if ctx.term.interactive:
        ctx.print(f"Following {ctx.node.datadir.syslog}; press Ctrl-C to stop.")
    watcher = asyncio.create_task(_until_input(ctx, stop)) if watch_input else None
    try:
        with _signals_stop(stop, local):
            await follow(ctx, ctx.node.datadir.syslog, stop)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
