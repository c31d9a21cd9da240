"""The licence usage time series (guide B.12): interval peaks, pruning, daily usage, the clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from moot.api.catalog import catalog
from moot.api.objects.licenseusage import KNOWN_HOST, LICENSE_USAGE
from moot.db.apistore import ApiStore
from moot.licensing.feature import Feature
from moot.licensing.licensefile import LicenseFile, UserLimit
from moot.licensing.state import evaluate
from moot.licensing.usage import Interval, Peaks, UsageRecorder, daily_usage, save
from moot.licensing.weights import UsageSnapshot

TODAY = date(2026, 12, 5)
#: 10:00:00Z on TODAY: the start of a 5-minute interval.
T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ApiStore]:
    s = ApiStore(f"sqlite:///{tmp_path / 'database.db'}", catalog().types)
    yield s
    s.close()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Source:
    """The call bridge's side: the licence use now (settable)."""

    def __init__(self) -> None:
        self.use: UsageSnapshot | None = UsageSnapshot()

    def __call__(self) -> UsageSnapshot | None:
        return self.use


def rows(store: ApiStore, host: str | None = None) -> list[dict[str, Any]]:
    with store.reader() as txn:
        _, found = txn.list(LICENSE_USAGE, None, [], 0, 10_000,
                            [f.name for f in LICENSE_USAGE.fields])
    return [r for r in found if host is None or r["hostId"] == host]


def hosts(store: ApiStore) -> dict[str, dict[str, Any]]:
    with store.reader() as txn:
        _, found = txn.list(KNOWN_HOST, None, [], 0, 100, ["hostId", "firstSeen", "lastSeen"])
    return {r["hostId"]: r for r in found}


def snap(personal: int = 0, full: int = 0, audio: int = 0, p2p: int = 0, weighted: float = 0.0,
         recorded: int = 0, streamed: int = 0) -> UsageSnapshot:
    return UsageSnapshot(personal=personal, shared_full=full, shared_audio_only=audio,
                         shared_point_to_point=p2p, weighted_shared=weighted, recorded=recorded,
                         streamed=streamed)


def test_each_interval_keeps_the_peak_of_each_count(store: ApiStore) -> None:
    clock, source = Clock(T0 + 5), Source()
    recorder = UsageRecorder(store, "host-a", source, clock=clock)
    source.use = snap(personal=1, full=2, weighted=2.0)
    recorder.sample()
    # The interval is written as it begins: the day is reported from the first sample on.
    [first] = rows(store)
    assert (first["startTime"], first["endTime"]) == ("2026-12-05T10:00:00Z", "2026-12-05T10:05:00Z")
    assert (first["personal"], first["sharedFull"], first["hostId"]) == (1, 2, "host-a")
    for t, use in [(T0 + 60, snap(personal=3, audio=1, weighted=0.1667, recorded=1)),
                   (T0 + 120, snap(full=4, p2p=2, weighted=4.3333, streamed=2)),
                   (T0 + 299, snap())]:
        clock.now, source.use = t, use
        recorder.sample()
    assert recorder.current is not None
    assert recorder.current.peaks == Peaks(personal=3, shared_audio_only=1, shared_point_to_point=2,
                                           shared_full=4, weighted_shared=4.3333, recorded=1, streamed=2)
    clock.now, source.use = T0 + 305, snap(personal=1)
    recorder.sample()  # the first interval ended: written with its peaks; the next one begins
    ended, begun = rows(store)
    assert {k: ended[k] for k in ("personal", "sharedAudioOnly", "sharedPointToPoint", "sharedFull",
                                  "recorded", "streamed")} == {
        "personal": 3, "sharedAudioOnly": 1, "sharedPointToPoint": 2, "sharedFull": 4,
        "recorded": 1, "streamed": 2}
    assert float(ended["weightedShared"]) == pytest.approx(4.3333)
    assert (begun["startTime"], begun["personal"], begun["sharedFull"]) == ("2026-12-05T10:05:00Z", 1, 0)
    assert hosts(store)["host-a"]["firstSeen"] == "2026-12-05T10:00:05Z"
    assert hosts(store)["host-a"]["lastSeen"] == "2026-12-05T10:05:05Z"


def test_the_interval_is_configurable_and_idle_intervals_are_rows_too(store: ApiStore) -> None:
    clock, source = Clock(T0 + 30), Source()
    recorder = UsageRecorder(store, "host-a", source, interval=60, clock=clock)
    for t in (T0 + 30, T0 + 90, T0 + 150, T0 + 210):
        clock.now = t
        recorder.sample()
    assert [r["startTime"][11:] for r in rows(store)] == ["10:00:00Z", "10:01:00Z", "10:02:00Z",
                                                          "10:03:00Z"]
    assert all(r["endTime"][11:16] == f"10:0{i + 1}" for i, r in enumerate(rows(store)))
    assert all(r["personal"] == 0 and float(r["weightedShared"]) == 0 for r in rows(store))
    with pytest.raises(ValueError):
        UsageRecorder(store, "host-a", source, interval=0)


async def test_a_restart_keeps_the_peak_of_the_interval_in_progress(store: ApiStore) -> None:
    clock, source = Clock(T0 + 10), Source()
    before = UsageRecorder(store, "host-a", source, every=3600, clock=clock)
    await before.start()
    source.use, clock.now = snap(personal=2, full=5, weighted=5.0), T0 + 100
    await before.stop()  # the last sample and the interval so far are written
    [row] = rows(store)
    assert (row["personal"], row["sharedFull"]) == (2, 5)
    # Back up in the same interval, with less in use: the row keeps the larger values.
    source.use, clock.now = snap(personal=1, full=1, audio=3, weighted=1.5), T0 + 130
    after = UsageRecorder(store, "host-a", source, every=3600, clock=clock)
    await after.start()
    clock.now = T0 + 310
    after.sample()
    first = rows(store)[0]
    assert (first["personal"], first["sharedFull"], first["sharedAudioOnly"]) == (2, 5, 3)
    assert float(first["weightedShared"]) == 5.0
    await after.stop()
    assert len(rows(store)) == 2


async def test_the_running_recorder_samples_on_its_own(store: ApiStore) -> None:
    clock, source = Clock(T0 + 1), Source()
    recorder = UsageRecorder(store, "host-a", source, every=0.01, clock=clock)
    await recorder.start()
    try:
        source.use = snap(personal=4, recorded=1)
        for _ in range(200):
            if recorder.current is not None and recorder.current.peaks.personal == 4:
                break
            await asyncio.sleep(0.01)
        source.use = snap()  # the peak stays
        clock.now = T0 + 301  # the loop's next sample ends the interval and writes it
        for _ in range(200):
            if len(rows(store)) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await recorder.stop()
    first, second = rows(store)
    assert (first["personal"], first["recorded"]) == (4, 1)
    assert (second["personal"], second["startTime"]) == (0, "2026-12-05T10:05:00Z")


def test_rows_older_than_100_days_are_pruned_with_their_hosts(store: ApiStore) -> None:
    def interval(host: str, start: float) -> Interval:
        return Interval(host, int(start), int(start) + 300, Peaks(personal=1))

    with store.txn() as txn:
        save(txn, [interval("old-host", T0 - 120 * DAY)], T0 - 120 * DAY)
        save(txn, [interval("host-a", T0 - 101 * DAY), interval("host-a", T0 - 99 * DAY)],
             T0 - 99 * DAY)
    assert len(rows(store)) == 3  # nothing 100 days old at the time they were written
    assert set(hosts(store)) == {"old-host", "host-a"}
    recorder = UsageRecorder(store, "host-a", Source(), clock=Clock(T0))
    recorder.sample()
    assert [r["startTime"][:10] for r in rows(store)] == ["2026-08-28", "2026-12-05"]
    assert set(hosts(store)) == {"host-a"}
    assert hosts(store)["host-a"]["firstSeen"] == "2026-08-28T10:00:00Z"


def write_days(store: ApiStore, host: str, days: dict[int, list[Peaks]]) -> None:
    """Intervals on TODAY - n (one per peaks, from 10:00 on)."""
    with store.txn() as txn:
        for n, peaks in days.items():
            start = T0 - n * DAY
            save(txn, [Interval(host, int(start) + 300 * i, int(start) + 300 * (i + 1), p)
                       for i, p in enumerate(peaks)], T0)


def test_daily_usage_is_the_peak_per_utc_day_over_the_cluster(store: ApiStore) -> None:
    write_days(store, "host-a", {
        0: [Peaks(personal=2, weighted_shared=1.0, recorded=1), Peaks(personal=1, weighted_shared=3.5)],
        1: [Peaks(personal=5, weighted_shared=0.1667, streamed=2, recorded=1)],
        95: [Peaks(personal=9, weighted_shared=9.0)],  # outside the 90 days
    })
    write_days(store, "host-b", {0: [Peaks(personal=1, weighted_shared=0.5, streamed=1)]})
    cluster = daily_usage(store, today=TODAY)
    assert [r.day for r in cluster] == [TODAY - timedelta(days=1), TODAY]
    yesterday, today = cluster
    assert (yesterday.personal, yesterday.shared, yesterday.recording) == (5, 0.1667, 3)
    # 10:00: 2 + 1 personal, 1.0 + 0.5 shared, 1 + 1 recorded or streamed; 10:05: 1, 3.5, 0.
    assert (today.personal, today.shared, today.recording) == (3, 3.5, 2)
    only_a = daily_usage(store, "host-a", today=TODAY)
    assert (only_a[1].personal, only_a[1].shared, only_a[1].recording) == (2, 3.5, 1)
    assert daily_usage(store, "host-c", today=TODAY) == []
    assert daily_usage(store, today=TODAY, days=96)[0].day == TODAY - timedelta(days=95)
    assert [r.day for r in daily_usage(store, today=TODAY, since=TODAY)] == [TODAY]
    # Days after ``today`` are not reported yet.
    assert daily_usage(store, today=TODAY - timedelta(days=1))[-1].day == TODAY - timedelta(days=1)


def licence(shared: int) -> LicenseFile:
    expiry = TODAY + timedelta(days=300)
    return LicenseFile(issuer="Test", serial="s1", issued=TODAY - timedelta(days=400), hosts=("h",),
                       features={Feature.CALL_BRIDGE: expiry},
                       personal=UserLimit(10, expiry), shared=UserLimit(shared, expiry))


@pytest.mark.parametrize(("over", "alarm"), [(20, 1), (10, 0)])
def test_non_compliant_days_in_the_series_drive_the_alarm(store: ApiStore, over: int, alarm: int) -> None:
    # 90 days of use: 3 full calls on shared licences, or 1 on the days within the licence.
    write_days(store, "host-a", {n: [Peaks(shared_full=3 if n < over else 1,
                                           weighted_shared=3.0 if n < over else 1.0)]
                                 for n in range(90)})
    usage = daily_usage(store, today=TODAY)
    assert len(usage) == 90
    state = evaluate(TODAY, created=TODAY - timedelta(days=200), licence=licence(shared=2), usage=usage)
    assert state.compliance is not None
    assert state.compliance.non_compliant_days == over
    assert state.compliance.warning == "Insufficient licenses"
    assert state.alarm_level == alarm
    if alarm:
        # From the 15th non-compliant day on the expiry is no longer moved: a countdown.
        assert state.compliance.countdown == 90 - (over - 14)
    # The recorder keeps the same daily usage for the call bridge (read as it writes).
    recorder = UsageRecorder(store, "host-a", Source(), since=TODAY - timedelta(days=200),
                             clock=Clock(T0 + 3600))
    assert recorder.daily is None
    recorder.sample()
    assert recorder.daily == usage
    licensed = evaluate(TODAY, created=TODAY - timedelta(days=200), licence=licence(shared=3),
                        usage=usage)
    assert licensed.alarm_level == 0 and licensed.compliance is not None
    assert licensed.compliance.non_compliant_days == 0
