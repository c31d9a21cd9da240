"""The emails about a meeting: subject, plain text and HTML bodies, and the ICS part.

User text (meeting name, description, organizer name) is escaped in the HTML body.
"""

from __future__ import annotations

import enum
from datetime import datetime
from html import escape

from moot.scheduler import ics
from moot.scheduler.ics import Invitation
from moot.scheduler.mail import OutgoingMail
from moot.scheduler.recurrence import show_local


class Notice(enum.Enum):
    INVITE = "Invitation"
    UPDATE = "Updated invitation"
    CANCEL = "Cancelled"
    CANCEL_OCCURRENCE = "Occurrence cancelled"


def _when(inv: Invitation, occurrence: datetime | None) -> str:
    sched = inv.schedule
    if occurrence is not None:
        start, end = occurrence, occurrence + sched.duration
    else:
        start, end = sched.start, sched.end
    text = f"{start:%A %d %B %Y %H:%M} - {end:%H:%M} ({inv.tzid})"
    if sched.rule and occurrence is None:
        text += f", repeating: {sched.rule}"
    return text


def _text(notice: Notice, inv: Invitation, occurrence: datetime | None) -> str:
    organizer = inv.organizer_name or inv.organizer_email
    lines = [f"{notice.value}: {inv.name}", "", f"When: {_when(inv, occurrence)}", f"Organizer: {organizer}"]
    if notice in (Notice.CANCEL, Notice.CANCEL_OCCURRENCE):
        lines += ["", "This meeting has been cancelled." if occurrence is None else "This occurrence has been cancelled."]
    else:
        if inv.description:
            lines += ["", inv.description]
        lines += ["", *inv.dial_in.lines()]
    return "\n".join(lines) + "\n"


def _html(notice: Notice, inv: Invitation, occurrence: datetime | None) -> str:
    organizer = escape(inv.organizer_name or inv.organizer_email)
    parts = [
        "<!DOCTYPE html><html><body>",
        f"<h2>{escape(notice.value)}: {escape(inv.name)}</h2>",
        f"<p><b>When:</b> {escape(_when(inv, occurrence))}<br><b>Organizer:</b> {organizer}</p>",
    ]
    if notice in (Notice.CANCEL, Notice.CANCEL_OCCURRENCE):
        parts.append("<p>This meeting has been cancelled.</p>" if occurrence is None else "<p>This occurrence has been cancelled.</p>")
    else:
        if inv.description:
            parts.append(f"<p>{escape(inv.description)}</p>")
        dial = inv.dial_in
        if dial.join_url:
            url = escape(dial.join_url, quote=True)
            parts.append(f'<p><a href="{url}">Join in the web app</a></p>')
        details = [escape(line) for line in dial.lines() if not line.startswith("Join")]
        if details:
            parts.append("<p>" + "<br>".join(details) + "</p>")
    parts.append("</body></html>")
    return "".join(parts)


def compose(
    notice: Notice,
    inv: Invitation,
    to: tuple[str, ...] | None = None,
    occurrence: datetime | None = None,
) -> OutgoingMail:
    """The mail for ``notice`` (to every invitee unless ``to`` is given)."""
    if notice is Notice.CANCEL:
        calendar, method = ics.cancel(inv, to), "CANCEL"
    elif notice is Notice.CANCEL_OCCURRENCE:
        assert occurrence is not None
        calendar, method = ics.cancel_occurrence(inv, occurrence), "CANCEL"
    else:
        calendar, method = ics.request(inv), "REQUEST"
    when = f" ({show_local(occurrence)})" if occurrence is not None else ""
    return OutgoingMail(
        to=inv.invitees if to is None else to,
        subject=f"{notice.value}: {inv.name}{when}",
        text=_text(notice, inv, occurrence),
        html=_html(notice, inv, occurrence),
        ics=calendar,
        ics_method=method,
        organizer_address=inv.organizer_email,
        organizer_name=inv.organizer_name,
        reference=inv.uid,
    )
