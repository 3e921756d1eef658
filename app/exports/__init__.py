"""Exports for the spreadsheet people: a launch's enquiries, or its daily counts, as CSV or XLSX.

* ``rows``: the rows, fetched in chunks (one query, a streaming cursor);
* ``csv``: UTF-8 with a byte order mark, formulas defused;
* ``xlsx``: written with a constant-memory writer.

The routes call ``spool``, then answer with ``send``. ``spool`` writes the file to a
temporary file in a database session of its own, never holding more than a chunk
of rows in memory, before the answer starts (the routes close the request's session
first); ``send`` sends it from there. Everything that can be refused is refused
before the first byte: the launch, the range and the format by ``parse_format``,
``parse_what`` and ``ranges.select``, a database that does not answer by ``spool``
(503, as every read), so a download never breaks off with an error half-way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import tempfile
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal, cast

import sqlalchemy as sa
from sqlmodel import Session

from app import i18n, launches
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
    language: str | None = None  # the reader's, for a download from the launch page; None: the API's texts

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


def spool(export: Export, *, db: Database, now: dt.datetime) -> BinaryIO:
    """The whole file, written to a temporary file in a read session of its own, and that file,
    rewound: the caller sends it (``send``) or closes it. A sync call: the routes make it in their
    thread, before answering.

    Written before the answer starts, a database that fails (a lock held past the lock timeout,
    a server gone) is the 503 every other read gives. Written while the answer was sent, the
    download got 200 and its file name, then a dropped connection. And sent from the file once
    the read session is closed, a client that reads slowly (a paused download, a slow line) holds
    no database connection: sent while read, a CSV kept its cursor and transaction open until the
    last byte went out, and ten paused downloads held every connection of a worker's pool.
    Reading is fast (some 600,000 rows a second, docs/benchmarks.md); the rows' cursor is closed
    before the session."""
    sheet = _SHEETS[export.what]
    dbapi: Any = db.engine.dialect.loaded_dbapi  # sqlite3 or psycopg
    file = tempfile.TemporaryFile()  # noqa: SIM115 (send closes it, or this on failure); unlinked at once on POSIX
    try:
        with db.session() as session, contextlib.closing(_chunks(export, session, now)) as chunks:
            if export.format == "csv":
                for piece in csv.stream(sheet.header, sheet.kinds, chunks):
                    file.write(piece)
            else:
                xlsx.write(
                    file,
                    sheet=export.what,
                    header=sheet.header,
                    kinds=sheet.kinds,
                    chunks=chunks,
                    widths=sheet.widths,
                    title=export.filename,
                    created=now,
                )
    except dbapi.Error as exc:
        file.close()
        # The rows are read on the driver's own cursor (rows.py), whose errors SQLAlchemy never sees: wrapped as
        # it wraps its own (a lock timeout is an OperationalError), they are the 503 app.main gives every read.
        raise sa.exc.DBAPIError.instance(None, None, exc, dbapi.Error, hide_parameters=True) from exc
    except BaseException:
        file.close()
        raise
    file.seek(0)
    return file


def send(file: BinaryIO) -> Generator[bytes]:
    """A spooled file, piece by piece, closed at the end (or when the download is given up and
    the iterator closed). A sync iterator: Starlette runs it in its thread pool."""
    with file:
        while piece := file.read(READ_SIZE):
            yield piece


def stream(export: Export, *, db: Database, now: dt.datetime) -> Generator[bytes]:
    """``spool`` then ``send``, the file made when the first piece is asked for (the benchmarks)."""
    yield from send(spool(export, db=db, now=now))


def _chunks(export: Export, session: Session, now: dt.datetime) -> Generator[Sequence[Sequence[Any]]]:
    selection = export.selection
    hypotheses = launches.hypotheses_of(session, selection.launch)
    if export.what == "enquiries":
        yield from rows.enquiry_chunks(session=session, selection=selection, hypotheses=hypotheses, size=rows.CHUNK)
        return
    texts = (rows.OTHER_TEXT, rows.TOTAL_TEXT)
    if export.language is not None:
        with i18n.use_language(export.language):
            texts = (i18n.gettext(rows.PAGE_OTHER_TEXT), i18n.gettext(rows.PAGE_TOTAL_TEXT))
    daily = rows.daily_rows(session=session, selection=selection, hypotheses=hypotheses, now=now, texts=texts)
    while chunk := list(itertools.islice(daily, rows.CHUNK)):
        yield chunk
