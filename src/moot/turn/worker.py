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
import json
import signal
import ssl
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from moot.turn.allocation import AllocationTable
from moot.turn.credentials import Credentials
from moot.turn.policy import PeerPolicy, parse_networks
from moot.turn.server import Listen, TurnCore, TurnServer

READY = "ready"


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
            replace(self, relay_ports=(low + i * size, low + (i + 1) * size - 1))
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
    listen = [Listen(host, port, tls) for host, port, tls in spec.listen]
    return TurnServer(core, listen, tls_context(spec), reuse_port=reuse_port)


async def serve(spec: ServerSpec) -> None:
    server = build_server(spec, reuse_port=True)
    await server.start()
    print(READY, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The parent going away closes our stdin: stop then too.
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    await stop.wait()
    await server.stop()


def main() -> None:
    spec = ServerSpec.from_json(sys.stdin.readline())
    asyncio.run(serve(spec))


if __name__ == "__main__":
    main()
