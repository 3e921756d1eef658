"""The JSON API for integrations: tokens, logging, idempotency, undo, tallies, and every error."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import select

from app import api_tokens, migrations
from app.db import Database
from app.main import create_app
from app.models import Enquiry, EnquiryHypothesis, LaunchStatus, TokenRole
from tests.conftest import make_settings
from tests.factories import make_launch

SLUG = "test-launch"
DURING_LAUNCH = dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def during_the_launch() -> Any:
    """The factory's launch runs 16 November to 7 December 2026: these tests happen inside it."""
    with time_machine.travel(DURING_LAUNCH, tick=True):
        yield


@pytest.fixture
def launch(db: Database) -> Any:
    return make_launch(db, slug=SLUG, hypotheses=("bankid-login-loop", "receipts-moved", "send-money"))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(client: TestClient, token: str, body: dict[str, Any], slug: str = SLUG) -> Any:
    return client.post(f"/api/v1/launches/{slug}/enquiries", json=body, headers=auth(token))


def test_lists_live_launches_with_their_keys(client: TestClient, token: str, launch: Any, db: Database) -> None:
    make_launch(db, slug="draft-launch", status=LaunchStatus.DRAFT)
    response = client.get("/api/v1/launches", headers=auth(token))
    assert response.status_code == 200
    [item] = response.json()
    assert item["slug"] == SLUG
    assert [h["key"] for h in item["hypotheses"]] == ["bankid-login-loop", "receipts-moved", "send-money"]
    assert item["channels"] == ["phone", "chat", "email", "social"]
    assert item["segments"] == ["private", "business"]


def test_the_list_gives_each_hypothesis_s_version_for_a_safe_change(
    client: TestClient, token: str, lead_token: str, launch: Any
) -> None:
    """PATCH takes the `version` a change was made from and refuses a stale one (409 stale_version), but no
    call read it: a script could learn it only from a PATCH already made or a 409, so a read-then-change
    could not be made safe."""
    [listed] = client.get("/api/v1/launches", headers=auth(token)).json()
    versions = {h["key"]: h["version"] for h in listed["hypotheses"]}
    path = f"/api/v1/launches/{SLUG}/hypotheses/send-money"
    changed = client.patch(
        path, json={"status": "confirmed", "version": versions["send-money"]}, headers=auth(lead_token)
    )
    assert changed.status_code == 200, changed.text
    [listed] = client.get("/api/v1/launches", headers=auth(token)).json()
    now_at = next(h["version"] for h in listed["hypotheses"] if h["key"] == "send-money")
    assert now_at == changed.json()["version"] == versions["send-money"] + 1
    stale = client.patch(path, json={"status": "open", "version": versions["send-money"]}, headers=auth(lead_token))
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"
    # A version no one saved is not someone else's change: it was called stale "since version 99999".
    ahead = client.patch(path, json={"status": "open", "version": 99999}, headers=auth(lead_token))
    assert ahead.status_code == 422, ahead.text
    error = ahead.json()["error"]
    assert (error["code"], error["field"]) == ("invalid", "version")
    assert error["message"].startswith(
        f"Hypothesis 'send-money' has never been at version 99999: it is at version {now_at}."
    )


def test_logs_an_enquiry_and_a_repeat_key_returns_the_same_one(
    client: TestClient, token: str, launch: Any, db: Database
) -> None:
    body = {
        "channel": "phone",
        "segment": "private",
        "hypotheses": ["bankid-login-loop", "send-money"],
        "idempotency_key": "call-123",
    }
    first = post(client, token, body)
    assert first.status_code == 201
    assert first.json()["created"] is True
    again = post(client, token, body)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["created"] is False
    with db.session() as session:
        [enquiry] = session.exec(select(Enquiry)).all()
        assert len(session.exec(select(EnquiryHypothesis)).all()) == 2
    assert enquiry.token_id is not None and enquiry.agent_id is None and not enquiry.is_other


def test_an_enquiry_without_hypotheses_is_other_and_its_note_is_scrubbed(
    client: TestClient, token: str, launch: Any, db: Database
) -> None:
    response = post(client, token, {"channel": "chat", "note": "Kunden (ola@example.no, 912 34 567) spurte om gebyr"})
    assert response.status_code == 201
    with db.session() as session:
        enquiry = session.exec(select(Enquiry)).one()
    assert enquiry.is_other and enquiry.segment is None
    assert enquiry.note == "Kunden ([email], [phone]) spurte om gebyr"


def test_undo_removes_it_from_the_tally(client: TestClient, token: str, launch: Any) -> None:
    created = post(client, token, {"channel": "phone", "hypotheses": ["receipts-moved"]}).json()
    window = {"start": "2020-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}
    assert client.get(f"/api/v1/launches/{SLUG}/tally", params=window, headers=auth(token)).json()["total"] == 1
    response = client.delete(f"/api/v1/enquiries/{created['id']}", headers=auth(token))
    assert response.status_code == 200 and response.json() == {"id": created["id"], "undone": True}
    assert client.get(f"/api/v1/launches/{SLUG}/tally", params=window, headers=auth(token)).json()["total"] == 0
    gone = client.delete(f"/api/v1/enquiries/{created['id']}", headers=auth(token))
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "unknown_enquiry"


def test_an_enquiry_logged_after_the_fact_can_be_undone_and_leaves_the_kept_counts(
    client: TestClient, token: str, launch: Any
) -> None:
    """The 15 minutes run from when the server recorded it: measured from occurred_at, an enquiry a
    CRM posted after the call could never be undone. Its day's counts were kept already: they change."""
    day = {"start": "2026-11-16T00:00:00+01:00", "end": "2026-11-17T00:00:00+01:00"}
    assert client.get(f"/api/v1/launches/{SLUG}/tally", params=day, headers=auth(token)).json()["total"] == 0
    body = {"channel": "phone", "hypotheses": ["receipts-moved"], "occurred_at": "2026-11-16T09:42:00+01:00"}
    created = post(client, token, body).json()
    assert client.get(f"/api/v1/launches/{SLUG}/tally", params=day, headers=auth(token)).json()["total"] == 1
    response = client.delete(f"/api/v1/enquiries/{created['id']}", headers=auth(token))
    assert response.status_code == 200, response.text
    assert client.get(f"/api/v1/launches/{SLUG}/tally", params=day, headers=auth(token)).json()["total"] == 0


def test_a_retry_of_an_undone_enquiry_records_nothing(
    client: TestClient, token: str, launch: Any, db: Database
) -> None:
    """The answer to the first try was lost, the integration undid what it had logged, then its retry
    arrived: the key names the enquiry that was taken back, and it stays taken back."""
    body = {"channel": "phone", "hypotheses": ["receipts-moved"], "idempotency_key": "call-77"}
    created = post(client, token, body).json()
    assert client.delete(f"/api/v1/enquiries/{created['id']}", headers=auth(token)).status_code == 200
    retry = post(client, token, body)
    assert retry.status_code == 404 and retry.json()["error"]["code"] == "unknown_enquiry"
    assert "undone" in retry.json()["error"]["message"] and "nothing was recorded" in retry.json()["error"]["message"]
    with db.session() as session:
        assert session.exec(select(Enquiry)).all() == []
    # Another sender's key of the same text is its own (keys are scoped to who sends them).
    with db.transaction() as session:
        _, other = api_tokens.create(session, name="crm", now=dt.datetime.now(dt.UTC), actor="test")
    assert post(client, other, body).status_code == 201


def test_a_token_cannot_undo_what_another_logged(client: TestClient, token: str, launch: Any, db: Database) -> None:
    created = post(client, token, {"channel": "phone"}).json()
    with db.transaction() as session:
        _, other = api_tokens.create(session, name="crm", now=dt.datetime.now(dt.UTC), actor="test")
    response = client.delete(f"/api/v1/enquiries/{created['id']}", headers=auth(other))
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_yours"


def test_tally_lists_every_hypothesis_channel_and_segment(client: TestClient, token: str, launch: Any) -> None:
    with time_machine.travel(dt.datetime(2026, 11, 18, 9, 30, tzinfo=dt.UTC), tick=False):
        post(client, token, {"channel": "phone", "segment": "private", "hypotheses": ["receipts-moved"]})
        post(client, token, {"channel": "email", "segment": "business"})
    response = client.get(
        f"/api/v1/launches/{SLUG}/tally",
        params={"start": "2026-11-18T10:00:00+01:00", "end": "2026-11-18T11:00:00+01:00"},
        headers=auth(token),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2 and body["other"] == 1
    assert body["hypotheses"] == {"bankid-login-loop": 0, "receipts-moved": 1, "send-money": 0}
    assert body["channels"] == {"phone": 1, "chat": 0, "email": 1, "social": 0}
    # Every segment, and the enquiries with none, zero or not: a BI schema sees the same keys each time.
    assert body["segments"] == {"private": 1, "business": 1, "unspecified": 0}
    # Half-open: the same window moved past the enquiries holds none.
    later = client.get(
        f"/api/v1/launches/{SLUG}/tally",
        params={"start": "2026-11-18T10:30:00.000001+01:00", "end": "2026-11-18T12:00:00+01:00"},
        headers=auth(token),
    )
    assert later.json()["total"] == 0


def test_a_tally_window_left_open_with_a_local_offset_is_clipped_not_refused(
    client: TestClient, token: str, launch: Any
) -> None:
    """A BI tool's open window written with Oslo's offset (year 1 at +01:00, year 9999 at -01:00) lies
    outside Python's years once in UTC: it was refused as "does not overlap" the launch it holds."""
    tally = f"/api/v1/launches/{SLUG}/tally"
    with time_machine.travel(dt.datetime(2026, 11, 18, 9, 30, tzinfo=dt.UTC), tick=False):
        post(client, token, {"channel": "phone"})
    for start, end in (
        ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"),
        ("0001-01-01T00:00:00+01:00", "2026-11-19T00:00:00Z"),
        ("2026-11-18T00:00:00Z", "9999-12-31T23:59:59-01:00"),
    ):
        response = client.get(tally, params={"start": start, "end": end}, headers=auth(token))
        assert response.status_code == 200, (start, end, response.text)
        assert response.json()["total"] == 1
    launch_start = client.get(
        tally,
        params={"start": "0001-01-01T00:00:00+01:00", "end": "9999-12-31T23:59:59-01:00"},
        headers=auth(token),
    ).json()["start"]
    assert launch_start == "2026-11-15T23:00:00Z"  # clipped to the launch's first local midnight
    # Wholly outside stays refused: a window that ends in year 1, or starts in year 9999.
    for start, end in (
        ("0001-01-01T00:00:00+01:00", "0001-01-01T00:30:00+01:00"),
        ("9999-12-31T23:00:00-01:00", "9999-12-31T23:59:59-01:00"),
    ):
        response = client.get(tally, params={"start": start, "end": end}, headers=auth(token))
        assert response.status_code == 422 and response.json()["error"]["code"] == "range_out_of_window"


@pytest.mark.parametrize(
    ("case", "status", "code", "field", "words"),
    [
        ("unknown launch", 404, "unknown_launch", None, "No launch with slug 'nope'"),
        ("unknown hypothesis", 422, "unknown_hypothesis", "hypotheses[1]", "Unknown hypothesis key 'made-up'"),
        ("unknown channel", 422, "unknown_channel", "channel", "Unknown channel 'fax'"),
        ("unknown segment", 422, "unknown_segment", "segment", "Unknown segment 'vip'"),
        ("closed launch", 409, "launch_not_live", None, "is closed"),
        ("draft launch", 409, "launch_not_live", None, "is not live yet"),
        ("missing token", 401, "missing_token", None, "Authorization: Bearer"),
        ("wrong token", 401, "bad_token", None, "wrong or was revoked"),
        ("revoked token", 401, "bad_token", None, "wrong or was revoked"),
        ("over-long note", 422, "note_too_long", "note", "keep it to 500"),
        # Past the early cut-off: was `invalid`, "String should have at most 2000 characters".
        ("far too long note", 422, "note_too_long", "note", "The note is 2001 characters long; keep it to 500"),
        ("missing channel", 422, "invalid", "channel", "Field required"),
        ("bad idempotency key", 422, "invalid", "idempotency_key", "should match pattern"),
        # A misspelt field was dropped: 201, stored as "other" (or now instead of when it happened).
        (
            "misspelt field",
            422,
            "invalid",
            "hypothesis",
            "unknown field (misspelt?): the fields are in the API reference, /api/openapi.json",
        ),
    ],
)
def test_errors_say_what_to_fix(
    client: TestClient,
    token: str,
    launch: Any,
    db: Database,
    case: str,
    status: int,
    code: str,
    field: str | None,
    words: str,
) -> None:
    make_launch(db, slug="closed-launch", status=LaunchStatus.CLOSED)
    make_launch(db, slug="draft-launch", status=LaunchStatus.DRAFT)
    body: dict[str, Any] = {"channel": "phone", "hypotheses": ["receipts-moved"]}
    slug, headers = SLUG, auth(token)
    match case:
        case "unknown launch":
            slug = "nope"
        case "unknown hypothesis":
            body["hypotheses"] = ["receipts-moved", "made-up"]
        case "unknown channel":
            body["channel"] = "fax"
        case "unknown segment":
            body["segment"] = "vip"
        case "closed launch":
            slug = "closed-launch"
        case "draft launch":
            slug = "draft-launch"
        case "missing token":
            headers = {}
        case "wrong token":
            headers = auth("lt_not-a-real-token")
        case "revoked token":
            with db.transaction() as session:
                api_tokens.revoke(session, 1, now=dt.datetime.now(dt.UTC), actor="test")
        case "over-long note":
            body["note"] = "x" * 501
        case "far too long note":
            body["note"] = "x" * 2001
        case "missing channel":
            del body["channel"]
        case "bad idempotency key":
            body["idempotency_key"] = "has spaces and / slashes"
        case "misspelt field":
            body["hypothesis"] = body.pop("hypotheses")
    response = client.post(f"/api/v1/launches/{slug}/enquiries", json=body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert words in error["message"]
    assert error.get("field") == field
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    with db.session() as session:
        assert session.exec(select(Enquiry)).all() == []


def test_a_far_too_long_note_among_other_faults_is_told_as_the_500_limit(
    client: TestClient, token: str, launch: Any
) -> None:
    response = client.post(
        f"/api/v1/launches/{SLUG}/enquiries", json={"note": "x" * 3000, "segment": 5}, headers=auth(token)
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid", response.text
    problems = {p["field"]: p["message"] for p in response.json()["error"]["problems"]}
    assert problems["note"].startswith("The note is 3000 characters long; keep it to 500"), problems
    assert "channel" in problems and "segment" in problems


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"start": "2026-11-18T10:00:00", "end": "2026-11-18T11:00:00+01:00"}, "start", "has no UTC offset"),
        ({"start": "2026-11-18T10:00:00Z", "end": "2026-11-18T09:00:00Z"}, "end", "end is before start"),
        ({"end": "2026-11-18T09:00:00Z"}, "start", "Field required"),
    ],
)
def test_tally_window_errors(
    client: TestClient, token: str, launch: Any, params: dict[str, str], field: str, words: str
) -> None:
    response = client.get(f"/api/v1/launches/{SLUG}/tally", params=params, headers=auth(token))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert words in response.json()["error"]["message"]


def test_reading_needs_a_token_too(client: TestClient, launch: Any) -> None:
    for url in ("/api/v1/launches", f"/api/v1/launches/{SLUG}/tally?start=2026-01-01T00:00Z&end=2026-01-02T00:00Z"):
        response = client.get(url)
        assert response.status_code == 401 and response.json()["error"]["code"] == "missing_token"


def test_a_stranger_with_broken_json_is_asked_for_a_token(
    client: TestClient, token: str, lead_token: str, launch: Any
) -> None:
    path = f"/api/v1/launches/{SLUG}/hypotheses/login-failed"
    json = {"Content-Type": "application/json"}
    for body in (b"{bad", b"[" * 100_000, b'{"text": "bl\xe5"}'):  # too deep for the parser; not UTF-8
        for headers, code in (({}, "missing_token"), ({"Authorization": "Bearer nope"}, "bad_token")):
            response = client.patch(path, content=body, headers=json | headers)
            assert response.status_code == 401 and response.json()["error"]["code"] == code, response.text
            assert response.headers["WWW-Authenticate"] == "Bearer"
        # An integration token is told the call needs a lead token, as an empty or a valid body is: told to
        # fix its JSON first, it heard 403 only once it had.
        response = client.patch(path, content=body, headers=json | auth(token))
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden_role", response.text
        # With a token that may make the call, the JSON is what is wrong, and is said so.
        response = client.patch(path, content=body, headers=json | auth(lead_token))
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid"
    # A call any token may make still hears about its JSON.
    response = client.post(f"/api/v1/launches/{SLUG}/enquiries", content=b"{bad", headers=json | auth(token))
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid"


def test_an_empty_body_is_told_it_is_empty(client: TestClient, lead_token: str, launch: Any) -> None:
    """A call that takes a body, sent none (a client that dropped it, a proxy that ate it), answered
    "Field required" with the field "": no word of what was missing."""
    json = {"Content-Type": "application/json"}
    for method, path in (
        ("PATCH", f"/api/v1/launches/{SLUG}/hypotheses/send-money"),
        ("POST", f"/api/v1/launches/{SLUG}/hypotheses"),
        ("POST", f"/api/v1/launches/{SLUG}/hypotheses/send-money/relinks"),
        ("POST", f"/api/v1/launches/{SLUG}/enquiries"),  # said so differently: "EOF while parsing a value"
    ):
        for headers in (json, {}):
            response = client.request(method, path, content=b"", headers=auth(lead_token) | headers)
            [problem] = assert_problems(response, "")
            assert problem["message"] == "the body is empty: send a JSON object ({…})", (method, path)


def test_unknown_api_paths_answer_json(client: TestClient) -> None:
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_openapi_describes_the_api_and_its_bearer_tokens(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    assert {
        "/api/v1/launches",
        "/api/v1/launches/{slug}/enquiries",
        "/api/v1/enquiries/{enquiry_id}",
        "/api/v1/launches/{slug}/tally",
    } <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert not any(path.startswith(("/launches", "/admin", "/login")) for path in spec["paths"])


def test_tokens_are_stored_hashed_and_marked_used(client: TestClient, token: str, launch: Any, db: Database) -> None:
    post(client, token, {"channel": "phone"})
    with db.session() as session:
        [row] = api_tokens.list_tokens(session)
    assert token not in row.token_hash and row.prefix == token[:10]
    assert row.last_used_at is not None


def test_a_repeated_key_returns_the_enquiry_as_first_recorded(
    client: TestClient, token: str, launch: Any, db: Database
) -> None:
    body = {"channel": "phone", "hypotheses": ["receipts-moved", "send-money"], "idempotency_key": "k1"}
    first = post(client, token, body)
    with time_machine.travel(DURING_LAUNCH + dt.timedelta(seconds=40), tick=False):  # a retry, later
        again = post(client, token, {**body, "hypotheses": ["send-money", "receipts-moved"]})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["hypotheses"] == ["receipts-moved", "send-money"]
    assert again.json()["logged_at"] == first.json()["logged_at"]
    # A key twice, out of order: the first answer says what was recorded, as a replay does.
    body = {"channel": "phone", "hypotheses": ["send-money", "receipts-moved", "send-money"], "idempotency_key": "k2"}
    recorded, replayed = post(client, token, body), post(client, token, body)
    assert recorded.json()["hypotheses"] == replayed.json()["hypotheses"] == ["receipts-moved", "send-money"]
    # On a launch whose list is not in the keys' order, too (a replay read them in the list's order).
    make_launch(db, slug="zeta-first", hypotheses=("zeta", "alpha"))
    body = {"channel": "phone", "hypotheses": ["zeta", "alpha"], "idempotency_key": "k3"}
    recorded, replayed = post(client, token, body, slug="zeta-first"), post(client, token, body, slug="zeta-first")
    assert recorded.json()["hypotheses"] == replayed.json()["hypotheses"] == ["alpha", "zeta"]


def test_a_path_with_a_nul_for_a_slug_is_an_unknown_launch(client: TestClient, token: str, launch: Any) -> None:
    """Refused by itself: the NUL never reaches the database (PostgreSQL refuses such text outright)."""
    answer = client.post("/api/v1/launches/pay%00app/enquiries", json={"channel": "phone"}, headers=auth(token))
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "unknown_launch"
    assert post(client, token, {"channel": "phone"}).status_code == 201
    # The reading calls too: on PostgreSQL they answered 422 "cannot be stored as given … nothing was saved".
    window = {"start": "2026-11-18T00:00:00+01:00", "end": "2026-11-19T00:00:00+01:00"}
    for path, params in (("tally", window), ("series", {}), ("alerts", {}), ("surprises", {})):
        read = client.get(f"/api/v1/launches/pay%00app/{path}", params=params, headers=auth(token))
        assert read.status_code == 404 and read.json()["error"]["code"] == "unknown_launch", (path, read.text)


def test_the_same_key_with_another_enquiry_is_refused(
    client: TestClient, token: str, launch: Any, db: Database
) -> None:
    first = post(client, token, {"channel": "phone", "hypotheses": ["receipts-moved"], "idempotency_key": "k1"})
    other = post(client, token, {"channel": "chat", "hypotheses": ["send-money"], "idempotency_key": "k1"})
    assert other.status_code == 409
    error = other.json()["error"]
    assert error["code"] == "idempotency_key_reused" and error["field"] == "idempotency_key"
    assert "receipts-moved" in error["message"]
    with db.session() as session:
        assert len(session.exec(select(Enquiry)).all()) == 1
    assert first.status_code == 201


def test_a_reused_key_is_told_what_differs(client: TestClient, token: str, launch: Any) -> None:
    """The 409 described the stored enquiry alone: an integration could not tell which field of its retry
    had changed. Each field that differs is named, a note only as differing (never quoted back)."""
    body = {
        "channel": "phone",
        "segment": "private",
        "hypotheses": ["receipts-moved"],
        "note": "asks about the fee",
        "occurred_at": "2026-11-18T09:42:00+01:00",
        "idempotency_key": "call-5",
    }
    assert post(client, token, body).status_code == 201
    changed = {**body, "segment": "business", "note": "asks about the card", "occurred_at": "2026-11-18T09:45:00+01:00"}
    answer = post(client, token, changed)
    message = answer.json()["error"]["message"]
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "idempotency_key_reused", answer.text
    assert "logged at 2026-11-18T08:42:00+00:00" in message, message
    assert "segment: stored 'private', sent 'business'" in message and "the note differs" in message, message
    assert "occurred_at: stored 2026-11-18T08:42:00+00:00, sent 2026-11-18T08:45:00+00:00" in message, message
    assert "fee" not in message and "card" not in message and "channel" not in message, message
    other = post(client, token, {**body, "hypotheses": ["send-money", "bankid-login-loop"], "segment": None})
    message = other.json()["error"]["message"]
    assert "hypotheses: stored receipts-moved, sent bankid-login-loop, send-money" in message, message
    assert "segment: stored 'private', sent none" in message, message


def enquiry_count(db: Database) -> int:
    with db.session() as session:
        return len(session.exec(select(Enquiry)).all())


def test_the_enquiry_post_refuses_a_query_parameter(client: TestClient, token: str, launch: Any, db: Database) -> None:
    """Ignored, ``?idempotency_key=`` let every retry record the enquiry again, and ``?dry_run=1`` recorded
    it; every other call refuses a parameter it does not take."""
    path = f"/api/v1/launches/{SLUG}/enquiries"
    for query in ("idempotency_key=call-777", "idempotency_key=call-777", "dry_run=1", "x"):
        answer = client.post(f"{path}?{query}", json={"channel": "phone"}, headers=auth(token))
        error = answer.json()["error"]
        assert answer.status_code == 422 and error["code"] == "invalid", answer.text
        name = query.partition("=")[0]
        assert error["field"] == name and f"no query parameter {name!r}: nothing was recorded" in error["message"]
    assert enquiry_count(db) == 0
    stranger = client.post(f"{path}?dry_run=1", json={"channel": "phone"}, headers=auth("lt_wrong"))
    assert stranger.status_code == 401  # the token first, as everywhere
    assert post(client, token, {"channel": "phone"}).status_code == 201


def test_the_idempotency_key_header_makes_a_retry_a_replay(
    client: TestClient, token: str, launch: Any, db: Database
) -> None:
    """HTTP clients' retry helpers send the key as an ``Idempotency-Key`` header (the IETF draft's, which
    writes it quoted): ignored, each retry was a new enquiry."""
    path = f"/api/v1/launches/{SLUG}/enquiries"
    body = {"channel": "phone", "hypotheses": ["receipts-moved"]}
    first = client.post(path, json=body, headers=auth(token) | {"Idempotency-Key": "call-778"})
    assert first.status_code == 201, first.text
    for header, sent in (
        ("call-778", body),
        ('"call-778"', body),
        ("call-778", {**body, "idempotency_key": "call-778"}),
    ):
        again = client.post(path, json=sent, headers=auth(token) | {"Idempotency-Key": header})
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true", (header, again.text)
        assert again.json()["id"] == first.json()["id"]
    # The body's key alone is the same key.
    assert post(client, token, {**body, "idempotency_key": "call-778"}).json()["id"] == first.json()["id"]
    other = client.post(path, json={"channel": "chat"}, headers=auth(token) | {"Idempotency-Key": "call-778"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"

    # The header never refuses an enquiry (gateways and client libraries add their own): the body's key,
    # the integration's own, wins; a value that is no key as the body's must be is the same key each time.
    both = client.post(
        path, json={**body, "idempotency_key": "call-1"}, headers=auth(token) | {"Idempotency-Key": "call-2"}
    )
    assert both.status_code == 201, both.text
    assert post(client, token, {**body, "idempotency_key": "call-1"}).json()["id"] == both.json()["id"]
    for gateways in ("q3Zx9+Yb/Lw7mQ==", "{6F9619FF-8B86-D011-B42D-00C04FC964FF}", "x" * 200):
        made = client.post(path, json=body, headers=auth(token) | {"Idempotency-Key": gateways})
        assert made.status_code == 201, made.text
        again = client.post(path, json=body, headers=auth(token) | {"Idempotency-Key": gateways})
        assert again.status_code == 200 and again.json()["id"] == made.json()["id"], again.text
    assert enquiry_count(db) == 5
    operation = client.get("/api/openapi.json").json()["paths"][path.replace(SLUG, "{slug}")]["post"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= next(
        p for p in operation["parameters"] if p["name"] == "Idempotency-Key"
    ).items()


def test_a_reused_header_key_is_named_as_it_was_sent(client: TestClient, token: str, launch: Any) -> None:
    """A header value that is no key as the body's is kept as a digest of itself; the 409 for its reuse named
    that digest ('h:f3ce…'), which the client never sent and could not find in its logs."""
    path = f"/api/v1/launches/{SLUG}/enquiries"
    for sent in ("{6F9619FF-8B86-D011-B42D-00C04FC964FF}", '"q3Zx9+Yb/Lw7mQ=="', "call-779"):
        headers = auth(token) | {"Idempotency-Key": sent}
        assert client.post(path, json={"channel": "phone"}, headers=headers).status_code == 201
        reused = client.post(path, json={"channel": "chat"}, headers=headers)
        error = reused.json()["error"]
        assert reused.status_code == 409 and error["code"] == "idempotency_key_reused", reused.text
        assert f"Idempotency-Key header {sent.strip(chr(34))!r} was used before" in error["message"], error
        assert "'h:" not in error["message"], error
    # A body's key is named as before.
    body = {"channel": "phone", "idempotency_key": "call-780"}
    assert post(client, token, body).status_code == 201
    message = post(client, token, {**body, "channel": "chat"}).json()["error"]["message"]
    assert message.startswith("Idempotency key 'call-780' was used before"), message


def test_a_retry_that_adds_a_note_is_another_enquiry_unless_the_note_was_erased(
    client: TestClient, token: str, lead_token: str, launch: Any, db: Database
) -> None:
    """An enquiry with no note was taken for one whose note was erased: a retry that brought a note was
    answered as a replay (200) and the note was lost. Only an erasure leaves the note uncompared."""
    body = {"channel": "phone", "hypotheses": ["receipts-moved"], "idempotency_key": "call-9"}
    first = post(client, token, body)
    assert first.status_code == 201, first.text
    noted = post(client, token, {**body, "note": "asks about the fee"})
    assert noted.status_code == 409 and noted.json()["error"]["code"] == "idempotency_key_reused", noted.text
    assert post(client, token, body).status_code == 200  # the same body is still a retry

    with_note = {**body, "note": "asks about the fee", "idempotency_key": "call-10"}
    kept = post(client, token, with_note)
    erased = client.delete(f"/api/v1/enquiries/{kept.json()['id']}/note", headers=auth(lead_token))
    assert erased.status_code == 200 and erased.json()["erased"] is True, erased.text
    retried = post(client, token, with_note)
    assert retried.status_code == 200 and retried.json()["id"] == kept.json()["id"], retried.text
    assert enquiry_count(db) == 2


def test_idempotency_keys_belong_to_their_sender(client: TestClient, token: str, launch: Any, db: Database) -> None:
    """A second integration that happens to use the same key logs its own enquiry."""
    with db.transaction() as session:
        _, second = api_tokens.create(session, name="crm", now=DURING_LAUNCH, actor="test")
    body = {"channel": "phone", "hypotheses": ["receipts-moved"], "idempotency_key": "call-1"}
    first = post(client, token, body)
    theirs = post(client, second, body)
    assert first.status_code == 201 and theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]
    with db.session() as session:
        keys = [e.idempotency_key for e in session.exec(select(Enquiry))]
    # Stored as hashes of sender and key: a key cannot carry personal data into the database.
    assert len(set(keys)) == 2 and all(k and len(k) == 64 and "call-1" not in k for k in keys)


def test_undo_is_limited_to_fifteen_minutes(client: TestClient, token: str, launch: Any) -> None:
    created = post(client, token, {"channel": "phone"}).json()
    with time_machine.travel(DURING_LAUNCH + dt.timedelta(minutes=16), tick=False):
        response = client.delete(f"/api/v1/enquiries/{created['id']}", headers=auth(token))
    assert response.status_code == 409 and response.json()["error"]["code"] == "too_late"


def test_enquiries_outside_the_launch_dates_are_refused(client: TestClient, token: str, db: Database) -> None:
    make_launch(db, slug=SLUG, ends_on=dt.date(2026, 12, 7))
    with time_machine.travel(dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC), tick=False):
        response = post(client, token, {"channel": "phone"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "outside_window"
    assert "runs from 2026-11-16 to 2026-12-07" in response.json()["error"]["message"]


def test_ids_are_never_reused_after_an_undo(client: TestClient, token: str, launch: Any) -> None:
    first = post(client, token, {"channel": "phone"}).json()["id"]
    assert client.delete(f"/api/v1/enquiries/{first}", headers=auth(token)).status_code == 200
    assert post(client, token, {"channel": "phone"}).json()["id"] != first


# --- every 422 `invalid` lists its problems ----------------------------------------------------------


@pytest.fixture
def lead_token(db: Database) -> str:
    with db.transaction() as session:
        _, raw = api_tokens.create(session, name="product", now=DURING_LAUNCH, actor="test", role=TokenRole.LEAD)
    return raw


def assert_problems(response: Any, field: str) -> list[dict[str, str]]:
    """A 422 `invalid` as the guide promises it: `field`, and `problems` naming it (a KeyError before)."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["field"] == field, error
    problems: list[dict[str, str]] = error["problems"]
    assert problems and problems[0]["field"] == field and all(p["message"] for p in problems), problems
    return problems


def test_every_refusal_of_the_app_s_own_checks_lists_its_problems(
    client: TestClient, lead_token: str, launch: Any
) -> None:
    """The framework's 422s had `problems`; the app's own (an unknown parameter, JSON too deep for the
    parser, a fix link that is no web address, a control character, end before start) had none."""
    hypothesis = f"/api/v1/launches/{SLUG}/hypotheses/send-money"
    window = {"start": "2026-11-18T10:00:00Z", "end": "2026-11-18T09:00:00Z"}
    assert_problems(client.get(f"/api/v1/launches/{SLUG}/tally", params=window, headers=auth(lead_token)), "end")
    unknown = client.get(f"/api/v1/launches/{SLUG}/series", params={"chanel": "chat"}, headers=auth(lead_token))
    assert "nothing was counted" in assert_problems(unknown, "chanel")[0]["message"]
    bad_link = client.patch(hypothesis, json={"fix_url": "javascript:alert(1)"}, headers=auth(lead_token))
    assert "not a web address" in assert_problems(bad_link, "fix_url")[0]["message"]
    control = {"key": "new-one", "text": "New", "area": "Pay\x00", "owner_team": "Team\x03"}
    created = client.post(f"/api/v1/launches/{SLUG}/hypotheses", json=control, headers=auth(lead_token))
    assert "control character" in assert_problems(created, "area")[0]["message"]
    for method, path in (("PATCH", hypothesis), ("POST", f"/api/v1/launches/{SLUG}/hypotheses")):
        deep = client.request(
            method, path, content=b"[" * 100_000, headers=auth(lead_token) | {"Content-Type": "application/json"}
        )
        assert "could not be read as JSON" in assert_problems(deep, "")[0]["message"]


@pytest.mark.parametrize("character", ["\u202e", "\u202a", "\u2066", "\u2069", "\x9b", "\x85"])
def test_a_text_direction_override_or_c1_control_in_a_hypothesis_is_refused(
    client: TestClient, lead_token: str, launch: Any, character: str
) -> None:
    """A lead token's `"text": "Receipts moved \u202e21"` was stored: in the digest the override ran on into
    the line the app writes after the text and drew its counts reversed ("yad a detcepxe 02 fo 4")."""
    hypothesis = f"/api/v1/launches/{SLUG}/hypotheses/send-money"
    changed = client.patch(hypothesis, json={"text": f"Receipts moved {character}21"}, headers=auth(lead_token))
    assert "control character" in assert_problems(changed, "text")[0]["message"]
    created = client.post(
        f"/api/v1/launches/{SLUG}/hypotheses",
        json={"key": "new-one", "text": "New", "owner_team": f"Team {character}"},
        headers=auth(lead_token),
    )
    assert "control character" in assert_problems(created, "owner_team")[0]["message"]


def test_an_unknown_parameter_of_a_change_says_nothing_was_changed(
    client: TestClient, lead_token: str, launch: Any
) -> None:
    """ "nothing was counted", said of a PATCH, a POST or a DELETE."""
    for method, path, body in (
        ("PATCH", f"/api/v1/launches/{SLUG}/hypotheses/send-money?dry_run=1", {"text": "Changed"}),
        ("POST", f"/api/v1/launches/{SLUG}/hypotheses?dry_run=1", {"key": "new-one", "text": "New"}),
        ("DELETE", "/api/v1/enquiries/1?dry_run=1", None),
    ):
        response = client.request(method, path, json=body, headers=auth(lead_token))
        [problem] = assert_problems(response, "dry_run")
        assert "nothing was changed" in problem["message"] and "counted" not in problem["message"], method
    [listed] = client.get("/api/v1/launches", headers=auth(lead_token)).json()
    assert {h["key"]: h["text"] for h in listed["hypotheses"]}["send-money"] == "Hypothesis send-money"


def test_a_value_postgresql_refuses_lists_its_problem(pg: Any) -> None:
    """The DataError handler's 422 `invalid` had no `problems`. A column narrower than the code expects
    (a database altered by hand) stands for whatever value the checks before it miss."""
    url = pg.new_database()
    db = Database(url)
    try:
        migrations.upgrade(db)
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE hypothesis ALTER COLUMN owner_team TYPE varchar(5)")
        make_launch(db, slug=SLUG, hypotheses=("send-money",))
        with db.transaction() as session:
            _, raw = api_tokens.create(session, name="product", now=DURING_LAUNCH, actor="test", role=TokenRole.LEAD)
        with TestClient(create_app(make_settings(url), db=db)) as client:
            response = client.patch(
                f"/api/v1/launches/{SLUG}/hypotheses/send-money", json={"owner_team": "Payments"}, headers=auth(raw)
            )
            assert "cannot be stored as given" in assert_problems(response, "")[0]["message"]
    finally:
        db.dispose()


# --- HEAD ------------------------------------------------------------------------------------------


def test_every_reading_call_answers_head_as_its_get_without_a_body(client: TestClient, token: str, launch: Any) -> None:
    """HEAD was a 405 (Allow: GET) on every call (RFC 9110 §9.1: a GET's resource answers HEAD)."""
    window = {"start": "2026-11-18T00:00:00+01:00", "end": "2026-11-19T00:00:00+01:00"}
    calls = [("/api/v1/launches", {}), ("/api/openapi.json", {}), (f"/api/v1/launches/{SLUG}/tally", window)]
    calls += [(f"/api/v1/launches/{SLUG}/{path}", {}) for path in ("series", "alerts", "surprises")]
    for path, params in calls:
        get = client.get(path, params=params, headers=auth(token))
        head = client.head(path, params=params, headers=auth(token))
        assert head.status_code == get.status_code == 200, (path, head.status_code, get.text)
        assert head.content == b""
        for name in ("content-type", "content-length", "x-content-type-options"):
            assert head.headers.get(name) == get.headers.get(name), (path, name)
    # Its refusals are the GET's: a token needed, a parameter it does not take, a launch it does not have.
    tally = f"/api/v1/launches/{SLUG}/tally"
    stranger = client.head(tally, params=window)
    assert stranger.status_code == 401 and stranger.headers["WWW-Authenticate"] == "Bearer"
    assert client.head(tally, params={**window, "chanel": "x"}, headers=auth(token)).status_code == 422
    assert client.head("/api/v1/launches/nope/series", headers=auth(token)).status_code == 404


def test_head_changes_nothing_and_is_allowed_where_get_is(client: TestClient, token: str, launch: Any) -> None:
    """A HEAD is its GET's, never another method's; a 405 lists HEAD wherever GET is answered."""
    logging = client.head(f"/api/v1/launches/{SLUG}/enquiries", headers=auth(token))
    assert logging.status_code == 405 and logging.headers["Allow"] == "POST"
    undo = client.head("/api/v1/enquiries/1", headers=auth(token))
    assert undo.status_code == 405 and undo.headers["Allow"] == "DELETE"
    window = {"start": "2020-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}
    assert client.get(f"/api/v1/launches/{SLUG}/tally", params=window, headers=auth(token)).json()["total"] == 0
    listing = client.post("/api/v1/launches", headers=auth(token))
    assert listing.status_code == 405 and listing.headers["Allow"] == "GET, HEAD"


def test_a_fix_link_with_a_space_is_told_what_is_wrong_with_it(
    client: TestClient, lead_token: str, launch: Any
) -> None:
    """It said "… is not a web address: write one starting with https://" of one that did."""
    hypothesis = f"/api/v1/launches/{SLUG}/hypotheses/send-money"
    spaced = client.patch(hypothesis, json={"fix_url": "https://example.com/a b"}, headers=auth(lead_token))
    [problem] = assert_problems(spaced, "fix_url")
    assert "has a space or a line break in it" in problem["message"] and "%20" in problem["message"]
    assert "starting with https://" not in problem["message"]
    for nothing_after in ("https://", "HTTP://"):  # no space in it: not told of one
        empty = client.patch(hypothesis, json={"fix_url": nothing_after}, headers=auth(lead_token))
        assert "not a web address" in assert_problems(empty, "fix_url")[0]["message"]


def test_an_integration_token_is_told_the_call_needs_a_lead_token_whatever_the_call(
    client: TestClient, token: str, launch: Any
) -> None:
    """Erasing a note with it answered "Changing hypotheses needs a lead token"."""
    logged = post(client, token, {"channel": "phone", "note": "Kunden lurte på gebyr"})
    refused = client.delete(f"/api/v1/enquiries/{logged.json()['id']}/note", headers=auth(token))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_role"
    message = refused.json()["error"]["message"]
    assert "This call changes a launch and needs a lead token" in message and "hypotheses" not in message


def test_each_call_s_404_in_the_openapi_names_the_codes_it_answers(
    client: TestClient, token: str, lead_token: str, launch: Any
) -> None:
    """Every 404 was "Unknown launch or enquiry", also on calls that answer unknown_hypothesis or
    unknown_alert (a generated client's documentation said so)."""
    paths = client.get("/api/openapi.json").json()["paths"]
    logged = post(client, token, {"channel": "phone"}).json()["id"]
    assert client.delete(f"/api/v1/enquiries/{logged}", headers=auth(token)).status_code == 200
    calls = [
        ("patch", "/api/v1/launches/{slug}/hypotheses/{key}", f"/api/v1/launches/{SLUG}/hypotheses/nope", {}),
        ("patch", "/api/v1/launches/{slug}/hypotheses/{key}", "/api/v1/launches/nope/hypotheses/send-money", {}),
        (
            "get",
            "/api/v1/launches/{slug}/hypotheses/{key}/impact",
            f"/api/v1/launches/{SLUG}/hypotheses/nope/impact",
            {},
        ),
        ("get", "/api/v1/launches/{slug}/alerts", f"/api/v1/launches/{SLUG}/alerts?before=999999", {}),
        ("get", "/api/v1/launches/{slug}/series", "/api/v1/launches/nope/series?bucket=day", {}),
        ("delete", "/api/v1/enquiries/{enquiry_id}", f"/api/v1/enquiries/{logged}", {}),
        ("delete", "/api/v1/enquiries/{enquiry_id}/note", "/api/v1/enquiries/999999/note", {}),
        ("post", "/api/v1/launches/{slug}/enquiries", "/api/v1/launches/nope/enquiries", {"channel": "phone"}),
    ]
    for method, operation, url, body in calls:
        chosen = lead_token if method != "delete" or url.endswith("/note") else token
        kwargs: dict[str, Any] = {"json": body} if method in ("patch", "post") else {}
        answer = client.request(method.upper(), url, headers=auth(chosen), **kwargs)
        assert answer.status_code == 404, (url, answer.text)
        described = paths[operation][method]["responses"]["404"]["description"]
        assert f"`{answer.json()['error']['code']}`" in described, (operation, described)
        assert "Unknown launch or enquiry" not in described
    assert "404" not in paths["/api/v1/launches"]["get"]["responses"], "it names no launch: never a 404"
