"""Alembic migrations are the only way the schema is made, and they agree with the models."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

from app import migrations
from app.cli import prepare_database
from app.db import Database
from app.models import Hypothesis, HypothesisStatus
from tests.conftest import PG_SKIP_REASON, ThrowawayPostgres, make_settings
from tests.factories import make_launch
from tests.processes import START_TIMEOUT, _spawn


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path, postgres: ThrowawayPostgres | None) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    elif postgres is None:
        pytest.skip(PG_SKIP_REASON)
    else:
        url = postgres.new_database()
    db = Database(url)
    yield db
    db.dispose()


def test_migrations_create_exactly_the_models(empty_db: Database) -> None:
    migrations.upgrade(empty_db)
    with empty_db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == [], "models and migrations disagree: write a migration (see docs/architecture.md)"
    assert migrations.current_revision(empty_db) == migrations.head_revision()


def test_the_version_before_still_reads_launches_after_the_latest_migration(empty_db: Database) -> None:
    """Replicas are upgraded one at a time after the migration ran: the columns the version before
    reads must all still be there (0018 renamed live_since at first, which failed every query of
    theirs on a launch), and a launch that went live keeps its time in both."""
    migrations.upgrade(empty_db, "0017")
    with empty_db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO launch (slug, name, product_area, starts_on, ends_on, timezone, digest_times, "
                "channels, segments, status, live_since, created_at, updated_at) VALUES ('x', 'X', '', "
                "'2026-11-16', '2026-12-07', 'Europe/Oslo', '[]', '[]', '[]', 'live', "
                "'2026-11-16 08:00:00.000000', '2026-11-01 00:00:00.000000', '2026-11-01 00:00:00.000000')"
            )
        )
        before = {c["name"] for c in sa.inspect(connection).get_columns("launch")}
    migrations.upgrade(empty_db)
    with empty_db.engine.connect() as connection:
        after = {c["name"] for c in sa.inspect(connection).get_columns("launch")}
        both = connection.execute(sa.text("SELECT live_since, digests_due_from FROM launch")).one()
    assert before <= after
    assert both[0] is not None and str(both[0]) == str(both[1])


def test_downgrade_to_nothing_and_up_again(empty_db: Database) -> None:
    migrations.upgrade(empty_db)
    migrations.downgrade(empty_db, "base")
    assert set(sa.inspect(empty_db.engine).get_table_names()) <= {"alembic_version"}
    migrations.upgrade(empty_db)
    assert "enquiry" in sa.inspect(empty_db.engine).get_table_names()


def test_upgrade_twice_is_harmless(empty_db: Database) -> None:
    migrations.upgrade(empty_db)
    migrations.upgrade(empty_db)
    assert migrations.current_revision(empty_db) == migrations.head_revision()


def test_two_upgrades_at_once_say_that_only_one_of_them_upgraded(
    tmp_path: Path, postgres: ThrowawayPostgres | None
) -> None:
    """Each read the revision before taking the migration lock: both said "schema: empty -> 0022"."""
    if postgres is None:
        pytest.skip(PG_SKIP_REASON)
    url = postgres.new_database()
    holder = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with holder.connect() as held:
        # Both start while the lock is held, so both have read the database before either upgrades.
        held.exec_driver_sql(f"SELECT pg_advisory_lock({migrations.MIGRATION_LOCK_ID})")
        upgrades = [_spawn(["db", "upgrade"], env={"TALLY_DATABASE_URL": url}, cwd=tmp_path) for _ in range(2)]
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        deadline = time.monotonic() + START_TIMEOUT  # a bound, not a timing assertion
        while held.exec_driver_sql(waiting).scalar() != 2:
            assert time.monotonic() < deadline and all(u.poll() is None for u in upgrades), "not both waiting"
        held.exec_driver_sql(f"SELECT pg_advisory_unlock({migrations.MIGRATION_LOCK_ID})")
        said = sorted(u.communicate(timeout=START_TIMEOUT)[0].strip() for u in upgrades)
    holder.dispose()
    head = migrations.head_revision()
    assert said == [f"schema already at {head}", f"schema: empty -> {head}"]


def test_serving_a_new_sqlite_file_creates_its_folder_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "tally.db"
    prepare_database(make_settings(f"sqlite:///{path}"))
    db = Database(f"sqlite:///{path}")
    assert "launch" in sa.inspect(db.engine).get_table_names()
    assert migrations.current_revision(db) == migrations.head_revision()
    db.dispose()


def test_cli_db_upgrade_creates_the_schema_then_has_nothing_to_do(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from app.cli import cli

    url = f"sqlite:///{tmp_path / 'new' / 'tally.db'}"
    head = migrations.head_revision()
    first = CliRunner().invoke(cli, ["db", "upgrade"], env={"TALLY_DATABASE_URL": url})
    assert first.exit_code == 0 and first.output.strip() == f"schema: empty -> {head}", first.output
    second = CliRunner().invoke(cli, ["db", "upgrade"], env={"TALLY_DATABASE_URL": url})
    assert second.exit_code == 0 and second.output.strip() == f"schema already at {head}", second.output
    # A revision that does not exist is one line, not alembic's traceback; an older one says why nothing happened.
    unknown = CliRunner().invoke(cli, ["db", "upgrade", "9999"], env={"TALLY_DATABASE_URL": url})
    assert unknown.exit_code == 1 and "Cannot upgrade to '9999'" in unknown.output and "Traceback" not in unknown.output
    older = CliRunner().invoke(cli, ["db", "upgrade", "0005"], env={"TALLY_DATABASE_URL": url})
    assert older.output.strip() == f"schema already at {head} (a later revision than 0005: there are no downgrades)"
    # And which database that was.
    current = CliRunner().invoke(cli, ["db", "current"], env={"TALLY_DATABASE_URL": url})
    assert f"database: {head} ({(tmp_path / 'new' / 'tally.db').resolve()})" in current.output, current.output
    db = Database(url)
    try:
        with db.engine.connect() as connection:
            assert not compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    finally:
        db.dispose()


FUTURE = "0099_from_a_newer_version"


@pytest.fixture
def newer_database(tmp_path: Path) -> Iterator[str]:
    """A SQLite database a newer Launch Tally upgraded: its revision is one this code lacks (an image
    rolled back after its upgrade ran)."""
    url = f"sqlite:///{tmp_path / 'tally.db'}"
    db = Database(url)
    migrations.upgrade(db)
    with db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = :future"), {"future": FUTURE})
    db.dispose()
    yield url
    db = Database(url)
    try:
        assert migrations.current_revision(db) == FUTURE, "left as it was"
    finally:
        db.dispose()


NEWER = (
    f"The database is at schema revision {FUTURE}, which this version of Launch Tally does not know (its newest "
    f"is {migrations.head_revision()}): a newer version upgraded it. Run that version, or restore a backup made "
    "before the upgrade."
)


@pytest.mark.parametrize(
    ("args", "auto_migrate"),
    [
        (["db", "upgrade"], "true"),
        (["users", "list"], "true"),
        (["users", "list"], "false"),
        (["serve", "--no-scheduler"], "true"),
        (["serve", "--no-scheduler"], "false"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else f"auto-migrate {value}",
)
def test_a_database_upgraded_by_a_newer_version_is_said_as_such(
    newer_database: str, args: list[str], auto_migrate: str
) -> None:
    """Alembic's "Can't locate revision" ended every verb in a traceback with TALLY_AUTO_MIGRATE on; off,
    and from `tally db upgrade`, the advice was to upgrade, which cannot help."""
    import socket

    from typer.testing import CliRunner

    from app.cli import cli

    with socket.socket() as probe:  # a free port, for serve: it must stop before listening on it
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    env = {
        "TALLY_DATABASE_URL": newer_database,
        "TALLY_AUTO_MIGRATE": auto_migrate,
        "TALLY_BASE_URL": "http://127.0.0.1:8765",  # set, so that serve does not set it in this process
    }
    result = CliRunner().invoke(cli, [*args, *(["--port", port] if args[0] == "serve" else [])], env=env)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert result.stderr.strip() == NEWER


def test_0021_clears_fix_times_kept_with_a_status_that_says_no_fix_shipped(empty_db: Database) -> None:
    """An earlier version let an open, confirmed or not-seen hypothesis keep a fix time: the pages and
    the digest reported that fix, and setting the status to fix shipped took the old time back."""
    migrations.upgrade(empty_db, "0020")
    launch = make_launch(empty_db, hypotheses=("a", "b", "c", "d"))
    shipped = dt.datetime(2026, 11, 17, 9, 0, tzinfo=dt.UTC)
    statuses = {
        "a": HypothesisStatus.OPEN,
        "b": HypothesisStatus.NOT_SEEN,
        "c": HypothesisStatus.FIX_SHIPPED,
        "d": HypothesisStatus.RESOLVED,
    }
    with empty_db.transaction() as session:
        for h in session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id)):
            h.status, h.fix_shipped_at = statuses[h.key], shipped
            session.add(h)
    migrations.upgrade(empty_db)
    with empty_db.session() as session:
        kept = {
            h.key: h.fix_shipped_at for h in session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id))
        }
    assert kept == {"a": None, "b": None, "c": shipped, "d": shipped}


def test_0023_marks_the_notes_of_enquiries_stored_before_it_as_maybe_erased(empty_db: Database) -> None:
    """Whether a note was erased before 0023 is not known: an enquiry of the last two days without one
    keeps being matched as it was (a retry's note not compared); one with a note is compared; older ones,
    which no client retries, are not rewritten (marking every enquiry without a note rewrote nearly the
    whole table)."""
    migrations.upgrade(empty_db, "0022")
    launch = make_launch(empty_db)
    rows = (
        ("without", None, "2026-11-18 09:00:00.000000"),
        ("with", "asks about the fee", "2026-11-18 09:00:00.000000"),
        ("old", None, "2026-11-15 09:00:00.000000"),
        ("no key", None, "2026-11-18 09:00:00.000000"),
    )
    with empty_db.engine.begin() as connection:
        for key, note, at in rows:
            connection.execute(
                sa.text(
                    "INSERT INTO enquiry (launch_id, channel, created_at, note, is_other, idempotency_key, source) "
                    "VALUES (:launch, 'phone', :at, :note, :other, :key, 'api')"
                ),
                {"launch": launch.id, "note": note, "other": True, "key": None if key == "no key" else key, "at": at},
            )
    with time_machine.travel(dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC), tick=False):
        migrations.upgrade(empty_db)
    with empty_db.engine.connect() as connection:
        found = connection.execute(sa.text("SELECT idempotency_key, note, note_erased_at FROM enquiry")).all()
    marked = {str(key) if key else "no key": erased_at is not None for key, _, erased_at in found}
    assert marked == {"without": True, "with": False, "old": False, "no key": False}
