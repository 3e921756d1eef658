"""The database layer: SQLite tuned for many writers, aware UTC times, both backends."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import select

from app import db as db_module
from app import deps
from app.config import Settings
from app.db import CATCH_UP_PASSES, Database, UTCDateTime, checkpoint, checkpoint_until
from app.main import create_app
from app.models import AuditEvent, Launch
from app.recording.store import Store
from tests.conftest import ThrowawayPostgres, make_settings
from tests.factories import T0, make_launch


@pytest.fixture
def sqlite_db(db: Database) -> Database:
    if not db.is_sqlite:
        pytest.skip("SQLite-specific: this run uses PostgreSQL")
    return db


def test_sqlite_pragmas(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as connection:

        def pragma(name: str) -> object:
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

        assert pragma("journal_mode") == "wal"
        assert int(str(pragma("busy_timeout"))) >= 5000
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("foreign_keys") == 1
        assert pragma("temp_store") == 2  # MEMORY: no temporary files


def test_the_group_commit_writer_has_its_own_connection_set_up_once(sqlite_db: Database) -> None:
    with sqlite_db.try_write() as writer_cursor:
        assert writer_cursor is not None
        cursor = writer_cursor
        connection = cursor.connection

        def pragma(name: str) -> object:
            return cursor.execute(f"PRAGMA {name}").fetchone()[0]

        # The writer polls a busy lock itself and leaves checkpoints to the checkpointer thread.
        assert pragma("busy_timeout") == 0
        assert pragma("wal_autocheckpoint") == 0
        # NORMAL, not OFF: the header sync after the WAL starts over keeps a power cut from corrupting it.
        assert (pragma("journal_mode"), pragma("synchronous"), pragma("foreign_keys"), pragma("temp_store")) == (
            "wal",
            1,
            1,
            2,
        )
        assert connection.in_transaction  # BEGIN IMMEDIATE
        cursor.execute(
            "INSERT INTO audit_event (at, actor, action, target_type, target_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
            ("2026-11-18 10:00:00.000000", "test", "test.kept", "test", "1", "{}"),
        )
    with sqlite_db.try_write() as again:
        assert again is not None and again.connection is connection  # kept, not taken from the pool each time
    with sqlite_db.session() as session:
        assert [e.action for e in session.exec(select(AuditEvent))] == ["test.kept"]  # committed
    sqlite_db.dispose()
    with pytest.raises(sqlite3.ProgrammingError):
        connection.execute("SELECT 1")  # closed with the database


def test_the_writer_connection_rolls_back_a_failed_batch(sqlite_db: Database) -> None:
    def failing_batch() -> None:
        with sqlite_db.try_write() as cursor:
            assert cursor is not None
            cursor.execute(
                "INSERT INTO audit_event (at, actor, action, target_type, target_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
                ("2026-11-18 10:00:00.000000", "test", "test.lost", "test", "1", "{}"),
            )
            raise RuntimeError("the batch failed")

    with pytest.raises(RuntimeError):
        failing_batch()
    with sqlite_db.session() as session:
        assert session.exec(select(AuditEvent)).all() == []
    with sqlite_db.try_write() as cursor:
        assert cursor is not None  # and the connection is usable again


def test_the_writer_connection_is_busy_while_another_thread_uses_it(sqlite_db: Database) -> None:
    seen: list[object] = []
    with sqlite_db.try_write() as cursor:
        assert cursor is not None

        def other_thread() -> None:
            with sqlite_db.try_write() as other:
                seen.append(other)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert seen == [None]


def test_write_sessions_take_the_write_lock_at_begin(sqlite_db: Database) -> None:
    path = str(sqlite_db.engine.url.database)
    with sqlite_db.session(write=True) as session:
        session.exec(select(Launch)).all()  # only a read so far
        other = sqlite3.connect(path, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    # A read session does not hold it.
    with sqlite_db.session() as session:
        session.exec(select(Launch)).all()
        other = sqlite3.connect(path, timeout=0)
        other.execute("BEGIN IMMEDIATE")
        other.rollback()
        other.close()


def test_concurrent_read_then_write_transactions_all_succeed(db: Database) -> None:
    launch = make_launch(db)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(25):
                with db.transaction() as session:
                    seen = len(session.exec(select(AuditEvent)).all())
                    session.add(
                        AuditEvent(
                            actor=f"w{n}",
                            action="test",
                            target_type="launch",
                            target_id=str(launch.id),
                            detail={"seen": seen, "i": i},
                        )
                    )
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.session() as session:
        assert len(session.exec(select(AuditEvent)).all()) == 150


def test_datetimes_come_back_aware_utc_and_naive_ones_are_refused(db: Database) -> None:
    launch = make_launch(db)
    oslo = dt.timezone(dt.timedelta(hours=1))
    with db.transaction() as session:
        session.add(
            AuditEvent(at=T0.astimezone(oslo), actor="x", action="a", target_type="launch", target_id=str(launch.id))
        )
    with db.session() as session:
        event = session.exec(select(AuditEvent)).one()
    assert event.at == T0 and event.at.tzinfo == dt.UTC
    naive = dt.datetime(2026, 1, 1)  # noqa: DTZ001 - the mistake under test
    with db.transaction() as session:
        session.add(AuditEvent(at=naive, actor="x", action="a", target_type="t", target_id="1"))
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            session.flush()
        session.rollback()


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 29, 2, 30, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(999, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
    ],
)
def test_the_hot_path_stores_times_exactly_as_sqlalchemy_does(sqlite_db: Database, moment: dt.datetime) -> None:
    """Plain SQL and the ORM must write the same text, or range comparisons on created_at disagree."""
    with sqlite_db.engine.connect() as connection:
        stored_by_orm = connection.execute(
            sa.select(sa.cast(sa.bindparam("at", moment, type_=UTCDateTime()), sa.String))
        ).scalar_one()
    assert Store(None, sqlite=True)._time(moment) == stored_by_orm


def _wal_frames(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def _write(connection: sqlite3.Connection, times: int) -> None:
    """Write transactions as the app makes them: the write lock first."""
    for n in range(times):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO audit_event (at, actor, action, target_type, target_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
            ("2026-11-18 10:00:00.000000", "test", "test.write", "test", str(n), "{}"),
        )
        connection.execute("COMMIT")


def test_the_checkpointer_starts_a_long_wal_over(sqlite_db: Database) -> None:
    """Under steady writes a passive checkpoint never lets the WAL start over (the benchmark saw it grow
    by 100 MB a second); past a limit the checkpointer asks for a RESTART, which makes the next writer
    start it over."""
    writer = sqlite3.connect(str(sqlite_db.engine.url.database), isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    checkpointer = sqlite3.connect(str(sqlite_db.engine.url.database), timeout=0, isolation_level=None)
    statements: list[str] = []
    checkpointer.set_trace_callback(statements.append)
    _write(writer, 30)

    checkpoint(checkpointer, restart_after=1_000)
    assert statements == ["PRAGMA wal_checkpoint(PASSIVE)"]  # short: copied, nothing more

    _write(writer, 30)
    statements.clear()
    checkpoint(checkpointer, restart_after=10)
    assert "PRAGMA wal_checkpoint(RESTART)" in statements
    assert checkpointer.execute("PRAGMA busy_timeout").fetchone()[0] == 0  # never waits in a passive pass
    _write(writer, 1)
    assert _wal_frames(checkpointer) <= 5  # started over
    writer.close()
    checkpointer.close()


@pytest.mark.parametrize("outpaced", [False, True], ids=["catches-up", "writers-outpace-it"])
def test_the_checkpointer_catches_up_before_it_makes_writers_wait(sqlite_db: Database, outpaced: bool) -> None:
    """A RESTART copies what is left while every writer waits: the checkpointer first copies, pass after
    pass, what writers added during the pass before, until little came in."""
    path = str(sqlite_db.engine.url.database)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    checkpointer = sqlite3.connect(path, timeout=0, isolation_level=None)
    _write(writer, 30)
    # A reader keeps the WAL from starting over between passes, as writers arriving all the time
    # would; it finishes when the RESTART comes.
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM audit_event").fetchall()
    statements: list[str] = []

    def writers_keep_writing(statement: str) -> None:
        statements.append(statement)
        if statement == "PRAGMA wal_checkpoint(PASSIVE)" and (outpaced or len(statements) <= 3):
            _write(writer, 10)  # ~10 frames added during each pass (the first three, or all)
        if statement == "PRAGMA wal_checkpoint(RESTART)":
            reader.execute("COMMIT")

    checkpointer.set_trace_callback(writers_keep_writing)
    checkpoint(checkpointer, restart_after=10, catch_up=5)
    # Until a pass saw fewer than 5 frames come in; or, with writers outpacing it, a few passes.
    assert statements.count("PRAGMA wal_checkpoint(PASSIVE)") == (1 + CATCH_UP_PASSES if outpaced else 4)
    assert statements[-2:] == ["PRAGMA wal_checkpoint(RESTART)", "PRAGMA busy_timeout=0"]
    checkpointer.set_trace_callback(None)
    _write(writer, 1)
    assert _wal_frames(checkpointer) <= 5  # started over
    for connection in (reader, writer, checkpointer):
        connection.close()


def test_the_checkpointer_gives_way_to_a_long_write(sqlite_db: Database) -> None:
    writer = sqlite3.connect(str(sqlite_db.engine.url.database), isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    checkpointer = sqlite3.connect(str(sqlite_db.engine.url.database), timeout=0, isolation_level=None)
    _write(writer, 30)
    writer.execute("BEGIN IMMEDIATE")  # a writer holds the lock longer than the checkpointer waits
    checkpoint(checkpointer, restart_after=10)  # neither raises nor blocks for long
    writer.execute("COMMIT")
    assert _wal_frames(checkpointer) > 30  # not started over: the next pass will
    writer.close()
    checkpointer.close()


def test_the_checkpointer_passes_four_times_a_second(sqlite_db: Database) -> None:
    """Once a second, a pass copied ~22,000 frames at ~3,000 enquiries a second and the requests due
    meanwhile made the p99; four smaller passes a second halved it (docs/benchmarks.md, 4 December)."""
    writer = sqlite3.connect(str(sqlite_db.engine.url.database), isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    checkpointer = sqlite3.connect(str(sqlite_db.engine.url.database), timeout=0, isolation_level=None)
    statements: list[str] = []
    checkpointer.set_trace_callback(statements.append)
    waits: list[float] = []

    def stopped(seconds: float) -> bool:  # a stop event's wait: set on the third
        waits.append(seconds)
        _write(writer, 5)
        return len(waits) == 3

    checkpoint_until(stopped, checkpointer, every=db_module.CHECKPOINT_EVERY)
    assert waits == [0.25, 0.25, 0.25]
    assert statements == ["PRAGMA wal_checkpoint(PASSIVE)"] * 2  # a pass after each wait but the last
    assert _wal_frames(checkpointer) <= 10  # the third wait's writes only: the others were copied
    writer.close()
    checkpointer.close()


def test_a_running_app_checkpoints_its_own_file(
    sqlite_db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpointer runs while the app does (its writer never checkpoints), at the cadence above."""
    runs: list[tuple[str, float]] = []
    started, ended = threading.Event(), threading.Event()

    def checkpointer(stopped: Callable[[float], bool], connection: sqlite3.Connection, *, every: float) -> None:
        [path] = [row[2] for row in connection.execute("PRAGMA database_list") if row[1] == "main"]
        runs.append((path, every))
        started.set()
        if stopped(60):  # returns when the app stops
            ended.set()

    monkeypatch.setattr(db_module, "checkpoint_until", checkpointer)
    app = create_app(settings, db=sqlite_db)
    assert not started.is_set()
    with TestClient(app):
        assert started.wait(10)
        assert not ended.is_set()
    assert ended.is_set()  # stopping the app stopped and joined it
    assert runs == [(str(sqlite_db.engine.url.database), 0.25)]


# --- the PostgreSQL writer's connection, on the event loop ---------------------------------


@pytest.fixture
def pg_db(db: Database, pg: ThrowawayPostgres) -> Database:
    return db


def _rows(sql: str) -> Callable[[Any], list[Any]]:
    return lambda cursor: cursor.execute(sql).fetchall()


def test_a_postgresql_batch_leaves_the_event_loop_free_while_the_server_works(pg_db: Database) -> None:
    async def scenario() -> bool:
        batch = asyncio.ensure_future(pg_db.run_pg_write(_rows("SELECT pg_sleep(0.5)")))
        await asyncio.sleep(0.05)  # a loop the batch blocked would come back here only once it ended
        ran_meanwhile = not batch.done()
        await batch
        return ran_meanwhile

    assert asyncio.run(scenario())


def test_the_postgresql_writer_connection_has_its_timeouts(pg: ThrowawayPostgres) -> None:
    database = Database(pg.url, statement_timeout=1.5)
    try:
        settings = asyncio.run(
            database.run_pg_write(
                _rows(
                    "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), "
                    "current_setting('idle_in_transaction_session_timeout')"
                )
            )
        )
        assert settings == [("1500ms", "1500ms", "4500ms")]
        with pytest.raises(psycopg.errors.QueryCanceled):  # a statement past the timeout is stopped
            asyncio.run(database.run_pg_write(_rows("SELECT pg_sleep(3)")))
        assert asyncio.run(database.run_pg_write(_rows("SELECT 1"))) == [(1,)]  # and the writer goes on
    finally:
        database.dispose()


def test_a_postgresql_batch_cancelled_mid_statement_leaves_a_writer_that_works(pg_db: Database) -> None:
    """What a server shutting down does to a batch in flight (GroupCommitWriter.close)."""

    async def scenario() -> list[Any]:
        batch = asyncio.ensure_future(pg_db.run_pg_write(_rows("SELECT pg_sleep(5)")))
        await asyncio.sleep(0.2)
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
        return await pg_db.run_pg_write(_rows("SELECT 1"))

    assert asyncio.run(scenario()) == [(1,)]


def test_a_postgresql_writer_connection_the_server_dropped_while_idle_is_not_used_again(pg_db: Database) -> None:
    """Terminated between batches (a restart, pg_terminate_backend), it still said "idle": the next batch
    ran on it and failed, 503s for whoever was logging then, minutes after the database was back."""
    [(pid,)] = asyncio.run(pg_db.run_pg_write(_rows("SELECT pg_backend_pid()")))
    with pg_db.engine.connect() as connection:
        connection.execute(sa.text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})  # waits for it
    [(new_pid,)] = asyncio.run(pg_db.run_pg_write(_rows("SELECT pg_backend_pid()")))
    assert new_pid != pid


def test_a_request_whose_connection_the_server_dropped_after_answering_ends_quietly(pg_db: Database) -> None:
    """Closing the request's session rolls back: on a connection the server had just dropped, that raised
    after the answer was sent, which was logged as an unhandled error and closed the keep-alive
    connection, so the client's next request on it got no answer."""
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(db=pg_db)), method="GET")
    session_of_request = deps.get_session(request)  # type: ignore[arg-type]
    session = next(session_of_request)
    pid = session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    with pg_db.engine.connect() as other:
        other.execute(sa.text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})
    with pytest.raises(StopIteration):
        next(session_of_request)  # the request's end: no error
    with pg_db.session() as fresh:  # and the pool does not hand out the dead connection
        assert fresh.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != pid


def test_none_and_bools_bind_on_sqlite_as_they_did_without_adapters() -> None:
    """app.db registers adapters for None and bool (a shortcut past sqlite3's adaptation protocol):
    what is stored must stay NULL and 0/1 integers, and a base type must not be adapted."""
    import app.db  # noqa: F401 - the adapters are registered when it is imported

    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (a, b, c)")
    connection.execute("INSERT INTO t VALUES (?, ?, ?)", (None, True, False))
    assert connection.execute("SELECT a, typeof(a), b, typeof(b), c, typeof(c) FROM t").fetchall() == [
        (None, "null", 1, "integer", 0, "integer")
    ]
    assert connection.execute("SELECT ? IS NULL, ? = 1", (None, True)).fetchone() == (1, 1)
    for base in (int, float, str, bytearray):
        assert (base, sqlite3.PrepareProtocol) not in sqlite3.adapters
    connection.close()


def test_only_the_web_apps_connections_give_up_waiting_for_a_lock(pg: ThrowawayPostgres) -> None:
    """Pages must not wait for ever behind another transaction's row lock (a 503 instead); migrations
    must, for their advisory lock is how replicas upgrading at once take turns."""
    url = pg.new_database()
    settings = make_settings(url, database_statement_timeout=3)
    app = create_app(settings)
    served: Database = app.state.db
    plain = Database(url)
    try:
        with served.engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW lock_timeout").scalar_one() == "3s"
        with plain.engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW lock_timeout").scalar_one() == "0"
    finally:
        served.dispose()
        plain.dispose()
