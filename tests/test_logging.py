"""Log lines: JSON in production with the request's id on them, and never a secret or a note's text.

The end-to-end test reads every line a real `tally serve` writes while an integration and an agent
log enquiries with notes (uvicorn's access lines included, at debug level); the others check the
redaction and the rendering on their own.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from structlog.contextvars import bound_contextvars

from app import api_tokens
from app.db import Database
from app.main import create_app
from app.observability import logs
from tests.conftest import PASSWORD, People
from tests.factories import make_launch
from tests.processes import Browser, free_port, started
from tests.test_cli_newcomers import tally

NOTE = "Customer Kari Nordmann said the QR-kvittering vanished twice"


def test_a_served_tick_and_api_call_log_json_with_their_request_id_and_no_note_or_secret(
    tmp_path: Path, database_url: str, db: Database, people: People
) -> None:
    launch = make_launch(db, slug="logged-launch")
    with db.transaction() as session:
        _, token = api_tokens.create(session, name="telephony", now=dt.datetime.now(dt.UTC), actor="test")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = {
        "TALLY_DATABASE_URL": database_url,
        "TALLY_SECRET_KEY": "s" * 40,
        "TALLY_BASE_URL": origin,
        "TALLY_LOG_FORMAT": "json",
        "TALLY_LOG_LEVEL": "debug",
        "TALLY_ACCESS_LOG": "true",
    }
    with started("serve", "--no-scheduler", "--port", str(port), env=env, cwd=tmp_path) as server:
        api = httpx.post(
            f"{origin}/api/v1/launches/{launch.slug}/enquiries",
            json={"channel": "phone", "hypotheses": ["a"], "note": NOTE},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "trace-api-1"},
        )
        assert api.status_code == 201, api.text
        wrong = httpx.post(
            f"{origin}/api/v1/launches/{launch.slug}/enquiries",
            json={"channel": "phone", "note": NOTE},
            headers={"Authorization": "Bearer lt_wrongwrongwrongwrong"},
        )
        assert wrong.status_code == 401
        agent = Browser(origin)
        try:
            agent.sign_in(origin, people.agent.username, PASSWORD)
            agent.open_checklist(origin, launch.slug)
            ticked = agent.tick(origin, launch.slug, {"channel": "chat", "hypotheses": ["b"], "note": NOTE})
            assert ticked.status_code == 201, ticked.text
            cookies = [str(cookie.value) for cookie in agent.client.cookies.jar]
        finally:
            agent.close()
        server.stop()  # every line written and read
        lines = [line for line in server.lines if line.strip()]

    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert records and all({"event", "level", "timestamp", "logger"} <= record.keys() for record in records)
    assert any(r["logger"] == "uvicorn.error" and "startup complete" in str(r["event"]) for r in records)
    api_lines = [r for r in records if r.get("request_id") == "trace-api-1"]
    assert api_lines and any("/api/v1/launches/logged-launch/enquiries" in r["event"] for r in api_lines)
    # The tick's lines carry an id of their own, which its answer carried too.
    assert any(r.get("request_id") == ticked.headers["x-request-id"] for r in records)
    everything = "\n".join(lines)
    for secret in (NOTE, "Nordmann", token, "lt_wrongwrongwrongwrong", PASSWORD, *cookies):
        assert secret not in everything


def test_secrets_and_notes_are_masked_by_key_and_by_their_look() -> None:
    event = logs.redact(
        None,
        "info",
        {
            "event": "retrying with Authorization: Bearer abc.def and token lt_abcdefghijklmnop at "
            "postgresql+psycopg://tally:hunter2@db:5432/tally",
            "note": NOTE,
            "api_token": "lt_abcdefghijklmnop",
            "headers": {"Cookie": "tally_session=abc", "accept": "text/html"},
            "count": 3,
        },
    )
    assert event["note"] == event["api_token"] == logs.MASK
    assert event["headers"] == {"Cookie": logs.MASK, "accept": "text/html"}
    assert event["count"] == 3
    text = event["event"]
    assert "abc.def" not in text and "lt_abcdefghijklmnop" not in text and "hunter2" not in text
    assert "Bearer [redacted]" in text and "tally:[redacted]@db" in text


@pytest.fixture
def json_lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own with the JSON formatter, so the run's logging setup is left alone."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    logger = logging.getLogger("tests.logging")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_standard_library_records_render_as_json_with_the_bound_request_id(
    json_lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_lines
    with bound_contextvars(request_id="req-42"):
        logger.warning("digest %s for %s not delivered yet", "slot-1", "launch-x")
    try:
        raise RuntimeError("connect to postgresql://tally:hunter2@db/tally failed")
    except RuntimeError:
        logger.exception("batch failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "digest slot-1 for launch-x not delivered yet"
    assert (first["request_id"], first["level"], first["logger"]) == ("req-42", "warning", "tests.logging")
    assert "request_id" not in second  # bound only while the request lasted
    assert "RuntimeError" in second["exception"] and "hunter2" not in second["exception"]


def test_the_console_format_masks_secrets_in_an_exception_too() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("console"))
    logger = logging.getLogger("tests.logging.console")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError("Bearer lt_abcdefghijklmnop to postgresql://tally:hunter2@db/tally failed")
        except RuntimeError:
            logger.exception("batch failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "RuntimeError" in text and "batch failed" in text
    assert "hunter2" not in text and "lt_abcdefghijklmnop" not in text


def test_access_lines_leave_out_query_strings_and_slack_never_logs_its_requests() -> None:
    config = logs.logging_config(level="debug", renderer="json")
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/launches/x/other?q=Ola+Nordmann+41234567", "1.1", 200),
        None,
    )
    assert logs.NoQueryFilter().filter(record)
    assert "Nordmann" not in record.getMessage() and "/launches/x/other?" in record.getMessage()
    assert config["loggers"]["uvicorn.access"]["filters"] == ["no_query"]
    assert config["loggers"]["slack_sdk"]["level"] == "WARNING"


def test_an_unhandled_error_is_logged_with_the_id_its_500_carries(settings: Any, db: Database) -> None:
    """The id in a 500's X-Request-ID is what a user quotes to support: the traceback must carry it."""
    app = create_app(settings, db=db)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("something broke")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    logger = logging.getLogger("app.observability.requests")
    logger.addHandler(handler)
    try:
        with TestClient(app) as client, pytest.raises(RuntimeError, match="something broke") as raised:
            client.get("/boom", headers={"X-Request-ID": "support-ticket-4711"})  # raised on, as to uvicorn
    finally:
        logger.removeHandler(handler)
    [record] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record["request_id"] == "support-ticket-4711" and "RuntimeError: something broke" in record["exception"]
    # uvicorn's own line for the same error is dropped; any other is kept.
    uvicorns = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application", (), None)
    uvicorns.exc_info = (RuntimeError, raised.value, None)
    assert not logs.NotLoggedTwice().filter(uvicorns)
    uvicorns.exc_info = (RuntimeError, RuntimeError("another"), None)
    assert logs.NotLoggedTwice().filter(uvicorns)


def test_a_command_logs_in_the_configured_format_and_only_warnings_and_errors(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    """`tally digest send` (and most verbs) wrote console lines whatever TALLY_LOG_FORMAT said, which a
    log collector reading JSON lines took for garbage. Its own outcome is printed, as before; its
    info lines would only say it again, even at TALLY_LOG_LEVEL=debug."""
    launch = make_launch(db, slug="unsent-launch")
    env = {
        "TALLY_DATABASE_URL": database_url,
        "TALLY_LOG_FORMAT": "json",
        "TALLY_LOG_LEVEL": "debug",
        "SLACK_WEBHOOK_URL": "http://127.0.0.1:1/services/T0/B0/X",  # nothing listens there
    }
    result = tally("digest", "send", launch.slug, env=env, cwd=tmp_path, clean=True)
    *logged, said = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and said.startswith("Not sent yet: "), result.stderr
    records = [json.loads(line) for line in logged]
    assert any(r["logger"] == "app.digests" and "not delivered yet" in r["event"] for r in records), records
    assert {r["level"] for r in records} <= {"warning", "error"}


def test_a_failed_enquiry_batch_is_logged_with_the_ids_its_503s_carry(settings: Any, db: Database, token: str) -> None:
    """A 503 "nothing was recorded" is what a user quotes to support by its X-Request-ID: the writer's
    line for the batch that failed must name it (and never the note)."""
    make_launch(db, slug="broken-launch")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    logger = logging.getLogger("app.recording.writer")
    logger.addHandler(handler)
    with db.engine.begin() as connection:  # a real failure: the table the batch writes to is gone
        connection.exec_driver_sql("ALTER TABLE enquiry RENAME TO enquiry_gone")
    try:
        with TestClient(create_app(settings, db=db)) as client:
            response = client.post(
                "/api/v1/launches/broken-launch/enquiries",
                json={"channel": "phone", "note": NOTE, "idempotency_key": "k-1"},
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "support-ticket-503"},
            )
    finally:
        logger.removeHandler(handler)
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE enquiry_gone RENAME TO enquiry")
    assert response.status_code == 503 and "Nothing was recorded" in response.text, response.text
    assert response.headers["X-Request-ID"] == "support-ticket-503"
    [record] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record["level"] == "error" and "request ids: support-ticket-503)" in record["event"], record
    assert "request_id" not in record  # the batch is everyone's: the ids are in its text
    assert "Nordmann" not in stream.getvalue() and token not in stream.getvalue()
