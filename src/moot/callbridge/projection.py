"""Live calls, legs and participants as rows of the API store.

The call bridge's memory is the truth about what is connected; the API lists and
filters ``/calls``, ``/callLegs`` and ``/participants`` from the store like every other
object. This writer keeps the rows in step: changes are queued on the event loop and
written in one transaction per batch (group commit), so a burst of call setups costs
a few commits rather than several per call. Every operation tolerates the row having
been changed by the API meanwhile (an operator deleting a call): inserts skip existing
rows, updates and deletes skip missing ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from moot.api.model import ObjectType
from moot.api.objects.calls import CALL, CALL_LEG, PARTICIPANT
from moot.db.apistore import ApiStore, Txn

log = logging.getLogger("moot.callbridge")
Op = Callable[[Txn], None]
#: How long changes gather before a commit (seconds).
BATCH_DELAY = 0.02


class Projection:
    def __init__(self, store: ApiStore) -> None:
        self.store = store
        self._pending: list[Op] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        await asyncio.to_thread(self._clear_stale)
        self._task = asyncio.create_task(self._run(), name="callbridge-projection")

    async def stop(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await asyncio.to_thread(self._clear_stale)

    def _clear_stale(self) -> None:
        """Rows of calls from an earlier run: nothing is connected any more."""
        with self.store.txn() as txn:
            for otype in (PARTICIPANT, CALL_LEG, CALL):
                for oid in txn.ids(otype):
                    txn.delete(otype, oid)

    # operations ------------------------------------------------------------------------
    def insert(self, otype: ObjectType, oid: str, values: dict[str, Any], *, new: bool = True) -> None:
        """Add a row; ``new=False`` when the API may have made it already (a dial-out)."""
        def op(txn: Txn) -> None:
            if new or not txn.exists(otype.name, oid):
                txn.insert(otype, oid, None, values)
        self._queue(op)

    def update(self, otype: ObjectType, oid: str, values: dict[str, Any]) -> None:
        def op(txn: Txn) -> None:
            if txn.exists(otype.name, oid):
                txn.update(otype, oid, values)
        self._queue(op)

    def delete(self, otype: ObjectType, oid: str) -> None:
        self._queue(lambda txn: txn.delete(otype, oid))  # no row (deleted by the API): no-op

    def _queue(self, op: Op) -> None:
        self._pending.append(op)
        self._idle.clear()
        self._wake.set()

    async def flush(self) -> None:
        """Return once everything queued so far is committed."""
        if self._task is None:
            ops, self._pending = self._pending, []
            if ops:
                await asyncio.to_thread(self._commit, ops)
            return
        while self._pending or not self._idle.is_set():
            await self._idle.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(BATCH_DELAY)
            self._wake.clear()
            ops, self._pending = self._pending, []
            if ops:
                try:
                    await asyncio.to_thread(self._commit, ops)
                except Exception:  # a database hiccup must not stop the call bridge
                    log.exception("writing %d call changes to the database failed", len(ops))
            if not self._pending:
                self._idle.set()

    def _commit(self, ops: list[Op]) -> None:
        with self.store.txn() as txn:
            for op in ops:
                op(txn)
