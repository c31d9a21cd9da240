"""What the MMP ``license`` command prints (guide B.14.1.1 step 7).

Each feature is one line in the guide's form::

    Feature: callbridge status: Activated expiry: 2023-Apr-28 (690 days remain)

then the user licences, the compliance notices and, first, any banner.
"""

from __future__ import annotations

from moot.licensing.compliance import NON_COMPLIANT_LIMIT, WINDOW_DAYS, UsageRecord
from moot.licensing.feature import FeatureStatus, Status, show_date
from moot.licensing.state import ACTIVATION_BANNER, TRIAL_DAYS, LicensingState

_SHOWN = {
    Status.ACTIVATED: "Activated",
    Status.GRACE: "Grace",
    Status.EXPIRED: "Expired",
    Status.NO_LICENSE: "No license",
}


def _when(s: FeatureStatus, state: LicensingState) -> str:
    if s.expiry is None:
        return ""
    days = (s.expiry - state.today).days
    tail = f"({days} days remain)" if days >= 0 else f"({-days} days ago)"
    return f" expiry: {show_date(s.expiry)} {tail}"


def status_word(s: FeatureStatus) -> str:
    return "Trial" if s.trial else _SHOWN[s.status]


def feature_line(s: FeatureStatus, state: LicensingState, mmp_name: str) -> str:
    return f"Feature: {mmp_name} status: {status_word(s)}{_when(s, state)}"


def usage_line(state: LicensingState, usage: list[UsageRecord] | None) -> str | None:
    """Today's peak use against the entitlement (guide B.12), when it has been recorded."""
    today = next((r for r in reversed(usage or []) if r.day == state.today), None)
    if today is None:
        return None
    ent = state.entitlement

    def of(limit: int | None) -> str:
        return "" if limit is None else f" of {limit}"

    shared = f"{today.shared:.3f}".rstrip("0").rstrip(".")
    return (f"Usage today (peak): personal {today.personal:g}{of(ent.personal)}, "
            f"shared {shared}{of(ent.shared)} (weighted), recording/streaming {today.recording}"
            f"{of(ent.recording)}")


def lines(state: LicensingState) -> list[str]:
    """The ``license`` output for ``state`` (without the file store notices)."""
    out: list[str] = []
    if state.banner == ACTIVATION_BANNER:
        if state.licence is None:
            out.append(
                f"This server is unlicensed and the trial ended on "
                f"{show_date(state.trial_expiry)}: {ACTIVATION_BANNER}."
            )
        else:
            out.append(f"{ACTIVATION_BANNER}: the license does not activate the call bridge.")
    elif state.banner is not None:
        out.append(
            f"{state.banner}: trial mode, fully featured for {TRIAL_DAYS} days "
            "from the first start."
        )
    if state.licence is not None:
        lic = state.licence
        out.append(
            f"License: serial {lic.serial} issued {show_date(lic.issued)} by {lic.issuer}"
        )
    for feature, s in state.features.items():
        out.append(feature_line(s, state, feature.mmp_name))
    for kind, s in state.users.items():
        limit = f" limit: {s.limit}" if s.limit is not None and not s.trial else ""
        out.append(f"Users: {kind.value} ({kind.product}) status: {status_word(s)}{limit}"
                   f"{_when(s, state)}")
    clock = state.compliance
    if clock is not None:
        if clock.alarm == 1:
            out.append(
                f"Out of compliance (alarm level 1): {clock.non_compliant_days} of the last "
                f"{WINDOW_DAYS} days over the entitlement; add licenses within "
                f"{clock.countdown} days, or alarm levels 2 and 3 apply"
            )
        elif clock.alarm >= 2:
            out.append(
                f"Out of compliance (alarm level {clock.alarm}): licenses expired on "
                f"{show_date(clock.expiry)}; participants joining a meeting are told so"
            )
        elif clock.insufficient:
            out.append(
                f"Insufficient licenses: {clock.non_compliant_days} of the last {WINDOW_DAYS} "
                f"days over the entitlement (allowed below {NON_COMPLIANT_LIMIT})"
            )
    return out
