"""/healthz, and `tally serve` on a brand-new SQLite file."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from app.db import Database
from app.main import create_app
from tests.conftest import make_settings
from tests.processes import free_port, tally_process


def test_healthz_up(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_down_when_the_database_does_not_answer(tmp_path: Path) -> None:
    # A PostgreSQL URL on a port nobody listens on: connection refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://nobody@127.0.0.1:{port}/none?connect_timeout=2"
    app = create_app(make_settings(url), db=Database(url))
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}
    assert "nobody" not in response.text


def test_tally_serve_on_a_new_sqlite_file_needs_no_extra_step(tmp_path: Path) -> None:
    port = free_port()
    env = {"TALLY_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh' / 'tally.db'}"}
    with tally_process("serve", "--port", str(port), env=env, cwd=tmp_path):
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert response.status_code == 200 and response.json()["status"] == "ok"
