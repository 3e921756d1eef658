"""Signing in and out through the real app: cookies, rate limits, session renewal, password
changes, disabled users, the CLI, the trusted-header mode and where sign-in sends people."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import html
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
import time_machine
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app import auth, migrations
from app.cli import cli
from app.db import Database
from app.main import create_app
from app.web import STATIC_VERSION
from tests.conftest import PASSWORD, People, ThrowawayPostgres, WebUser, make_settings
from tests.factories import make_launch
from tests.helpers import (
    HTMX,
    JSON,
    SESSION_COOKIE,
    Elements,
    browser,
    cookie_parts,
    error_of,
    page_token,
    session_cookie,
    set_cookies,
    sign_in,
    with_cookie,
)
from tests.test_cli_newcomers import shown

Web = Callable[[str | None], WebUser]
WRONG = "Wrong user name or password."
NEW_PASSWORD = "a much longer new secret"
LINKS = ("href", "action", "src", "hx-get", "hx-post", "formaction")


def assert_signed_out(client: TestClient, path: str = "/") -> None:
    response = client.get(path)
    assert response.status_code == 303, (response.status_code, response.text[:200])
    assert response.headers["location"].startswith("/login?next="), response.headers["location"]


def assert_signed_in(client: TestClient, name: str) -> None:
    response = client.get("/")
    assert response.status_code == 200, (response.status_code, response.headers.get("location"))
    assert f'<a href="/me">{name}</a>' in response.text


# --- the session cookie -------------------------------------------------------------------


def test_sign_in_sets_a_locked_down_session_cookie(app: Any, client: TestClient, people: People) -> None:
    me = browser(app)
    response = sign_in(me, "kari", next="/me")
    assert response.status_code == 303
    assert response.headers["location"] == "/me"
    [header] = set_cookies(response, SESSION_COOKIE)
    value, attributes = cookie_parts(header)
    assert len(value) >= 32
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "lax"
    assert attributes["path"] == "/"
    assert int(attributes["max-age"]) == 14 * 86400  # TALLY_SESSION_DAYS
    assert "secure" not in attributes  # http: a Secure cookie would never come back
    assert_signed_in(me, "Kari")


def test_the_session_cookie_is_secure_when_the_site_is_https(database_url: str, db: Database, people: People) -> None:
    app = create_app(make_settings(database_url, base_url="https://tally.example"), db=db)
    with TestClient(app, base_url="https://tally.example", follow_redirects=False) as me:
        response = sign_in(me, "kari")
        assert response.status_code == 303
        [header] = set_cookies(response, SESSION_COOKIE)
        _, attributes = cookie_parts(header)
        assert "secure" in attributes and "httponly" in attributes
        assert attributes["samesite"].lower() == "lax"
        # The CSRF cookie too.
        [csrf_cookie] = set_cookies(TestClient(app, base_url="https://tally.example").get("/login"), "tally_csrf")
        assert "secure" in cookie_parts(csrf_cookie)[1]
        assert_signed_in(me, "Kari")


def test_the_site_address_is_read_as_browsers_name_it(database_url: str, db: Database, people: People) -> None:
    """A scheme in capitals and the default port are still https and the site browsers name in Origin:
    "HTTPS://…" marked no cookie Secure, and ":443" refused every form posted from "https://tally.example"
    behind a proxy whose Host or X-Forwarded-Proto the app does not see as the browser's."""
    settings = make_settings(database_url, base_url="HTTPS://tally.example:443")
    assert settings.base_url == "https://tally.example"
    app = create_app(settings, db=db)
    with TestClient(
        app, base_url="https://app-1:8000", headers={"Origin": "https://tally.example"}, follow_redirects=False
    ) as me:
        response = sign_in(me, "kari")
        assert response.status_code == 303, response.text[:300]
        [header] = set_cookies(response, SESSION_COOKIE)
        assert "secure" in cookie_parts(header)[1]


@pytest.mark.parametrize(("username", "password"), [("kari", "not the password"), ("nobody", PASSWORD)])
def test_wrong_password_and_unknown_user_look_the_same(
    app: Any, client: TestClient, people: People, username: str, password: str
) -> None:
    me = browser(app)
    response = sign_in(me, username, password)
    assert response.status_code == 401
    assert WRONG in response.text
    assert not set_cookies(response, SESSION_COOKIE)
    assert SESSION_COOKIE not in me.cookies
    # The name typed is kept in the form; the password is not.
    assert f'value="{username}"' in response.text
    assert password not in response.text
    assert_signed_out(me)


def test_a_nul_in_a_sign_in_is_refused_not_a_server_error(app: Any, client: TestClient, db: Database) -> None:
    """PostgreSQL refuses text with a NUL in it; that is the client's input, answered 422, not a 500."""
    response = sign_in(browser(app), "ka\x00ri", PASSWORD)
    if db.is_sqlite:  # stored and compared like any other name
        assert response.status_code == 401
    else:
        assert response.status_code == 422 and "cannot be stored as given" in response.text


# --- rate limits ----------------------------------------------------------------------------


def test_failures_lock_the_account_for_that_address_and_only_slow_it_down_elsewhere(
    database_url: str, db: Database, people: People
) -> None:
    """Five wrong passwords from anywhere used to lock anyone out of their own account for 15 minutes."""
    settings = make_settings(database_url, login_max_failures_per_account=3)
    app = create_app(settings, db=db)
    start = dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC)
    with (
        time_machine.travel(start, tick=False) as clock,
        TestClient(app, follow_redirects=False, client=("203.0.113.9", 40000)) as attacker,
    ):
        for attempt in range(settings.login_max_failures_per_account):
            spelling = ("kari", "Kari", " KARI ")[attempt % 3]  # one account, however it is typed
            assert sign_in(attacker, spelling, "guess").status_code == 401
        refused = sign_in(attacker, "kari", PASSWORD)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) == settings.login_failure_window_minutes * 60
        assert "Too many failed sign-ins for this account from this network address" in refused.text
        assert not set_cookies(refused, SESSION_COOKIE)
        # Another account from the attacker's address: still fine.
        assert sign_in(attacker, "ola").status_code == 303

        kari = browser(app, client=("198.51.100.7", 50000))  # Kari at her own desk
        slowed = sign_in(kari, "kari")
        assert slowed.status_code == 429 and 1 <= int(slowed.headers["Retry-After"]) <= 2
        assert "wait a moment" in slowed.text.lower()
        clock.shift(dt.timedelta(seconds=3))
        assert sign_in(kari, "kari").status_code == 303  # the right password is never locked out

        # A guesser from many addresses gets one try per pause, the pause doubling up to a minute.
        for n, address in enumerate(("192.0.2.1", "192.0.2.2", "192.0.2.3")):
            clock.shift(dt.timedelta(minutes=2))
            assert sign_in(browser(app, client=(address, 1000 + n)), "kari", "guess").status_code == 401
        again = sign_in(browser(app, client=("192.0.2.4", 2000)), "kari", "guess")
        assert again.status_code == 429 and int(again.headers["Retry-After"]) == 16  # 6 failures: 2 s × 2³


def error_lines(page: str) -> list[str]:
    """The lines of the page's error box."""
    [box] = re.findall(r'<div class="error-box"[^>]*>(.*?)</div>', page, re.DOTALL)
    return [html.unescape(line) for line in re.findall(r"<p[^>]*>(.*?)</p>", box, re.DOTALL)]


@pytest.mark.parametrize("language", ["en", "nb"])
def test_a_locked_account_is_told_once_what_it_is_locked_by_and_for_how_long(
    database_url: str, db: Database, people: People, language: str
) -> None:
    """The page said "from this computer. Wait a few minutes" over "from this address. Wait 15 minutes"."""
    app = create_app(make_settings(database_url), db=db)
    with time_machine.travel(dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC), tick=False) as clock:
        desk = browser(app, headers={"Accept-Language": language})  # no device cookie: as curl
        for _ in range(5):
            assert sign_in(desk, "kari", "guess").status_code == 401
        [line] = error_lines(sign_in(desk, "kari").text)
        if language == "en":  # in nb, one line too, once translated (never the English under it)
            assert "from this network address" in line and "Wait up to 15 minutes" in line, line
            assert "computer" not in line and "reset your password" in line

        clock.shift(dt.timedelta(minutes=1))  # past the pause every address gets after those failures
        kari = browser(app, client=("198.51.100.7", 50000), headers={"Accept-Language": language})
        assert sign_in(kari, "kari").status_code == 303  # elsewhere: signed in, so this browser is known
        assert kari.post("/logout", data={"csrf_token": page_token(kari, "/me")}).status_code == 303
        for _ in range(5):
            assert sign_in(kari, "kari", "guess").status_code == 401
        [line] = error_lines(sign_in(kari, "kari").text)
        if language == "en":
            assert "from this browser" in line and "Wait up to 15 minutes" in line, line


def test_a_pause_after_failures_elsewhere_is_told_once(database_url: str, db: Database, people: People) -> None:
    """The page said "…just now. Wait a moment and try again." over "…just now: wait a moment and try again."."""
    app = create_app(make_settings(database_url), db=db)
    with time_machine.travel(dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC), tick=False):
        desk = browser(app)
        for _ in range(5):
            assert sign_in(desk, "kari", "guess").status_code == 401
        elsewhere = browser(app, client=("198.51.100.7", 50000))
        answer = sign_in(elsewhere, "kari")
        assert answer.status_code == 429
        assert error_lines(answer.text) == [
            "Too many failed sign-ins for this account just now. Wait a moment and try again."
        ]


def test_a_browser_that_signed_in_before_is_not_kept_out_by_anyone_elses_failures(
    database_url: str, db: Database, people: People
) -> None:
    """A guesser who fails once each time the pause ends keeps the pause going for good; and failures
    by anyone at a customer centre's one outgoing address lock that address. Neither may keep the
    owner out of their account on the browser they signed in with before (a device cookie)."""
    settings = make_settings(database_url, login_max_failures_per_account=3, login_max_failures_per_address=3)
    app = create_app(settings, db=db)
    office = ("198.51.100.7", 50000)
    with time_machine.travel(dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC), tick=False) as clock:
        kari = browser(app, client=office)
        assert sign_in(kari, "kari").status_code == 303
        assert kari.post("/logout", data={"csrf_token": page_token(kari, "/me")}).status_code == 303
        assert kari.cookies.get(auth.DEVICE_COOKIE)

        for n in range(6):  # spread out, each just after the last pause ended
            clock.shift(dt.timedelta(minutes=1))
            assert sign_in(browser(app, client=(f"192.0.2.{n}", 1000)), "kari", "guess").status_code == 401
        for name in ("ola", "lena", "nobody"):  # a colleague mistyping, at the office's one address
            assert sign_in(browser(app, client=office), name, "typo").status_code == 401

        new_desk = sign_in(browser(app, client=office), "kari")
        assert new_desk.status_code == 429  # a browser never signed in with: both limits apply
        assert sign_in(kari, "kari").status_code == 303  # her own: neither
        assert sign_in(browser(app, client=office, cookies={auth.DEVICE_COOKIE: "0" * 32}), "kari").status_code == 429
        with db.transaction() as session:  # a reset ends what every browser's cookie proved
            user = auth.get_user(session, "kari")
            assert user is not None
            auth.set_password(session, user, "a brand new password", now=dt.datetime.now(dt.UTC), actor="ada")
        assert sign_in(kari, "kari", "a brand new password").status_code == 429


def test_a_device_cookie_outside_ascii_is_a_stranger_not_a_server_error(app: Any, people: People) -> None:
    """compare_digest raises TypeError for a str holding anything but ASCII: a tally_device cookie of "é"
    (planted by anyone who can set cookies for the domain) made every sign-in to an account a 500."""
    for value in ("\u00c3\u00a9", "0" * 31 + "\u00e9"):
        me = browser(app)
        token = page_token(me)
        cookies = f"tally_csrf={me.cookies['tally_csrf']}; {auth.DEVICE_COOKIE}={value}".encode("latin-1")
        me.cookies.clear()
        form = {"username": "kari", "csrf_token": token}
        wrong = me.post("/login", data=form | {"password": "not the password"}, headers={b"Cookie": cookies})
        assert wrong.status_code == 401
        right = me.post("/login", data=form | {"password": PASSWORD}, headers={b"Cookie": cookies})
        assert right.status_code == 303


def test_a_colleague_at_the_same_address_cannot_lock_the_owner_out_of_her_own_browser(
    database_url: str, db: Database, people: People
) -> None:
    """Everyone at a customer centre signs in from one outgoing address: five wrong passwords typed for
    someone else's user name locked that person out for the window, on the browser she always uses too,
    and out of changing her password while signed in. Her browser's own failures count for it alone."""
    settings = make_settings(database_url, login_max_failures_per_account=3)
    app = create_app(settings, db=db)
    office = ("198.51.100.7", 50000)
    with time_machine.travel(dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC), tick=False):
        kari = browser(app, client=office)
        assert sign_in(kari, "kari").status_code == 303
        colleague = browser(app, client=office)
        for _ in range(settings.login_max_failures_per_account):
            assert sign_in(colleague, "kari", "guess").status_code == 401
        assert sign_in(colleague, "kari").status_code == 429, "the guesser's browser is locked"
        assert sign_in(browser(app, client=office), "kari").status_code == 429, "so is any new one at that address"

        changed = kari.post(
            "/me/password",
            data={"current": PASSWORD, "new": "a brand new password", "csrf_token": page_token(kari, "/me")},
        )
        assert changed.status_code == 303, "signed in, she can still change her password"
        assert kari.post("/logout", data={"csrf_token": page_token(kari, "/me")}).status_code == 303
        assert sign_in(kari, "kari", "a brand new password").status_code == 303, "and sign in again"
        assert kari.post("/logout", data={"csrf_token": page_token(kari, "/me")}).status_code == 303

        # Her browser is not a way round the limit: its own failures lock it, as an address's do.
        for _ in range(settings.login_max_failures_per_account):
            assert sign_in(kari, "kari", "guess").status_code == 401
        locked = sign_in(kari, "kari", "a brand new password")
        assert locked.status_code == 429


def test_the_browser_a_password_was_changed_in_stays_known_for_that_account(
    database_url: str, db: Database, people: People
) -> None:
    """The device cookie is made from the password's hash and was renewed at sign-in only: after
    changing her password at /me, Kari's own browser was a stranger, and a colleague's wrong tries for
    her name at the office's one address locked her out of it (429)."""
    settings = make_settings(database_url, login_max_failures_per_account=5)
    app = create_app(settings, db=db)
    office = ("198.51.100.7", 50000)
    with time_machine.travel(dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC), tick=False):
        kari = browser(app, client=office)
        assert sign_in(kari, "kari").status_code == 303
        before = kari.cookies[auth.DEVICE_COOKIE]
        changed = kari.post(
            "/me/password", data={"current": PASSWORD, "new": NEW_PASSWORD, "csrf_token": page_token(kari, "/me")}
        )
        assert changed.status_code == 303
        renewed = kari.cookies[auth.DEVICE_COOKIE]
        assert kari.post("/logout", data={"csrf_token": page_token(kari, "/me")}).status_code == 303

        colleague = browser(app, client=office)
        for _ in range(settings.login_max_failures_per_account):
            assert sign_in(colleague, "kari", "guess").status_code == 401
        assert sign_in(browser(app, client=office), "kari", NEW_PASSWORD).status_code == 429  # a new browser waits
        assert sign_in(kari, "kari", NEW_PASSWORD).status_code == 303  # hers does not
    assert before not in renewed.split("."), "the old password's proof, which proves nothing now, is dropped"


def test_on_postgresql_a_burst_of_sign_ins_cannot_all_pass_the_count_before_any_is_recorded(
    database_url: str, db: Database, people: People, pg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt counts the failures, checks the password (slow), then records itself: thirty at once
    used to find the same count, and 22 were checked against a limit of 5."""
    app = create_app(make_settings(database_url, login_max_failures_per_account=5), db=db)
    clients = [browser(app, client=("203.0.113.9", 40000 + n)) for n in range(12)]
    tokens = [page_token(client) for client in clients]
    start = threading.Barrier(len(clients))

    def guess(n: int) -> int:
        start.wait()
        data = {"username": "kari", "password": f"guess {n}", "csrf_token": tokens[n]}
        return int(clients[n].post("/login", data=data).status_code)

    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        statuses = list(pool.map(guess, range(len(clients))))
    assert statuses.count(401) <= 5 and set(statuses) <= {401, 429}, statuses
    monkeypatch.setattr(auth, "SIGN_IN_PATIENCE", dt.timedelta(seconds=0.2))
    with db.engine.connect() as connection:  # one account's attempts wait for each other's lock, then are refused
        held = connection.execute(sa.text("SELECT pg_advisory_lock(hashtext('tally-login:ola'))"))
        assert held is not None
        refused = sign_in(browser(app), "ola")
        assert refused.status_code == 429 and "being checked" in refused.text
        connection.execute(sa.text("SELECT pg_advisory_unlock(hashtext('tally-login:ola'))"))
    assert sign_in(browser(app), "ola").status_code == 303


def _lock_waiters(db: Database, wait_event: str | None = None) -> int:
    """How many of the database's connections are waiting for a lock (of kind ``wait_event``) now."""
    with db.engine.connect() as watch:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        if wait_event:
            query += f" AND wait_event = '{wait_event}'"
        return int(watch.exec_driver_sql(query).scalar_one())


def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(400):  # at most 20 s
        if condition():
            return
        threading.Event().wait(0.05)
    pytest.fail(what)


def test_on_postgresql_a_flood_of_refused_sign_ins_does_not_keep_the_owner_out(
    database_url: str, db: Database, people: People, pg: Any
) -> None:
    """Each attempt took its account's lock before the limits were checked, and one that found it taken
    was refused (429 sign_in_busy): a stranger sending wrong passwords for Kari's name, long refused as
    locked out, held the lock so often that Kari, with the right one in her own browser, was mostly told
    "Another sign-in for this account is being checked". Here one of the stranger's refused tries is caught
    in the middle (the attempts' table held by another connection) while Kari signs in."""
    app = create_app(make_settings(database_url, login_max_failures_per_account=5), db=db)
    with time_machine.travel(dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC), tick=False):
        kari = browser(app)
        assert sign_in(kari, "kari").status_code == 303  # her browser, known from now on
        assert kari.post("/logout", data={"csrf_token": page_token(kari, "/me")}).status_code == 303
        stranger = browser(app, client=("203.0.113.66", 40000))
        for _ in range(5):
            assert sign_in(stranger, "kari", "a guess").status_code == 401
        tokens = {"stranger": page_token(stranger), "kari": page_token(kari)}
        answers: dict[str, int] = {}

        def post(who: str, client: TestClient, password: str) -> None:
            data = {"username": "kari", "password": password, "csrf_token": tokens[who]}
            answers[who] = client.post("/login", data=data).status_code

        holder = db.engine.connect()
        holder.exec_driver_sql("LOCK TABLE login_attempt IN ACCESS EXCLUSIVE MODE")
        sent = [threading.Thread(target=post, args=("stranger", stranger, "another guess"))]
        try:
            sent[0].start()
            _until(lambda: _lock_waiters(db) >= 1, "the stranger's try never reached the attempts")
            sent.append(threading.Thread(target=post, args=("kari", kari, PASSWORD)))
            sent[1].start()
            _until(lambda: "kari" in answers or _lock_waiters(db) >= 2, "Kari's sign-in never got anywhere")
        finally:
            holder.rollback()
            holder.close()
            for thread in sent:
                thread.join(timeout=30)
    assert answers == {"stranger": 429, "kari": 303}


def test_on_postgresql_a_sign_in_waits_for_another_of_the_same_account_being_checked(
    database_url: str, db: Database, people: People, pg: Any
) -> None:
    """The other's check is a hash, a quarter of a second: it used to be refused at once instead."""
    app = create_app(make_settings(database_url), db=db)
    ola = browser(app)
    token = page_token(ola)
    answers: list[int] = []
    with db.engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(hashtext('tally-login:ola'))"))
        sent = threading.Thread(
            target=lambda: answers.append(
                ola.post("/login", data={"username": "ola", "password": PASSWORD, "csrf_token": token}).status_code
            )
        )
        sent.start()
        try:
            _until(lambda: bool(answers) or _lock_waiters(db, "advisory") >= 1, "the sign-in never got anywhere")
        finally:
            holder.execute(sa.text("SELECT pg_advisory_unlock(hashtext('tally-login:ola'))"))
            sent.join(timeout=30)
    assert answers == [303]


def test_too_many_failures_from_one_address_block_it_for_every_account(
    database_url: str, db: Database, people: People
) -> None:
    app = create_app(make_settings(database_url, login_max_failures_per_address=3), db=db)
    with TestClient(app, follow_redirects=False) as attacker:
        for name in ("kari", "ola", "nobody"):  # one failure each: no account is near its own limit
            assert sign_in(attacker, name, "guess").status_code == 401
        refused = sign_in(browser(app), "lena", PASSWORD)
        assert refused.status_code == 429
        assert "Retry-After" in refused.headers
        assert "Too many failed sign-ins from this network address, for any account" in refused.text
        assert "reset your password" not in refused.text  # a reset would not help here
        assert not set_cookies(refused, SESSION_COOKIE)


def test_successful_sign_ins_do_not_count_towards_the_limit(database_url: str, db: Database, people: People) -> None:
    app = create_app(make_settings(database_url, login_max_failures_per_account=2), db=db)
    with TestClient(app, follow_redirects=False):
        for _ in range(4):
            assert sign_in(browser(app), "kari").status_code == 303


# --- sessions -------------------------------------------------------------------------------


def test_signing_in_again_revokes_the_cookie_the_browser_had(app: Any, web: Web, people: People) -> None:
    kari = web("kari")
    before = kari.client.cookies[SESSION_COOKIE]
    response = kari.client.post(
        "/login", data={"username": "kari", "password": PASSWORD, "csrf_token": kari.token("/")}
    )
    assert response.status_code == 303
    after = session_cookie(response)
    assert after and after != before
    assert_signed_out(with_cookie(app, before))
    assert_signed_in(with_cookie(app, after), "Kari")


def test_a_planted_session_cookie_is_replaced_at_sign_in(app: Any, client: TestClient, people: People) -> None:
    # Someone plants their own session in Kari's browser, hoping she signs in and uses it.
    planted = session_cookie(sign_in(browser(app), "ola"))
    assert planted
    victim = with_cookie(app, planted)
    response = victim.post(
        "/login", data={"username": "kari", "password": PASSWORD, "csrf_token": page_token(victim, "/")}
    )
    assert response.status_code == 303
    issued = session_cookie(response)
    assert issued and issued != planted
    assert_signed_out(with_cookie(app, planted))
    assert_signed_in(with_cookie(app, issued), "Kari")


def test_sign_out_makes_the_old_cookie_useless(app: Any, web: Web, people: People) -> None:
    kari = web("kari")
    old = kari.client.cookies[SESSION_COOKIE]
    response = kari.post("/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    [deleted] = set_cookies(response, SESSION_COOKIE)
    assert cookie_parts(deleted)[1].get("max-age") == "0"
    assert_signed_out(kari.client)
    assert_signed_out(with_cookie(app, old))  # a copy of the cookie, replayed elsewhere


def test_a_password_change_signs_out_other_browsers(app: Any, web: Web, people: People) -> None:
    laptop, phone = web("kari"), web("kari")
    response = laptop.post("/me/password", data={"current": PASSWORD, "new": NEW_PASSWORD})
    assert response.status_code == 303 and response.headers["location"] == "/me?changed=password"
    page = laptop.get("/me?changed=password")
    assert page.status_code == 200
    assert "Your password was changed" in page.text
    assert_signed_in(laptop.client, "Kari")
    assert laptop.post("/me/checklist", data={"channel": "chat"}).status_code == 204  # still fully working
    assert_signed_out(phone.client)
    assert sign_in(browser(app), "kari", PASSWORD).status_code == 401
    assert sign_in(browser(app), "kari", NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("current", "new", "message"),
    [
        ("not my password", NEW_PASSWORD, "The current password is not right."),
        (PASSWORD, "short", "A password needs at least 10 characters."),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(
    app: Any, web: Web, people: People, current: str, new: str, message: str
) -> None:
    laptop, phone = web("kari"), web("kari")
    response = laptop.post("/me/password", data={"current": current, "new": new})
    assert response.status_code == 422
    assert message in response.text
    assert 'role="alert"' in response.text
    assert_signed_in(laptop.client, "Kari")
    assert_signed_in(phone.client, "Kari")  # nobody was signed out
    assert sign_in(browser(app), "kari", PASSWORD).status_code == 303
    assert sign_in(browser(app), "kari", new).status_code == 401


def test_guessing_the_current_password_is_limited_like_signing_in(
    app: Any, web: Web, people: People, db: Database
) -> None:
    """Whoever holds a session must not be able to guess the password at the hash's speed and then
    change it: wrong current passwords count as failed sign-ins, with the same limits."""
    kari = web("kari")
    for _ in range(5):  # TALLY_LOGIN_MAX_FAILURES_PER_ACCOUNT
        assert kari.post("/me/password", data={"current": "a guess", "new": NEW_PASSWORD}).status_code == 422
    locked = kari.post("/me/password", data={"current": PASSWORD, "new": NEW_PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert sign_in(browser(app), "kari", PASSWORD).status_code == 429  # this address is locked for kari
    with db.session() as session:
        user = auth.get_user(session, "kari")
        assert user is not None and auth.verify_password(PASSWORD, user.password_hash)  # not changed


def test_sessions_expire_on_the_server_after_session_days(app: Any, web: Web, people: People) -> None:
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        kari = web("kari")
        clock.shift(dt.timedelta(days=14) - dt.timedelta(seconds=1))
        assert_signed_in(kari.client, "Kari")
        clock.shift(dt.timedelta(seconds=1))
        assert_signed_out(kari.client)  # whatever the browser does with Max-Age


def test_an_admin_password_reset_signs_the_user_out_and_shows_the_new_one_once(
    app: Any, web: Web, people: People
) -> None:
    kari, ada = web("kari"), web("ada")
    response = ada.post(f"/admin/users/{people.agent.id}/password")
    assert response.status_code == 200
    match = re.search(r'<code class="secret">([^<]+)</code>', response.text)
    assert match and "Password for kari" in response.text
    assert match.group(1) not in ada.get("/admin/users").text  # shown once
    assert_signed_out(kari.client)
    assert sign_in(browser(app), "kari", PASSWORD).status_code == 401
    assert sign_in(browser(app), "kari", match.group(1)).status_code == 303


def test_no_page_of_a_signed_in_person_is_kept_by_the_browser(app: Any, web: Web, people: People) -> None:
    """A new password or API token is shown once, yet none of these answers said not to keep it: at a
    shared desk the next person pressed Back after sign-out and read it from the browser's cache."""
    ada = web("ada")
    shown_once = {
        "add user": ada.post("/admin/users", data={"username": "nina", "role": "agent"}),
        "reset password": ada.post(f"/admin/users/{people.agent.id}/password"),
        "create token": ada.post("/admin/tokens", data={"name": "telephony"}),
    }
    for what, response in shown_once.items():
        assert response.status_code == 200 and 'class="secret"' in response.text, what
        assert response.headers.get("cache-control") == "no-store", what
    for path in ("/", "/me", "/admin/users", "/admin/tokens", "/no/such/page"):
        assert ada.get(path).headers.get("cache-control") == "no-store", path
    # What anyone may see stays cacheable: the sign-in page, and static files for a year.
    assert "no-store" not in browser(app).get("/login").headers.get("cache-control", "")
    assert "immutable" in ada.get(f"/static/app.css?v={STATIC_VERSION}").headers["cache-control"]


def test_disabled_users_cannot_sign_in_and_their_sessions_stop(app: Any, web: Web, people: People) -> None:
    kari, ada = web("kari"), web("ada")
    response = ada.post(f"/admin/users/{people.agent.id}", data={"role": "agent"})  # no "active": disabled
    assert response.status_code == 303
    assert_signed_out(kari.client)
    refused = sign_in(browser(app), "kari")
    assert refused.status_code == 401 and WRONG in refused.text
    # Enabled again, Kari can sign in (old sessions stay revoked).
    assert ada.post(f"/admin/users/{people.agent.id}", data={"role": "agent", "active": "1"}).status_code == 303
    assert_signed_out(kari.client)
    assert sign_in(browser(app), "kari").status_code == 303


def test_a_user_enabled_again_can_sign_in_at_once(app: Any, web: Web, people: People) -> None:
    """Kari, disabled, tried her (right) password until locked out, as wrong ones lock: enabling her
    forgets those tries, so she can sign in at once instead of after 15 minutes (429 locked_account)."""
    ada = web("ada")
    assert ada.post(f"/admin/users/{people.agent.id}", data={"role": "agent"}).status_code == 303
    kari = browser(app)
    for _ in range(5):  # TALLY_LOGIN_MAX_FAILURES_PER_ACCOUNT
        refused = sign_in(kari, "kari")
        assert refused.status_code == 401 and WRONG in refused.text  # told nothing more than a wrong one
    assert sign_in(kari, "kari").status_code == 429
    assert ada.post(f"/admin/users/{people.agent.id}", data={"role": "agent", "active": "1"}).status_code == 303
    assert sign_in(kari, "kari").status_code == 303


def test_the_right_password_of_a_disabled_account_is_answered_and_counted_as_a_wrong_one(
    app: Any, db: Database, people: People
) -> None:
    """It was not recorded as a failed sign-in, so a guesser saw the lockout come one try later when a
    guess was a disabled account's password: the limits told what the answer's text did not."""
    assert run_cli(db, "users", "disable", "kari").exit_code == 0
    answers: dict[str, list[tuple[int, str]]] = {}
    for hour, password in ((10, PASSWORD), (12, "a wrong guess")):  # each after the other's window
        with time_machine.travel(dt.datetime(2026, 11, 18, hour, 0, tzinfo=dt.UTC), tick=False):
            guesser = browser(app, client=(f"198.51.100.{hour}", 40000))
            answers[password] = [
                (response.status_code, re.sub(r"[0-9a-f]{32,}", "", response.text))
                for response in (sign_in(guesser, "kari", password) for _ in range(7))
            ]
    assert [status for status, _ in answers[PASSWORD]] == [401] * 5 + [429] * 2
    assert answers[PASSWORD] == answers["a wrong guess"]


def test_enabling_a_user_again_clears_failed_sign_ins_as_a_reset_does(
    app: Any, client: TestClient, db: Database, people: People
) -> None:
    """Wrong guesses at a disabled account (hers while away, or anyone's) kept her out after `tally
    users enable`, unlike after a password reset."""
    assert run_cli(db, "users", "disable", "kari").exit_code == 0
    kari = browser(app)
    for _ in range(5):
        assert sign_in(kari, "kari", "an old password").status_code == 401
    assert sign_in(kari, "kari").status_code == 429, "locked, as any account is"
    assert run_cli(db, "users", "enable", "kari").exit_code == 0
    assert sign_in(kari, "kari").status_code == 303


# --- the command line -------------------------------------------------------------------------


def run_cli(db: Database, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=input, env={"TALLY_DATABASE_URL": db.url})


def test_cli_adds_a_user_with_a_generated_password_shown_once(app: Any, client: TestClient, db: Database) -> None:
    result = run_cli(db, "users", "add", "nina", "--role", "agent")
    assert result.exit_code == 0, result.output
    assert f"Added nina (agent) to {shown(db.url)}." in result.stdout
    match = re.search(r"Password \(shown once\): (\S+)", result.stdout)
    assert match, result.stdout
    password = match.group(1)
    assert len(password) >= 10
    assert result.stdout.count(password) == 1
    assert sign_in(browser(app), "nina", password).status_code == 303


def test_cli_reads_a_password_from_stdin_and_does_not_print_it(app: Any, client: TestClient, db: Database) -> None:
    chosen = "chosen on the command line"
    result = run_cli(db, "users", "add", "nina", "--role", "lead", "--password-stdin", input=chosen + "\n")
    assert result.exit_code == 0, result.output
    assert f"Added nina (lead) to {shown(db.url)}." in result.stdout
    assert "Password" not in result.output and chosen not in result.output
    assert sign_in(browser(app), "nina", chosen).status_code == 303


def test_cli_takes_access_away_gives_it_back_and_changes_roles(
    app: Any, client: TestClient, db: Database, people: People, web: Web
) -> None:
    """An operator without a working admin sign-in can still take a leaver's access away."""
    kari = web("kari")
    result = run_cli(db, "users", "disable", "kari")
    assert result.exit_code == 0 and "disabled" in result.stdout
    assert_signed_out(kari.client)  # signed out everywhere
    assert sign_in(browser(app), "kari").status_code == 401
    assert run_cli(db, "users", "enable", "kari").exit_code == 0
    assert sign_in(browser(app), "kari").status_code == 303
    assert run_cli(db, "users", "role", "kari", "lead").exit_code == 0
    with db.session() as session:
        user = auth.get_user(session, "kari")
        assert user is not None and user.role.value == "lead"
    missing = run_cli(db, "users", "disable", "nobody")
    assert missing.exit_code != 0 and "No user called 'nobody'" in missing.output


def test_cli_refuses_a_duplicate_user_name(db: Database, people: People) -> None:
    result = run_cli(db, "users", "add", "kari", "--role", "agent")
    assert result.exit_code != 0
    assert "There is already a user called 'kari'." in result.stderr
    assert "Password" not in result.stdout


def test_cli_tokens_work_on_the_api_until_revoked(app: Any, client: TestClient, db: Database) -> None:
    make_launch(db)
    created = run_cli(db, "tokens", "create", "telephony")
    assert created.exit_code == 0, created.output
    match = re.search(r"Token (\d+) \(integration\) for 'telephony'.*\n(lt_\S+)\n", created.stdout)
    assert match, created.stdout
    token_id, raw = match.group(1), match.group(2)
    assert created.stdout.count(raw) == 1
    bearer = {"Authorization": f"Bearer {raw}"}
    listed = client.get("/api/v1/launches", headers=bearer)
    assert listed.status_code == 200 and [item["slug"] for item in listed.json()] == ["test-launch"]

    revoked = run_cli(db, "tokens", "revoke", token_id)
    assert revoked.exit_code == 0, revoked.output
    refused = client.get("/api/v1/launches", headers=bearer)
    assert refused.status_code == 401 and error_of(refused)["code"] == "bad_token"
    again = run_cli(db, "tokens", "revoke", token_id)
    assert again.exit_code == 0 and "was revoked already" in again.stdout, again.output


def test_cli_refuses_a_display_name_the_web_form_refuses(db: Database) -> None:
    """On PostgreSQL `tally users add bob --display-name <150 characters>` ended in a traceback (DataError);
    SQLite kept the whole name, which the web form refuses."""
    too_long = run_cli(db, "users", "add", "bob", "--display-name", "B" * 101)
    assert too_long.exit_code == 1, too_long.output
    assert "A display name is at most 100 characters; this one has 101." in too_long.stderr
    assert "Password" not in too_long.stdout
    with db.session() as session:
        assert auth.get_user(session, "bob") is None
    fits = run_cli(db, "users", "add", "bob", "--display-name", " " + "B" * 100 + " ")
    assert fits.exit_code == 0, fits.output
    with db.session() as session:
        bob = auth.get_user(session, "bob")
        assert bob is not None and bob.display_name == "B" * 100


@pytest.mark.parametrize("token_id", ["99999999999", "2147483648", "0"])
def test_cli_revoke_refuses_an_id_no_token_can_have(db: Database, token_id: str) -> None:
    """PostgreSQL's ids are 32-bit: `tally tokens revoke 99999999999` ended in NumericValueOutOfRange's
    traceback. The same range as the web's ids (deps.RowId) now, said as a usage error."""
    result = run_cli(db, "tokens", "revoke", token_id)
    assert result.exit_code == 2, result.output
    assert "Invalid value for 'token_id'" in result.output
    assert isinstance(result.exception, SystemExit)  # not a traceback


def test_a_value_the_database_cannot_store_is_one_line_not_a_traceback(pg: ThrowawayPostgres) -> None:
    """Whatever the checks before it miss, PostgreSQL's DataError (a value too long for its column, a
    number out of range) is said in one line by `tally`, as the web's error handler says it. Here a
    column narrower than the code expects (a database altered by hand) stands for such a value."""
    url = pg.new_database()
    db = Database(url)
    try:
        migrations.upgrade(db)
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE api_token ALTER COLUMN name TYPE varchar(5)")
    finally:
        db.dispose()
    result = subprocess.run(
        [sys.executable, "-m", "app", "tokens", "create", "telephony"],
        env={**os.environ, "TALLY_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("The database refused a value as given, and nothing was changed: value too long"), line
    assert "lt_" not in result.stdout + result.stderr  # the token, never stored, is not shown either


# --- TALLY_TRUSTED_USER_HEADER ------------------------------------------------------------------

PROXY = ("127.0.0.1", 40000)  # the single-sign-on proxy, on the default TALLY_FORWARDED_ALLOW_IPS


def test_the_trusted_user_header_is_ignored_by_default(app: Any, client: TestClient, people: People) -> None:
    assert_signed_out(browser(app, headers={"X-Remote-User": "ada"}))
    refused = browser(app).get("/admin/users", headers={"X-Remote-User": "ada", **JSON})
    assert refused.status_code == 401


def test_the_trusted_user_header_signs_people_in_when_configured(
    database_url: str, db: Database, people: People
) -> None:
    app = create_app(make_settings(database_url, trusted_user_header="X-Remote-User"), db=db)
    with TestClient(app, follow_redirects=False, client=PROXY) as proxy:
        page = proxy.get("/admin/users", headers={"X-Remote-User": "Ada "})
        assert page.status_code == 200 and '<a href="/me">Ada</a>' in page.text
        assert proxy.get("/admin/users", headers={"X-Remote-User": "kari"}).status_code == 403

        unknown = proxy.get("/", headers={"X-Remote-User": "mallory"})
        assert unknown.status_code == 403
        assert "no active user by your name" in unknown.text
        assert "mallory" in unknown.text
        as_json = proxy.get("/", headers={"X-Remote-User": "mallory", **JSON})
        assert as_json.status_code == 403 and error_of(as_json)["code"] == "unknown_user"

        # Without the header it falls back to the cookie, so no header means signed out.
        assert_signed_out(proxy)


def test_the_trusted_user_header_is_believed_only_from_a_proxy(database_url: str, db: Database, people: People) -> None:
    """Anyone who can reach the app directly could name any user in the header: it counts only on a
    connection from one of TALLY_FORWARDED_ALLOW_IPS (tests/test_serving.py: the peer as served)."""
    settings = make_settings(database_url, trusted_user_header="X-Remote-User", forwarded_allow_ips="10.0.0.0/8")
    app = create_app(settings, db=db)
    with TestClient(app, follow_redirects=False, client=("203.0.113.9", 40000)) as direct:
        refused = direct.get("/admin/users", headers={"X-Remote-User": "ada", **JSON})
        assert refused.status_code == 401
    with TestClient(app, follow_redirects=False, client=("10.1.2.3", 40000)) as proxy:
        assert proxy.get("/admin/users", headers={"X-Remote-User": "ada"}).status_code == 200


def test_behind_the_proxy_a_password_change_is_limited_per_person_not_per_cookie(
    database_url: str, db: Database, people: People
) -> None:
    """Signed in by the proxy's header, the session cookie is never checked: failed password checks
    counted under it let anyone send a new one with each guess and never be stopped; and, with no
    session, people behind the proxy were held by the address's limit at their own password change."""
    settings = make_settings(
        database_url,
        trusted_user_header="X-Remote-User",
        login_max_failures_per_account=3,
        login_max_failures_per_address=3,
    )
    app = create_app(settings, db=db)
    kari = {"X-Remote-User": "kari"}

    def change(proxy: TestClient, current: str, new: str) -> int:
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', proxy.get("/me", headers=kari).text)
        assert token
        data = {"current": current, "new": new, "csrf_token": token.group(1)}
        return int(proxy.post("/me/password", data=data, headers=kari).status_code)

    with (
        time_machine.travel(dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC), tick=False),
        TestClient(app, follow_redirects=False, client=PROXY) as proxy,
    ):
        for name in ("ola", "lena", "nobody"):  # colleagues mistyping at /login, all from the proxy's address
            assert sign_in(browser(app, client=PROXY), name, "typo").status_code == 401
        assert change(proxy, PASSWORD, "a brand new password") == 303, "her own change is not held by them"
        statuses = []
        for n in range(5):  # a desk left signed in: a new session cookie with each guess
            proxy.cookies.set(SESSION_COOKIE, f"made-up-{n}")
            statuses.append(change(proxy, f"guess {n}", "mallory's password"))
        assert statuses == [422, 422, 422, 429, 429]


def test_a_disabled_user_in_the_trusted_header_is_refused(database_url: str, db: Database, people: People) -> None:
    app = create_app(make_settings(database_url, trusted_user_header="X-Remote-User"), db=db)
    with TestClient(app, follow_redirects=False, client=PROXY) as proxy:
        ada = WebUser(app).login("ada")
        assert ada.post(f"/admin/users/{people.agent.id}", data={"role": "agent"}).status_code == 303
        refused = proxy.get("/", headers={"X-Remote-User": "kari", **JSON})
        assert refused.status_code == 403 and error_of(refused)["code"] == "unknown_user"


# --- where unauthenticated requests and sign-in send people ---------------------------------------


@pytest.mark.parametrize("path", ["/", "/launches/test-launch/checklist", "/admin/users", "/me?tab=password&x=1"])
def test_pages_redirect_to_sign_in_with_next(app: Any, client: TestClient, path: str) -> None:
    response = browser(app).get(path)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/login?next=")
    assert unquote(location.removeprefix("/login?next=")) == path


def test_htmx_requests_get_401_and_hx_redirect(app: Any, client: TestClient) -> None:
    response = browser(app).get("/launches/test-launch/checklist/counts", headers=HTMX)
    assert response.status_code == 401
    assert unquote(response.headers["HX-Redirect"]) == "/login?next=/launches/test-launch/checklist/counts"
    assert "location" not in response.headers
    # As htmx sends it: back to the page that polled, not to the bare fragment, after signing in.
    page = {**HTMX, "HX-Current-URL": "http://testserver/launches/test-launch/checklist?channel=chat"}
    response = browser(app).get("/launches/test-launch/checklist/counts", headers=page)
    assert unquote(response.headers["HX-Redirect"]) == "/login?next=/launches/test-launch/checklist?channel=chat"


def test_json_requests_get_401_json(app: Any, client: TestClient) -> None:
    response = browser(app).get("/", headers=JSON)
    assert response.status_code == 401 and error_of(response)["code"] == "signed_out"


def test_sign_in_goes_back_to_the_page_asked_for(app: Any, client: TestClient, people: People) -> None:
    me = browser(app)
    first = me.get("/launches/test-launch/checklist?x=1")
    target = unquote(first.headers["location"].removeprefix("/login?next="))
    login_page = me.get(first.headers["location"])
    assert f'name="next" value="{target}"'.replace("&", "&amp;") in login_page.text
    response = sign_in(me, "kari", next=target)
    assert response.status_code == 303 and response.headers["location"] == "/launches/test-launch/checklist?x=1"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/launches",
        "https://evil.example",
        "https://evil.example/launches",
        "http:/evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "http://[evil.example",  # no URL at all to urlsplit (a ValueError): the sign-in page was a 500
        "//[evil.example",
    ],
)
def test_next_cannot_send_people_to_another_site(app: Any, client: TestClient, people: People, target: str) -> None:
    me = browser(app)
    login_page = me.get("/login", params={"next": target})
    links = [value for tag, attrs in Elements(login_page.text).tags for name, value in attrs.items() if name in LINKS]
    assert not [link for link in links if link and ("evil" in link or "javascript" in link)]
    response = sign_in(me, "kari", next=target)
    assert response.status_code == 303
    location = response.headers["location"]
    assert_local(location)
    # Already signed in, the login page redirects at once: the same rule applies.
    again = me.get("/login", params={"next": target})
    assert again.status_code == 303
    assert_local(again.headers["location"])


def test_a_referer_or_htmx_page_that_is_no_url_is_ignored_not_a_server_error(
    app: Any, web: Web, people: People
) -> None:
    """urlsplit raises ValueError for a bracketed host left open: any error page answering a POST read the
    Referer so (a 500), and so did the sign-in redirect of a signed-out htmx request its HX-Current-URL."""
    refused = web("kari").post("/me/language", data={"language": "zz"}, headers={"Referer": "http://[x/launches"})
    assert refused.status_code == 422
    signed_out = web(None).get(
        "/launches/test-launch/checklist/counts", headers={**HTMX, "HX-Current-URL": "http://[x/launches"}
    )
    assert signed_out.status_code == 401 and signed_out.headers["hx-redirect"].startswith("/login?next=")


@pytest.mark.parametrize("language", ["en", "nb"])
def test_each_language_is_named_in_its_own_language_and_marked_so(app: Any, web: Web, language: str) -> None:
    """ "Norsk (bokmål)" on an English page, or "English" on a Norwegian one, was read by a screen reader
    with the page's sounds (WCAG 3.1.2): each choice says which language its name is in."""
    page = web(None).get("/login", headers={"Accept-Language": language}).text
    assert f'<html lang="{language}">' in page
    options = dict(re.findall(r'<option value="(\w+)" lang="(\w+)"', page))
    assert options == {"en": "en", "nb": "nb"}


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/x"])
def test_the_language_switch_stays_on_this_site_too(app: Any, web: Web, people: People, target: str) -> None:
    response = web("kari").post("/me/language", data={"language": "nb", "next": target})
    assert response.status_code == 303 and response.headers["location"] == "/"


def language_next(page: str) -> str:
    """Where the page's language switch sends its reader back to."""
    match = re.search(r'name="next" value="([^"]*)"', page)
    assert match, page[:300]
    return html.unescape(match.group(1))


# (who, what they send, the page it answers with): every form whose answer is a whole page.
ANSWERED_PAGES: list[tuple[str | None, str, dict[str, str], str]] = [
    ("ada", "/admin/users/{kari}/password", {}, "/admin/users"),
    ("ada", "/admin/users/{ada}", {"role": "lead", "active": "1"}, "/admin/users"),  # refused: her own row
    ("ada", "/admin/users", {"username": "Not a name!", "role": "agent"}, "/admin/users"),
    ("ada", "/admin/users", {"username": "nina", "role": "agent"}, "/admin/users"),
    ("ada", "/admin/tokens", {"name": "crm"}, "/admin/tokens"),
    ("ada", "/admin/tokens", {"name": ""}, "/admin/tokens"),
    ("kari", "/me/password", {"current": "not it", "new": NEW_PASSWORD}, "/me"),
    ("lena", "/launches/test-launch/hypotheses", {"key": "Not A Key", "text": "x"}, "/launches/test-launch/edit"),
    ("lena", "/launches/test-launch/edit", {"name": ""}, "/launches/test-launch/edit"),
    ("lena", "/launches", {"slug": "x", "name": "", "starts_on": "nope"}, "/"),
    ("lena", "/launches/test-launch/other/move?range=7d", {"onto": "a"}, "/launches/test-launch/other?range=7d"),
    (
        "lena",
        "/launches/test-launch/other/new?range=7d",
        {"key": "Not A Key", "text": "y"},
        "/launches/test-launch/other?range=7d",
    ),
    ("lena", "/launches/test-launch/other/erase?range=7d", {}, "/launches/test-launch/other?range=7d"),
    (None, "/login?next=/me", {"username": "kari", "password": "not it", "next": "/me"}, "/login?next=/me"),
]


@pytest.mark.parametrize(("who", "url", "form", "page"), ANSWERED_PAGES, ids=[case[1] for case in ANSWERED_PAGES])
def test_the_language_switch_on_the_answer_to_a_form_goes_back_to_its_page(
    app: Any, web: Web, people: People, who: str | None, url: str, form: dict[str, str], page: str
) -> None:
    """The answer's language switch sent people to the address the form was posted to: choosing Norsk
    after resetting a password, or on a refused form, ended on "Method Not Allowed" (405)."""
    make_launch(app.state.db)
    me = web(who)
    url = url.format(kari=people.agent.id, ada=people.admin.id)
    sent = {"csrf_token": me.token("/login" if who is None else "/")}
    answer = me.client.post(url, data=form | sent)
    assert answer.status_code in (200, 409, 401, 422), (answer.status_code, answer.text[:300])
    assert language_next(answer.text) == page
    switched = me.client.post("/me/language", data={"language": "nb", "next": language_next(answer.text)} | sent)
    assert switched.status_code == 303 and switched.headers["location"] == page
    assert me.get(page).status_code == 200


def test_an_error_page_answering_a_post_goes_back_to_the_page_it_was_sent_from(
    app: Any, web: Web, people: People
) -> None:
    """A page whose route names none: the one the form was on (this site's Referer, if a page), else "/"."""
    lena = web("lena")
    missing = "/launches/no-such-launch/hypotheses"
    form = {"key": "a", "text": "x"}
    sent_from = {"Referer": "http://testserver/launches/test-launch/edit?x=1"}
    assert language_next(lena.post(missing, data=form, headers=sent_from).text) == "/launches/test-launch/edit?x=1"
    assert language_next(lena.post(missing, data=form).text) == "/"
    elsewhere = {"Referer": "http://evil.example/launches/test-launch/edit"}
    assert language_next(lena.post(missing, data=form, headers=elsewhere).text) == "/"
    proxied = {"Host": "tally-1.internal:8000"} | sent_from  # a proxy that sends its own Host: the configured one
    assert language_next(lena.post(missing, data=form, headers=proxied).text) == "/launches/test-launch/edit?x=1"
    not_a_page = {"Referer": f"http://testserver{missing}"}
    assert language_next(lena.post(missing, data=form, headers=not_a_page).text) == "/"


def test_signing_in_again_after_a_form_sent_once_signed_out_goes_to_its_page(
    app: Any, db: Database, web: Web, people: People
) -> None:
    """Ada's session ended while her Users page was open; saving a row sent her to sign in with
    next=/admin/users/1, which answered 405 once she had."""
    ada = web("ada")
    token = ada.token("/admin/users")
    with db.transaction() as session:
        user = auth.get_user(session, "ada")
        assert user is not None
        auth.revoke_sessions(session, user, now=dt.datetime.now(dt.UTC))
    form = {"role": "lead", "active": "1", "csrf_token": token}
    sent_from = {"Referer": "http://testserver/admin/users"}
    answer = ada.client.post(f"/admin/users/{people.agent.id}", data=form, headers=sent_from)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/admin/users"
    blind = ada.client.post(f"/admin/users/{people.agent.id}", data=form)  # no Referer: the start page
    assert blind.status_code == 303 and blind.headers["location"] == "/login?next=/"
    signed_in = sign_in(ada.client, "ada", next="/admin/users")
    assert signed_in.status_code == 303 and ada.get(signed_in.headers["location"]).status_code == 200


def assert_local(location: str) -> None:
    """A Location a browser resolves to this site: a path, not //host or /\\host (browsers read \\ as /
    and drop tabs and newlines). Percent-encoded characters stay in the path."""
    cleaned = re.sub(r"[\t\n\r]", "", location)
    assert cleaned.startswith("/") and cleaned[1:2] not in ("/", "\\"), location


def test_passwd_with_an_empty_stdin_is_refused(db: Database, people: People) -> None:
    from typer.testing import CliRunner

    from app.cli import cli

    result = CliRunner().invoke(
        cli, ["users", "passwd", "kari", "--password-stdin"], input="\n", env={"TALLY_DATABASE_URL": db.url}
    )
    assert result.exit_code == 1 and "no password on standard input" in result.output
