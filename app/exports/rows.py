"""The rows of an export, fetched in chunks so a million never sit in memory.

``enquiry_chunks``: one row per (enquiry, matched hypothesis), an "other" enquiry
as one row with no hypothesis, ordered by when it happened, then id. One query,
in plain SQL on the driver's cursor (streamed in chunks on PostgreSQL), read
``CHUNK`` rows at a time; times come back as UTC text and are put in the launch's zone by
``LocalTimes``, which asks the zone once a minute rather than once a row.

``daily_rows``: for each local day of the range up to today, every hypothesis of the
launch, then ``(other)`` and ``(total)``: keys in parentheses, which no hypothesis key
can be (keys are lower-case letters, digits and dashes). ``complete`` is false for
today's day under way, as the series API says. A hypothesis's count is empty (None) on a
day that ended before it began to count (``tallies.counting_since``: added during the
launch, its enquiries were "other" until then), as the pages show "–" and draw no line.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Generator, Iterator, Sequence
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlmodel import Session

from app import launches, tallies
from app.i18n import N_
from app.models import Hypothesis
from app.ranges import Selection

CHUNK = 5_000

ENQUIRY_COLUMNS = (
    "enquiry_id",
    "occurred_at",
    "local_date",
    "hypothesis_key",
    "hypothesis_text",
    "channel",
    "segment",
    "note",
    "source",
)
DAILY_COLUMNS = ("local_date", "hypothesis_key", "hypothesis_text", "count", "complete")
# What a column holds, for the writers:
# * ``int``: a number, or None for an empty cell (a count of a hypothesis on a day before it counted);
# * ``date``: a ``datetime.date`` (a date cell in XLSX, YYYY-MM-DD in CSV);
# * ``label``: text from a small set (keys, channels, hypothesis texts): written once, remembered;
# * ``text``: free text (notes), written every time;
# * ``bool``: true or false (``true``/``false`` in CSV, as JSON writes them; a TRUE/FALSE cell in XLSX);
# * ``time``: a local time as ISO 8601 text with its offset, made by this program (no escaping or
#   quoting in CSV; in XLSX a date-time cell of the local wall time, so it sorts, filters and pivots).
# Every text (label or text) is defused against formulas in CSV; XLSX strings never are formulas.
Kind = Literal["int", "date", "label", "text", "time", "bool"]
ENQUIRY_KINDS: tuple[Kind, ...] = ("int", "time", "date", "label", "label", "label", "label", "text", "label")
DAILY_KINDS: tuple[Kind, ...] = ("date", "label", "label", "int", "bool")
OTHER_KEY, OTHER_TEXT = "(other)", "Matched no hypothesis"
TOTAL_KEY, TOTAL_TEXT = "(total)", "All enquiries"
# The launch page's downloads name those two rows as the page does, in the reader's language: a reader of the
# Norwegian page found "Matched no hypothesis" and "All enquiries" in English in the file it offered as
# «Antall per dag», next to the hypotheses' own (Norwegian) texts. The API keeps the texts above.
PAGE_OTHER_TEXT, PAGE_TOTAL_TEXT = N_("Other (not on the list)"), N_("All enquiries")

# An enquiry row: id, occurred_at (ISO 8601 with the local offset), local_date, hypothesis key and
# text ("" for other), channel, segment, note (None: none), source.
EnquiryRow = tuple[int, str, dt.date, str, str, str, str | None, str | None, str]
DailyRow = tuple[dt.date, str, str, int | None, bool]


class LocalTimes:
    """Local ISO 8601 times and dates, in a zone, of UTC times given as text in time order.

    ``iso("2026-11-23 08:15:42.123456")`` is ``"2026-11-23T09:15:42+01:00"`` and sets ``day``.
    The zone is consulted when the minute changes; within a minute the seconds are
    copied over (every zone's offset has been whole minutes since 1972). Rows come
    in time order, so that is once for dozens of rows. Any order is right, only slower.
    """

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.minute = self.head = self.tail = ""
        self.day = dt.date.min

    def iso(self, utc: str) -> str:
        if utc[:16] != self.minute:
            self.minute = utc[:16]
            local = dt.datetime.fromisoformat(self.minute).replace(tzinfo=dt.UTC).astimezone(self.tz)
            text = local.isoformat(timespec="seconds")
            self.head, self.tail, self.day = text[:16], text[19:], local.date()
        return self.head + utc[16:19] + self.tail


def _enquiry_sql(selection: Selection, *, sqlite: bool) -> tuple[str, list[Any]]:
    """The enquiries of the selection joined to their hypotheses, in export order, as plain SQL
    for the driver's cursor (times bound as the columns store them: naive UTC)."""

    def time(value: dt.datetime) -> Any:
        naive = value.astimezone(dt.UTC).replace(tzinfo=None)
        return naive.isoformat(" ", "microseconds") if sqlite else naive  # as UTCDateTime stores it

    where = ["e.launch_id = ?", "e.created_at >= ?", "e.created_at < ?"]
    params: list[Any] = [selection.launch.id, time(selection.start), time(selection.end)]
    if selection.channels:
        where.append(f"e.channel IN ({', '.join(['?'] * len(selection.channels))})")
        params.extend(selection.channels)
    if selection.segments:
        named = [s for s in selection.segments if s != tallies.UNSPECIFIED_SEGMENT]
        either = [f"e.segment IN ({', '.join(['?'] * len(named))})"] if named else []
        if tallies.UNSPECIFIED_SEGMENT in selection.segments:
            either.append("e.segment IS NULL")
        where.append(f"({' OR '.join(either)})")
        params.extend(named)
    # The time as text in SQLAlchemy's format for SQLite, whatever PostgreSQL's DateStyle.
    created_at = "e.created_at" if sqlite else "to_char(e.created_at, 'YYYY-MM-DD HH24:MI:SS.US')"
    sql = (
        f"SELECT e.id, {created_at}, l.hypothesis_id, e.channel, e.segment, e.note, e.source "
        "FROM enquiry e LEFT JOIN enquiry_hypothesis l ON l.enquiry_id = e.id "
        f"WHERE {' AND '.join(where)} ORDER BY e.created_at, e.id, l.hypothesis_id"
    )
    return (sql if sqlite else sql.replace("?", "%s")), params


def enquiry_chunks(
    *, session: Session, selection: Selection, hypotheses: Sequence[Hypothesis], size: int = CHUNK
) -> Iterator[list[EnquiryRow]]:
    """The enquiry rows of ``selection``, ``size`` at a time. ``hypotheses``: every one of the launch.

    Plain SQL on the driver's cursor, like the hot path's: SQLAlchemy's rows and type
    conversions cost more than the query itself here. SQLite's cursor steps through the
    index as rows are fetched. PostgreSQL streams the result in chunks of ``size`` rows
    (libpq's chunked mode, psycopg's ``Cursor.stream``): the server goes on producing rows
    while this process formats the last ones, where a server-side cursor would wait for
    each FETCH (measured: 630,000 rows/s read against 300,000).
    """
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    sql, params = _enquiry_sql(selection, sqlite=sqlite)
    driver: Any = connection.connection.driver_connection
    cursor = driver.cursor()
    streamed: Generator[Any] | None = None
    if sqlite:
        cursor.execute(sql, params)
        batches = iter(lambda: cursor.fetchmany(size), [])
    else:
        import psycopg

        # Chunked mode needs libpq 17 (psycopg[binary] ships a newer one); else a row at a time.
        streamed = cursor.stream(sql, params, size=size if psycopg.pq.version() >= 170000 else 1)
        batches = iter(lambda: list(itertools.islice(streamed, size)), [])
    labels: dict[int | None, tuple[str, str]] = {h.id: (h.key, h.text) for h in hypotheses if h.id is not None}
    labels[None] = ("", "")
    clock = LocalTimes(launches.zone(selection.launch))
    iso = clock.iso
    try:
        for batch in batches:
            rows: list[EnquiryRow] = []
            append = rows.append
            for enquiry_id, created_at, hypothesis_id, channel, segment, note, source in batch:
                occurred = iso(created_at)
                key, text = labels[hypothesis_id]
                append((enquiry_id, occurred, clock.day, key, text, channel, segment, note, source))
            yield rows
    finally:
        if streamed is not None:
            streamed.close()  # a stream left half-read is cancelled, so the connection can be used again
        cursor.close()


def daily_rows(
    *,
    session: Session,
    selection: Selection,
    hypotheses: Sequence[Hypothesis],
    now: dt.datetime,
    texts: tuple[str, str] = (OTHER_TEXT, TOTAL_TEXT),
) -> Iterator[DailyRow]:
    """Every local day of ``selection`` up to today × (every hypothesis, other, total), zeros included
    (a hypothesis's count empty on the days before it counted).

    Days not yet begun are left out: their zeros say nothing, and a sheet summing or averaging the
    column would read a launch a third through as quiet for the rest. Today is in, marked not complete
    (its counts so far), as is a day the range cuts off before ``now`` reaches its end. ``texts``: those of
    the "other" and total rows."""
    launch = selection.launch
    buckets = tallies.series(
        session=session,
        launch=launch,
        start=selection.start,
        end=selection.end,
        bucket="day",
        now=now,
        filter=selection.filter,
    )
    tz = launches.zone(launch)
    launch_start = launches.window(launch)[0]
    first = tallies.first_enquiries(session, launch)
    since = {h.id: tallies.counting_since(h, launch_start, first.get(h.id or 0), launch=launch) for h in hypotheses}
    by_day = {launches.local_date(b.start, tz): b for b in buckets}
    day = selection.first_day
    last = min(selection.last_day, launches.local_date(now, tz))
    while day <= last:
        bucket = by_day.get(day)
        counts = bucket.by_hypothesis if bucket else {}
        day_end = bucket.end if bucket else launches.day_bounds(day, tz)[1]
        complete = selection.over(day_end)
        for h in hypotheses:
            # Before it counted, a 0 would read as "nobody called about it": its calls were "other" then.
            count = None if day_end <= since[h.id] else counts.get(h.id or 0, 0)
            yield (day, h.key, h.text, count, complete)
        yield (day, OTHER_KEY, texts[0], bucket.other if bucket else 0, complete)
        yield (day, TOTAL_KEY, texts[1], bucket.total if bucket else 0, complete)
        day += dt.timedelta(days=1)
