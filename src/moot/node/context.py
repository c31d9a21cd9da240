"""Everything a node's parts share: data dir, node config, accounts, sessions, control."""

from __future__ import annotations

import logging
import time
import uuid

from moot.db.nodestore import NodeStore
from moot.node.accounts import Accounts
from moot.node.control import NodeControl, OfflineControl
from moot.node.datadir import DataDir
from moot.node.interfaces import default_route_device
from moot.node.sessions import Sessions
from moot.node.settings import NODE_CREATED, NODE_ID, NodeConfig, iface_device

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

    def reopen(self) -> None:
        """Reopen the node store (after a rollback replaced it on disk)."""
        self.store.close()
        self.store = NodeStore(self.datadir.config_db)
        self.config = NodeConfig(self.store)
        self.accounts = Accounts(self.store)
        self.initialize()

    def close(self) -> None:
        self.store.close()
