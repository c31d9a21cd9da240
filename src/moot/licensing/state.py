"""A node's licensing state on a day: trial, licence file and compliance clock together.

- A new deployment is fully featured for 90 days from the node's creation (the trial;
  guide 2.x note "Trial Mode for a 90 day full featured period without licenses").
- An applied licence file activates its features and user licences until their expiry,
  then each is in ``grace`` for 90 days, then ``expired``.
- What neither the trial nor a licence covers has ``noLicense``; when that is the call
  bridge the banner is "Call Bridge requires activation" (guide B.14.1.2).
- The cluster view (``/clusterLicensing``) never shows an expiry more than 90 days
  ahead, and with usage reports it follows the compliance clock (guide B.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from moot.licensing.compliance import (
    WINDOW_DAYS,
    ComplianceState,
    Entitlement,
    UsageRecord,
    multiparty_clock,
    recording_clock,
)
from moot.licensing.feature import Feature, FeatureStatus, Status, UserLicence, status_on
from moot.licensing.licensefile import LicenseFile

TRIAL_DAYS = 90
TRIAL_BANNER = "This server is currently unlicensed"
ACTIVATION_BANNER = "Call Bridge requires activation"
CALL_BRIDGE_FEATURES = (Feature.CALL_BRIDGE, Feature.CALL_BRIDGE_NO_ENCRYPTION)


@dataclass(frozen=True)
class LicensingState:
    today: date
    #: The trial's last day (node creation + 90 days).
    trial_expiry: date
    licence: LicenseFile | None
    #: Per node: what the licence file and the trial give (MMP ``license``, ``/system/licensing``).
    features: Mapping[Feature, FeatureStatus]
    users: Mapping[UserLicence, FeatureStatus]
    #: The cluster's view (``/clusterLicensing``): expiry at most 90 days ahead.
    cluster: Mapping[Feature, FeatureStatus]
    #: The PMP Plus + SMP Plus compliance clock, when usage reports are fed in.
    compliance: ComplianceState | None = None
    recording_compliance: ComplianceState | None = None

    @property
    def trial_active(self) -> bool:
        return self.today <= self.trial_expiry

    def allows(self, feature: Feature) -> bool:
        """Whether ``feature`` may be used now (the cluster view: licence, trial, clock)."""
        return self.cluster[feature].active

    @property
    def call_bridge_licensed(self) -> bool:
        """A licence (not the trial) activates the call bridge."""
        return any(self.features[f].active and not self.features[f].trial
                   for f in CALL_BRIDGE_FEATURES)

    @property
    def encryption_allowed(self) -> bool:
        """Encrypted calls need ``callBridge`` (not only ``callBridgeNoEncryption``)."""
        return self.allows(Feature.CALL_BRIDGE)

    @property
    def banner(self) -> str | None:
        """The web admin's banner: trial, activation needed, or none."""
        if self.call_bridge_licensed:
            return None
        if any(self.features[f].active for f in CALL_BRIDGE_FEATURES):
            return TRIAL_BANNER
        return ACTIVATION_BANNER

    @property
    def alarm_level(self) -> int:
        """The call bridge's enforcement level (guide B.4, Table 6).

        0 none; 1 out of compliance (a notice to the admin only); 2 expired: a 30-second
        text and an audio prompt on joining; 3 no licence, or expired more than 90 days
        ago: the text stays and encrypted calls are not processed.
        """
        statuses = [self.cluster[f].status for f in CALL_BRIDGE_FEATURES]
        files = [self.features[f].status for f in CALL_BRIDGE_FEATURES]
        if Status.ACTIVATED in statuses:
            level = 0
        elif Status.GRACE in files or Status.ACTIVATED in files:
            level = 2
        else:
            level = 3
        if self.compliance is not None:
            level = max(level, self.compliance.alarm)
        return level

    @property
    def entitlement(self) -> Entitlement:
        return _entitlement(self.features, self.users)


def _entitlement(
    features: Mapping[Feature, FeatureStatus], users: Mapping[UserLicence, FeatureStatus]
) -> Entitlement:
    def count(s: FeatureStatus) -> int | None:
        if not s.active:
            return 0
        return None if s.trial else s.limit

    recording = features[Feature.RECORDING]
    return Entitlement(
        personal=count(users[UserLicence.PERSONAL]),
        shared=count(users[UserLicence.SHARED]),
        recording=None if recording.active else 0,
    )


def _status(
    name: str, expiry: date | None, limit: int | None, today: date, trial_expiry: date
) -> FeatureStatus:
    status = status_on(expiry, today)
    if status is not Status.ACTIVATED and today <= trial_expiry:
        return FeatureStatus(name, Status.ACTIVATED, trial_expiry, trial=True)
    return FeatureStatus(name, status, expiry, limit=limit if expiry else None)


def evaluate(
    today: date,
    *,
    created: date,
    licence: LicenseFile | None = None,
    usage: Sequence[UsageRecord] | None = None,
) -> LicensingState:
    """The licensing state on ``today`` of a node created on ``created``.

    ``usage`` is the daily usage reports (None: not tracked, no compliance clock).
    """
    trial_expiry = created + timedelta(days=TRIAL_DAYS)
    features = {
        f: _status(f.value, licence.features.get(f) if licence else None, None, today, trial_expiry)
        for f in Feature
    }
    users: dict[UserLicence, FeatureStatus] = {}
    for kind in UserLicence:
        limit = licence.user_limit(kind) if licence else None
        users[kind] = _status(
            kind.value, limit.expiry if limit else None, limit.limit if limit else None,
            today, trial_expiry,
        )
    compliance = recording = None
    if usage is not None:
        entitlement = _entitlement(features, users)
        compliance = multiparty_clock(created, usage, entitlement, today)
        recording = recording_clock(created, usage, entitlement, today)
    cap = today + timedelta(days=WINDOW_DAYS)
    cluster: dict[Feature, FeatureStatus] = {}
    for f, s in features.items():
        if s.status is Status.NO_LICENSE or s.expiry is None:
            cluster[f] = s
            continue
        expiry = min(s.expiry, cap)
        clock = compliance if f in CALL_BRIDGE_FEATURES else (
            recording if f is Feature.RECORDING else None)
        if clock is not None and s.active:
            expiry = min(expiry, clock.expiry)
        status = Status.ACTIVATED if s.active and today <= expiry else Status.EXPIRED
        cluster[f] = FeatureStatus(f.value, status, expiry, trial=s.trial)
    return LicensingState(
        today=today,
        trial_expiry=trial_expiry,
        licence=licence,
        features=features,
        users=users,
        cluster=cluster,
        compliance=compliance,
        recording_compliance=recording,
    )
