"""Pieces several object families share: generated call IDs and secrets."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from moot.api.errors import ApiFailure
from moot.db.apistore import Txn

DEFAULT_CALL_ID_LENGTH = 9
CALL_ID_NAMESPACE = "callId"
URI_NAMESPACE = "uri"


def new_secret() -> str:
    """A guest-access secret: 16 random bytes, URL-safe base64 (22 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


def call_id_length(txn: Txn) -> int:
    env: dict[str, Any] = getattr(txn, "env", {})
    return int(env.get("call_id_length", DEFAULT_CALL_ID_LENGTH))


def new_call_id(txn: Txn) -> str:
    """A numeric call ID of the configured length that no space or access method uses."""
    length = call_id_length(txn)
    for _ in range(100):
        candidate = str(secrets.randbelow(9 * 10 ** (length - 1)) + 10 ** (length - 1))
        if txn.owner_of(CALL_ID_NAMESPACE, candidate) is None:
            return candidate
    raise ApiFailure("duplicateCoSpaceId")


def apply_call_id_and_secret(
    txn: Txn, values: dict[str, Any], old: dict[str, Any] | None, actions: dict[str, Any], require_default: bool
) -> None:
    """``requireCallId``, ``secret`` and ``regenerateSecret`` as spaces and access methods use them."""
    current_call_id = values.get("callId", old.get("callId") if old else None)
    require = actions.get("requireCallId")
    if require is None:
        require = require_default and old is None
    if require and current_call_id is None:
        values["callId"] = current_call_id = new_call_id(txn)
    current_secret = values.get("secret", old.get("secret") if old else None)
    missing = current_secret is None and current_call_id is not None and "secret" not in values
    if actions.get("regenerateSecret") or missing:
        values["secret"] = new_secret()
