"""The recording wing below its handlers: what the SQL store writes reads back exactly, on both databases;
API tokens marked used once per resolution per process; one lookup per token however many ask at once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
import time_machine
from sqlmodel import select

from app import api_tokens
from app.db import Database
from app.models import Enquiry, EnquiryHypothesis, EnquirySource
from app.recording.credentials import TokenCheck, hash_token
from app.recording.record import NewEnquiry, TokenUses, insert_many
from app.recording.store import Store
from tests.factories import hypothesis_ids, make_launch

T0 = dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC)
T = TypeVar("T")


def test_what_a_batch_writes_reads_back_exactly(db: Database) -> None:
    launch = make_launch(db, slug="exact", hypotheses=("a", "b"))
    ids = hypothesis_ids(db, launch)
    awkward = 'sitat "slik" \\ bakstrek\nny linje, ø æ å, 😀, {"json": [1]}'
    items = [
        NewEnquiry(
            launch_id=launch.id or 0,
            channel="phone",
            segment=None,
            created_at=T0 + dt.timedelta(microseconds=123_456),
            hypothesis_ids=(ids["a"], ids["b"]),
            note=awkward,
            recorded_at=T0 + dt.timedelta(seconds=5, microseconds=1),
            source=EnquirySource.API,
            idempotency_key="k-1",
        ),
        NewEnquiry(launch_id=launch.id or 0, channel="chat", segment="business", created_at=T0, idempotency_key="k-2"),
    ]
    with db.write_connection() as connection:
        first, second = insert_many(connection, items)
    assert first.created and second.created
    with db.session() as session:
        one = session.get(Enquiry, first.id)
        other = session.get(Enquiry, second.id)
        links = session.exec(select(EnquiryHypothesis).where(EnquiryHypothesis.enquiry_id == first.id)).all()
    assert one is not None and other is not None
    assert one.recorded_at is not None and other.recorded_at is not None
    assert one.note == awkward and one.segment is None and not one.is_other and one.source == EnquirySource.API
    assert one.created_at.replace(tzinfo=dt.UTC) == T0 + dt.timedelta(microseconds=123_456)
    assert one.recorded_at.replace(tzinfo=dt.UTC) == T0 + dt.timedelta(seconds=5, microseconds=1)
    assert other.is_other and other.note is None and other.segment == "business"
    assert other.recorded_at.replace(tzinfo=dt.UTC) == T0  # not given: when it happened
    assert sorted(link.hypothesis_id for link in links) == sorted((ids["a"], ids["b"]))
    for link in links:  # the link rows carry what counting by hypothesis reads
        assert link.created_at.replace(tzinfo=dt.UTC) == one.created_at.replace(tzinfo=dt.UTC)
        assert (link.launch_id, link.channel, link.segment) == (launch.id, "phone", None)


def test_a_token_marked_used_is_not_marked_again_within_the_resolution() -> None:
    uses = TokenUses()
    assert uses.due([1, 2], T0) == [1, 2]
    uses.mark([1], T0)
    later = T0 + api_tokens.LAST_USED_RESOLUTION - dt.timedelta(seconds=1)
    assert uses.due([1, 2], later) == [2]
    assert uses.due([1], T0 + api_tokens.LAST_USED_RESOLUTION) == [1]  # its mark is that old now
    assert uses.due([1], T0 - dt.timedelta(seconds=1)) == [1]  # the clock went back: mark it anyway


def test_the_memory_of_marked_tokens_is_bounded() -> None:
    uses = TokenUses(max_tokens=3)
    uses.mark([1, 2, 3], T0)
    uses.mark([4], T0)  # over the bound: forgotten, so marked again (a harmless UPDATE), never unbounded
    assert uses.due([1, 4], T0) == [1]


def test_the_api_marks_a_tokens_last_use_once_per_resolution(client: Any, token: str, db: Database) -> None:
    make_launch(db, slug="touch")
    body = {"channel": "phone"}
    headers = {"Authorization": f"Bearer {token}"}
    with time_machine.travel(T0, tick=False):
        assert client.post("/api/v1/launches/touch/enquiries", json=body, headers=headers).status_code == 201
    assert _last_used(db) == T0
    _forget_last_use(db)  # so the next UPDATE, if one is sent, shows
    with time_machine.travel(T0 + dt.timedelta(minutes=1), tick=False):
        assert client.post("/api/v1/launches/touch/enquiries", json=body, headers=headers).status_code == 201
    assert _last_used(db) is None  # this process marked it a minute ago: no statement sent
    later = T0 + api_tokens.LAST_USED_RESOLUTION + dt.timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        assert client.post("/api/v1/launches/touch/enquiries", json=body, headers=headers).status_code == 201
    assert _last_used(db) == later


def _last_used(db: Database) -> dt.datetime | None:
    with db.session() as session:
        [row] = api_tokens.list_tokens(session)
    return row.last_used_at.replace(tzinfo=dt.UTC) if row.last_used_at else None


def _forget_last_use(db: Database) -> None:
    with db.write_connection() as connection:
        connection.execute(sa.text("UPDATE api_token SET last_used_at = NULL"))


def _row(store: Store, launch_id: int, key: str) -> tuple[Any, ...]:
    return store.enquiry_row(
        launch_id=launch_id,
        channel="phone",
        segment=None,
        agent_id=None,
        token_id=None,
        created_at=T0,
        note=None,
        is_other=True,
        idempotency_key=key,
        recorded_at=T0,
        source="api",
    )


def _keys(db: Database) -> set[str]:
    with db.session() as session:
        return {e.idempotency_key or "" for e in session.exec(select(Enquiry)).all()}


def as_the_writer(db: Database, work: Callable[[Store], T]) -> T:
    """``work(store)`` on the group-commit writer's own connection, run the way it runs a batch."""
    if db.is_sqlite:
        with db.try_write() as cursor:
            assert cursor is not None
            return work(Store(cursor, sqlite=True))
    return asyncio.run(db.run_pg_write(lambda cursor: work(Store(cursor, sqlite=False))))


def _insert_then_fail(db: Database, launch_id: int, key: str, *, atomic: bool) -> None:
    def work(store: Store) -> None:
        with store.atomic() if atomic else contextlib.nullcontext():
            store.insert_enquiries([_row(store, launch_id, key)], {})
            raise RuntimeError("a later statement failed")

    as_the_writer(db, work)


def test_statements_in_atomic_commit_together_or_not_at_all(db: Database) -> None:
    launch = make_launch(db, slug="atomic")
    with pytest.raises(RuntimeError):
        _insert_then_fail(db, launch.id or 0, "in-atomic", atomic=True)
    assert "in-atomic" not in _keys(db)


def test_the_postgresql_writer_commits_each_statement_on_its_own(db: Database) -> None:
    """Which is why record_requests marks tokens before the enquiries and bumps counts inside atomic()."""
    launch = make_launch(db, slug="own")
    with pytest.raises(RuntimeError):
        _insert_then_fail(db, launch.id or 0, "alone", atomic=False)
    # SQLite's writer runs the batch in one transaction, rolled back; PostgreSQL's insert had committed.
    assert ("alone" in _keys(db)) is (not db.is_sqlite)


class CountingTokenCheck(TokenCheck):
    """The real check on the real database, counting its lookups."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.lookups = 0

    def _lookup(self, token_hash: str) -> bool:
        self.lookups += 1
        return super()._lookup(token_hash)


def test_requests_asking_about_one_token_at_once_share_one_lookup(db: Database, token: str) -> None:
    check = CountingTokenCheck(db)
    good, wrong = hash_token(token), hash_token("tally_not-a-token")

    async def many() -> list[bool]:
        return await asyncio.gather(*(check.valid(h) for h in [good] * 20 + [wrong] * 20))

    results = asyncio.run(many())
    assert results == [True] * 20 + [False] * 20
    assert check.lookups == 2  # one for each token, not one per request
    assert asyncio.run(check.valid(good)) and check.lookups == 2  # the valid one is remembered
    assert not asyncio.run(check.valid(wrong)) and check.lookups == 3  # a wrong one is asked about again
