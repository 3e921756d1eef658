"""Today's kept counts: closed 15-minute slots, counted once and shared by every process and replica
(``slot_tally``), true after a backfill, a re-link's version bump and an undo."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import select

from app import enquiries, hypothesis_sets, launches
from app.db import Database
from app.models import DayTally, Launch, LaunchTally, SlotTally
from app.tallies import DAY_FORMAT, Tally, by_clock_hour, keep_closed_days, series, tally
from tests.factories import fresh, log, make_launch, make_user
from tests.test_tallies import _backdate as behind_the_apps_back  # raises no counts version

OSLO = ZoneInfo("Europe/Oslo")
SLUG = "test-launch"
TODAY = dt.datetime(2026, 11, 20, 0, 0, tzinfo=OSLO)
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=OSLO)  # slots up to 11:30 are closed


def oslo(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=OSLO).astimezone(dt.UTC)


@pytest.fixture
def launch(db: Database) -> Launch:
    launch = make_launch(db, slug=SLUG, hypotheses=("a", "b"))
    log(db, launch, "a", at=oslo(17, 10))
    for at in (oslo(20, 8, 5), oslo(20, 9, 10), oslo(20, 11, 50)):
        log(db, launch, "b", at=at)
    return fresh(db, launch)


@pytest.fixture
def replica(db: Database) -> Iterator[Database]:
    """A second replica: its own engine and an empty memory."""
    other = Database(db.url)
    yield other
    other.dispose()


def today(process: Database, launch: Launch, now: dt.datetime = NOW) -> Tally:
    with process.session() as session:
        return tally(session=session, launch=launch, start=TODAY, end=now, now=now)


def from_the_indexes(db: Database, launch: Launch, now: dt.datetime = NOW) -> Tally:
    with db.session() as session:
        return tally(session=session, launch=launch, start=TODAY, end=now)


def kept(db: Database, launch: Launch, model: type[SlotTally] | type[LaunchTally]) -> list[Any]:
    """The kept rows of the launch's current version."""
    version = fresh(db, launch).counts_version
    with db.session() as session:
        return list(session.exec(select(model).where(model.launch_id == launch.id, model.version == version)).all())


def kept_slots(db: Database, launch: Launch) -> dict[dt.datetime, int]:
    """The kept slots of the launch's current version, with how many enquiries each holds."""
    return {row.starts_at: sum(n for *_, n in row.counts["dims"]) for row in kept(db, launch, SlotTally)}


def test_closed_slots_are_counted_once_and_read_by_every_replica(
    db: Database, replica: Database, launch: Launch
) -> None:
    assert today(db, launch).total == 3
    kept = kept_slots(db, launch)
    # Every closed slot of today is kept, the empty ones too: 00:00 to 11:30, 46 of them.
    assert len(kept) == 46 and min(kept) == TODAY and max(kept) == oslo(20, 11, 15)
    assert kept[oslo(20, 8)] == 1 and kept[oslo(20, 9)] == 1 and sum(kept.values()) == 2

    # The other replica reads them instead of counting: a row slipped into a closed slot behind
    # the app's back stays unseen by both, while the open half hour is read from the indexes.
    behind_the_apps_back(db, launch, oslo(20, 9, 12))
    behind_the_apps_back(db, launch, oslo(20, 11, 40))
    for process in (replica, db):
        assert today(process, launch).total == 4
    assert from_the_indexes(db, launch).total == 5


def test_a_replica_counts_only_the_slots_nobody_has_kept_yet(db: Database, replica: Database, launch: Launch) -> None:
    assert today(db, launch).total == 3
    later = NOW + dt.timedelta(minutes=20)  # 11:30 to 11:45 has closed since
    log_at = oslo(20, 11, 35)
    behind_the_apps_back(db, launch, log_at)  # as the hot path writes: at the time, raising nothing
    assert today(replica, launch, later).total == 4
    kept = kept_slots(db, launch)
    assert len(kept) == 47 and kept[oslo(20, 11, 30)] == 1
    # The first replica extends what it has in memory by that one slot, as kept.
    assert today(db, launch, later).total == 4


def test_a_backfill_into_another_day_carries_todays_slots_over_to_the_new_version(
    db: Database, replica: Database, launch: Launch
) -> None:
    assert today(db, launch).total == today(replica, launch).total == 3
    before = kept_slots(db, launch)
    log(db, launch, "a", at=oslo(18, 10))  # the import's way: raises the version for the 18th
    reloaded = fresh(db, launch)
    assert reloaded.counts_version == launch.counts_version + 1
    assert kept_slots(db, launch) == before
    for process in (db, replica):
        assert today(process, reloaded).total == 3


def test_a_backfill_into_today_makes_its_kept_slots_stale_in_every_replica(
    db: Database, replica: Database, launch: Launch, client: TestClient, token: str
) -> None:
    assert today(db, launch).total == today(replica, launch).total == 3
    with time_machine.travel(NOW, tick=False):
        response = client.post(
            f"/api/v1/launches/{SLUG}/enquiries",
            json={"channel": "phone", "hypotheses": ["a"], "occurred_at": oslo(20, 9, 30).isoformat()},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 201, response.text
    reloaded = fresh(db, launch)
    assert reloaded.counts_version == launch.counts_version + 1
    assert kept_slots(db, launch) == {}  # today changed: none of its slots carried over
    for process in (replica, db):
        result = today(process, reloaded)
        assert result.total == 4 and result == from_the_indexes(db, reloaded)
    assert kept_slots(db, launch)[oslo(20, 9, 30)] == 1


def test_an_undo_never_reaches_a_kept_slot(db: Database, replica: Database, launch: Launch) -> None:
    agent = make_user(db)
    ticked = log(db, launch, "a", at=oslo(20, 11, 50), agent=agent)
    reloaded = fresh(db, launch)
    assert today(db, reloaded).total == today(replica, reloaded).total == 4
    # The latest moment the undo is allowed: the enquiry is still in the open part.
    later = oslo(20, 11, 50) + enquiries.UNDO_WINDOW
    with time_machine.travel(later, tick=False), db.transaction() as session:
        enquiries.undo(session, ticked, now=dt.datetime.now(dt.UTC), user=agent)
    for process in (db, replica):
        assert today(process, reloaded, later).total == 3
    assert today(db, reloaded, later) == from_the_indexes(db, reloaded, later)


NEXT_MORNING = dt.datetime(2026, 11, 21, 1, 0, tzinfo=OSLO)  # the 20th closed at 00:30


def test_a_closed_days_row_is_added_up_from_its_kept_slots_which_stay(db: Database, launch: Launch) -> None:
    assert today(db, launch).total == 3
    behind_the_apps_back(db, launch, oslo(20, 9, 12))  # into a kept slot: never counted again
    with db.session() as session:
        keep_closed_days(session, launch, now=NEXT_MORNING)
    # Every slot of the day kept (96), the 46 kept before and the 50 counted as the day closed.
    kept = kept_slots(db, launch)
    assert len([at for at in kept if at >= TODAY]) == 96 and kept[oslo(20, 11, 45)] == 1
    with db.session() as session:
        row = session.exec(
            select(DayTally).where(DayTally.launch_id == launch.id, DayTally.day == dt.date(2026, 11, 20))
        ).one()
    assert row.counts["format"] == DAY_FORMAT and row.counts["total"] == 3


@pytest.mark.parametrize(
    ("start", "end", "from_slots", "from_indexes"),
    [
        # 09:15 to 12:00 from the kept slots, 09:07–09:15 and 12:00–12:07 from the indexes:
        # the rows slipped in behind the app's back at 09:12 and 12:03 are seen, the one at 10:20 not.
        (oslo(20, 9, 7), oslo(20, 12, 7), 4, 5),
        (oslo(20, 9), oslo(20, 12), 2, 4),  # on slots: nothing from the indexes
        (oslo(20, 9, 11), oslo(20, 9, 14), 1, 1),  # inside one slot: all from the indexes
    ],
)
def test_a_range_that_cuts_a_closed_day_reads_its_kept_slots_and_only_the_ends_from_the_indexes(
    db: Database,
    replica: Database,
    launch: Launch,
    start: dt.datetime,
    end: dt.datetime,
    from_slots: int,
    from_indexes: int,
) -> None:
    with db.session() as session:
        keep_closed_days(session, launch, now=NEXT_MORNING)
    for at in (oslo(20, 9, 12), oslo(20, 10, 20), oslo(20, 12, 3)):
        behind_the_apps_back(db, launch, at)
    for process in (replica, db):  # a new process reads the slots, the first one has them in memory
        with process.session() as session:
            kept = tally(session=session, launch=launch, start=start, end=end, now=NEXT_MORNING)
            raw = tally(session=session, launch=launch, start=start, end=end)
        assert (kept.total, raw.total) == (from_slots, from_indexes)


def test_the_slots_of_a_day_in_a_half_hour_zone_line_up_with_its_midnight(db: Database) -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    launch = make_launch(db, slug="india", hypotheses=("a",), timezone="Asia/Kolkata")
    midnight = dt.datetime(2026, 11, 20, 0, 0, tzinfo=kolkata)
    for minutes in (0, 14, 15, 301):
        log(db, launch, "a", at=(midnight + dt.timedelta(minutes=minutes)).astimezone(dt.UTC))
    launch = fresh(db, launch)
    now = midnight + dt.timedelta(hours=6)
    with db.session() as session:
        kept: Any = tally(session=session, launch=launch, start=midnight, end=now, now=now)
        first: Any = tally(session=session, launch=launch, start=midnight, end=midnight + dt.timedelta(minutes=15))
    assert kept.total == 4 and first.total == 2
    assert kept_slots(db, launch)[midnight.astimezone(dt.UTC)] == 2


def whole_launch(process: Database, launch: Launch, now: dt.datetime = NOW, *, kept: bool = True) -> int:
    start, end = launches.window(launch)
    with process.session() as session:
        return tally(session=session, launch=launch, start=start, end=end, now=now if kept else None).total


def kept_so_far(db: Database, launch: Launch) -> dict[dt.datetime, int]:
    """The launch_tally rows of the launch's current version: through when, how many."""
    return {row.through: row.counts["total"] for row in kept(db, launch, LaunchTally)}


def test_the_whole_launch_so_far_is_kept_in_one_row_that_every_replica_reads_and_moves_on(
    db: Database, replica: Database, launch: Launch
) -> None:
    assert whole_launch(db, launch) == 4
    # From the launch's start to the end of the latest closed slot (11:15–11:30); 11:50 is open.
    assert kept_so_far(db, launch) == {oslo(20, 11, 30): 3}
    behind_the_apps_back(db, launch, oslo(20, 10))  # before 11:30: never counted again
    behind_the_apps_back(db, launch, oslo(20, 11, 35))  # in the slot that closes at 12:15
    for process in (replica, db):
        assert whole_launch(process, launch) == 5
    assert whole_launch(db, launch, kept=False) == 6

    later = NOW + dt.timedelta(minutes=20)
    for process in (replica, db):  # the row moves on by the slot closed since, which is kept too
        assert whole_launch(process, launch, later) == 5
    assert kept_so_far(db, launch) == {oslo(20, 11, 45): 4}
    assert kept_slots(db, launch)[oslo(20, 11, 30)] == 1


def test_a_backfill_makes_the_launch_so_far_stale_in_every_replica(
    db: Database, replica: Database, launch: Launch
) -> None:
    assert whole_launch(db, launch) == whole_launch(replica, launch) == 4
    log(db, launch, "a", at=oslo(18, 10))  # the import's way: raises the version for the 18th
    reloaded = fresh(db, launch)
    assert kept_so_far(db, reloaded) == {}
    for process in (replica, db):
        assert whole_launch(process, reloaded) == whole_launch(process, reloaded, kept=False) == 5
    assert kept_so_far(db, reloaded) == {oslo(20, 11, 30): 4}


def test_moving_the_launchs_dates_makes_the_launch_so_far_stale_in_every_replica(
    db: Database, replica: Database, launch: Launch
) -> None:
    """The counts so far run from the first day: a lead who moves it (the editor, a YAML file) must see
    the launch's total follow, in every replica, not the total of the old dates."""
    assert whole_launch(db, launch) == whole_launch(replica, launch) == 4  # kept, and in both memories
    with db.session() as session:
        spec = hypothesis_sets.launch_to_file(launch, launches.hypotheses_of(session, launch))
    moved = spec.model_copy(update={"starts_on": dt.date(2026, 11, 18)})
    with db.transaction() as session:
        changes = hypothesis_sets.import_launch(
            session, moved, actor="lena", now=NOW, default_timezone="Europe/Oslo", default_digest_times=[]
        )
    assert changes.launch_fields == ["starts_on"]
    reloaded = fresh(db, launch)
    for process in (replica, db):  # the enquiry of the 17th is before the launch now
        assert whole_launch(process, reloaded) == whole_launch(process, reloaded, kept=False) == 3


def test_hour_buckets_over_closed_days_add_up_the_kept_slots_in_a_new_replica(
    db: Database, replica: Database, launch: Launch
) -> None:
    with db.session() as session:
        keep_closed_days(session, launch, now=NEXT_MORNING)
    start, end = oslo(17, 9, 7), oslo(20, 12, 7)  # off the slots, across four closed days
    with replica.session() as session:
        kept = series(session=session, launch=launch, start=start, end=end, bucket="hour", now=NEXT_MORNING)
        raw = series(session=session, launch=launch, start=start, end=end, bucket="hour")
    assert kept == raw and sum(b.total for b in kept) == 4


def test_ranges_apart_on_one_closed_day_leave_no_gap_in_what_a_process_holds(
    db: Database, replica: Database, launch: Launch
) -> None:
    with db.session() as session:
        keep_closed_days(session, launch, now=NEXT_MORNING)
    ranges = [(oslo(20, 11, 30), oslo(20, 12)), (oslo(20, 8), oslo(20, 8, 30)), (oslo(20, 7, 45), oslo(20, 12))]
    with replica.session() as session:  # later, then earlier, then across both and the gap between
        totals = [tally(session=session, launch=launch, start=a, end=b, now=NEXT_MORNING).total for a, b in ranges]
    assert totals == [1, 1, 3]


def test_a_closed_day_by_clock_hour_is_read_from_its_kept_slots_totals_in_a_new_replica(
    db: Database, replica: Database, launch: Launch
) -> None:
    """What a spike alert's normal spreads an expected rate by: counted once from the day's slots
    (and those kept), then read from the kept slots' totals alone, not from the indexes."""
    day = dt.date(2026, 11, 20)
    with db.session() as session:
        hours = by_clock_hour(session, launch, day, NEXT_MORNING)
    assert (hours[8], hours[9], hours[11], sum(hours)) == (1, 1, 1, 3)
    assert len([at for at in kept_slots(db, launch) if at >= oslo(20, 0)]) == 96
    behind_the_apps_back(db, launch, oslo(20, 10, 5))  # in a kept slot: unseen
    with replica.session() as session:
        assert by_clock_hour(session, launch, day, NEXT_MORNING) == hours


def test_the_hour_the_clocks_repeat_holds_both_in_a_day_by_clock_hour(db: Database, replica: Database) -> None:
    launch = make_launch(db, hypotheses=("a",), starts_on=dt.date(2026, 10, 20))
    for at in ("2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+00:00", "2026-10-25T02:30:00+00:00"):
        log(db, launch, "a", at=dt.datetime.fromisoformat(at))  # 02:30 summer time, 02:30 winter time, 03:30
    now = dt.datetime(2026, 10, 26, 1, 0, tzinfo=OSLO)
    for process in (db, replica):  # counted, then read from the 100 kept slots of the 25-hour day
        with process.session() as session:
            hours = by_clock_hour(session, fresh(db, launch), dt.date(2026, 10, 25), now)
        assert (hours[2], hours[3], sum(hours)) == (2, 1, 3)
