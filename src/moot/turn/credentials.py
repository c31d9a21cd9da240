"""TURN credentials: long-term (RFC 8489 section 9.2) and time-limited REST-style ones.

Nonces are stateless: ``<hex timestamp><HMAC>`` under a per-server secret, so
worker processes that share the secret accept each other's nonces; a nonce
older than ``nonce_lifetime`` is stale (438). REST credentials (the
draft-uberti-behave-turn-rest scheme coturn calls ``use-auth-secret``):
username ``"<expiry-unix>:<user>"``, password ``base64(HMAC-SHA1(secret, username))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from moot.turn.stun import long_term_key

NONCE_LIFETIME = 600.0
_NONCE_MAC_HEX = 16


class NonceState(Enum):
    VALID = "valid"
    STALE = "stale"


def rest_password(secret: str, username: str) -> str:
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def rest_credentials(secret: str, user: str, ttl: float, now: float | None = None) -> tuple[str, str]:
    """A time-limited (username, password) pair valid for ``ttl`` seconds, for ICE server lists."""
    expiry = int((time.time() if now is None else now) + ttl)
    username = f"{expiry}:{user}" if user else str(expiry)
    return username, rest_password(secret, username)


@dataclass
class Credentials:
    realm: str
    users: dict[str, str] = field(default_factory=dict)
    shared_secret: str | None = None
    nonce_secret: bytes = field(default_factory=lambda: os.urandom(16))
    nonce_lifetime: float = NONCE_LIFETIME
    clock: Callable[[], float] = time.time

    def _nonce_mac(self, stamp: str) -> str:
        return hmac.new(self.nonce_secret, stamp.encode(), hashlib.sha256).hexdigest()[:_NONCE_MAC_HEX]

    def new_nonce(self) -> str:
        stamp = format(int(self.clock()), "x")
        return stamp + self._nonce_mac(stamp)

    def check_nonce(self, nonce: str) -> NonceState:
        """VALID if this server issued ``nonce`` and it has not expired; else STALE."""
        stamp, mac = nonce[:-_NONCE_MAC_HEX], nonce[-_NONCE_MAC_HEX:]
        if not stamp or not hmac.compare_digest(mac, self._nonce_mac(stamp)):
            return NonceState.STALE
        try:
            issued = int(stamp, 16)
        except ValueError:
            return NonceState.STALE
        if self.clock() - issued > self.nonce_lifetime:
            return NonceState.STALE
        return NonceState.VALID

    def password_for(self, username: str) -> str | None:
        """The password of ``username``, or None if unknown or an expired REST username."""
        if username in self.users:
            return self.users[username]
        if self.shared_secret:
            expiry_text = username.split(":", 1)[0]
            if expiry_text.isascii() and expiry_text.isdigit() and int(expiry_text) >= self.clock():
                return rest_password(self.shared_secret, username)
        return None

    def key_for(self, username: str) -> bytes | None:
        password = self.password_for(username)
        if password is None:
            return None
        return long_term_key(username, self.realm, password)
