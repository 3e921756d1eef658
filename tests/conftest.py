"""Shared fixtures: a real database per test (SQLite file, or PostgreSQL when
TALLY_TEST_DATABASE_URL names a server), the app, and its settings.

PostgreSQL runs get a throwaway database created for this run and dropped at
the end, so concurrent runs never see each other's rows.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from app import api_tokens, auth, digests, migrations
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import Role, User
from app.slack.client import BotSender
from tests.fakes.slack_server import FakeSlack

PG_ENV = "TALLY_TEST_DATABASE_URL"

# Property tests (hypothesis) draw the same examples in CI on every run, so CI judges the code, not
# the draw; on a developer's machine they keep exploring new ones.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")
PG_SKIP_REASON = (
    f"needs PostgreSQL: set {PG_ENV}=postgresql+psycopg://postgres@127.0.0.1:5432/postgres "
    "(the tests create and drop their own database on that server)"
)
TEST_SECRET = "test-secret-" + "x" * 40


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-only",
        action="store_true",
        help=f"with {PG_ENV}: run only the tests that use the database (the PostgreSQL pass of CI; the "
        "others cannot see which database is configured, so the SQLite pass has run them already)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--database-only``: the PostgreSQL pass keeps the tests that reach the configured database,
    those whose fixtures include ``postgres`` (every database fixture does). A test without it runs as
    it did on SQLite, so running it again on this pass only doubled CI's time for it."""
    if not config.getoption("--database-only"):
        return
    if not os.environ.get(PG_ENV):
        raise pytest.UsageError(f"--database-only is for a PostgreSQL pass: set {PG_ENV} to its server's URL")
    keep: list[pytest.Item] = []
    again: list[pytest.Item] = []
    for item in items:
        params = getattr(item, "callspec", None)
        # The SQLite half of a test parametrized over both databases (test_faults, test_migrations).
        on_sqlite = params is not None and "sqlite" in params.params.values()
        (keep if "postgres" in getattr(item, "fixturenames", ()) and not on_sqlite else again).append(item)
    if again:
        config.hook.pytest_deselected(items=again)
        items[:] = keep


def pytest_report_header() -> str:
    url = os.environ.get(PG_ENV)
    return f"database: PostgreSQL ({make_url(url).render_as_string(hide_password=True)})" if url else "database: SQLite"


def _pg_admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        return None
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


class ThrowawayPostgres:
    """A database created on the configured server for this test run."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"tally_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)
        self._admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.extra: list[str] = []

    def create(self) -> None:
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.dispose()

    def new_database(self) -> str:
        """Another empty database on the same server, dropped with this one's admin engine."""
        name = f"{self.name}_{uuid.uuid4().hex[:6]}"
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.extra.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_extra(self) -> None:
        with self._admin.connect() as connection:
            for name in self.extra:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.extra.clear()


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres | None]:
    admin_url = _pg_admin_url()
    if admin_url is None:
        yield None
        return
    server = ThrowawayPostgres(admin_url)
    server.create()
    try:
        yield server
    finally:
        server.drop_extra()
        server.drop()


@pytest.fixture
def pg(postgres: ThrowawayPostgres | None) -> ThrowawayPostgres:
    """For tests that only make sense on PostgreSQL: skipped, with the reason, without it."""
    if postgres is None:
        pytest.skip(PG_SKIP_REASON)
    return postgres


@pytest.fixture(scope="session")
def migrated_template(postgres: ThrowawayPostgres | None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database at the head revision: a SQLite file to copy, or the run's PostgreSQL database."""
    if postgres is not None:
        db = Database(postgres.url)
        migrations.upgrade(db)
        db.dispose()
        return postgres.url
    path = tmp_path_factory.mktemp("template") / "tally.db"
    db = Database(f"sqlite:///{path}")
    migrations.upgrade(db)
    db.dispose()
    return str(path)


def _truncate_all(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with db.engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def database_url(migrated_template: str, postgres: ThrowawayPostgres | None, tmp_path: Path) -> str:
    if postgres is not None:
        return migrated_template
    target = tmp_path / "tally.db"
    shutil.copyfile(migrated_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def db(database_url: str, postgres: ThrowawayPostgres | None) -> Iterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        if postgres is not None:
            _truncate_all(database)
        database.dispose()


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "base_url": "http://testserver",
        "slack_bot_token": None,
        "slack_webhook_url": None,
    }
    values.update(overrides)
    # _env_file=None: a developer's .env must not leak into the tests.
    return Settings(_env_file=None, **values)


# How long after its slot the scheduler composes a digest, with the tests' settings (digests.settle):
# the pass for the 13:00 slot runs at 13:00 and this.
DIGEST_SETTLE = digests.settle(make_settings("sqlite:///unused.db"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def app(settings: Settings, db: Database):  # type: ignore[no-untyped-def]
    return create_app(settings, db=db)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def token(db: Database) -> str:
    """A raw API token, as an admin would hand it to an integration."""
    with db.transaction() as session:
        _, raw = api_tokens.create(session, name="telephony", now=dt.datetime.now(dt.UTC), actor="test")
    return raw


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime(2026, 11, 18, 10, 30, tzinfo=dt.UTC)


# --- people and signed-in browsers ------------------------------------------------------

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class People:
    agent: User
    other_agent: User
    lead: User
    admin: User


# The bot token and channel the Slack tests post with, to the fake Slack server (tests/fakes).
SLACK_TOKEN = "xoxb-test-token"
SLACK_CHANNEL = "#launch"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack().running() as fake:
        fake.add_channel(SLACK_CHANNEL)
        yield fake


@pytest.fixture
def pauses() -> list[float]:
    """The pauses the bot would have slept (retries after rate limits and errors), in order."""
    return []


@pytest.fixture
def bot(slack: FakeSlack, pauses: list[float]) -> BotSender:
    return BotSender(token=SLACK_TOKEN, base_url=slack.api_url, sleep=pauses.append)


@pytest.fixture
def people(db: Database) -> People:
    """Named personas: Kari and Ola answer the phones, Lena leads the launch, Ada administers."""
    made = {}
    with db.transaction() as session:
        for username, role in (("kari", Role.AGENT), ("ola", Role.AGENT), ("lena", Role.LEAD), ("ada", Role.ADMIN)):
            made[username], _ = auth.add_user(
                session,
                username=username,
                role=role,
                display_name=username.title(),
                password=PASSWORD,
                now=dt.datetime.now(dt.UTC),
                actor="test",
            )
    return People(made["kari"], made["ola"], made["lena"], made["ada"])


class WebUser:
    """A browser-like client: its own cookies, signs in through the form, sends CSRF tokens."""

    def __init__(self, app: Any) -> None:
        self.client = TestClient(app, follow_redirects=False)

    @property
    def csrf(self) -> str:
        page = self.client.get("/login")
        match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
        assert match, page.text[:500]
        return match.group(1)

    def login(self, username: str, password: str = PASSWORD) -> WebUser:
        response = self.client.post(
            "/login", data={"username": username, "password": password, "csrf_token": self.csrf}
        )
        assert response.status_code == 303, response.text[:500]
        return self

    def token(self, path: str = "/") -> str:
        """The CSRF token as a page would carry it (bound to this browser's cookies)."""
        page = self.client.get(path)
        match = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page.text)
        assert match, f"no CSRF token on {path}: {page.status_code} {page.text[:300]}"
        return match.group(1)

    def post(self, url: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", None) or {})  # a copy: callers may share their dict
        headers.setdefault("X-CSRF-Token", self.token())
        return self.client.post(url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)


@pytest.fixture
def web(app: Any, client: TestClient) -> Callable[[str | None], WebUser]:
    """``web("kari")``: a browser signed in as kari; ``web(None)``: signed out.
    (Depends on ``client`` so the app's lifespan runs, and ends, once.)"""

    def make(username: str | None) -> WebUser:
        user = WebUser(app)
        return user.login(username) if username else user

    return make


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """Argon2 with production costs takes ~0.5 s a hash here; tests use the same
    algorithm with tiny costs (the one choke point, app.auth._hasher)."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    original = auth._hasher
    auth._hasher = lambda: cheap  # type: ignore[assignment]
    auth._dummy_hash.cache_clear()
    yield
    auth._hasher = original  # type: ignore[assignment]
    auth._dummy_hash.cache_clear()


@pytest.fixture(params=["America/New_York", "Asia/Kolkata"])
def host_timezone(request: pytest.FixtureRequest) -> Iterator[str]:
    """The process's own TZ set to somewhere far from Oslo: it must never matter."""
    import time

    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()
