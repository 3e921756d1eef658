"""What part of a launch a reader is looking at: a range of time and channel/segment filters.

The launch page, the drill-down, exports and the API all take the same query
parameters, so a link pasted in Slack opens the same view:

* ``range=since-digest|today|yesterday|7d|launch``, or (``since-digest``: where the window of the
  next digest begins, ``digests.since_digest_start``; the launch's start before any digest), or
* ``from=YYYY-MM-DD&to=YYYY-MM-DD``: local days in the launch's time zone, both
  included (ISO 8601 times with an offset are accepted too, as exact instants);
* ``channel=…`` and ``segment=…``, each repeatable (none: all): those the launch offers, or any
  its enquiries were stored with (one a lead took off the launch is still counted and reported).

A range is clipped to the launch's window; one that does not overlap it at all
is refused (``range_out_of_window``) rather than computed, so no count is ever
made, or kept, for days outside a launch.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from app import instants, launches
from app.errors import Invalid
from app.models import Launch
from app.tallies import UNSPECIFIED_SEGMENT, Filter

RANGES = ("since-digest", "today", "yesterday", "7d", "launch")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # a local day; 20261118 and 2026-W47-3 are no days here
CUSTOM = "custom"


def link_time(moment: dt.datetime, tz: ZoneInfo) -> str:
    """A moment as a link's from= or to= writes it, in the launch's zone: to the minute when it is on one,
    else as exact as it is. Cut to the minute, a digest sent by hand at 14:37:42 linked to a page that
    counted 1 where the digest said 3 (those of 14:37:10 and 14:37:30 left out)."""
    if moment.second == moment.microsecond == 0:
        return moment.astimezone(tz).isoformat(timespec="minutes")
    return moment.astimezone(tz).isoformat(timespec="seconds" if moment.microsecond == 0 else "microseconds")


def out_of_window(launch: Launch, what: str, *, field: str = "from", params: dict[str, str] | None = None) -> Invalid:
    """``field``: the parameter to change, as the call names it (the pages' ``from``, the API's ``start``).
    ``params``: what was asked for (``range``, or ``from`` and ``to``), for the pages to name it."""
    return Invalid(
        f"{what} does not overlap launch {launch.slug!r}, which runs from {launch.starts_on} to {launch.ends_on} "
        f"({launch.timezone}): choose days inside it.",
        field=field,
        code="range_out_of_window",
        params=params,
    )


@dataclass(frozen=True)
class Selection:
    """A range of a launch, clipped to its window, and the filters: the state a URL carries."""

    launch: Launch
    name: str  # one of RANGES, or "custom" for from/to
    start: dt.datetime  # UTC, inclusive
    end: dt.datetime  # UTC, exclusive
    channels: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    from_text: str | None = None  # as given, for links of a custom range
    to_text: str | None = None
    # Where "since the digest" starts (``digests.since_digest_start``; None: no digest yet), for its chip's label.
    digest_start: dt.datetime | None = None
    # When it was selected (None: not said): nothing is counted after it, so a range ending later (days chosen
    # up to today, the whole of a running launch) is counted up to it: see ``counted_end``.
    now: dt.datetime | None = None

    @property
    def counted_end(self) -> dt.datetime:
        """Where the range's counts stop, as its line on the pages says: its end, or now if that comes first."""
        if self.now is None:
            return self.end
        return max(self.start, min(self.end, self.now))

    def over(self, bucket_end: dt.datetime) -> bool:
        """Whether a bucket of this range ending at ``bucket_end`` is over, its counts final: its end has
        passed, and it is not the range's last bucket cut at now (today so far, the last 7 days up to now),
        which ends at ``now`` but is still filling. (Judged by the end alone, today's row of a range=today
        export said complete, and a sheet averaging complete days took half a day in as a whole one.)"""
        if self.now is None:
            return False
        return bucket_end < self.now or (bucket_end == self.now and bucket_end != self.end)

    @cached_property
    def retired_channels(self) -> tuple[str, ...]:
        """Channels the launch no longer offers that its enquiries were logged with, for the filter chips
        after the offered ones: a filter accepts them (``_check_filters``), so a reader can find them
        without knowing to type one in a URL. Read when the chips are drawn, in the session the launch
        was read in (none: nothing)."""
        stored = self._stored
        return tuple(c for c in stored.channels() if c not in self.launch.channels) if stored else ()

    @cached_property
    def retired_segments(self) -> tuple[str, ...]:
        stored = self._stored
        offered = {*self.launch.segments, UNSPECIFIED_SEGMENT}
        return tuple(s for s in stored.segments() if s not in offered) if stored else ()

    @cached_property
    def _stored(self) -> _Stored | None:
        """One reader for both lists: the segments are read channel by channel, from the channels read once."""
        return _stored_of(self.launch)

    @property
    def filter(self) -> Filter | None:
        if not self.channels and not self.segments:
            return None
        return Filter(
            channels=frozenset(self.channels) if self.channels else None,
            segments=frozenset(self.segments) if self.segments else None,
        )

    @property
    def first_day(self) -> dt.date:
        return launches.local_date(self.start, launches.zone(self.launch))

    @property
    def last_day(self) -> dt.date:
        """The last local day the range touches (its end is exclusive)."""
        tz = launches.zone(self.launch)
        return launches.local_date(max(self.start, self.end - dt.timedelta(microseconds=1)), tz)

    def previous(self) -> tuple[dt.datetime, dt.datetime]:
        """The period to compare with (possibly before the launch: then it counts nothing). Today so far
        against the same hours yesterday, not the evening and night before it (busy afternoons against
        quiet nights); yesterday against the day before, and the last 7 days against the 7 before, by the
        launch's calendar (a DST day is 23 or 25 hours); any other range of whole local days (chosen days)
        against as many local days just before, by the calendar too (26 October in Oslo against the 25th,
        not 25 October 01:00 to midnight); any other range against as long just before. A range counted
        only up to now (chosen days ending today) against the same part of the period before, cut at the same
        clock time, as "today" is: today's morning against all of yesterday read as a fall."""
        tz = launches.zone(self.launch)
        if self.name in ("today", "yesterday", "7d"):
            back = dt.timedelta(days=7 if self.name == "7d" else 1)
            return _wall_clock_earlier(self.start, back, tz), _wall_clock_earlier(self.end, back, tz)
        first, after = launches.local_date(self.start, tz), launches.local_date(self.end, tz)
        whole_days = self.start == launches.local_midnight(first, tz) and self.end == launches.local_midnight(after, tz)
        if whole_days and after > first:
            start, end = launches.local_midnight(first - (after - first), tz), self.start
            cut = _wall_clock_earlier(self.counted_end, after - first, tz)
        else:
            start, end = self.start - (self.end - self.start), self.start
            cut = self.counted_end - (self.end - self.start)
        return start, max(start, min(end, cut))

    def params(self, **changes: str | Sequence[str] | None) -> list[tuple[str, str]]:
        """This view's query parameters, with some changed (None removes one)."""
        values: dict[str, str | Sequence[str] | None] = {
            "range": None if self.name == CUSTOM else self.name,
            "from": self.from_text if self.name == CUSTOM else None,
            "to": self.to_text if self.name == CUSTOM else None,
            "channel": self.channels,
            "segment": self.segments,
        }
        if "range" in changes and changes["range"] is not None:
            values.update({"from": None, "to": None})
        if "from" in changes or "to" in changes:
            values["range"] = None
        values.update(changes)
        pairs: list[tuple[str, str]] = []
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, str):
                pairs.append((key, value))
            else:
                pairs.extend((key, v) for v in value)
        return pairs

    def query(self, **changes: str | Sequence[str] | None) -> str:
        """``?range=…&channel=…`` for a link to this view, with some parameters changed."""
        pairs = self.params(**changes)
        return "?" + urlencode(pairs) if pairs else ""

    def toggled(self, name: str, value: str) -> str:
        """The query of this view with one channel or segment filter switched on or off."""
        current = self.channels if name == "channel" else self.segments
        chosen = tuple(v for v in current if v != value) if value in current else (*current, value)
        return self.query(**{name: chosen})

    def with_range(self, start: dt.datetime, end: dt.datetime) -> Selection:
        return replace(self, start=start, end=end)


def _wall_clock_earlier(moment: dt.datetime, by: dt.timedelta, tz: dt.tzinfo) -> dt.datetime:
    """The same local clock time ``by`` (whole days) earlier."""
    local = moment.astimezone(tz).replace(tzinfo=None) - by
    return local.replace(tzinfo=tz).astimezone(dt.UTC)


@dataclass(frozen=True)
class ViewQuery:
    """The query parameters of a view of a launch, as given (app/deps.py reads them): the URL is the state."""

    range: str | None
    from_: str | None
    to: str | None
    channels: list[str]
    segments: list[str]

    def select(self, launch: Launch, now: dt.datetime, digest_start: dt.datetime | None) -> Selection:
        """``digest_start``: where "since the digest" starts (``digests.since_digest_start``)."""
        return select(
            launch,
            now=now,
            range_name=self.range,
            from_text=self.from_,
            to_text=self.to,
            channels=self.channels,
            segments=self.segments,
            digest_start=digest_start,
        )


def default_range(launch: Launch, now: dt.datetime) -> str:
    """Today while the launch runs; the whole launch before and after."""
    start, end = launches.window(launch)
    return "today" if start <= now < end else "launch"


def _parse_bound(value: str, launch: Launch, *, name: str, is_end: bool) -> dt.datetime:
    """A local date (the whole day: its start, or for ``to`` its end) or an ISO time with an offset."""
    tz = launches.zone(launch)
    text = value.strip()
    day = None
    if _DAY.fullmatch(text):
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:  # 2026-02-30
            raise Invalid(
                f"{name}={value!r} is no day of the calendar: give a date such as 2026-11-18.",
                field=name,
                code="invalid_range",
                params={"problem": "no_day", "value": value},
            ) from None
    if day is not None:
        if day.year < 2 or day.year > 9998:  # no launch runs then; the day after 9999-12-31 is no date
            return _beyond(launch, value, name=name, is_end=is_end, early=day.year < 2)
        return launches.local_midnight(day + dt.timedelta(days=1) if is_end else day, tz)
    try:
        moment = instants.parse(text)  # as every time a request gives (app/instants.py)
    except instants.NotATime as exc:
        if exc.kind == "unreadable":
            message = (
                f"{name}={value!r} is neither a date (YYYY-MM-DD, a local day of the launch) nor an ISO 8601 time "
                f"with an offset ({instants.EXAMPLE})"
            )
        else:
            message = f"{name}={value!r} {exc.reason}" + (", or give a date" if exc.kind == "no_offset" else "")
        if instants.unencoded_plus(value):
            message += f"; {instants.PLUS_HINT}"
        params = {"problem": "not_a_time", "kind": exc.kind, "plus": instants.unencoded_plus(value), "value": value}
        raise Invalid(message + ".", field=name, code="invalid_range", params=params) from None
    if moment.year < 2 or moment.year > 9998:  # in UTC, it may be no time Python has (year 0, or 10000)
        return _beyond(launch, value, name=name, is_end=is_end, early=moment.year < 2)
    return moment.astimezone(dt.UTC)


# Where a bound written as "any time before" or "after" lies (0001-01-01, 9999-12-31: open-ended ranges, as
# BI tools and scripts write them): before, or after, every bound of another year, so the order of from and
# to is still checked; the range is then clipped to the launch like any other.
FAR_PAST = dt.datetime.min.replace(tzinfo=dt.UTC)
FAR_FUTURE = dt.datetime.max.replace(tzinfo=dt.UTC)


def _beyond(launch: Launch, value: str, *, name: str, is_end: bool, early: bool) -> dt.datetime:
    """A bound in year 1 or 9999, when no launch runs: a ``from`` that early or a ``to`` that late leaves the
    range open on that side (clipped to the launch, as /tally clips its window); a ``to`` that early or a
    ``from`` that late puts the whole range outside the launch. Refused as such, they were "does not
    overlap" for ranges that held all of it."""
    if early == is_end:
        raise out_of_window(launch, f"{name}={value!r}", field=name, params={name: value})
    return FAR_PAST if early else FAR_FUTURE


# A launch's stored channels and segments, read by seeks on ix_enquiry_dimensions (launch_id, channel, segment, …),
# never by a scan of its enquiries: a DISTINCT reads every entry of the launch on PostgreSQL (no skip scan before
# 18), a million for a busy launch; each of these reads one entry. Each orders by the index's columns: asked
# only whether a channel was used (LIMIT 1, no order), PostgreSQL chose a sequential scan for a common one,
# which reads the whole table where the launch has none.
_NEXT_CHANNEL = sa.text(
    "SELECT channel FROM enquiry WHERE launch_id = :launch AND channel > :after ORDER BY channel LIMIT 1"
)
_NEXT_SEGMENT = sa.text(
    "SELECT segment FROM enquiry WHERE launch_id = :launch AND channel = :channel AND segment > :after "
    "ORDER BY segment LIMIT 1"
)


class _Stored:
    """What the enquiries of a launch were stored with, read when first asked (a loose index scan: one seek
    per name), in the session the launch was read in."""

    def __init__(self, session: Session, launch_id: int) -> None:
        self.session = session
        self.launch_id = launch_id
        self._channels: list[str] | None = None
        self._segments: list[str] | None = None

    def _next(self, statement: sa.TextClause, **params: str) -> str | None:
        value = self.session.execute(statement, {"launch": self.launch_id, **params}).scalar()
        return None if value is None else str(value)

    def channels(self) -> list[str]:
        if self._channels is None:
            found: list[str] = []
            after = ""  # no channel is empty (the API, the checklist and imports refuse one)
            while (channel := self._next(_NEXT_CHANNEL, after=after)) is not None:
                found.append(channel)
                after = channel
            self._channels = found
        return self._channels

    def segments(self) -> list[str]:
        """Every segment given (none given left out), channel by channel, as the index orders them."""
        if self._segments is None:
            found: set[str] = set()
            for channel in self.channels():
                after = ""
                while (segment := self._next(_NEXT_SEGMENT, channel=channel, after=after)) is not None:
                    found.add(segment)
                    after = segment
            self._segments = sorted(found)
        return self._segments


def _stored_of(launch: Launch) -> _Stored | None:
    session = object_session(launch)
    return _Stored(session, launch.id) if session is not None and launch.id is not None else None


def _check_filters(launch: Launch, channels: Sequence[str], segments: Sequence[str]) -> None:
    """Each filter is one the launch offers, or one its enquiries were stored with: a channel or segment a
    lead took off the launch (its file imported again without it) still has its enquiries, which every count
    reports under its name, so a reader can filter by it too. A name never used is refused, listing both.

    The stored ones are looked up only for a name the launch does not offer, in the session the launch was
    read in (every route reads it in the request's); a launch in none is held to what it offers."""
    offered_segments = [*launch.segments, UNSPECIFIED_SEGMENT]
    unknown_channels = [c for c in channels if c not in launch.channels]
    unknown_segments = [s for s in segments if s not in offered_segments]
    if not unknown_channels and not unknown_segments:
        return
    stored = _stored_of(launch)
    for channel in unknown_channels:
        if stored is not None and channel in stored.channels():
            continue
        also = [c for c in stored.channels() if c not in launch.channels] if stored is not None else []
        raise Invalid(
            f"Unknown channel {channel!r} for launch {launch.slug!r}; it offers {', '.join(launch.channels)}"
            f"{_also_stored(also)}.",
            field="channel",
            code="unknown_channel",
            params={"value": channel, "offered": [*launch.channels, *also]},
        )
    for segment in unknown_segments:
        if stored is not None and segment in stored.segments():
            continue
        also = [s for s in stored.segments() if s not in offered_segments] if stored is not None else []
        raise Invalid(
            f"Unknown segment {segment!r} for launch {launch.slug!r}; it offers {', '.join(offered_segments)}"
            f"{_also_stored(also)}.",
            field="segment",
            code="unknown_segment",
            params={"value": segment, "offered": [*offered_segments, *also]},
        )


def _also_stored(names: Sequence[str]) -> str:
    """The names a launch no longer offers that its enquiries have, which a filter takes too."""
    return f", and its enquiries were also logged with {', '.join(names)}" if names else ""


def select(
    launch: Launch,
    *,
    now: dt.datetime,
    range_name: str | None = None,
    from_text: str | None = None,
    to_text: str | None = None,
    channels: Sequence[str] = (),
    segments: Sequence[str] = (),
    digest_start: dt.datetime | None = None,
) -> Selection:
    """The view a request asks for. Raises ``Invalid`` naming the parameter that is wrong.
    ``digest_start``: ``digests.since_digest_start``, where ``since-digest`` starts (None: the launch's start)."""
    channels = tuple(dict.fromkeys(c for c in channels if c))
    segments = tuple(dict.fromkeys(s for s in segments if s))
    _check_filters(launch, channels, segments)
    window_start, window_end = launches.window(launch)
    tz = launches.zone(launch)
    if from_text or to_text:
        if range_name:
            raise Invalid(
                "Give either range= or from=/to=, not both.",
                field="range",
                code="invalid_range",
                params={"problem": "both"},
            )
        start = _parse_bound(from_text, launch, name="from", is_end=False) if from_text else window_start
        end = _parse_bound(to_text, launch, name="to", is_end=True) if to_text else window_end
        if end <= start and not (from_text and to_text):
            raise out_of_window(
                launch,
                f"The range from {from_text or '(launch start)'} to {to_text or '(launch end)'}",
                params={"from": from_text or "", "to": to_text or ""},
            )
        if end <= start:
            days = len((from_text or "").strip()) == 10 and len((to_text or "").strip()) == 10  # both dates, not times
            raise Invalid(
                f"to={to_text!r} is before from={from_text!r}: both days are included, so to may equal from."
                if days
                else f"to={to_text!r} is not after from={from_text!r}: give a later to (a time is the end, "
                "not included).",
                field="to",
                code="invalid_range",
                params={"problem": "to_before_from" if days else "to_not_after_from", "from": from_text, "to": to_text},
            )
        name = CUSTOM
        what = f"The range {from_text or '(launch start)'} to {to_text or '(launch end)'}"
    else:
        name = range_name or default_range(launch, now)
        if name not in RANGES:
            raise Invalid(
                f"range={name!r} is not one of {', '.join(RANGES)}; or give from=YYYY-MM-DD&to=YYYY-MM-DD.",
                field="range",
                code="invalid_range",
                params={"problem": "unknown_range", "value": name},
            )
        today = launches.local_date(now, tz)
        upto = min(now, window_end)
        if name == "today":
            start, end = launches.local_midnight(today, tz), upto
        elif name == "yesterday":
            start, end = launches.day_bounds(today - dt.timedelta(days=1), tz)
        elif name == "7d":
            start, end = launches.local_midnight(today - dt.timedelta(days=6), tz), upto
        elif name == "since-digest":
            start, end = digest_start or window_start, upto
        else:
            start, end = window_start, window_end
        what = f"range={name} (at {now.astimezone(tz):%Y-%m-%d %H:%M})"
    clipped_start, clipped_end = max(start, window_start), min(end, window_end)
    # An empty named range inside the launch is shown (today at its first midnight: nothing yet), one at
    # its end is not: a week after it ended, the last 7 days begin at that end, and let through they
    # showed (and exported, as a row per hypothesis) the day after the launch.
    empty_inside = name != CUSTOM and start == end == clipped_start < window_end
    if clipped_end <= clipped_start and not empty_inside:
        # Named by what was asked: a range= (today, once the launch is over) was told its `from` was at fault.
        raise out_of_window(
            launch,
            what,
            field="range" if name != CUSTOM else "from",
            params={"range": name} if name != CUSTOM else {"from": from_text or "", "to": to_text or ""},
        )
    return Selection(
        launch=launch,
        name=name,
        start=clipped_start,
        end=max(clipped_end, clipped_start),
        channels=channels,
        segments=segments,
        from_text=from_text if name == CUSTOM else None,
        to_text=to_text if name == CUSTOM else None,
        digest_start=digest_start,
        now=now,
    )
