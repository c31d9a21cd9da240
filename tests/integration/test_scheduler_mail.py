"""The outbox and SMTP delivery against a real aiosmtpd server, in the guide's six modes.

Certificates come from the MMP's ``pki selfsigned``; AUTH LOGIN uses a real authenticator;
SMTPS is implicit TLS; STARTTLS is required by the server when the mode uses it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from moot.node.datadir import DataDir
from moot.pki import server_ssl_context
from moot.scheduler.mail import OutgoingMail
from moot.scheduler.mailer import SmtpConfig, build_message
from moot.scheduler.outbox import Outbox, OutboxWorker
from tests.databases import database_url
from tests.helpers import free_port, mmp, prepare_datadir

USER = "sched@mail.example.com"
PASSWORD = "Smtp-S3cret!"

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//moot//test//EN\r\nMETHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\nUID:meeting-1@moot\r\nSEQUENCE:0\r\nDTSTAMP:20261204T120000Z\r\n"
    "DTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n"
    "SUMMARY:Weekly sync: Zürich\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def invite(n: int = 1, to: tuple[str, ...] = ("alice@example.com", "bob@example.com")) -> OutgoingMail:
    return OutgoingMail(
        to=to,
        subject=f"Invitation: Weekly sync: Zürich #{n}",
        text=f"Join the weekly sync #{n}.",
        html=f"<p>Join the <b>weekly sync</b> #{n}.</p>",
        ics=ICS,
        ics_method="REQUEST",
        organizer_address="olga@example.com",
        organizer_name="Olga Organizer",
        reference=f"meeting-{n}",
    )


# --- a real SMTP server ------------------------------------------------------------------
@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    auth: str | None


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    mechanisms: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    msg,
                    session.ssl is not None
                    or server.transport.get_extra_info("ssl_object") is not None,
                    session.auth_data.login.decode() if session.authenticated else None,
                )
            )
        return "250 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (USER, PASSWORD)
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def references(self) -> list[str]:
        return [r.message["Subject"].rsplit("#", 1)[1] for r in self.received]


@dataclass(frozen=True)
class Mode:
    name: str
    protocol: str = "smtp"
    starttls: bool = False
    auth: bool = False


MODES = [
    Mode("smtp"),
    Mode("smtp-auth", auth=True),
    Mode("smtp-starttls", starttls=True),
    Mode("starttls-auth", starttls=True, auth=True),
    Mode("smtps", protocol="smtps"),
    Mode("smtps-auth", protocol="smtps", auth=True),
]


class SmtpServer:
    """aiosmtpd in a thread, in one of the six modes."""

    def __init__(self, mode: Mode, certs: Certs, port: int | None = None) -> None:
        self.mode = mode
        self.port = port or free_port()
        self.handler = Handler()
        context = server_ssl_context(certs.key, certs.crt, None)
        kwargs: dict[str, Any] = {}
        if mode.protocol == "smtps":
            kwargs["ssl_context"] = context
        elif mode.starttls:
            kwargs.update(tls_context=context, require_starttls=True)
        if mode.auth:
            kwargs.update(authenticator=self.handler.authenticate, auth_required=True, auth_require_tls=False)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def config(self, trust: Path | None = None, **kw: Any) -> SmtpConfig:
        return SmtpConfig(
            host="127.0.0.1",
            port=self.port,
            protocol=self.mode.protocol,
            starttls=self.mode.starttls,
            auth=self.mode.auth,
            username=USER if self.mode.auth else None,
            password=PASSWORD if self.mode.auth else None,
            trust=trust,
            **kw,
        )


@dataclass(frozen=True)
class Certs:
    datadir: DataDir
    key: Path
    crt: Path
    #: A certificate the server does not have.
    other: Path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    dd = prepare_datadir(tmp_path_factory.mktemp("certs") / "node")
    for name in ("smtp", "other"):
        result = mmp(dd, f"pki selfsigned {name} CN:127.0.0.1")
        assert result.returncode == 0, result.stdout + result.stderr
    return Certs(dd, dd.file("smtp.key"), dd.file("smtp.crt"), dd.file("other.crt"))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    yield eng
    eng.dispose()


def queue(outbox: Outbox, *mails: OutgoingMail, now: float | None = None) -> list[str]:
    with outbox.engine.begin() as conn:
        return [outbox.enqueue(conn, m, now=now) for m in mails]


def fast_worker(outbox: Outbox, cfg: SmtpConfig | None, owner: str = "node-1", **kw: Any) -> OutboxWorker:
    kw.setdefault("poll", 0.05)
    kw.setdefault("server_retry_cap", 0.2)
    kw.setdefault("smtp_timeout", 5.0)
    return OutboxWorker(outbox, owner, lambda: cfg, **kw)


async def until(predicate: Any, timeout: float = 10.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


def parts(msg: EmailMessage) -> dict[str, EmailMessage]:
    found: dict[str, EmailMessage] = {}
    for part in msg.walk():
        if not part.is_multipart():
            found.setdefault(part.get_content_type(), part)  # type: ignore[arg-type]
    return found


# --- the six modes -----------------------------------------------------------------------
# `trust` only means something where there is TLS: those modes run with and without it.
CASES = [(m, False) for m in MODES] + [(m, True) for m in MODES if m.protocol == "smtps" or m.starttls]


@pytest.mark.parametrize(
    ("mode", "trusted"), CASES, ids=[f"{m.name}-{'trust-cert' if t else 'trust-any'}" for m, t in CASES]
)
async def test_each_mode_delivers_the_invite(mode: Mode, trusted: bool, certs: Certs, engine: sa.Engine) -> None:
    tls = mode.protocol == "smtps" or mode.starttls
    outbox = Outbox(engine)
    [entry] = queue(outbox, invite(7))
    with SmtpServer(mode, certs) as server:
        worker = fast_worker(outbox, server.config(trust=certs.crt if trusted else None))
        assert await worker.run_once() == 1
    [got] = server.handler.received
    assert got.tls is tls
    if mode.auth:
        assert got.auth == USER
        assert server.handler.mechanisms == ["LOGIN"]
        assert got.mail_from == USER
        assert got.message["Sender"] == USER
    else:
        assert got.auth is None
        assert got.mail_from == "olga@example.com"
        assert got.message["Sender"] is None
    assert sorted(got.rcpt_tos) == ["alice@example.com", "bob@example.com"]
    msg = got.message
    assert msg["From"] == "Olga Organizer <olga@example.com>"
    assert msg["Subject"] == "Invitation: Weekly sync: Zürich #7"
    assert msg["Message-ID"] == f"<{entry}@example.com>"
    assert msg.get_content_type() == "multipart/mixed"
    found = parts(msg)
    assert found["text/plain"].get_content().strip() == "Join the weekly sync #7."
    assert "<b>weekly sync</b>" in found["text/html"].get_content()
    calendar = found["text/calendar"]
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_content_charset() == "utf-8"
    assert calendar.get_content() .replace("\r\n", "\n") == ICS.replace("\r\n", "\n")
    attachment = found["application/ics"]
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content().decode("utf-8") == ICS
    icalendar = pytest.importorskip("icalendar")
    event = icalendar.Calendar.from_ical(attachment.get_content()).walk("VEVENT")[0]
    assert str(event["UID"]) == "meeting-1@moot"
    assert event["RRULE"]["COUNT"] == [4]
    state = outbox.entry(entry)
    assert state is not None and state["sent"] is not None and state["lease_owner"] is None


async def test_common_address_and_cancel(certs: Certs, engine: sa.Engine) -> None:
    outbox = Outbox(engine)
    cancel = OutgoingMail(
        to=("carol@example.com",), subject="Cancelled #1", text="t", html="<p>h</p>",
        ics=ICS.replace("METHOD:REQUEST", "METHOD:CANCEL"), ics_method="CANCEL",
        organizer_address="olga@example.com", organizer_name="Olga",
    )
    queue(outbox, cancel)
    with SmtpServer(Mode("smtp"), certs) as server:
        cfg = server.config(common_address="meetings@example.com", common_name="Moot Meetings")
        assert await fast_worker(outbox, cfg).run_once() == 1
    [got] = server.handler.received
    assert got.message["From"] == "Moot Meetings <meetings@example.com>"
    assert got.mail_from == "meetings@example.com"
    assert parts(got.message)["text/calendar"].get_param("method") == "CANCEL"


def test_message_without_ics_is_plain_alternative() -> None:
    mail = OutgoingMail(to=("a@example.com",), subject="s", text="t", html="<p>h</p>")
    msg = email.message_from_bytes(build_message(mail, None), policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    assert msg.get_content_type() == "multipart/alternative"
    assert set(parts(msg)) == {"text/plain", "text/html"}


def test_message_headers_and_bodies_outside_ascii_survive() -> None:
    mail = OutgoingMail(to=("Zoë <z@example.com>", "b@example.com"), subject="Réunion — hebdo",
                        text="Bonjour é\n", html="<p>é</p>", ics="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                        ics_method="cancel", organizer_address="o@example.com", organizer_name="Ōrganizer")
    msg = email.message_from_bytes(build_message(mail, None, "key-1"), policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    assert msg["Subject"] == "Réunion — hebdo"
    assert str(msg["From"]) == "Ōrganizer <o@example.com>"
    assert [a.addr_spec for a in msg["To"].addresses] == ["z@example.com", "b@example.com"]
    assert msg["Message-ID"] == "<key-1@example.com>"
    found = parts(msg)
    assert found["text/plain"].get_content() == "Bonjour é\n"
    assert found["text/calendar"].get_param("method") == "CANCEL"
    assert found["application/ics"].get_filename() == "invite.ics"


# --- failures ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [Mode("smtps", protocol="smtps"), Mode("smtp-starttls", starttls=True)], ids=["smtps", "starttls"])
async def test_wrong_trust_certificate_is_refused_and_mail_waits(mode: Mode, certs: Certs, engine: sa.Engine) -> None:
    outbox = Outbox(engine)
    [entry] = queue(outbox, invite())
    with SmtpServer(mode, certs) as server:
        worker = fast_worker(outbox, server.config(trust=certs.other))
        assert await worker.run_once() == 0
        assert server.handler.received == []
        state = outbox.entry(entry)
        assert state is not None
        assert state["sent"] is None and state["lease_owner"] is None
        assert "is not trusted" in str(state["last_error"])
        assert "trusted: other.crt" in str(state["last_error"])
        assert outbox.counts().waiting == 1
        # Trusting the right certificate sends it.
        worker = fast_worker(outbox, server.config(trust=certs.crt))
        assert await worker.run_once() == 1
    assert len(server.handler.received) == 1


async def test_wrong_password_is_refused_and_never_logged(
    certs: Certs, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="moot")
    outbox = Outbox(engine)
    [entry] = queue(outbox, invite())
    with SmtpServer(Mode("smtp-auth", auth=True), certs) as server:
        cfg = server.config()
        bad = dataclasses.replace(cfg, password="Wrong-Pass-123")
        assert "Wrong-Pass-123" not in repr(bad)
        assert await fast_worker(outbox, bad).run_once() == 0
        assert server.handler.received == []
    state = outbox.entry(entry)
    assert state is not None and state["sent"] is None
    assert f"refused the login of {USER}" in str(state["last_error"])
    assert "Wrong-Pass-123" not in caplog.text and "Wrong-Pass-123" not in str(state["last_error"])


async def test_server_down_then_up_delivers_once(certs: Certs, engine: sa.Engine) -> None:
    outbox = Outbox(engine)
    [entry] = queue(outbox, invite(3))
    port = free_port()
    server = SmtpServer(Mode("smtp"), certs, port=port)
    worker = fast_worker(outbox, server.config())
    assert await worker.run_once() == 0
    state = outbox.entry(entry)
    assert state is not None and state["sent"] is None and state["last_error"]
    assert worker.server_failures == 1
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.3)  # a few failed rounds while the server is down
        with server:
            await until(lambda: len(server.handler.received) >= 1)
            await asyncio.sleep(0.3)  # more rounds: nothing is sent twice
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert server.handler.references() == ["3"]
    state = outbox.entry(entry)
    assert state is not None and state["sent"] is not None


async def test_refused_message_retried_with_backoff(certs: Certs, engine: sa.Engine) -> None:
    outbox = Outbox(engine)
    [entry] = queue(outbox, invite(to=("nobody@example.com",)))
    with SmtpServer(Mode("smtp"), certs) as server:
        server.handler.refuse.add("nobody@example.com")
        worker = fast_worker(outbox, server.config(), retry_base=30.0, retry_cap=100.0)
        before = time.time()
        assert await worker.run_once() == 0
        state = outbox.entry(entry)
        assert state is not None and state["attempts"] == 1 and state["sent"] is None
        assert "550" in str(state["last_error"])
        assert 29 < float(state["due"]) - before < 32  # type: ignore[arg-type]
        assert outbox.counts().retrying == 1
        # Not due yet: not tried again.
        assert await worker.run_once() == 0
        assert outbox.entry(entry)["attempts"] == 1  # type: ignore[index]
    from moot.scheduler.outbox import backoff

    assert [backoff(n, 30, 100) for n in (1, 2, 3, 4)] == [30, 60, 100, 100]


async def test_queue_cleaner_removes_expired_mail(engine: sa.Engine, caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(engine)
    old, fresh = queue(outbox, invite(1), now=time.time() - 4 * 24 * 3600) + queue(outbox, invite(2))
    with caplog.at_level(logging.WARNING, logger="moot.scheduler.email"):
        assert outbox.clean() == 1
    assert outbox.entry(old) is None
    assert outbox.entry(fresh) is not None
    assert f"gave up on {old} (meeting-1)" in caplog.text


async def test_no_server_claims_nothing(engine: sa.Engine) -> None:
    outbox = Outbox(engine)
    [entry] = queue(outbox, invite())
    assert await fast_worker(outbox, None).run_once() == 0
    broken = SmtpConfig(host="127.0.0.1", port=free_port(), auth=True)  # auth without a username
    assert await fast_worker(outbox, broken).run_once() == 0
    state = outbox.entry(entry)
    assert state is not None and state["lease_owner"] is None and state["last_error"] is None


async def test_enqueue_is_in_the_callers_transaction(engine: sa.Engine) -> None:
    outbox = Outbox(engine)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        outbox.enqueue(conn, invite())
        raise RuntimeError("the meeting failed to save")
    assert outbox.counts().waiting == 0
    with pytest.raises(ValueError):
        queue(outbox, OutgoingMail(to=(), subject="s", text="t", html="h"))


# --- several schedulers on one database --------------------------------------------------
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_two_workers_send_each_mail_once(kind: str, certs: Certs, tmp_path: Path) -> None:
    with database_url(kind, tmp_path) as url:
        engines = [sa.create_engine(url), sa.create_engine(url)]
        try:
            outbox_a, outbox_b = Outbox(engines[0]), Outbox(engines[1])
            total = 60
            queue(outbox_a, *(invite(n) for n in range(total)))
            with SmtpServer(Mode("smtp"), certs) as server:
                workers = [
                    fast_worker(outbox_a, server.config(), owner="node-a", batch=5),
                    fast_worker(outbox_b, server.config(), owner="node-b", batch=5),
                ]
                tasks = [asyncio.create_task(w.run()) for w in workers]
                try:
                    await until(lambda: outbox_a.counts().sent == total, timeout=30)
                    await asyncio.sleep(0.2)
                finally:
                    for t in tasks:
                        t.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
            refs = server.handler.references()
            assert sorted(refs, key=int) == [str(n) for n in range(total)]
        finally:
            for e in engines:
                e.dispose()


async def test_a_scheduler_without_working_server_leaves_mail_to_another(certs: Certs, engine: sa.Engine) -> None:
    outbox = Outbox(engine)
    queue(outbox, invite(1), invite(2))
    with SmtpServer(Mode("smtp"), certs) as server:
        down = fast_worker(outbox, SmtpConfig(host="127.0.0.1", port=free_port()), owner="down")
        up = fast_worker(outbox, server.config(), owner="up")
        assert await down.run_once() == 0
        assert await up.run_once() == 2
        # The failed one is not retrying its server yet, and there is nothing left anyway.
        assert await down.run_once() == 0
    assert sorted(server.handler.references()) == ["1", "2"]


# --- a node killed between queueing and sending -------------------------------------------
def wait_for(predicate: Any, timeout: float = 20.0, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(step)


def configure(dd: DataDir, command: str, input: str | None = None) -> None:
    result = mmp(dd, command, input=input)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


@pytest.mark.slow
def test_kill_9_between_enqueue_and_send_delivers_once_after_restart(
    datadir: DataDir, ports: Any, certs: Certs
) -> None:
    from tests.helpers import RunningNode

    smtp_port = free_port()
    configure(datadir, f"scheduler https listen a {free_port()}")
    configure(datadir, f"scheduler email server 127.0.0.1 {smtp_port}")
    configure(datadir, "scheduler email auth enable")
    configure(datadir, f"scheduler email username {USER}", input=f"{PASSWORD}\n{PASSWORD}\n")
    configure(datadir, "scheduler timedLogging email 600")
    configure(datadir, "scheduler enable")
    node = RunningNode(datadir, ports).start()
    engine = sa.create_engine(f"sqlite:///{datadir.database_db}")
    try:
        status = node.mmp("scheduler").stdout
        assert "scheduler running" in status, status + "\n".join(node.output)
        outbox = Outbox(engine)
        [entry] = queue(outbox, invite(42))
        # The node tries while the email server is down, and the mail waits.
        wait_for(lambda: (outbox.entry(entry) or {}).get("last_error") is not None)
        assert node.proc is not None
        node.proc.kill()
        node.proc.wait()
        node.stop()
        state = outbox.entry(entry)
        assert state is not None and state["sent"] is None
        with SmtpServer(Mode("smtp-auth", auth=True), certs, port=smtp_port) as server:
            node = RunningNode(datadir, ports).start()
            wait_for(lambda: len(server.handler.received) >= 1)
            time.sleep(1.0)  # the worker goes on polling: nothing more is sent
            assert server.handler.references() == ["42"]
            assert server.handler.received[0].auth == USER
        state = outbox.entry(entry)
        assert state is not None and state["sent"] is not None
    finally:
        node.stop()
        engine.dispose()
    syslog = datadir.syslog.read_text()
    assert "user.debug" in syslog and "moot.scheduler.email: connecting to 127.0.0.1" in syslog
    assert PASSWORD not in syslog
    assert PASSWORD not in datadir.audit_log.read_text()


async def test_a_batch_goes_out_over_several_connections_once_each(certs: Certs, engine: sa.Engine) -> None:
    """A slow server (0.2 s per message): four connections at once send 12 mails in about a
    quarter of the time one would take, each mail exactly once."""
    outbox = Outbox(engine)
    queue(outbox, *(invite(n) for n in range(12)))
    with SmtpServer(Mode("smtp"), certs) as server:
        slow = server.handler.handle_DATA

        async def handle_data(srv: Any, session: Any, envelope: Any) -> str:
            await asyncio.sleep(0.2)
            return await slow(srv, session, envelope)

        server.handler.handle_DATA = handle_data  # type: ignore[method-assign]
        worker = fast_worker(outbox, server.config(), sessions=4)
        started = time.monotonic()
        assert await worker.run_once() == 12
        took = time.monotonic() - started
    assert sorted(server.handler.references(), key=int) == [str(n) for n in range(12)]
    assert took < 12 * 0.2 / 2, took  # one connection would need 2.4 s
    assert outbox.counts().waiting == 0
