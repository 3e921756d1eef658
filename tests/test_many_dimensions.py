"""A launch offering many channels × segments: its counts, launch page and digest.

A column per (channel, segment, other) combination would pass SQLite's 2,000 columns at 25 channels
× 40 segments (and PostgreSQL's 1,664 sooner): such a launch is counted by reading and grouping.
Runs on PostgreSQL too when TALLY_TEST_DATABASE_URL names a server (the ``db`` fixture)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import sqlalchemy as sa
import time_machine

from app.config import Settings
from app.db import Database
from app.models import DigestStatus, Enquiry
from app.slack.client import BotSender
from app.tallies import UNSPECIFIED_SEGMENT, counting, tally
from tests.conftest import SLACK_CHANNEL
from tests.factories import fresh, log, make_launch
from tests.fakes.slack_server import FakeSlack
from tests.test_digests import due, local, run_due

CHANNELS = [f"ch{i}" for i in range(25)]
SEGMENTS = [f"seg{i}" for i in range(40)]


def test_many_channels_and_segments_are_counted_shown_and_digested(
    db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, web: Any, people: Any
) -> None:
    _counted_shown_and_digested(db, settings, bot, slack, web)


def test_many_channels_and_segments_on_postgresql(
    pg: Any, db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, web: Any, people: Any
) -> None:
    """PostgreSQL allows fewer columns (1,664 target entries): skipped, saying so, without a server."""
    _counted_shown_and_digested(db, settings, bot, slack, web)


def _counted_shown_and_digested(db: Database, settings: Settings, bot: BotSender, slack: FakeSlack, web: Any) -> None:
    launch = make_launch(
        db,
        hypotheses=("a", "b"),
        slack_channel=SLACK_CHANNEL,
        starts_on=dt.date(2026, 11, 18),
        channels=CHANNELS,
        segments=SEGMENTS,
    )
    assert 1 + len(counting.dimension_combinations(launch)) > 2000  # more columns than SQLite selects
    for i in range(60):
        channel, segment = CHANNELS[i % 25], (SEGMENTS[i % 40] if i % 7 else None)
        keys = ("a",) if i % 3 == 0 else ("b",) if i % 3 == 1 else ()
        log(
            db,
            launch,
            *keys,
            at=local(18, 9, i % 60) + dt.timedelta(hours=i % 3),
            channel=channel,
            segment=segment,
            note=None if keys else "something else",
        )
    start, end = local(18, 9), local(18, 13)
    with db.session() as session:
        table = Enquiry.__table__  # type: ignore[attr-defined]
        plain = session.execute(
            sa.select(table.c.channel, table.c.segment, sa.func.count())
            .where(table.c.launch_id == launch.id, table.c.created_at >= start, table.c.created_at < end)
            .group_by(table.c.channel, table.c.segment)
        ).all()
        result = tally(session=session, launch=fresh(db, launch), start=start, end=end)
    by_channel: Counter[str] = Counter()
    by_segment: Counter[str] = Counter()
    for channel, segment, n in plain:
        by_channel[channel] += n
        by_segment[segment or UNSPECIFIED_SEGMENT] += n
    assert result.total == 60 == sum(n for *_, n in plain)
    assert {c: n for c, n in result.by_channel.items() if n} == dict(by_channel)
    assert {s: n for s, n in result.by_segment.items() if n} == dict(by_segment)
    assert result.other == 20

    failed: list[Any] = []
    done = run_due(db, settings, bot, due(18, 13), failed=failed)
    assert not failed
    assert [r.status for r in done if r.status == DigestStatus.SENT]
    digest = slack.posts(SLACK_CHANNEL)[-1]
    assert "60 enquiries" in digest["text"], digest["text"]

    with time_machine.travel(local(18, 13, 5), tick=False):
        page = web("lena").get("/launches/test-launch")
    assert page.status_code == 200
    assert ">60<" in "".join(page.text.split()), "the launch page's total"
