"""The group-commit writer: batches, per-item errors, a busy database, a failed batch."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from structlog.contextvars import bound_contextvars

from app import api_tokens
from app.db import Database
from app.errors import Invalid
from app.observability import logs
from app.observability import requests as observe_requests
from app.recording import writer as group_commit
from app.recording.credentials import hash_token
from app.recording.record import NewEnquiry, Recorded, TokenUses, insert_with, record_requests
from app.recording.requests import Credential, EnquiryRequest
from app.recording.store import Store
from app.recording.writer import GroupCommitWriter
from tests.conftest import ThrowawayPostgres
from tests.factories import T0, make_launch


def recording_handler(batches: list[list[int]]) -> Any:
    def handle(store: Store, items: Sequence[int]) -> list[int | Exception]:
        batches.append(list(items))
        return [Invalid(f"{i} is odd") if i % 2 else i * 10 for i in items]

    return handle


def test_requests_arriving_together_share_one_transaction(db: Database) -> None:
    batches: list[list[int]] = []
    writer: GroupCommitWriter[int, int] = GroupCommitWriter(db, recording_handler(batches))

    async def scenario() -> list[Any]:
        return await asyncio.gather(*(writer.submit(i) for i in range(6)), return_exceptions=True)

    results = asyncio.run(scenario())
    assert batches == [[0, 1, 2, 3, 4, 5]]
    assert results[0] == 0 and results[2] == 20 and results[4] == 40
    assert isinstance(results[1], Invalid) and "1 is odd" in str(results[1])  # one refusal, the others recorded


def test_a_failed_batch_fails_every_request_in_it(db: Database) -> None:
    def broken(store: Store, items: Sequence[int]) -> list[int | Exception]:
        raise RuntimeError("disk on fire")

    writer: GroupCommitWriter[int, int] = GroupCommitWriter(db, broken, on_failure=lambda exc: Invalid(str(exc)))

    async def scenario() -> list[Any]:
        return list(await asyncio.gather(writer.submit(1), writer.submit(2), return_exceptions=True))

    results = asyncio.run(scenario())
    assert all(isinstance(r, Invalid) and "disk on fire" in str(r) for r in results)


def test_a_failed_batch_names_its_first_requests_and_counts_the_rest(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(store: Store, items: Sequence[int]) -> list[int | Exception]:
        raise RuntimeError("disk on fire")

    writer: GroupCommitWriter[int, int] = GroupCommitWriter(db, broken)

    async def one(n: int) -> None:  # each in a task of its own, as each request is
        observe_requests._current.set(f"req-{n}")
        with pytest.raises(RuntimeError):
            await writer.submit(n)

    async def scenario() -> None:
        await asyncio.gather(*(one(n) for n in range(60)))

    asyncio.run(scenario())
    [line] = [r.getMessage() for r in caplog.records if r.name == "app.recording.writer"]
    assert "a batch of 60 failed" in line
    assert "req-0, req-1," in line and "req-49 and 10 more)" in line and "req-50" not in line


def test_a_batch_whose_commit_fails_is_not_counted_as_committed(db: Database) -> None:
    """What /metrics counts as logged is what was committed: on SQLite a full disk or an I/O error
    shows at the COMMIT, after the statements went through."""
    counted: list[int] = []

    def fails_at_commit(store: Store, items: Sequence[int]) -> list[int | Exception]:
        cursor: Any = store._cursor  # the statements below need the driver's cursor
        if db.is_sqlite:
            cursor.execute("PRAGMA defer_foreign_keys = ON")  # checked at COMMIT, as a full disk fails there
            cursor.execute("INSERT INTO undone_enquiry VALUES (999999, 'k', '2026-11-18 10:00:00.000000')")
        else:
            raise sqlite3.OperationalError("database or disk is full")  # the same outcome, as PostgreSQL has it
        return list(items)

    writer: GroupCommitWriter[int, int] = GroupCommitWriter(
        db, fails_at_commit, on_committed=lambda items, results: counted.extend(items)
    )

    async def scenario() -> list[Any]:
        return list(await asyncio.gather(writer.submit(1), writer.submit(2), return_exceptions=True))

    results = asyncio.run(scenario())
    assert all(isinstance(r, Exception) for r in results)
    assert counted == []


@pytest.fixture
def sqlite_file(db: Database) -> str:
    if not db.is_sqlite:
        pytest.skip("the write lock that makes the writer wait is SQLite's; this run uses PostgreSQL")
    return str(db.engine.url.database)


def test_a_busy_database_is_waited_for_without_blocking_the_loop(db: Database, sqlite_file: str) -> None:
    batches: list[list[int]] = []
    writer: GroupCommitWriter[int, int] = GroupCommitWriter(db, recording_handler(batches))
    other_process = sqlite3.connect(sqlite_file, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # another worker is writing

    async def scenario() -> int:
        pending = asyncio.ensure_future(writer.submit(2))
        ticks = 0
        while ticks < 200 and not pending.done():  # the loop keeps running meanwhile
            await asyncio.sleep(0.001)
            ticks += 1
        assert not pending.done() and batches == []
        other_process.execute("COMMIT")
        return await asyncio.wait_for(pending, 5)

    assert asyncio.run(scenario()) == 20
    assert batches == [[2]]


def test_a_database_locked_for_too_long_gives_up(
    db: Database, sqlite_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "LOCK_PATIENCE", 0.05)
    writer: GroupCommitWriter[int, int] = GroupCommitWriter(
        db, recording_handler([]), on_failure=lambda exc: Invalid(f"gave up: {exc}")
    )
    other_process = sqlite3.connect(sqlite_file, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Invalid, match="gave up: the database stayed locked"):
            asyncio.run(asyncio.wait_for(writer.submit(2), 5))
    finally:
        other_process.execute("ROLLBACK")


def test_a_batch_left_waiting_by_an_event_loop_that_ended_does_not_hold_up_the_next_loop(
    db: Database, pg: ThrowawayPostgres
) -> None:
    """Production runs one event loop per process; tests at times one per request, and a batch the
    server kept waiting may outlive its loop. The next loop's requests are recorded all the same."""
    launch = make_launch(db, slug="stalled")
    batches: list[list[int]] = []

    def waits_for_the_launch_the_first_time(store: Store, items: Sequence[int]) -> list[int | Exception]:
        batches.append(list(items))
        if len(batches) == 1:
            store.bump_counts_version(launch.id or 0, [T0.date()])  # an UPDATE of the locked row
        return list(items)

    writer: GroupCommitWriter[int, int] = GroupCommitWriter(db, waits_for_the_launch_the_first_time, timeout=0.2)
    with db.engine.connect() as holder:
        holder.execute(sa.text("SELECT id FROM launch WHERE id = :id FOR UPDATE"), {"id": launch.id})
        loop = asyncio.new_event_loop()
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logs.formatter("json"))
        logging.getLogger("app.recording.writer").addHandler(handler)
        try:
            with bound_contextvars(request_id="req-waited"), pytest.raises(TimeoutError):  # the request's 503
                loop.run_until_complete(writer.submit(1))
        finally:
            logging.getLogger("app.recording.writer").removeHandler(handler)
        loop.close()  # with the batch still waiting for the row
        # Logged in the request's own context, so with its id (as observe() binds it).
        [waited] = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert "no answer from the database in 0.2 s" in waited["event"] and waited["request_id"] == "req-waited"
        holder.rollback()
    assert asyncio.run(writer.submit(2)) == 2
    assert batches[-1] == [2]


# --- PostgreSQL: two batches in flight ----------------------------------------------------------


def test_on_postgresql_the_next_batch_goes_while_one_waits_for_the_server(db: Database, pg: ThrowawayPostgres) -> None:
    """Requests that arrive while a batch waits for the server go in a second batch on a connection of
    its own, instead of waiting for the first to come back."""
    launch = make_launch(db, slug="lanes")
    batches: list[list[int]] = []

    def first_waits_for_the_launch(store: Store, items: Sequence[int]) -> list[int | Exception]:
        batches.append(list(items))
        if items == [1]:
            store.bump_counts_version(launch.id or 0, [T0.date()])  # an UPDATE of the row held below
        return list(items)

    writer: GroupCommitWriter[int, int] = GroupCommitWriter(db, first_waits_for_the_launch)

    async def scenario(holder: sa.Connection) -> list[str]:
        finished: list[str] = []
        first = asyncio.ensure_future(writer.submit(1))
        first.add_done_callback(lambda _: finished.append("first"))
        await asyncio.sleep(0.2)  # the first batch is at the server, waiting for the row
        assert not first.done()
        assert await asyncio.wait_for(writer.submit(2), 5) == 2  # recorded meanwhile
        finished.append("second")
        holder.rollback()
        assert await asyncio.wait_for(first, 5) == 1
        return finished

    with db.engine.connect() as holder:
        holder.execute(sa.text("SELECT id FROM launch WHERE id = :id FOR UPDATE"), {"id": launch.id})
        assert asyncio.run(scenario(holder)) == ["second", "first"]
    assert batches == [[1], [2]]


def test_on_postgresql_a_key_in_two_batches_at_once_is_recorded_once(db: Database, pg: ThrowawayPostgres) -> None:
    launch = make_launch(db, slug="twice")
    enquiry = NewEnquiry(launch_id=launch.id or 0, channel="phone", created_at=T0, idempotency_key="same-key")

    def first(cursor: Any) -> list[Recorded | None]:
        store = Store(cursor, sqlite=False)
        with store.atomic():  # holds the new key uncommitted for a moment
            created = insert_with(store, [enquiry])
            store._query("SELECT pg_sleep(0.3)", [])
        return created

    def second(cursor: Any) -> list[Recorded | None]:
        return insert_with(Store(cursor, sqlite=False), [enquiry])

    async def scenario() -> list[list[Recorded | None]]:
        one = asyncio.ensure_future(db.run_pg_write(first, lane=0))
        await asyncio.sleep(0.1)
        two = asyncio.ensure_future(db.run_pg_write(second, lane=1))
        return list(await asyncio.gather(one, two))

    [created_first], [created_second] = asyncio.run(scenario())
    assert created_first is not None and created_second is not None
    assert created_first.created and not created_second.created  # the second: a replay
    assert created_second.id == created_first.id
    with db.engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM enquiry WHERE launch_id = :id"), {"id": launch.id})
        assert count.scalar_one() == 1


def test_on_postgresql_two_batches_sharing_keys_take_them_in_one_order(db: Database, pg: ThrowawayPostgres) -> None:
    """Batches in flight at once insert their keys in key order, whatever order the requests came in:
    a batch holding k1 and wanting k2, beside one holding k2 and wanting k1, would deadlock (PostgreSQL
    then fails one of them: 503s for all its requests)."""
    make_launch(db, slug="order")
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        row, token = api_tokens.create(session, name="order", now=now, actor="test")
    credential = Credential("token", hash_token(token))
    uses = TokenUses()  # the token marked used already, as in a running writer: no row lock on it
    uses.mark([row.id or 0], now)

    def asked(*keys: str) -> list[EnquiryRequest]:
        return [EnquiryRequest("order", "phone", credential, now, idempotency_key=key) for key in keys]

    def first(cursor: Any) -> list[Any]:
        store = Store(cursor, sqlite=False)
        with store.atomic():
            held = record_requests(store, asked("k1"), now=now, token_uses=uses)
            store._query("SELECT pg_sleep(0.5)", [])  # the second batch starts meanwhile
            return held + record_requests(store, asked("k2"), now=now, token_uses=uses)

    def second(cursor: Any) -> list[Any]:
        return record_requests(
            Store(cursor, sqlite=False), asked("k2", "k1"), now=now, token_uses=uses
        )  # the other order

    async def scenario() -> list[list[Any]]:
        one = asyncio.ensure_future(db.run_pg_write(first, lane=0))
        await asyncio.sleep(0.2)
        two = asyncio.ensure_future(db.run_pg_write(second, lane=1))
        return list(await asyncio.gather(one, two))

    logged_first, logged_second = asyncio.run(scenario())
    assert [r.created for r in logged_first] == [True, True]
    assert [r.created for r in logged_second] == [False, False]  # both found, as replays, in the asked order
    assert [r.id for r in logged_second] == [r.id for r in reversed(logged_first)]


async def until(condition: Callable[[], bool]) -> None:
    """Polls the loop until ``condition`` holds, for 30 s at most: a bound, not a timing (a loaded CI
    machine started the second lane's batch before the first's, 0.1 s apart)."""
    async with asyncio.timeout(30):
        while not condition():  # noqa: ASYNC110 - set by the writer's statements, which know no event
            await asyncio.sleep(0.005)


def test_on_postgresql_closing_stops_the_batches_in_both_lanes(db: Database, pg: ThrowawayPostgres) -> None:
    """At shutdown a batch in flight on each lane, both waiting for the server: each request hears at
    once that nothing was recorded, instead of waiting for a server that may never answer. A writer used
    again afterwards records as before."""
    launch = make_launch(db, slug="closing")
    started: list[list[int]] = []

    def waits_for_the_launch(store: Store, items: Sequence[int]) -> list[int | Exception]:
        started.append(list(items))
        store.bump_counts_version(launch.id or 0, [T0.date()])  # an UPDATE of the row held below
        return list(items)

    writer: GroupCommitWriter[int, int] = GroupCommitWriter(
        db, waits_for_the_launch, on_failure=lambda exc: Invalid(f"not recorded: {exc}")
    )

    async def scenario(holder: sa.Connection) -> tuple[list[Any], int]:
        first = asyncio.ensure_future(writer.submit(1))
        await until(lambda: len(started) == 1)
        second = asyncio.ensure_future(writer.submit(2))
        await until(lambda: len(started) == 2)
        assert sorted(started) == [[1], [2]]  # one batch on each lane, both at the server
        assert not first.done() and not second.done()
        writer.close()
        stopped = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 1)
        holder.rollback()
        return list(stopped), await asyncio.wait_for(writer.submit(3), 5)

    with db.engine.connect() as holder:
        holder.execute(sa.text("SELECT id FROM launch WHERE id = :id FOR UPDATE"), {"id": launch.id})
        stopped, later = asyncio.run(scenario(holder))
    assert all(isinstance(r, Invalid) and "stopped" in str(r) for r in stopped), stopped
    assert later == 3


def test_on_postgresql_one_stuck_batch_leaves_the_other_lane_to_everyone_else(
    db: Database, pg: ThrowawayPostgres
) -> None:
    """A batch stuck behind one launch's locked row while other batches commit: its requests get the
    503 when their time is up, and later requests still go through the free lane rather than being
    refused at once (as they are when nothing commits: the stall tests)."""
    launch = make_launch(db, slug="stuck-lane")

    def first_waits_for_the_launch(store: Store, items: Sequence[int]) -> list[int | Exception]:
        if items == [1]:
            store.bump_counts_version(launch.id or 0, [T0.date()])
        return list(items)

    writer: GroupCommitWriter[int, int] = GroupCommitWriter(db, first_waits_for_the_launch, timeout=0.2)

    async def scenario(holder: sa.Connection) -> int:
        first = asyncio.ensure_future(writer.submit(1))
        await asyncio.sleep(0.05)
        assert await asyncio.wait_for(writer.submit(2), 5) == 2  # the other lane commits meanwhile
        with pytest.raises(TimeoutError):
            await first  # its batch stays at the server, past the writer's timeout
        recorded = await asyncio.wait_for(writer.submit(3), 5)
        holder.rollback()
        return recorded

    with db.engine.connect() as holder:
        holder.execute(sa.text("SELECT id FROM launch WHERE id = :id FOR UPDATE"), {"id": launch.id})
        assert asyncio.run(scenario(holder)) == 3


def test_on_postgresql_refusals_while_the_database_is_silent_are_logged_a_line_at_a_time(
    db: Database, pg: ThrowawayPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a batch waits with nothing committed, every new write is refused at once: the operator is
    told, in a line carrying a refused request's id and how many were refused, not in one per request."""
    launch = make_launch(db, slug="silent")

    def waits_for_the_launch(store: Store, items: Sequence[int]) -> list[int | Exception]:
        store.bump_counts_version(launch.id or 0, [T0.date()])  # an UPDATE of the row held below
        return list(items)

    writer: GroupCommitWriter[int, int] = GroupCommitWriter(db, waits_for_the_launch, name="w", timeout=0.2)

    async def scenario(holder: sa.Connection) -> None:
        with pytest.raises(TimeoutError):
            await writer.submit(1)  # its batch stays at the server
        await asyncio.sleep(0.05)  # stuck for longer than the writer's timeout now
        for i in range(2, 7):
            with bound_contextvars(request_id=f"req-{i}"), pytest.raises(TimeoutError, match="has been waiting"):
                await asyncio.wait_for(writer.submit(i), 0.1)  # at once, not after another wait
        monkeypatch.setattr(group_commit, "REFUSALS_LOGGED_EVERY", 0.0)
        with bound_contextvars(request_id="req-7"), pytest.raises(TimeoutError):
            await asyncio.wait_for(writer.submit(7), 0.1)
        holder.rollback()
        writer.close()

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    logging.getLogger("app.recording.writer").addHandler(handler)
    try:
        with db.engine.connect() as holder:
            holder.execute(sa.text("SELECT id FROM launch WHERE id = :id FOR UPDATE"), {"id": launch.id})
            asyncio.run(scenario(holder))
    finally:
        logging.getLogger("app.recording.writer").removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    refusals = [line for line in lines if "answered at once" in line["event"]]
    assert [(line["request_id"], line["level"]) for line in refusals] == [("req-2", "warning"), ("req-7", "warning")]
    assert "over 0.2 s" in refusals[0]["event"] and "(1 since the last such line)" in refusals[0]["event"]
    assert "(5 since the last such line)" in refusals[1]["event"]
