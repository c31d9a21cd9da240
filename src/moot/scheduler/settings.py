"""The scheduler's node settings (guide 3.6): its HTTPS listener and its email server.

The HTTPS listener defaults to interface a, port 8444: next to the web admin's 8443,
and free of the MMP (2222) and SIP (5060/5061) defaults.

The SMTP password is kept in the node config (the node's config store, a 0600 file
in a 0700 data dir: readable by the node's owner only); it is never shown or logged.
"""

from __future__ import annotations

from typing import Any

from moot.node.settings import Setting, listener

SCHEDULER_ENABLED: Setting[bool] = Setting("scheduler.enabled", False)
SCHEDULER_LISTEN: Setting[dict[str, Any]] = Setting("scheduler.listen", listener("a", 8444))
#: {"key", "crt", "bundle"} in the file store; None: a self-signed default certificate.
SCHEDULER_CERTS: Setting[dict[str, Any] | None] = Setting("scheduler.certs", None)

#: {"host": name or address, "port": int}; None: email is not configured on this scheduler.
EMAIL_SERVER: Setting[dict[str, Any] | None] = Setting("scheduler.email.server", None)
EMAIL_USERNAME: Setting[str | None] = Setting("scheduler.email.username", None)
EMAIL_PASSWORD: Setting[str | None] = Setting("scheduler.email.password", None)
#: "smtp" (plain, optionally STARTTLS) or "smtps" (TLS from the first byte).
EMAIL_PROTOCOL: Setting[str] = Setting("scheduler.email.protocol", "smtp")
EMAIL_AUTH: Setting[bool] = Setting("scheduler.email.auth", False)
EMAIL_STARTTLS: Setting[bool] = Setting("scheduler.email.starttls", False)
#: A certificate or bundle in the file store; None: any server certificate is accepted.
EMAIL_TRUST: Setting[str | None] = Setting("scheduler.email.trust", None)
#: {"address", "name"}; None: invites are sent from the organizer's address.
EMAIL_COMMON_ADDRESS: Setting[dict[str, str] | None] = Setting("scheduler.email.common_address", None)

#: Detailed logging: area -> end time (epoch seconds).
TIMED_LOGGING: Setting[dict[str, float]] = Setting("scheduler.timed_logging", {})

PROTOCOLS = ("smtp", "smtps")
