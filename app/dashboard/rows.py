"""The launch page's table: one row per hypothesis, then "Other" and "All enquiries".

Pure functions of counts and times. Every row has the count in the range, the
count in the period before (``ranges.Selection.previous``: the same hours a day or a week earlier,
or as long just before), the change, a per-day rate
against the expected one, and its share of all enquiries in the range.

A hypothesis counts from when it was added (``Hypothesis.created_at``, see
``tallies.counting_since``), and every row from the launch's start: a period before that shows "–", never a
zero that reads as "nobody called", and a rate is worked out over the days the
hypothesis existed in the range only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from app import launches
from app.models import Hypothesis, HypothesisStatus

DAY = dt.timedelta(days=1)

RowKind = Literal["hypothesis", "other", "all"]


def exposure_days(
    start: dt.datetime, end: dt.datetime, *, now: dt.datetime, since: dt.datetime, tz: ZoneInfo
) -> float | None:
    """Days of [max(start, since), min(end, now)) for a per-day rate: None when that is empty
    (the hypothesis did not exist yet, or the range has not begun). A stretch shorter than a
    day counts as one, so a rate early in the day is the count so far, never a projection."""
    a, b = max(start, since), min(end, now)
    if b <= a:
        return None
    return max(local_days(a, b, tz), 1.0)


def local_days(start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> float:
    """How many of the launch's days [start, end) spans: each local day one, whatever its hours (the
    day the clocks go back has 25, and 100 enquiries on it were 96 a day), a part of one by its share."""
    days, cursor = 0.0, start
    while cursor < end:
        day = cursor.astimezone(tz).date()
        day_start, day_end = launches.local_midnight(day, tz), launches.local_midnight(day + DAY, tz)
        stretch_end = min(end, day_end)
        days += (stretch_end - cursor) / (day_end - day_start)
        cursor = stretch_end
    return days


@dataclass(frozen=True)
class Period:
    """How a row stands in one period: its count, or None when it did not exist at all then."""

    count: int | None
    partial: bool = False  # it existed for only part of the period (added, or the launch began, during it)


def period(count: int, start: dt.datetime, end: dt.datetime, since: dt.datetime) -> Period:
    """``count`` for [start, end) of something that exists from ``since`` on."""
    if since >= end:
        return Period(None)
    return Period(count, partial=since > start)


@dataclass(frozen=True)
class Row:
    kind: RowKind
    key: str  # the hypothesis key, "other" or "all"
    hypothesis: Hypothesis | None
    current: Period
    previous: Period
    per_day: float | None  # over the days it existed in the range (see exposure_days)
    expected: float | None
    share: float  # of all enquiries in the range, 0…1
    since: dt.datetime  # when it began to count: added, or the launch's start

    @property
    def count(self) -> int:
        return self.current.count or 0

    @property
    def change(self) -> int | None:
        """Against the previous period; None when there is nothing fair to compare with: nothing then, or
        only part of it (added, or the launch begun, during it: two days against one read as a rise)."""
        if self.current.count is None or self.previous.count is None or self.previous.partial:
            return None
        return self.current.count - self.previous.count

    @property
    def change_percent(self) -> int | None:
        change = self.change
        if change is None or not self.previous.count:
            return None
        return round(100 * change / self.previous.count)

    @property
    def above_expectation(self) -> bool:
        """Marked for hypotheses only: "All" counts other enquiries, and each enquiry once, so its
        rate is no measure against the hypotheses' expectations added up."""
        return (
            self.kind == "hypothesis"
            and self.per_day is not None
            and self.expected is not None
            and self.per_day > self.expected
        )

    @property
    def retired(self) -> bool:
        return self.hypothesis is not None and self.hypothesis.status == HypothesisStatus.RETIRED

    @property
    def movement(self) -> int:
        """How much it moved, for "biggest movers first": the change, else (new) the count."""
        change = self.change
        return abs(change) if change is not None else self.count


def _rate(count: int | None, days: float | None) -> float | None:
    if count is None or days is None:
        return None
    return round(count / days, 1)


def build_rows(
    *,
    hypotheses: list[Hypothesis],
    current: dict[str, int],
    previous: dict[str, int],
    start: dt.datetime,
    end: dt.datetime,
    previous_start: dt.datetime,
    previous_end: dt.datetime,
    launch_start: dt.datetime,
    since: dict[str, dt.datetime],
    now: dt.datetime,
    tz: ZoneInfo,
) -> tuple[list[Row], Row, Row]:
    """The hypothesis rows (biggest movers first, retired last), the "Other" row and the "All" row.

    ``current`` and ``previous`` hold counts by hypothesis key, plus "other" and "all";
    ``since`` when each hypothesis began to count (``tallies.counting_since``)."""
    total = current.get("all", 0)

    def share(n: int | None) -> float:
        return (n or 0) / total if total else 0.0

    rows = []
    for h in hypotheses:
        began = since.get(h.key, launch_start)
        now_period = period(current.get(h.key, 0), start, end, began)
        rows.append(
            Row(
                kind="hypothesis",
                key=h.key,
                hypothesis=h,
                current=now_period,
                previous=period(previous.get(h.key, 0), previous_start, previous_end, began),
                per_day=_rate(now_period.count, exposure_days(start, end, now=now, since=began, tz=tz)),
                expected=h.expected_per_day,
                share=share(now_period.count),
                since=began,
            )
        )
    rows.sort(key=lambda r: (r.retired, -r.movement, -r.count, r.hypothesis.sort_order if r.hypothesis else 0))

    days = exposure_days(start, end, now=now, since=launch_start, tz=tz)

    def summary(kind: RowKind, expected: float | None) -> Row:
        count = current.get(kind, 0)
        return Row(
            kind=kind,
            key=kind,
            hypothesis=None,
            current=period(count, start, end, launch_start),
            previous=period(previous.get(kind, 0), previous_start, previous_end, launch_start),
            per_day=_rate(count, days),
            expected=expected,
            share=share(count) if kind == "other" else (1.0 if total else 0.0),
            since=launch_start,
        )

    # What the hypotheses in use expect together, for "All": only when each of them has an expectation.
    in_use = [h for h in hypotheses if h.status != HypothesisStatus.RETIRED and since.get(h.key, launch_start) < end]
    expectations = [h.expected_per_day for h in in_use if h.expected_per_day is not None]
    expected_all = float(sum(expectations)) if in_use and len(expectations) == len(in_use) else None
    return rows, summary("other", None), summary("all", expected_all)
