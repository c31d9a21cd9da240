"""Licence alarms in ``/system/alarms`` (guide B.3/B.4): what the operator sees in the API
while the deployment is out of compliance or its call bridge licence has lapsed.

One alarm per alarm level, raised when the level is reached and cleared when it is left;
``activeTimeSeconds`` counts from when it was raised (kept across restarts: the row stays
while the condition does).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from moot.api.objects.system import ALARM
from moot.db.apistore import Txn

__all__ = ["LICENCE_ALARMS", "LicenceAlarm", "licence_alarm", "sync"]


@dataclass(frozen=True)
class LicenceAlarm:
    type: str
    reason: str


LICENCE_ALARMS = {
    1: LicenceAlarm("licenseOutOfCompliance",
                    "licence usage was over the entitlement on too many of the last 90 days; "
                    "add licences before the countdown ends or alarm levels 2 and 3 apply"),
    2: LicenceAlarm("licenseExpired",
                    "the callBridge licence has expired (grace period): participants are told "
                    "so when they join"),
    3: LicenceAlarm("licenseOutOfComplianceExpired",
                    "the callBridge licence expired more than 90 days ago, or there is no "
                    "licence and the trial is over: encrypted calls are not processed"),
}
_TYPES = tuple(a.type for a in LICENCE_ALARMS.values())


def licence_alarm(level: int) -> LicenceAlarm | None:
    return LICENCE_ALARMS.get(min(level, 3)) if level > 0 else None


def sync(txn: Txn, level: int, now: float | None = None) -> None:
    """Make the licence alarm rows match ``level`` (and refresh their active time)."""
    now = time.time() if now is None else now
    wanted = licence_alarm(level)
    _, rows = txn.list(ALARM, None, [], 0, 1000, ["type", "raisedAt"])
    present = False
    for row in (r for r in rows if r.get("type") in _TYPES):
        if wanted is not None and row.get("type") == wanted.type and not present:
            present = True
            raised = row.get("raisedAt") or int(now)
            txn.update(ALARM, row["id"], {"activeTimeSeconds": int(now - raised)})
        else:
            txn.delete(ALARM, row["id"])
    if wanted is not None and not present:
        txn.insert(ALARM, str(uuid.uuid4()), None, {
            "type": wanted.type, "failureReason": wanted.reason, "raisedAt": int(now),
            "activeTimeSeconds": 0,
        })
