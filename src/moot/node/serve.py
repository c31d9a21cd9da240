"""``moot serve``: run a node until SIGTERM or the MMP's ``shutdown``."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import time
from collections.abc import Callable

from moot import __version__
from moot.node import logs
from moot.node.components import build_components
from moot.node.context import NodeContext
from moot.node.control import ControlServer, LocalControl
from moot.node.datadir import DataDir
from moot.node.lockfile import AlreadyRunning, NodeLock
from moot.node.supervisor import Supervisor

log = logging.getLogger("moot.node")


def _print(line: str) -> None:
    print(line, flush=True)


async def serve(datadir: DataDir, out: Callable[[str], None] = _print) -> int:
    t0 = time.monotonic()
    datadir.ensure()
    lock = NodeLock(datadir.lock_file)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(
            f"moot serve: a node is already running on {datadir.root} (pid {exc}).\n"
            "Stop it first (MMP 'shutdown', or SIGTERM), or give another --data directory.",
            file=sys.stderr,
        )
        return 1
    try:
        logs.setup(datadir, rotate=True)
        node = NodeContext(datadir)
        out(f"moot {__version__}: node {node.node_id}, data dir {datadir.root}")
        if node.new:
            out(f"new data dir: node config created; admin has no password yet (run: moot mmp --data {datadir.root})")
        sup = Supervisor(node, build_components(node), announce=out)
        local = LocalControl(sup)
        node.control = local
        control = ControlServer(datadir.control_socket, local)
        await control.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, sup.request_stop_now)
        await sup.start_all()
        _tune_gc()
        out(f"ready in {time.monotonic() - t0:.2f} s")
        log.info("node ready")
        await sup.run()
        await control.stop()
        node.close()
        out("stopped")
        log.info("node stopped")
        return 0
    finally:
        lock.release()


def _tune_gc() -> None:
    """Keep the garbage collector's pauses short on a busy call bridge: what start-up made
    (modules, settings, the API catalog) is frozen out of collections, and the young
    generation is collected less often (each SIP transaction allocates many small
    objects; a full collection of a large heap stalled signalling by 100-300 ms)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
