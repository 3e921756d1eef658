"""Hostile bodies: the token is checked before an enquiry's body is read, and large bodies are refused unread."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient

from app import api_tokens
from app.db import Database
from app.main import SECURITY_HEADERS
from app.models import TokenRole
from tests.factories import T0, make_launch

SLUG = "test-launch"
URL = f"/api/v1/launches/{SLUG}/enquiries"
FORM_TYPE = "application/x-www-form-urlencoded"  # curl -d, PowerShell's Invoke-RestMethod


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


def test_the_limit_is_told_as_the_docs_give_it(client: TestClient, token: str, launch: Any) -> None:
    """The docs and the OpenAPI document say 1 MB; the answer said "over 1024 KB"."""
    hypotheses = client.post(
        f"/api/v1/launches/{launch.slug}/hypotheses",
        content=b"{}" + b" " * (1024 * 1024 + 1),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert hypotheses.status_code == 413, hypotheses.text
    assert hypotheses.json()["error"]["message"] == "The request body is over 1 MB: nothing was read."
    enquiry = client.post(
        URL,
        content=b"{}" + b" " * (17 * 1024),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert enquiry.json()["error"]["message"].startswith("The request body is over 16 KB")


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


# --- JSON as integrations send it --------------------------------------------------------------


def lead_token(db: Database) -> str:
    with db.transaction() as session:
        _, raw = api_tokens.create(session, name="lead script", now=T0, actor="test", role=TokenRole.LEAD)
    return raw


def test_a_json_mistake_in_an_enquiry_says_where_it_is(client: TestClient, token: str, launch: Any) -> None:
    """Every mistake said "at character 0": the framework's parser gives the place beside the error,
    pydantic's (the enquiry POSTs) says it in its message."""
    response = client.post(URL, content=b'{"channel":"phone",}', headers={"Authorization": f"Bearer {token}"})
    message = response.json()["error"]["message"]
    assert response.status_code == 422 and "trailing comma at line 1 column 20" in message, message
    assert "character 0" not in message
    not_an_object = client.post(URL, content=b'["phone"]', headers={"Authorization": f"Bearer {token}"})
    assert "the body must be a JSON object" in not_an_object.json()["error"]["message"], not_an_object.text


BOM = b"\xef\xbb\xbf"


def json_calls(db: Database, token: str, launch: Any) -> list[tuple[str, str, dict[str, str], bytes, int]]:
    """Every API call that takes a JSON body: (method, path, headers, body, the status of its success)."""
    lead = {"Authorization": f"Bearer {lead_token(db)}"}
    api = f"/api/v1/launches/{SLUG}"
    return [
        ("POST", URL, {"Authorization": f"Bearer {token}"}, b'{"channel": "phone"}', 201),
        ("PATCH", f"{api}/hypotheses/a", lead, b'{"owner_team": "Payments"}', 200),
        ("POST", f"{api}/hypotheses", lead, b'{"key": "KEY", "text": "New"}', 201),
        # Nothing of 999 to move: answered by reading the body, not refused for its label.
        ("POST", f"{api}/hypotheses/a/relinks", lead, b'{"from_notes": [999]}', 409),
    ]


def test_a_json_body_with_a_byte_order_mark_is_taken(client: TestClient, db: Database, token: str, launch: Any) -> None:
    """PowerShell and .NET write UTF-8 with a BOM, which RFC 8259 lets a parser ignore: the enquiry POST
    refused it ("expected value at line 1 column 1"), the framework's routes took it."""
    for n, (method, path, headers, body, status) in enumerate(json_calls(db, token, launch)):
        answer = client.request(
            method,
            path,
            content=BOM + body.replace(b"KEY", f"bom-{n}".encode()),
            headers=headers | {"Content-Type": "application/json"},
        )
        assert answer.status_code == status, (path, answer.text)


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "text/plain;charset=UTF-8", FORM_TYPE],
)
def test_every_json_call_reads_its_body_as_json_whatever_its_label(
    client: TestClient, db: Database, token: str, launch: Any, content_type: str | None
) -> None:
    """The enquiry POST took JSON labelled text/plain or a form (curl -d, PowerShell's default), the
    PATCH and the hypotheses' POSTs refused the same with 422. One rule: a JSON body is read as JSON."""
    label = {"Content-Type": content_type} if content_type else {}
    for n, (method, path, headers, body, status) in enumerate(json_calls(db, token, launch)):
        answer = client.request(method, path, content=body.replace(b"KEY", f"k-{n}".encode()), headers=headers | label)
        assert answer.status_code == status, (path, answer.text)
    form = client.post(URL, content=b"channel=phone", headers={"Authorization": f"Bearer {token}"} | label)
    assert form.status_code == 422 and "the body is not valid JSON" in form.json()["error"]["message"], form.text


@pytest.mark.parametrize("bom", [b"", BOM])
def test_a_body_that_is_not_utf8_is_told_so_with_its_byte(
    client: TestClient, db: Database, token: str, launch: Any, bom: bytes
) -> None:
    """Windows PowerShell sends a string body as ISO-8859-1 unless told the charset: the enquiry POST
    answered "invalid unicode code point at line 1 column 31", the other calls "could not be read as
    JSON", neither naming the encoding."""
    for method, path, headers, body, _ in json_calls(db, token, launch):
        latin1 = bom + body[:-1] + ', "note": "café"}'.encode("latin-1")
        offset = latin1.index(b"\xe9")
        answer = client.request(method, path, content=latin1, headers=headers | {"Content-Type": "application/json"})
        error = answer.json()["error"]
        assert answer.status_code == 422 and error["code"] == "invalid", (path, answer.text)
        assert f"The body is not UTF-8 (byte 0xE9 at offset {offset}): send it as UTF-8" in error["message"], path
        assert "-ContentType 'application/json; charset=utf-8'" in error["message"]
        assert error["problems"] == [{"field": "", "message": error["message"]}]
    # A stranger hears first that it needs a token, as for any other mistake.
    stranger = {"Authorization": "Bearer lt_wrong"}
    for method, path, _, body, _ in json_calls(db, token, launch):
        latin1 = bom + body[:-1] + ', "note": "café"}'.encode("latin-1")
        assert client.request(method, path, content=latin1, headers=stranger).status_code == 401, path
