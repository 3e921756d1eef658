"""How `tally serve` runs the app in each worker process."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from uvicorn.importer import import_from_string

from app import cli, main
from app.config import Settings
from app.db import Database


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """This test process builds many apps: what a test freezes is thawed again after it."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_tally_serve_runs_the_served_app_factory() -> None:
    assert import_from_string(cli.SERVED_APP) is main.served_app


def test_a_served_worker_freezes_its_startup_heap_once_started(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, unfrozen: None
) -> None:
    """What exists once a worker has started (modules, the app, its routes) stays out of the collector's
    full passes, which walked ~170,000 objects each time and held every request for ~120 ms."""
    for name, value in {
        "TALLY_DATABASE_URL": settings.database_url,
        "TALLY_SECRET_KEY": settings.secret_key.get_secret_value(),
    }.items():
        monkeypatch.setenv(name, value)
    app = main.served_app()
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 10_000
        assert client.get("/healthz").status_code == 200


def test_apps_built_in_a_shared_process_leave_the_collector_alone(
    settings: Settings, db: Database, unfrozen: None
) -> None:
    with TestClient(main.create_app(settings, db=db)):
        assert gc.get_freeze_count() == 0
