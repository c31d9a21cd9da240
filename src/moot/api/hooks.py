"""Behaviour beyond plain storage, attached to an object type's declaration."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from moot.api.errors import ApiFailure

if TYPE_CHECKING:
    from moot.api.model import Field, ObjectType
    from moot.db.apistore import Txn

#: A read-only view below an object: returns (element name, ordered (name, value) pairs).
View = Callable[["Txn", dict[str, Any]], tuple[str, Sequence[tuple["Field | str", Any]]]]
#: An operation on one object (``POST /callLegs/<id>/generateKeyframe``): acts, returns nothing.
Operation = Callable[["Txn", dict[str, Any]], None]


class Hooks:
    """Override what an object type needs; the defaults do nothing."""

    def prepare(
        self,
        txn: Txn,
        otype: ObjectType,
        values: dict[str, Any],
        old: dict[str, Any] | None,
        actions: dict[str, Any],
    ) -> None:
        """Adjust ``values`` before they are checked and written (``old`` is None on create).

        ``actions`` holds the ACTION fields given (``regenerateSecret``, ``requireCallId``).
        Raise ApiFailure to refuse.
        """

    def created(self, txn: Txn, otype: ObjectType, oid: str, values: dict[str, Any]) -> None:
        """After a new object is written (same transaction): start what it asks for."""

    def computed(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> dict[str, Any]:
        """Read-only values shown by GET of one object (``numAccessMethods``)."""
        return {}

    def before_delete(self, txn: Txn, otype: ObjectType, obj: dict[str, Any]) -> None:
        """Refuse (ApiFailure) or clean up before an object is deleted."""

    def query(self, txn: Txn, otype: ObjectType, params: dict[str, Any]) -> tuple[str, Sequence[tuple[Field | str, Any]]]:
        """The answer of a query type (``ObjectType.query``): element name and (name, value) pairs."""
        raise ApiFailure("invalidOperation", status=405)

    def views(self) -> dict[str, View]:
        """Read-only sub-resources of one object, by path segment (``meetingEntryDetail``)."""
        return {}

    def operations(self) -> dict[str, Operation]:
        """Things one POSTs to below an object, by path segment (``generateKeyframe``)."""
        return {}


#: What other features do when an object of a type is deleted (type name -> callbacks), in the
#: deleting transaction: the scheduler cancels the meetings of a deleted space or organizer.
DeleteListener = Callable[["Txn", dict[str, Any]], None]
_delete_listeners: dict[str, list[DeleteListener]] = {}


def on_delete(type_name: str, listener: DeleteListener) -> None:
    """Call ``listener(txn, obj)`` whenever an object of ``type_name`` is deleted."""
    listeners = _delete_listeners.setdefault(type_name, [])
    if listener not in listeners:
        listeners.append(listener)


def deleting(txn: Txn, type_name: str, obj: dict[str, Any]) -> None:
    for listener in _delete_listeners.get(type_name, ()):
        listener(txn, obj)
