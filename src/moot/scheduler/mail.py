"""One email the scheduler sends: what the meetings side hands to the outbox."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutgoingMail:
    #: Recipients' addresses.
    to: tuple[str, ...]
    subject: str
    #: Plain-text and HTML bodies of the same message.
    text: str
    html: str
    #: A whole VCALENDAR (text/calendar part), and its METHOD ("REQUEST" or "CANCEL").
    ics: str | None = None
    ics_method: str | None = None
    #: The organizer; the sender when no common address is configured.
    organizer_address: str | None = None
    organizer_name: str | None = None
    #: What the mail is about (a meeting's UID), for logs and de-duplication.
    reference: str | None = None
