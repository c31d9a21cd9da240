"""The supervisor: starts the enabled components, restarts one alone, stops all cleanly."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence

from moot import __version__
from moot.node.component import Component, State
from moot.node.context import NodeContext
from moot.node.control import ControlError, NodeStatus

log = logging.getLogger("moot.supervisor")

Announce = Callable[[str], None]


class Supervisor:
    def __init__(
        self,
        node: NodeContext,
        components: Sequence[Component],
        announce: Announce = lambda line: None,
    ) -> None:
        self.node = node
        self.components = {c.name: c for c in components}
        self.announce = announce
        self.started = time.time()
        self._stop = asyncio.Event()
        self._reboot = False
        self._locks: dict[str, asyncio.Lock] = {name: asyncio.Lock() for name in self.components}

    # lifecycle --------------------------------------------------------------
    async def start_all(self) -> None:
        for comp in self.components.values():
            await self._start(comp)

    async def stop_all(self) -> None:
        for comp in reversed(list(self.components.values())):
            await self._stop_one(comp)

    async def _start(self, comp: Component) -> None:
        if not comp.enabled():
            comp.state = State.DISABLED
            comp.listeners = []
            self.announce(f"{comp.name}: disabled")
            return
        comp.state = State.STARTING
        comp.detail = ""
        try:
            await comp.start()
        except Exception as exc:
            comp.state = State.FAILED
            comp.detail = str(exc) or type(exc).__name__
            comp.listeners = []
            log.error("%s failed to start: %s", comp.name, comp.detail, exc_info=not isinstance(exc, OSError))
            self.announce(f"{comp.name}: FAILED to start: {comp.detail}")
            return
        comp.state = State.RUNNING
        if comp.listeners:
            for listener in comp.listeners:
                self.announce(f"{comp.name}: listening on {listener}")
        else:
            self.announce(f"{comp.name}: running" + (f" ({comp.detail})" if comp.detail else ""))
        log.info("%s started %s", comp.name, " ".join(comp.listeners))

    async def _stop_one(self, comp: Component) -> None:
        if comp.state in (State.RUNNING, State.STARTING, State.FAILED):
            comp.state = State.STOPPING
            try:
                await comp.stop()
            except Exception:
                log.exception("%s did not stop cleanly", comp.name)
        comp.state = State.STOPPED
        comp.listeners = []
        log.info("%s stopped", comp.name)

    def _component(self, name: str) -> Component:
        try:
            return self.components[name]
        except KeyError:
            raise ControlError(f"no component {name!r} on this node") from None

    async def restart(self, name: str) -> None:
        comp = self._component(name)
        async with self._locks[name]:
            log.info("restarting %s", name)
            await self._stop_one(comp)
            await self._start(comp)
        if comp.state == State.FAILED:
            raise ControlError(f"{name} failed to start: {comp.detail}")

    async def apply(self, name: str) -> None:
        comp = self._component(name)
        async with self._locks[name]:
            running = comp.state in (State.RUNNING, State.FAILED, State.STARTING)
            if comp.enabled() and not running:
                await self._start(comp)
            elif not comp.enabled() and running:
                await self._stop_one(comp)
                comp.state = State.DISABLED
        if comp.state == State.FAILED:
            raise ControlError(f"{name} failed to start: {comp.detail}")

    def request_stop(self, *, reboot: bool) -> None:
        self._reboot = reboot
        # Let the reply to whoever asked go out before the listeners close.
        asyncio.get_running_loop().call_later(0.2, self._stop.set)

    def request_stop_now(self) -> None:
        """SIGTERM / SIGINT: stop without a reboot."""
        self._reboot = False
        self._stop.set()

    async def run(self) -> None:
        """Run until shutdown; ``reboot`` stops everything and starts it again."""
        while True:
            await self._stop.wait()
            await self.stop_all()
            if not self._reboot:
                return
            log.info("reboot: starting all components again")
            self.announce("rebooting")
            self._stop.clear()
            self._reboot = False
            self.node.reopen()
            self.started = time.time()
            await self.start_all()
            self.announce("ready")

    def node_status(self) -> NodeStatus:
        return NodeStatus(
            pid=os.getpid(),
            started=self.started,
            version=__version__,
            components=[c.status() for c in self.components.values()],
        )
