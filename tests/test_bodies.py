"""Hostile bodies: the token is checked before an enquiry's body is read, and large bodies are refused unread."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient

from app.db import Database
from app.main import SECURITY_HEADERS
from tests.factories import make_launch

SLUG = "test-launch"
URL = f"/api/v1/launches/{SLUG}/enquiries"


@pytest.fixture(autouse=True)
def during_the_launch() -> Any:
    with time_machine.travel(dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC), tick=True):
        yield


@pytest.fixture
def launch(db: Database) -> Any:
    return make_launch(db, slug=SLUG)


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent without a Content-Length (chunked), counting how much of it was taken."""
    sent = 0
    while sent < total:
        sent += size
        yield b" " * size


def test_a_wrong_token_is_refused_before_the_body_is_read(client: TestClient, launch: Any) -> None:
    sent = []

    def body() -> Iterator[bytes]:
        for part in chunks(50 * 1024 * 1024):
            sent.append(len(part))
            yield part

    response = client.post(URL, content=body(), headers={"Authorization": "Bearer lt_wrong"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "bad_token"
    assert sum(sent) < 1024 * 1024  # the client stopped being read long before 50 MB


def test_a_declared_large_body_is_refused_unread(client: TestClient, token: str, launch: Any) -> None:
    response = client.post(
        URL,
        content=b"{}" + b" " * (17 * 1024),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"


def test_a_chunked_large_body_is_cut_off(client: TestClient, token: str, launch: Any) -> None:
    response = client.post(URL, content=chunks(200 * 1024), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 413


def test_a_normal_enquiry_still_goes_through(client: TestClient, token: str, launch: Any) -> None:
    response = client.post(
        URL, json={"channel": "phone", "note": "x" * 500}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text


def test_a_tick_with_a_large_body_is_refused(web: Any, people: Any, launch: Any) -> None:
    kari = web("kari")
    response = kari.post(
        f"/launches/{SLUG}/enquiries", content=b" " * (40 * 1024), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_every_other_request_has_a_limit_too(client: TestClient, launch: Any) -> None:
    response = client.post(
        "/login", content=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413
    response = client.post(
        "/login", content=chunks(2 * 1024 * 1024), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413


def test_the_openapi_document_states_the_real_note_limit(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    note = schema["components"]["schemas"]["ApiEnquiryIn"]["properties"]["note"]
    assert "500" in note["description"]
    assert [o.get("maxLength") for o in note["anyOf"]] == [500, None]


def test_a_refused_large_body_carries_the_security_headers(client: TestClient, launch: Any) -> None:
    """The body limit is the outermost layer and answered its 413 itself, outside the one that added
    them: no CSP, X-Frame-Options or nosniff on it."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    declared = client.post("/login", content=b"x" * (2 * 1024 * 1024), headers=form)
    chunked = client.post("/login", content=chunks(2 * 1024 * 1024), headers=form)
    for response in (declared, chunked):
        assert response.status_code == 413
        for name, value in SECURITY_HEADERS:
            assert response.headers.get_list(name.decode()) == [value.decode()], name
