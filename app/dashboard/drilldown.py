"""A hypothesis's own page: its numbers for the Selection, its charts with the expected
rate, its channel and segment split, its text revisions and status history, and the
notes under "Other" from the days it came up."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from app import launches, tallies
from app.dashboard import charts
from app.dashboard.history import Note, other_notes, status_changes
from app.dashboard.launch_page import draw, period_before
from app.dashboard.rows import Row, build_rows
from app.errors import NotFound
from app.insight import impact
from app.models import Hypothesis, HypothesisRevision, HypothesisStatusChange, Launch
from app.ranges import Selection

NOTES_SHOWN = 20


@dataclass(frozen=True)
class Share:
    name: str
    count: int
    share: float  # of this hypothesis's enquiries in the range


@dataclass(frozen=True)
class HypothesisView:
    launch: Launch
    hypothesis: Hypothesis
    selection: Selection
    now: dt.datetime
    launch_start: dt.datetime  # with ``row.since``: whether it counts from later, as the header says
    row: Row
    all: Row
    previous_start: dt.datetime
    previous_end: dt.datetime
    channels: list[Share]
    segments: list[Share]
    day_chart: dict[str, Any] | None
    slot_chart: dict[str, Any] | None
    revisions: list[HypothesisRevision]
    status_changes: list[HypothesisStatusChange]
    notes: list[Note]
    days_seen: list[dt.date]  # local days of the range on which it had enquiries
    last_slot: dt.datetime | None  # where "since the digest" starts: the last digest composed (None: none yet)
    impact: impact.Impact | None  # before against after its fix, when one shipped


def find(session: Session, launch: Launch, key: str) -> tuple[Hypothesis, list[Hypothesis]]:
    hypotheses = launches.hypotheses_of(session, launch)
    for hypothesis in hypotheses:
        if hypothesis.key == key:
            return hypothesis, hypotheses
    # A page's address, typed or kept: "not found" (check the address), not the checklist's "no longer on
    # the list: reload the page", which the API's and the tick's unknown_hypothesis say.
    raise NotFound(f"Launch {launch.slug!r} has no hypothesis {key!r}.", field="key", code="no_such_hypothesis")


def _shares(counts: dict[str, int]) -> list[Share]:
    total = sum(counts.values())
    return [Share(name, n, n / total if total else 0.0) for name, n in counts.items()]


def build(session: Session, *, launch: Launch, key: str, selection: Selection, now: dt.datetime) -> HypothesisView:
    hypothesis, hypotheses = find(session, launch, key)
    launch_start, _ = launches.window(launch)
    start, end = selection.start, selection.end
    previous_start, previous_end = period_before(session, selection)
    flt = selection.filter
    tz = launches.zone(launch)

    def count(a: dt.datetime, b: dt.datetime, f: tallies.Filter | None = flt) -> tallies.Tally:
        return tallies.tally(session=session, launch=launch, start=a, end=b, now=now, hypotheses=[hypothesis], filter=f)

    current, previous = count(start, end), count(previous_start, previous_end)
    since = tallies.counting_since(hypothesis, launch_start, tallies.first_enquiry(session, hypothesis), launch=launch)
    [row], _, all_row = build_rows(
        hypotheses=[hypothesis],
        current={key: current.for_hypothesis(hypothesis), "other": current.other, "all": current.total},
        previous={key: previous.for_hypothesis(hypothesis), "other": previous.other, "all": previous.total},
        start=start,
        end=end,
        previous_start=previous_start,
        previous_end=previous_end,
        launch_start=launch_start,
        since={key: since},
        now=now,
        tz=launches.zone(launch),
    )

    # The split: one count per channel (and segment) within the selection's filters, those no longer
    # offered included while the range has enquiries on them (a channel renamed or removed mid-launch):
    # left out, the hypothesis's split lost them and its shares summed others to 100 %.
    gone_channels = [c for c in current.by_channel if c not in launch.channels]
    gone_segments = [s for s in current.by_segment if s not in (*launch.segments, tallies.UNSPECIFIED_SEGMENT)]
    channels = [c for c in (*launch.channels, *gone_channels) if not selection.channels or c in selection.channels]
    offered_segments = [*launch.segments, *gone_segments, tallies.UNSPECIFIED_SEGMENT]
    segments = [s for s in offered_segments if not selection.segments or s in selection.segments]
    by_channel = {
        c: count(
            start, end, tallies.Filter(channels=frozenset({c}), segments=flt.segments if flt else None)
        ).for_hypothesis(hypothesis)
        for c in channels
    }
    by_segment = {
        s: count(
            start, end, tallies.Filter(channels=flt.channels if flt else None, segments=frozenset({s}))
        ).for_hypothesis(hypothesis)
        for s in segments
    }
    if not by_segment.get(tallies.UNSPECIFIED_SEGMENT) and not selection.segments:
        by_segment.pop(tallies.UNSPECIFIED_SEGMENT, None)  # shown only when some enquiries have no segment
    for gone, split in ((gone_channels, by_channel), (gone_segments, by_segment)):
        for name in gone:
            if not split.get(name):
                split.pop(name, None)  # another hypothesis's: nothing of this one's to show

    style = charts.style_of(hypothesis, hypotheses)
    line = charts.Line(
        key=hypothesis.key,
        label=hypothesis.text,
        color=style.color,
        shown=True,
        since=since,
        expected=hypothesis.expected_per_day,
        dash=style.dash,
    )
    lines = [line, charts.Line("other", "", charts.OTHER_COLOR, shown=False)]
    day_chart, slot_chart = draw(
        session, launch=launch, hypotheses=hypotheses, lines=lines, selection=selection, now=now
    )

    # "Other" notes from the days (of the range) on which this hypothesis came up.
    days = tallies.series(session=session, launch=launch, start=start, end=end, bucket="day", now=now, filter=flt)
    seen = [b for b in days if b.by_hypothesis.get(hypothesis.id or 0)]
    notes = other_notes(
        session, launch=launch, stretches=[(b.start, b.end) for b in seen], filter=flt, limit=NOTES_SHOWN
    )

    return HypothesisView(
        launch=launch,
        hypothesis=hypothesis,
        selection=selection,
        now=now,
        launch_start=launch_start,
        row=row,
        all=all_row,
        previous_start=previous_start,
        previous_end=previous_end,
        channels=_shares(by_channel),
        segments=_shares(by_segment),
        day_chart=day_chart,
        slot_chart=slot_chart,
        revisions=launches.revisions_of(session, launch).get(hypothesis.id or 0, []),
        status_changes=status_changes(session, hypothesis),
        notes=notes,
        days_seen=[launches.local_date(b.start, tz) for b in seen],
        last_slot=selection.digest_start,
        impact=impact.impact_of(session, launch, hypothesis, now=now, since=since, filter=flt),
    )
