"""Node config settings: each declared once with its key and default."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from moot.db.nodestore import NodeStore

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

INTERFACES = ("a", "b", "c", "d")


@dataclass(frozen=True)
class Setting(Generic[T_co]):
    key: str
    default: T_co
    help: str = ""


class NodeConfig:
    """Typed access to the node's settings, over the node store."""

    def __init__(self, store: NodeStore) -> None:
        self.store = store

    def get(self, setting: Setting[T]) -> T:
        value = self.store.get(setting.key)
        if value is None:
            return copy.deepcopy(setting.default)
        return value  # type: ignore[no-any-return]

    def set(self, setting: Setting[T], value: T) -> None:
        self.store.set(setting.key, value)

    def set_many(self, *pairs: tuple[Setting[Any], Any]) -> None:
        self.store.set_many({s.key: v for s, v in pairs})

    def reset(self, setting: Setting[Any]) -> None:
        self.store.delete(setting.key)


def listener(iface: str, port: int) -> dict[str, Any]:
    return {"iface": iface, "port": port}


# The MMP's own SSH listener (an extension: the guide's MMP is fixed on interface a, port 22).
MMP_LISTEN: Setting[dict[str, Any]] = Setting("mmp.listen", listener("a", 2222))

# Web admin (guide 3.5).
WEBADMIN_ENABLED: Setting[bool] = Setting("webadmin.enabled", True)
WEBADMIN_LISTEN: Setting[dict[str, Any]] = Setting("webadmin.listen", listener("a", 8443))
WEBADMIN_CERTS: Setting[dict[str, Any] | None] = Setting("webadmin.certs", None)
WEBADMIN_HTTP_REDIRECT: Setting[bool] = Setting("webadmin.http_redirect", False)

# Call bridge (guide 3.4). Moot listens on interface a out of the box (operator contract).
CALLBRIDGE_LISTEN: Setting[list[str]] = Setting("callbridge.listen", ["a"])
CALLBRIDGE_CERTS: Setting[dict[str, Any] | None] = Setting("callbridge.certs", None)
CALLBRIDGE_TRUST: Setting[dict[str, str]] = Setting("callbridge.trust", {})
CALLBRIDGE_SIP_PORTS: Setting[dict[str, int]] = Setting(
    "callbridge.sip_ports", {"udp": 5060, "tcp": 5060, "tls": 5061}
)

# Web Bridge 3 (the web app and browsers' WebRTC legs). On by default in a combined server,
# on interface a, port 9443 (operator contract); the guide's 443 works where it may bind.
WEBBRIDGE_ENABLED: Setting[bool] = Setting("webbridge.enabled", True)
WEBBRIDGE_LISTEN: Setting[list[dict[str, Any]]] = Setting("webbridge.listen", [listener("a", 9443)])
WEBBRIDGE_CERTS: Setting[dict[str, Any] | None] = Setting("webbridge.certs", None)
WEBBRIDGE_HTTP_REDIRECT: Setting[bool] = Setting("webbridge.http_redirect", False)

# The cluster database: empty for the embedded SQLite file in the data dir,
# else an SQLAlchemy URL (postgresql+psycopg://user@host/db) shared by the cluster.
DATABASE_URL: Setting[str] = Setting("database.url", "")
#: Digits in auto-generated call IDs.
CALL_ID_LENGTH: Setting[int] = Setting("api.call_id_length", 9)

# Host identity, fixed at data dir creation.
NODE_ID: Setting[str] = Setting("node.id", "")
NODE_CREATED: Setting[float] = Setting("node.created", 0.0)


def iface_device(name: str) -> Setting[str | None]:
    """``iface <name> map <device>``: the host device behind interface a-d."""
    return Setting(f"iface.{name}.device", None)
