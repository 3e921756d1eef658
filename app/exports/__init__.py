"""Exports for the spreadsheet people: a launch's enquiries, or its daily counts, as CSV or XLSX.

* ``rows``: the rows, fetched in chunks (one query, a streaming cursor);
* ``csv``: UTF-8 with a byte order mark, formulas defused;
* ``xlsx``: written with a constant-memory writer.

``stream`` is what the routes call. It writes the file to a temporary file in a
database session of its own, never holding more than a chunk of rows in memory,
and sends it once that session is closed (the routes close the request's before
the response starts). Everything that can be refused (the launch, the
range, the format) is checked before, by ``parse_format``, ``parse_what`` and
``ranges.select``, so a download never breaks off with an error half-way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import tempfile
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlmodel import Session

from app import launches
from app.db import Database
from app.errors import Invalid
from app.exports import csv, rows, xlsx
from app.ranges import Selection

Format = Literal["csv", "xlsx"]
What = Literal["enquiries", "daily"]
FORMATS: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
WHATS = ("enquiries", "daily")
READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class _Sheet:
    header: tuple[str, ...]
    kinds: tuple[rows.Kind, ...]
    widths: tuple[int, ...]  # of the XLSX columns, in characters


_SHEETS = {
    "enquiries": _Sheet(rows.ENQUIRY_COLUMNS, rows.ENQUIRY_KINDS, (10, 26, 11, 22, 40, 10, 10, 50, 10)),
    "daily": _Sheet(rows.DAILY_COLUMNS, rows.DAILY_KINDS, (11, 22, 40, 8, 10)),
}


def parse_format(value: str | None) -> Format:
    if value not in FORMATS:
        raise Invalid(
            f"format={value!r} is not one of csv, xlsx." if value else "Give format=csv or format=xlsx.",
            field="format",
            code="invalid_format",
        )
    return cast(Format, value)


def parse_what(value: str | None) -> What:
    if value not in WHATS:
        raise Invalid(
            f"what={value!r} is not one of enquiries, daily (one row per enquiry and hypothesis, or counts per day)."
            if value
            else "Give what=enquiries (one row per enquiry and hypothesis) or what=daily (counts per day).",
            field="what",
            code="invalid_what",
        )
    return cast(What, value)


@dataclass(frozen=True)
class Export:
    selection: Selection
    what: What
    format: Format

    @property
    def filename(self) -> str:
        s = self.selection
        return f"{s.launch.slug}-{self.what}-{s.first_day.isoformat()}-{s.last_day.isoformat()}.{self.format}"

    @property
    def media_type(self) -> str:
        return FORMATS[self.format]

    @property
    def content_disposition(self) -> str:
        return f'attachment; filename="{self.filename}"'  # slugs are [a-z0-9-]: nothing to quote


def stream(export: Export, *, db: Database, now: dt.datetime) -> Generator[bytes]:
    """The file, piece by piece. A sync iterator: Starlette runs it in its thread pool.

    The whole file is written to a temporary file first, in a read session of its own opened
    when the first piece is asked for, and sent from there once that session is closed: a
    client that reads slowly (a paused download, a slow line) holds no database connection.
    Sent while read, a CSV kept its cursor and transaction open until the last byte went out,
    and ten paused downloads held every connection of a worker's pool. Reading is fast (some
    600,000 rows a second, docs/benchmarks.md); the rows' cursor is closed before the session."""
    sheet = _SHEETS[export.what]
    with tempfile.TemporaryFile() as spool:  # unlinked at once on POSIX; gone when closed
        with db.session() as session, contextlib.closing(_chunks(export, session, now)) as chunks:
            if export.format == "csv":
                for piece in csv.stream(sheet.header, sheet.kinds, chunks):
                    spool.write(piece)
            else:
                xlsx.write(
                    spool,
                    sheet=export.what,
                    header=sheet.header,
                    kinds=sheet.kinds,
                    chunks=chunks,
                    widths=sheet.widths,
                    title=export.filename,
                    created=now,
                )
        # The rows are in the file and the read transaction is over: send it.
        spool.seek(0)
        while piece := spool.read(READ_SIZE):
            yield piece


def _chunks(export: Export, session: Session, now: dt.datetime) -> Generator[Sequence[Sequence[Any]]]:
    selection = export.selection
    hypotheses = launches.hypotheses_of(session, selection.launch)
    if export.what == "enquiries":
        yield from rows.enquiry_chunks(session=session, selection=selection, hypotheses=hypotheses, size=rows.CHUNK)
        return
    daily = rows.daily_rows(session=session, selection=selection, hypotheses=hypotheses, now=now)
    while chunk := list(itertools.islice(daily, rows.CHUNK)):
        yield chunk
