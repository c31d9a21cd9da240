"""The email outbox: invitations wait in the database until an email server took them.

``Outbox.enqueue`` inserts in the caller's transaction, so a meeting and its invite
commit together. :class:`OutboxWorker` sends what is due:

* it claims each entry with a lease in the database (a conditional UPDATE), so with
  several schedulers on one database each entry is sent by one of them;
* a scheduler with no email server, or whose server does not work now, claims nothing,
  so that another scheduler sends the mail;
* a message the server refuses is retried with exponential backoff (capped);
* entries not sent within :data:`EXPIRY_SECONDS` are removed by the queue cleaner and logged.

A scheduler that stopped mid-send (crash) leaves its leases behind: they expire after
:data:`LEASE_SECONDS`, and the same node releases its own leases when it starts again.
Delivery is exactly once unless the node dies after the server accepted a message and
before it was marked sent (SMTP offers no way to close that window).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from moot.scheduler.mail import OutgoingMail
from moot.scheduler.mailer import MessageError, ServerError, SmtpConfig, SmtpSession

log = logging.getLogger("moot.scheduler.email")

#: Unsent entries older than this are removed by the queue cleaner.
EXPIRY_SECONDS = 3 * 24 * 3600
#: Sent entries are kept this long (status counts, investigations), then removed.
SENT_RETENTION_SECONDS = 24 * 3600
#: How long a claim holds; longer than any one send can take.
LEASE_SECONDS = 300.0
#: Backoff for a refused message: base * 2**(attempts-1), at most the cap.
RETRY_BASE_SECONDS = 30.0
RETRY_CAP_SECONDS = 3600.0
#: Backoff for a server that does not work (down, TLS, login), at most the cap.
SERVER_RETRY_CAP_SECONDS = 60.0
BATCH = 50
#: SMTP connections one scheduler sends a batch over at once.
SMTP_SESSIONS = 4
POLL_SECONDS = 1.0
CLEAN_SECONDS = 60.0

metadata = sa.MetaData()
outbox_table = sa.Table(
    "scheduler_outbox",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
    #: When the entry may be (re)tried.
    sa.Column("due", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_until", sa.Float),
    #: When the server accepted it; NULL while waiting.
    sa.Column("sent", sa.Float),
    sa.Column("reference", sa.String(255)),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Index("ix_scheduler_outbox_due", "sent", "due"),
)


def mail_to_json(mail: OutgoingMail) -> str:
    data = asdict(mail)
    data["to"] = list(mail.to)
    return json.dumps(data, ensure_ascii=False)


def mail_from_json(text: str) -> OutgoingMail:
    data = json.loads(text)
    data["to"] = tuple(data["to"])
    return OutgoingMail(**data)


def backoff(attempts: int, base: float = RETRY_BASE_SECONDS, cap: float = RETRY_CAP_SECONDS) -> float:
    """Seconds before try number ``attempts + 1``."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Claimed:
    id: str
    mail: OutgoingMail
    attempts: int
    lease_until: float


@dataclass(frozen=True)
class Counts:
    waiting: int
    retrying: int
    sent: int


def enqueue_in(conn: Connection, mail: OutgoingMail, *, now: float | None = None) -> str:
    """Queue ``mail`` in the caller's open transaction (the outbox table must exist); its id."""
    if not mail.to:
        raise ValueError("a mail needs at least one recipient")
    now = time.time() if now is None else now
    entry = uuid.uuid4().hex
    conn.execute(
        outbox_table.insert().values(
            id=entry,
            created=now,
            expires=now + EXPIRY_SECONDS,
            due=now,
            attempts=0,
            reference=(mail.reference or "")[:255] or None,
            payload=mail_to_json(mail),
        )
    )
    return entry


def has_outbox(conn: Connection) -> bool:
    return bool(conn.dialect.has_table(conn, outbox_table.name))


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        try:
            metadata.create_all(engine, checkfirst=True)
        except sa.exc.DBAPIError:
            # Another scheduler created it at the same moment.
            if not sa.inspect(engine).has_table(outbox_table.name):
                raise

    # in the caller's transaction ---------------------------------------------------
    def enqueue(self, conn: Connection, mail: OutgoingMail, *, now: float | None = None) -> str:
        """Queue ``mail`` in the caller's open transaction; its entry id."""
        return enqueue_in(conn, mail, now=now)

    # the worker's side -------------------------------------------------------------
    def claim(self, owner: str, limit: int = BATCH, lease: float = LEASE_SECONDS) -> list[Claimed]:
        """Due entries now leased to ``owner`` (each by one claimer only)."""
        t = outbox_table
        now = time.time()
        free = sa.or_(t.c.lease_until.is_(None), t.c.lease_until < now)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.id)
                .where(t.c.sent.is_(None), t.c.due <= now, t.c.expires > now, free)
                .order_by(t.c.due)
                .limit(limit)
            ).all()
            conn.commit()
        until = now + lease
        ids = [entry for (entry,) in rows]
        if not ids:
            return []
        # One transaction for the batch; the conditional UPDATE still lets each entry
        # go to one claimer only, and the entries this claim won carry (owner, until).
        with self.engine.begin() as conn:
            # One statement per id (executemany): with ``id IN (...)`` SQLite preferred the
            # (sent, due) index and walked every waiting entry (~110 ms at 150,000).
            conn.execute(
                t.update()
                .where(t.c.id == sa.bindparam("entry"), t.c.sent.is_(None), free)
                .values(lease_owner=owner, lease_until=until),
                [{"entry": entry} for entry in ids],
            )
            won = {
                row.id: row
                for row in conn.execute(
                    sa.select(t.c.id, t.c.payload, t.c.attempts).where(
                        t.c.id.in_(ids), t.c.lease_owner == owner, t.c.lease_until == until
                    )
                )
            }
        return [
            Claimed(entry, mail_from_json(won[entry].payload), int(won[entry].attempts), until)
            for entry in ids
            if entry in won
        ]

    def _finish(self, entry: str, owner: str, **values: object) -> bool:
        t = outbox_table
        with self.engine.begin() as conn:
            done = conn.execute(
                t.update()
                .where(t.c.id == entry, t.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None, **values)
            ).rowcount
        return bool(done == 1)

    def mark_sent(self, entry: str, owner: str) -> bool:
        return self._finish(entry, owner, sent=time.time(), last_error=None)

    def mark_sent_many(self, entries: list[str], owner: str) -> int:
        """Mark the entries ``owner`` holds as sent, in one transaction; how many."""
        if not entries:
            return 0
        t = outbox_table
        with self.engine.begin() as conn:
            done = conn.execute(
                t.update()
                .where(t.c.id.in_(entries), t.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None, sent=time.time(), last_error=None)
            ).rowcount
        return int(done)

    def retry_later(self, entry: str, owner: str, attempts: int, error: str, delay: float) -> bool:
        """The server refused the message: try again after ``delay`` seconds."""
        return self._finish(
            entry, owner, attempts=attempts, last_error=error[:2000], due=time.time() + delay
        )

    def release(self, entry: str, owner: str, error: str | None = None) -> bool:
        """Give the entry back untouched (the server, not the message, was the problem)."""
        values: dict[str, object] = {}
        if error is not None:
            values["last_error"] = error[:2000]
        return self._finish(entry, owner, **values)

    def release_owner(self, owner: str) -> int:
        """Give back every lease ``owner`` holds (it restarted: nothing is in flight)."""
        t = outbox_table
        with self.engine.begin() as conn:
            n = conn.execute(
                t.update()
                .where(t.c.lease_owner == owner, t.c.sent.is_(None))
                .values(lease_owner=None, lease_until=None)
            ).rowcount
        return int(n)

    def clean(self, now: float | None = None) -> int:
        """The queue cleaner: drop expired unsent entries (logged) and old sent ones."""
        t = outbox_table
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            expired = conn.execute(
                sa.select(t.c.id, t.c.reference, t.c.attempts, t.c.last_error).where(
                    t.c.sent.is_(None), t.c.expires <= now
                )
            ).all()
            for row in expired:
                gone = conn.execute(
                    t.delete().where(t.c.id == row.id, t.c.sent.is_(None))
                ).rowcount
                if gone:
                    log.warning(
                        "outbox: gave up on %s (%s) after %d attempts: %s",
                        row.id,
                        row.reference or "no reference",
                        row.attempts,
                        row.last_error or "never tried",
                    )
            conn.execute(t.delete().where(t.c.sent < now - SENT_RETENTION_SECONDS))
        return len(expired)

    def counts(self) -> Counts:
        t = outbox_table
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    sa.func.count().filter(t.c.sent.is_(None), t.c.attempts == 0),
                    sa.func.count().filter(t.c.sent.is_(None), t.c.attempts > 0),
                    sa.func.count().filter(t.c.sent.is_not(None)),
                )
            ).one()
            conn.commit()
        return Counts(int(rows[0]), int(rows[1]), int(rows[2]))

    def entry(self, entry: str) -> dict[str, object] | None:
        """One entry's state (for status and tests)."""
        t = outbox_table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == entry)).mappings().first()
            conn.commit()
        return dict(row) if row is not None else None


class OutboxWorker:
    """Sends due mail while this scheduler's email server works."""

    def __init__(
        self,
        outbox: Outbox,
        owner: str,
        smtp_config: Callable[[], SmtpConfig | None],
        *,
        poll: float = POLL_SECONDS,
        batch: int = BATCH,
        lease: float = LEASE_SECONDS,
        retry_base: float = RETRY_BASE_SECONDS,
        retry_cap: float = RETRY_CAP_SECONDS,
        server_retry_cap: float = SERVER_RETRY_CAP_SECONDS,
        clean_every: float = CLEAN_SECONDS,
        smtp_timeout: float | None = None,
        sessions: int = SMTP_SESSIONS,
    ) -> None:
        self.outbox = outbox
        self.sessions = sessions
        self.owner = owner
        self.smtp_config = smtp_config
        self.poll = poll
        self.batch = batch
        self.lease = lease
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.server_retry_cap = server_retry_cap
        self.clean_every = clean_every
        self.smtp_timeout = smtp_timeout
        #: Consecutive server failures, and when to try the server again.
        self.server_failures = 0
        self.server_retry_at = 0.0
        self.last_server_error: str | None = None
        self._wake = asyncio.Event()
        self._last_clean = 0.0
        self._last_config: SmtpConfig | None = None

    def wake(self) -> None:
        """Look for due mail now (e.g. after a commit that queued some)."""
        self._wake.set()

    async def run(self) -> None:
        released = await asyncio.to_thread(self.outbox.release_owner, self.owner)
        if released:
            log.info("outbox: took back %d entries this node held when it stopped", released)
        while True:
            try:
                sent = await self.run_once()
            except sa.exc.SQLAlchemyError as exc:
                log.warning("outbox: database error: %s", exc)
                sent = 0
            if sent:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll)
            except TimeoutError:
                pass
            self._wake.clear()

    async def run_once(self) -> int:
        """Clean if it is time, then send one batch; how many were sent."""
        now = time.time()
        if now - self._last_clean >= self.clean_every:
            self._last_clean = now
            await asyncio.to_thread(self.outbox.clean)
        cfg = self.smtp_config()
        if cfg != self._last_config:
            # The operator changed the email settings: try them at once.
            self._last_config = cfg
            self.server_failures = 0
            self.server_retry_at = 0.0
        if cfg is None or cfg.problem or now < self.server_retry_at:
            return 0
        claimed = await asyncio.to_thread(self.outbox.claim, self.owner, self.batch, self.lease)
        if not claimed:
            return 0
        return await self._send(cfg, claimed)

    async def _send(self, cfg: SmtpConfig, claimed: list[Claimed]) -> int:
        """Send a claimed batch over up to :data:`SMTP_SESSIONS` connections at once (one
        connection waits on the server's reply to every command: several keep it busy)."""
        queue: deque[Claimed] = deque(claimed)
        #: Accepted by the server, not yet marked sent (marked once per batch).
        accepted: list[str] = []
        in_flight: dict[str, Claimed] = {}
        sessions = max(1, min(self.sessions, len(claimed)))
        try:
            results = await asyncio.gather(
                *(self._session(cfg, queue, accepted, in_flight) for _ in range(sessions)),
                return_exceptions=True,
            )
        except BaseException:
            # Stopped (cancelled) mid-batch: mark what the server took and give the rest
            # back at once, synchronously.
            self._mark_accepted(accepted)
            for item in [*queue, *in_flight.values()]:
                self.outbox.release(item.id, self.owner)
            raise
        sent = len(accepted)
        await asyncio.to_thread(self._mark_accepted, accepted)
        failures = [r for r in results if isinstance(r, BaseException)]
        server_errors = [r for r in failures if isinstance(r, ServerError)]
        error = str(server_errors[0]) if server_errors else None
        for item in queue:
            await asyncio.to_thread(self.outbox.release, item.id, self.owner, error)
        if server_errors and not sent:
            self._server_failed(str(server_errors[0]))
            return sent
        other = [r for r in failures if not isinstance(r, ServerError)]
        if other:
            raise other[0]
        if self.server_failures:
            log.info("outbox: email server %s works again", cfg.describe())
        self.server_failures = 0
        self.server_retry_at = 0.0
        self.last_server_error = None
        if sent:
            log.info("outbox: sent %d mail(s) through %s", sent, cfg.host)
        return sent

    async def _session(self, cfg: SmtpConfig, queue: deque[Claimed], accepted: list[str],
                       in_flight: dict[str, Claimed]) -> None:
        """One SMTP connection taking mail from the batch's queue until it is empty."""
        timeout = self.smtp_timeout
        session = SmtpSession(cfg) if timeout is None else SmtpSession(cfg, timeout)
        await session.connect()
        try:
            while queue:
                item = queue.popleft()
                if time.time() > item.lease_until - 2 * session.timeout:
                    queue.appendleft(item)
                    return  # the lease would run out mid-send: the rest is given back
                in_flight[item.id] = item
                try:
                    await session.send(item.mail, item.id)
                except MessageError as exc:
                    attempts = item.attempts + 1
                    delay = backoff(attempts, self.retry_base, self.retry_cap)
                    log.warning(
                        "outbox: %s refused (attempt %d), retry in %.0f s: %s",
                        item.mail.reference or item.id, attempts, delay, exc,
                    )
                    await asyncio.to_thread(
                        self.outbox.retry_later, item.id, self.owner, attempts, str(exc), delay
                    )
                    continue
                except ServerError:
                    queue.appendleft(item)
                    raise
                finally:
                    in_flight.pop(item.id, None)
                accepted.append(item.id)
        finally:
            await session.close()

    def _mark_accepted(self, accepted: list[str]) -> None:
        entries = list(accepted)
        accepted.clear()
        self.outbox.mark_sent_many(entries, self.owner)

    def _server_failed(self, error: str) -> None:
        self.server_failures += 1
        delay = min(self.server_retry_cap, float(2 ** (self.server_failures - 1)))
        self.server_retry_at = time.time() + delay
        if error != self.last_server_error:
            log.warning("outbox: %s; mail waits (next try in %.0f s)", error, delay)
        self.last_server_error = error
