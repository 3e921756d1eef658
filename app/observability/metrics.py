"""Every Prometheus metric of the app, and the helpers that record them: one place.

Label values are always bounded: a route's *template* (never the raw path), a status class, a
launch's slug, a channel the launch offers, a source. A metric whose labels could grow with the
traffic would grow the scrape, and the memory of every Prometheus that reads it, without end.

Several worker processes (``tally serve --workers N``) each count on their own. prometheus-client's
multiprocess mode keeps each process's values in files under ``PROMETHEUS_MULTIPROC_DIR`` and
``/metrics`` adds them up (``MultiProcessCollector``); ``tally serve`` sets that directory up
(``prepare_directory``) before the workers start. One process uses the default registry.

Recording sits on the hot path (a tick costs well under a millisecond of the server's time), so the
helpers there look their labelled child up in a plain dict first: prometheus-client's ``labels()``
validates and locks on every call.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "<unmatched>"  # every path no route knows (404s): one label value, not one per path

# A tick is answered in a millisecond or two; a page in tens; an export may take seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # the writer takes at most 256 at a time
WAIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0)

REQUEST_SECONDS = Histogram(
    "tally_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template, method and status class.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
ENQUIRIES = Counter(
    "tally_enquiries_logged",
    "Enquiries recorded (committed; replays of an idempotency key not counted again), by launch, channel and source.",
    ["launch", "channel", "source"],
)
WRITER_BATCH = Histogram(
    "tally_writer_batch_size",
    "Requests recorded together in one transaction by the group-commit writer.",
    buckets=BATCH_BUCKETS,
)
WRITER_WAIT = Histogram(
    "tally_writer_wait_seconds",
    "Time a request waited in the group-commit writer's queue before its batch started.",
    buckets=WAIT_BUCKETS,
)
DIGEST_RUNS = Counter(
    "tally_digest_runs",
    "Digest runs that reached a status (sent, late, dry_run, retrying, failed, missed, replaced).",
    ["status"],
)
ALERT_RUNS = Counter(
    "tally_alert_runs",
    "Spike alerts that reached a status (sent, dry_run, retrying, failed).",
    ["status"],
)
# max: with several processes the newest pass is the one that counts; a scheduler that died
# leaves its last pass behind, which then grows old, which is what an alert rule should see.
SCHEDULER_PASS = Gauge(
    "tally_scheduler_last_pass_timestamp_seconds",
    "When the scheduler last finished a pass of a job without an error (Unix time).",
    ["job"],
    multiprocess_mode="max",
)

_request_children: dict[tuple[str, str, str], Any] = {}
_enquiry_children: dict[tuple[str, str, str], Any] = {}


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status_class(status))
    child = _request_children.get(key)
    if child is None:
        child = _request_children[key] = REQUEST_SECONDS.labels(*key)
    child.observe(seconds)


def count_enquiry(launch: str, channel: str, source: str) -> None:
    key = (launch, channel, source)
    child = _enquiry_children.get(key)
    if child is None:
        child = _enquiry_children[key] = ENQUIRIES.labels(*key)
    child.inc()


def observe_batch(waits: Sequence[float]) -> None:
    """A batch starts its transaction; ``waits``: how long each of its requests waited for that."""
    WRITER_BATCH.observe(len(waits))
    for wait in waits:
        WRITER_WAIT.observe(wait)


def count_digest_run(status: object) -> None:
    """A digest run was saved with ``status`` (a DigestStatus; anything else, such as None, is no status change)."""
    if status is not None:
        DIGEST_RUNS.labels(str(getattr(status, "value", status))).inc()


def count_alert_run(status: object) -> None:
    if status is not None:
        ALERT_RUNS.labels(str(getattr(status, "value", status))).inc()


def scheduler_passed(job: str, *, now: dt.datetime) -> None:
    SCHEDULER_PASS.labels(job).set(now.timestamp())


# --- several processes -------------------------------------------------------------------


def multiprocess_directory() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_directory(path: str | None) -> tuple[Path, bool]:
    """Set up multiprocess mode for this process and the workers it starts; returns the directory and
    whether it was made here (and so is to be removed at exit).

    An operator's directory is honoured and rid of the files of processes that are gone: left, they
    would add an earlier run's counts to this one's. Files of processes still running stay (another
    `tally serve` or `tally scheduler` given the same directory: emptied, its metrics vanished for
    good, the scheduler's last pass among them); this process's own stay too. Called before the
    workers start; this process (which runs the scheduler) switches to files too, for its metrics
    to be in the sum."""
    if path:
        directory, made = Path(path), False
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            if not _running(_pid_of(stale)):
                stale.unlink(missing_ok=True)
    else:
        directory, made = Path(tempfile.mkdtemp(prefix="tally-metrics-")), True
    os.environ[MULTIPROC_ENV] = str(directory)
    if values.ValueClass is values.MutexValue:
        # prometheus-client chose its value class on import, before the directory was known; labelled
        # metrics make their values on first use, so from now on they go to files. (Never swapped when
        # files are in use already: two maps of one file in a process would overwrite each other.)
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return directory, made


def _pid_of(file: Path) -> int | None:
    """The process a multiprocess file belongs to: prometheus-client names them <kind>_<pid>.db."""
    tail = file.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isascii() and tail.isdigit() else None  # isdigit alone takes "²", int() does not


def _running(pid: int | None) -> bool:
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def remove_directory(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def prepare_operators_directory() -> None:
    """For a process of its own in the operator's ``PROMETHEUS_MULTIPROC_DIR`` (``tally scheduler``,
    ``tally demo``), as ``tally serve`` prepares it: rid of the files of its earlier runs, which /metrics
    would otherwise add to this run's counts, one more set at every restart. Nothing without one."""
    if operators := multiprocess_directory():
        prepare_directory(operators)


def process_ended(pid: int) -> None:
    """A worker is stopping: its live gauges (if any are ever added) leave the sum; counters stay."""
    if multiprocess_directory():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def exposition() -> bytes:
    """The text format of every metric: summed over every process's files in multiprocess mode."""
    if multiprocess_directory():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


# --- a process without the web app ------------------------------------------------------


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    # WSGIServer binds IPv4 only: --metrics-host :: failed with "Address family for hostname not supported".
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not news."""


def serve_standalone(host: str, port: int, *, token: str | None) -> WSGIServer:
    """``/metrics`` of a process that serves no web app (``tally scheduler``), in a thread of its own.

    prometheus-client's own ``start_http_server`` cannot ask for a token: this serves the same
    exposition behind the same bearer check as the web app's ``/metrics``. Returns the server
    (``shutdown()`` stops it)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"only /metrics here\n"]
        if token is not None:
            given = environ.get("HTTP_AUTHORIZATION", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
                return [b"/metrics needs TALLY_METRICS_TOKEN as a bearer token\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE)])
        return [exposition()]

    server_class = _Server6 if ":" in host else _Server  # as `refuse_taken_port` decides (app/cli.py)
    server = make_server(host, port, app, server_class=server_class, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
