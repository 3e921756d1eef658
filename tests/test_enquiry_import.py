"""`tally enquiries import`: days ticked on paper, brought in from a CSV file."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from sqlmodel import col, select
from typer.testing import CliRunner, Result

from app import imports, migrations, tallies
from app.cli import cli
from app.db import Database
from app.insight import relink
from app.launches import window
from app.models import AuditEvent, Enquiry, EnquirySource, Hypothesis, HypothesisStatus, Launch, LaunchStatus
from app.privacy import clean_note
from app.recording.record import NewEnquiry, Recorded, insert_many
from app.recording.requests import IDEMPOTENCY_KEY_PATTERN
from tests.conftest import ThrowawayPostgres
from tests.factories import hypothesis_ids, log, make_launch
from tests.test_cli_newcomers import shown

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)  # launch day 5 (it starts on Monday 16 November)
HEADER = "occurred_at,hypotheses,channel,segment,note,count\n"


@pytest.fixture
def launch(db: Database) -> Launch:
    """Hypotheses a and b in use, c retired."""
    made = make_launch(db, hypotheses=("a", "b", "c"))
    with db.transaction() as session:
        retired = session.exec(select(Hypothesis).where(Hypothesis.launch_id == made.id, Hypothesis.key == "c")).one()
        retired.status = HypothesisStatus.RETIRED
    return made


def write(tmp_path: Path, text: str, name: str = "paper.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_import(
    url: str, path: Path, *, slug: str = "test-launch", at: dt.datetime = NOW, env: dict[str, str] | None = None
) -> Result:
    with time_machine.travel(at, tick=False):
        return CliRunner().invoke(
            cli, ["enquiries", "import", str(path), "--launch", slug], env={"TALLY_DATABASE_URL": url, **(env or {})}
        )


def counts(db: Database, launch: Launch, *, now: dt.datetime | None = None) -> tallies.Tally:
    """The whole launch's tally, from a launch row read afresh (its counts version may have moved)."""
    with db.session() as session:
        fresh = session.get(Launch, launch.id)
        assert fresh is not None
        start, end = window(fresh)
        return tallies.tally(session=session, launch=fresh, start=start, end=end, now=now)


def stored(db: Database) -> list[Enquiry]:
    with db.session() as session:
        return list(session.exec(select(Enquiry).order_by(Enquiry.id)))  # type: ignore[arg-type]


PAPER = (
    HEADER
    + "2026-11-16T09:42:00+01:00,a,phone,private,,\n"
    + "2026-11-16T10:05:00+01:00,a;b,chat,,Fant ikke knappen,\n"
    + "2026-11-17T08:15:00Z,,email,business,ring meg på 98765432 eller ola@example.com,3\n"
)


def test_happy_path_counts_per_hypothesis_other_channel_and_day(db: Database, launch: Launch, tmp_path: Path) -> None:
    result = run_import(db.url, write(tmp_path, PAPER))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Read 3 rows (5 enquiries).",
        f"Added 5 enquiries to test-launch in {shown(db.url)}; 0 were already there (skipped).",
        "Added per day (Europe/Oslo):",
        "  2026-11-16 Mon  2",
        "  2026-11-17 Tue  3",
    ]
    tally = counts(db, launch)
    ids = hypothesis_ids(db, launch)
    assert (tally.total, tally.other) == (5, 3)
    assert tally.by_hypothesis == {ids["a"]: 2, ids["b"]: 1, ids["c"]: 0}
    assert tally.by_channel == {"phone": 1, "chat": 1, "email": 3, "social": 0}
    assert tally.by_segment == {"private": 1, "business": 3, "unspecified": 1}

    rows = stored(db)
    assert [r.created_at for r in rows] == [
        dt.datetime(2026, 11, 16, 8, 42, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 16, 9, 5, tzinfo=dt.UTC),
        *[dt.datetime(2026, 11, 17, 8, 15, tzinfo=dt.UTC)] * 3,
    ]
    assert {(r.source, r.recorded_at, r.agent_id, r.token_id) for r in rows} == {
        (EnquirySource.IMPORT, NOW, None, None)
    }
    assert all(re.fullmatch(IDEMPOTENCY_KEY_PATTERN, r.idempotency_key or "") for r in rows)
    assert [r.idempotency_key.rsplit(":", 1)[1] for r in rows if r.idempotency_key] == ["1", "1", "1", "2", "3"]
    with db.session() as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "enquiries.imported")).all()
    assert event.target_id == str(launch.id) and event.detail["added"] == 5 and event.detail["file"] == "paper.csv"


def test_personal_data_in_notes_is_masked(db: Database, launch: Launch, tmp_path: Path) -> None:
    assert run_import(db.url, write(tmp_path, PAPER)).exit_code == 0
    notes = {r.note for r in stored(db)}
    assert notes == {None, "Fant ikke knappen", "ring meg på [phone] eller [email]"}
    assert not any("98765432" in (r.idempotency_key or "") for r in stored(db))


def test_running_the_same_file_again_adds_nothing(db: Database, launch: Launch, tmp_path: Path) -> None:
    path = write(tmp_path, PAPER)
    assert run_import(db.url, path).exit_code == 0
    before = [(r.id, r.idempotency_key) for r in stored(db)]
    again = run_import(db.url, path, at=NOW + dt.timedelta(hours=3))
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == [
        "Read 3 rows (5 enquiries).",
        f"Added 0 enquiries to test-launch in {shown(db.url)}; 5 were already there (skipped).",
    ]
    assert [(r.id, r.idempotency_key) for r in stored(db)] == before
    assert counts(db, launch).total == 5


def test_an_extended_file_adds_only_the_new_rows(db: Database, launch: Launch, tmp_path: Path) -> None:
    assert run_import(db.url, write(tmp_path, PAPER)).exit_code == 0
    # The same instant written in another offset is the same row; the count of the last row went
    # from 3 to 5, and a day was added at the end.
    extended = (
        HEADER
        + "2026-11-16T08:42:00Z,a,phone,private,,\n"
        + "2026-11-16T10:05:00+01:00,b;a,chat,,Fant ikke knappen,1\n"
        + "2026-11-17T09:15:00+01:00,,email,business,ring meg på 98765432 eller ola@example.com,5\n"
        + "2026-11-18T11:00:00+01:00,b,social,,,2\n"
    )
    result = run_import(db.url, write(tmp_path, extended, "paper-2.csv"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Read 4 rows (9 enquiries).",
        f"Added 4 enquiries to test-launch in {shown(db.url)}; 5 were already there (skipped).",
        "Added per day (Europe/Oslo):",
        "  2026-11-17 Tue  2",
        "  2026-11-18 Wed  2",
    ]
    tally = counts(db, launch)
    ids = hypothesis_ids(db, launch)
    assert (tally.total, tally.other) == (9, 5)
    assert tally.by_hypothesis == {ids["a"]: 2, ids["b"]: 3, ids["c"]: 0}


def test_rows_imported_before_the_launch_changed_under_them_are_skipped_not_refused(
    db: Database, launch: Launch, tmp_path: Path
) -> None:
    """The guide says to add the next days' rows to the same file and run it again. A lead retired b,
    removed social and moved the first day meanwhile: every later run was refused for the rows already
    in, and leaving b's key out, as the message advised, imported those rows again as other."""
    first = HEADER + "2026-11-16T09:42:00+01:00,b,social,,,3\n2026-11-17T10:00:00+01:00,a,phone,,,\n"
    assert run_import(db.url, write(tmp_path, first)).exit_code == 0
    with db.transaction() as session:
        b = session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id, Hypothesis.key == "b")).one()
        b.status = HypothesisStatus.RETIRED
        changed = session.get(Launch, launch.id)
        assert changed is not None
        changed.channels = ["phone", "chat", "email"]
        changed.starts_on = dt.date(2026, 11, 17)
    extended = first + "2026-11-18T11:00:00+01:00,a,chat,,,2\n"
    result = run_import(db.url, write(tmp_path, extended))
    assert result.exit_code == 0, result.output
    assert f"Added 2 enquiries to test-launch in {shown(db.url)}; 4 were already there (skipped)." in result.stdout
    assert len(stored(db)) == 6
    # Not imported before, the same row is refused as it was.
    raised = extended.replace("b,social,,,3", "b,social,,,4")
    refused = run_import(db.url, write(tmp_path, raised))
    assert refused.exit_code == 1 and "hypothesis 'b' was retired" in refused.stderr
    assert "unknown channel 'social'" in refused.stderr and "is outside launch" in refused.stderr
    assert len(stored(db)) == 6


def test_the_keys_hold_nothing_of_the_notes(db: Database, launch: Launch, tmp_path: Path) -> None:
    """Keys outlive notes: note retention erases notes, never keys. Made from a note, even a scrubbed
    one, a key let anyone with the database confirm a guessed note (an eight-digit phone number the
    scrubber missed is 10^8 hashes)."""

    def keys(note: str) -> list[str]:
        row = f"2026-11-16T09:00:00+01:00,,phone,private,{note},2\n"
        rows = imports.parse(
            (HEADER + row).encode(), name="paper.csv", launch=launch, hypotheses=_hypotheses(db), now=NOW
        )
        return [key for row in rows for key in row.enquiry_keys()]

    assert keys("ring meg på 98765432") == keys("") == keys("spurte om noe helt annet")
    # So a note changed after the import brings in nothing, nor does the scrubber reading it anew.
    assert run_import(db.url, write(tmp_path, PAPER)).exit_code == 0
    changed = run_import(db.url, write(tmp_path, PAPER.replace("ring meg på 98765432", "ringte om faktura")))
    assert f"Added 0 enquiries to test-launch in {shown(db.url)}; 5 were already there (skipped)." in changed.stdout


def test_identical_rows_are_separate_enquiries(db: Database, launch: Launch, tmp_path: Path) -> None:
    row = "2026-11-16T09:00:00+01:00,a,phone,private,same words,\n"
    path = write(tmp_path, HEADER + row + row)
    assert run_import(db.url, path).exit_code == 0
    assert counts(db, launch).by_hypothesis[hypothesis_ids(db, launch)["a"]] == 2
    # One more identical row on paper: one more enquiry, the first two stay as they were.
    path.write_text(HEADER + row + row + row, encoding="utf-8")
    assert "Added 1 enquiries" in run_import(db.url, path).stdout
    assert len({r.idempotency_key for r in stored(db)}) == 3


def test_a_bad_row_imports_nothing_and_is_named_by_file_and_line(db: Database, launch: Launch, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "2026-11-16T09:42:00+01:00,a,phone,private,,\n"
        + '2026-11-16T09:50:00+01:00,b,chat,,"a note\nover two lines",\n'
        + "2026-11-16T10:00:00+01:00,x,phone,private,,\n"
        + "2026-11-16T10:30:00+01:00,,phone,,,\n",
    )
    result = run_import(db.url, path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:5: hypotheses: unknown hypothesis key 'x' for launch test-launch (its keys: a, b); "
        "separate keys with ';', leave it empty for other",
        "Nothing was imported.",
    ]
    assert stored(db) == []


TOO_LONG = "x" * 501


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        (",a,phone,,,", "occurred_at", "missing: give when the enquiry came in, such as 2026-11-18T09:42:00+01:00"),
        ("18.11.2026 09:42,a,phone,,,", "occurred_at", "'18.11.2026 09:42' is not an ISO 8601 time such as"),
        (
            "2026-11-18T09:42:00,a,phone,,,",
            "occurred_at",
            "'2026-11-18T09:42:00' has no UTC offset: add one, such as 2026-11-18T09:42:00+01:00 for that time in "
            "the launch's time zone (Europe/Oslo)",
        ),
        (
            "2026-11-15T23:59:00+01:00,a,phone,,,",
            "occurred_at",
            "2026-11-15T23:59:00+01:00 is outside launch test-launch, which runs from 2026-11-16 to",
        ),
        (
            "2026-11-20T13:01:00+01:00,a,phone,,,",
            "occurred_at",
            "2026-11-20T13:01:00+01:00 is in the future (it is now 2026-11-20 13:00 in Europe/Oslo)",
        ),
        (
            "2026-11-18T09:42:00+01:00,a;c,phone,,,",
            "hypotheses",
            "hypothesis 'c' was retired from launch test-launch: bring it back first, or count the enquiry as other",
        ),
        (
            "2026-11-18T09:42:00+01:00,a,fax,,,",
            "channel",
            "unknown channel 'fax' for launch test-launch; it offers phone, chat, email, social",
        ),
        ("2026-11-18T09:42:00+01:00,a,,,,", "channel", "missing: give one of phone, chat, email, social"),
        ("2026-11-18T09:42:00+01:00,a,phone,vip,,", "segment", "unknown segment 'vip' for launch test-launch"),
        (f"2026-11-18T09:42:00+01:00,a,phone,,{TOO_LONG},", "note", "The note is 501 characters long; keep it to 500"),
        ("2026-11-18T09:42:00+01:00,a,phone,,,0", "count", "'0' is not a whole number from 1 to 10000"),
        ("2026-11-18T09:42:00+01:00,a,phone,,,2.5", "count", "'2.5' is not a whole number from 1 to 10000"),
        (
            "2026-11-18T09:42:00+01:00,a,phone,,,10001",
            "count",
            "10001 is more than 10000, the most one row may stand for: split it over several rows",
        ),
        ("2026-11-18T09:42:00+01:00,a,phone,,note, with a comma,", "row", "7 values, but the header names 6 columns"),
    ],
)
def test_each_check_names_the_line_and_column(
    db: Database, launch: Launch, tmp_path: Path, row: str, column: str, message: str
) -> None:
    path = write(tmp_path, HEADER + "2026-11-16T09:42:00+01:00,a,phone,private,,\n" + row + "\n")
    result = run_import(db.url, path)
    assert result.exit_code == 1
    [problem, nothing] = result.stderr.splitlines()
    assert problem.startswith(f"{path}:3: {column}: {message}"), problem
    assert nothing == "Nothing was imported."
    assert "Traceback" not in result.output
    assert stored(db) == []


def test_every_problem_of_every_row_is_reported(db: Database, launch: Launch, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "2026-11-16T09:42:00+01:00,zz,fax,,,\n"
        + "\n"  # blank lines and a spreadsheet's empty rows are skipped, but still counted as lines
        + ",,,,,\n"
        + "nope,a,phone,,,-1\n",
    )
    result = run_import(db.url, path)
    assert [line.split(": ")[0:2] for line in result.stderr.splitlines()] == [
        [f"{path}:2", "hypotheses"],
        [f"{path}:2", "channel"],
        [f"{path}:5", "occurred_at"],
        [f"{path}:5", "count"],
        ["Nothing was imported."],
    ]


@pytest.mark.parametrize(
    ("content", "column", "message"),
    [
        (b"", "file", "the file is empty: it needs a header row (occurred_at,hypotheses,channel,segment,note[,count])"),
        (
            b"when,hypotheses,channel,note,extra\n",
            "header",
            "missing occurred_at, segment; unknown 'when', 'extra'. The header must be: "
            "occurred_at,hypotheses,channel,segment,note[,count] (in any order)",
        ),
        (b"occurred_at;hypotheses;channel;segment;note\n", "header", "separated by semicolons: save the file with"),
        (b"occurred_at,hypotheses,channel,segment,note,note\n", "header", "named twice note."),
        (
            "occurred_at,hypotheses,channel,segment,note\n2026-11-16T09:00:00+01:00,,phone,,kunden på tlf\n".encode(
                "latin-1"
            ),
            "encoding",
            "the file is not UTF-8 (byte 0xE5 on this line): save it as UTF-8",
        ),
        ("occurred_at,hypotheses".encode("utf-16"), "encoding", "the file is UTF-16 text, not UTF-8"),
    ],
)
def test_file_level_problems(
    db: Database, launch: Launch, tmp_path: Path, content: bytes, column: str, message: str
) -> None:
    path = tmp_path / "paper.csv"
    path.write_bytes(content)
    result = run_import(db.url, path)
    assert result.exit_code == 1
    [problem, nothing] = result.stderr.splitlines()
    line = 2 if column == "encoding" and b"\n" in content else 1
    assert problem.startswith(f"{path}:{line}: {column}: ") and message in problem, problem
    assert nothing == "Nothing was imported."


def test_a_byte_order_mark_and_any_column_order_are_fine(db: Database, launch: Launch, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "\ufeffNote,Channel,Occurred_at,Hypotheses,Segment\r\nvia Excel,phone,2026-11-16T09:00:00+01:00,b,\r\n".encode()
    )
    result = run_import(db.url, path)
    assert result.exit_code == 0, result.output
    assert [(r.note, r.channel) for r in stored(db)] == [("via Excel", "phone")]


def test_a_header_without_rows_imports_nothing_quietly(db: Database, launch: Launch, tmp_path: Path) -> None:
    result = run_import(db.url, write(tmp_path, HEADER))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "Read 0 rows (0 enquiries)."


def test_unknown_launch_is_one_line(db: Database, launch: Launch, tmp_path: Path) -> None:
    result = run_import(db.url, write(tmp_path, PAPER), slug="nope")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "No launch with slug 'nope'. GET /api/v1/launches lists the live ones; "
        "`tally hypotheses import` creates one from a file."
    ]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("status", [LaunchStatus.DRAFT, LaunchStatus.CLOSED])
def test_draft_and_closed_launches_take_an_import(db: Database, tmp_path: Path, status: LaunchStatus) -> None:
    launch = make_launch(db, hypotheses=("a", "b"), status=status)
    assert run_import(db.url, write(tmp_path, PAPER)).exit_code == 0
    assert counts(db, launch).total == 5


def test_a_large_file_goes_in_chunks_in_one_transaction(
    db: Database, launch: Launch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "CHUNK", 7)
    lines = [f"2026-11-{16 + i % 4}T{9 + i % 8:02}:{i % 60:02}:00+01:00,a,phone,,,{1 + i % 3}" for i in range(30)]
    path = write(tmp_path, HEADER + "\n".join(lines) + "\n")
    result = run_import(db.url, path)
    assert result.exit_code == 0, result.output
    expected = sum(1 + i % 3 for i in range(30))
    assert f"Added {expected} enquiries" in result.stdout
    assert counts(db, launch).total == expected
    assert len({r.idempotency_key for r in stored(db)}) == expected


def test_a_failure_while_writing_rolls_everything_back(
    db: Database, launch: Launch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "CHUNK", 2)
    calls = 0
    original = insert_many

    def fail_on_third_chunk(connection: sa.Connection, items: list[NewEnquiry]) -> list[Recorded]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the disk is full")
        return original(connection, items)

    monkeypatch.setattr(imports, "insert_many", fail_on_third_chunk)
    with pytest.raises(RuntimeError):
        imports.import_rows(
            db,
            launch=launch,
            rows=imports.parse(PAPER.encode(), name="paper.csv", launch=launch, hypotheses=_hypotheses(db), now=NOW),
            now=NOW,
            actor="test",
            source_name="paper.csv",
        )
    assert stored(db) == []


def _hypotheses(db: Database) -> list[Hypothesis]:
    with db.session() as session:
        return list(session.exec(select(Hypothesis)))


# --- the database: brought up to date first; caches made stale ------------------------------


@pytest.fixture
def empty_url(tmp_path: Path, postgres: ThrowawayPostgres | None) -> str:
    """A database just made: on PostgreSQL, by createdb; on SQLite, an empty file (where none is, `tally`
    makes none: that is `tally db upgrade`'s)."""
    if postgres is not None:
        return postgres.new_database()
    (tmp_path / "fresh.db").touch()
    return f"sqlite:///{tmp_path / 'fresh.db'}"


def test_a_fresh_database_is_migrated_first(empty_url: str, tmp_path: Path) -> None:
    off = run_import(empty_url, write(tmp_path, PAPER), env={"TALLY_AUTO_MIGRATE": "false"})
    assert off.exit_code == 1 and "run `tally db upgrade` first" in off.stderr

    first = run_import(empty_url, write(tmp_path, PAPER))
    assert first.exit_code == 1 and first.stderr.startswith("No launch with slug 'test-launch'.")
    fresh = Database(empty_url)
    try:
        assert migrations.current_revision(fresh) == migrations.head_revision()
        launch = make_launch(fresh, hypotheses=("a", "b"))
        result = run_import(empty_url, write(tmp_path, PAPER))
        assert result.exit_code == 0, result.output
        assert counts(fresh, launch).total == 5
    finally:
        fresh.dispose()


def _key_before_0020(launch: Launch, line: str, occurrence: int, number: int) -> str:
    """An imported enquiry's key as it was made until migration 0020: from the scrubbed note too."""
    occurred_at, hypotheses, channel, segment, note, _ = line.split(",")
    moment = dt.datetime.fromisoformat(occurred_at).astimezone(dt.UTC).isoformat()
    keys = sorted(key for key in hypotheses.split(";") if key)
    cleaned = clean_note(note or None, now=NOW) or ""
    content = json.dumps(
        [launch.slug, moment, keys, channel, segment, cleaned], ensure_ascii=False, separators=(",", ":")
    )
    return "imp:" + hashlib.sha256(f"{content}\n{occurrence}".encode()).hexdigest()[:40] + f":{number}"


def test_rows_imported_before_the_keys_left_the_notes_out_are_known_after_the_upgrade(
    empty_url: str, tmp_path: Path
) -> None:
    """Migration 0020 makes the keys of rows imported before again, without their notes: the file
    they came from adds nothing, an "other" row a re-link moved since included, and no stored key is
    made from a note any more."""
    lines = [
        "2026-11-16T09:42:00+01:00,a,phone,private,,",
        "2026-11-16T10:05:00+01:00,,chat,,kunden vil ha faktura på e-post,",
        "2026-11-16T10:05:00+01:00,,chat,,ring meg på 98765432,2",  # same content but the note
        "2026-11-17T08:15:00Z,b,email,business,,3",
    ]
    database = Database(empty_url)
    try:
        migrations.upgrade(database, "0019")
        launch = make_launch(database, hypotheses=("a", "b"))
        ids = hypothesis_ids(database, launch)
        old_keys: list[str] = []
        items = []
        for line in lines:
            occurred_at, hypotheses, channel, segment, note, count = line.split(",")
            for number in range(1, int(count or 1) + 1):
                old_keys.append(_key_before_0020(launch, line, 1, number))
                items.append(
                    NewEnquiry(
                        launch_id=launch.id or 0,
                        channel=channel,
                        segment=segment or None,
                        created_at=dt.datetime.fromisoformat(occurred_at).astimezone(dt.UTC),
                        hypothesis_ids=tuple(ids[key] for key in hypotheses.split(";") if key),
                        note=clean_note(note or None, now=NOW),
                        idempotency_key=old_keys[-1],
                        source=EnquirySource.IMPORT,
                        recorded_at=NOW,
                    )
                )
        with database.write_connection() as connection:
            insert_many(connection, items)
        with database.transaction() as session:
            fresh = session.get(Launch, launch.id)
            b = session.exec(select(Hypothesis).where(Hypothesis.key == "b")).one()
            assert fresh is not None
            # Its id alone: the model has columns of later revisions than this database's 0019.
            moved = session.exec(select(Enquiry.id).where(col(Enquiry.note).is_not(None))).first()
            assert moved is not None
            relink.relink(session, fresh, b, [moved], actor="lena", now=NOW)

        result = run_import(empty_url, write(tmp_path, HEADER + "\n".join(lines) + "\n"))
        assert result.exit_code == 0, result.output
        said = f"Added 0 enquiries to test-launch in {shown(empty_url)}; 7 were already there (skipped)."
        assert said in result.stdout
        assert migrations.current_revision(database) == migrations.head_revision()
        assert not {r.idempotency_key for r in stored(database)} & set(old_keys)
        # A count raised since adds only the difference, under the new keys.
        raised = run_import(empty_url, write(tmp_path, HEADER + "\n".join(lines)[:-1] + "5\n"))
        said = f"Added 2 enquiries to test-launch in {shown(empty_url)}; 7 were already there (skipped)."
        assert said in raised.stdout
    finally:
        database.dispose()


def version_of(db: Database, launch: Launch) -> int:
    with db.session() as session:
        fresh = session.get(Launch, launch.id)
        assert fresh is not None
        return fresh.counts_version


def test_counts_cached_for_a_closed_day_are_stale_after_the_import_in_every_process(
    db: Database, launch: Launch, tmp_path: Path
) -> None:
    log(db, launch, "a", at=dt.datetime(2026, 11, 17, 9, 0, tzinfo=dt.UTC))
    first = Database(db.url)  # one process, with its memory cache…
    try:
        before = counts(first, launch, now=NOW)
        assert before.total == 1
        version = version_of(first, launch)
        assert first.memo[tallies.DAY_CACHE_KEY].get((launch.id, "Europe/Oslo", dt.date(2026, 11, 17), version))
        with first.session() as session:
            kept = session.execute(sa.text("SELECT count(*) FROM day_tally")).scalar_one()
        assert kept >= 4  # 16–19 November are closed at NOW, and kept for every process

        result = run_import(db.url, write(tmp_path, HEADER + "2026-11-17T14:00:00+01:00,a;b,chat,,,2\n"))
        assert result.exit_code == 0, result.output

        second = Database(db.url)  # … and another one that starts after the import
        try:
            ids = hypothesis_ids(db, launch)
            for database in (second, first):
                after = counts(database, launch, now=NOW)
                assert (after.total, after.by_hypothesis[ids["a"]], after.by_hypothesis[ids["b"]]) == (3, 3, 2)
                assert after.by_channel["chat"] == 2
        finally:
            second.dispose()
        assert version_of(first, launch) > version
    finally:
        first.dispose()
