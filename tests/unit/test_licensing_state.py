"""Trial, licence and cluster view on an injected day (guide B.3, B.4, B.14)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from moot.licensing.compliance import UsageRecord
from moot.licensing.feature import Feature, Status, UserLicence, show_date, status_on
from moot.licensing.licensefile import LicenseFile, UserLimit
from moot.licensing.report import feature_line, lines, usage_line
from moot.licensing.state import ACTIVATION_BANNER, TRIAL_BANNER, evaluate

CREATED = date(2025, 1, 1)
TRIAL_END = CREATED + timedelta(days=90)  # 2025-04-01


def day(n: int) -> date:
    """Day ``n`` after the node was created."""
    return CREATED + timedelta(days=n)


def licence(**features: date) -> LicenseFile:
    return LicenseFile(
        issuer="Test", serial="s1", issued=CREATED, hosts=("h",),
        features={Feature(k): v for k, v in features.items()},
        personal=UserLimit(10, date(2026, 6, 30)), shared=UserLimit(20, date(2026, 6, 30)),
    )


@pytest.mark.parametrize(
    ("n", "status", "trial", "banner", "remain"),
    [
        (0, Status.ACTIVATED, True, TRIAL_BANNER, 90),
        (45, Status.ACTIVATED, True, TRIAL_BANNER, 45),
        (90, Status.ACTIVATED, True, TRIAL_BANNER, 0),  # the trial's last day
        (91, Status.NO_LICENSE, False, ACTIVATION_BANNER, None),
        (400, Status.NO_LICENSE, False, ACTIVATION_BANNER, None),
    ],
)
def test_trial_walk_through(n: int, status: Status, trial: bool, banner: str, remain: int | None) -> None:
    state = evaluate(day(n), created=CREATED)
    for feature in Feature:
        s = state.features[feature]
        assert (s.status, s.trial) == (status, trial)
        assert state.allows(feature) is (status is Status.ACTIVATED)
    assert state.banner == banner
    assert state.trial_active is trial
    assert state.alarm_level == (0 if trial else 3)
    if remain is not None:
        assert state.features[Feature.CALL_BRIDGE].expiry == TRIAL_END
        assert feature_line(state.features[Feature.CALL_BRIDGE], state, "callbridge") == (
            f"Feature: callbridge status: Trial expiry: 2025-Apr-01 ({remain} days remain)"
        )
    else:
        assert "Call Bridge requires activation" in lines(state)[0]
        assert "Feature: callbridge status: No license" in lines(state)


def test_trial_users_have_no_limit_licence_users_do() -> None:
    trial = evaluate(day(1), created=CREATED)
    assert trial.users[UserLicence.PERSONAL].trial and trial.entitlement.personal is None
    lic = evaluate(day(1), created=CREATED, licence=licence(callBridge=date(2026, 6, 30)))
    assert lic.users[UserLicence.PERSONAL].limit == 10
    assert lic.entitlement.personal == 10 and lic.entitlement.shared == 20


def test_guide_example_line() -> None:
    # The guide's line: expiry 2023-Apr-28 with 690 days remaining.
    today = date(2023, 4, 28) - timedelta(days=690)
    state = evaluate(today, created=today - timedelta(days=400),
                     licence=licence(callBridge=date(2023, 4, 28)))
    assert "Feature: callbridge status: Activated expiry: 2023-Apr-28 (690 days remain)" in lines(state)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 6, 29), Status.ACTIVATED),
        (date(2026, 6, 30), Status.ACTIVATED),  # the expiry day is still covered
        (date(2026, 7, 1), Status.GRACE),
        (date(2026, 9, 28), Status.GRACE),  # 90 days after
        (date(2026, 9, 29), Status.EXPIRED),
    ],
)
def test_grace_then_expired(today: date, expected: Status) -> None:
    assert status_on(date(2026, 6, 30), today) is expected
    state = evaluate(today, created=CREATED, licence=licence(callBridge=date(2026, 6, 30)))
    assert state.features[Feature.CALL_BRIDGE].status is expected
    assert state.allows(Feature.CALL_BRIDGE) is (expected is Status.ACTIVATED)
    assert state.alarm_level == {Status.ACTIVATED: 0, Status.GRACE: 2, Status.EXPIRED: 3}[expected]
    assert state.banner == (None if expected is Status.ACTIVATED else ACTIVATION_BANNER)


def test_grace_line_says_days_ago() -> None:
    state = evaluate(date(2026, 7, 5), created=CREATED, licence=licence(callBridge=date(2026, 6, 30)))
    assert "Feature: callbridge status: Grace expiry: 2026-Jun-30 (5 days ago)" in lines(state)


def test_licence_ends_the_banner_but_trial_covers_the_rest() -> None:
    state = evaluate(day(10), created=CREATED, licence=licence(callBridge=date(2026, 6, 30)))
    assert state.banner is None and state.call_bridge_licensed
    assert state.features[Feature.RECORDING].trial  # not in the licence: trial until day 90
    after = evaluate(day(100), created=CREATED, licence=licence(callBridge=date(2026, 6, 30)))
    assert after.features[Feature.RECORDING].status is Status.NO_LICENSE
    assert not after.allows(Feature.RECORDING) and after.allows(Feature.CALL_BRIDGE)


def test_no_encryption_licence_activates_the_bridge_without_encryption() -> None:
    state = evaluate(day(200), created=CREATED,
                     licence=licence(callBridgeNoEncryption=date(2026, 6, 30)))
    assert state.banner is None and state.alarm_level == 0
    assert not state.encryption_allowed


def test_licence_without_call_bridge_after_trial_needs_activation() -> None:
    state = evaluate(day(200), created=CREATED, licence=licence(recording=date(2026, 6, 30)))
    assert state.banner == ACTIVATION_BANNER and state.allows(Feature.RECORDING)
    assert lines(state)[0].startswith("Call Bridge requires activation")


@pytest.mark.parametrize("n", [0, 10, 200, 500])
def test_cluster_expiry_never_more_than_90_days_ahead(n: int) -> None:
    today = day(n)
    state = evaluate(today, created=CREATED, licence=licence(callBridge=date(2030, 1, 1)))
    cluster = state.cluster[Feature.CALL_BRIDGE]
    assert cluster.status is Status.ACTIVATED
    assert cluster.expiry == today + timedelta(days=90)
    # the per-node view keeps the file's date
    assert state.features[Feature.CALL_BRIDGE].expiry == date(2030, 1, 1)


def test_cluster_follows_the_compliance_clock() -> None:
    lic = licence(callBridge=date(2030, 1, 1))
    # Reports stop after day 100: the expiry stays at day 190 and the bridge expires after it.
    usage = [UsageRecord(day(i), personal=1) for i in range(0, 101)]
    state = evaluate(day(150), created=CREATED, licence=lic, usage=usage)
    assert state.cluster[Feature.CALL_BRIDGE].expiry == day(190)
    assert state.allows(Feature.CALL_BRIDGE) and state.alarm_level == 0
    late = evaluate(day(191), created=CREATED, licence=lic, usage=usage)
    assert late.cluster[Feature.CALL_BRIDGE].status is Status.EXPIRED
    assert not late.allows(Feature.CALL_BRIDGE) and late.alarm_level == 2
    assert late.features[Feature.CALL_BRIDGE].status is Status.ACTIVATED  # the file is fine


def test_show_date_is_the_guides_form() -> None:
    assert show_date(date(2023, 4, 28)) == "2023-Apr-28"
    assert show_date(date(2020, 9, 6)) == "2020-Sep-06"


def test_usage_line_shows_todays_peak_against_the_entitlement() -> None:
    today = day(100)
    state = evaluate(today, created=CREATED, licence=licence(callBridge=date(2026, 6, 30)),
                     usage=[UsageRecord(today - timedelta(days=1), personal=9, shared=30.0),
                            UsageRecord(today, personal=3, shared=1 + 2 / 6, recording=0)])
    assert usage_line(state, [UsageRecord(today, personal=3, shared=1 + 2 / 6)]) == (
        "Usage today (peak): personal 3 of 10, shared 1.333 of 20 (weighted), "
        "recording/streaming 0 of 0")
    assert usage_line(state, [UsageRecord(today - timedelta(days=1), personal=3)]) is None
    assert usage_line(state, None) is None
