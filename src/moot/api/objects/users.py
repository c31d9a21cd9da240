"""Users and their space memberships.

In the product users come only from LDAP synchronisation and the API lists
them read-only. Moot also accepts POST/PUT/DELETE on ``/users`` — an
extension for admin tooling and tests, until LDAP import arrives — and a
write-only ``password`` (another extension, in place of the LDAP bind): the web
app's sign-in checks it. It is stored as an argon2 hash and never returned.
"""

from __future__ import annotations

from typing import Any

from moot.api.hooks import Hooks
from moot.api.model import (
    SEARCH,
    TENANT_FILTER,
    Access,
    Field,
    Filter,
    FilterOp,
    ObjectType,
    Text,
    ref,
)
from moot.db.apistore import Cond, Txn
from moot.node.accounts import hash_password

#: How many rows one internal lookup reads at most (memberships of one user).
LOOKUP_LIMIT = 1_000_000


class UserHooks(Hooks):
    def prepare(self, txn: Txn, otype: ObjectType, values: dict[str, Any], old: dict[str, Any] | None,
                actions: dict[str, Any]) -> None:
        if values.get("password"):
            values["password"] = hash_password(values["password"])

    def before_delete(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> None:
        # A deleted user is no longer a member of any space.
        from moot.api.objects.cospace_users import COSPACE_USER

        _, rows = txn.list(COSPACE_USER, None, [Cond("eq", "userId", obj["id"])], 0, LOOKUP_LIMIT)
        for row in rows:
            txn.delete(COSPACE_USER, row["id"])


def find_user_by_jid(txn: Txn, jid: str, fields: tuple[str, ...] = ("userJid", "tenant")) -> dict[str, Any] | None:
    _, rows = txn.list(USER, None, [Cond("eq", "userJid", jid)], 0, 1, list(fields))
    return rows[0] if rows else None


USER = ObjectType(
    name="user",
    collection="users",
    fields=(
        Field("userJid", Text(max_length=254, pattern=r"[^\s@]+@[^\s@]+"), required=True, listed=True,
              searchable=True, unique="userJid", duplicate_reason="duplicateUserJid"),
        Field("name", Text(max_length=200), searchable=True),
        Field("email", Text(max_length=254), searchable=True),
        Field("authenticationId", Text(max_length=254)),
        Field("tenant", ref("tenant"), listed=True),
        Field("userProfile", ref("userProfile")),
        Field("cdrTag", Text(max_length=100)),
        Field("password", Text(max_length=256), access=Access.WRITE_ONLY),
    ),
    filters=(
        SEARCH,
        TENANT_FILTER,
        Filter("emailFilter", FilterOp.EQUALS, "email"),
        Filter("cdrTagFilter", FilterOp.EQUALS, "cdrTag"),
    ),
    hooks=UserHooks(),
    summary="A person who can sign in to the web app and own or join spaces.",
)

TYPES = (USER,)
