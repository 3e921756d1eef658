"""Backfill through the API: enquiries that happened before they were logged (``occurred_at``)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import select

from app import tallies
from app.db import Database
from app.models import Enquiry, EnquirySource
from tests.factories import fresh, log, make_launch

OSLO = ZoneInfo("Europe/Oslo")
SLUG = "test-launch"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=OSLO)
WHOLE = {"start": "2026-11-16T00:00:00+01:00", "end": "2026-11-21T00:00:00+01:00"}


@pytest.fixture(autouse=True)
def at_now() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def launch(db: Database) -> Any:
    launch = make_launch(db, slug=SLUG, hypotheses=("a", "b"))
    for day in range(16, 21):
        log(db, launch, "a", at=dt.datetime(2026, 11, day, 10, 0, tzinfo=OSLO).astimezone(dt.UTC))
    return launch


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(client: TestClient, token: str, **body: Any) -> Any:
    return client.post(f"/api/v1/launches/{SLUG}/enquiries", json={"channel": "phone", **body}, headers=auth(token))


def test_an_enquiry_logged_after_the_call_counts_when_it_happened(
    client: TestClient, token: str, launch: Any, db: Database
) -> None:
    response = post(client, token, hypotheses=["b"], occurred_at="2026-11-17T09:42:00+01:00", idempotency_key="c-1")
    assert response.status_code == 201, response.text
    assert response.json()["logged_at"] == "2026-11-17T08:42:00Z"
    with db.session() as session:
        [stored] = session.exec(select(Enquiry).where(Enquiry.id == response.json()["id"])).all()
    assert stored.created_at == dt.datetime(2026, 11, 17, 8, 42, tzinfo=dt.UTC)
    assert stored.recorded_at == NOW.astimezone(dt.UTC)
    assert stored.source == EnquirySource.API
    # Sent again (a retry), it is the same enquiry.
    again = post(client, token, hypotheses=["b"], occurred_at="2026-11-17T09:42:00+01:00", idempotency_key="c-1")
    assert again.status_code == 200 and again.json()["id"] == response.json()["id"]


def test_without_occurred_at_it_is_now(client: TestClient, token: str, launch: Any, db: Database) -> None:
    response = post(client, token, idempotency_key="now-1")
    assert response.status_code == 201
    assert response.json()["logged_at"] == "2026-11-20T11:00:00Z"


@pytest.mark.parametrize(
    "occurred_at",
    [
        "2026-11-15T23:59:59+01:00",  # the evening before the launch began
        "2026-11-20T12:05:00+01:00",  # five minutes in the future
        "1700-01-01T00:00:00+00:00",
    ],
)
def test_outside_the_launch_or_in_the_future_is_refused_with_the_allowed_range(
    client: TestClient, token: str, launch: Any, db: Database, occurred_at: str
) -> None:
    response = post(client, token, occurred_at=occurred_at)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "occurred_at_out_of_range" and error["field"] == "occurred_at"
    assert "2026-11-16" in error["message"] and "now" in error["message"]
    with db.session() as session:
        assert len(session.exec(select(Enquiry)).all()) == 5  # nothing was recorded


def test_a_clock_a_little_ahead_is_not_the_future(client: TestClient, token: str, launch: Any) -> None:
    response = post(client, token, occurred_at="2026-11-20T12:00:30+01:00")
    assert response.status_code == 201
    assert response.json()["logged_at"] == "2026-11-20T11:00:00Z"  # taken as now


def test_occurred_at_needs_an_offset(client: TestClient, token: str, launch: Any) -> None:
    response = post(client, token, occurred_at="2026-11-17T09:42:00")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "occurred_at"


def test_a_backfill_into_a_closed_day_updates_every_cached_count(
    client: TestClient, token: str, launch: Any, db: Database
) -> None:
    """The app's own memory, the kept day rows and another process's memory all see the backfill."""
    other_process = Database(db.url)
    try:
        assert client.get(f"/api/v1/launches/{SLUG}/tally", params=WHOLE, headers=auth(token)).json()["total"] == 5
        start, _ = tallies.clip(fresh(db, launch), dt.datetime.min.replace(tzinfo=dt.UTC), NOW)
        with other_process.session() as session:
            before = tallies.tally(session=session, launch=fresh(db, launch), start=start, end=NOW, now=NOW)
        assert before.total == 5

        version = fresh(db, launch).counts_version
        response = post(client, token, hypotheses=["b"], occurred_at="2026-11-17T09:42:00+01:00")
        assert response.status_code == 201
        assert fresh(db, launch).counts_version == version + 1

        body = client.get(f"/api/v1/launches/{SLUG}/tally", params=WHOLE, headers=auth(token)).json()
        assert body["total"] == 6 and body["hypotheses"] == {"a": 5, "b": 1}
        with other_process.session() as session:
            after = tallies.tally(session=session, launch=fresh(db, launch), start=start, end=NOW, now=NOW)
        assert after.total == 6
    finally:
        other_process.dispose()


@pytest.mark.parametrize(
    ("occurred_at", "raised"),
    [
        # 25 minutes before now (CLOSED_AFTER less the margin): the slot 11:30–11:45 is open for 15 more.
        ("2026-11-20T11:35:00+01:00", 0),
        # A second earlier: still open, but a replica a little ahead, or a batch committing a moment
        # late, could close and keep it first, without this enquiry; so the counts version goes up.
        ("2026-11-20T11:34:59+01:00", 1),
        ("2026-11-20T11:30:00+01:00", 1),  # its slot closes at 12:15: the same, closer
        # In the slot 11:15–11:30, which closed at 12:00 and is kept.
        ("2026-11-20T11:29:59+01:00", 1),
    ],
)
def test_a_backfill_raises_the_counts_version_only_when_it_reaches_back_past_the_open_slots(
    client: TestClient, token: str, launch: Any, db: Database, occurred_at: str, raised: int
) -> None:
    # Today's closed slots counted and kept before the backfill, as a page would have.
    assert client.get(f"/api/v1/launches/{SLUG}/tally", params=WHOLE, headers=auth(token)).json()["total"] == 5
    version = fresh(db, launch).counts_version
    assert post(client, token, occurred_at=occurred_at).status_code == 201
    assert fresh(db, launch).counts_version == version + raised
    body = client.get(f"/api/v1/launches/{SLUG}/tally", params=WHOLE, headers=auth(token)).json()
    assert body["total"] == 6


def test_a_backfill_into_a_closed_hour_of_today_updates_the_cached_hours(
    client: TestClient, token: str, launch: Any, db: Database
) -> None:
    today = {"start": "2026-11-20T00:00:00+01:00", "end": "2026-11-20T12:00:00+01:00"}
    assert client.get(f"/api/v1/launches/{SLUG}/tally", params=today, headers=auth(token)).json()["total"] == 1
    version = fresh(db, launch).counts_version
    assert post(client, token, hypotheses=["b"], occurred_at="2026-11-20T08:00:00+01:00").status_code == 201
    assert fresh(db, launch).counts_version == version + 1
    body = client.get(f"/api/v1/launches/{SLUG}/tally", params=today, headers=auth(token)).json()
    assert body["total"] == 2 and body["hypotheses"] == {"a": 1, "b": 1}


def test_undoing_an_enquiry_posted_after_the_call_takes_it_out_of_counts_kept_meanwhile(
    client: TestClient, token: str, launch: Any, db: Database
) -> None:
    """Posted 24 minutes after the call (the integration's way) and undone 11 minutes later: by then its
    15-minute slot was over and kept, and the kept count stayed one too high in every process."""
    window = {"start": "2026-11-20T11:00:00+01:00", "end": "2026-11-20T13:00:00+01:00"}

    def total() -> int:
        response = client.get(f"/api/v1/launches/{SLUG}/tally", params=window, headers=auth(token))
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    with time_machine.travel(dt.datetime(2026, 11, 20, 12, 8, 59, tzinfo=OSLO), tick=False):
        posted = post(client, token, hypotheses=["b"], occurred_at="2026-11-20T11:44:59+01:00", idempotency_key="u-1")
        assert posted.status_code == 201, posted.text
    with time_machine.travel(dt.datetime(2026, 11, 20, 12, 16, tzinfo=OSLO), tick=False):
        assert total() == 1  # the 11:30 slot is over: counted and kept
    with time_machine.travel(dt.datetime(2026, 11, 20, 12, 20, tzinfo=OSLO), tick=False):
        undone = client.delete(f"/api/v1/enquiries/{posted.json()['id']}", headers=auth(token))
        assert undone.status_code == 200, undone.text
    with time_machine.travel(dt.datetime(2026, 11, 20, 15, 0, tzinfo=OSLO), tick=False):
        assert total() == 0
