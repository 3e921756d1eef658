"""Digest slots: the moments, in UTC, when a launch's digests fall due.

A slot is a local clock time (09:00, 13:00, 16:00) on a day of the launch, in
the launch's time zone. The scheduler also makes a closing digest at the launch's
end (midnight after its last day, ``closing_slot``): without it, the hours after the
last day's last digest time never reached Slack. On DST days the wall clock still reads 09:00, 13:00
and 16:00 and there are still exactly three slots; only their UTC instants
shift. A slot time that does not exist that day (inside the spring gap) is
taken as the first moment after the gap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from app.launches import digest_clock_times, local_date, window, zone
from app.models import Launch


def slot_at(day: dt.date, clock: dt.time, launch: Launch) -> dt.datetime:
    tz = zone(launch)
    local = dt.datetime.combine(day, clock, tzinfo=tz)
    instant = local.astimezone(dt.UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # Inside the spring gap: zoneinfo reads the wall time with the offset before the gap, which lands
    # as far past the gap as the time was into it (02:30 became 03:30, where a 03:30 slot may be).
    # The first moment after the gap is the change of offset, between the two readings of the time.
    return _offset_change(local.replace(fold=1).astimezone(dt.UTC), instant, tz)


def _offset_change(before: dt.datetime, after: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The first whole minute in (before, after] with ``after``'s UTC offset (zones change on minutes)."""
    offset = after.astimezone(tz).utcoffset()
    low, high = 0, int((after - before).total_seconds() // 60)
    while low < high:
        middle = (low + high) // 2
        if (before + dt.timedelta(minutes=middle)).astimezone(tz).utcoffset() == offset:
            high = middle
        else:
            low = middle + 1
    return before + dt.timedelta(minutes=low)


def slots_on(launch: Launch, day: dt.date) -> list[dt.datetime]:
    if not launch.starts_on <= day <= launch.ends_on:
        return []
    # Not one at the launch's very start (a 00:00 digest time on its first day): its window is empty.
    begins = window(launch)[0]
    return sorted({at for clock in digest_clock_times(launch) if (at := slot_at(day, clock, launch)) > begins})


def slots_between(launch: Launch, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
    """Slots in (start, end], oldest first."""
    tz = zone(launch)
    day = max(local_date(start, tz) - dt.timedelta(days=1), launch.starts_on)
    last = min(local_date(end, tz) + dt.timedelta(days=1), launch.ends_on)
    while day <= last:
        for slot in slots_on(launch, day):
            if start < slot <= end:
                yield slot
        day += dt.timedelta(days=1)


def closing_slot(launch: Launch) -> dt.datetime:
    """The launch's last digest: at its end, for the hours since the last day's last digest time."""
    return window(launch)[1]


def digest_slots(launch: Launch, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
    """Every digest the scheduler makes in (start, end], oldest first: the slots, then the closing one."""
    yield from slots_between(launch, start, end)
    closing = closing_slot(launch)
    if start < closing <= end:
        yield closing


# How far back the scheduler sends or calls missed slot by slot (older ones are all recorded as missed at
# once, digests._due_slots, but for the closing digest).
LOOKBACK = dt.timedelta(hours=24)


def recent_slots(launch: Launch, now: dt.datetime) -> list[dt.datetime]:
    """The slots of the last ``LOOKBACK`` up to ``now``: those the scheduler may still send or call missed."""
    return list(digest_slots(launch, now - LOOKBACK, now))


def previous_slot(launch: Launch, now: dt.datetime) -> dt.datetime | None:
    """The latest slot at or before ``now`` (None before the first one)."""
    tz = zone(launch)
    day = min(local_date(now, tz), launch.ends_on)
    while day >= launch.starts_on:
        earlier = [slot for slot in slots_on(launch, day) if slot <= now]
        if earlier:
            return earlier[-1]
        day -= dt.timedelta(days=1)
    return None


def next_slot(launch: Launch, now: dt.datetime) -> dt.datetime | None:
    """The first digest after ``now``, the closing one included (None after it)."""
    tz = zone(launch)
    day = max(local_date(now, tz), launch.starts_on)
    while day <= launch.ends_on:
        later = [slot for slot in slots_on(launch, day) if slot > now]
        if later:
            return later[0]
        day += dt.timedelta(days=1)
    closing = closing_slot(launch)
    return closing if closing > now else None
