"""Counting enquiries in the database: over a stretch of time, or step by step over a local day.

Windows are half-open, [start, end), in UTC: an enquiry logged exactly at a
digest's boundary belongs to the next window, never to both.

Two shapes of answer:

* ``Counts``: totals for one stretch, per hypothesis and per (channel,
  segment, other). Without a filter every count is an index range seek, never
  a sort: one per hypothesis on ``ix_enquiry_hypothesis_count``, one per
  (channel, segment, other) on ``ix_enquiry_dimensions``, the total on
  ``ix_enquiry_time`` (a GROUP BY over a window builds a temporary B-tree: five
  times slower for a day). On PostgreSQL, stretches of an hour or less in all —
  what is left around the kept 15-minute slots — have their enquiries read and
  grouped from the time index instead (``READ_ROWS_UP_TO``). With a channel or segment filter the
  hypotheses are counted through the enquiries the filter keeps (one join, grouped).
* ``DayCounts``: a local day 15-minute slot by slot (or hour by hour), per
  (hypothesis, channel, segment) and per (channel, segment, other). Two grouped
  queries a stretch; closed slots are counted so once and kept, and so are the
  totals of closed days (app/tallies/cache.py), and any range, filter or bucket
  that falls on their edges is then summed from memory.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from app.models import Enquiry, EnquiryHypothesis, Hypothesis, Launch

UNSPECIFIED_SEGMENT = "unspecified"
HOUR = dt.timedelta(hours=1)

_enquiry = Enquiry.__table__  # type: ignore[attr-defined]
_link = EnquiryHypothesis.__table__  # type: ignore[attr-defined]
_hypothesis = Hypothesis.__table__  # type: ignore[attr-defined]

Dim = tuple[str, str | None, bool]  # channel, segment (None: not given), other
Stretch = tuple[dt.datetime, dt.datetime]
# Stretches counted by one statement; more (a series of many buckets without kept counts) go in groups.
MAX_STRETCHES = 4
# PostgreSQL: stretches this short in all (the open end of today, a window's ends off the 15-minute
# grid) have their enquiries read and grouped from ix_enquiry_time, which carries the dimensions there.
# The statement of two dozen seeks per stretch is 8-17 KB of text: psycopg parses it again on every
# call (its cache stops at 4 KB), and PostgreSQL planned it in 2.6 ms and ran it in 1.9 (EXPLAIN
# ANALYZE, two stretches, 1,000,000 enquiries). Read and grouped, 37 busy minutes (~4,800 rows) took
# 2.3-2.7 ms against 4.6-5.6 ms by seeks. SQLite keeps its statements prepared and groups through a
# temporary B-tree (two to five times slower here): it always seeks.
READ_ROWS_UP_TO = dt.timedelta(hours=1)
# A launch may offer 500 channels and 500 segments (MAX_ITEMS, app/hypothesis_sets.py), but a
# statement selects at most 2,000 columns on SQLite and 1,664 on PostgreSQL: a column per combination
# (1 + 2·C·(S+1)) passes that at 25 channels × 40 segments. Beyond this many combinations the enquiries
# are read and grouped instead (one pass over ix_enquiry_time, which carries the dimensions); a few
# channels and segments (the common case: 24 combinations in bench.tally_queries) keep their seeks.
SEEK_COMBINATIONS_UP_TO = 200
Link = tuple[int, str, str | None]  # hypothesis id, channel, segment


@dataclass(frozen=True)
class Filter:
    """Which enquiries to count: some channels, some segments (None: all).
    ``UNSPECIFIED_SEGMENT`` stands for enquiries logged without a segment."""

    channels: frozenset[str] | None = None
    segments: frozenset[str] | None = None

    def allows(self, channel: str, segment: str | None) -> bool:
        if self.channels is not None and channel not in self.channels:
            return False
        return self.segments is None or (segment or UNSPECIFIED_SEGMENT) in self.segments


@dataclass
class Counts:
    """Raw counts for a stretch of time, as found (no zero-filling)."""

    total: int = 0
    other: int = 0
    hypotheses: Counter[int] = field(default_factory=Counter)
    dimensions: Counter[Dim] = field(default_factory=Counter)

    def add(self, other: Counts) -> None:
        self.total += other.total
        self.other += other.other
        self.hypotheses.update(other.hypotheses)
        self.dimensions.update(other.dimensions)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "other": self.other,
            "hypotheses": [[h, n] for h, n in self.hypotheses.items()],
            "dims": [[*dim, n] for dim, n in self.dimensions.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Counts:
        counts = cls(total=int(data["total"]), other=int(data["other"]))
        counts.hypotheses = Counter({int(h): int(n) for h, n in data["hypotheses"]})
        counts.dimensions = Counter({(str(c), s, bool(o)): int(n) for c, s, o, n in data["dims"]})
        return counts


def check_window(start: dt.datetime, end: dt.datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("tally windows need aware datetimes")
    if end < start:
        raise ValueError(f"window ends ({end.isoformat()}) before it starts ({start.isoformat()})")


# --- one stretch, by index seeks ----------------------------------------------------


def dimension_combinations(launch: Launch) -> tuple[Dim, ...]:
    segments: list[str | None] = [*launch.segments, None]
    return tuple(itertools.product(launch.channels, segments, (False, True)))


def _in_window(table: sa.Table, stretch: int = 0) -> tuple[sa.ColumnElement[bool], ...]:
    """In the launch and the ``stretch``-th stretch of time of the statement's parameters."""
    suffix = str(stretch) if stretch else ""
    return (
        table.c.launch_id == sa.bindparam("launch_id"),
        table.c.created_at >= sa.bindparam(f"start{suffix}"),
        table.c.created_at < sa.bindparam(f"end{suffix}"),
    )


def _count_over(table: sa.Table, stretches: int, *where: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    """How many rows of ``table`` match ``where`` in any of the stretches: a seek per stretch, added."""
    seeks = [
        sa.select(sa.func.count()).select_from(table).where(*where, *_in_window(table, k)).scalar_subquery()
        for k in range(stretches)
    ]
    return functools.reduce(operator.add, seeks)


def _stretch_params(launch: Launch, stretches: list[Stretch]) -> dict[str, Any]:
    params: dict[str, Any] = {"launch_id": launch.id}
    for k, (start, end) in enumerate(stretches):
        suffix = str(k) if k else ""
        params[f"start{suffix}"], params[f"end{suffix}"] = start, end
    return params


@functools.lru_cache(maxsize=256)
def hypothesis_statement(stretches: int = 1, flt: Filter | None = None) -> sa.Select[tuple[int, int]]:
    """Per hypothesis of the launch, by a seek per stretch on the (covering) link index; with a
    filter, the channel and segment are read from the same index entries."""
    link = _link.alias("l")
    where = [link.c.hypothesis_id == _hypothesis.c.id, *(_filter_clauses(link, flt) if flt else ())]
    per_hypothesis = _count_over(link, stretches, *where)
    return sa.select(_hypothesis.c.id, per_hypothesis).where(_hypothesis.c.launch_id == sa.bindparam("launch_id"))


HYPOTHESIS_COUNTS = hypothesis_statement()
HYPOTHESIS_IDS = (
    sa.select(_hypothesis.c.id)
    .where(_hypothesis.c.launch_id == sa.bindparam("launch_id"))
    .order_by(_hypothesis.c.sort_order, _hypothesis.c.id)
)


def hypothesis_ids(session: Session, launch: Launch) -> list[int]:
    """The launch's hypotheses, as ``launches.hypotheses_of`` orders them: ids only, which is all
    a tally needs (a third of the time of loading them whole, which a tally would pay every call)."""
    return list(session.execute(HYPOTHESIS_IDS, {"launch_id": launch.id}).scalars())


@functools.lru_cache(maxsize=256)
def dimension_statement(combinations: tuple[Dim, ...], stretches: int = 1) -> sa.Select[Any]:
    """One row: the total, then a count per (channel, segment, other) combination.

    Built once per set of combinations and number of stretches: composing two dozen subqueries
    costs more than running them."""
    columns: list[sa.ColumnElement[Any]] = [_count_over(_enquiry, stretches)]
    for channel, segment, is_other in combinations:
        segment_match = _enquiry.c.segment.is_(None) if segment is None else _enquiry.c.segment == segment
        columns.append(
            _count_over(
                _enquiry, stretches, _enquiry.c.channel == channel, segment_match, _enquiry.c.is_other == is_other
            )
        )
    return sa.select(*columns)


@functools.lru_cache(maxsize=MAX_STRETCHES)
def grouped_dimension_statement(stretches: int) -> sa.Select[Any]:
    """Every enquiry of the stretches, read once and grouped by (channel, segment, other)."""
    in_any = sa.or_(*(sa.and_(*_in_window(_enquiry, k)) for k in range(stretches)))
    grouped = (_enquiry.c.channel, _enquiry.c.segment, _enquiry.c.is_other)
    return sa.select(*grouped, sa.func.count()).where(in_any).group_by(*grouped)


def _grouped_dimensions(session: Session, stretches: int, params: dict[str, Any]) -> Counter[Dim]:
    found: Counter[Dim] = Counter()
    for channel, segment, is_other, count in session.execute(grouped_dimension_statement(stretches), params):
        found[(channel, segment, bool(is_other))] += count
    return found


def _filter_clauses(table: sa.Table, flt: Filter) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if flt.channels is not None:
        clauses.append(table.c.channel.in_(sorted(flt.channels)))
    if flt.segments is not None:
        named = sorted(s for s in flt.segments if s != UNSPECIFIED_SEGMENT)
        either = [table.c.segment.in_(named)] if named else []
        if UNSPECIFIED_SEGMENT in flt.segments:
            either.append(table.c.segment.is_(None))
        clauses.append(sa.or_(*either) if either else sa.false())
    return clauses


def raw_counts(session: Session, launch: Launch, stretches: list[Stretch], flt: Filter | None = None) -> Counts:
    """Counts for the (disjoint) stretches of time straight from the enquiry indexes: one statement
    of each kind for them all (a stretch at each end of a range costs no more round trips)."""
    counts = Counts()
    stretches = [(start, end) for start, end in stretches if start < end]
    if not stretches:
        return counts
    if len(stretches) > MAX_STRETCHES:
        for k in range(0, len(stretches), MAX_STRETCHES):
            counts.add(raw_counts(session, launch, stretches[k : k + MAX_STRETCHES], flt))
        return counts
    n = len(stretches)
    params = _stretch_params(launch, stretches)
    short = sum((end - start for start, end in stretches), dt.timedelta()) <= READ_ROWS_UP_TO
    combinations = dimension_combinations(launch)
    if len(combinations) > SEEK_COMBINATIONS_UP_TO or (short and session.get_bind().dialect.name == "postgresql"):
        counts.dimensions = _grouped_dimensions(session, n, params)
        total = sum(counts.dimensions.values())
    else:
        total, *found = session.execute(dimension_statement(combinations, n), params).one()
        for combination, count in zip(combinations, found, strict=True):
            if count:
                counts.dimensions[combination] = count
        if sum(found) != total:
            # Some enquiries carry a channel or segment the launch no longer offers:
            # count them the slow way rather than lose them.
            counts.dimensions = _grouped_dimensions(session, n, params)
    if flt is None:
        for hypothesis_id, count in session.execute(hypothesis_statement(n), params):
            if count:
                counts.hypotheses[hypothesis_id] = count
        counts.total = total
    else:
        counts.dimensions = Counter({d: c for d, c in counts.dimensions.items() if flt.allows(d[0], d[1])})
        counts.total = sum(counts.dimensions.values())
        if counts.total:
            rows = session.execute(hypothesis_statement(n, flt), params)
            counts.hypotheses.update({hypothesis_id: c for hypothesis_id, c in rows if c})
    counts.other = sum(c for (_, _, is_other), c in counts.dimensions.items() if is_other)
    return counts


# --- one local day, hour by hour --------------------------------------------------------


class DayCounts:
    """Counts step by step: the 15-minute slots of a local day (a day has 92, 96 or 100 of them;
    for the day still going on, those closed so far), or a whole closed day as one step, as kept
    in ``day_tally``.

    Step ``k`` is [start + k step, start + (k + 1) step); ``hours`` is how many steps. Sums over whole steps,
    with or without a filter, come from memory. A whole day read back from ``day_tally`` keeps its
    per-(hypothesis, channel, segment) totals as read until a filter needs them: most readers (a
    whole-launch tally, a digest's "since launch") want only the totals."""

    __slots__ = (
        "_by_hypothesis",
        "_dims",
        "_links",
        "_whole",
        "_whole_links",
        "_whole_links_stored",
        "hours",
        "start",
        "step",
    )

    def __init__(
        self,
        start: dt.datetime,
        hours: int,
        dims: dict[Dim, list[int]],
        links: dict[Link, list[int]],
        step: dt.timedelta = HOUR,
    ) -> None:
        self.start = start
        self.hours = hours
        self.step = step
        self._dims: dict[Dim, list[int]] | None = dims
        self._links: dict[Link, list[int]] | None = links
        self._whole: Counts | None = None
        self._whole_links: dict[Link, int] | None = None
        self._whole_links_stored: list[list[Any]] | None = None  # as read back, until a filter needs them
        self._by_hypothesis: dict[int, list[int]] | None = None

    @property
    def end(self) -> dt.datetime:
        return self.start + self.hours * self.step

    @property
    def dims(self) -> dict[Dim, list[int]]:
        if self._dims is None:  # a whole day read back: one step
            self._dims = {dim: [n] for dim, n in self.whole().dimensions.items()}
        return self._dims

    @property
    def links(self) -> dict[Link, list[int]]:
        if self._links is None:
            self._links = {link: [n] for link, n in self._whole_by_link().items()}
        return self._links

    def hour_of(self, moment: dt.datetime) -> int | None:
        """The step index at which ``moment`` falls, if it is on a step boundary of these counts."""
        offset = moment - self.start
        if offset % self.step or not dt.timedelta(0) <= offset <= self.hours * self.step:
            return None
        return offset // self.step

    def _hypothesis_hours(self) -> dict[int, list[int]]:
        if self._by_hypothesis is None and self._links is None and self._whole is not None:
            self._by_hypothesis = {h: [n] for h, n in self._whole.hypotheses.items()}  # read back: one step
        if self._by_hypothesis is None:
            found: dict[int, list[int]] = {}
            for (hypothesis_id, _, _), hours in self.links.items():
                into = found.setdefault(hypothesis_id, [0] * self.hours)
                for k, n in enumerate(hours):
                    if n:
                        into[k] += n
            self._by_hypothesis = found
        return self._by_hypothesis

    def whole(self) -> Counts:
        """The counts of all the steps (no filter)."""
        if self._whole is None:
            self._whole = self._sum(0, self.hours, None)
        return self._whole

    def _whole_by_link(self) -> dict[Link, int]:
        if self._whole_links is None and self._whole_links_stored is not None:
            self._whole_links = {(int(h), str(c), s): int(n) for h, c, s, n in self._whole_links_stored}
        if self._whole_links is None:
            self._whole_links = {link: sum(hours) for link, hours in self.links.items()}
        return self._whole_links

    def counts(self, first: int = 0, last: int | None = None, flt: Filter | None = None) -> Counts:
        """Counts for steps [first, last)."""
        last = self.hours if last is None else last
        if first == 0 and last == self.hours:
            whole = self.whole()
            if flt is None:
                return whole
            counts = Counts()
            counts.dimensions = Counter({d: n for d, n in whole.dimensions.items() if flt.allows(d[0], d[1])})
            counts.total = sum(counts.dimensions.values())
            counts.other = sum(n for (_, _, is_other), n in counts.dimensions.items() if is_other)
            for (hypothesis_id, channel, segment), n in self._whole_by_link().items():
                if n and flt.allows(channel, segment):
                    counts.hypotheses[hypothesis_id] += n
            return counts
        return self._sum(first, last, flt)

    def _sum(self, first: int, last: int, flt: Filter | None) -> Counts:
        counts = Counts()
        for dim, hours in self.dims.items():
            if flt is None or flt.allows(dim[0], dim[1]):
                n = sum(hours[first:last])
                if n:
                    counts.dimensions[dim] = n
        counts.total = sum(counts.dimensions.values())
        counts.other = sum(n for (_, _, is_other), n in counts.dimensions.items() if is_other)
        if flt is None:
            for hypothesis_id, hours in self._hypothesis_hours().items():
                n = sum(hours[first:last])
                if n:
                    counts.hypotheses[hypothesis_id] = n
        else:
            for (hypothesis_id, channel, segment), hours in self.links.items():
                if flt.allows(channel, segment):
                    n = sum(hours[first:last])
                    if n:
                        counts.hypotheses[hypothesis_id] += n
        return counts

    def extended(self, later: DayCounts) -> DayCounts:
        """These steps followed by ``later``'s (which starts where these end, in steps as long)."""
        if later.step != self.step or later.start != self.end:
            raise ValueError("only counts in the same steps, starting where these end, can extend them")
        hours = self.hours + later.hours
        dims: dict[Dim, list[int]] = {}
        for key in {*self.dims, *later.dims}:
            dims[key] = self.dims.get(key, [0] * self.hours) + later.dims.get(key, [0] * later.hours)
        links: dict[Link, list[int]] = {}
        for link in {*self.links, *later.links}:
            links[link] = self.links.get(link, [0] * self.hours) + later.links.get(link, [0] * later.hours)
        return DayCounts(self.start, hours, dims, links, self.step)

    def to_json(self) -> dict[str, Any]:
        """The totals of all the steps, as kept for a closed day (read back as one step)."""
        return {
            "seconds": int((self.end - self.start).total_seconds()),
            **self.whole().to_json(),
            "links": [[*link, n] for link, n in self._whole_by_link().items() if n],
        }

    def step_json(self, k: int) -> dict[str, Any]:
        """Step ``k`` alone, as kept for a 15-minute slot: [[channel, segment, other, n], …] and
        [[hypothesis, channel, segment, n], …]."""
        return {
            "dims": [[*dim, hours[k]] for dim, hours in self.dims.items() if hours[k]],
            "links": [[*link, hours[k]] for link, hours in self.links.items() if hours[k]],
        }

    @classmethod
    def from_steps(
        cls, start: dt.datetime, hours: int, step: dt.timedelta, steps: dict[int, dict[str, Any]]
    ) -> DayCounts:
        """Counts put together from steps kept one by one (``step_json``)."""
        dims: dict[Dim, list[int]] = {}
        links: dict[Link, list[int]] = {}
        for k, data in steps.items():
            for c, s, o, n in data["dims"]:
                dims.setdefault((str(c), s, bool(o)), [0] * hours)[k] += int(n)
            for h, c, s, n in data["links"]:
                links.setdefault((int(h), str(c), s), [0] * hours)[k] += int(n)
        return cls(start, hours, dims, links, step)

    @classmethod
    def from_json(cls, start: dt.datetime, data: dict[str, Any]) -> DayCounts:
        """A whole day as kept (``to_json``): one step."""
        day = cls(start, 1, {}, {}, dt.timedelta(seconds=int(data["seconds"])))
        day._dims = day._links = None
        day._whole = Counts.from_json(data)
        day._whole_links_stored = data["links"]
        return day


def _hour_of(
    session: Session, column: sa.ColumnElement[Any], start: dt.datetime, step: dt.timedelta = HOUR
) -> tuple[Any, Any]:
    """An SQL expression that tells a stored time's hour (or step), and a function from its value
    to the step's index counted from ``start``.

    When counting hours and ``start`` is on a UTC hour (every zone with a whole-hour offset: the
    Nordics, most of the world) the expression is the stored time cut to the hour, which costs
    next to nothing; otherwise whole steps are worked out from the epoch seconds."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    seconds_a_step = int(step.total_seconds())
    if step == HOUR and start.minute == 0 and start.second == 0 and start.microsecond == 0:
        if sqlite:  # stored as text, "2026-11-18 10:00:00.000000"
            return sa.func.substr(
                column, 1, 13
            ), lambda value: (dt.datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=dt.UTC) - start) // HOUR
        return sa.func.date_trunc("hour", column), lambda value: (value.replace(tzinfo=dt.UTC) - start) // HOUR
    epoch = int(start.timestamp())
    if sqlite:
        # Cut to the second first: strftime('%s') rounds, which would move 09:59:59.9 into hour 10.
        seconds = sa.cast(sa.func.strftime("%s", sa.func.substr(column, 1, 19)), sa.Integer) - epoch
        return seconds // seconds_a_step, int
    return sa.cast(sa.func.floor((sa.extract("epoch", column) - epoch) / seconds_a_step), sa.Integer), int


def count_hours(
    session: Session, launch: Launch, start: dt.datetime, end: dt.datetime, step: dt.timedelta = HOUR
) -> DayCounts:
    """Hour by hour (or step by step) counts of [start, end), which should be whole steps (a local
    day, or slots of today).

    Both tallies read covering indexes only: the (channel, segment, other) counts by seeks on
    ``ix_enquiry_dimensions`` for each combination the launch offers, the per-hypothesis counts
    by a seek per hypothesis on ``ix_enquiry_hypothesis_count``, grouped by hour."""
    hours = max(-(-(end - start) // step), 0)
    dims: dict[Dim, list[int]] = {}
    links: dict[Link, list[int]] = {}
    if not hours:
        return DayCounts(start, hours, dims, links, step)
    params = {"launch_id": launch.id, "start": start, "end": end}
    hour, to_index = _hour_of(session, _enquiry.c.created_at, start, step)
    index_of = functools.cache(to_index)  # a day has only two dozen distinct hours
    hour = hour.label("hour")
    grouped = [hour, _enquiry.c.channel, _enquiry.c.segment, _enquiry.c.is_other]
    offered = [
        _enquiry.c.channel.in_(launch.channels),
        _enquiry.c.is_other.in_([False, True]),
        *_in_window(_enquiry),
    ]
    statements = [
        sa.select(*grouped, sa.func.count()).where(_enquiry.c.segment.in_(launch.segments), *offered),
        sa.select(*grouped, sa.func.count()).where(_enquiry.c.segment.is_(None), *offered),
    ]
    found = 0
    for statement in statements:
        for k, channel, segment, is_other, n in session.execute(statement.group_by(*grouped), params):
            dims.setdefault((channel, segment, bool(is_other)), [0] * hours)[min(index_of(k), hours - 1)] += n
            found += n
    total = session.execute(sa.select(sa.func.count()).where(*_in_window(_enquiry)), params).scalar_one()
    if found != total:
        # Some enquiries carry a channel or segment the launch no longer offers: count the slow way.
        dims = {}
        for k, channel, segment, is_other, n in session.execute(
            sa.select(*grouped, sa.func.count()).where(*_in_window(_enquiry)).group_by(*grouped), params
        ):
            dims.setdefault((channel, segment, bool(is_other)), [0] * hours)[min(index_of(k), hours - 1)] += n
    link_hour, _ = _hour_of(session, _link.c.created_at, start, step)
    link_hour = link_hour.label("hour")
    grouped_links = [link_hour, _link.c.hypothesis_id, _link.c.channel, _link.c.segment]
    of_launch = sa.select(_hypothesis.c.id).where(_hypothesis.c.launch_id == sa.bindparam("launch_id"))
    rows = session.execute(
        sa.select(*grouped_links, sa.func.count())
        .where(_link.c.hypothesis_id.in_(of_launch.scalar_subquery()), *_in_window(_link))
        .group_by(*grouped_links),
        params,
    )
    for k, hypothesis_id, channel, segment, n in rows:
        links.setdefault((hypothesis_id, channel, segment), [0] * hours)[min(index_of(k), hours - 1)] += n
    return DayCounts(start, hours, dims, links, step)


def count(*, session: Session, launch: Launch, start: dt.datetime, end: dt.datetime) -> int:
    """Just the number of enquiries in [start, end)."""
    check_window(start, end)
    return int(
        session.execute(
            sa.select(sa.func.count())
            .select_from(_enquiry)
            .where(_enquiry.c.launch_id == launch.id, _enquiry.c.created_at >= start, _enquiry.c.created_at < end)
        ).scalar_one()
    )
