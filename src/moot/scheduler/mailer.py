"""Building invitation emails and sending them over SMTP (guide 3.6.1-3.6.6).

The six modes of the guide are two switches and a protocol: ``smtp`` or ``smtps``
(TLS from the first byte), ``starttls`` (smtp only) and ``auth`` (AUTH LOGIN).
Certificates: with ``scheduler email trust <name>`` only that certificate or bundle is
trusted (the system's roots are not) and the server's name must match it, as the guide
requires: a host name against its DNS names, an IP address against its IP address
entries. A trusted server or intermediate certificate is an anchor by itself (partial
chains are accepted). Without ``trust`` any certificate is accepted (the guide's default).

Errors come in two kinds: :class:`ServerError` (the server cannot be used now: down,
TLS refused, login refused; the mail is not to blame) and :class:`MessageError`
(the server refused this message). Passwords never reach a log or an error text.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets
import socket
import ssl
from dataclasses import dataclass, field
from email.header import Header
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path
from types import TracebackType

import aiosmtplib
from cryptography.hazmat.primitives import serialization

from moot.node.datadir import DataDir
from moot.node.settings import NodeConfig
from moot.pki import PkiError
from moot.pki.material import load_certificates
from moot.scheduler.mail import OutgoingMail
from moot.scheduler.settings import (
    EMAIL_AUTH,
    EMAIL_COMMON_ADDRESS,
    EMAIL_PASSWORD,
    EMAIL_PROTOCOL,
    EMAIL_SERVER,
    EMAIL_STARTTLS,
    EMAIL_TRUST,
    EMAIL_USERNAME,
)

log = logging.getLogger("moot.scheduler.email")

#: Seconds for connecting and for each SMTP command.
SMTP_TIMEOUT = 30.0
ICS_FILENAME = "invite.ics"


class ServerError(Exception):
    """The email server cannot be used now (down, TLS, login): try again later, maybe elsewhere."""


class MessageError(Exception):
    """The server refused this message."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    protocol: str = "smtp"
    starttls: bool = False
    auth: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: The trusted certificate or bundle; None: accept any certificate.
    trust: Path | None = None
    common_address: str | None = None
    common_name: str | None = None

    @classmethod
    def from_config(cls, config: NodeConfig, datadir: DataDir) -> SmtpConfig | None:
        """This node's email server, or None when none is configured."""
        server = config.get(EMAIL_SERVER)
        if not server:
            return None
        trust = config.get(EMAIL_TRUST)
        common = config.get(EMAIL_COMMON_ADDRESS) or {}
        return cls(
            host=str(server["host"]),
            port=int(server["port"]),
            protocol=config.get(EMAIL_PROTOCOL),
            starttls=bool(config.get(EMAIL_STARTTLS)),
            auth=bool(config.get(EMAIL_AUTH)),
            username=config.get(EMAIL_USERNAME),
            password=config.get(EMAIL_PASSWORD),
            trust=datadir.file(trust) if trust else None,
            common_address=common.get("address") or None,
            common_name=common.get("name") or None,
        )

    @property
    def problem(self) -> str | None:
        """Why this configuration cannot send at all, if it cannot."""
        if self.auth and not (self.username and self.password):
            return "email auth is enabled but no username is set ('scheduler email username')"
        return None

    @property
    def tls(self) -> bool:
        return self.protocol == "smtps" or self.starttls

    def describe(self) -> str:
        mode = "SMTPS" if self.protocol == "smtps" else "SMTP" + ("+STARTTLS" if self.starttls else "")
        if self.auth:
            mode += "+AUTH LOGIN"
        return f"{self.host}:{self.port} ({mode})"


# --- the message ------------------------------------------------------------------------
def sender(cfg: SmtpConfig | None, mail: OutgoingMail) -> tuple[str, str]:
    """(display name, address) of the From header."""
    if cfg is not None and cfg.common_address:
        return cfg.common_name or "", cfg.common_address
    if mail.organizer_address:
        return mail.organizer_name or "", mail.organizer_address
    if cfg is not None and cfg.username and "@" in cfg.username:
        return "", cfg.username
    return "", f"scheduler@{socket.getfqdn()}"


def _header(name: str, value: str) -> bytes:
    """One header line: ASCII as is, anything else as RFC 2047 encoded words (folded)."""
    if value.isascii() and "\n" not in value and "\r" not in value:
        return f"{name}: {value}\r\n".encode("ascii")
    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}\r\n".encode("ascii")


def _address(name: str, address: str) -> str:
    if name and not name.isascii():
        return formataddr((str(Header(name, "utf-8").encode()), address))
    return formataddr((name, address))


def _part(content_type: str, body: bytes, extra: tuple[str, ...] = ()) -> bytes:
    """A base64 leaf part (76-character lines, as RFC 2045 asks)."""
    lines = [f"Content-Type: {content_type}", "Content-Transfer-Encoding: base64", *extra]
    encoded = base64.encodebytes(body).replace(b"\n", b"\r\n")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + encoded


def _multipart(subtype: str, parts: list[bytes]) -> tuple[str, bytes]:
    boundary = "=_moot_" + secrets.token_hex(12)
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return f'multipart/{subtype}; boundary="{boundary}"', body + b"--" + boundary.encode() + b"--\r\n"


def build_message(mail: OutgoingMail, cfg: SmtpConfig | None, key: str | None = None) -> bytes:
    """The wire form of an invite: text + HTML (+ text/calendar) alternatives, and the
    invite again as an .ics attachment (multipart/mixed around multipart/alternative).

    Built directly as bytes: the ``email`` package's header parsing and folding cost
    about 2.5 ms per message, most of the send path. ``key`` (the outbox entry) makes the
    Message-ID stable across retries.
    """
    name, address = sender(cfg, mail)
    domain = address.rpartition("@")[2] or "moot.invalid"
    head = [
        _header("From", _address(name, address)),
    ]
    if (
        cfg is not None
        and cfg.auth
        and cfg.username
        and "@" in cfg.username
        and cfg.username.lower() != address.lower()
    ):
        head.append(_header("Sender", cfg.username))
    head += [
        _header("To", ", ".join(_address(*parseaddr(to)) for to in mail.to)),
        _header("Subject", mail.subject),
        _header("Date", format_datetime(dt.datetime.now(dt.UTC))),
        _header("Message-ID", f"<{key}@{domain}>" if key else make_msgid(domain=domain)),
        b"MIME-Version: 1.0\r\n",
    ]
    alternatives = [
        _part('text/plain; charset="utf-8"', mail.text.encode("utf-8")),
        _part('text/html; charset="utf-8"', mail.html.encode("utf-8")),
    ]
    if mail.ics is None:
        content_type, body = _multipart("alternative", alternatives)
    else:
        method = (mail.ics_method or "REQUEST").upper()
        ics = mail.ics.encode("utf-8")
        alternatives.append(_part(f'text/calendar; charset="utf-8"; method="{method}"', ics))
        alt_type, alt_body = _multipart("alternative", alternatives)
        attachment = _part("application/ics", ics,
                           (f'Content-Disposition: attachment; filename="{ICS_FILENAME}"',))
        content_type, body = _multipart("mixed", [f"Content-Type: {alt_type}\r\n\r\n".encode() + alt_body,
                                                  attachment])
    head.append(f"Content-Type: {content_type}\r\n".encode("ascii"))
    return b"".join(head) + b"\r\n" + body


def envelope_sender(cfg: SmtpConfig, mail: OutgoingMail) -> str:
    """MAIL FROM: the authenticated account when it is an address, else the From address."""
    if cfg.auth and cfg.username and "@" in cfg.username:
        return cfg.username
    return sender(cfg, mail)[1]


# --- TLS --------------------------------------------------------------------------------
def client_tls_context(trust: Path | None) -> ssl.SSLContext:
    """Trust only ``trust`` (and check the server's name against it), or anything."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if trust is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        certs = load_certificates(trust)
    except (PkiError, OSError, ValueError) as exc:
        raise ServerError(f"trust file {trust.name} cannot be used: {exc}") from None
    # Only that certificate or bundle: drop the system's roots.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(
        cadata="".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)
    )
    # A trusted server (or intermediate) certificate is an anchor by itself.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


# --- sending ----------------------------------------------------------------------------
class SmtpSession:
    """One connection to the email server: connect, TLS, login; then send messages."""

    def __init__(self, cfg: SmtpConfig, timeout: float = SMTP_TIMEOUT) -> None:
        self.cfg = cfg
        self.timeout = timeout
        self._smtp: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> SmtpSession:
        await self.connect()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        cfg = self.cfg
        if cfg.problem:
            raise ServerError(cfg.problem)
        context = client_tls_context(cfg.trust) if cfg.tls else None
        smtp = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            timeout=self.timeout,
            use_tls=cfg.protocol == "smtps",
            start_tls=False,
            tls_context=context,
        )
        log.debug("connecting to %s", cfg.describe())
        try:
            await smtp.connect()
            if cfg.protocol != "smtps" and cfg.starttls:
                await smtp.starttls(tls_context=context)
                log.debug("STARTTLS done with %s", cfg.host)
            if cfg.auth:
                await self._login(smtp)
        except ssl.SSLError as exc:
            await _abort(smtp)
            raise ServerError(_tls_failure(cfg, exc)) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            await _abort(smtp)
            raise ServerError(
                f"{cfg.host} refused the login of {cfg.username}: {exc.code} {exc.message}"
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            await _abort(smtp)
            tls = _ssl_cause(exc)
            if tls is not None:
                raise ServerError(_tls_failure(cfg, tls)) from None
            raise ServerError(f"cannot use {cfg.describe()}: {_reason(exc)}") from None
        self._smtp = smtp
        log.debug("connected to %s", cfg.describe())

    async def _login(self, smtp: aiosmtplib.SMTP) -> None:
        cfg = self.cfg
        assert cfg.username is not None and cfg.password is not None
        if smtp.last_ehlo_response is None:
            await smtp.ehlo()
        if "login" in smtp.supported_auth_methods:
            await smtp.auth_login(cfg.username, cfg.password)
        else:
            # The server does not offer AUTH LOGIN: the best it offers.
            await smtp.login(cfg.username, cfg.password)
        log.debug("logged in to %s as %s", cfg.host, cfg.username)

    async def send(self, mail: OutgoingMail, key: str | None = None) -> None:
        assert self._smtp is not None, "connect first"
        message = build_message(mail, self.cfg, key)
        try:
            errors, response = await self._smtp.sendmail(
                envelope_sender(self.cfg, mail), list(mail.to), message
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise MessageError(
                "all recipients refused: " + "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            ) from None
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError) as exc:
            raise MessageError(f"{exc.code} {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            self._smtp = None
            raise ServerError(f"{self.cfg.describe()} failed while sending: {_reason(exc)}") from None
        if errors:
            log.warning(
                "%s: some recipients refused: %s",
                mail.reference or key,
                "; ".join(f"{r}: {e.code} {e.message}" for r, e in errors.items()),
            )
        log.debug("sent %s to %s: %s", mail.reference or key, ", ".join(mail.to), response)

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            smtp.close()


async def _abort(smtp: aiosmtplib.SMTP) -> None:
    try:
        smtp.close()
    except Exception:  # closing a broken connection
        pass


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _tls_failure(cfg: SmtpConfig, exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        trusted = cfg.trust.name if cfg.trust else "any certificate"
        return (
            f"the certificate of {cfg.describe()} is not trusted "
            f"({exc.verify_message}; trusted: {trusted}); check 'scheduler email trust'"
        )
    return f"TLS with {cfg.describe()} failed: {exc.reason or exc}"


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
