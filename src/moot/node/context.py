"""Everything a node's parts share: data dir, node config, accounts, sessions, control."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from moot.db.nodestore import NodeStore
from moot.node.accounts import Accounts
from moot.node.control import NodeControl, OfflineControl
from moot.node.datadir import DataDir
from moot.node.interfaces import default_route_device
from moot.node.sessions import Sessions
from moot.node.settings import (
    CALL_ID_LENGTH,
    DATABASE_URL,
    NODE_CREATED,
    NODE_ID,
    NodeConfig,
    iface_device,
)

if TYPE_CHECKING:
    from moot.api.engine import Api

log = logging.getLogger("moot.node")


class NodeContext:
    def __init__(self, datadir: DataDir, control: NodeControl | None = None) -> None:
        self.datadir = datadir
        self.new = datadir.ensure()
        self.store = NodeStore(datadir.config_db)
        self.config = NodeConfig(self.store)
        self.accounts = Accounts(self.store)
        self.sessions = Sessions()
        self.control: NodeControl = control or OfflineControl()
        self.started = time.time()
        self._api: Api | None = None
        # Components open the API from worker threads at the same time (web admin, scheduler).
        self._api_lock = threading.Lock()
        self.initialize()

    def initialize(self) -> None:
        """First start: node identity, interface a, the default ``admin`` account."""
        if not self.config.get(NODE_ID):
            device = default_route_device() or "lo"
            self.config.set_many(
                (NODE_ID, str(uuid.uuid4())),
                (NODE_CREATED, time.time()),
                (iface_device("a"), device),
            )
            log.info("new data dir %s; interface a mapped to %s", self.datadir.root, device)
        self.accounts.ensure_default()

    @property
    def node_id(self) -> str:
        return self.config.get(NODE_ID)

    @property
    def database_url(self) -> str:
        return self.config.get(DATABASE_URL) or f"sqlite:///{self.datadir.database_db}"

    @property
    def api(self) -> Api:
        """The REST API over the cluster database (opened on first use, by one thread)."""
        if self._api is not None:
            return self._api
        with self._api_lock:
            return self._open_api()

    def _open_api(self) -> Api:
        if self._api is None:
            from moot.api.catalog import catalog
            from moot.api.engine import Api
            from moot.db.apistore import ApiStore
            from moot.scheduler.meetings import TYPES as MEETING_TYPES

            cat = catalog()
            # The scheduler's meetings live in the same database: declared here too (not
            # routed), so that deleting a space or a user cancels their meetings in the same
            # transaction (moot.scheduler.meetings registers that) and no reference dangles.
            store = ApiStore(self.database_url, (*cat.types, *MEETING_TYPES))
            env: dict[str, Any] = {
                "node": self,
                "started": self.started,
                "call_id_length": self.config.get(CALL_ID_LENGTH),
            }
            self._api = Api(store, cat, env)
            if self.database_url.startswith("sqlite:///"):
                self.datadir.database_db.chmod(0o600)
        return self._api

    def reopen(self) -> None:
        """Reopen the node store and the database (after a rollback replaced them)."""
        self.close_database()
        self.store.close()
        self.store = NodeStore(self.datadir.config_db)
        self.config = NodeConfig(self.store)
        self.accounts = Accounts(self.store)
        self.initialize()

    def close_database(self) -> None:
        if self._api is not None:
            self._api.store.close()
            self._api = None

    def close(self) -> None:
        self.close_database()
        self.store.close()
