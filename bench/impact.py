"""The effect of a fix (before against after, Fisher's exact test) at a million enquiries.

    uv run python -m bench.impact [--enquiries 1000000] [--hypotheses 200] [--postgres URL]

A fix ships at noon on day 10; "now" is mid-afternoon on day 20, so both periods are ten days.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from app.insight import impact
from app.tallies import DAY_CACHE_KEY
from bench.data import STARTS_ON, build, fresh_database
from bench.timing import Timing, measure, query_benchmark_main

OSLO = ZoneInfo("Europe/Oslo")


def run(*, enquiries: int, hypotheses: int, postgres: str | None) -> list[Timing]:
    db = fresh_database(postgres, f"impact_{enquiries}")
    data = build(db, enquiries=enquiries, hypotheses=hypotheses)
    print(f"loaded {enquiries:,} enquiries in {data.seconds_to_load:.0f} s into {db.engine.dialect.name}")
    launch = data.launch
    hypothesis = data.hypotheses[0]
    hypothesis.fix_shipped_at = dt.datetime.combine(STARTS_ON + dt.timedelta(days=9), dt.time(12), tzinfo=OSLO)
    now = dt.datetime.combine(STARTS_ON + dt.timedelta(days=19), dt.time(14), tzinfo=OSLO).astimezone(dt.UTC)
    results = []
    with db.session() as session:
        result = impact.impact_of(session, launch, hypothesis, now=now)
        assert result is not None
        print(f"verdict {result.verdict}, change {result.change}, p {result.p_value}")

        def first_of_a_process() -> None:
            session.info["memo"].pop(DAY_CACHE_KEY, None)
            session.rollback()  # a new read snapshot, as a new request has: it sees the days kept meanwhile
            impact.impact_of(session, launch, hypothesis, now=now)

        results.append(measure("impact, first call of a process (closed days kept)", first_of_a_process, runs=10))
        results.append(
            measure(
                "impact, steady state (closed days cached)",
                lambda: impact.impact_of(session, launch, hypothesis, now=now),
            )
        )
        results.append(
            measure(
                "Fisher's exact test alone (200,000 enquiries)",
                lambda: impact.fisher_two_sided(30_000, 100_000, 31_000, 100_000),
            )
        )
    db.dispose()
    return results


def main() -> None:
    query_benchmark_main(__doc__, run, hypotheses=200)


if __name__ == "__main__":
    main()
