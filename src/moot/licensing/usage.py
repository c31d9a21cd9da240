"""The licence usage time series (guide B.12, ``/system/MPLicenseUsage``) and its daily peaks.

:class:`UsageRecorder` samples the call bridge's licence use (``Bridge.licence_snapshot``,
every 10 seconds by default) and keeps, per interval (5 minutes by default, aligned on the
clock: 10:00, 10:05, ...), the peak of each count. Each interval is one row of the API
store, written when the interval begins (so the day is reported from the first sample on),
when it ends and when the recorder stops; a row already there (the same host and interval,
written before a restart) keeps the larger values, so a restart loses at most the peak of
the interval in progress. Rows are kept 100 days (Meeting Management reports on the last
90, guide B.13); older ones, and hosts that have not reported since, are pruned.

:func:`daily_usage` turns the series into the daily :class:`UsageRecord` the compliance
clock (:mod:`moot.licensing.compliance`) runs on: per UTC day the peak personal licences,
the peak weighted shared use and the peak of calls recorded or streamed, over the cluster
(the hosts' intervals summed: each host counts its share of a call spanning several) or one
host. :func:`node_usage` is what a node's licensing state is judged on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Float, and_, cast, func, literal_column, select

from moot.api.objects.licenseusage import KNOWN_HOST, LICENSE_USAGE, show_time
from moot.db.apistore import ApiStore, Txn
from moot.licensing.compliance import WINDOW_DAYS, UsageRecord
from moot.licensing.node import created_day, today_utc
from moot.licensing.weights import UsageSnapshot

if TYPE_CHECKING:
    from moot.node.context import NodeContext

log = logging.getLogger("moot.licensing")

#: How often the licence use is sampled, and the length of an interval (seconds).
SAMPLE_SECONDS = 10.0
INTERVAL_SECONDS = 300
#: How long rows are kept (more than the 90 days the compliance clock looks at).
RETENTION_DAYS = 100
#: Ids of rows: uuid5 of the host (and interval start), so a rewrite finds the same row.
_ID_SPACE = uuid.UUID("3f0c5a52-8f3e-4d55-9b0f-6c1f2d0a7b11")

Snapshot = Callable[[], UsageSnapshot | None]


def utc_time(epoch: float) -> str:
    """The API's form of a time: ``2026-12-05T10:00:00Z``."""
    return show_time(datetime.fromtimestamp(epoch, UTC))


def _day_start(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


@dataclass(frozen=True)
class Peaks:
    """The largest value of each count over the samples of an interval."""

    personal: int = 0
    shared_audio_only: int = 0
    shared_point_to_point: int = 0
    shared_full: int = 0
    weighted_shared: float = 0.0
    recorded: int = 0
    streamed: int = 0

    @classmethod
    def of(cls, snapshot: UsageSnapshot | None) -> Peaks:
        if snapshot is None:
            return cls()
        return cls(
            personal=snapshot.personal, shared_audio_only=snapshot.shared_audio_only,
            shared_point_to_point=snapshot.shared_point_to_point, shared_full=snapshot.shared_full,
            weighted_shared=round(snapshot.weighted_shared, 4), recorded=snapshot.recorded,
            streamed=snapshot.streamed,
        )

    def max(self, other: Peaks) -> Peaks:
        return Peaks(
            personal=max(self.personal, other.personal),
            shared_audio_only=max(self.shared_audio_only, other.shared_audio_only),
            shared_point_to_point=max(self.shared_point_to_point, other.shared_point_to_point),
            shared_full=max(self.shared_full, other.shared_full),
            weighted_shared=max(self.weighted_shared, other.weighted_shared),
            recorded=max(self.recorded, other.recorded),
            streamed=max(self.streamed, other.streamed),
        )

    def values(self) -> dict[str, Any]:
        """The API fields."""
        return {
            "personal": self.personal, "sharedAudioOnly": self.shared_audio_only,
            "sharedPointToPoint": self.shared_point_to_point, "sharedFull": self.shared_full,
            "weightedShared": self.weighted_shared, "recorded": self.recorded,
            "streamed": self.streamed,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Peaks:
        return cls(
            personal=int(row.get("personal") or 0),
            shared_audio_only=int(row.get("sharedAudioOnly") or 0),
            shared_point_to_point=int(row.get("sharedPointToPoint") or 0),
            shared_full=int(row.get("sharedFull") or 0),
            weighted_shared=float(row.get("weightedShared") or 0.0),
            recorded=int(row.get("recorded") or 0),
            streamed=int(row.get("streamed") or 0),
        )


@dataclass(frozen=True)
class Interval:
    """One host's interval [start, end) (epoch seconds) and its peaks so far."""

    host_id: str
    start: int
    end: int
    peaks: Peaks

    @property
    def row_id(self) -> str:
        return str(uuid.uuid5(_ID_SPACE, f"{self.host_id}/{self.start}"))

    def values(self) -> dict[str, Any]:
        return {"startTime": utc_time(self.start), "endTime": utc_time(self.end),
                "hostId": self.host_id, **self.peaks.values()}


def host_row_id(host_id: str) -> str:
    return str(uuid.uuid5(_ID_SPACE, host_id))


def save(txn: Txn, intervals: list[Interval], now: float,
         retention_days: int = RETENTION_DAYS) -> None:
    """Write intervals (merged with rows already there), note their hosts, prune old rows."""
    seen = utc_time(now)
    for interval in intervals:
        old = txn.get(LICENSE_USAGE, interval.row_id)
        if old is None:
            txn.insert(LICENSE_USAGE, interval.row_id, None, interval.values())
        else:
            peaks = Peaks.from_row(old).max(interval.peaks)
            txn.update(LICENSE_USAGE, interval.row_id, peaks.values())
    for host_id in sorted({i.host_id for i in intervals}):
        hid = host_row_id(host_id)
        host = txn.get(KNOWN_HOST, hid)
        if host is None:
            txn.insert(KNOWN_HOST, hid, None, {"hostId": host_id, "firstSeen": seen, "lastSeen": seen})
        elif (host.get("lastSeen") or "") < seen:
            txn.update(KNOWN_HOST, hid, {"lastSeen": seen})
    prune(txn, now - retention_days * 86400)


def prune(txn: Txn, before: float) -> None:
    """Delete the intervals ended before ``before``, and hosts not seen since."""
    cutoff = utc_time(before)
    usage = txn.store.tables[LICENSE_USAGE.name]
    txn.conn.execute(usage.delete().where(usage.c.endTime < cutoff))
    hosts = txn.store.tables[KNOWN_HOST.name]
    txn.conn.execute(hosts.delete().where(hosts.c.lastSeen < cutoff))


class UsageRecorder:
    """Samples ``snapshot()`` every ``every`` seconds into per-interval peaks, written to ``store``.

    ``snapshot`` returns None when nothing is running (counted as no use). ``clock`` gives
    the time (epoch seconds; injectable for tests). ``sample()`` is one synchronous step;
    ``start()``/``stop()`` run the sampling as a task on the event loop (the snapshot is
    taken on the loop, the database written from a thread).

    After each write :attr:`daily` holds the cluster's daily usage (from ``since`` on), read
    in the writing thread: what code on the event loop (the call bridge's licence
    enforcement) judges the licensing state on without a query of its own.
    """

    def __init__(self, store: ApiStore, host_id: str, snapshot: Snapshot, *,
                 every: float = SAMPLE_SECONDS, interval: int = INTERVAL_SECONDS,
                 retention_days: int = RETENTION_DAYS, since: date | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if interval < 1 or every <= 0:
            raise ValueError("the interval is at least a second and samples are taken")
        self.store = store
        self.host_id = host_id
        self.every = every
        self.interval = int(interval)
        self.retention_days = retention_days
        self.since = since
        #: The daily usage as of the last write (None before it).
        self.daily: list[UsageRecord] | None = None
        self._snapshot = snapshot
        self._clock = clock
        self._current: Interval | None = None
        #: Intervals to write, by start (the current one when it began, ended ones).
        self._due: dict[int, Interval] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @classmethod
    def for_node(cls, node: NodeContext, store: ApiStore, snapshot: Snapshot,
                 **options: Any) -> UsageRecorder:
        """The recorder of a node's call bridge: its node id as host id, its daily usage from
        the node's creation (when its compliance clock started)."""
        return cls(store, node.node_id, snapshot, since=created_day(node), **options)

    @property
    def current(self) -> Interval | None:
        """The interval in progress and its peaks so far."""
        return self._current

    def observe(self, now: float, snapshot: UsageSnapshot | None) -> None:
        """Fold one sample taken at ``now`` into its interval (an earlier one ends)."""
        start = math.floor(now / self.interval) * self.interval
        peaks = Peaks.of(snapshot)
        current = self._current
        if current is not None and current.start != start:
            self._due[current.start] = current  # ended: written with its final peaks
            current = None
        if current is None:
            current = Interval(self.host_id, start, start + self.interval, peaks)
            self._due[start] = current  # begins: written, so the day is reported
        else:
            current = replace(current, peaks=current.peaks.max(peaks))
            if start in self._due:
                self._due[start] = current
        self._current = current

    def end_current(self) -> None:
        """Mark the interval in progress to be written (as the recorder stops)."""
        if self._current is not None:
            self._due[self._current.start] = self._current

    def write(self, now: float) -> None:
        """Write what is due; on failure it stays due (retried at the next sample)."""
        due, self._due = list(self._due.values()), {}
        if not due:
            return
        try:
            with self.store.txn() as txn:
                save(txn, due, now, self.retention_days)
        except BaseException:
            for interval in due:
                self._due.setdefault(interval.start, interval)
            raise
        self.daily = daily_usage(self.store, today=datetime.fromtimestamp(now, UTC).date(),
                                 since=self.since)

    def sample(self) -> None:
        """Take a sample now and write what is due (synchronously)."""
        now = self._clock()
        self.observe(now, self._snapshot())
        self.write(now)

    # running on the event loop ----------------------------------------------------------
    async def _step(self) -> None:
        now = self._clock()
        self.observe(now, self._snapshot())
        if self._due:
            await asyncio.to_thread(self.write, now)

    async def start(self) -> None:
        """Take the first sample (written at once), then sample every ``every`` seconds."""
        self._stopping = asyncio.Event()
        try:
            await self._step()
        except Exception:  # retried at the next sample: the call bridge starts all the same
            log.exception("recording the licence usage failed")
        self._task = asyncio.create_task(self._run(self._stopping), name="licence-usage")

    async def _run(self, stopping: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.wait_for(stopping.wait(), self.every)
                return
            except TimeoutError:
                pass
            try:
                await self._step()
            except Exception:  # a database hiccup must not stop the sampling
                log.exception("recording the licence usage failed")

    async def stop(self) -> None:
        """Stop sampling (a write under way finishes); a last sample and the interval in
        progress are written."""
        if self._task is not None:
            self._stopping.set()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        now = self._clock()
        self.observe(now, self._snapshot())
        self.end_current()
        try:
            await asyncio.to_thread(self.write, now)
        except Exception:
            log.exception("writing the licence usage on stop failed")


def _reading(source: ApiStore | Txn) -> AbstractContextManager[Txn]:
    return source.reader() if isinstance(source, ApiStore) else nullcontext(source)


def daily_usage(source: ApiStore | Txn, host_id: str | None = None, days: int = WINDOW_DAYS,
                today: date | None = None, since: date | None = None) -> list[UsageRecord]:
    """Per UTC day of the ``days`` ending ``today`` (and not before ``since``), with rows:
    the peak personal licences, weighted shared use, and calls recorded plus streamed.

    ``host_id`` None: the cluster's usage (each interval summed over the hosts).
    """
    today = today or today_utc()
    first = today - timedelta(days=days - 1)
    if since is not None:
        first = max(first, since)
    if first > today:
        return []
    with _reading(source) as txn:
        t = txn.store.tables[LICENSE_USAGE.name]
        where = [t.c.startTime >= _day_start(first), t.c.startTime < _day_start(today + timedelta(days=1))]
        if host_id is not None:
            where.append(t.c.hostId == host_id)
        per_interval = (
            select(
                t.c.startTime.label("start"),
                func.sum(func.coalesce(t.c.personal, 0)).label("personal"),
                func.sum(func.coalesce(cast(t.c.weightedShared, Float), 0.0)).label("shared"),
                func.sum(func.coalesce(t.c.recorded, 0) + func.coalesce(t.c.streamed, 0)).label("recording"),
            )
            .where(and_(*where))
            .group_by(t.c.startTime)
            .subquery()
        )
        # Literal positions: the same text in SELECT and GROUP BY (PostgreSQL compares them).
        day = func.substr(per_interval.c.start, literal_column("1"), literal_column("10"))
        q = (
            select(day, func.max(per_interval.c.personal), func.max(per_interval.c.shared),
                   func.max(per_interval.c.recording))
            .group_by(day)
            .order_by(day)
        )
        rows = txn.conn.execute(q).all()
    return [
        UsageRecord(day=date.fromisoformat(d), personal=float(p or 0), shared=round(float(s or 0), 4),
                    recording=int(r or 0))
        for d, p, s, r in rows
    ]


def node_usage(node: NodeContext, source: ApiStore | Txn,
               today: date | None = None) -> list[UsageRecord] | None:
    """The daily usage a node's licensing state is judged on: the cluster's, since the node was
    created (when its clock started). None when ``source`` does not keep the time series."""
    store = source if isinstance(source, ApiStore) else source.store
    if LICENSE_USAGE.name not in store.tables:
        return None
    return daily_usage(source, today=today, since=created_day(node))


_RECENT: dict[int, tuple[float, list[UsageRecord] | None]] = {}


def recent_node_usage(node: NodeContext, ttl: float = 60.0) -> list[UsageRecord] | None:
    """:func:`node_usage` from the node's own store, at most ``ttl`` seconds old (for what is
    shown often: the web admin's banner)."""
    now = time.monotonic()
    hit = _RECENT.get(id(node))
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    usage = node_usage(node, node.api.store)
    _RECENT[id(node)] = (now, usage)
    return usage
