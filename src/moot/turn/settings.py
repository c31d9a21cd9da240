"""Node settings of the TURN server (guide 3.x ``turn`` commands, plus Moot extensions)."""

from __future__ import annotations

from typing import Any

from moot.node.settings import Setting

TURN_ENABLED: Setting[bool] = Setting("turn.enabled", False)
TURN_LISTEN: Setting[list[str]] = Setting("turn.listen", [])
#: {"username", "password", "realm"} from ``turn credentials``.
TURN_CREDENTIALS: Setting[dict[str, str] | None] = Setting("turn.credentials", None)
TURN_PUBLIC_IP: Setting[str | None] = Setting("turn.public_ip", None)
TURN_TLS_PORT: Setting[int | None] = Setting("turn.tls_port", None)
TURN_CERTS: Setting[dict[str, Any] | None] = Setting("turn.certs", None)
TURN_HIGHCAPACITY: Setting[bool] = Setting("turn.highcapacity", True)
# Extensions (not in the guide).
TURN_PORT: Setting[int] = Setting("turn.port", 3478, "UDP and TCP port")
TURN_SHARED_SECRET: Setting[str | None] = Setting(
    "turn.shared_secret", None, "secret of time-limited (REST) credentials"
)
TURN_RELAY_PORTS: Setting[list[int]] = Setting("turn.relay_ports", [49152, 65535])
TURN_ALLOWED_PEERS: Setting[list[str]] = Setting(
    "turn.allowed_peers", [], "networks relayed to despite the denied ranges"
)
TURN_USER_QUOTA: Setting[int] = Setting("turn.user_quota", 10, "allocations per user")
TURN_BANDWIDTH: Setting[int] = Setting("turn.bandwidth", 0, "bytes/s per allocation, 0 = no cap")
TURN_WORKERS: Setting[int] = Setting("turn.workers", 0, "high-capacity workers, 0 = one per core")
