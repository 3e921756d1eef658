"""Tallies: window edges, zero counts, the "other" bucket, channels, segments, DST days."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from app import launches
from app.db import Database
from app.tallies import UNSPECIFIED_SEGMENT, count, tally
from tests.factories import T0, hypothesis_ids, log, make_launch

OSLO = ZoneInfo("Europe/Oslo")
HOUR = dt.timedelta(hours=1)


def test_counts_every_hypothesis_channel_and_segment_including_zeros(db: Database) -> None:
    launch = make_launch(db, hypotheses=("a", "b", "c"))
    log(db, launch, "a", channel="phone")
    log(db, launch, "a", "b", channel="chat", segment="business")
    log(db, launch, channel="email", note="something new")  # other
    ids = hypothesis_ids(db, launch)
    with db.session() as session:
        result = tally(session=session, launch=launch, start=T0, end=T0 + HOUR)
    assert result.total == 3
    assert result.other == 1
    assert result.by_hypothesis == {ids["a"]: 2, ids["b"]: 1, ids["c"]: 0}
    assert result.by_channel == {"phone": 1, "chat": 1, "email": 1, "social": 0}
    assert result.by_segment == {"private": 2, "business": 1}


def test_window_is_half_open(db: Database) -> None:
    launch = make_launch(db)
    start, end = T0, T0 + 4 * HOUR
    log(db, launch, "a", at=start - dt.timedelta(microseconds=1))
    log(db, launch, "a", at=start)
    log(db, launch, "a", at=end - dt.timedelta(microseconds=1))
    log(db, launch, "a", at=end)
    with db.session() as session:
        result = tally(session=session, launch=launch, start=start, end=end)
        assert count(session=session, launch=launch, start=start, end=end) == 2
        # Adjacent windows share no enquiry and lose none.
        before = tally(session=session, launch=launch, start=start - 4 * HOUR, end=start)
        after = tally(session=session, launch=launch, start=end, end=end + 4 * HOUR)
    assert result.total == 2
    assert result.by_hypothesis[hypothesis_ids(db, launch)["a"]] == 2
    assert before.total == 1 and after.total == 1


def test_empty_window_and_missing_segment(db: Database) -> None:
    launch = make_launch(db)
    log(db, launch, "b", segment=None)
    with db.session() as session:
        empty = tally(session=session, launch=launch, start=T0 + HOUR, end=T0 + HOUR)
        result = tally(session=session, launch=launch, start=T0, end=T0 + HOUR)
    assert empty.total == 0 and set(empty.by_hypothesis.values()) == {0}
    assert result.by_segment == {"private": 0, "business": 0, UNSPECIFIED_SEGMENT: 1}


def test_other_launches_do_not_leak_in(db: Database) -> None:
    launch = make_launch(db)
    other = make_launch(db, slug="other-launch")
    log(db, other, "a")
    with db.session() as session:
        assert tally(session=session, launch=launch, start=T0, end=T0 + HOUR).total == 0


def test_rejects_naive_or_reversed_windows(db: Database) -> None:
    launch = make_launch(db)
    with db.session() as session, pytest.raises(ValueError, match="aware"):
        tally(session=session, launch=launch, start=T0.replace(tzinfo=None), end=T0 + HOUR)
    with db.session() as session, pytest.raises(ValueError, match="before it starts"):
        tally(session=session, launch=launch, start=T0, end=T0 - HOUR)


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (dt.date(2026, 3, 29), 23),  # clocks go forward at 02:00 local
        (dt.date(2026, 10, 25), 25),  # clocks go back at 03:00 local
        (dt.date(2026, 11, 18), 24),
    ],
)
def test_local_days_on_dst_changes(db: Database, day: dt.date, hours: int) -> None:
    start, end = launches.day_bounds(day, OSLO)
    assert end - start == dt.timedelta(hours=hours)
    assert start.astimezone(OSLO).time() == dt.time(0) and end.astimezone(OSLO).time() == dt.time(0)

    launch = make_launch(db, starts_on=day - dt.timedelta(days=1))
    first = dt.datetime.combine(day, dt.time(0, 30), tzinfo=OSLO)
    last = dt.datetime.combine(day, dt.time(23, 30), tzinfo=OSLO)
    for moment in (first, last, first - HOUR, last + HOUR):
        log(db, launch, "a", at=moment.astimezone(dt.UTC))
    # 02:30 on the autumn day happens twice; both instants belong to the day.
    if hours == 25:
        log(db, launch, "a", at=dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC))  # 02:30 CEST
        log(db, launch, "a", at=dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC))  # 02:30 CET
    with db.session() as session:
        result = tally(session=session, launch=launch, start=start, end=end)
    assert result.total == (4 if hours == 25 else 2)


def test_launch_window_covers_start_to_end_day_in_local_time(db: Database) -> None:
    launch = make_launch(db, starts_on=dt.date(2026, 10, 20), ends_on=dt.date(2026, 10, 26))
    start, end = launches.window(launch)
    assert start == dt.datetime(2026, 10, 19, 22, 0, tzinfo=dt.UTC)  # midnight CEST
    assert end == dt.datetime(2026, 10, 26, 23, 0, tzinfo=dt.UTC)  # midnight CET, after the change


def test_closed_days_come_from_the_cache_and_open_days_from_the_database(db: Database) -> None:
    launch = make_launch(db, hypotheses=("a", "b"))
    day1 = dt.datetime(2026, 11, 16, 9, 0, tzinfo=OSLO)
    for offset in range(5):  # one per day, 16th to 20th
        log(db, launch, "a" if offset % 2 else "b", at=(day1 + dt.timedelta(days=offset)).astimezone(dt.UTC))
    start, end = launches.window(launch)
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=OSLO).astimezone(dt.UTC)
    with db.session() as session:
        cached = tally(session=session, launch=launch, start=start, end=end, now=now)
        raw = tally(session=session, launch=launch, start=start, end=end)
    assert cached == raw and cached.total == 5

    # Something logged today (an open day) shows up at once; closed days are
    # not read again (a back-dated row, which the app never writes, stays unseen).
    log(db, launch, "a", at=now)
    log(db, launch, "a", at=day1.astimezone(dt.UTC))
    with db.session() as session:
        assert tally(session=session, launch=launch, start=start, end=end, now=now).total == 6
        assert tally(session=session, launch=launch, start=start, end=end).total == 7


def test_enquiries_with_a_channel_no_longer_offered_still_count(db: Database) -> None:
    launch = make_launch(db, channels=["phone", "chat"])
    log(db, launch, "a", channel="fax")
    log(db, launch, "a", channel="phone")
    with db.session() as session:
        result = tally(session=session, launch=launch, start=T0, end=T0 + HOUR)
    assert result.total == 2
    assert result.by_channel == {"phone": 1, "chat": 0, "fax": 1}
