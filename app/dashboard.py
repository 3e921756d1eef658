"""The launch page product teams read: what came in today, since the last
digest and since launch, hypothesis by hypothesis, and day by day, so a drop
after a fix shipped is visible."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session

from app import enquiries, launches, schedule, tallies
from app.models import Hypothesis, HypothesisStatus, Launch


@dataclass(frozen=True)
class Row:
    hypothesis: Hypothesis
    today: int
    yesterday: int
    since_launch: int
    per_day: float  # average over the days the launch has run
    days: list[int]  # one count per launch day so far

    @property
    def above_expectation(self) -> bool:
        expected = self.hypothesis.expected_per_day
        return expected is not None and self.per_day > expected


@dataclass(frozen=True)
class Dashboard:
    launch: Launch
    day: int  # 1 on the launch's first day
    length: int
    days: list[dt.date]
    totals: tallies.Tally  # since launch
    today: tallies.Tally
    since_digest: int
    last_slot: dt.datetime | None
    next_slot: dt.datetime | None
    rows: list[Row]
    other_per_day: list[int]
    totals_per_day: list[int]
    notes: list[str]

    @property
    def busiest(self) -> int:
        return max([r.since_launch for r in self.rows] + [self.totals.other, 1])


def build(session: Session, *, launch: Launch, now: dt.datetime) -> Dashboard:
    tz = launches.zone(launch)
    today = min(max(launches.local_date(now, tz), launch.starts_on), launch.ends_on)
    days = []
    day = launch.starts_on
    while day <= today and launches.local_midnight(day, tz) <= now:
        days.append(day)
        day += dt.timedelta(days=1)
    hypotheses = launches.hypotheses_of(session, launch)
    per_day = [
        tallies.tally(session=session, launch=launch, start=start, end=end, now=now, hypotheses=hypotheses)
        for start, end in (launches.day_bounds(d, tz) for d in days)
    ]
    start, end = launches.window(launch)
    totals = tallies.tally(session=session, launch=launch, start=start, end=end, now=now, hypotheses=hypotheses)
    empty = tallies.tally(session=session, launch=launch, start=now, end=now, hypotheses=hypotheses)
    today_tally = per_day[-1] if per_day and days[-1] == launches.local_date(now, tz) else empty
    yesterday_tally = per_day[-2] if len(per_day) >= 2 and per_day[-1] is today_tally else empty
    last_slot = schedule.previous_slot(launch, now)
    # Days the launch has run, today counting for the part that is over, so "per day" is not
    # read low every morning.
    elapsed = max((min(now, end) - start) / dt.timedelta(days=1), 1.0) if now > start else 1.0
    rows = [
        Row(
            hypothesis=h,
            today=today_tally.for_hypothesis(h),
            yesterday=yesterday_tally.for_hypothesis(h),
            since_launch=totals.for_hypothesis(h),
            per_day=round(totals.for_hypothesis(h) / elapsed, 1),
            days=[t.for_hypothesis(h) for t in per_day],
        )
        for h in hypotheses
    ]
    # Retired hypotheses go last; the rest by how much they bring, biggest first.
    rows.sort(key=lambda r: (r.hypothesis.status == HypothesisStatus.RETIRED, -r.since_launch))
    return Dashboard(
        launch=launch,
        day=launches.day_number(launch, today),
        length=launches.day_number(launch, launch.ends_on),
        days=days,
        totals=totals,
        today=today_tally,
        since_digest=tallies.count(session=session, launch=launch, start=last_slot, end=end) if last_slot else 0,
        last_slot=last_slot,
        next_slot=schedule.next_slot(launch, now),
        rows=rows,
        other_per_day=[t.other for t in per_day],
        totals_per_day=[t.total for t in per_day],
        notes=enquiries.recent_notes(session, launch=launch, start=start, end=end, limit=10),
    )
