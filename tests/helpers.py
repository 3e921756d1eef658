"""Helpers for the HTTP-level tests: browsers, CSRF tokens from pages, cookies, database snapshots."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import SQLModel

from app.db import Database
from app.models import DayTally, LaunchTally, ReadinessProbe, SlotTally
from tests.conftest import PASSWORD

SESSION_COOKIE = "tally_session"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
CSRF_HEADER = re.compile(r'"X-CSRF-Token": "([0-9a-f]+)"')
# Read-only: conftest's WebUser.post adds its token to the headers dict it is given, so a shared
# dict would carry one test's token into the next. Pass copies to it: headers={**JSON}.
JSON: Mapping[str, str] = MappingProxyType({"Accept": "application/json"})
HTMX: Mapping[str, str] = MappingProxyType({"HX-Request": "true"})


def browser(app: Any, **kwargs: Any) -> TestClient:
    """A fresh browser: its own cookie jar, redirects not followed (so they can be checked)."""
    return TestClient(app, follow_redirects=False, **kwargs)


def csrf_of(html: str) -> str:
    """The CSRF token a page carries (hx-headers on <body>, or a form field)."""
    match = CSRF_HEADER.search(html) or CSRF_FIELD.search(html)
    assert match, f"no CSRF token in the page: {html[:300]}"
    return match.group(1)


def page_token(client: TestClient, path: str = "/login") -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return csrf_of(response.text)


def sign_in(client: TestClient, username: str, password: str = PASSWORD, **fields: str) -> Any:
    """Post the sign-in form as a browser would, with the login page's token; returns the response."""
    data = {"username": username, "password": password, "csrf_token": page_token(client), **fields}
    return client.post("/login", data=data)


def set_cookies(response: Any, name: str) -> list[str]:
    """The raw Set-Cookie headers for cookie ``name``."""
    return [h for h in response.headers.get_list("set-cookie") if h.split("=", 1)[0].strip() == name]


def cookie_parts(header: str) -> tuple[str, dict[str, str]]:
    """(value, attributes by lower-case name) of one Set-Cookie header."""
    first, *rest = [part.strip() for part in header.split(";")]
    value = first.split("=", 1)[1]
    attributes = {}
    for part in rest:
        key, _, attr_value = part.partition("=")
        attributes[key.strip().lower()] = attr_value.strip()
    return value, attributes


def session_cookie(response: Any) -> str | None:
    """The session token a response set, if it set one (not a deletion)."""
    for header in set_cookies(response, SESSION_COOKIE):
        value, attributes = cookie_parts(header)
        if value.strip('"') and attributes.get("max-age") != "0":
            return value
    return None


def with_cookie(app: Any, value: str) -> TestClient:
    """A fresh browser that sends only ``tally_session=value`` (e.g. a cookie copied from another one)."""
    client = browser(app)
    client.cookies.set(SESSION_COOKIE, value)
    return client


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert "error" in body, body
    error: dict[str, Any] = body["error"]
    return error


# --- the database -------------------------------------------------------------------


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ordered by primary key: equal snapshots mean nothing was added,
    removed or changed."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            rows = connection.execute(sa.select(table).order_by(*table.primary_key.columns))
            found[table.name] = [tuple(row) for row in rows]
    return found


def row_counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as connection:
        return {
            table.name: int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for table in SQLModel.metadata.sorted_tables
        }


# Counts derived from enquiries and kept as a cache (tallies.keep_closed_days): any
# reader may fill it, with the values every reader would compute. And /readyz's probe row,
# which says only that a process could write at that moment. Not state.
DERIVED_TABLES = frozenset(
    {DayTally.__tablename__, SlotTally.__tablename__, LaunchTally.__tablename__, ReadinessProbe.__tablename__}
)


def changed_tables(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    """Tables whose rows differ, leaving out derived caches."""
    names = (before.keys() | after.keys()) - DERIVED_TABLES
    return sorted(name for name in names if before.get(name) != after.get(name))


# --- reading HTML -------------------------------------------------------------------


class Elements(HTMLParser):
    """Start tags with their attributes, and the text inside <script> elements."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data

    def with_attribute(self, name: str) -> list[tuple[str, dict[str, str | None]]]:
        return [(tag, attrs) for tag, attrs in self.tags if name in attrs]


# --- forms --------------------------------------------------------------------------


def launch_form(launch: Any, **changes: str) -> dict[str, str]:
    """The launch editor's form as the page fills it in, with ``changes``."""
    form = {
        "name": launch.name,
        "product_area": launch.product_area,
        "starts_on": launch.starts_on.isoformat(),
        "ends_on": launch.ends_on.isoformat(),
        "timezone": launch.timezone,
        "digest_times": ", ".join(launch.digest_times),
        "channels": ", ".join(launch.channels),
        "segments": ", ".join(launch.segments),
        "status": str(launch.status.value),
        "slack_channel": launch.slack_channel or "",
    }
    form.update(changes)
    return form


def sent_while_a_row_is_uncommitted(
    db: Database, other: Any, table: str, send: Callable[[], Any], *, statement: str | None = None
) -> Any:
    """PostgreSQL: ``send()`` (a request) in a thread until its INSERT INTO ``table`` waits on the row
    ``other`` (a session) has flushed and not committed, as a second click's or a second upload's
    would; then ``other`` commits, and the request's answer is returned. ``statement``: the waiting
    statement, as an ILIKE pattern, when it is not that INSERT (a SELECT … FOR UPDATE of a row
    ``other`` locked)."""
    answers: list[Any] = []
    sent = threading.Thread(target=lambda: answers.append(send()))
    sent.start()
    try:
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %(statement)s"
        parameters = {"statement": statement or f"INSERT INTO {table}%"}
        with db.engine.connect() as watch:
            for _ in range(400):  # until the request's insert waits on the uncommitted row (at most 20 s)
                if watch.exec_driver_sql(waiting, parameters).scalar():
                    break
                watch.rollback()  # pg_stat_activity holds still within a transaction
                threading.Event().wait(0.05)
            else:
                raise AssertionError(f"the request never waited at {parameters['statement']}")
        other.commit()
    finally:
        other.close()
        sent.join(timeout=30)
    [answer] = answers
    return answer
