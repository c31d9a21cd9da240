"""Who may join which meeting from the web app: meeting IDs, secrets, passcodes, guests.

A *meeting ID* is the call ID of a space or of one of its access methods (the digits the
IVR also takes). A join link carries the space's (or access method's) ``secret`` instead
of the passcode. The web bridge profile in force for the space decides which of these are
accepted (``allowPasscodes``, ``allowSecrets``, ``resolveCoSpaceCallIds``,
``resolveCoSpaceUris``, ``allowUnauthenticatedGuests``). Runs in a worker thread with a
read transaction of the API store.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from moot.api.objects.calls import CALL
from moot.api.objects.common import CALL_ID_NAMESPACE, URI_NAMESPACE
from moot.callbridge import profiles, routing
from moot.callbridge.routing import SpaceTarget
from moot.db.apistore import Txn

MAX_MEETING_ID = 254


class AccessDenied(Exception):
    """The web app's error ``code`` and a message for a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


UNKNOWN = "We couldn't find a meeting with that ID. Check the ID and try again."


@dataclass(frozen=True)
class Meeting:
    target: SpaceTarget
    meeting_id: str
    name: str
    profile: dict[str, Any]
    secret: str | None
    """The secret that opens it (the access method's, else the space's)."""

    @property
    def passcode_required(self) -> bool:
        return self.target.passcode is not None

    @property
    def guests_allowed(self) -> bool:
        return bool(self.profile.get("allowUnauthenticatedGuests", True))


def find_meeting(txn: Txn, meeting_id: str, web_bridge_url: str | None = None) -> Meeting:
    """The space a meeting ID names (call ID, or URI where the profile allows); the profile is
    the one in force for this web bridge (its ``/webBridges`` object, found by ``url``)."""
    meeting_id = meeting_id.strip()
    if not meeting_id or len(meeting_id) > MAX_MEETING_ID:
        raise AccessDenied("unknownMeeting", UNKNOWN)
    target = routing.by_call_id(txn, meeting_id) if meeting_id.isdigit() else None
    via_uri = False
    if target is None:
        target = _by_uri(txn, meeting_id)
        via_uri = True
    if target is None:
        owner = txn.owner_of(CALL_ID_NAMESPACE, meeting_id) if meeting_id.isdigit() else None
        if owner is not None and owner[0] == "meeting":
            # A scheduled meeting whose temporary space is made shortly before it starts.
            from moot.scheduler.housekeeping import LEAD
            minutes = int(LEAD.total_seconds() // 60)
            raise AccessDenied("meetingNotStarted",
                               f"This meeting is not open yet: it opens {minutes} minutes before it starts.")
        raise AccessDenied("unknownMeeting", UNKNOWN)
    profile = profiles.web_bridge(txn, target.space, web_bridge_url)
    if via_uri and profile.get("resolveCoSpaceUris", "off") == "off":
        raise AccessDenied("unknownMeeting", UNKNOWN)
    holder = target.access_method or target.space
    return Meeting(target, meeting_id, str(target.space.get("name") or meeting_id), profile,
                   str(holder["secret"]) if holder.get("secret") else None)


def check_entry(meeting: Meeting, *, passcode: str | None, secret: str | None, signed_in: bool) -> None:
    """Raise :class:`AccessDenied` unless these credentials open the meeting."""
    profile = meeting.profile
    by_secret = secret is not None and meeting.secret is not None and profile.get("allowSecrets", True)
    if secret is not None and not (by_secret and hmac.compare_digest(secret, meeting.secret or "")):
        raise AccessDenied("unknownMeeting", "This meeting link is not valid (any more). Ask for a new invitation.")
    if not by_secret and not profile.get("resolveCoSpaceCallIds", True) and meeting.meeting_id.isdigit():
        raise AccessDenied("unknownMeeting", UNKNOWN)
    if not signed_in and not meeting.guests_allowed:
        raise AccessDenied("guestsNotAllowed", "Guests cannot join this meeting; sign in first.")
    if by_secret or meeting.target.passcode is None:
        return
    if not profile.get("allowPasscodes", True):
        raise AccessDenied("unknownMeeting", "This meeting can only be joined from its invitation link.")
    if not passcode:
        raise AccessDenied("passcodeRequired", "This meeting needs a passcode.")
    if not hmac.compare_digest(passcode.encode(), meeting.target.passcode.encode()):
        raise AccessDenied("wrongPasscode", "That passcode is not right. Check it and try again.")


def call_locked(txn: Txn, call_id: str | None, call_profile_locked: bool) -> bool:
    """A running call is locked by its call profile or by the API (``PUT /calls/<id> locked=true``)."""
    if call_profile_locked:
        return True
    if call_id is None:
        return False
    row = txn.get(CALL, call_id)
    return bool(row and row.get("locked"))


def _by_uri(txn: Txn, text: str) -> SpaceTarget | None:
    user = text.split("@", 1)[0].removeprefix("sip:")
    return routing.space_of(txn, txn.owner_of(URI_NAMESPACE, user.lower()))
