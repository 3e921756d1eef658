"""The hot path (app/recording/hot_path.py): the two ways to log an enquiry skip the middleware stack, yet answer
exactly as the rest of the app would — security headers, errors, CSRF."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import func, select

from app.db import Database
from app.main import SECURITY_HEADERS
from app.models import Enquiry, Launch
from app.recording.hot_path import match
from tests.conftest import People, WebUser
from tests.factories import make_launch

SLUG = "test-launch"
Web = Callable[[str | None], WebUser]


@pytest.fixture(autouse=True)
def during_the_launch() -> Any:
    with time_machine.travel(dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC), tick=True):
        yield


@pytest.fixture
def launch(db: Database) -> Launch:
    return make_launch(db, slug=SLUG, hypotheses=("bankid-login-loop", "receipts-moved"))


@pytest.fixture
def stack_calls(app: Any, client: TestClient) -> list[str]:
    """Paths of the requests that went through the framework's middleware stack."""
    calls: list[str] = []
    inner = app.middleware_stack

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            calls.append(scope["path"])
        await inner(scope, receive, send)

    app.middleware_stack = counting
    return calls


def _has_security_headers(response: Any) -> bool:
    return all(response.headers.get(name.decode()) == value.decode() for name, value in SECURITY_HEADERS)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/api/v1/launches/payapp-5/enquiries", ("api", "payapp-5")),
        ("POST", "/launches/payapp-5/enquiries", ("tick", "payapp-5")),
        ("GET", "/api/v1/launches/payapp-5/enquiries", None),
        ("POST", "/api/v1/launches//enquiries", None),
        ("POST", "/api/v1/launches/a/b/enquiries", None),
        ("POST", "/launches/payapp-5/enquiries/1", None),
        ("POST", "/api/v1/enquiries", None),
    ],
)
def test_only_the_two_ways_to_log_an_enquiry_take_the_hot_path(
    method: str, path: str, expected: tuple[str, str] | None
) -> None:
    assert match({"type": "http", "method": method, "path": path, "root_path": ""}) == expected


def test_the_hot_path_follows_a_root_path() -> None:
    scope = {"type": "http", "method": "POST", "path": "/tally/launches/x/enquiries", "root_path": "/tally"}
    assert match(scope) == ("tick", "x")


def test_an_api_enquiry_skips_the_stack_and_keeps_the_security_headers(
    client: TestClient, token: str, launch: Launch, stack_calls: list[str]
) -> None:
    response = client.post(
        f"/api/v1/launches/{SLUG}/enquiries",
        json={"channel": "phone", "hypotheses": ["receipts-moved"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["hypotheses"] == ["receipts-moved"]
    assert _has_security_headers(response)
    assert stack_calls == []
    client.get("/healthz")
    assert stack_calls == ["/healthz"]  # the counter does count what goes through the stack


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ({"channel": "phone", "hypotheses": ["nope"]}, True, 422, "unknown_hypothesis"),
        ({"channel": "phone", "hypotheses": "not a list"}, True, 422, "invalid"),
        ({"channel": "phone"}, False, 401, "missing_token"),
    ],
)
def test_api_errors_on_the_hot_path_are_the_apps_own(
    client: TestClient,
    token: str,
    launch: Launch,
    stack_calls: list[str],
    body: dict[str, Any],
    headers: bool,
    status: int,
    code: str,
) -> None:
    response = client.post(
        f"/api/v1/launches/{SLUG}/enquiries",
        json=body,
        headers={"Authorization": f"Bearer {token}"} if headers else {},
    )
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert _has_security_headers(response)
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert stack_calls == []


def test_a_tick_skips_the_stack_and_keeps_the_security_headers(
    web: Web, people: People, launch: Launch, stack_calls: list[str]
) -> None:
    kari = web("kari")
    csrf_token = kari.token()
    stack_calls.clear()
    response = kari.client.post(
        f"/launches/{SLUG}/enquiries",
        json={"channel": "chat", "hypotheses": ["bankid-login-loop"]},
        headers={"X-CSRF-Token": csrf_token},
    )
    assert response.status_code == 201, response.text
    assert response.headers["hx-trigger"] == "tally:changed"
    assert _has_security_headers(response)
    assert stack_calls == []

    forged = kari.client.post(
        f"/launches/{SLUG}/enquiries",
        json={"channel": "chat"},
        headers={"X-CSRF-Token": "0", "Accept": "application/json"},
    )
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "csrf"
    assert _has_security_headers(forged)
    assert stack_calls == []


def test_a_tick_from_a_browser_without_a_csrf_cookie_goes_through_the_stack_and_gets_one(
    client: TestClient, db: Database, launch: Launch, stack_calls: list[str]
) -> None:
    client.cookies.clear()
    response = client.post(f"/launches/{SLUG}/enquiries", json={"channel": "chat", "hypotheses": []})
    assert response.status_code == 403
    assert "tally_csrf=" in response.headers["set-cookie"]
    assert stack_calls == [f"/launches/{SLUG}/enquiries"]
    with db.session() as session:
        assert session.exec(select(func.count()).select_from(Enquiry)).one() == 0


def test_an_unexpected_failure_on_the_hot_path_is_a_500(
    app: Any, token: str, launch: Launch, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(request: Any, slug: str) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setitem(app.hot_handlers, "api", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            f"/api/v1/launches/{SLUG}/enquiries",
            json={"channel": "phone"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 500 and response.text == "Internal Server Error"
    assert _has_security_headers(response)  # answered by the app, as the stack's 500 is, not left to uvicorn
