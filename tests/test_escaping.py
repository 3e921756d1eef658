"""Text people type (a launch name, a hypothesis text, a note) is shown as text on every page:
escaped, never a live tag or a live htmx attribute. The YAML export keeps it as plain text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import time_machine
import yaml
from markupsafe import escape

from app.db import Database
from tests.conftest import People, WebUser
from tests.factories import make_launch
from tests.helpers import HTMX, Elements, launch_form

Web = Callable[[str | None], WebUser]
SLUG = "test-launch"
KEY = "typed-in"
NOW = dt.datetime(2026, 11, 18, 10, 30, tzinfo=dt.UTC)
PAYLOADS = [
    pytest.param("<script>alert(1)</script>", id="script"),
    pytest.param("<img src=x onerror=alert(1)>", id="img"),
    pytest.param('<b hx-get="/logout" hx-trigger="load">x</b>', id="htmx"),
]


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def typed(app: Any, db: Database, web: Web, people: People, request: pytest.FixtureRequest) -> dict[str, Any]:
    """A launch named ``payload``, a hypothesis with that text (and an earlier text holding it), and
    enquiries on it and under "other" with that note, all entered through the app."""
    payload: str = request.param
    launch = make_launch(db, slug=SLUG)
    lena, kari = web("lena"), web("kari")
    assert lena.post(f"/launches/{SLUG}/edit", data=launch_form(launch, name=payload)).status_code == 303
    assert lena.post(f"/launches/{SLUG}/hypotheses", data={"key": KEY, "text": payload}).status_code == 303
    # An earlier text holding the payload, shown as a revision in the editor.
    for text in (f"{payload} (before)", "Hypothesis a"):
        assert lena.post(f"/launches/{SLUG}/hypotheses/a", data={"text": text, "status": "open"}).status_code == 303
    for body in ({"channel": "phone", "hypotheses": [KEY]}, {"channel": "chat", "note": payload}):
        assert kari.post(f"/launches/{SLUG}/enquiries", json=body).status_code == 201
    return {"payload": payload, "lena": lena, "kari": kari}


def assert_shown_as_text(html: str, payload: str, *, at_least: int = 1) -> None:
    assert payload not in html, "the raw text is in the page"
    assert html.count(str(escape(payload))) >= at_least, "the escaped text is not (often enough) in the page"
    page = Elements(html)
    assert [t for t, _ in page.tags if t == "img"] == []
    assert [script for script in page.scripts if script.strip()] == [], "an inline script"
    assert all(attrs.get("src") for tag, attrs in page.tags if tag == "script")
    assert page.with_attribute("onerror") == []
    assert [attrs for _, attrs in page.with_attribute("hx-trigger") if attrs["hx-trigger"] == "load"] == []
    assert [attrs for _, attrs in page.with_attribute("hx-get") if attrs["hx-get"] == "/logout"] == []


@pytest.mark.parametrize("typed", PAYLOADS, indirect=True)
def test_the_checklist_shows_it_as_text(typed: dict[str, Any]) -> None:
    html = typed["kari"].get(f"/launches/{SLUG}/checklist").text
    # Title and heading (name); button text, data-text and label (hypothesis); recent list (both, and the note).
    assert_shown_as_text(html, typed["payload"], at_least=6)


@pytest.mark.parametrize("typed", PAYLOADS, indirect=True)
def test_the_recent_fragment_shows_it_as_text(typed: dict[str, Any]) -> None:
    response = typed["kari"].get(f"/launches/{SLUG}/checklist/recent", headers={**HTMX})
    assert response.status_code == 200
    assert_shown_as_text(response.text, typed["payload"], at_least=2)  # the hypothesis, and the note


@pytest.mark.parametrize("typed", PAYLOADS, indirect=True)
def test_the_dashboard_shows_it_as_text(typed: dict[str, Any]) -> None:
    html = typed["kari"].get(f"/launches/{SLUG}").text
    assert_shown_as_text(html, typed["payload"], at_least=4)  # title, heading, hypothesis row, note


@pytest.mark.parametrize("typed", PAYLOADS, indirect=True)
def test_the_editor_shows_it_as_text(typed: dict[str, Any]) -> None:
    html = typed["lena"].get(f"/launches/{SLUG}/edit").text
    payload = typed["payload"]
    assert_shown_as_text(html, payload, at_least=5)
    page = Elements(html)
    assert ("input", {"id": "f-name", "name": "name", "value": payload, "required": None, "maxlength": "200"}) in (
        page.tags
    )
    assert str(escape(f"“{payload} (before)”")) in html  # the earlier text


@pytest.mark.parametrize("typed", PAYLOADS, indirect=True)
def test_the_index_shows_it_as_text(typed: dict[str, Any]) -> None:
    for user in (typed["kari"], typed["lena"]):
        assert_shown_as_text(user.get("/").text, typed["payload"])


@pytest.mark.parametrize("typed", PAYLOADS, indirect=True)
def test_an_error_page_shows_it_as_text(typed: dict[str, Any]) -> None:
    payload = typed["payload"]
    response = typed["lena"].post(f"/launches/{SLUG}/hypotheses", data={"key": KEY, "text": payload})
    assert response.status_code == 409  # the key is taken
    assert_shown_as_text(response.text, payload, at_least=3)


@pytest.mark.parametrize("typed", PAYLOADS, indirect=True)
def test_the_yaml_export_holds_it_as_plain_text(typed: dict[str, Any]) -> None:
    payload = typed["payload"]
    response = typed["kari"].get(f"/launches/{SLUG}/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    assert response.headers["content-disposition"] == f'attachment; filename="{SLUG}.yaml"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "&lt;" not in response.text and "&#" not in response.text
    data = yaml.safe_load(response.text)
    assert data["name"] == payload
    assert {h["key"]: h["text"] for h in data["hypotheses"]}[KEY] == payload


@pytest.mark.parametrize("payload", [p.values[0] for p in PAYLOADS], ids=[str(p.id) for p in PAYLOADS])
def test_text_from_the_address_or_the_login_form_is_shown_as_text(
    app: Any, web: Web, people: People, payload: str
) -> None:
    kari = web("kari")
    missing = kari.get(f"/launches/{quote(payload, safe='')}")
    assert missing.status_code == 404
    assert_shown_as_text(missing.text, payload)  # "No launch with slug …"
    signed_out = web(None)
    refused = signed_out.client.post(
        "/login", data={"username": payload, "password": "x", "csrf_token": signed_out.csrf}
    )
    assert refused.status_code == 401
    assert_shown_as_text(refused.text, payload)  # the name typed, kept in the form
