"""The database layer: SQLite tuned for many writers, aware UTC times, both backends."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading

import pytest
import sqlalchemy as sa
from sqlmodel import select

from app.db import Database
from app.models import AuditEvent, Launch
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
