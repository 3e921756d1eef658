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
from app.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from app.models import Enquiry, EnquiryHypothesis, EnquirySource, Hypothesis, HypothesisStatus, Launch, LaunchStatus
from app.recording.credentials import TokenCheck, hash_token
from app.recording.record import LAST_USED_RESOLUTION, Logged, NewEnquiry, TokenUses, insert_many, record_requests
from app.recording.requests import Credential, EnquiryRequest
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
    later = T0 + LAST_USED_RESOLUTION - dt.timedelta(seconds=1)
    assert uses.due([1, 2], later) == [2]
    assert uses.due([1], T0 + LAST_USED_RESOLUTION) == [1]  # its mark is that old now
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
    later = T0 + LAST_USED_RESOLUTION + dt.timedelta(seconds=1)
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


# --- a batch's requests answered one by one ----------------------------------------------


def _in_a_batch(db: Database, requests: list[EnquiryRequest], now: dt.datetime) -> list[Any]:
    """``record_requests`` as the group-commit writer runs it, on either database."""

    def work(cursor: Any) -> list[Any]:
        return record_requests(Store(cursor, sqlite=db.is_sqlite), requests, now=now)

    if db.is_sqlite:
        with db.try_write() as cursor:
            assert cursor is not None
            return work(cursor)
    return asyncio.run(db.run_pg_write(work))


def _token_credential(db: Database, name: str = "batch") -> Credential:
    with db.transaction() as session:
        _, token = api_tokens.create(session, name=name, now=T0, actor="test")
    return Credential("token", hash_token(token))


def test_a_slug_or_user_name_no_launch_or_user_can_have_fails_only_its_own_request(db: Database) -> None:
    """A NUL in a text parameter makes PostgreSQL refuse the whole statement: a path like
    ``/launches/a%00b/enquiries`` (no sign-in needed to send it) failed every enquiry in its batch."""
    make_launch(db, slug="nul")
    credential = _token_credential(db)
    now = dt.datetime.now(dt.UTC)
    bad_slug, good, bad_user = _in_a_batch(
        db,
        [
            EnquiryRequest("nu\x00l", "phone", credential, now),
            EnquiryRequest("nul", "phone", credential, now),
            EnquiryRequest("nul", "phone", Credential("trusted_user", "ola\x00"), now),
        ],
        now,
    )
    assert isinstance(bad_slug, NotFound) and bad_slug.code == "unknown_launch"
    assert isinstance(good, Logged) and good.created
    assert isinstance(bad_user, Forbidden) and bad_user.code == "unknown_user"


def test_a_retry_is_answered_with_its_enquiry_after_its_hypothesis_retired_or_its_launch_closed(
    db: Database,
) -> None:
    """The first try was recorded but its answer lost (a timeout, a closed laptop); by the time the
    retry arrives a lead retired the hypothesis or closed the launch. The retry gets the enquiry it
    recorded, not a refusal that makes the agent log it again as something else."""
    launch = make_launch(db, slug="retry", hypotheses=("a", "b"))
    credential = _token_credential(db)
    now = dt.datetime.now(dt.UTC)

    def ask(key: str | None, hypothesis: str = "a") -> EnquiryRequest:
        return EnquiryRequest("retry", "phone", credential, now, hypothesis_keys=(hypothesis,), idempotency_key=key)

    [first] = _in_a_batch(db, [ask("k1")], now)
    assert isinstance(first, Logged) and first.created
    with db.transaction() as session:
        hypothesis = session.exec(
            select(Hypothesis).where(Hypothesis.launch_id == launch.id, Hypothesis.key == "a")
        ).one()
        hypothesis.status = HypothesisStatus.RETIRED
    retried, new, unkeyed = _in_a_batch(db, [ask("k1"), ask("k2"), ask(None)], now)
    assert isinstance(retried, Logged) and not retried.created and retried.id == first.id
    assert retried.hypothesis_keys == ("a",)
    for refused in (new, unkeyed):  # nothing recorded before under these: the refusal stands
        assert isinstance(refused, Invalid) and refused.code == "retired_hypothesis"

    with db.transaction() as session:
        row = session.get(Launch, launch.id)
        assert row is not None
        row.status = LaunchStatus.CLOSED
    retried, other = _in_a_batch(db, [ask("k1"), ask("k1", hypothesis="b")], now)
    assert isinstance(retried, Logged) and retried.id == first.id and not retried.created
    assert isinstance(other, Conflict) and other.code == "launch_not_live"  # another enquiry: refused as asked


def test_a_retry_of_a_time_a_little_ahead_of_the_servers_clock_is_a_retry(db: Database) -> None:
    """An integration's clock 30 s fast: its ``occurred_at`` was stored as the moment it arrived. Resent
    with the same body a little later, it is the same enquiry, not a reused key."""
    make_launch(db, slug="skew")
    credential = _token_credential(db)
    now = dt.datetime.now(dt.UTC)

    def ask(key: str, occurred_at: dt.datetime, received_at: dt.datetime) -> EnquiryRequest:
        return EnquiryRequest("skew", "phone", credential, received_at, idempotency_key=key, occurred_at=occurred_at)

    ahead = now + dt.timedelta(seconds=30)
    [first] = _in_a_batch(db, [ask("ahead", ahead, now)], now)
    assert isinstance(first, Logged) and first.created and first.created_at == now
    later = now + dt.timedelta(seconds=5)
    [retried] = _in_a_batch(db, [ask("ahead", ahead, later)], later)
    assert isinstance(retried, Logged) and not retried.created and retried.id == first.id

    # A time in the past is stored as given: another time under its key is another enquiry.
    past = now - dt.timedelta(seconds=100)
    [first] = _in_a_batch(db, [ask("past", past, now)], now)
    assert isinstance(first, Logged) and first.created_at == past
    [other] = _in_a_batch(db, [ask("past", past + dt.timedelta(seconds=50), later)], later)
    assert isinstance(other, Conflict) and other.code == "idempotency_key_reused"


def test_once_inserted_new_enquiries_are_answered_whatever_fails_for_the_repeats(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the insert commits on its own: a read that fails after it, for a repeated key,
    must not tell the new enquiries of the batch that nothing was recorded."""
    make_launch(db, slug="after")
    credential = _token_credential(db)
    now = dt.datetime.now(dt.UTC)

    def ask(key: str) -> EnquiryRequest:
        return EnquiryRequest("after", "phone", credential, now, idempotency_key=key)

    [first] = _in_a_batch(db, [ask("seen")], now)

    def fails(self: Store, enquiry_ids: Any) -> Any:
        raise RuntimeError("the server went away")

    with monkeypatch.context() as patched:
        patched.setattr(Store, "stored", fails)
        repeat, new = _in_a_batch(db, [ask("seen"), ask("fresh")], now)
    assert isinstance(new, Logged) and new.created
    assert isinstance(repeat, Unavailable) and "Nothing new was recorded" in repeat.message

    # An undo between the insert (the key taken) and the lookup of the earlier enquiry (gone).
    with monkeypatch.context() as patched:
        patched.setattr(Store, "existing", lambda self, launch_id, keys: {})
        vanished, other = _in_a_batch(db, [ask("seen"), ask("another")], now)
    assert isinstance(other, Logged) and other.created
    assert isinstance(vanished, NotFound) and vanished.code == "unknown_enquiry"
    assert first.id not in (new.id, other.id)
