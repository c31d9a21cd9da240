"""``factory_reset app|full``: back to a new node's configuration.

``app`` forgets the application: every setting of the components (call bridge,
web admin, web bridge, TURN, scheduler, recording, ...) and the database
(spaces, users, dial plans, scheduled meetings). It keeps what makes the host
reachable and administrable: the node identity, network settings (interfaces,
addresses, DNS, NTP, host name, time zone, firewall, syslog servers), the MMP's
own listener, the MMP accounts and their password rules, the file store
(certificates, keys, licences, backups) and the SSH host keys.

``full`` leaves only the node identity (``node.id``, ``node.created``, so the
cluster still knows the host): all settings go back to their defaults with
interface ``a`` mapped again as on a new node; all MMP accounts are removed and
``admin`` is back with no password (it must be set on the local console before
SSH works); the database, the whole file store (backups included) and the SSH
host keys (new ones are made at the next start) are deleted.

Both keep the logs, so the audit trail of the reset survives it.
"""

from __future__ import annotations

import enum
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from moot.db.nodestore import NodeStore
from moot.node.accounts import Accounts
from moot.node.backup import empty_sqlite, restore_sqlite, staging
from moot.node.context import NodeContext
from moot.node.interfaces import default_route_device
from moot.node.settings import NODE_CREATED, NODE_ID, NodeConfig, iface_device


class Scope(enum.StrEnum):
    APP = "app"
    FULL = "full"


#: Settings an ``app`` reset keeps: identity, network and system settings, MMP access
#: and account rules. A key is kept when it equals one of these or starts with it + ".".
SYSTEM_SETTINGS = (
    "node",
    "iface",
    "net",
    "network",
    "ipv4",
    "ipv6",
    "dns",
    "ntp",
    "hostname",
    "timezone",
    "firewall",
    "syslog",
    "mmp",
    "user",
)
#: Settings a ``full`` reset keeps: the node's identity.
IDENTITY_SETTINGS = (NODE_ID.key, NODE_CREATED.key)


def is_system_setting(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in SYSTEM_SETTINGS)


@dataclass
class ResetPlan:
    """What a reset will remove; worked out before anything changes."""

    scope: Scope
    settings: list[str]
    accounts: bool
    database: bool
    store_files: list[Path] = field(default_factory=list)
    ssh_files: list[Path] = field(default_factory=list)

    @property
    def backups(self) -> list[Path]:
        return [p for p in self.store_files if p.suffix == ".bak"]


def _contents(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.is_dir() else []


def plan(node: NodeContext, scope: Scope) -> ResetPlan:
    keys = list(node.store.items())
    if scope is Scope.APP:
        return ResetPlan(
            scope,
            settings=[k for k in keys if not is_system_setting(k)],
            accounts=False,
            database=node.datadir.database_db.exists(),
        )
    return ResetPlan(
        scope,
        settings=[k for k in keys if k not in IDENTITY_SETTINGS],
        accounts=True,
        database=node.datadir.database_db.exists(),
        store_files=_contents(node.datadir.files),
        ssh_files=_contents(node.datadir.ssh),
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def apply(node: NodeContext, reset: ResetPlan, *, in_use: bool) -> None:
    """Carry out ``reset``. ``in_use``: a running node has the databases open.

    The new node config is prepared on a copy and switched in with one online
    backup, so a process killed half way leaves the old config or the new one.
    """
    if reset.database:
        empty_sqlite(node.datadir.database_db, in_use=in_use)
    for path in reset.store_files + reset.ssh_files:
        _remove(path)
    with staging(node.datadir, "reset") as stage:
        copy = stage / "config.db"
        node.store.backup_to(copy)
        store = NodeStore(copy)
        try:
            config = NodeConfig(store)
            for key in reset.settings:
                store.delete(key)
            if reset.scope is Scope.FULL:
                config.set(iface_device("a"), default_route_device() or "lo")
            if reset.accounts:
                store.clear_accounts()
            # ``admin`` with no password, as on a new node.
            Accounts(store).ensure_default()
        finally:
            store.close()
        restore_sqlite(copy, node.datadir.config_db)
