"""Composing a digest (tallies, previous window, today, since launch, notes, Block Kit) for a launch with a
million enquiries and 200 hypotheses.

    uv run python -m bench.digest_compose [--enquiries 1000000] [--hypotheses 200] [--postgres URL]
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import Session

from app import digests
from app.models import DigestRun, DigestStatus
from app.slack import blocks as slack_blocks
from bench.data import STARTS_ON, build, forget_counted_days, fresh_database
from bench.timing import Timing, measure, query_benchmark_main

OSLO = ZoneInfo("Europe/Oslo")


def run(*, enquiries: int, hypotheses: int, postgres: str | None) -> list[Timing]:
    db = fresh_database(postgres, f"digest_{enquiries}_{hypotheses}")
    data = build(db, enquiries=enquiries, hypotheses=hypotheses)
    print(
        f"loaded {enquiries:,} enquiries, {hypotheses} hypotheses in {data.seconds_to_load:.0f} s "
        f"into {db.engine.dialect.name}"
    )
    launch = data.launch
    day = STARTS_ON + dt.timedelta(days=9)
    nine = dt.datetime.combine(day, dt.time(9), tzinfo=OSLO).astimezone(dt.UTC)
    one = dt.datetime.combine(day, dt.time(13), tzinfo=OSLO).astimezone(dt.UTC)
    with db.transaction() as session:  # the 09:00 digest before it, so windows chain as in production
        session.add(
            DigestRun(
                launch_id=launch.id or 0,
                slot_key="bench:09",
                slot_at=nine,
                window_start=nine - dt.timedelta(hours=17),
                window_end=nine,
                status=DigestStatus.SENT,
                claimed_at=nine,
                created_at=nine,
            )
        )

    def compose(session: Session) -> None:
        content = digests.compose(
            session,
            launch,
            window_start=nine,
            window_end=one,
            slot_at=one,
            now=one,
            base_url="https://tally.example",
        )
        slack_blocks.build(content)

    results = []
    with db.session() as session:

        def never_counted() -> None:
            forget_counted_days(db, session, kept=True)
            compose(session)

        def new_process() -> None:
            forget_counted_days(db, session, kept=False)
            compose(session)

        results.append(measure("compose + build, first ever (counts the closed days and keeps them)", never_counted))
        results.append(measure("compose + build, first of a process (closed days kept)", new_process, runs=10))
        results.append(measure("compose + build, steady state (closed days cached)", lambda: compose(session), runs=20))
        content = digests.compose(
            session, launch, window_start=nine, window_end=one, slot_at=one, now=one, base_url="https://tally.example"
        )
        results.append(measure("Block Kit build alone", lambda: slack_blocks.build(content), runs=50))
    db.dispose()
    return results


def main() -> None:
    query_benchmark_main(__doc__, run, hypotheses=200)


if __name__ == "__main__":
    main()
