"""The launch page: every number for one Selection (a range and filters) at ``now``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from app import digests, launches, schedule, tallies
from app.dashboard import charts
from app.dashboard.history import Note, other_notes
from app.dashboard.rows import Row, build_rows
from app.insight import alerts, impact
from app.models import Hypothesis, Launch, LaunchStatus
from app.ranges import Selection

NOTES_SHOWN = 10
ALERTS_SHOWN = 5


@dataclass(frozen=True)
class Split:
    """Counts by channel or by segment in the range and the period before."""

    name: str
    count: int
    previous: int | None

    @property
    def change(self) -> int | None:
        return None if self.previous is None else self.count - self.previous


@dataclass(frozen=True)
class Dashboard:
    launch: Launch
    selection: Selection
    now: dt.datetime
    day: int | None  # 1 on the launch's first day; None before it begins
    starts_in: int | None  # days until it begins, while it has not
    ended: bool  # its last day is over: "Ended after 21 days", not "Day 21 of 21"
    length: int
    launch_start: dt.datetime
    previous_start: dt.datetime
    previous_end: dt.datetime
    rows: list[Row]
    other: Row
    all: Row
    channels: list[Split]
    segments: list[Split]
    day_chart: dict[str, Any] | None
    slot_chart: dict[str, Any] | None
    notes: list[Note]
    last_slot: dt.datetime | None  # where "since the digest" starts: the last digest composed (None: none yet)
    next_slot: dt.datetime | None
    fixes: dict[str, impact.Impact]  # by hypothesis key: the effect of each fix shipped
    alerts: list[alerts.Listed]  # the latest spike alerts, newest first

    @property
    def has_expectations(self) -> bool:
        return any(r.expected is not None for r in self.rows)

    @property
    def any_above(self) -> bool:
        return any(r.above_expectation for r in (*self.rows, self.other, self.all))

    @property
    def any_partial(self) -> bool:
        return any(r.previous.partial for r in (*self.rows, self.other, self.all))


def _counts(tally: tallies.Tally, hypotheses: list[Hypothesis]) -> dict[str, int]:
    counts = {h.key: tally.for_hypothesis(h) for h in hypotheses}
    return counts | {"other": tally.other, "all": tally.total}


def _splits(current: dict[str, int], previous: dict[str, int] | None) -> list[Split]:
    return [Split(name, n, None if previous is None else previous.get(name, 0)) for name, n in current.items()]


def chart_lines(
    hypotheses: list[Hypothesis], counts: dict[str, int], since: dict[str, dt.datetime]
) -> list[charts.Line]:
    """One line per hypothesis (the top few shown), then Other (shown) and All (a click away).
    The page names Other and All in the reader's language (charts.js)."""
    shown = charts.shown_keys({h.key: counts.get(h.key, 0) for h in hypotheses})
    styles = {h.key: charts.style_of(h, hypotheses) for h in hypotheses}
    lines = [
        charts.Line(
            key=h.key,
            label=h.text,
            color=styles[h.key].color,
            shown=h.key in shown,
            since=since[h.key],
            expected=h.expected_per_day,
            dash=styles[h.key].dash,
        )
        for h in hypotheses
    ]
    lines.append(charts.Line("other", "", charts.OTHER_COLOR, shown=True))
    lines.append(charts.Line("all", "", charts.ALL_COLOR, shown=False))
    return lines


def chart_spans(
    launch: Launch, now: dt.datetime
) -> tuple[tuple[dt.datetime, dt.datetime] | None, tuple[dt.datetime, dt.datetime] | None]:
    """[start, end) of the daily chart (the launch so far) and of the digest-window chart (its last days)."""
    start, end = launches.window(launch)
    upto = min(now, end)
    if upto <= start:
        return None, None
    tz = launches.zone(launch)
    last_day = launches.local_date(upto - dt.timedelta(microseconds=1), tz)
    first_day = last_day - dt.timedelta(days=charts.SLOT_DAYS - 1)
    midnight = launches.local_midnight(first_day, tz)
    # From the digest time before that midnight: the window ending at the first day's first digest began
    # then, and cut at midnight its point counted a few hours of the night, drawn as a quiet window.
    slot_start = max(start, schedule.previous_slot(launch, midnight) or midnight)
    return (start, upto), (slot_start, upto)


def draw(
    session: Session,
    *,
    launch: Launch,
    hypotheses: list[Hypothesis],
    lines: list[charts.Line],
    selection: Selection,
    now: dt.datetime,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The daily chart and the digest-window chart (None before the launch begins)."""
    day_span, slot_span = chart_spans(launch, now)
    if day_span is None or slot_span is None:
        return None, None
    drawn = []
    spans: list[tuple[charts.ChartKind, tuple[dt.datetime, dt.datetime]]] = [("day", day_span), ("slot", slot_span)]
    for kind, (a, b) in spans:
        buckets = tallies.series(
            session=session, launch=launch, start=a, end=b, bucket=kind, now=now, filter=selection.filter
        )
        drawn.append(
            charts.payload(
                kind=kind,
                buckets=buckets,
                lines=lines,
                hypotheses=hypotheses,
                timezone=launch.timezone,
                highlight=(selection.start, selection.end),
                now=now,
            )
        )
    return drawn[0], drawn[1]


def period_before(session: Session, selection: Selection) -> tuple[dt.datetime, dt.datetime]:
    """What a range is compared with: a digest's window (its link) and "since the latest digest" as the
    digest compares them; any other range as ``Selection.previous`` says."""
    since_digest = selection.name == "since-digest"
    compared = digests.compared_with(
        session, selection.launch, selection.start, selection.end, since_digest=since_digest
    )
    return compared or selection.previous()


def build(
    session: Session, *, launch: Launch, selection: Selection, now: dt.datetime, settle: dt.timedelta = dt.timedelta()
) -> Dashboard:
    """Everything the launch page shows. ``settle``: how long after its time a digest is composed
    (``digests.settle``), so that "Next digest" names a slot until its digest is made."""
    tz = launches.zone(launch)
    launch_start, _ = launches.window(launch)
    hypotheses = launches.hypotheses_of(session, launch)
    flt = selection.filter
    start, end = selection.start, selection.end
    previous_start, previous_end = period_before(session, selection)

    def count(a: dt.datetime, b: dt.datetime) -> tallies.Tally:
        return tallies.tally(session=session, launch=launch, start=a, end=b, now=now, hypotheses=hypotheses, filter=flt)

    current = count(start, end)
    # Before the launch, or partly: no fair comparison for the channels and segments either.
    before_launch = previous_start < launch_start or previous_end <= launch_start  # (an empty one at its start too)
    previous = count(previous_start, previous_end)
    counts_now, counts_before = _counts(current, hypotheses), _counts(previous, hypotheses)
    first = tallies.first_enquiries(session, launch)
    since = {h.key: tallies.counting_since(h, launch_start, first.get(h.id or 0), launch=launch) for h in hypotheses}
    rows, other, all_row = build_rows(
        hypotheses=hypotheses,
        current=counts_now,
        previous=counts_before,
        start=start,
        end=end,
        previous_start=previous_start,
        previous_end=previous_end,
        launch_start=launch_start,
        since=since,
        now=now,
        tz=launches.zone(launch),
    )

    lines = chart_lines(hypotheses, counts_now, since)
    day_chart, slot_chart = draw(
        session, launch=launch, hypotheses=hypotheses, lines=lines, selection=selection, now=now
    )

    local_today = launches.local_date(now, tz)
    today = min(max(local_today, launch.starts_on), launch.ends_on)
    return Dashboard(
        launch=launch,
        selection=selection,
        now=now,
        # None before the launch begins: "Day 1 of 22" for a launch that has not started misleads.
        day=launches.day_number(launch, today) if local_today >= launch.starts_on else None,
        starts_in=(launch.starts_on - local_today).days if local_today < launch.starts_on else None,
        ended=local_today > launch.ends_on,
        length=launches.day_number(launch, launch.ends_on),
        launch_start=launch_start,
        previous_start=previous_start,
        previous_end=previous_end,
        rows=rows,
        other=other,
        all=all_row,
        channels=_splits(current.by_channel, None if before_launch else previous.by_channel),
        segments=_splits(current.by_segment, None if before_launch else previous.by_segment),
        day_chart=day_chart,
        slot_chart=slot_chart,
        notes=other_notes(session, launch=launch, stretches=[(start, end)], filter=flt, limit=NOTES_SHOWN),
        last_slot=selection.digest_start,
        # Only a live launch gets digests: a draft or closed one has no next digest to announce.
        next_slot=schedule.next_slot(launch, now - settle) if launch.status == LaunchStatus.LIVE else None,
        fixes={
            h.key: found
            for h in hypotheses
            if h.fix_shipped_at is not None
            and (found := impact.impact_of(session, launch, h, now=now, since=since[h.key], filter=flt)) is not None
        },
        alerts=alerts.listing(session, launch, limit=ALERTS_SHOWN),
    )
