"""Prometheus metrics at /metrics, read through the real app: enquiries by launch, channel and source;
request latency by route template (the hot path's included); digest and alert runs by status against
the fake Slack; the scheduler's last pass; and, from a real `tally serve --workers 2`, both workers'
counts summed.

Counters live for the whole test process, so each test compares what it did with what was there
before (``delta``) and uses a launch of its own.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from fastapi.testclient import TestClient
from prometheus_client import values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app import api_tokens, digests
from app.config import Settings
from app.db import Database
from app.insight import alerts
from app.jobs.scheduler import DigestScheduler
from app.main import create_app
from app.models import DigestStatus, Launch
from app.observability import metrics
from app.slack.client import BotSender
from tests.conftest import DIGEST_SETTLE, SLACK_CHANNEL, WebUser, make_settings
from tests.factories import make_launch
from tests.fakes.slack_server import FakeSlack, Reply
from tests.helpers import JSON
from tests.processes import free_port, tally_process
from tests.test_alerts import local, log_many

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
API_ROUTE = "/api/v1/launches/{slug}/enquiries"
TICK_ROUTE = "/launches/{slug}/enquiries"


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def scrape(client: TestClient | httpx.Client, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def unique_launch(db: Database, **overrides: Any) -> Launch:
    return make_launch(db, slug=f"m-{uuid.uuid4().hex[:8]}", **overrides)


def post_api(client: TestClient | httpx.Client, slug: str, token: str, key: str, channel: str = "phone") -> int:
    response = client.post(
        f"/api/v1/launches/{slug}/enquiries",
        json={"channel": channel, "hypotheses": ["a"], "idempotency_key": key},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code in (200, 201), response.text
    return response.status_code


# --- through the app ---------------------------------------------------------------------------


def test_enquiries_are_counted_by_launch_channel_and_source_and_every_route_is_timed_by_its_template(
    client: TestClient, db: Database, token: str, people: object, web: Callable[[str | None], WebUser]
) -> None:
    launch = unique_launch(db)
    slug = launch.slug
    kari = web("kari")
    before = scrape(client)

    assert post_api(client, slug, token, "first") == 201
    assert post_api(client, slug, token, "second", channel="chat") == 201
    assert post_api(client, slug, token, "first") == 200  # a replay: recorded once, counted once
    ticked = kari.post(f"/launches/{slug}/enquiries", json={"channel": "phone", "hypotheses": ["b"]}, headers=JSON)
    assert ticked.status_code == 201, ticked.text
    assert kari.get(f"/launches/{slug}/checklist").status_code == 200
    assert client.get(f"/no/such/page/{slug}").status_code == 404
    assert client.get("/static/app.css").status_code == 200
    assert kari.client.head(f"/launches/{slug}/checklist").status_code == 200  # routed as its GET
    assert client.head("/static/app.css").status_code == 200
    after = scrape(client)

    counted = "tally_enquiries_logged_total"
    assert delta(before, after, counted, launch=slug, channel="phone", source="api") == 1
    assert delta(before, after, counted, launch=slug, channel="chat", source="api") == 1
    assert delta(before, after, counted, launch=slug, channel="phone", source="checklist") == 1

    timed = "tally_http_request_duration_seconds_count"
    assert delta(before, after, timed, route=API_ROUTE, method="POST", status="2xx") == 3
    assert delta(before, after, timed, route=TICK_ROUTE, method="POST", status="2xx") == 1
    assert delta(before, after, timed, route="/launches/{slug}/checklist", method="GET", status="2xx") >= 1
    assert delta(before, after, timed, route="<unmatched>", method="GET", status="4xx") >= 1
    assert delta(before, after, timed, route="/static/{path}", method="GET", status="2xx") >= 1
    assert delta(before, after, timed, route="/launches/{slug}/checklist", method="HEAD", status="2xx") == 1
    assert delta(before, after, timed, route="/static/{path}", method="HEAD", status="2xx") == 1
    assert delta(before, after, "tally_http_request_duration_seconds_bucket", route=API_ROUTE, method="POST",
                 status="2xx", le="+Inf") == 3  # fmt: skip
    routes = {dict(labels).get("route", "") for name, labels in after if name.startswith("tally_http_request")}
    assert not [route for route in routes if slug in route], "a raw path became a label value"

    # Every request to the writer waited once, in batches of at least one.
    assert delta(before, after, "tally_writer_wait_seconds_count") == 4
    assert 1 <= delta(before, after, "tally_writer_batch_size_count") <= 4
    assert delta(before, after, "tally_writer_batch_size_sum") == 4


def test_every_answer_carries_a_request_id_a_safe_incoming_one_is_kept(client: TestClient, db: Database) -> None:
    launch = unique_launch(db)
    generated = client.get("/healthz").headers["x-request-id"]
    assert generated and generated != client.get("/healthz").headers["x-request-id"]
    assert client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"}).headers["x-request-id"] == "lb-7f3a.42"
    unsafe = client.get("/healthz", headers={"X-Request-ID": "x" * 65}).headers["x-request-id"]
    assert unsafe != "x" * 65 and len(unsafe) <= 64
    # The hot path too, refusals included.
    refused = client.post(
        f"/api/v1/launches/{launch.slug}/enquiries", json={"channel": "phone"}, headers={"X-Request-ID": "abc-1"}
    )
    assert refused.status_code == 401 and refused.headers["x-request-id"] == "abc-1"


def test_metrics_need_the_token_when_one_is_set(database_url: str, db: Database) -> None:
    secret = "scrape-" + "k" * 20
    app = create_app(make_settings(database_url, metrics_token=secret), db=db)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token-123456"}).status_code == 401
        scrape(client, Authorization=f"Bearer {secret}")


def test_a_metrics_token_read_with_a_line_break_is_taken_without_it(
    database_url: str, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a secret's file gives it: Prometheus trims its credentials_file, and every scrape got 401."""
    secret = "scrape-" + "n" * 20
    monkeypatch.setenv("TALLY_METRICS_TOKEN", secret + "\n")
    app = create_app(make_settings(database_url), db=db)
    with TestClient(app) as client:
        scrape(client, Authorization=f"Bearer {secret}")


def test_a_short_metrics_token_is_refused_at_start(database_url: str) -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        make_settings(database_url, metrics_token="short")


# --- digests, alerts and the scheduler ---------------------------------------------------------


def test_digest_and_alert_runs_are_counted_by_status(client: TestClient, db: Database, settings: Settings) -> None:
    launch = unique_launch(db, slack_channel=SLACK_CHANNEL, starts_on=dt.date(2026, 11, 18))
    before = scrape(client)
    with FakeSlack().running() as slack:
        slack.add_channel(SLACK_CHANNEL)
        bot = BotSender(token="xoxb-test-token", base_url=slack.api_url, sleep=lambda s: None)
        [sent] = digests.run_due(
            db, settings=settings, now=local(18, 9) + DIGEST_SETTLE, sender=bot, sleep=lambda s: None
        )
        slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": "channel_not_found"}))
        [failed] = digests.run_due(
            db, settings=settings, now=local(18, 13) + DIGEST_SETTLE, sender=bot, sleep=lambda s: None
        )
        log_many(db, launch, "a", 12, start=local(18, 13, 5))
        [alert] = alerts.run_alerts(db, settings=settings, now=local(18, 13, 30), sender=bot, sleep=lambda s: None)
    log_many(db, launch, "b", 12, start=local(18, 16, 5))
    [dry] = alerts.run_alerts(db, settings=settings, now=local(18, 16, 30), sender=None, sleep=lambda s: None)
    assert (sent.status, failed.status) == (DigestStatus.SENT, DigestStatus.FAILED)
    assert (alert.status, dry.status) == (DigestStatus.SENT, DigestStatus.DRY_RUN)
    after = scrape(client)

    assert delta(before, after, "tally_digest_runs_total", status="sent") == 1
    assert delta(before, after, "tally_digest_runs_total", status="failed") == 1
    assert delta(before, after, "tally_alert_runs_total", status="sent") == 1
    assert delta(before, after, "tally_alert_runs_total", status="dry_run") == 1


def test_the_help_of_digest_runs_names_every_status_they_are_counted_by() -> None:
    """The status "replaced" was counted (a digest sent by hand, replaced by a newer one) but missing from the HELP
    line an operator reads beside the samples."""
    counted = {status.value for status in DigestStatus} - {DigestStatus.PENDING.value}  # pending: no outcome yet
    named = set(metrics.DIGEST_RUNS._documentation.split("(", 1)[1].rstrip(").").split(", "))
    assert named == counted


def test_the_scheduler_records_when_its_last_pass_ended(client: TestClient, db: Database, settings: Settings) -> None:
    moment = dt.datetime(2026, 11, 18, 12, 0, 7, tzinfo=dt.UTC)
    scheduler = DigestScheduler(db, settings)
    with time_machine.travel(moment, tick=False):
        scheduler.run_due()
        scheduler.check_alerts()
    after = scrape(client)
    gauge = "tally_scheduler_last_pass_timestamp_seconds"
    assert value(after, gauge, job="digests") == moment.timestamp()
    assert value(after, gauge, job="alerts") == moment.timestamp()


def test_a_pass_where_a_launch_s_digests_failed_is_not_counted_as_passed(
    client: TestClient, db: Database, settings: Settings, monkeypatch: Any
) -> None:
    """The rest of the pass goes on, but the gauge an operator alerts on must show that passes fail."""
    launch = make_launch(db)
    moment = dt.datetime(2026, 11, 18, 8, 0, 3, tzinfo=dt.UTC) + DIGEST_SETTLE  # 09:00's pass; no other test's
    scheduler = DigestScheduler(db, settings)

    def cannot_compose(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("cannot be composed")

    monkeypatch.setattr(digests, "_store_content", cannot_compose)
    with time_machine.travel(moment, tick=False):
        scheduler.run_due([launch.id or 0])
    assert value(scrape(client), "tally_scheduler_last_pass_timestamp_seconds", job="digests") != moment.timestamp()


def test_a_scheduler_on_its_own_serves_its_metrics_behind_the_token(tmp_path: Path, database_url: str) -> None:
    """`tally scheduler` serves no web app; with --metrics-port its own /metrics tells when its passes
    last ended, behind TALLY_METRICS_TOKEN like the app's."""
    secret = "scrape-" + "s" * 20
    port = free_port()
    env = {"TALLY_DATABASE_URL": database_url, "TALLY_SECRET_KEY": "s" * 40, "TALLY_METRICS_TOKEN": secret}
    # APScheduler's line once the first sync pass (which sends whatever digest is due) has ended.
    passed = "sync launches and catch up (trigger: interval[0:01:00], next run at"
    base = f"http://127.0.0.1:{port}"
    args = ("scheduler", "--metrics-port", str(port))
    with (
        tally_process(*args, env=env, cwd=tmp_path, ready="executed successfully") as lines,
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        assert any(f"scheduler metrics at {base}/metrics" in line for line in lines)
        assert any(passed in line for line in lines), "".join(lines)
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers={"Authorization": "Bearer wrong-token-123456"}).status_code == 401
        assert http.get("/", headers={"Authorization": f"Bearer {secret}"}).status_code == 404
        samples = scrape(http, Authorization=f"Bearer {secret}")
    assert value(samples, "tally_scheduler_last_pass_timestamp_seconds", job="digests") > 0
    assert secret not in "".join(lines)


def test_a_scheduler_on_its_own_clears_the_files_of_its_earlier_runs(tmp_path: Path, database_url: str) -> None:
    """`tally scheduler` given a PROMETHEUS_MULTIPROC_DIR of its own (as the docs ask) kept every earlier
    run's files: its /metrics added their counts to this run's, and each restart left more behind."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    gone = directory / "counter_999999999.db"  # no such process: an earlier run's counts
    gone.write_bytes(b"x")
    env = {"TALLY_DATABASE_URL": database_url, "TALLY_SECRET_KEY": "s" * 40, metrics.MULTIPROC_ENV: str(directory)}
    with tally_process("scheduler", env=env, cwd=tmp_path, ready="executed successfully"):
        assert not gone.exists()
        assert list(directory.glob("*.db")), "the scheduler's own files are there"


def test_the_demo_clears_the_files_of_earlier_runs_too(tmp_path: Path) -> None:
    """`tally demo` with a PROMETHEUS_MULTIPROC_DIR summed an earlier run's counts into its /metrics."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    gone = directory / "counter_999999999.db"  # no such process: an earlier run's counts
    gone.write_bytes(b"x")
    env = {
        "TALLY_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "TALLY_SECRET_KEY": "s" * 40,
        metrics.MULTIPROC_ENV: str(directory),
    }
    with tally_process("demo", "--port", str(free_port()), env=env, cwd=tmp_path):
        assert not gone.exists()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_process_metrics_are_there_with_one_process_only_as_the_docs_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/operations.md said one worker has process_… and python_gc_… metrics; with
    PROMETHEUS_MULTIPROC_DIR set it has none (prometheus-client's multiprocess sum has none)."""
    docs = (Path(__file__).parent.parent / "docs" / "operations.md").read_text()
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    assert b"\nprocess_" in metrics.exposition() and b"\npython_gc_" in metrics.exposition()
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    assert b"process_" not in metrics.exposition() and b"python_gc_" not in metrics.exposition()
    said = " ".join(docs.split())
    assert "With one worker and `PROMETHEUS_MULTIPROC_DIR` unset, the process's default metrics" in said
    assert "or the variable set, even with one worker" in said


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback (::1) to listen on")
@pytest.mark.parametrize("host", ["::1", "::"])
def test_a_scheduler_s_metrics_can_listen_on_ipv6(host: str) -> None:
    """`tally scheduler --metrics-host ::` failed: "Address family for hostname not supported"."""
    server = metrics.serve_standalone(host, 0, token=None)
    try:
        answer = httpx.get(f"http://[::1]:{server.server_port}/metrics", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status_code == 200 and "tally_" in answer.text


# --- several workers ---------------------------------------------------------------------------


def test_tally_serve_with_two_workers_sums_both_workers_counts(tmp_path: Path, database_url: str, db: Database) -> None:
    """Every worker writes its own files; /metrics, whichever worker answers it, adds them all up.
    Fresh connections are spread over the workers by the kernel: enquiries go in until both
    workers have counted some (each one's files read on their own), then the sum is checked."""
    launch = unique_launch(db)
    with db.transaction() as session:
        _, token = api_tokens.create(session, name="telephony", now=dt.datetime.now(dt.UTC), actor="test")
    directory = tmp_path / "metrics"
    env = {
        "TALLY_DATABASE_URL": database_url,
        "TALLY_SECRET_KEY": "s" * 40,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),  # the operator's: honoured, and emptied first
    }
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left over from an earlier run")
    port = free_port()
    with tally_process("serve", "--workers", "2", "--no-scheduler", "--port", str(port), env=env, cwd=tmp_path):
        assert not (directory / "counter_999999.db").exists()
        base = f"http://127.0.0.1:{port}"
        sent = 0
        per_worker: list[float] = []
        with ThreadPoolExecutor(8) as pool:
            while len(per_worker) < 2 or min(per_worker) == 0:
                assert sent < 2000, f"the enquiries never reached both workers: {per_worker}"

                def send(n: int) -> int:
                    with httpx.Client(base_url=base, timeout=10) as fresh:  # a new connection each time
                        return post_api(fresh, launch.slug, token, f"k{n}")

                list(pool.map(send, range(sent, sent + 40)))
                sent += 40
                per_worker = counts_per_worker(directory, launch.slug)
        with httpx.Client(base_url=base, timeout=10) as scraper:
            for _ in range(4):  # whichever worker answers, the same sum
                after = scrape(scraper)
                assert value(after, "tally_enquiries_logged_total", launch=launch.slug, channel="phone",
                             source="api") == sent  # fmt: skip
    assert sum(per_worker) == sent


def counts_per_worker(directory: Path, slug: str) -> list[float]:
    counts = []
    for path in sorted(directory.glob("counter_*.db")):
        metrics = MultiProcessCollector.merge([str(path)], accumulate=True)
        counts.append(
            sum(
                sample.value
                for metric in metrics
                for sample in metric.samples
                if sample.name == "tally_enquiries_logged_total" and sample.labels.get("launch") == slug
            )
        )
    return counts


def test_a_shared_metrics_directory_keeps_the_files_of_processes_still_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starting `tally serve` on a PROMETHEUS_MULTIPROC_DIR shared with a running scheduler deleted the
    scheduler's files, and its last-pass gauge vanished from every /metrics for good."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = directory / f"gauge_max_{alive.pid}.db"
        live.write_bytes(b"x")
        gone = directory / "counter_999999999.db"  # no such process: an earlier run's counts
        gone.write_bytes(b"x")
        odd = directory / "counter_²³.db"  # digits to str.isdigit, not to int(): no process's, no crash
        odd.write_bytes(b"x")
        monkeypatch.setenv(metrics.MULTIPROC_ENV, str(directory))
        monkeypatch.setattr(values, "ValueClass", values.MutexValue)
        metrics.prepare_directory(str(directory))
        assert live.exists() and not gone.exists() and not odd.exists()
    finally:
        alive.kill()
        alive.wait()


def test_a_metrics_directory_that_is_gone_is_made_not_a_crash(tmp_path: Path) -> None:
    """PROMETHEUS_MULTIPROC_DIR on /run or /tmp is gone after a reboot: every `tally` command died at
    import with FileNotFoundError (prometheus-client opens its files as soon as it is imported)."""
    gone = tmp_path / "run" / "tally-metrics"
    (tmp_path / "tally.db").touch()
    env = {
        "TALLY_DATABASE_URL": f"sqlite:///{tmp_path / 'tally.db'}",
        "PROMETHEUS_MULTIPROC_DIR": str(gone),
    }
    result = subprocess.run(
        [sys.executable, "-m", "app", "users", "list"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and gone.is_dir()
