"""Cross-site request forgery: every state-changing browser route needs the page's token and a
same-site origin, and nothing changes state on GET. Routes are enumerated from the app, so a
route added later is covered without touching this file (or fails here until it gets a sample)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Route

from app import api_tokens
from app.db import Database
from app.models import User
from tests.conftest import PASSWORD, People, WebUser
from tests.factories import T0, log, make_launch
from tests.helpers import (
    JSON,
    browser,
    changed_tables,
    error_of,
    page_token,
    row_counts,
    sign_in,
    snapshot,
)

Web = Callable[[str | None], WebUser]
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
SLUG = "test-launch"
OUT_OF_DATE = "This page was out of date"

# Bodies that would change something if the token were not checked, so "nothing changed" means
# the check held. A route without a sample is still checked, with an empty body.
SAMPLE_FORMS: dict[str, dict[str, str]] = {
    "/login": {"username": "ada", "password": PASSWORD},
    "/me/language": {"language": "nb"},
    "/me/password": {"current": PASSWORD, "new": "a brand new password"},
    "/me/checklist": {"channel": "chat", "segment": "business"},
    "/launches": {"slug": "new-launch", "name": "New launch", "starts_on": "2026-12-01"},
    "/launches/{slug}/edit": {
        "name": "Renamed",
        "starts_on": "2026-11-16",
        "ends_on": "2026-12-07",
        "timezone": "Europe/Oslo",
        "digest_times": "09:00",
        "channels": "phone",
        "segments": "private",
        "status": "closed",
    },
    "/launches/{slug}/hypotheses": {"key": "new-one", "text": "Something new"},
    "/launches/{slug}/hypotheses/{key}": {"text": "Changed text", "status": "retired"},
    "/admin/users": {"username": "newbie", "role": "admin"},
    "/admin/users/{user_id}": {"role": "admin", "active": ""},
    "/admin/tokens": {"name": "crm"},
}
SAMPLE_JSON: dict[str, dict[str, Any]] = {
    "/launches/{slug}/enquiries": {"channel": "phone", "hypotheses": ["a"], "idempotency_key": "forged-1"},
}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    """A day inside the launch, whenever the tests run: ticks are only taken while it runs."""
    with time_machine.travel(dt.datetime(2026, 11, 18, 10, 30, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def world(db: Database, people: People) -> dict[str, Any]:
    """A launch with an enquiry by Kari and an API token: something for every path parameter."""
    launch = make_launch(db, slug=SLUG)
    enquiry_id = log(db, launch, "a", agent=people.agent, at=dt.datetime.now(dt.UTC))
    with db.transaction() as session:
        token, _ = api_tokens.create(session, name="telephony", now=T0, actor="test")
    return {
        "slug": SLUG,
        "key": "a",
        "enquiry_id": enquiry_id,
        "user_id": people.agent.id,
        "token_id": token.id,
    }


@dataclass(frozen=True)
class WebRoute:
    path: str
    methods: frozenset[str]


def web_routes(app: Any) -> list[WebRoute]:
    """Every HTTP route of the app outside the bearer-token API.

    ``app.routes`` holds one node per included router (FastAPI ≥ 0.137 no longer copies their
    routes in); ``iter_route_contexts`` walks them, giving each route its full path."""
    routes = [
        WebRoute(context.path, frozenset(context.methods or ()))
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, Route) and context.path and not context.path.startswith("/api/")
    ]
    assert sum(isinstance(c.original_route, APIRoute) for c in iter_route_contexts(app.routes)) >= 20
    return routes


def params_of(path: str) -> list[str]:
    return re.findall(r"\{(\w+)(?::\w+)?\}", path)


def fill(path: str, values: dict[str, Any]) -> str:
    """The path with plausible values. An id nobody knows yet (a route added later) gets 1: the
    CSRF check runs before the route looks anything up, so it is still tested."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return str(values[name])
        assert name.endswith("_id"), f"{path}: give the path parameter {name!r} a plausible value in world()"
        return "1"

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


def unsafe_requests(app: Any, values: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (method, route.path, fill(route.path, values))
        for route in web_routes(app)
        for method in sorted(route.methods & UNSAFE)
    ]


def test_the_route_list_is_what_we_think(app: Any, world: dict[str, Any]) -> None:
    """A guard on the enumeration itself: if it found nothing, the tests below would prove nothing."""
    paths = {path for _, path, _ in unsafe_requests(app, world)}
    assert {
        "/login",
        "/logout",
        "/me/password",
        "/launches/{slug}/enquiries",
        "/enquiries/{enquiry_id}/undo",
        "/admin/users/{user_id}",
        "/admin/tokens/{token_id}/revoke",
    } <= paths
    assert not {p for p in paths if p.startswith("/api/")}


def test_every_state_changing_route_refuses_a_request_without_the_token(
    app: Any, db: Database, web: Web, world: dict[str, Any]
) -> None:
    admin = web("ada")
    before = snapshot(db)
    problems = []
    for method, path, url in unsafe_requests(app, world):
        for headers in (JSON, {}):
            kwargs: dict[str, Any] = {"headers": headers}
            if path in SAMPLE_JSON:
                kwargs["json"] = SAMPLE_JSON[path]
            else:
                kwargs["data"] = SAMPLE_FORMS.get(path, {})
            response = admin.client.request(method, url, **kwargs)
            if response.status_code != 403:
                problems.append(f"{method} {url}: {response.status_code}, not 403")
            elif headers:
                error = error_of(response)
                if error["code"] != "csrf" or "out of date" not in error["message"]:
                    problems.append(f"{method} {url}: {error}")
            elif OUT_OF_DATE not in response.text or "text/html" not in response.headers["content-type"]:
                problems.append(f"{method} {url}: the HTML page does not say it was out of date")
    assert not problems, "\n".join(problems)
    assert not changed_tables(before, snapshot(db))
    # And the admin is still signed in (logout was refused too).
    assert admin.get("/").status_code == 200


def test_a_wrong_token_is_refused(app: Any, db: Database, web: Web, world: dict[str, Any]) -> None:
    kari, other_browser = web("kari"), web("kari")
    right = kari.token()
    wrong = ("0" if right[0] != "0" else "1") + right[1:]
    before = snapshot(db)
    for token in (wrong, right.upper(), right[:-1], "", "x" * 64):
        response = kari.client.post("/me/checklist", data={"channel": "chat", "csrf_token": token}, headers=JSON)
        assert response.status_code == 403 and error_of(response)["code"] == "csrf", token
        response = kari.client.post("/me/checklist", data={"channel": "chat"}, headers={"X-CSRF-Token": token})
        assert response.status_code == 403, token
    # Another browser's token, even for the same user, is not this browser's.
    other = other_browser.token()
    response = kari.client.post("/me/checklist", data={"channel": "chat"}, headers={"X-CSRF-Token": other, **JSON})
    assert response.status_code == 403 and error_of(response)["code"] == "csrf"
    assert not changed_tables(before, snapshot(db))  # kari's toggles included


def test_a_token_with_a_character_outside_ascii_is_refused_not_a_server_error(
    app: Any, db: Database, web: Web, world: dict[str, Any]
) -> None:
    """compare_digest raises TypeError for a str holding anything but ASCII: "é" as the token, in the form or
    the header, was a 500 on every protected route and on the checklist's tick, for anyone."""
    kari = web("kari")
    before = snapshot(db)
    for token in ("é", kari.token()[:-1] + "é"):
        response = kari.client.post("/me/checklist", data={"channel": "chat", "csrf_token": token}, headers=JSON)
        assert response.status_code == 403 and error_of(response)["code"] == "csrf", token
        header = {b"X-CSRF-Token": token.encode(), b"Accept": b"application/json"}  # the UTF-8 bytes, as curl sends
        response = kari.client.post("/me/checklist", data={"channel": "chat"}, headers=header)
        assert response.status_code == 403 and error_of(response)["code"] == "csrf", token
        tick = kari.client.post("/launches/test-launch/enquiries", json={"channel": "phone"}, headers=header)
        assert tick.status_code == 403 and error_of(tick)["code"] == "csrf", token
    assert not changed_tables(before, snapshot(db))


def test_the_right_token_works_as_form_field_or_header(app: Any, web: Web, world: dict[str, Any]) -> None:
    kari = web("kari")
    token = kari.token("/launches/test-launch/checklist")
    as_field = kari.client.post("/me/checklist", data={"channel": "chat", "csrf_token": token})
    assert as_field.status_code == 204
    as_header = kari.client.post("/me/checklist", data={"segment": "business"}, headers={"X-CSRF-Token": token})
    assert as_header.status_code == 204
    page = kari.get("/launches/test-launch/checklist").text
    assert re.search(r'value="chat" checked', page) and re.search(r'value="business" checked', page)
    # JSON requests (the checklist's ticks) carry it in the header.
    tick = kari.client.post(
        "/launches/test-launch/enquiries", json={"channel": "chat"}, headers={"X-CSRF-Token": token}
    )
    assert tick.status_code == 201


def test_a_multipart_form_carries_its_token_as_a_field(app: Any, db: Database, web: Web, people: People) -> None:
    lena = web("lena")
    text = "slug: imported\nname: Imported launch\nstarts_on: 2026-12-01\nhypotheses:\n  - key: one\n    text: One\n"
    files = {"file": ("imported.yaml", text.encode(), "application/yaml")}
    refused = lena.client.post("/launches", files=files, data={"csrf_token": "nope"})
    assert refused.status_code == 403
    assert lena.get("/launches/imported").status_code == 404
    accepted = lena.client.post("/launches", files=files, data={"csrf_token": lena.token("/")})
    assert accepted.status_code == 303 and accepted.headers["location"] == "/launches/imported/edit"
    assert lena.get("/launches/imported").status_code == 200


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "http://testserver.evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),
        ({"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"}, False),
        ({"Origin": "http://testserver"}, True),
        ({"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "none"}, True),  # typed into the address bar, or a bookmark
    ],
)
def test_requests_from_another_site_are_refused_even_with_the_token(
    app: Any, db: Database, web: Web, people: People, headers: dict[str, str], allowed: bool
) -> None:
    kari = web("kari")
    token = kari.token()
    response = kari.client.post(
        "/me/checklist", data={"channel": "chat"}, headers={"X-CSRF-Token": token, **JSON, **headers}
    )
    if allowed:
        assert response.status_code == 204, response.text
    else:
        assert response.status_code == 403 and error_of(response)["code"] == "bad_origin"
        assert "site" in error_of(response)["message"]
        with db.session() as session:
            kari_now = session.get(User, people.agent.id)
        assert kari_now is not None and kari_now.channel is None


def test_the_token_changes_at_sign_in(app: Any, client: TestClient, people: People) -> None:
    me = browser(app)
    before = page_token(me, "/login")
    response = me.post("/login", data={"username": "kari", "password": PASSWORD, "csrf_token": before})
    assert response.status_code == 303
    after = page_token(me, "/")
    assert after != before
    stale = me.post("/me/checklist", data={"channel": "chat"}, headers={"X-CSRF-Token": before, **JSON})
    assert stale.status_code == 403 and error_of(stale)["code"] == "csrf"
    assert me.post("/me/checklist", data={"channel": "chat"}, headers={"X-CSRF-Token": after}).status_code == 204


def test_the_token_changes_at_sign_out(app: Any, web: Web, people: People) -> None:
    kari = web("kari")
    signed_in = kari.token()
    assert kari.post("/logout").status_code == 303
    assert page_token(kari.client, "/login") != signed_in
    # The signed-in page's token cannot sign someone else in on this browser.
    replay = kari.client.post("/login", data={"username": "ola", "password": PASSWORD, "csrf_token": signed_in})
    assert replay.status_code == 403


def test_the_login_form_itself_needs_the_token(app: Any, client: TestClient, people: People) -> None:
    """Login CSRF: another site must not be able to sign a browser in to an account of its choosing."""
    me = browser(app)
    me.get("/login")
    forged = me.post("/login", data={"username": "kari", "password": PASSWORD})
    assert forged.status_code == 403
    assert "tally_session" not in me.cookies
    assert sign_in(me, "kari").status_code == 303


def test_nothing_changes_state_on_get(app: Any, db: Database, web: Web, world: dict[str, Any]) -> None:
    admin = web("ada")  # signing in writes login_attempt and web_session: before the snapshot
    before = snapshot(db)
    visited = []
    for route in web_routes(app):
        if "GET" not in route.methods:
            continue
        url = fill(route.path, world)
        known = all(name in world for name in params_of(route.path))
        for headers in ({}, {"HX-Request": "true"}):
            response = admin.get(url, headers=headers)
            expected = response.status_code in (200, 303) if known else response.status_code < 500
            assert expected, (url, response.status_code, response.text[:300])
        visited.append(url)
    assert {"/", "/launches/test-launch", "/launches/test-launch/checklist", "/admin/users", "/me"} <= set(visited)
    assert not changed_tables(before, snapshot(db))


def test_the_api_takes_no_csrf_token_and_no_cookies(app: Any, db: Database, web: Web, world: dict[str, Any]) -> None:
    kari = web("kari")
    url = "/api/v1/launches/test-launch/enquiries"
    before = row_counts(db)
    with_cookie_only = kari.client.post(url, json={"channel": "phone"}, headers={"X-CSRF-Token": kari.token()})
    assert with_cookie_only.status_code == 401
    assert error_of(with_cookie_only)["code"] == "missing_token"
    assert with_cookie_only.headers["WWW-Authenticate"] == "Bearer"
    assert row_counts(db) == before

    with db.transaction() as session:
        _, raw = api_tokens.create(session, name="crm", now=T0, actor="test")
    # A bearer token needs no CSRF token and no same-origin headers: it is not ambient authority.
    response = browser(app).post(
        url,
        json={"channel": "phone"},
        headers={"Authorization": f"Bearer {raw}", "Origin": "https://crm.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 201
    assert row_counts(db)["enquiry"] == before["enquiry"] + 1
