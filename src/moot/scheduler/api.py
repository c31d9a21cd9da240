"""The scheduling API on the Scheduler's own listener: ``/api/v1/meetings`` and its OpenAPI document.

The same conventions as the web admin's ``/api/v1`` (form-encoded requests, XML
or JSON answers, ``failureDetails``, Basic authentication of admin and api
accounts), served by the same code over the meetings' catalog. A user's upcoming
meetings: ``GET /api/v1/meetings?organizerFilter=<user id>&endsAfter=now``.
"""

from __future__ import annotations

import json
import socket
import weakref
from typing import TYPE_CHECKING

from aiohttp import web

from moot.api.catalog import catalog as api_catalog
from moot.api.engine import Api
from moot.api.http import ApiHttp
from moot.api.openapi import document
from moot.db.apistore import ApiStore
from moot.node.settings import CALL_ID_LENGTH, WEBBRIDGE_ENABLED, WEBBRIDGE_LISTEN
from moot.scheduler import housekeeping
from moot.scheduler.meetings import MailQueue, SchedulerApi, catalog, make_env, open_store

if TYPE_CHECKING:
    from moot.node.context import NodeContext


class Scheduling:
    """The meetings' store and API engines for one node (one per process and node)."""

    def __init__(self, url: str, outbox: MailQueue | None, call_id_length: int | None = None, hostname: str | None = None) -> None:
        self.store: ApiStore = open_store(url)
        self.env = make_env(outbox, call_id_length, hostname)
        self.api = SchedulerApi(self.store, catalog(), self.env)
        #: The node's API types over the same store: temporary spaces are made in the meeting's transaction.
        self.spaces = Api(self.store, api_catalog(), self.env)

    def set_outbox(self, outbox: MailQueue | None) -> None:
        self.env["outbox"] = outbox

    def close(self) -> None:
        self.store.close()


_by_node: weakref.WeakKeyDictionary[NodeContext, Scheduling] = weakref.WeakKeyDictionary()


def scheduling(node: NodeContext, outbox: MailQueue | None = None) -> Scheduling:
    found = _by_node.get(node)
    if found is None or found.store.url != node.database_url:
        found = _by_node[node] = Scheduling(node.database_url, outbox, node.config.get(CALL_ID_LENGTH),
                                            web_app_host(node))
    elif outbox is not None:
        found.set_outbox(outbox)
    return found


def web_app_host(node: NodeContext) -> str:
    """Where join links point when no ``/webBridges`` object says: this host, at the port of
    its web bridge (``host:9443`` by default, plain ``host`` on 443)."""
    listeners = node.config.get(WEBBRIDGE_LISTEN) if node.config.get(WEBBRIDGE_ENABLED) else []
    port = int(listeners[0]["port"]) if listeners else 443
    host = socket.gethostname()
    return host if port == 443 else f"{host}:{port}"


def openapi_document() -> dict[str, object]:
    doc = document(catalog())
    doc["info"] = {
        **doc["info"],
        "title": "Moot scheduling API",
        "description": "Scheduled meetings (guide 3.6, D.5) on the Scheduler's listener, with the "
        "conventions of /api/v1: form-urlencoded requests, text/xml or JSON responses, failureDetails. "
        "Upcoming meetings of a user: GET /meetings?organizerFilter=<user id>&endsAfter=now.",
    }
    return doc


def http(node: NodeContext, outbox: MailQueue | None) -> ApiHttp:
    front = ApiHttp(node, scheduling(node, outbox).api)
    front._openapi_doc = json.dumps(openapi_document()).encode()
    return front


def routes(node: NodeContext, outbox: MailQueue | None) -> list[web.RouteDef]:
    return http(node, outbox).routes()


async def run_housekeeping(node: NodeContext) -> None:
    """Create temporary spaces before meetings start and remove them after (runs until cancelled)."""
    sched = scheduling(node)
    await housekeeping.run(sched.store, sched.spaces)
