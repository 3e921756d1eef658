"""Counting enquiries: per hypothesis, per channel, per segment, for a window.

Windows are half-open, [start, end), in UTC: an enquiry logged exactly at a
digest's boundary belongs to the next window, never to both. Callers that think
in local days use ``launches.day_bounds``, which knows DST days are 23 or 25
hours long.

How it stays fast (figures in docs/benchmarks.md):

* Every count is an index range seek, never a sort: one per hypothesis on
  ``ix_enquiry_hypothesis_count``, one per (channel, segment, other) on
  ``ix_enquiry_dimensions``, and the total on ``ix_enquiry_time``. A GROUP BY
  over a window instead builds a temporary B-tree: five times slower for a day.
* Whole local days that are over ("closed") never change: enquiries get the
  server's time when logged and can only be undone for 15 minutes. The first
  process that needs a closed day counts it and keeps the result in the
  ``day_tally`` table, so no process or replica counts that day again; each
  process also keeps the days it has seen in a ``DayCache`` in memory. A
  whole-launch tally then reads a few partial days from the enquiry indexes and
  the rest from memory or from one small query. The cache lives in the
  Database's memo (sessions carry it in ``session.info``) and is used only when
  the caller says what time it is.
* The only writer of back-dated enquiries is ``enquiries.insert_many`` (the
  demo loader, test factories): it calls ``forget_days`` for what it touches.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from app.db import SQLITE_BUSY_TIMEOUT_MS, WRITE_OPTION, insert_ignoring_conflicts
from app.launches import day_bounds, hypotheses_of, local_date, window, zone
from app.models import DayTally, Enquiry, EnquiryHypothesis, Hypothesis, Launch, id_of

log = logging.getLogger(__name__)

UNSPECIFIED_SEGMENT = "unspecified"
DAY_CACHE_KEY = "tally_day_cache"
# A day is closed this long after its local midnight: the 15-minute undo
# window, commits still in flight, and clocks of replicas that disagree a little.
CLOSED_AFTER = dt.timedelta(hours=1)

_enquiry = Enquiry.__table__  # type: ignore[attr-defined]
_link = EnquiryHypothesis.__table__  # type: ignore[attr-defined]
_hypothesis = Hypothesis.__table__  # type: ignore[attr-defined]
_day_tally = DayTally.__table__  # type: ignore[attr-defined]
# Bumped when _Counts changes shape: stored days of another format are counted again.
DAY_FORMAT = 1
# How long counting a closed day may wait for SQLite's write lock to keep the
# result. Not longer: keeping it is an optimisation, and the caller is a page.
STORE_LOCK_WAIT_MS = 200


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


@dataclass
class _Counts:
    """Raw counts for a stretch of time, as found in the database (no zero-filling)."""

    total: int = 0
    other: int = 0
    hypotheses: Counter[int] = field(default_factory=Counter)
    dimensions: Counter[tuple[str, str | None, bool]] = field(default_factory=Counter)

    def add(self, other: _Counts) -> None:
        self.total += other.total
        self.other += other.other
        self.hypotheses.update(other.hypotheses)
        self.dimensions.update(other.dimensions)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": DAY_FORMAT,
            "total": self.total,
            "other": self.other,
            "hypotheses": {str(k): n for k, n in self.hypotheses.items()},
            "dimensions": [[*combination, n] for combination, n in self.dimensions.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Counts | None:
        if not isinstance(data, dict) or data.get("format") != DAY_FORMAT:
            return None
        return cls(
            total=int(data["total"]),
            other=int(data["other"]),
            hypotheses=Counter({int(k): int(n) for k, n in data["hypotheses"].items()}),
            dimensions=Counter(
                {(str(ch), segment, bool(is_other)): int(n) for ch, segment, is_other, n in data["dimensions"]}
            ),
        )


DayKey = tuple[int, str, dt.date]  # launch id, time zone, local day


class DayCache:
    """Counts of closed local days, per launch and time zone: they cannot change any more."""

    def __init__(self, max_days: int = 20_000) -> None:
        self._days: dict[DayKey, _Counts] = {}
        self._lock = threading.Lock()
        self._max_days = max_days

    def get(self, key: DayKey) -> _Counts | None:
        with self._lock:
            return self._days.get(key)

    def put(self, key: DayKey, counts: _Counts) -> None:
        with self._lock:
            if len(self._days) >= self._max_days:
                self._days.clear()  # crude, but a launch has ~21 days: this never happens in practice
            self._days[key] = counts

    def clear(self) -> None:
        with self._lock:
            self._days.clear()


def _check_window(start: dt.datetime, end: dt.datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("tally windows need aware datetimes")
    if end < start:
        raise ValueError(f"window ends ({end.isoformat()}) before it starts ({start.isoformat()})")


def _dimension_combinations(launch: Launch) -> tuple[tuple[str, str | None, bool], ...]:
    segments: list[str | None] = [*launch.segments, None]
    return tuple(itertools.product(launch.channels, segments, (False, True)))


def _in_window(table: sa.Table) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        table.c.launch_id == sa.bindparam("launch_id"),
        table.c.created_at >= sa.bindparam("start"),
        table.c.created_at < sa.bindparam("end"),
    )


def _hypothesis_statement() -> sa.Select[tuple[int, int]]:
    link = _link.alias("l")
    per_hypothesis = (
        sa.select(sa.func.count())
        .select_from(link)
        .where(link.c.hypothesis_id == _hypothesis.c.id, *_in_window(link))
        .scalar_subquery()
    )
    return sa.select(_hypothesis.c.id, per_hypothesis).where(_hypothesis.c.launch_id == sa.bindparam("launch_id"))


_HYPOTHESIS_COUNTS = _hypothesis_statement()


@functools.lru_cache(maxsize=256)
def _dimension_statement(combinations: tuple[tuple[str, str | None, bool], ...]) -> sa.Select[Any]:
    """One row: the total, then a count per (channel, segment, other) combination.

    Built once per set of combinations: composing two dozen subqueries costs
    more than running them."""
    columns = [sa.select(sa.func.count()).where(*_in_window(_enquiry)).scalar_subquery()]
    for channel, segment, is_other in combinations:
        segment_match = _enquiry.c.segment.is_(None) if segment is None else _enquiry.c.segment == segment
        columns.append(
            sa.select(sa.func.count())
            .where(_enquiry.c.channel == channel, segment_match, _enquiry.c.is_other == is_other, *_in_window(_enquiry))
            .scalar_subquery()
        )
    return sa.select(*columns)


def _raw_counts(session: Session, launch: Launch, start: dt.datetime, end: dt.datetime) -> _Counts:
    counts = _Counts()
    if start >= end:
        return counts
    params = {"launch_id": launch.id, "start": start, "end": end}
    for hypothesis_id, n in session.execute(_HYPOTHESIS_COUNTS, params):
        if n:
            counts.hypotheses[hypothesis_id] = n

    combinations = _dimension_combinations(launch)
    total, *found = session.execute(_dimension_statement(combinations), params).one()
    counts.total = total
    for combination, n in zip(combinations, found, strict=True):
        if n:
            counts.dimensions[combination] = n
    if sum(found) != total:
        # Some enquiries carry a channel or segment the launch no longer offers:
        # count them the slow way rather than lose them.
        counts.dimensions = Counter()
        rows = session.execute(
            sa.select(_enquiry.c.channel, _enquiry.c.segment, _enquiry.c.is_other, sa.func.count())
            .where(*_in_window(_enquiry))
            .group_by(_enquiry.c.channel, _enquiry.c.segment, _enquiry.c.is_other),
            params,
        )
        for channel, segment, is_other, n in rows:
            counts.dimensions[(channel, segment, bool(is_other))] += n
    counts.other = sum(n for (_, _, is_other), n in counts.dimensions.items() if is_other)
    return counts


def _closed_days(
    launch: Launch, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> tuple[dt.datetime, list[dt.date], dt.datetime]:
    """Split [start, end) into a head, whole closed local days, and a tail."""
    tz = zone(launch)
    first = local_date(start, tz)
    if day_bounds(first, tz)[0] < start:
        first += dt.timedelta(days=1)
    days: list[dt.date] = []
    day = first
    while True:
        day_end = day_bounds(day, tz)[1]
        if day_end > end or day_end + CLOSED_AFTER > now:
            break
        days.append(day)
        day += dt.timedelta(days=1)
    if not days:
        return end, [], end
    return day_bounds(days[0], tz)[0], days, day_bounds(days[-1], tz)[1]


def _counts(session: Session, launch: Launch, start: dt.datetime, end: dt.datetime, now: dt.datetime | None) -> _Counts:
    memo = session.info.get("memo")
    if memo is None or now is None or launch.id is None:
        return _raw_counts(session, launch, start, end)
    head_end, days, tail_start = _closed_days(launch, start, end, now)
    if not days:
        return _raw_counts(session, launch, start, end)
    counts = _raw_counts(session, launch, start, head_end)
    for day_counts in _closed_day_counts(session, launch, days, now, memo).values():
        counts.add(day_counts)
    counts.add(_raw_counts(session, launch, tail_start, end))
    return counts


def _closed_day_counts(
    session: Session, launch: Launch, days: list[dt.date], now: dt.datetime, memo: dict[str, Any]
) -> dict[dt.date, _Counts]:
    """Counts of closed days: from this process's memory, else as kept in the
    database, else counted now (and kept for every process)."""
    launch_id = id_of(launch)
    cache: DayCache = memo.setdefault(DAY_CACHE_KEY, DayCache())
    found: dict[dt.date, _Counts] = {}
    missing: list[dt.date] = []
    for day in days:
        day_counts = cache.get((launch_id, launch.timezone, day))
        if day_counts is None:
            missing.append(day)
        else:
            found[day] = day_counts
    if missing:
        tz = zone(launch)
        stored = _stored_days(session, launch, missing)
        counted = {day: _raw_counts(session, launch, *day_bounds(day, tz)) for day in missing if day not in stored}
        for day in missing:
            found[day] = stored[day] if day in stored else counted[day]
            cache.put((launch_id, launch.timezone, day), found[day])
        if counted:
            _store_days(session, launch, counted, now)
    return found


def keep_closed_days(session: Session, launch: Launch, *, now: dt.datetime) -> int:
    """Count and keep the launch's closed days before anyone asks (the scheduler
    does this every minute, so no page pays for a day that just closed, nor for
    all of them after the demo loader or an upgrade). Returns how many days are closed."""
    memo = session.info.get("memo")
    if memo is None or launch.id is None:
        return 0
    start, end = window(launch)
    _, days, _ = _closed_days(launch, start, min(end, now), now)
    _closed_day_counts(session, launch, days, now, memo)
    return len(days)


def _stored_days(session: Session, launch: Launch, days: list[dt.date]) -> dict[dt.date, _Counts]:
    rows = session.execute(
        sa.select(_day_tally.c.day, _day_tally.c.counts).where(
            _day_tally.c.launch_id == launch.id,
            _day_tally.c.timezone == launch.timezone,
            _day_tally.c.day.in_(days),
        )
    )
    stored = {}
    for day, data in rows:
        day_counts = _Counts.from_json(data)
        if day_counts is not None:
            stored[day] = day_counts
    return stored


def _store_days(session: Session, launch: Launch, counted: dict[dt.date, _Counts], now: dt.datetime) -> None:
    """Keep freshly counted closed days for every process, on a connection of its own.

    Best effort: the caller's session may be a read transaction (or, on SQLite,
    another connection may hold the write lock for a moment); a day that could
    not be kept is simply counted again next time."""
    bind = session.get_bind()
    engine = (bind.engine if isinstance(bind, sa.Connection) else bind).execution_options(**{WRITE_OPTION: True})
    rows = [
        {"launch_id": launch.id, "timezone": launch.timezone, "day": day, "counts": c.to_json(), "computed_at": now}
        for day, c in counted.items()
    ]
    insert = insert_ignoring_conflicts(_day_tally, engine.dialect)
    is_sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as connection:
            driver: Any = connection.connection.driver_connection
            if is_sqlite:  # set on the driver: SQLAlchemy would begin a transaction first
                driver.execute(f"PRAGMA busy_timeout={STORE_LOCK_WAIT_MS}")
            try:
                with connection.begin():
                    connection.execute(insert, rows)
            finally:
                if is_sqlite:
                    driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    except sa.exc.OperationalError as exc:
        log.info("closed days of launch %s not kept this time (%s); they will be counted again", launch.slug, exc.orig)


def forget_days(connection: sa.Connection, launch_ids: Iterable[int]) -> None:
    """Drop the kept day counts of these launches (after writing back-dated enquiries)."""
    ids = sorted(set(launch_ids))
    if ids:
        connection.execute(sa.delete(_day_tally).where(_day_tally.c.launch_id.in_(ids)))


def tally(
    *,
    session: Session,
    launch: Launch,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime | None = None,
    hypotheses: Iterable[Hypothesis] | None = None,
) -> Tally:
    """Counts for [start, end). Every hypothesis of the launch (or of
    ``hypotheses``), every channel and every segment it offers appear, with
    zero where nothing came. Pass ``now`` to let closed days come from the cache."""
    _check_window(start, end)
    if hypotheses is None:
        hypotheses = hypotheses_of(session, launch)
    counts = _counts(session, launch, start, end, now)
    by_hypothesis = {h.id: counts.hypotheses.get(h.id, 0) for h in hypotheses if h.id is not None}
    by_channel = dict.fromkeys(launch.channels, 0)
    by_segment = dict.fromkeys(launch.segments, 0)
    for (channel, segment, _), n in sorted(counts.dimensions.items(), key=lambda item: str(item[0])):
        by_channel[channel] = by_channel.get(channel, 0) + n
        segment_name = segment or UNSPECIFIED_SEGMENT
        by_segment[segment_name] = by_segment.get(segment_name, 0) + n
    return Tally(start, end, counts.total, counts.other, by_hypothesis, by_channel, by_segment)


def count(*, session: Session, launch: Launch, start: dt.datetime, end: dt.datetime) -> int:
    """Just the number of enquiries in [start, end)."""
    _check_window(start, end)
    return int(
        session.execute(
            sa.select(sa.func.count())
            .select_from(_enquiry)
            .where(_enquiry.c.launch_id == launch.id, _enquiry.c.created_at >= start, _enquiry.c.created_at < end)
        ).scalar_one()
    )
