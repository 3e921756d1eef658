"""A slow, locked, stalled or restarting PostgreSQL never freezes a server.

Each test runs a real `tally serve` process on a throwaway PostgreSQL database and makes the
database misbehave the ways production ones do: a lock held elsewhere (a migration, a long
report), a network path that stops forwarding (a failover, a dead load balancer), and the
server dropping every connection (a restart, `pg_terminate_backend`). Throughout, requests that
need no database are answered at once, a write that cannot finish gets a 503 saying nothing was
recorded and to send it again with the same key, and sending it again records it exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import selectors
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from app import api_tokens, auth, migrations
from app.db import Database
from app.models import Role
from tests.conftest import TEST_SECRET, ThrowawayPostgres
from tests.factories import make_launch
from tests.processes import CSRF_FIELD, Browser, free_port, tally_process

ROOT = Path(__file__).resolve().parent.parent
STATEMENT_TIMEOUT = 1.5  # seconds: short, so the tests do not wait long for the 503
QUICK = 0.1  # what "answered at once" means here, from the issue: within 100 ms

# A latency bound on a shared 2-core machine: a scheduler hiccup can pass it once, a frozen event
# loop (seconds, every probe) fails every run.
pytestmark = pytest.mark.flaky(reruns=2)


@dataclass
class Deployment:
    url: str  # the database's SQLAlchemy URL
    token: str
    slug: str


@pytest.fixture
def deployment(pg: ThrowawayPostgres) -> Deployment:
    url = pg.new_database()
    db = Database(url)
    try:
        migrations.upgrade(db)
        launch = make_launch(db, slug="stall-launch")
        with db.transaction() as session:
            _, raw = api_tokens.create(session, name="telephony", now=dt.datetime.now(dt.UTC), actor="test")
    finally:
        db.dispose()
    return Deployment(url, raw, launch.slug)


class StallingProxy:
    """A TCP proxy to PostgreSQL that can stop forwarding while keeping every connection open,
    as a network path that silently drops packets does (nothing tells the client)."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target = ("127.0.0.1", target_port)
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def stall(self) -> None:
        self._forwarding.clear()

    def resume(self) -> None:
        self._forwarding.set()

    def close(self) -> None:
        self._stop.set()
        self._forwarding.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            thread = threading.Thread(target=self._pump, args=(client, upstream), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                # While stalled, nothing is read: bytes wait in the kernel, unanswered.
                self._forwarding.wait()
                for key, _ in selector.select(timeout=0.05):
                    if not self._forwarding.is_set():
                        break
                    ready: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = ready.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        client.close()
                        upstream.close()
                        return
                    peers[ready].sendall(data)


def _serve_env(database_url: str) -> dict[str, str]:
    return {
        "TALLY_DATABASE_URL": database_url,
        "TALLY_SECRET_KEY": TEST_SECRET,
        "TALLY_ENV": "test",
        "TALLY_AUTO_MIGRATE": "false",
        "TALLY_DATABASE_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT),
        "TALLY_DATABASE_CONNECT_TIMEOUT": "2",
        "SLACK_BOT_TOKEN": "",
    }


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    """Start `tally serve` on a database URL; yields a function returning the server's base URL."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def start(database_url: str) -> str:
            port = free_port()
            stack.enter_context(
                tally_process(
                    "serve", "--port", str(port), "--no-scheduler", env=_serve_env(database_url), cwd=tmp_path
                )
            )
            return f"http://127.0.0.1:{port}"

        yield start


def _post(client: httpx.Client, deployment: Deployment, key: str) -> httpx.Response:
    return client.post(
        f"/api/v1/launches/{deployment.slug}/enquiries",
        json={"channel": "phone", "hypotheses": ["a"], "idempotency_key": key},
        headers={"Authorization": f"Bearer {deployment.token}"},
    )


# The probes run in a process of their own: measured from the test's, a probe also timed the test's
# threads (the writes sent meanwhile, the stalling proxy) holding its GIL, and read 120-180 ms on some
# machines every run, while curl against the same server at the same moments never took 5 ms.
_PROBE = """
import http.client, json, select, sys, time
host, port, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
connection = http.client.HTTPConnection(host, port, timeout=30)
def probe(worst):
    for path in paths:
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"{path}: {response.status}")
        worst[path] = max(worst[path], time.perf_counter() - started)
probe(dict.fromkeys(paths, 0.0))  # warm: the first static file costs a first-time setup
worst, probes = dict.fromkeys(paths, 0.0), 0
print("ready", flush=True)
while not select.select([sys.stdin], [], [], 0)[0]:
    probe(worst)
    probes += 1
print(json.dumps({"probes": probes, "worst": worst}), flush=True)
"""


class Probes:
    """Requests that need no database, sent one after another from another process until stopped:
    how many went, and the slowest answer to each path."""

    def __init__(self, base: str, *paths: str) -> None:
        url = httpx.URL(base)
        self._process = subprocess.Popen(
            [sys.executable, "-c", _PROBE, url.host, str(url.port), *paths],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        assert self._process.stdout.readline().strip() == "ready"

    def stop(self) -> tuple[int, dict[str, float]]:
        out, _ = self._process.communicate(timeout=30)  # closing its stdin stops it
        assert self._process.returncode == 0, out
        result = json.loads(out)
        return result["probes"], result["worst"]

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def _answered_quickly(probes: Probes) -> int:
    """Stops ``probes``; every answer came within QUICK. How many rounds went."""
    count, worst = probes.stop()
    assert max(worst.values()) < QUICK, worst
    return count


def _count(database_url: str, slug: str) -> int:
    with psycopg.connect(_conninfo(database_url)) as connection:
        row = connection.execute(
            "SELECT count(*) FROM enquiry e JOIN launch l ON l.id = e.launch_id WHERE l.slug = %s", [slug]
        ).fetchone()
        assert row is not None
        return int(row[0])


def _conninfo(database_url: str) -> str:
    url = make_url(database_url)
    return f"host={url.host} port={url.port or 5432} user={url.username} dbname={url.database}"


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert "Nothing was recorded" in error["message"] and "same idempotency key" in error["message"]


def test_a_lock_held_elsewhere_turns_writes_into_503s_while_the_server_keeps_answering(
    deployment: Deployment, serve: object
) -> None:
    base = serve(deployment.url)  # type: ignore[operator]
    key = uuid.uuid4().hex
    with httpx.Client(base_url=base, timeout=30) as client:
        assert _post(client, deployment, uuid.uuid4().hex).status_code == 201  # warm: the writer is connected
        with psycopg.connect(_conninfo(deployment.url)) as locker:
            locker.execute("LOCK TABLE enquiry IN ACCESS EXCLUSIVE MODE")  # held until this block ends
            probes = Probes(base, "/healthz", "/static/app.css")
            try:
                # While the write waits for the lock, the same worker answers everything else at once.
                blocked = _post(client, deployment, key)
                assert _answered_quickly(probes) > 5  # the write really waited, and the probes ran meanwhile
            finally:
                probes.kill()
            _assert_unavailable(blocked)
            locker.rollback()
        # Sent again with the same key once the lock is gone: recorded, once.
        again = _post(client, deployment, key)
        assert again.status_code in (200, 201), again.text
        assert _post(client, deployment, key).status_code == 200
    assert _count(deployment.url, deployment.slug) == 2


def test_a_launch_file_uploaded_while_its_row_is_locked_waits_off_the_event_loop(
    deployment: Deployment, serve: object
) -> None:
    """A lead uploads a hypothesis set over a launch whose row another transaction holds (an edit, a
    CSV import, a backfill): the upload waits for it, and meanwhile the same worker answers the rest."""
    db = Database(deployment.url)
    try:
        with db.transaction() as session:
            now = dt.datetime.now(dt.UTC)
            auth.add_user(session, username="lena", role=Role.LEAD, password="lena-pass-123", now=now, actor="test")
    finally:
        db.dispose()
    base = serve(deployment.url)  # type: ignore[operator]
    lead = Browser(base)
    try:
        lead.sign_in(base, "lena", "lena-pass-123")
        form = lead.get(f"{base}/").text
        match = CSRF_FIELD.search(form)
        assert match, form[:300]
        exported = lead.get(f"{base}/launches/{deployment.slug}/export").text
        upload = {"file": ("set.yaml", exported.replace("Hypothesis a", "Hypothesis a, reworded").encode())}
        with psycopg.connect(_conninfo(deployment.url)) as locker:
            locker.execute("SELECT id FROM launch WHERE slug = %s FOR UPDATE", [deployment.slug])
            probes = Probes(base, "/healthz", "/static/app.css")
            try:
                with ThreadPoolExecutor(1) as pool:
                    uploaded = pool.submit(
                        lead.client.post,
                        f"{base}/launches",
                        files=upload,
                        data={"csrf_token": match.group(1)},
                        headers={"Origin": base},
                    )
                    # Waited for (not slept): the upload is still held by the lock after half the timeout.
                    assert not futures_wait([uploaded], timeout=STATEMENT_TIMEOUT / 2).done
                    assert _answered_quickly(probes) > 5  # it waited, and the probes ran meanwhile
                    locker.rollback()
                    response = uploaded.result(timeout=30)
            finally:
                probes.kill()
        # Over a launch that exists: shown first with what it would change (applied on Apply).
        assert response.status_code == 200 and 'id="apply-import"' in response.text, response.text[:500]
        assert "New text: a" in response.text
        # Held for longer than the server waits for a lock: the upload is refused, saying nothing was saved,
        # and is not left holding its request (and a thread) for as long as the other transaction takes.
        with psycopg.connect(_conninfo(deployment.url)) as locker:
            locker.execute("SELECT id FROM launch WHERE slug = %s FOR UPDATE", [deployment.slug])
            started = time.monotonic()
            refused = lead.client.post(
                f"{base}/launches", files=upload, data={"csrf_token": match.group(1)}, headers={"Origin": base}
            )
            assert time.monotonic() - started < STATEMENT_TIMEOUT + 5
            locker.rollback()
        assert refused.status_code == 503 and "Nothing was saved" in refused.text
    finally:
        lead.close()


def _busy_connections(database_url: str) -> list[tuple[str, str]]:
    """Other connections to the database that hold a transaction or run a statement (pid, state)."""
    with psycopg.connect(_conninfo(database_url)) as monitor:
        rows = monitor.execute(
            "SELECT pid::text, state FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
        ).fetchall()
    return [(str(pid), str(state)) for pid, state in rows]


def test_a_download_read_slowly_holds_no_database_connection(deployment: Deployment, serve: object) -> None:
    """A browser that pauses a download, or a client on a slow line, used to keep two pooled
    connections (the request's session and the export's cursor) until the last byte was sent:
    ten of them took every connection of a worker's pool, and held back migrations and vacuum."""
    with psycopg.connect(_conninfo(deployment.url), autocommit=True) as loader:
        loader.execute(
            "INSERT INTO enquiry (launch_id, channel, created_at, note, is_other, source, idempotency_key) "
            "SELECT l.id, 'phone', now() - interval '1 millisecond' * g, repeat('n', 400), TRUE, 'api', "
            "'bulk-' || g FROM launch l, generate_series(1, 30000) g WHERE l.slug = %s",
            [deployment.slug],
        )  # some 13 MB of CSV: more than the sockets between server and client hold
    base = serve(deployment.url)  # type: ignore[operator]
    with httpx.Client(base_url=base, timeout=30) as client:
        with client.stream(
            "GET",
            f"/api/v1/launches/{deployment.slug}/export",
            params={"format": "csv", "what": "enquiries"},
            headers={"Authorization": f"Bearer {deployment.token}"},
        ) as download:
            assert download.status_code == 200, download.read()
            pieces = download.iter_raw()
            first = next(pieces)
            assert first.startswith(b"\xef\xbb\xbfenquiry_id,")
            # The client reads no more: the server's writes stall. Whatever it needed from the
            # database it has; no connection stays in a transaction for the rest of the transfer.
            deadline = time.monotonic() + 10
            while (busy := _busy_connections(deployment.url)) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert busy == []
            # And the rest of the file is all there.
            rest = b"".join(pieces)
        assert (first + rest).count(b"\n") == 30_001


def test_an_export_over_a_locked_table_is_a_503_before_any_header(deployment: Deployment, serve: object) -> None:
    """An export read its rows once its answer had started: with the enquiry table locked past the
    lock timeout (a migration, a long report), the download got 200 and its file name, then a dropped
    connection (curl's exit 18) and an "unhandled error" in the log. It is the 503 of every other read
    now, with Retry-After, from the API and from the launch page's link alike."""
    db = Database(deployment.url)
    try:
        with db.transaction() as session:
            now = dt.datetime.now(dt.UTC)
            auth.add_user(session, username="lena", role=Role.LEAD, password="lena-pass-123", now=now, actor="test")
    finally:
        db.dispose()
    base = serve(deployment.url)  # type: ignore[operator]
    lead = Browser(base)
    try:
        lead.sign_in(base, "lena", "lena-pass-123")
        with httpx.Client(base_url=base, timeout=30) as client:
            bearer = {"Authorization": f"Bearer {deployment.token}"}
            api = f"/api/v1/launches/{deployment.slug}/export"
            assert client.get(api, params={"range": "today"}, headers=bearer).status_code == 200  # warm
            with psycopg.connect(_conninfo(deployment.url)) as locker:
                locker.execute("LOCK TABLE enquiry IN ACCESS EXCLUSIVE MODE")  # held until the rollback
                for query in ({"range": "today"}, {"format": "xlsx", "what": "daily"}):
                    refused = client.get(api, params=query, headers=bearer)
                    assert refused.status_code == 503, (query, refused.status_code, refused.text[:300])
                    assert refused.json()["error"]["code"] == "unavailable"
                    assert refused.headers["retry-after"].isdigit()
                    assert "content-disposition" not in refused.headers
                page = lead.client.get(f"{base}/launches/{deployment.slug}/export.csv?range=launch")
                assert page.status_code == 503 and "content-disposition" not in page.headers, page.text[:300]
                assert "try again" in page.text
                locker.rollback()
            again = client.get(api, params={"range": "today"}, headers=bearer)
            assert again.status_code == 200 and again.content.startswith(b"\xef\xbb\xbfenquiry_id,")
    finally:
        lead.close()


def test_a_database_that_stops_answering_gives_503s_and_the_server_stays_responsive(
    deployment: Deployment, serve: object
) -> None:
    target = make_url(deployment.url)
    proxy = StallingProxy(target.port or 5432)
    try:
        via_proxy = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        base = serve(via_proxy)  # type: ignore[operator]
        with httpx.Client(base_url=base, timeout=30) as client, httpx.Client(base_url=base, timeout=30) as other:
            assert _post(client, deployment, uuid.uuid4().hex).status_code == 201
            proxy.stall()
            keys = [uuid.uuid4().hex for _ in range(3)]
            probes = Probes(base, "/healthz")
            try:
                with ThreadPoolExecutor(3) as pool:
                    stuck = [pool.submit(_post, client, deployment, key) for key in keys]
                    futures_wait(stuck, timeout=30)
                    assert _answered_quickly(probes) > 5
            finally:
                probes.kill()
            for future in stuck:
                _assert_unavailable(future.result(timeout=30))
            # While the database stays silent, a new write is refused at once rather than queued.
            started = time.perf_counter()
            _assert_unavailable(_post(other, deployment, uuid.uuid4().hex))
            assert time.perf_counter() - started < 1.0
            proxy.resume()
            # Back: the keys answered 503 are sent again and each is recorded once.
            for key in keys:
                assert _eventually_logged(client, deployment, key)
            # Counted in /metrics once each, whether their first batch committed late (after their 503)
            # or they were recorded by the retry.
            assert _logged_metric(other, deployment.slug) == 1 + len(keys)
    finally:
        proxy.close()
    assert _count(deployment.url, deployment.slug) == 1 + len(keys)


def _logged_metric(client: httpx.Client, slug: str) -> float:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "tally_enquiries_logged_total" and sample.labels["launch"] == slug
    )


def _eventually_logged(client: httpx.Client, deployment: Deployment, key: str, within: float = 30.0) -> bool:
    """Send until the server records it, as the checklist's queue and a well-behaved integration do."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = _post(client, deployment, key)
        if response.status_code in (200, 201):
            return True
        _assert_unavailable(response)
        time.sleep(0.2)
    return False


def test_connections_terminated_mid_load_lose_nothing_and_need_no_restart(
    deployment: Deployment, serve: object
) -> None:
    base = serve(deployment.url)  # type: ignore[operator]
    keys = [uuid.uuid4().hex for _ in range(150)]
    acknowledged: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def send(chunk: list[str]) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for key in chunk:
                response = _post(client, deployment, key)
                with lock:
                    if response.status_code in (200, 201):
                        acknowledged.append(key)
                    else:
                        _assert_unavailable(response)
                        refused.append(key)

    def terminate_backends() -> None:
        database = make_url(deployment.url).database
        with psycopg.connect(_conninfo(deployment.url), autocommit=True) as admin:
            for _ in range(3):
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                    "pg_backend_pid()",
                    [database],
                )
                time.sleep(0.1)

    with ThreadPoolExecutor(4) as pool:
        senders = [pool.submit(send, keys[i::3]) for i in range(3)]
        while len(acknowledged) < 20:
            time.sleep(0.01)
        pool.submit(terminate_backends).result(timeout=30)
        for sender in senders:
            sender.result(timeout=120)
    # The app was not restarted: what was refused while connections died is sent again, and lands.
    with httpx.Client(base_url=base, timeout=30) as client:
        for key in refused:
            assert _eventually_logged(client, deployment, key)
        # Pages that read the database work again too (the pool replaced its dead connections).
        listed = client.get("/api/v1/launches", headers={"Authorization": f"Bearer {deployment.token}"})
        assert listed.status_code == 200, listed.text
        assert [launch["slug"] for launch in listed.json()] == [deployment.slug]
    assert _count(deployment.url, deployment.slug) == len(keys)
