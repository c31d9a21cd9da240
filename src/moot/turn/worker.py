"""What a TURN server needs to run, as JSON, and a worker process serving it.

The component builds :class:`ServerSpec` from the node settings. It serves it
in-process, or, in high-capacity mode, hands it to N ``python -m
moot.turn.worker`` processes. Each worker binds the same UDP/TCP/TLS ports
with SO_REUSEPORT (the kernel spreads clients over them by 4-tuple, so one
client's packets always reach the same worker) and owns its own slice of the
relay port range. Workers share the nonce secret, so nonces work everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import ssl
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from moot.turn.allocation import AllocationTable
from moot.turn.credentials import Credentials
from moot.turn.policy import PeerPolicy, parse_networks
from moot.turn.quota import QuotaArbiter, QuotaClient
from moot.turn.server import Forwarder, Listen, TurnCore, TurnServer, serve_messages
from moot.turn.stun import Address

log = logging.getLogger(__name__)

READY = "ready"
WORKER_START_TIMEOUT = 20.0


@dataclass
class ServerSpec:
    listen: list[tuple[str, int, int | None]]
    realm: str
    users: dict[str, str]
    relay_ip: str
    relay_ports: tuple[int, int]
    nonce_secret: str  # hex
    shared_secret: str | None = None
    public_ip: str | None = None
    allowed_peers: list[str] = field(default_factory=list)
    user_quota: int = 10
    bandwidth: int = 0
    tls: tuple[str, str, str | None] | None = None  # key, crt, bundle paths
    #: The worker's number in high-capacity mode (None: the only server process).
    worker: int | None = None
    #: Ask the main process (:class:`WorkerPool`) before each allocation: the user quota
    #: then holds across all workers. Off, each worker counts only its own.
    shared_quota: bool = False
    #: Names the workers' Unix sockets that pass on misrouted ConnectionBind streams.
    pool_token: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServerSpec:
        data: dict[str, Any] = json.loads(text)
        data["listen"] = [tuple(x) for x in data["listen"]]
        data["relay_ports"] = tuple(data["relay_ports"])
        data["tls"] = tuple(data["tls"]) if data["tls"] else None
        return cls(**data)

    def listeners(self) -> list[str]:
        out = []
        for host, port, tls_port in self.listen:
            out += [f"udp {host}:{port}", f"tcp {host}:{port}"]
            if tls_port and self.tls:
                out.append(f"tls {host}:{tls_port}")
        return out

    def split(self, count: int) -> list[ServerSpec]:
        """``count`` specs with disjoint slices of the relay port range."""
        low, high = self.relay_ports
        size = (high - low + 1) // count
        if size < 1:
            raise ValueError(f"relay port range {low}-{high} is too small for {count} workers")
        return [
            replace(self, relay_ports=(low + i * size, low + (i + 1) * size - 1), worker=i)
            for i in range(count)
        ]


def tls_context(spec: ServerSpec) -> ssl.SSLContext | None:
    if not spec.tls or not any(port for _, _, port in spec.listen):
        return None
    from moot.pki import server_ssl_context

    key, crt, bundle = spec.tls
    return server_ssl_context(Path(key), Path(crt), Path(bundle) if bundle else None)


def build_server(spec: ServerSpec, reuse_port: bool = False) -> TurnServer:
    credentials = Credentials(
        spec.realm, dict(spec.users), spec.shared_secret, bytes.fromhex(spec.nonce_secret)
    )
    table = AllocationTable(
        spec.relay_ip, spec.relay_ports, user_quota=spec.user_quota, bandwidth=spec.bandwidth
    )
    core = TurnCore(
        credentials, table, PeerPolicy(allowed=parse_networks(spec.allowed_peers)),
        public_ip=spec.public_ip,
    )
    if spec.worker is not None:
        core.connections.prefix = spec.worker + 1  # 0 is the single-process server's
    listen = [Listen(host, port, tls) for host, port, tls in spec.listen]
    return TurnServer(core, listen, tls_context(spec), reuse_port=reuse_port)


def _write_stdout(data: bytes) -> None:
    with contextlib.suppress(OSError):  # the main process has gone: we are stopping anyway
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


async def _read_answers(quota: QuotaClient, stop: asyncio.Event) -> None:
    """Quota answers from the main process on stdin; its end (the parent went away) stops us."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            quota.answered(line)
    finally:
        stop.set()


def _unix_name(token: str, prefix: int) -> str:
    return f"\0moot-turn-{token}-{prefix}"  # Linux abstract namespace: no file to clean up


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    sink.close()


def _forwarder(token: str) -> Forwarder:
    """Passes a client stream on to the worker with CONNECTION-ID prefix ``owner``.

    SO_REUSEPORT may hand a client's new data connection to any worker; the one
    that holds the peer connection gets the ConnectionBind (and then the data)
    through this worker, over a Unix socket, after a line saying who the client is.
    """

    async def forward(
        owner: int, origin: tuple[str, Address, Address], first: bytes,
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
    ) -> None:
        try:
            far_reader, far_writer = await asyncio.open_unix_connection(_unix_name(token, owner))
        except OSError:
            return
        far_writer.write(json.dumps(origin).encode() + b"\n" + first)
        await asyncio.gather(_pipe(reader, far_writer), _pipe(far_reader, writer))

    return forward


async def _serve_forwarded(
    core: TurnCore, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        kind, client, server = json.loads(await reader.readline())
    except ValueError:
        writer.close()
        return
    await serve_messages(core, str(kind), tuple(client), tuple(server), reader, writer)


async def serve(spec: ServerSpec) -> None:
    server = build_server(spec, reuse_port=True)
    quota = QuotaClient(_write_stdout)
    if spec.shared_quota:
        server.core.table.shared = quota
    forwarded: asyncio.Server | None = None
    if spec.pool_token is not None:
        core = server.core
        server.core.forward = _forwarder(spec.pool_token)
        forwarded = await asyncio.start_unix_server(
            lambda r, w: _serve_forwarded(core, r, w),
            _unix_name(spec.pool_token, core.connections.prefix),
        )
    await server.start()
    print(READY, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    answers = loop.create_task(_read_answers(quota, stop))
    await stop.wait()
    answers.cancel()
    if forwarded is not None:
        forwarded.close()
    await server.stop()


class WorkerPool:
    """High-capacity mode: N worker processes and the arbiter of their shared user quota."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.arbiter = QuotaArbiter(0)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, spec: ServerSpec, count: int) -> None:
        self.arbiter = QuotaArbiter(spec.user_quota)
        token = secrets.token_hex(8)
        try:
            for part in spec.split(count):
                part = replace(part, shared_quota=True, pool_token=token)
                self.procs.append(await self._start_worker(part))
        except BaseException:
            await self.stop()
            raise

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_worker(self, spec: ServerSpec) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "moot.turn.worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(spec.to_json().encode() + b"\n")
        await proc.stdin.drain()
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), WORKER_START_TIMEOUT)
        except TimeoutError:
            line = b""
        if line.decode().strip() != READY:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            err = (await proc.stderr.read()).decode(errors="replace").strip().splitlines()
            raise RuntimeError(f"TURN worker failed to start: {err[-1] if err else 'no output'}")
        self._spawn(self._drain(proc.stderr))
        self._spawn(self._arbitrate(spec.worker or 0, proc))
        return proc

    @staticmethod
    async def _drain(stream: asyncio.StreamReader) -> None:
        """Log what a worker writes to stderr (so that its pipe never fills up)."""
        async for line in stream:
            log.warning("turn worker: %s", line.decode(errors="replace").rstrip())

    async def _arbitrate(self, worker: int, proc: asyncio.subprocess.Process) -> None:
        """Answer one worker's quota requests until it ends."""
        assert proc.stdout is not None and proc.stdin is not None
        try:
            async for line in proc.stdout:
                reply = self.arbiter.answer(worker, line)
                if reply is not None and not proc.stdin.is_closing():
                    proc.stdin.write(reply)
        finally:
            self.arbiter.forget(worker)

    async def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self.procs.clear()
        for task in list(self._tasks):
            task.cancel()


def main() -> None:
    spec = ServerSpec.from_json(sys.stdin.readline())
    asyncio.run(serve(spec))


if __name__ == "__main__":
    main()
