"""Faults a real `tally serve` process meets, through HTTP, the `tally` command and the database only.

* ``kill -9`` in the middle of a load of API posts (SQLite and PostgreSQL): every enquiry that
  got a 2xx answer is in the database, and sending every key again after a restart records
  each enquiry exactly once.
* A read-only SQLite file and a full disk: the integration and the agent get a 503 that says
  nothing was recorded and to send it again with the same key, /readyz says writes fail, and
  no 2xx is ever given without its row.

Tests run as root here, whom file permissions do not stop: the read-only file is made
immutable (``chattr +i``, which root cannot write through either), and the full disk is a
small tmpfs mounted for the test. Where the machine does not allow that, the test is skipped
and says why.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app import api_tokens, auth, migrations
from app.db import Database
from app.main import create_app
from app.models import Role
from tests.conftest import PASSWORD, PG_SKIP_REASON, TEST_SECRET, ThrowawayPostgres, make_settings
from tests.factories import make_launch
from tests.processes import Browser, Running, free_port, started, throwaway_postgres

SLUG = "test-launch"
ORIGIN = "http://tally.example.test"
NOT_RECORDED = "Nothing was recorded"
SAME_KEY = "same idempotency key"
# Bounds on polling for a state to show, not measures: the test fails with what it last saw.
WITHIN = 20.0


def _env(database_url: str) -> dict[str, str]:
    return {"TALLY_DATABASE_URL": database_url, "TALLY_SECRET_KEY": TEST_SECRET, "TALLY_BASE_URL": ORIGIN}


@contextmanager
def _server(database_url: str, cwd: Path) -> Iterator[tuple[Running, str]]:
    port = free_port()
    with started("serve", "--no-scheduler", "--port", str(port), env=_env(database_url), cwd=cwd) as running:
        yield running, f"http://127.0.0.1:{port}"


def _prepare(database_url: str) -> str:
    """Schema, a live launch and an integration's token; returns the token."""
    db = Database(database_url)
    try:
        migrations.upgrade(db)
        make_launch(db, slug=SLUG)
        with db.transaction() as session:
            now = dt.datetime.now(dt.UTC)
            _, token = api_tokens.create(session, name="telephony", now=now, actor="test")
            auth.add_user(session, username="kari", role=Role.AGENT, password=PASSWORD, now=now, actor="test")
    finally:
        db.dispose()
    return token


def _stored_ids(database_url: str) -> set[int]:
    db = Database(database_url)
    try:
        with db.engine.connect() as connection:
            return {row[0] for row in connection.execute(sa.text("SELECT id FROM enquiry"))}
    finally:
        db.dispose()


def _post(client: httpx.Client, url: str, token: str, key: str, note: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"channel": "phone", "hypotheses": ["a"], "idempotency_key": key}
    if note is not None:
        body["note"] = note
    return client.post(
        f"{url}/api/v1/launches/{SLUG}/enquiries", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def _eventually(look: Callable[[], Any], ok: Callable[[Any], bool], what: str) -> Any:
    deadline = time.monotonic() + WITHIN
    while True:
        seen = look()
        if ok(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {WITHIN:.0f} s; last: {seen}")
        time.sleep(0.1)  # between looks only; nothing is asserted about how long it took


def _says_send_again(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    message = str(response.json()["error"]["message"])
    return NOT_RECORDED in message and SAME_KEY in message


# --- kill -9 in the middle of a load -------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres: ThrowawayPostgres | None) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tally.db'}"
        return
    if postgres is None:
        pytest.skip(PG_SKIP_REASON)
    with throwaway_postgres(postgres.admin_url, "tally_faults") as url:
        yield url


def test_kill_9_in_the_middle_of_a_load_loses_no_acknowledged_enquiry(database_url: str, tmp_path: Path) -> None:
    token = _prepare(database_url)
    acknowledged: dict[str, int] = {}  # key -> id, of every 2xx answer
    tried: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def load(url: str, worker: int) -> None:
        with httpx.Client(timeout=30) as client:
            for i in range(2_000):  # bounded: the kill comes long before
                key = f"kill-{worker}-{i}"
                with lock:
                    tried.append(key)
                try:
                    answer = _post(client, url, token, key)
                except httpx.TransportError:
                    return  # the server is gone: this key's fate is unknown to the client
                assert answer.status_code == 201, answer.text
                with lock:
                    acknowledged[key] = answer.json()["id"]
                    if len(acknowledged) >= 300:
                        enough.set()

    with _server(database_url, tmp_path) as (running, url):
        workers = [threading.Thread(target=load, args=(url, n)) for n in range(6)]
        for worker in workers:
            worker.start()
        assert enough.wait(120), "the load never reached 300 enquiries:\n" + running.output
        running.kill()
        for worker in workers:
            worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers)

    # Every 2xx is in the database under the id it was given.
    assert set(acknowledged.values()) <= _stored_ids(database_url)

    # The clients send again whatever they are unsure of (and, to check, what was acknowledged):
    # each enquiry is then recorded once, acknowledged ones under their first id.
    with _server(database_url, tmp_path) as (_, url), httpx.Client(timeout=30) as client:
        for key in tried:
            answer = _post(client, url, token, key)
            assert answer.status_code in (200, 201), answer.text
            if key in acknowledged:
                assert (answer.status_code, answer.json()["id"]) == (200, acknowledged[key])
    assert len(_stored_ids(database_url)) == len(tried)


# --- a read-only SQLite file ---------------------------------------------------------------------------


@contextmanager
def _immutable(*paths: Path) -> Iterator[None]:
    """Files even root cannot write (ext4/xfs's immutable flag), made writable again afterwards."""
    done: list[Path] = []
    try:
        for path in paths:
            result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
            if result.returncode != 0:
                pytest.skip(f"cannot make {path.name} read-only for root here (chattr +i: {result.stderr.strip()})")
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run(["chattr", "-i", str(path)], check=True)


def _signed_in_agent(url: str) -> Browser:
    agent = Browser(ORIGIN)
    agent.sign_in(url, "kari", PASSWORD)
    return agent


def test_a_read_only_sqlite_file_refuses_enquiries_clearly_and_readyz_says_so(tmp_path: Path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("needs chattr (e2fsprogs) to make a file read-only for root")
    path = tmp_path / "tally.db"
    database_url = f"sqlite:///{path}"
    token = _prepare(database_url)
    with _server(database_url, tmp_path) as (_, url):
        agent = _signed_in_agent(url)  # a session from before the file became read-only
    try:
        with _immutable(path), _server(database_url, tmp_path) as (_, url), httpx.Client(timeout=30) as client:
            refused = _post(client, url, token, "ro-api-1")
            assert _says_send_again(refused), refused.text
            agent.open_checklist(url, SLUG)
            tick = agent.tick(url, SLUG, {"channel": "chat", "hypotheses": ["b"], "idempotency_key": "ro-tick-1"})
            assert _says_send_again(tick), tick.text
            ready = client.get(f"{url}/readyz")
            assert ready.status_code == 503 and ready.json()["writes"] == "failing", ready.text
            assert client.get(f"{url}/healthz").status_code == 200
    finally:
        agent.close()
    assert _stored_ids(database_url) == set()


# --- a full disk -----------------------------------------------------------------------------------------


@contextmanager
def _small_disk(where: Path, size: str = "8m") -> Iterator[Path]:
    where.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill here (mount: {result.stderr.strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=True)


def _fill(disk: Path) -> Path:
    """Take every free byte of ``disk``; returns the file to remove to free them again."""
    filler = disk / "filler"
    # Unbuffered: a buffered file's last, partly written block was flushed again on close, which
    # raised "No space left on device" outside the loop's try.
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def test_a_full_disk_refuses_enquiries_clearly_and_they_go_in_once_space_is_freed(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    with _small_disk(disk):
        database_url = f"sqlite:///{disk / 'tally.db'}"
        token = _prepare(database_url)
        with _server(database_url, tmp_path) as (_, url), httpx.Client(timeout=30) as client:
            agent = _signed_in_agent(url)
            agent.open_checklist(url, SLUG)
            first = _post(client, url, token, "before-full")
            assert first.status_code == 201
            before = first.json()["id"]
            filler = _fill(disk)

            note = "the app froze on the receipt page " * 14  # ~480 characters: the pages fill up fast

            def by_api(key: str) -> httpx.Response:
                return _post(client, url, token, key, note=note)

            def by_tick(key: str) -> httpx.Response:
                return agent.tick(
                    url, SLUG, {"channel": "chat", "hypotheses": ["b"], "note": note, "idempotency_key": key}
                )

            # A row that still fits in a page already there goes in (a 201 with its row); the first
            # that needs a new page is refused.
            acknowledged: dict[str, int] = {}
            refused: dict[str, Callable[[str], httpx.Response]] = {}
            senders: list[tuple[Callable[[str], httpx.Response], str]] = [(by_api, "api"), (by_tick, "tick")]
            for send, prefix in senders:
                for i in range(1_000):  # bounded; the free pages are used up long before
                    key = f"full-{prefix}-{i}"
                    answer = send(key)
                    if answer.status_code == 201:
                        acknowledged[key] = answer.json()["id"]
                        continue
                    assert _says_send_again(answer), answer.text
                    refused[key] = send
                    break
                else:
                    raise AssertionError(f"the disk never filled up for {prefix}")
            ready_when_full = client.get(f"{url}/readyz")
            assert set(acknowledged.values()) <= _stored_ids(database_url)

            filler.unlink()
            for key, send in refused.items():  # sent again with the same key: recorded now, and only now
                again = send(key)
                assert again.status_code == 201 and again.json()["created"] is True, again.text
                acknowledged[key] = again.json()["id"]
            # Writes work again, and the writer's own success says so at once.
            assert client.get(f"{url}/readyz").status_code == 200
            agent.close()
        assert _stored_ids(database_url) == {*acknowledged.values(), before}
    assert ready_when_full.status_code == 503 and ready_when_full.json()["writes"] == "failing"


def test_a_read_only_database_is_a_503_that_logs_no_parameters(
    pg: ThrowawayPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    """A failover leaves PostgreSQL read-only: a sign-in (which writes its attempt) used to be a bare
    500, and uvicorn's traceback printed the statement's parameters (the user name, the address)."""
    url = pg.new_database()
    db = Database(url)
    try:
        migrations.upgrade(db)
        with db.transaction() as session:
            auth.add_user(
                session,
                username="lena-readonly",
                role=Role.LEAD,
                password=PASSWORD,
                now=dt.datetime.now(dt.UTC),
                actor="test",
            )
        with db.engine.connect() as connection:
            name = connection.exec_driver_sql("SELECT current_database()").scalar_one()
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            connection.commit()
        db.engine.dispose()
        with TestClient(create_app(make_settings(url), db=db)) as client:
            page = client.get("/login")
            token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
            assert token
            response = client.post(
                "/login",
                data={"username": "lena-readonly", "password": "wrong-password", "csrf_token": token.group(1)},
            )
        assert response.status_code == 503, response.text[:300]
        assert "Nothing was saved" in response.text
        assert "lena-readonly" not in caplog.text
        with pytest.raises(sa.exc.InternalError) as raised, db.transaction() as session:
            session.execute(sa.text("INSERT INTO audit_event (actor) VALUES (:actor)"), {"actor": "secret-actor"})
        assert "secret-actor" not in str(raised.value)
    finally:
        db.dispose()


def test_every_connection_in_use_is_a_503_after_the_connect_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When every pooled connection is held (slow reports, a burst of requests), a request waits at
    most twice the connect timeout for one, then gets the 'try again' answer, not a bare 500."""
    url = f"sqlite:///{tmp_path / 'tally.db'}"
    migrations.upgrade(Database(url))
    settings = make_settings(url, database_connect_timeout=0.05)
    with TestClient(create_app(settings)) as client:
        db: Database = client.app.state.db  # type: ignore[attr-defined]
        held = []
        try:
            while True:  # the pool's connections and its overflow, until it has none to give
                held.append(db.engine.pool.connect())
        except sa.exc.TimeoutError:
            pass
        stranger = {"Authorization": "Bearer tly_not-a-real-token"}
        try:
            response = client.get("/api/v1/launches", headers=stranger)
        finally:
            for connection in held:
                connection.close()
        assert response.status_code == 503, response.text[:300]
        assert response.json()["error"]["code"] == "unavailable" and response.headers["Retry-After"] == "5"
        assert "no database connection free" in caplog.text
        # and it answers again once connections are free
        assert client.get("/api/v1/launches", headers=stranger).status_code == 401
