"""Bringing in enquiries that happened before they were logged: days ticked on paper, as CSV.

A file is checked whole before anything is written (``read``): one ``Problem``
per bad value, with the physical line it is on, so a lead can fix them all in
one go. Only a file without problems is imported (``import_rows``), in one
write transaction, through ``insert_many`` like every back-dated
enquiry, which raises the launch's counts version so no cached count of those
days survives, in any process.

Importing is idempotent. A row's enquiries are keyed by what it counts (the time
as UTC, its hypothesis keys in order, channel, segment) and a number: the file's
enquiries with the same content are numbered ``<key>:1``, ``:2`` … in the order of
the file, a row with ``count`` N taking the next N. So running a file again adds
nothing, a file with rows added at the end (or a count raised) adds only what is
new, and two identical rows are two enquiries.

The note is not part of the key. Keys outlive notes (retention erases notes,
never keys), and a hash of even a scrubbed note let anyone with the database
confirm a guessed note, down to a phone number the scrubber missed; a key from
the note also changed, and imported the row again, whenever the scrubber came to
read that note differently. A note edited after its row was imported is not
brought in. Migration 0020 rewrote the keys of rows imported before.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, col, select

from app import audit, privacy
from app.db import Database
from app.errors import TallyError
from app.launches import local_date, window, zone
from app.models import Enquiry, EnquirySource, Hypothesis, HypothesisStatus, Launch, id_of
from app.recording.record import NewEnquiry, insert_many

REQUIRED_COLUMNS = ("occurred_at", "hypotheses", "channel", "segment", "note")
OPTIONAL_COLUMNS = ("count",)
HEADER_EXAMPLE = ",".join(REQUIRED_COLUMNS) + "[,count]"
MAX_COUNT = 10_000  # enquiries one row may stand for: more is a typo, not a day at a customer centre
CHUNK = 2_000  # enquiries per insert_many call, all inside one transaction
KEY_PREFIX = "imp:"
KEY_HASH_LENGTH = 40  # hex digits: "imp:" + 40 + ":" leaves 19 digits for the number, within the 64 allowed
EXAMPLE_TIME = "2026-11-18T09:42:00+01:00"
UTF8_ADVICE = (
    'save it as UTF-8 (Excel: Save As > "CSV UTF-8 (Comma delimited)"; '
    "LibreOffice: Save As > Text CSV, character set Unicode (UTF-8))"
)


@dataclass(frozen=True)
class Problem:
    line: int  # physical line in the file; the header is line 1
    column: str
    message: str


class InvalidFile(Exception):
    """Everything wrong with a file, one ``FILE:LINE: column: message`` line per problem."""

    def __init__(self, name: str, problems: Sequence[Problem]) -> None:
        self.name = name
        self.problems = list(problems)
        super().__init__("\n".join(f"{name}:{p.line}: {p.column}: {p.message}" for p in self.problems))


@dataclass(frozen=True)
class Row:
    """A checked row: what it will record, ``count`` times."""

    line: int
    occurred_at: dt.datetime  # aware, UTC
    hypothesis_ids: tuple[int, ...]
    channel: str
    segment: str | None
    note: str | None  # scrubbed
    count: int
    key: str  # its content's key; its enquiries are key:first … key:first + count - 1
    first: int = 1  # the number of its first enquiry among the file's with the same content

    def enquiry_keys(self) -> Iterator[str]:
        return (f"{self.key}:{n}" for n in range(self.first, self.first + self.count))


@dataclass
class Report:
    rows: int
    added: int = 0
    skipped: int = 0  # already there: imported before
    added_per_day: Counter[dt.date] = field(default_factory=Counter)  # local days of the launch

    def summary(self, launch: Launch, *, database: str) -> str:
        """``database``: where they went, as a person would look for it (a relative path run from
        another folder is another database)."""
        enquiries_in_file = self.added + self.skipped
        lines = [
            f"Read {self.rows} rows ({enquiries_in_file} enquiries).",
            f"Added {self.added} enquiries to {launch.slug} in {database}; {self.skipped} were already there "
            "(skipped).",
        ]
        if self.added_per_day:
            lines.append(f"Added per day ({launch.timezone}):")
            lines.extend(f"  {day:%Y-%m-%d %a}  {n}" for day, n in sorted(self.added_per_day.items()))
        return "\n".join(lines)


# --- reading and checking -------------------------------------------------------------


# Which of these idempotency keys the launch has already: rows imported before are skipped.
Imported = Callable[[Sequence[str]], set[str]]


def read(
    path: Path,
    *,
    launch: Launch,
    hypotheses: Sequence[Hypothesis],
    now: dt.datetime,
    name: str | None = None,
    imported: Imported | None = None,
) -> list[Row]:
    """The file's rows, checked against the launch; ``InvalidFile`` lists every problem."""
    label = name or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidFile(label, [Problem(1, "file", f"cannot be read: {exc.strerror or exc}")]) from None
    return parse(data, name=label, launch=launch, hypotheses=hypotheses, now=now, imported=imported)


def parse(
    data: bytes,
    *,
    name: str,
    launch: Launch,
    hypotheses: Sequence[Hypothesis],
    now: dt.datetime,
    imported: Imported | None = None,
) -> list[Row]:
    """The rows of ``data``. A row the launch has changed under since it was imported (its hypothesis
    retired, its channel or segment no longer offered, its day no longer in the dates) is skipped as
    imported before when ``imported`` knows all its keys: the guide says to add the next days' rows to
    the same file and run it again, and such a row refused every later run, while leaving its key out
    as the message advised imported it again."""
    text = _decode(data, name)
    if not text.strip():
        message = f"the file is empty: it needs a header row ({HEADER_EXAMPLE}), then a row per enquiry"
        raise InvalidFile(name, [Problem(1, "file", message)])
    reader = csv.reader(io.StringIO(text, newline=""))
    columns = _check_header(next(reader), name)
    checker = _RowChecker(launch, hypotheses, now)
    problems: list[Problem] = []
    rows: list[Row] = []
    seen: Counter[str] = Counter()
    last_line = reader.line_num
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a NUL byte, a field beyond the csv module's size limit
            problems.append(Problem(last_line + 1, "row", f"not readable as CSV ({exc})"))
            break
        line, last_line = last_line + 1, reader.line_num
        if not any(value.strip() for value in record):
            continue  # a blank line, or a spreadsheet's empty row (",,,,")
        if len(record) != len(columns):
            problems.append(
                Problem(
                    line,
                    "row",
                    f"{len(record)} values, but the header names {len(columns)} columns: "
                    "put a note or hypothesis list that holds a comma in double quotes",
                )
            )
            continue
        checked = checker.check(line, dict(zip(columns, record, strict=True)))
        if isinstance(checked, list):
            problems.extend(checked)
            continue
        content, row, changed = checked
        row = dataclasses.replace(row, key=_row_key(content), first=seen[content] + 1)
        seen[content] += row.count
        if changed:
            keys = list(row.enquiry_keys())
            if imported is None or not keys or len(imported(keys)) < len(keys):
                problems.extend(changed)
                continue
        rows.append(row)
    if problems:
        raise InvalidFile(name, problems)
    return rows


def _decode(data: bytes, name: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InvalidFile(name, [Problem(1, "encoding", f"the file is UTF-16 text, not UTF-8: {UTF8_ADVICE}")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        raise InvalidFile(
            name,
            [Problem(line, "encoding", f"the file is not UTF-8 (byte 0x{byte:02X} on this line): {UTF8_ADVICE}")],
        ) from None


def _check_header(header: list[str], name: str) -> list[str]:
    columns = [column.strip().lower() for column in header]
    known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    unknown = [f"'{c}'" if c else f"(column {i} has no name)" for i, c in enumerate(columns, 1) if c not in known]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    twice = sorted({c for c in columns if c and columns.count(c) > 1})
    if not (unknown or missing or twice):
        return columns
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if unknown:
        parts.append("unknown " + ", ".join(unknown))
    if twice:
        parts.append("named twice " + ", ".join(twice))
    message = "; ".join(parts) + f". The header must be: {HEADER_EXAMPLE} (in any order)"
    if len(header) == 1 and ";" in header[0]:
        message += ". The values look separated by semicolons: save the file with commas"
    raise InvalidFile(name, [Problem(1, "header", message)])


class _RowChecker:
    def __init__(self, launch: Launch, hypotheses: Sequence[Hypothesis], now: dt.datetime) -> None:
        self.launch = launch
        self.tz = zone(launch)
        self.start, self.end = window(launch)
        self.now = now
        self.hypotheses = {h.key: h for h in hypotheses}
        self.active_keys = [h.key for h in hypotheses if h.status != HypothesisStatus.RETIRED]

    def check(self, line: int, values: dict[str, str]) -> list[Problem] | tuple[str, Row, list[Problem]]:
        """The row's content (what its key is made of: not the note), the row and what the launch changed
        since it may have been imported (``changed``: a problem unless it was), or what is wrong with it."""
        found: list[tuple[Problem, bool]] = []  # in the columns' order; True: the launch changed since

        def problem(column: str, message: str) -> None:
            found.append((Problem(line, column, message), False))

        def since(column: str, message: str) -> None:
            found.append((Problem(line, column, message), True))

        occurred_at = self._occurred_at(values["occurred_at"].strip(), problem, since)
        keys, hypothesis_ids = self._hypotheses(values["hypotheses"], problem, since)
        channel = values["channel"].strip()
        if not channel:
            problem("channel", f"missing: give one of {', '.join(self.launch.channels)}")
        elif channel not in self.launch.channels:
            since(
                "channel",
                f"unknown channel '{channel}' for launch {self.launch.slug}; "
                f"it offers {', '.join(self.launch.channels)}",
            )
        segment = values["segment"].strip() or None
        if segment is not None and segment not in self.launch.segments:
            since(
                "segment",
                f"unknown segment '{segment}' for launch {self.launch.slug}; "
                f"it offers {', '.join(self.launch.segments)} (or leave it empty)",
            )
        note = None
        try:
            note = privacy.clean_note(values["note"] or None, now=self.now)
        except TallyError as exc:
            problem("note", exc.message)
        count = self._count(values.get("count", "").strip(), problem)
        if occurred_at is None or not all(changed for _, changed in found):
            return [p for p, _ in found]
        content = row_content(self.launch.slug, occurred_at, keys, channel, segment)
        row = Row(line, occurred_at, hypothesis_ids, channel, segment, note, count, key="")
        return content, row, [p for p, _ in found]

    def _occurred_at(
        self, value: str, problem: Callable[[str, str], None], since: Callable[[str, str], None]
    ) -> dt.datetime | None:
        if not value:
            problem("occurred_at", f"missing: give when the enquiry came in, such as {EXAMPLE_TIME}")
            return None
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            problem("occurred_at", f"'{value}' is not an ISO 8601 time such as {EXAMPLE_TIME}")
            return None
        if moment.tzinfo is None:
            suggestion = moment.replace(tzinfo=self.tz).isoformat()
            problem(
                "occurred_at",
                f"'{value}' has no UTC offset: add one, such as {suggestion} "
                f"for that time in the launch's time zone ({self.launch.timezone})",
            )
            return None
        moment = moment.astimezone(dt.UTC)
        if moment > self.now:
            problem(
                "occurred_at",
                f"{value} is in the future (it is now {self.now.astimezone(self.tz):%Y-%m-%d %H:%M} "
                f"in {self.launch.timezone})",
            )
            return None
        if not self.start <= moment < self.end:
            since(
                "occurred_at",
                f"{value} is outside launch {self.launch.slug}, which runs from {self.launch.starts_on} to "
                f"{self.launch.ends_on} ({self.launch.timezone}): change the time, or the launch's dates first",
            )
        return moment

    def _hypotheses(
        self, value: str, problem: Callable[[str, str], None], since: Callable[[str, str], None]
    ) -> tuple[list[str], tuple[int, ...]]:
        keys = list(dict.fromkeys(key.strip() for key in value.split(";") if key.strip()))
        ids: list[int] = []
        for key in keys:
            hypothesis = self.hypotheses.get(key)
            if hypothesis is None:
                problem(
                    "hypotheses",
                    f"unknown hypothesis key '{key}' for launch {self.launch.slug} (its keys: "
                    f"{', '.join(self.active_keys) or 'none'}); separate keys with ';', leave it empty for other",
                )
            else:
                if hypothesis.status == HypothesisStatus.RETIRED:
                    since(
                        "hypotheses",
                        f"hypothesis '{key}' was retired from launch {self.launch.slug}: bring it back first, "
                        "or count the enquiry as other (leave the key out; then this row counts as new)",
                    )
                ids.append(id_of(hypothesis))
        return sorted(keys), tuple(ids)

    def _count(self, value: str, problem: Callable[[str, str], None]) -> int:
        if not value:
            return 1
        if not value.isdecimal() or not value.isascii() or int(value) < 1:
            problem("count", f"'{value}' is not a whole number from 1 to {MAX_COUNT} (leave it empty for 1)")
            return 1
        if int(value) > MAX_COUNT:
            problem(
                "count",
                f"{value} is more than {MAX_COUNT}, the most one row may stand for: split it over several rows",
            )
            return 1
        return int(value)


def imported_keys(db: Database, launch: Launch) -> Imported:
    """``Imported`` for ``launch``, read from the database."""

    def lookup(keys: Sequence[str]) -> set[str]:
        with db.session() as session:
            found = session.exec(
                select(Enquiry.idempotency_key).where(
                    Enquiry.launch_id == launch.id, col(Enquiry.idempotency_key).in_(list(keys))
                )
            )
            return {key for key in found if key is not None}

    return lookup


def row_content(slug: str, occurred_at: dt.datetime, keys: Sequence[str], channel: str, segment: str | None) -> str:
    """What an imported row's key is made of. Migration 0020 makes the same from stored enquiries: a
    change here needs a migration of the keys too."""
    moment = occurred_at.astimezone(dt.UTC).isoformat()
    return json.dumps([slug, moment, sorted(keys), channel, segment or ""], ensure_ascii=False, separators=(",", ":"))


def _row_key(content: str) -> str:
    return KEY_PREFIX + hashlib.sha256(content.encode()).hexdigest()[:KEY_HASH_LENGTH]


# --- writing ----------------------------------------------------------------------------


def import_rows(
    db: Database,
    *,
    launch: Launch,
    rows: Sequence[Row],
    now: dt.datetime,
    actor: str,
    source_name: str,
    on_progress: Callable[[int], None] | None = None,
) -> Report:
    """Record the rows' enquiries in one write transaction; those imported before are skipped.

    ``on_progress`` is called with the number of enquiries done after each chunk."""
    report = Report(rows=len(rows))
    launch_id = id_of(launch)
    tz = zone(launch)
    with db.write_connection() as connection:
        for chunk in _chunks(_enquiries_of(launch_id, rows, now), CHUNK):
            for item, outcome in zip(chunk, insert_many(connection, chunk), strict=True):
                if outcome.created:
                    report.added += 1
                    report.added_per_day[local_date(item.created_at, tz)] += 1
                else:
                    report.skipped += 1
            if on_progress is not None:
                on_progress(len(chunk))
        with Session(bind=connection) as session:
            audit.record(
                session,
                actor=actor,
                action="enquiries.imported",
                target_type="launch",
                target_id=launch_id,
                now=now,
                file=source_name,
                rows=report.rows,
                added=report.added,
                skipped=report.skipped,
            )
            session.flush()
    return report


def _enquiries_of(launch_id: int, rows: Sequence[Row], now: dt.datetime) -> Iterator[NewEnquiry]:
    for row in rows:
        for key in row.enquiry_keys():
            yield NewEnquiry(
                launch_id=launch_id,
                channel=row.channel,
                segment=row.segment,
                created_at=row.occurred_at,
                hypothesis_ids=row.hypothesis_ids,
                note=row.note,
                idempotency_key=key,
                source=EnquirySource.IMPORT,
                recorded_at=now,
            )


def _chunks(items: Iterator[NewEnquiry], size: int) -> Iterator[list[NewEnquiry]]:
    chunk: list[NewEnquiry] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
