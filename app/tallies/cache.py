"""Closed days and slots, counted once: in each process's memory and in the ``day_tally``
and ``slot_tally`` tables.

A local day, or a 15-minute slot of a day, is *closed* ``CLOSED_AFTER`` (half an
hour) after it ends: the 15-minute undo window, commits in flight, replica clocks
that disagree a little. After that only two things change its counts: a backfill (an enquiry logged with an earlier
``occurred_at``, the CSV import) and re-linking "other" enquiries. Both raise
the launch's ``counts_version`` in the transaction that changes the data
(``recording.store.Store.bump_counts_version``), and every kept count is keyed by
that version:

* in memory (``DayCache``, per process, in the Database's memo) by (launch,
  zone, day, version): a process that loads the launch row sees the new
  version and simply misses its old entries;
* in the database by the same key: the bump carries the unchanged days over to
  the new version, so only the changed days are counted again, by whichever
  process first needs them, once for every process and replica.

Every day is kept the same way slot by slot (``slot_tally``), today as its slots
close: a process reads the slots another process or replica counted, counts only
those nobody has, and keeps them for the others. A closed day's row holds only its
totals, added up from its slots: a range that covers the day reads the row, one
that cuts it reads the slots. So no read counts more than the last half hour or so,
and a quarter of an hour at each end of a range that is not on a slot, from the
enquiry indexes, and a new process or replica counts nothing it can read.

A process that read the old version and is still counting writes its row under
the old version, where nobody reads it: it can never hide a backfill.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from app.db import SQLITE_BUSY_TIMEOUT_MS, WRITE_OPTION, insert_ignoring_conflicts
from app.launches import day_bounds, local_date, window, zone
from app.models import DayTally, Launch, LaunchTally, SlotTally, id_of
from app.tallies.counting import Counts, DayCounts, count_hours

log = logging.getLogger(__name__)

DAY_CACHE_KEY = "tally_day_cache"
OPEN_DAY_KEY = "tally_open_day_hours"
SO_FAR_KEY = "tally_launch_so_far"
CLOSED_SLOTS_KEY = "tally_closed_day_slots"
SLOT = dt.timedelta(minutes=15)
CLOSED_AFTER = dt.timedelta(minutes=30)
# Bumped when DayCounts changes shape: stored days of another format are counted again
# (5: a day row holds the day's totals only; its slots stay in slot_tally).
DAY_FORMAT = 5
SLOT_FORMAT = 1
SO_FAR_FORMAT = 1
# Days of slots a process holds in memory (a launch has ~21): enough for every day of a few launches.
MAX_SLOT_DAYS = 200
# How long keeping counts may wait for a lock (SQLite's write lock; on PostgreSQL, rows another
# transaction holds, such as an import's). Not longer: keeping is an optimisation, and the caller a page.
STORE_LOCK_WAIT_MS = 200

_day_tally = DayTally.__table__  # type: ignore[attr-defined]
_slot_tally = SlotTally.__table__  # type: ignore[attr-defined]
_launch_tally = LaunchTally.__table__  # type: ignore[attr-defined]

DayKey = tuple[int, str, dt.date, int]  # launch id, time zone, local day, counts version


class DayCache:
    """Counts of closed local days, per launch, time zone and counts version."""

    def __init__(self, max_days: int = 5_000) -> None:
        self._days: dict[DayKey, DayCounts] = {}
        self._lock = threading.Lock()
        self._max_days = max_days

    def get(self, key: DayKey) -> DayCounts | None:
        with self._lock:
            return self._days.get(key)

    def put(self, key: DayKey, counts: DayCounts) -> None:
        with self._lock:
            if len(self._days) >= self._max_days:
                # Entries of old versions pile up after backfills; a launch has ~21 days.
                self._days.clear()
            self._days[key] = counts

    def clear(self) -> None:
        with self._lock:
            self._days.clear()


def is_closed(launch: Launch, day: dt.date, now: dt.datetime) -> bool:
    return day_bounds(day, zone(launch))[1] + CLOSED_AFTER <= now


def cache_of(session: Session) -> DayCache | None:
    memo = session.info.get("memo")
    if memo is None:
        return None
    cache: DayCache = memo.setdefault(DAY_CACHE_KEY, DayCache())
    return cache


def closed_days(session: Session, launch: Launch, days: list[dt.date], now: dt.datetime) -> dict[dt.date, DayCounts]:
    """The totals of closed days (one step each): from this process's memory, else as kept in the
    database, else added up from the day's kept slots (counting those nobody kept) and kept for
    every process."""
    cache = cache_of(session)
    launch_id = id_of(launch)
    version = launch.counts_version
    found: dict[dt.date, DayCounts] = {}
    missing: list[dt.date] = []
    for day in days:
        counts = cache.get((launch_id, launch.timezone, day, version)) if cache else None
        if counts is None:
            missing.append(day)
        else:
            found[day] = counts
    if missing:
        tz = zone(launch)
        stored = _stored_days(session, launch, missing)
        counted: dict[dt.date, DayCounts] = {}
        for day in missing:
            if day not in stored:
                slots = closed_slots(session, launch, day, now) or count_hours(
                    session, launch, *day_bounds(day, tz), SLOT
                )
                counted[day] = DayCounts.from_json(slots.start, slots.to_json())
        for day in missing:
            found[day] = stored[day] if day in stored else counted[day]
            if cache is not None:
                cache.put((launch_id, launch.timezone, day, version), found[day])
        if counted:
            _store_days(session, launch, counted, now)
    return found


def closed_until(launch: Launch, now: dt.datetime) -> dt.datetime:
    """The end of the launch's latest closed slot (or the launch's end): everything before it is
    kept, in days and slots."""
    moment = now - CLOSED_AFTER
    day_start = day_bounds(local_date(moment, zone(launch)), zone(launch))[0]
    return min(day_start + (moment - day_start) // SLOT * SLOT, window(launch)[1])


def kept_so_far(session: Session, launch: Launch, through: dt.datetime) -> tuple[dt.datetime, Counts] | None:
    """The latest kept counts from the launch's start, to ``through`` or before: from this
    process's memory, else the newest ``launch_tally`` row of the counts version. Not to be changed."""
    memo = session.info["memo"]
    held: tuple[dt.datetime, Counts] | None = memo.get(SO_FAR_KEY, {}).get(_so_far_key(launch))
    if held is not None and held[0] <= through:
        return held
    row = session.execute(
        sa.select(_launch_tally.c.through, _launch_tally.c.counts)
        .where(
            _launch_tally.c.launch_id == launch.id,
            _launch_tally.c.timezone == launch.timezone,
            _launch_tally.c.version == launch.counts_version,
            _launch_tally.c.through <= through,
        )
        .order_by(_launch_tally.c.through.desc())
        .limit(1)
    ).first()
    if row is None or not isinstance(row.counts, dict) or row.counts.get("format") != SO_FAR_FORMAT:
        return None
    found = (row.through, Counts.from_json(row.counts))
    if held is None or held[0] < found[0]:
        _hold(session, launch, found)
    return found


def keep_so_far(session: Session, launch: Launch, through: dt.datetime, counts: Counts, now: dt.datetime) -> None:
    """Keep the counts from the launch's start to ``through`` for this process and every other,
    in place of the older ones of the same version."""
    _hold(session, launch, (through, counts))
    row = {
        "launch_id": launch.id,
        "timezone": launch.timezone,
        "version": launch.counts_version,
        "through": through,
        "counts": {"format": SO_FAR_FORMAT, **counts.to_json()},
        "computed_at": now,
    }
    older = sa.delete(_launch_tally).where(
        _launch_tally.c.launch_id == launch.id,
        _launch_tally.c.timezone == launch.timezone,
        _launch_tally.c.version == launch.counts_version,
        _launch_tally.c.through < through,
    )
    _keep(session, _launch_tally, [row], f"counts so far of launch {launch.slug}", then=older)


def _so_far_key(launch: Launch) -> tuple[int, str, int]:
    return (id_of(launch), launch.timezone, launch.counts_version)


def _hold(session: Session, launch: Launch, so_far: tuple[dt.datetime, Counts]) -> None:
    held: dict[tuple[int, str, int], tuple[dt.datetime, Counts]] = session.info["memo"].setdefault(SO_FAR_KEY, {})
    for key in [k for k in held if k[0] == launch.id]:
        del held[key]  # other versions and zones of the launch are of no use any more
    held[_so_far_key(launch)] = so_far


def closed_slots(session: Session, launch: Launch, day: dt.date, now: dt.datetime) -> DayCounts | None:
    """The closed 15-minute slots of a day (they ended ``CLOSED_AFTER`` ago: all of a closed day's),
    in steps of a slot: from this process's memory, else as kept in ``slot_tally``, else counted
    now and kept for every process. None before the first slot has closed.

    The same rule as for days keeps them true: only a write into the past changes a closed
    slot, and any write more than ``CLOSED_AFTER`` into the past raises the counts version."""
    memo = session.info.get("memo")
    if memo is None or launch.id is None:
        return None
    start, end = day_bounds(day, zone(launch))
    closed = min((now - CLOSED_AFTER - start) // SLOT, (end - start) // SLOT)
    if closed <= 0:
        return None
    key = (launch.id, launch.timezone, day, launch.counts_version)
    lock: threading.Lock = memo.setdefault(OPEN_DAY_KEY + ":lock", threading.Lock())
    with lock:
        store: dict[DayKey, DayCounts] = memo.setdefault(OPEN_DAY_KEY, {})
        found = store.get(key)
    if found is not None and found.hours >= closed:
        return found
    have = found.hours if found is not None else 0
    later = _slots(session, launch, day, start + have * SLOT, closed - have, now)
    counted = later if found is None else found.extended(later)
    with lock:
        current = (launch.timezone, launch.counts_version)
        stale = [k for k in store if k[0] == launch.id and (k[1], k[3]) != current]
        for other in stale:
            del store[other]  # other versions or zones of this launch are of no use any more
        if len(store) >= MAX_SLOT_DAYS:
            store.clear()
        if key not in store or store[key].hours < counted.hours:
            store[key] = counted
    return counted


def kept_slot_totals(session: Session, launch: Launch, day: dt.date) -> dict[dt.datetime, int] | None:
    """How many enquiries each 15-minute slot of a closed day had, as kept in ``slot_tally``, reading
    only their (channel, segment) counts and not their many per hypothesis: None unless every slot
    of the day is kept."""
    start, end = day_bounds(day, zone(launch))
    rows = session.execute(
        sa.select(_slot_tally.c.starts_at, _slot_tally.c.counts["format"], _slot_tally.c.counts["dims"]).where(
            _slot_tally.c.launch_id == launch.id,
            _slot_tally.c.timezone == launch.timezone,
            _slot_tally.c.version == launch.counts_version,
            _slot_tally.c.starts_at >= start,
            _slot_tally.c.starts_at < end,
        )
    )
    found = {}
    for starts_at, kept_format, dims in rows:
        if kept_format != SLOT_FORMAT:
            return None
        found[starts_at] = sum(int(n) for *_, n in dims)
    return found if len(found) == (end - start) // SLOT else None


def slots_between(
    session: Session, launch: Launch, day: dt.date, first: int, last: int, now: dt.datetime
) -> DayCounts | None:
    """Closed slots [first, last) (or more) of a day, for a range that cuts it: from this process's
    memory (the day's closed slots, if it counted them for the day's totals, else the span of slots
    read so far), else as kept in ``slot_tally``, only those missing (a new process reads the rows
    of the range, not of the day), else counted and kept."""
    memo = session.info.get("memo")
    if memo is None or launch.id is None:
        return None
    key = (launch.id, launch.timezone, day, launch.counts_version)
    whole: DayCounts | None = memo.get(OPEN_DAY_KEY, {}).get(key)
    if whole is not None and whole.hours >= last:
        return whole
    start = day_bounds(day, zone(launch))[0]
    spans: dict[DayKey, DayCounts] = memo.setdefault(CLOSED_SLOTS_KEY, {})
    held = spans.get(key)
    lo, hi = (first, first) if held is None else ((held.start - start) // SLOT, (held.end - start) // SLOT)
    if lo <= first and last <= hi:
        return held
    steps = {lo + k: held.step_json(k) for k in range(hi - lo)} if held is not None else {}
    for a, b in ((first, lo), (hi, last)):  # all that the span grows by, so it has no gap
        if a < b:
            read = _slot_steps(session, launch, day, start + a * SLOT, b - a, now)
            steps.update({a + k: data for k, data in read.items()})
    lo, hi = min(lo, first), max(hi, last)
    span = DayCounts.from_steps(start + lo * SLOT, hi - lo, SLOT, {k - lo: data for k, data in steps.items()})
    for other in [k for k in spans if k[0] == launch.id and (k[1], k[3]) != (key[1], key[3])]:
        spans.pop(other, None)  # other versions or zones of this launch are of no use any more
    if len(spans) >= MAX_SLOT_DAYS:
        spans.clear()
    spans[key] = span
    return span


def _slots(
    session: Session, launch: Launch, day: dt.date, start: dt.datetime, slots: int, now: dt.datetime
) -> DayCounts:
    return DayCounts.from_steps(start, slots, SLOT, _slot_steps(session, launch, day, start, slots, now))


def _slot_steps(
    session: Session, launch: Launch, day: dt.date, start: dt.datetime, slots: int, now: dt.datetime
) -> dict[int, dict[str, Any]]:
    """``slots`` closed slots from ``start``, by index from it: those kept in ``slot_tally`` read,
    the others counted from the enquiry indexes (one stretch, grouped by slot) and kept."""
    rows = session.execute(
        sa.select(_slot_tally.c.starts_at, _slot_tally.c.counts).where(
            _slot_tally.c.launch_id == launch.id,
            _slot_tally.c.timezone == launch.timezone,
            _slot_tally.c.version == launch.counts_version,
            _slot_tally.c.starts_at >= start,
            _slot_tally.c.starts_at < start + slots * SLOT,
        )
    )
    found = {
        (starts_at - start) // SLOT: data
        for starts_at, data in rows
        if isinstance(data, dict) and data.get("format") == SLOT_FORMAT
    }
    missing = [k for k in range(slots) if k not in found]
    if missing:
        first, last = missing[0], missing[-1] + 1
        counted = count_hours(session, launch, start + first * SLOT, start + last * SLOT, SLOT)
        fresh = {k: {"format": SLOT_FORMAT, **counted.step_json(k - first)} for k in missing}
        found.update(fresh)
        _keep(
            session,
            _slot_tally,
            [
                {
                    "launch_id": launch.id,
                    "timezone": launch.timezone,
                    "version": launch.counts_version,
                    "starts_at": start + k * SLOT,
                    "day": day,
                    "counts": counts,
                    "computed_at": now,
                }
                for k, counts in fresh.items()
            ],
            f"slots of {day} of launch {launch.slug}",
        )
    return found


def keep_closed_days(session: Session, launch: Launch, *, now: dt.datetime) -> int:
    """Count and keep the launch's closed days before anyone asks (the scheduler
    does this every minute, so no page pays for a day that just closed, nor for
    all of them after a backfill or an upgrade). Returns how many days are closed."""
    if session.info.get("memo") is None or launch.id is None:
        return 0
    start, end = window(launch)
    tz = zone(launch)
    days: list[dt.date] = []
    day = local_date(start, tz)
    while day_bounds(day, tz)[1] <= end and is_closed(launch, day, now):
        days.append(day)
        day += dt.timedelta(days=1)
    closed_days(session, launch, days, now)
    return len(days)


def _stored_days(session: Session, launch: Launch, days: list[dt.date]) -> dict[dt.date, DayCounts]:
    rows = session.execute(
        sa.select(_day_tally.c.day, _day_tally.c.counts).where(
            _day_tally.c.launch_id == launch.id,
            _day_tally.c.timezone == launch.timezone,
            _day_tally.c.version == launch.counts_version,
            _day_tally.c.day.in_(days),
        )
    )
    tz = zone(launch)
    stored = {}
    for day, data in rows:
        if isinstance(data, dict) and data.get("format") == DAY_FORMAT:
            stored[day] = DayCounts.from_json(day_bounds(day, tz)[0], data)
    return stored


def _store_days(session: Session, launch: Launch, counted: dict[dt.date, DayCounts], now: dt.datetime) -> None:
    rows = [
        {
            "launch_id": launch.id,
            "timezone": launch.timezone,
            "day": day,
            "version": launch.counts_version,
            "counts": {"format": DAY_FORMAT, **counts.to_json()},
            "computed_at": now,
        }
        for day, counts in counted.items()
    ]
    _keep(session, _day_tally, rows, f"closed days of launch {launch.slug}")


# One keeper at a time in a process. Each keeper holds its request's pooled connection and takes a
# second one: with many keeping at once (every request after a backfill raised the counts version),
# each waited for a connection another keeper held, and all of them for the pool's whole timeout.
_keeping = threading.Lock()


def _keep(
    session: Session, table: sa.Table, rows: list[dict[str, Any]], what: str, then: sa.Delete | None = None
) -> None:
    """Keep freshly counted days or slots for every process, on a connection of its own.

    Best effort: the caller's session may be a read transaction (or, on SQLite,
    another connection may hold the write lock for a moment); what could not be
    kept is simply counted again next time. So it never waits long: not for
    another keeper of this process (it skips), nor for a lock another transaction
    holds on the rows (an import's open transaction holds the launch's older rows)."""
    if not _keeping.acquire(blocking=False):
        log.debug("%s not kept this time (another keeper is at work); they will be counted again", what)
        return
    try:
        _keep_now(session, table, rows, what, then)
    finally:
        _keeping.release()


def _keep_now(session: Session, table: sa.Table, rows: list[dict[str, Any]], what: str, then: sa.Delete | None) -> None:
    bind = session.get_bind()
    engine = (bind.engine if isinstance(bind, sa.Connection) else bind).execution_options(**{WRITE_OPTION: True})
    insert = insert_ignoring_conflicts(table, engine.dialect)
    is_sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as connection:
            driver: Any = connection.connection.driver_connection
            if is_sqlite:  # set on the driver: SQLAlchemy would begin a transaction first
                driver.execute(f"PRAGMA busy_timeout={STORE_LOCK_WAIT_MS}")
            try:
                with connection.begin():
                    if not is_sqlite:
                        connection.execute(sa.text(f"SET LOCAL lock_timeout = {STORE_LOCK_WAIT_MS}"))
                    connection.execute(insert, rows)
                    if then is not None:
                        connection.execute(then)
            finally:
                if is_sqlite:
                    driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    except (sa.exc.OperationalError, sa.exc.TimeoutError) as exc:
        # TimeoutError: no pooled connection came free in time (the requests' own hold them all).
        log.info("%s not kept this time (%s); they will be counted again", what, getattr(exc, "orig", exc))
