"""`tally demo` data: a live launch started a few days ago, people, enquiries; idempotent."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from app import demo, launches
from app.config import Settings
from app.db import Database
from app.models import LaunchStatus, User
from app.tallies import tally

NOW = dt.datetime(2026, 11, 19, 14, 0, tzinfo=dt.UTC)


def test_demo_loads_a_living_launch_once(db: Database, settings: Settings) -> None:
    first = demo.load(db, settings=settings, now=NOW)
    assert first.launch.status == LaunchStatus.LIVE
    assert first.launch.starts_on == dt.date(2026, 11, 16)
    assert first.added_enquiries > 300

    second = demo.load(db, settings=settings, now=NOW)
    assert second.added_enquiries == 0

    with db.session() as session:
        launch = launches.get_by_slug(session, first.launch.slug)
        start, _ = launches.window(launch)
        result = tally(session=session, launch=launch, start=start, end=NOW)
        assert {u.username for u in session.exec(select(User))} == {u.username for u in demo.DEMO_USERS}
    assert result.total == first.added_enquiries
    assert 0 < result.other < result.total
    assert all(n > 0 for n in result.by_channel.values())
    # One hypothesis the team expected never came: the digest has a "not seen" to show.
    assert sorted(result.by_hypothesis.values())[0] == 0


def test_a_later_day_adds_only_the_new_days_enquiries(db: Database, settings: Settings) -> None:
    demo.load(db, settings=settings, now=NOW)
    later = demo.load(db, settings=settings, now=NOW + dt.timedelta(hours=3))
    assert 0 < later.added_enquiries < 150
