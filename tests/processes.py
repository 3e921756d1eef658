"""Running `tally` as a real process, the way operators do, for end-to-end tests."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
# Both, in whichever order: with one worker uvicorn says the app has started *before* it binds the
# port (a request in between is refused), with several the port is bound before any worker starts.
READY = ("Application startup complete", "Uvicorn running on")
Ready = str | tuple[str, ...]
# A bound on start-up, not a timing assertion: a process that never gets ready fails the test
# with its output instead of hanging the run.
START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tally_at(moment: dt.datetime, *args: str) -> list[str]:
    """The command line of ``tally ARGS`` in a process whose clock reads ``moment`` as it starts, and
    runs on from there (time-machine): `tally digest run-due` checks spike alerts only at the present."""
    code = (
        "import time_machine; from app.cli import main; "
        f"time_machine.travel({moment.isoformat()!r}, tick=True).start(); main()"
    )
    return [sys.executable, "-c", code, *args]


def _spawn(args: Sequence[str], *, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """``python -m app ARGS``, its output (stderr too) on one pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "app", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class Running:
    """A started ``python -m app …`` whose output is read all along, so it can never block on a full pipe."""

    def __init__(self, args: Sequence[str], *, env: dict[str, str], cwd: Path, ready: Ready) -> None:
        self.args = list(args)
        self.lines: list[str] = []
        self._awaited = {ready} if isinstance(ready, str) else set(ready)
        self._ready_seen = threading.Event()
        self.ready_at: int | None = None  # index of the line that made it ready (the last awaited one)
        self.process = _spawn(args, env=env, cwd=cwd)
        self._reader = threading.Thread(target=self._read, name=f"output of {' '.join(args[:2])}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if self.ready_at is None:
                self._awaited -= {text for text in self._awaited if text in line}
                if not self._awaited:
                    self.ready_at = len(self.lines) - 1
                    self._ready_seen.set()
        self._ready_seen.set()  # ended: whoever waits finds out below

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        if not self._ready_seen.wait(timeout):
            raise AssertionError(f"not ready after {timeout:.0f} s:\n{self.output}")
        if self.ready_at is None:
            raise AssertionError("process ended before it was ready:\n" + self.output)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing, as when the machine's OOM killer or an operator's kill -9 strikes."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._reader.join(timeout=15)


@contextmanager
def tally_process(*args: str, env: dict[str, str], cwd: Path, ready: Ready = READY) -> Iterator[list[str]]:
    """Start ``python -m app ARGS`` and return once it has printed ``ready`` (each of them, if several).

    Yields the output lines up to the one that said so. Waiting on the process's own output
    instead of polling means no sleeps and no guessing how long start-up takes; the rest of
    the output is read all along, so a chatty process never blocks on a full pipe.
    """
    with started(*args, env=env, cwd=cwd, ready=ready) as running:
        assert running.ready_at is not None
        yield running.lines[: running.ready_at + 1]


@contextmanager
def started(*args: str, env: dict[str, str], cwd: Path, ready: Ready = READY) -> Iterator[Running]:
    running = Running(args, env=env, cwd=cwd, ready=ready)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


class Server:
    """A `tally serve` process and its address."""

    def __init__(self, running: Running, port: int) -> None:
        self.running = running
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def kill(self) -> None:
        self.running.kill()


@contextmanager
def tally_servers(count: int, *extra: str, env: dict[str, str], cwd: Path) -> Iterator[list[Server]]:
    """``count`` `tally serve` processes on one database, started at the same moment (as replicas
    of a deployment are: their start-up migrations meet), each on a port of its own."""
    ports = [free_port() for _ in range(count)]
    with ExitStack() as stack:
        runs = []
        for port in ports:
            running = Running(["serve", "--port", str(port), *extra], env=env, cwd=cwd, ready=READY)
            stack.callback(running.stop)
            runs.append(running)
        for running in runs:
            running.wait_ready()
        yield [Server(running, port) for running, port in zip(runs, ports, strict=True)]


def run_tally(*args: str, env: dict[str, str], cwd: Path, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one `tally` command to its end (bounded: a hung command fails the test)."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=cwd,
        env={**os.environ, **env},
        input=input,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )


def run_together(commands: Sequence[Sequence[str]], *, env: dict[str, str], cwd: Path) -> list[tuple[int, str]]:
    """Start every `tally` command before waiting for any, so they run at the same moment;
    (exit code, output) of each."""
    processes = [_spawn(command, env=env, cwd=cwd) for command in commands]
    outputs = [process.communicate(timeout=START_TIMEOUT)[0] for process in processes]
    return [(process.returncode, output) for process, output in zip(processes, outputs, strict=True)]


@contextmanager
def throwaway_postgres(admin_url: str, prefix: str) -> Iterator[str]:
    """An empty database of its own on the server of ``admin_url``, dropped afterwards (even
    with processes still connected: a killed server's connections may linger)."""
    admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# --- a browser over real HTTP ---------------------------------------------------------------------

CSRF_FIELD = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
CSRF_HEADER = re.compile(r'"X-CSRF-Token": "([0-9a-f]+)"')


class Browser:
    """One person's browser: one cookie jar for every replica behind the load balancer (cookies
    do not depend on the port), and the headers the checklist's script sends with a tick
    (app/static/checklist.js): JSON, the page's CSRF token, and the site's own Origin."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.client = httpx.Client(follow_redirects=False, timeout=30)
        self.csrf: str | None = None

    def close(self) -> None:
        self.client.close()

    def sign_in(self, url: str, username: str, password: str) -> None:
        page = self.client.get(f"{url}/login")
        match = CSRF_FIELD.search(page.text)
        assert match, page.text[:300]
        response = self.client.post(
            f"{url}/login",
            data={"username": username, "password": password, "csrf_token": match.group(1)},
            headers={"Origin": self.origin},
        )
        assert response.status_code == 303, (response.status_code, response.text[:300])

    def open_checklist(self, url: str, slug: str) -> str:
        """The page, as the browser loads it; keeps the CSRF token it carries (hx-headers)."""
        page = self.client.get(f"{url}/launches/{slug}/checklist")
        assert page.status_code == 200, (page.status_code, page.text[:300])
        match = CSRF_HEADER.search(page.text)
        assert match, page.text[:300]
        self.csrf = match.group(1)
        return page.text

    def tick(self, url: str, slug: str, body: dict[str, Any]) -> httpx.Response:
        assert self.csrf is not None, "open the checklist first"
        return self.client.post(
            f"{url}/launches/{slug}/enquiries",
            json=body,
            headers={
                "Accept": "application/json",
                "X-CSRF-Token": self.csrf,
                "Origin": self.origin,
                "Sec-Fetch-Site": "same-origin",
            },
        )

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(url, **kwargs)
