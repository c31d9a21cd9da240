"""Talking to a running node: from ``moot mmp`` over a Unix socket, or in-process.

The socket is in the data dir's ``run/`` (0700 dir, 0600 socket), so only the
owner of the data dir (the console operator) reaches it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from moot.node.component import ComponentStatus

if TYPE_CHECKING:
    from moot.node.supervisor import Supervisor

log = logging.getLogger("moot.control")


class ControlError(RuntimeError):
    pass


@dataclass
class NodeStatus:
    pid: int
    started: float
    version: str
    components: list[ComponentStatus]

    def component(self, name: str) -> ComponentStatus | None:
        for c in self.components:
            if c.name == name:
                return c
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "started": self.started,
            "version": self.version,
            "components": [c.to_json() for c in self.components],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeStatus:
        return cls(
            data["pid"],
            data["started"],
            data["version"],
            [ComponentStatus.from_json(c) for c in data["components"]],
        )


class NodeControl(Protocol):
    async def status(self) -> NodeStatus | None:
        """The running node's status; None when no node runs on this data dir."""
        ...

    async def restart(self, component: str) -> None: ...

    async def apply(self, component: str) -> None:
        """Start or stop ``component`` to match its enabled setting."""
        ...

    async def shutdown(self) -> None: ...

    async def reboot(self) -> None: ...

    async def evict(self, user: str) -> int: ...

    async def sessions(self) -> list[dict[str, Any]]: ...


class OfflineControl:
    """No node runs: changes are stored and take effect when it starts."""

    async def status(self) -> NodeStatus | None:
        return None

    async def restart(self, component: str) -> None:
        return None

    async def apply(self, component: str) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def reboot(self) -> None:
        return None

    async def evict(self, user: str) -> int:
        return 0

    async def sessions(self) -> list[dict[str, Any]]:
        return []


class LocalControl:
    """In-process control (the node's own SSH sessions and web admin)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.sup = supervisor

    async def status(self) -> NodeStatus | None:
        return self.sup.node_status()

    async def restart(self, component: str) -> None:
        await self.sup.restart(component)

    async def apply(self, component: str) -> None:
        await self.sup.apply(component)

    async def shutdown(self) -> None:
        self.sup.request_stop(reboot=False)

    async def reboot(self) -> None:
        self.sup.request_stop(reboot=True)

    async def evict(self, user: str) -> int:
        return self.sup.node.sessions.evict(user)

    async def sessions(self) -> list[dict[str, Any]]:
        return [
            {"user": s.user, "kind": s.kind, "peer": s.peer, "started": s.started}
            for s in self.sup.node.sessions.all()
        ]


class SocketControl:
    """Client of a running node's control socket."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def _call(self, op: str, **kw: Any) -> Any:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.path)), timeout=5
            )
        except (TimeoutError, OSError) as exc:
            raise ControlError(f"node not reachable ({exc})") from None
        try:
            writer.write(json.dumps({"op": op, **kw}).encode() + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), timeout=120)
        finally:
            writer.close()
        if not line:
            if op in ("shutdown", "reboot"):
                return None
            raise ControlError("node closed the control connection")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise ControlError(reply.get("error", "failed"))
        return reply.get("result")

    async def status(self) -> NodeStatus | None:
        try:
            return NodeStatus.from_json(await self._call("status"))
        except ControlError:
            return None

    async def restart(self, component: str) -> None:
        await self._call("restart", component=component)

    async def apply(self, component: str) -> None:
        await self._call("apply", component=component)

    async def shutdown(self) -> None:
        await self._call("shutdown")

    async def reboot(self) -> None:
        await self._call("reboot")

    async def evict(self, user: str) -> int:
        return int(await self._call("evict", user=user))

    async def sessions(self) -> list[dict[str, Any]]:
        return list(await self._call("sessions"))


def control_for(socket_path: Path) -> NodeControl:
    """A SocketControl when a node seems to run on this data dir, else OfflineControl."""
    return SocketControl(socket_path) if socket_path.exists() else OfflineControl()


class ControlServer:
    def __init__(self, path: Path, local: LocalControl) -> None:
        self.path = path
        self.local = local
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        if self.path.exists():
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._handle, str(self.path))
        finally:
            os.umask(old)

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        if self.path.exists():
            self.path.unlink()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            req = json.loads(line)
            op = req.get("op")
            result: Any = None
            if op == "status":
                status = await self.local.status()
                result = status.to_json() if status else None
            elif op == "restart":
                await self.local.restart(str(req["component"]))
            elif op == "apply":
                await self.local.apply(str(req["component"]))
            elif op == "shutdown":
                await self.local.shutdown()
            elif op == "reboot":
                await self.local.reboot()
            elif op == "evict":
                result = await self.local.evict(str(req["user"]))
            elif op == "sessions":
                result = await self.local.sessions()
            else:
                raise ControlError(f"unknown operation {op!r}")
            reply = {"ok": True, "result": result}
        except (ControlError, KeyError, ValueError) as exc:
            reply = {"ok": False, "error": str(exc)}
        except Exception as exc:  # the control socket must survive anything
            log.exception("control request failed")
            reply = {"ok": False, "error": f"internal error: {exc}"}
        try:
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
