"""The ICE servers the web app is given: the ``/turnServers`` objects of the API.

Each object's ``clientAddress`` (``host[:port]``, port 3478 by default) becomes TURN URLs
over UDP and TCP (``tcpPortNumberOverride`` moves the TCP one). Credentials:

* ``username`` and ``password`` set: long-term credentials, handed out as they are;
* only ``password`` set: it is the server's shared secret (the REST scheme of coturn's
  ``use-auth-secret`` and Moot's ``turn shared-secret``), and each browser gets its own
  time-limited credentials (``<expiry>:<who>`` and their HMAC), valid :data:`TTL` seconds;
* neither: a STUN server only.
"""

from __future__ import annotations

from typing import Any

from moot.api.objects.cluster import TURN_SERVER
from moot.db.apistore import Txn
from moot.turn.credentials import rest_credentials

TTL = 24 * 3600.0
MAX_SERVERS = 8
DEFAULT_PORT = 3478


def _host_port(address: str) -> tuple[str, int]:
    address = address.strip()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest.lstrip(":")
        return f"[{host}]", int(port) if port.isdigit() else DEFAULT_PORT
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return (f"[{address}]" if ":" in address else address), DEFAULT_PORT


def ice_servers(txn: Txn, who: str, *, now: float | None = None) -> list[dict[str, Any]]:
    """RTCIceServer dictionaries for one browser (``who`` names it in REST usernames)."""
    columns = ["clientAddress", "serverAddress", "username", "password", "tcpPortNumberOverride"]
    _, rows = txn.list(TURN_SERVER, None, [], 0, MAX_SERVERS, columns)
    servers: list[dict[str, Any]] = []
    for row in rows:
        address = row.get("clientAddress") or row.get("serverAddress")
        if not address:
            continue
        host, port = _host_port(str(address))
        tcp_port = int(row.get("tcpPortNumberOverride") or port)
        username, password = row.get("username"), row.get("password")
        if not password:
            servers.append({"urls": [f"stun:{host}:{port}"]})
            continue
        if not username:
            username, password = rest_credentials(str(password), who, TTL, now)
        servers.append({
            "urls": [f"turn:{host}:{port}?transport=udp", f"turn:{host}:{tcp_port}?transport=tcp"],
            "username": str(username),
            "credential": str(password),
        })
    return servers
