"""The database: one engine per process, SQLite tuned for many writers, sessions.

SQLite is the embedded default and must survive several uvicorn workers writing
at once. WAL lets readers run beside the one writer; ``busy_timeout`` makes a
writer wait instead of failing; and write transactions begin ``IMMEDIATE`` so
they take the write lock up front. A deferred transaction that reads and then
writes cannot wait for the lock (SQLite would deadlock), so it fails with
"database is locked" at once, whatever the timeout.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import select
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.util import await_only, greenlet_spawn
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "tally_write"

# sqlite3 binds an exact int, float or str at once; anything else, None and bool included, goes through
# its adaptation protocol, which looks for __adapt__ on a type that has none and formats the
# AttributeError it then discards: thousands of instructions per value, three or four values per
# enquiry (note, agent or token, is_other). An adapter registered for the type is found first: 1.1 %
# fewer instructions per enquiry in the app (bench.cpu_per_enquiry --instructions, 4 December). What
# gets bound is what sqlite3 bound anyway: NULL for None ({}.get(None) is None, without a Python
# call), 0 or 1 for a bool. Neither is one of the base types whose adapters would slow every value.
sqlite3.register_adapter(type(None), cast(Callable[[None], None], {}.get))
sqlite3.register_adapter(bool, int)


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, naive UTC in the column.

    Both databases then store and compare the same values, and no code can
    mistake a local time for UTC by accident: a naive datetime is refused.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where an aware one is needed")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


class EnumString(sa.types.TypeDecorator[E]):
    """A StrEnum stored as a plain short string.

    No database enum type (adding a status needs no migration of a PostgreSQL
    type), yet rows come back as the enum, not as bare strings.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 16) -> None:
        super().__init__(length=length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> E | None:
        return None if value is None else self.enum(value)


def insert_ignoring_conflicts(table: sa.Table, dialect: sa.Dialect, *, index_elements: list[str] | None = None) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the database at hand (both speak it, with their own construct)."""
    module: Any = postgresql if dialect.name == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=index_elements)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below; the
        # driver's own implicit BEGIN would always be DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Temporary files in memory: the group-commit writer's multi-row INSERT opens a
        # statement journal per batch, and a file for it cost four syscalls and ~60 µs.
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


# libpq's keepalives: a server that vanished (a failover, a cable) is noticed in about 15 s
# instead of the kernel's two hours, and the writer's connection fails instead of hanging.
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}


def file_in_path(path: Path) -> Path | None:
    """The part of ``path``'s folders that is a file, not a folder, if one is."""
    return next((part for part in reversed(path.parents) if part.exists() and not part.is_dir()), None)


def not_a_folder(path: Path, file: Path) -> NotADirectoryError:
    # mkdir said only "File exists: <that part>", which read as if the database (or backup) was there already.
    return NotADirectoryError(
        errno.ENOTDIR, f"{path} cannot be made: a part of its path is a file, not a folder", str(file)
    )


def make_folder_for(path: Path) -> None:
    """The folder ``path`` goes in, made if missing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        file = file_in_path(path)
        if file is None:
            raise
        raise not_a_folder(path, file) from exc


def create_db_engine(url: str, *, connect_timeout: float = 5.0, lock_timeout: float | None = None) -> Engine:
    """``lock_timeout`` (PostgreSQL): how long a statement may wait for a lock another transaction
    holds before it fails (a 503 to a request) rather than hold its request and its thread for as long
    as the other takes. Not a statement timeout: reports and exports over a long launch may run long."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            make_folder_for(Path(parsed.database).expanduser())
        engine = sa.create_engine(
            url,
            hide_parameters=True,  # an error's text would carry them into the logs: notes, hashes
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=10,
            max_overflow=20,
            pool_timeout=connect_timeout * 2,  # every connection in use: a 503 soon, not a wait of 30 s
        )
        _configure_sqlite(engine)
        return engine
    # pre-ping: after a database restart, a pooled connection that died is replaced at checkout
    # instead of failing the request that drew it.
    return sa.create_engine(
        url,
        hide_parameters=True,  # an error's text would carry them into the logs: notes, hashes
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=connect_timeout * 2,
        connect_args={
            "connect_timeout": max(1, round(connect_timeout)),
            **PG_KEEPALIVES,
            **({"options": f"-c lock_timeout={max(1, int(lock_timeout * 1000))}"} if lock_timeout else {}),
        },
    )


WAL_RESTART_FRAMES = 16_384  # 64 MiB of 4 KiB pages
WAL_RESTART_WAIT_MS = 100
CATCH_UP_FRAMES = 256  # what a RESTART may be left to copy: a few milliseconds while writers wait
CATCH_UP_PASSES = 8
# A pass four times a second, not once: at ~3,000 enquiries a second a pass each second copied ~22,000
# frames in 50-60 ms and then needed a RESTART, and the requests due meanwhile made the p99 (27-39 ms
# with one worker, 49-72 ms with two, half saturation); a quarter of that work four times as often
# gave 15-22 ms and 18-22 ms (docs/benchmarks.md, 4 December). Every tenth of a second was no better.
CHECKPOINT_EVERY = 0.25


def checkpoint(
    connection: sqlite3.Connection,
    *,
    restart_after: int = WAL_RESTART_FRAMES,
    catch_up: int = CATCH_UP_FRAMES,
) -> None:
    """One pass of the checkpointer: copy the WAL into the database file, and keep the WAL short.

    A PASSIVE checkpoint never blocks writers, but under steady writes it never
    catches up either, and SQLite only starts the WAL over when a writer finds
    every frame copied: measured, the WAL grew by 100 MB a second at
    saturation, and every page read and write got slower as it grew (a tenth
    fewer enquiries a second after ten seconds). So once the WAL holds more than
    ``restart_after`` frames, a RESTART checkpoint waits (at most 100 ms) for
    the writer in progress, copies what is left, and makes the next writer start
    the WAL over. Writers meanwhile find the database busy and try again a moment
    later (app/recording/writer.py); nothing is lost.

    What is left is what writers added while the passive pass copied: at about
    3,000 enquiries a second, ~1,500 frames in its ~100 ms, which the RESTART
    copied and synced while every writer waited (20-30 ms: the slowest
    requests). So first more passive passes, each copying what came in during
    the one before, until at most ``catch_up`` frames came in (or a few
    passes, if writers outpace the copy)."""
    try:
        _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames <= restart_after:
            return
        for _ in range(CATCH_UP_PASSES):
            _, now_frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if now_frames <= restart_after:
                return  # a writer started it over meanwhile (or -1: another checkpoint is running)
            added, frames = now_frames - frames, now_frames
            if added <= catch_up:
                break
        connection.execute(f"PRAGMA busy_timeout={WAL_RESTART_WAIT_MS}")
        try:
            connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        finally:
            connection.execute("PRAGMA busy_timeout=0")
    except sqlite3.OperationalError:
        pass  # busy: the next pass will do


def checkpoint_until(stopped: Callable[[float], bool], connection: sqlite3.Connection, *, every: float) -> None:
    """The checkpointer thread's loop: a pass ``every`` seconds until ``stopped(every)`` (a stop event's
    ``wait``) says so."""
    while not stopped(every):
        checkpoint(connection)


class PgLoopCursor:
    """The DB-API calls ``Store`` makes (``execute``, ``executemany``, ``fetchall``; for
    ``Store.atomic``, ``connection.autocommit`` and ``connection.transaction()``) on a psycopg
    async connection, each awaited from synchronous code that ``greenlet_spawn`` runs: the bridge
    SQLAlchemy's own asyncio extension runs its synchronous core on. So the store's SQL is written
    once, for SQLite's cursor and for this one."""

    def __init__(self, connection: Any) -> None:
        self.connection = _PgLoopConnection(connection)
        self._cursor = connection.cursor()

    def execute(self, sql: str, params: Any = None) -> PgLoopCursor:
        await_only(self._cursor.execute(sql, params))
        return self

    def executemany(self, sql: str, params: Any) -> None:
        await_only(self._cursor.executemany(sql, params))

    def fetchall(self) -> list[Any]:
        rows: list[Any] = await_only(self._cursor.fetchall())
        return rows


class _PgLoopConnection:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    @property
    def autocommit(self) -> bool:
        return bool(self._connection.autocommit)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commits when the block ends, rolls back if it raises."""
        transaction = self._connection.transaction()
        await_only(transaction.__aenter__())
        try:
            yield
        except BaseException as exc:
            await_only(transaction.__aexit__(type(exc), exc, exc.__traceback__))
            raise
        await_only(transaction.__aexit__(None, None, None))


def _dropped_while_idle(connection: Any) -> bool:
    """Whether the server closed an idle connection (a restart, pg_terminate_backend, an idle timeout).

    psycopg learns it only by using the connection: its status stays "idle", and the next batch on it
    failed, 503s for requests minutes after the database came back. An idle connection has nothing to
    read, while a closed one has the server's last message or the end of the stream waiting: a zero-wait
    poll of the socket, no round trip. (Anything else readable, a rare notice, costs a new connection.)"""
    try:
        readable, _, _ = select.select([connection.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.OperationalError):  # closed already: no socket to ask
        return True
    return bool(readable)


class Database:
    """The engine plus the two kinds of session the app uses: read and write."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 5.0,
        statement_timeout: float = 10.0,
        lock_timeout: float | None = None,
    ) -> None:
        """``lock_timeout``: for the web app's own (``create_db_engine``); migrations, whose advisory
        lock lets replicas take turns, and the CLI wait as long as they must."""
        self.url = url
        self.engine = create_db_engine(url, connect_timeout=connect_timeout, lock_timeout=lock_timeout)
        self.statement_timeout = statement_timeout
        self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        # Per-process memory that lives as long as this Database, for caches of
        # data that cannot change (see tallies.DayCache). Sessions carry it in
        # ``session.info["memo"]`` so query modules need no extra parameter.
        self.memo: dict[str, Any] = {}
        self._checkpointer: tuple[threading.Thread, threading.Event] | None = None
        self._sqlite_writer_connection: sqlite3.Connection | None = None
        self._sqlite_writer_lock = threading.Lock()
        self._connect_timeout = connect_timeout
        # psycopg.AsyncConnections on the event loop, by lane: one per batch the writer keeps in flight.
        self._pg_writer_connections: dict[int, Any] = {}

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self, *, write: bool = False) -> Session:
        return Session(self._write_engine if write else self.engine, expire_on_commit=False, info={"memo": self.memo})

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: commits when the block ends, rolls back on error."""
        with self.session(write=True) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def write_connection(self) -> Iterator[sa.Connection]:
        """A Core connection in a write transaction (bulk loads: the demo, benchmarks, test factories)."""
        with self._write_engine.begin() as connection:
            yield connection

    @contextmanager
    def try_write(self) -> Iterator[sqlite3.Cursor | None]:
        """SQLite: a driver cursor in a write transaction that commits at the end, for the
        group-commit writer, which runs plain SQL on the event loop and must never wait there.
        Yields None at once when another connection holds the write lock. (PostgreSQL's writer
        goes through ``run_pg_write``.)"""
        if not self._sqlite_writer_lock.acquire(blocking=False):
            yield None  # another thread of this process is writing: as good as busy
            return
        try:
            connection = self._sqlite_writer()
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                yield None
                return
            try:
                yield connection.cursor()
                connection.execute("COMMIT")
            except BaseException:
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error:
                    self._close_sqlite_writer()  # unusable now; the next batch opens a new one
                raise
        finally:
            self._sqlite_writer_lock.release()

    async def run_pg_write(self, work: Callable[..., T], *args: Any, lane: int = 0) -> T:
        """PostgreSQL: ``work(cursor, *args)``, plain synchronous code, run on the event loop over
        the writer's own asynchronous connection for ``lane``; returns what it returns.

        For the group-commit writer (app/recording/writer.py). Each statement ``work`` runs
        through the cursor is awaited on the loop (``PgLoopCursor``), so the loop serves other
        requests while the server works, and nothing waits for a thread to get the interpreter
        lock. A writer thread did: under load the busy loop held the lock, and the thread waited
        for it after every network call (py-spy: most of its samples), so batches took turns
        with the loop instead of overlapping with it (docs/benchmarks.md).

        The connection is in autocommit mode: each statement commits on its own, so a batch
        that is one read and one write makes two round trips, not four (BEGIN and COMMIT were
        one each). Statements that must commit together go in ``Store.atomic()``.

        One call at a time on each lane: the writer keeps at most one batch in flight on each.
        (No lock here: an asyncio lock belongs to one event loop, and tests run several.)"""
        connection = await self._pg_writer(lane)
        return await greenlet_spawn(work, PgLoopCursor(connection), *args)

    async def _pg_writer(self, lane: int) -> Any:
        """The PostgreSQL writer's own connection for ``lane``, kept between batches.

        Kept rather than drawn from a pool per batch: a pool's pre-ping would cost a round trip
        per batch. A connection the server dropped while a batch was on it (a restart,
        pg_terminate_backend) fails that batch, whose requests get a 503 and are sent again; one
        it dropped while idle is seen before the next batch uses it (``_dropped_while_idle``).
        Statements time out on the server, so a lock held elsewhere turns into that 503 too,
        instead of a writer that waits for ever."""
        kept = self._pg_writer_connections.get(lane)
        if kept is not None and (
            kept.info.transaction_status != psycopg.pq.TransactionStatus.IDLE or _dropped_while_idle(kept)
        ):
            # Dropped by the server, or left mid-statement by a batch that was cancelled or whose
            # event loop ended: connect afresh. A statement that failed cleanly leaves it idle.
            self._close_pg_writer(lane)
        if lane not in self._pg_writer_connections:
            millis = max(1, int(self.statement_timeout * 1000))
            conninfo = psycopg.conninfo.make_conninfo(
                self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
                connect_timeout=max(1, round(self._connect_timeout)),
                options=(
                    f"-c statement_timeout={millis} -c lock_timeout={millis} "
                    f"-c idle_in_transaction_session_timeout={millis * 3}"
                ),
                **PG_KEEPALIVES,
            )
            self._pg_writer_connections[lane] = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        return self._pg_writer_connections[lane]

    def _close_pg_writer(self, lane: int | None = None) -> None:
        """Close the writer's connection for ``lane``, or all of them."""
        for closing in [lane] if lane is not None else list(self._pg_writer_connections):
            connection = self._pg_writer_connections.pop(closing, None)
            if connection is not None:
                # AsyncConnection.close() awaits nothing for a connection of its own (no pool): its one
                # step, libpq's PQfinish, is done here, so a sync caller (dispose) can close it too.
                with contextlib.suppress(Exception):
                    connection.pgconn.finish()

    def _sqlite_writer(self) -> sqlite3.Connection:
        """The group-commit writer's own SQLite connection, set up once.

        Taken from the pool and kept, so it has the pool's settings, plus two of
        its own: no busy wait (the writer polls the lock from the event loop),
        and no checkpoints (they copy the WAL into the database file and fsync:
        tens of milliseconds the event loop must not spend; the checkpointer
        thread does them). Set per batch on a pooled connection instead, these
        and the checkout cost a tenth of the writer's time."""
        if self._sqlite_writer_connection is None:
            pooled = self.engine.raw_connection()
            connection: sqlite3.Connection = pooled.driver_connection  # type: ignore[assignment]
            pooled.detach()
            connection.execute("PRAGMA busy_timeout=0")
            connection.execute("PRAGMA wal_autocheckpoint=0")
            # synchronous stays NORMAL here too, though the first commit after the WAL started over
            # then syncs the WAL's new header on the event loop (40-66 ms measured while the
            # checkpointer's syncs ran): that sync orders the header before the frames that overwrite
            # the old WAL, and without it a power cut can corrupt the database (SQLite ticket
            # ff5be73dee), which no later sync by the checkpointer repairs.
            self._sqlite_writer_connection = connection
        return self._sqlite_writer_connection

    def _close_sqlite_writer(self) -> None:
        if self._sqlite_writer_connection is not None:
            self._sqlite_writer_connection.close()
            self._sqlite_writer_connection = None

    def start_checkpointer(self, every: float = CHECKPOINT_EVERY) -> None:
        """SQLite: checkpoint the WAL from a background thread (see ``try_write``)."""
        if not self.is_sqlite or self._checkpointer is not None:
            return
        stop = threading.Event()
        path = str(self.engine.url.database)

        def run() -> None:
            connection = sqlite3.connect(path, timeout=0, check_same_thread=False)
            try:
                checkpoint_until(stop.wait, connection, every=every)
            finally:
                connection.close()

        thread = threading.Thread(target=run, name="wal-checkpointer", daemon=True)
        thread.start()
        self._checkpointer = (thread, stop)

    def stop_checkpointer(self) -> None:
        if self._checkpointer is not None:
            thread, stop = self._checkpointer
            stop.set()
            thread.join()
            self._checkpointer = None

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        with self._sqlite_writer_lock:
            self._close_sqlite_writer()
        self._close_pg_writer()
        self.engine.dispose()

    def close_for_good(self) -> None:
        """When the app stops: every connection closed and, on SQLite, the write-ahead log folded into
        the database file and emptied. Left behind, it makes the file look in use (or crashed) to
        `tally restore` and to a copy taken of the file alone."""
        self.stop_checkpointer()
        self.dispose()
        if self.is_sqlite:
            with contextlib.suppress(sa.exc.OperationalError), self.engine.connect() as connection:
                # Briefly: another process may still serve this file (`tally scheduler` stopping beside a
                # `tally serve`), and a TRUNCATE holds its writers while it waits for older readers.
                connection.exec_driver_sql("PRAGMA busy_timeout = 100")
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            self.engine.dispose()
