"""Tallies of a window, and series of buckets, for what the pages, digests and the API ask.

Every range is first clipped to the launch's window: nothing before or after a
launch is ever counted or kept. Then it is split by local day: a closed day the
range covers comes from its kept totals (app/tallies/cache.py), a day it cuts
(and today) from its kept 15-minute slots, and only what is left — the last
half hour or so, and the ends of a range that does not start or end on a slot,
under a quarter of an hour each — is counted from the enquiry indexes.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sqlmodel import Session

from app import schedule
from app.launches import day_bounds, local_date, window, zone
from app.models import Hypothesis, Launch
from app.tallies.cache import (
    CLOSED_AFTER,
    SLOT,
    cache_of,
    closed_days,
    closed_slots,
    closed_until,
    is_closed,
    keep_so_far,
    kept_slot_totals,
    kept_so_far,
    slots_between,
)
from app.tallies.counting import (
    UNSPECIFIED_SEGMENT,
    Counts,
    DayCounts,
    Filter,
    check_window,
    count_hours,
    hypothesis_ids,
    raw_counts,
)

BucketKind = Literal["day", "slot", "hour"]
BUCKETS: tuple[BucketKind, ...] = ("day", "slot", "hour")
HOUR = dt.timedelta(hours=1)
HOURS_KEY = "tally_clock_hours"  # closed days by clock hour, in the Database's memo
MAX_HELD_DAYS = 5_000


@dataclass(frozen=True)
class Tally:
    start: dt.datetime
    end: dt.datetime
    total: int
    other: int
    by_hypothesis: dict[int, int]
    by_channel: dict[str, int]
    by_segment: dict[str, int]

    def for_hypothesis(self, hypothesis: Hypothesis) -> int:
        return self.by_hypothesis.get(hypothesis.id or 0, 0)


@dataclass(frozen=True)
class Bucket:
    start: dt.datetime
    end: dt.datetime
    total: int
    other: int
    by_hypothesis: dict[int, int]


def clip(launch: Launch, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) cut to the launch's window (empty, at its start or end, if they do not meet)."""
    first, last = window(launch)
    start, end = min(max(start, first), last), max(min(end, last), first)
    return start, max(start, end)


class _Days:
    """The local days of one request's ranges, step by step where that is cheap: a closed day the
    range covers from its kept totals, the closed slots of a day it cuts (or of today) from the
    kept slots it covers."""

    def __init__(self, session: Session, launch: Launch, now: dt.datetime | None) -> None:
        self.session = session
        self.launch = launch
        self.now = now
        self.tz = zone(launch)
        self.cached = now is not None and launch.id is not None and cache_of(session) is not None
        self._days: dict[dt.date, DayCounts] = {}

    def _whole_and_closed(self, day: dt.date, start: dt.datetime, end: dt.datetime) -> bool:
        assert self.now is not None  # noqa: S101 - only asked when cached
        return (start, end) == day_bounds(day, self.tz) and is_closed(self.launch, day, self.now)

    def prepare(self, start: dt.datetime, end: dt.datetime) -> None:
        """Fetch every closed day that [start, end) covers in one go."""
        if not self.cached or self.now is None or start >= end:
            return
        wanted = []
        for day in _local_days(start, end, self.tz):
            day_start, day_end = day_bounds(day, self.tz)
            a, b = max(start, day_start), min(end, day_end)
            if day not in self._days and self._whole_and_closed(day, a, b):
                wanted.append(day)
        if wanted:
            self._days.update(closed_days(self.session, self.launch, wanted, self.now))

    def steps_of(self, day: dt.date, start: dt.datetime, end: dt.datetime) -> DayCounts | None:
        """Step by step counts for [start, end) of a day, if they are to be had cheaply: the kept
        totals of a closed day the range covers, else the closed slots the range covers."""
        if not self.cached or self.now is None:
            return None
        if self._whole_and_closed(day, start, end):
            if day not in self._days:
                self._days.update(closed_days(self.session, self.launch, [day], self.now))
            return self._days[day]
        day_start, day_end = day_bounds(day, self.tz)
        closed = min((self.now - CLOSED_AFTER - day_start) // SLOT, (day_end - day_start) // SLOT)
        first, last = -(-(start - day_start) // SLOT), min((end - day_start) // SLOT, closed)
        if first >= last:
            return None  # no closed slot in it: from the indexes
        return slots_between(self.session, self.launch, day, first, last, self.now)

    def counts(self, start: dt.datetime, end: dt.datetime, flt: Filter | None) -> Counts:
        """Counts for [start, end) (already clipped). From the launch's start to past its latest
        closed slot (the whole launch so far), unfiltered: the kept counts so far and the rest."""
        if flt is None and self.cached and self.now is not None and start == window(self.launch)[0]:
            through = closed_until(self.launch, self.now)
            if start < through <= end:
                total = Counts()
                total.add(self._so_far(through))
                total.add(raw_counts(self.session, self.launch, [(through, end)]))  # nothing closed: no slots
                return total
        self.prepare(start, end)
        return self._counts(start, end, flt)

    def _so_far(self, through: dt.datetime) -> Counts:
        """Counts from the launch's start to ``through`` (a closed slot's end): as kept, topped up
        with the days and slots closed since, and kept again."""
        assert self.now is not None  # noqa: S101 - only asked when cached
        kept = kept_so_far(self.session, self.launch, through)
        if kept is not None and kept[0] == through:
            return kept[1]
        since, counts = kept if kept is not None else (window(self.launch)[0], Counts())
        total = Counts()
        total.add(counts)
        self.prepare(since, through)
        total.add(self._counts(since, through, None))
        keep_so_far(self.session, self.launch, through, total, self.now)
        return total

    def _counts(self, start: dt.datetime, end: dt.datetime, flt: Filter | None) -> Counts:
        total = Counts()
        pending: list[tuple[dt.datetime, dt.datetime]] = []  # stretches to count from the indexes
        for day in _local_days(start, end, self.tz):
            day_start, day_end = day_bounds(day, self.tz)
            a, b = max(start, day_start), min(end, day_end)
            steps = self.steps_of(day, a, b) if a < b else None
            if steps is None:
                pending.append((a, b))
                continue
            first = steps.hour_of(_ceil_step(a, steps.start, steps.step))
            last = steps.hour_of(_floor_step(min(b, steps.end), steps.start, steps.step))
            if first is None or last is None or first >= last:
                pending.append((a, b))
                continue
            total.add(steps.counts(first, last, flt))
            pending.append((a, steps.start + first * steps.step))
            pending.append((steps.start + last * steps.step, b))
        total.add(raw_counts(self.session, self.launch, _merge(pending), flt))
        return total


def _ceil_step(moment: dt.datetime, origin: dt.datetime, step: dt.timedelta) -> dt.datetime:
    offset = moment - origin
    return origin + -(-offset // step) * step


def _floor_step(moment: dt.datetime, origin: dt.datetime, step: dt.timedelta) -> dt.datetime:
    return origin + ((moment - origin) // step) * step


def _merge(stretches: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for a, b in sorted(s for s in stretches if s[0] < s[1]):
        if merged and merged[-1][1] >= a:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _local_days(start: dt.datetime, end: dt.datetime, tz: dt.tzinfo) -> list[dt.date]:
    if start >= end:
        return []
    days = []
    day = local_date(start, tz)  # type: ignore[arg-type]
    last = local_date(end - dt.timedelta(microseconds=1), tz)  # type: ignore[arg-type]
    while day <= last:
        days.append(day)
        day += dt.timedelta(days=1)
    return days


def _to_tally(launch: Launch, start: dt.datetime, end: dt.datetime, counts: Counts, hypotheses: list[int]) -> Tally:
    by_hypothesis = {h: counts.hypotheses.get(h, 0) for h in hypotheses}
    by_channel = dict.fromkeys(launch.channels, 0)
    by_segment = dict.fromkeys(launch.segments, 0)
    for (channel, segment, _), n in sorted(counts.dimensions.items(), key=lambda item: str(item[0])):
        by_channel[channel] = by_channel.get(channel, 0) + n
        segment_name = segment or UNSPECIFIED_SEGMENT
        by_segment[segment_name] = by_segment.get(segment_name, 0) + n
    return Tally(start, end, counts.total, counts.other, by_hypothesis, by_channel, by_segment)


def tally(
    *,
    session: Session,
    launch: Launch,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime | None = None,
    hypotheses: Iterable[Hypothesis] | None = None,
    filter: Filter | None = None,
) -> Tally:
    """Counts for [start, end), clipped to the launch. Every hypothesis of the launch (or of
    ``hypotheses``), every channel and every segment it offers appear, with zero where
    nothing came. Pass ``now`` to let closed days come from the cache."""
    check_window(start, end)
    ids = hypothesis_ids(session, launch) if hypotheses is None else [h.id for h in hypotheses if h.id is not None]
    a, b = clip(launch, start, end)
    days = _Days(session, launch, now)
    return _to_tally(launch, start, end, days.counts(a, b, filter), ids)


def by_clock_hour(session: Session, launch: Launch, day: dt.date, now: dt.datetime) -> list[int]:
    """A closed local day's enquiries, every one whatever it was ticked as, by local clock hour (0 to
    23; the hour the clocks repeat in autumn holds both): added up from the day's kept 15-minute slots
    (their totals alone: a slot keeps its counts per hypothesis too, two hundred of them), once a process
    (keyed like them by the counts version)."""
    memo = session.info.get("memo")
    key = (launch.id, launch.timezone, day, launch.counts_version)
    held: dict[tuple[int | None, str, dt.date, int], list[int]] = {} if memo is None else memo.setdefault(HOURS_KEY, {})
    if key in held:
        return held[key]
    tz = zone(launch)
    hours = [0] * 24
    kept = kept_slot_totals(session, launch, day)
    if kept is not None:
        for starts_at, n in kept.items():
            hours[starts_at.astimezone(tz).hour] += n
    else:  # counted now, and kept for every process
        start, end = day_bounds(day, tz)
        steps = closed_slots(session, launch, day, now)
        if steps is None or steps.end < end:  # no memo to keep them in
            steps = count_hours(session, launch, start, end, SLOT)
        for counts in steps.dims.values():
            for k, n in enumerate(counts):
                if n:
                    hours[(steps.start + k * steps.step).astimezone(tz).hour] += n
    if len(held) >= MAX_HELD_DAYS:
        held.clear()
    held[key] = hours
    return hours


def bucket_bounds(launch: Launch, start: dt.datetime, end: dt.datetime, bucket: BucketKind) -> list[dt.datetime]:
    """The edges of the buckets that cover [start, end): local midnights, local hours, or digest
    times, with ``start`` and ``end`` themselves as the outer edges."""
    tz = zone(launch)
    edges = {start, end}
    for day in _local_days(start, end, tz):
        day_start, day_end = day_bounds(day, tz)
        if bucket == "day":
            edges.add(day_start)
        elif bucket == "hour":
            moment = day_start
            while moment < day_end:
                edges.add(moment)
                moment += HOUR
        else:
            edges.update(schedule.slots_on(launch, day))
    return sorted(e for e in edges if start <= e <= end)


def series(
    *,
    session: Session,
    launch: Launch,
    start: dt.datetime,
    end: dt.datetime,
    bucket: BucketKind,
    now: dt.datetime | None = None,
    filter: Filter | None = None,
) -> list[Bucket]:
    """Buckets covering [start, end) clipped to the launch, every one present (zeros included).

    ``day``: local days; ``hour``: local hours; ``slot``: from one digest time to the next
    (the first from the launch's start)."""
    check_window(start, end)
    if bucket not in BUCKETS:
        raise ValueError(f"unknown bucket {bucket!r}")
    a, b = clip(launch, start, end)
    days = _Days(session, launch, now)
    days.prepare(a, b)
    edges = bucket_bounds(launch, a, b, bucket)
    buckets = []
    for left, right in itertools.pairwise(edges):
        counts = days.counts(left, right, filter)
        buckets.append(Bucket(left, right, counts.total, counts.other, dict(counts.hypotheses)))
    return buckets
