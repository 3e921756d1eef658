"""Tally query speed with a million enquiries in one launch.

    uv run python -m bench.tally_queries [--enquiries 1000000] [--postgres URL] [--reuse]

``--reuse`` runs on the data set an earlier run built, if it is there (its kept counts dropped).

Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import sys
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app import launches
from app.tallies import tally
from bench.data import STARTS_ON, build, forget_counted_days, fresh_database, reuse
from bench.timing import Timing, measure, query_benchmark_main

OSLO = ZoneInfo("Europe/Oslo")
REUSE = False


def naive_group_by(session: sa.orm.Session, launch_id: int, start: dt.datetime, end: dt.datetime) -> None:
    """What a first version would write: two GROUP BYs over the window."""
    session.execute(
        sa.text(
            "SELECT channel, segment, is_other, count(*) FROM enquiry WHERE launch_id = :l AND created_at >= :s "
            "AND created_at < :e GROUP BY channel, segment, is_other"
        ),
        {"l": launch_id, "s": start.replace(tzinfo=None), "e": end.replace(tzinfo=None)},
    ).all()
    session.execute(
        sa.text(
            "SELECT hypothesis_id, count(*) FROM enquiry_hypothesis WHERE launch_id = :l AND created_at >= :s "
            "AND created_at < :e GROUP BY hypothesis_id"
        ),
        {"l": launch_id, "s": start.replace(tzinfo=None), "e": end.replace(tzinfo=None)},
    ).all()


def run(*, enquiries: int, hypotheses: int, postgres: str | None) -> list[Timing]:
    # Mid-afternoon (14:07) on the last day: twenty closed days and one still open, where
    # nothing is logged after now (the last day's share comes in its office hours so far).
    ends_on = STARTS_ON + dt.timedelta(days=20)
    now = dt.datetime.combine(ends_on, dt.time(14, 7), tzinfo=OSLO).astimezone(dt.UTC)
    name = f"tally_{enquiries}"
    data = reuse(postgres, name, enquiries=enquiries, until=now) if REUSE else None
    if data is None:
        db = fresh_database(postgres, name)
        data = build(db, enquiries=enquiries, hypotheses=hypotheses, until=now)
        print(f"loaded {enquiries:,} enquiries in {data.seconds_to_load:.0f} s into {db.engine.dialect.name}")
    db = data.db
    launch = data.launch
    day10 = STARTS_ON + dt.timedelta(days=9)
    four_hours = (
        dt.datetime.combine(day10, dt.time(9), tzinfo=OSLO).astimezone(dt.UTC),
        dt.datetime.combine(day10, dt.time(13), tzinfo=OSLO).astimezone(dt.UTC),
    )
    off_the_hour = (four_hours[0] + dt.timedelta(minutes=7), four_hours[1] + dt.timedelta(minutes=7))
    last_four_hours = (now - dt.timedelta(hours=4), now)
    whole = launches.window(launch)
    results = []
    with db.session() as session:
        launch_id = launch.id or 0

        def window(start: dt.datetime, end: dt.datetime) -> None:
            tally(session=session, launch=launch, start=start, end=end, now=now)

        results.append(measure("4-hour window of day 10, 09:00–13:00", lambda: window(*four_hours)))
        results.append(measure("4-hour window of day 10, 09:07–13:07", lambda: window(*off_the_hour)))
        results.append(measure("the last 4 hours, 10:07–14:07 today", lambda: window(*last_four_hours)))

        def window_in_new_process(start: dt.datetime, end: dt.datetime) -> None:
            forget_counted_days(db, session, kept=False)
            window(start, end)

        results.append(
            measure(
                "4-hour window of day 10, 09:07–13:07, first call of a process (its slots kept)",
                lambda: window_in_new_process(*off_the_hour),
            )
        )
        results.append(
            measure(
                "the last 4 hours, first call of a process (today's slots kept)",
                lambda: window_in_new_process(*last_four_hours),
            )
        )
        results.append(
            measure(
                "4-hour window of day 10, every enquiry from the indexes",
                lambda: tally(session=session, launch=launch, start=four_hours[0], end=four_hours[1]),
            )
        )
        results.append(
            measure(
                "4-hour window, naive GROUP BY (for comparison)",
                lambda: naive_group_by(session, launch_id, *four_hours),
                runs=10,
            )
        )
        results.append(
            measure(
                "whole launch, every day from the database",
                lambda: tally(session=session, launch=launch, start=whole[0], end=whole[1]),
                runs=5,
            )
        )

        def never_counted() -> None:
            forget_counted_days(db, session, kept=True)
            tally(session=session, launch=launch, start=whole[0], end=whole[1], now=now)

        def new_process() -> None:
            forget_counted_days(db, session, kept=False)
            tally(session=session, launch=launch, start=whole[0], end=whole[1], now=now)

        results.append(
            measure(
                "whole launch, first call ever (counts the closed days and today's slots, keeps them)",
                never_counted,
                runs=3,
            )
        )
        results.append(
            measure(
                "whole launch, first call of a process or replica (closed days and slots kept)", new_process, runs=10
            )
        )
        results.append(
            measure(
                "whole launch, closed days and slots in memory (the steady state)",
                lambda: tally(session=session, launch=launch, start=whole[0], end=whole[1], now=now),
            )
        )
        results.append(
            measure(
                "whole launch, naive GROUP BY (for comparison)",
                lambda: naive_group_by(session, launch_id, *whole),
                runs=3,
            )
        )
    db.dispose()
    return results


def main() -> None:
    global REUSE  # noqa: PLW0603 - one flag of this command line, read by run()
    REUSE = "--reuse" in sys.argv
    sys.argv = [arg for arg in sys.argv if arg != "--reuse"]
    query_benchmark_main(__doc__, run, hypotheses=15)


if __name__ == "__main__":
    main()
