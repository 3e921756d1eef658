"""The spike alert check (``alerts.evaluate``: the current window's tally, the same hours of up to seven
earlier days, the rising themes in "other") for a launch with a million enquiries and 200 hypotheses,
at 14:37 on day 10 (the window began at the 13:00 digest time). Target: under 50 ms in steady state.

    uv run python -m bench.alerts [--enquiries 1000000] [--hypotheses 200] [--postgres URL]
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import Session

from app.config import Settings
from app.insight import alerts, themes
from bench.data import STARTS_ON, build, forget_counted_days, fresh_database
from bench.timing import Timing, measure, query_benchmark_main

OSLO = ZoneInfo("Europe/Oslo")


def run(*, enquiries: int, hypotheses: int, postgres: str | None) -> list[Timing]:
    db = fresh_database(postgres, f"alerts_{enquiries}_{hypotheses}")
    data = build(db, enquiries=enquiries, hypotheses=hypotheses)
    print(
        f"loaded {enquiries:,} enquiries, {hypotheses} hypotheses in {data.seconds_to_load:.0f} s "
        f"into {db.engine.dialect.name}"
    )
    launch = data.launch
    now = dt.datetime.combine(STARTS_ON + dt.timedelta(days=9), dt.time(14, 37), tzinfo=OSLO).astimezone(dt.UTC)

    def evaluate(session: Session) -> list[alerts.Spike]:
        return alerts.evaluate(session, launch, now=now)

    results = []
    with db.session() as session:

        def never_counted() -> None:
            forget_counted_days(db, session, kept=True)
            session.info["memo"].pop(themes.THEME_DAYS_KEY, None)
            evaluate(session)

        def new_process() -> None:
            forget_counted_days(db, session, kept=False)
            session.info["memo"].pop(themes.THEME_DAYS_KEY, None)
            evaluate(session)

        results.append(measure("evaluate, first ever (counts the closed days and keeps them)", never_counted, runs=3))
        results.append(measure("evaluate, first of a process (closed days kept)", new_process, runs=10))
        results.append(measure("evaluate, steady state (closed days cached)", lambda: evaluate(session), runs=30))
        spikes = evaluate(session)
    print(f"{len(spikes)} spikes at {now.astimezone(OSLO):%Y-%m-%d %H:%M} (Oslo)")

    settings = Settings(_env_file=None, env="test", database_url=db.url, base_url="https://tally.example")  # type: ignore[call-arg]
    alerts.run_alerts(db, settings=settings, now=now, sender=None)  # claims (dry runs) whatever spikes

    def check() -> None:
        alerts.run_alerts(db, settings=settings, now=now, sender=None)

    results.append(measure("run_alerts, steady state (every spike claimed already)", check, runs=30))
    db.dispose()
    return results


def main() -> None:
    query_benchmark_main(__doc__, run, hypotheses=200)


if __name__ == "__main__":
    main()
