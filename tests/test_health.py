"""/healthz (liveness), /readyz (readiness: the database answers and writes work), and `tally serve`
on a brand-new SQLite file."""

from __future__ import annotations

import datetime as dt
import socket
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlmodel import select

from app import api_tokens, migrations
from app.db import Database
from app.main import create_app
from app.models import ReadinessProbe
from app.readiness import FAILURE_HOLD, Readiness
from tests.conftest import make_settings
from tests.factories import make_launch
from tests.processes import free_port, tally_process


def test_healthz_and_readyz_up(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "writes": "ok"}


def test_readyz_down_when_the_database_does_not_answer_healthz_still_live(tmp_path: Path) -> None:
    # A PostgreSQL URL on a port nobody listens on: connection refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://nobody@127.0.0.1:{port}/none?connect_timeout=2"
    app = create_app(make_settings(url), db=Database(url))
    with TestClient(app) as client:
        live = client.get("/healthz")
        response = client.get("/readyz")
    assert live.status_code == 200
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and response.json()["database"] == "unreachable"
    assert "nobody" not in response.text


def test_tally_serve_on_a_new_sqlite_file_needs_no_extra_step(tmp_path: Path) -> None:
    port = free_port()
    env = {"TALLY_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh' / 'tally.db'}"}
    with tally_process("serve", "--port", str(port), env=env, cwd=tmp_path):
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_readyz_says_when_writes_fail(tmp_path: Path) -> None:
    """A database that answers reads but refuses writes (a full disk, a read-only file): opened
    read-only here, since the tests run as root, whom file permissions do not stop."""
    path = tmp_path / "tally.db"
    writable = Database(f"sqlite:///{path}")
    migrations.upgrade(writable)
    launch = make_launch(writable)
    with writable.transaction() as session:
        _, token = api_tokens.create(session, name="telephony", now=dt.datetime.now(dt.UTC), actor="test")
    writable.dispose()
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    app = create_app(make_settings(url), db=Database(url))
    with TestClient(app) as client:
        refused = client.post(
            f"/api/v1/launches/{launch.slug}/enquiries",
            json={"channel": "phone"},
            headers={"Authorization": f"Bearer {token}"},
        )
        ready = client.get("/readyz")
        live = client.get("/healthz")
    assert refused.status_code == 503 and "send it again" in refused.json()["error"]["message"]
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "ok", "writes": "failing", "error": "OperationalError"}


class Writer:
    """The enquiry writer's record of how its batches ended (what Readiness reads)."""

    last_success: float | None = None
    last_failure: float | None = None
    last_error: str | None = None

    @property
    def failing(self) -> bool:
        return self.last_failure is not None and (self.last_success is None or self.last_failure > self.last_success)


def test_after_failed_writes_a_probe_tells_when_writes_work_again(db: Database) -> None:
    writer = Writer()
    readiness = Readiness(db, writer, name="test:1")
    failed_at = time.monotonic()
    writer.last_success, writer.last_failure = failed_at - 1, failed_at
    writer.last_error = "OperationalError"
    # Just after a failed batch a probe that succeeds is not believed: a full disk may still take its
    # one small row while enquiries fail.
    assert not readiness.check().ready
    # Once the failure is FAILURE_HOLD old, the database is fine again: the probe write succeeds, so
    # the replica is ready without any enquiry.
    writer.last_success, writer.last_failure = failed_at - FAILURE_HOLD - 2, failed_at - FAILURE_HOLD - 1
    readiness = Readiness(db, writer, name="test:1")
    assert readiness.check().ready
    with db.session() as session:
        assert session.exec(select(ReadinessProbe)).one().name == "test:1"


def test_probe_rows_of_processes_long_gone_are_cleared(db: Database) -> None:
    """One row per process (host and pid): every restart over a launch's weeks would leave one behind."""
    with db.transaction() as session:
        session.add(ReadinessProbe(name="old-pod:7", at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2)))
        session.add(ReadinessProbe(name="other-pod:8", at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
    writer = Writer()
    assert Readiness(db, writer, name="test:1").check().ready  # idle: it probes
    with db.session() as session:
        assert sorted(p.name for p in session.exec(select(ReadinessProbe))) == ["other-pod:8", "test:1"]
