"""The Scheduler component (guide 3.6, D.5): HTTPS listener, scheduling API, email outbox.

It runs only where a call bridge runs on the same node (it uses that call bridge's API
in-process). Its HTTPS listener serves the scheduling API (``moot.scheduler.api``, when
present) with ``scheduler https certs``, or a self-signed default certificate
(``scheduler-selfsigned.key``/``.crt`` in the file store, made like the web admin's).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from moot.node.component import Component
from moot.node.context import NodeContext
from moot.node.httpsonly import HttpsOnlySite
from moot.node.interfaces import InterfaceNotMapped, listen_address
from moot.node.settings import CALLBRIDGE_LISTEN
from moot.pki import PkiError, server_ssl_context
from moot.scheduler.mailer import SmtpConfig
from moot.scheduler.outbox import Outbox, OutboxWorker
from moot.scheduler.settings import SCHEDULER_CERTS, SCHEDULER_ENABLED, SCHEDULER_LISTEN
from moot.scheduler.timedlog import TimedLevels
from moot.webadmin.tlsfiles import tls_files

log = logging.getLogger("moot.scheduler")

API_MODULE = "moot.scheduler.api"
NO_CALLBRIDGE = (
    "the scheduler needs a call bridge on this node, and the call bridge listens on no "
    "interface; set one with 'callbridge listen <interface>' first"
)
TIMED_LOGGING_REFRESH = 1.0


def callbridge_enabled(node: NodeContext) -> bool:
    return bool(node.config.get(CALLBRIDGE_LISTEN))


class Scheduler(Component):
    name = "scheduler"
    title = "Scheduler"

    def __init__(self, node: NodeContext) -> None:
        super().__init__(node)
        self.outbox: Outbox | None = None
        self.worker: OutboxWorker | None = None
        self._site: HttpsOnlySite | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._levels = TimedLevels(node.config)

    def enabled(self) -> bool:
        return bool(self.node.config.get(SCHEDULER_ENABLED))

    def smtp_config(self) -> SmtpConfig | None:
        return SmtpConfig.from_config(self.node.config, self.node.datadir)

    async def start(self) -> None:
        node = self.node
        config = node.config
        if not callbridge_enabled(node):
            raise RuntimeError(NO_CALLBRIDGE)
        listen = config.get(SCHEDULER_LISTEN)
        port = int(listen["port"])
        try:
            address = listen_address(config, str(listen["iface"]))
        except InterfaceNotMapped as exc:
            raise RuntimeError(str(exc)) from None
        try:
            files = await asyncio.to_thread(tls_files, node, address, SCHEDULER_CERTS, "scheduler")
            context = server_ssl_context(files.key, files.crt, files.bundle)
        except (PkiError, ValueError) as exc:
            raise RuntimeError(
                f"{exc}; fix with 'scheduler https certs' (or 'scheduler https certs none')"
            ) from None
        context.set_alpn_protocols(["http/1.1"])
        self.outbox = await asyncio.to_thread(lambda: Outbox(node.api.store.engine))
        app = web.Application()
        api = self._api_module()
        if api is not None:
            app.add_routes(api.routes(node, self.outbox))
        site = HttpsOnlySite(app, [(address, port)], context, redirect=False,
                             hint="scheduler https listen <if> <port>", name="scheduler")
        await site.start()
        self._site = site
        self.worker = OutboxWorker(self.outbox, node.node_id, self.smtp_config)
        self._levels.refresh()
        self._spawn(self._timed_logging())
        self._spawn(self._guard("outbox", self.worker.run()))
        if api is not None and hasattr(api, "run_housekeeping"):
            self._spawn(self._guard("housekeeping", api.run_housekeeping(node)))
        self.listeners = site.listeners
        smtp = self.smtp_config()
        email = smtp.describe() if smtp else "no email server"
        self.detail = f"{files.describe()}; email: {email}"

    def _api_module(self) -> Any:
        if importlib.util.find_spec(API_MODULE) is None:
            return None
        return importlib.import_module(API_MODULE)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(coro))

    async def _guard(self, what: str, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scheduler %s stopped on an error", what)

    async def _timed_logging(self) -> None:
        while True:
            try:
                self._levels.refresh()
            except Exception:
                log.exception("scheduler: cannot read timed logging settings")
            await asyncio.sleep(TIMED_LOGGING_REFRESH)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._site is not None:
            await self._site.stop()
            self._site = None
        self._levels.reset()
        self.worker = None
        self.outbox = None
        self.listeners = []
        self.detail = ""
