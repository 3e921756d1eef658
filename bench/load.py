"""The load benchmark: agents ticking through the web checklist and integrations posting through the API
at the same time, against `tally serve --workers N`, on SQLite or PostgreSQL.

    uv run --frozen python -m bench.load [--db sqlite|postgres] [--workers 1|2] [--all] [--million]

For each database and worker count: saturation throughput of the mix (closed loop, wrk with
`load_mix.lua`) beside a bare FastAPI endpoint (`bare_app.py`) in the same run, then latency at half
that rate from an open-loop generator (`openloop.c` through `loadgen.run_native`, or Python processes
with `--generator python`; latency from each request's scheduled send time), with the bare endpoint at
the same rate as a control, the generator's achieved rate and lag, and a check that every enquiry
answered 2xx is in the database.

Only HTTP and the `tally` CLI touch the app (users, tokens, sign-in, the POSTs); the data set comes
from `data.py`. Needs wrk (apt-get install -y wrk). Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib.metadata
import os
import platform
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from html import unescape
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.db import Database
from app.models import Enquiry
from bench import loadgen
from bench.data import build, fresh_database
from bench.enquiry_throughput import ROOT, SECRET, WrkResult, free_port, saturation, server
from tests.processes import run_tally

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MIX_LUA = Path(__file__).with_name("load_mix.lua")
PASSWORD = "bench-agent-password-123"
CHANNELS = ("phone", "chat", "email", "social")
KEPT_UP_SHARE = 0.97  # the generator kept up: at least this share of the asked rate …
KEPT_UP_LAG_MS = 5.0  # … and its own p99 lag at most this
STOCK = "bare GET, stock uvicorn"  # the yardstick as served before app/serving.py (bench/bare_app.py)


@dataclasses.dataclass(frozen=True)
class Agent:
    browser: str  # the tally_csrf cookie
    session: str  # the tally_session cookie
    csrf: str  # the token the page carries in hx-headers


def is_api(n: int, share: int) -> bool:
    """Request ``n`` (from 0) goes through the API: the rule of load_mix.lua, so the kinds interleave."""
    return (n + 1) * share // 100 > n * share // 100


@dataclasses.dataclass(frozen=True)
class Mix:
    """Request ``n`` of the mix, as raw HTTP/1.1 (pickled into each generator process)."""

    host: str  # host:port
    slug: str
    bearers: tuple[str, ...]
    agents: tuple[Agent, ...]
    share: int
    prefix: str  # 16 hex digits: with n, a 32-digit key like the checklist script's

    def __call__(self, n: int) -> bytes:
        key = f"{self.prefix}{n:016x}"
        hypothesis = f"h{n % 15:03d}"
        channel = CHANNELS[n % 4]
        calls = (n + 1) * self.share // 100
        if is_api(n, self.share):
            body = (
                f'{{"channel":"{channel}","segment":"private","hypotheses":["{hypothesis}"],"idempotency_key":"{key}"}}'
            )
            head = (
                f"POST /api/v1/launches/{self.slug}/enquiries HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Authorization: Bearer {self.bearers[calls % len(self.bearers)]}\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\n"
            )
        else:
            # As app/static/checklist.js posts it: fetch with the cookies, the CSRF header and the
            # Origin and Sec-Fetch-* headers every browser adds to a same-origin POST.
            agent = self.agents[(n + 1 - calls) % len(self.agents)]
            body = (
                f'{{"idempotency_key":"{key}","hypotheses":["{hypothesis}"],"channel":"{channel}",'
                '"segment":"private","note":null}'
            )
            head = (
                f"POST /launches/{self.slug}/enquiries HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Cookie: tally_csrf={agent.browser}; tally_session={agent.session}\r\n"
                f"X-CSRF-Token: {agent.csrf}\r\nOrigin: http://{self.host}\r\n"
                "Sec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\n"
            )
        return f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode()


@dataclasses.dataclass(frozen=True)
class BarePost:
    """The API's body to the bare endpoint: the control for the generator at the same rate."""

    host: str

    def __call__(self, n: int) -> bytes:
        body = f'{{"channel":"phone","segment":"private","hypotheses":["h001"],"idempotency_key":"b{n:031x}"}}'
        return (
            f"POST /bare HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()


@dataclasses.dataclass(frozen=True)
class Paced:
    label: str
    rate: float
    achieved: float
    result: loadgen.Result
    lag_p99_ms: float
    lag_max_ms: float
    connections: int
    cores: float  # the generator's CPU time over the run's length: what it took from the server
    api_p99_ms: float | None = None
    tick_p99_ms: float | None = None

    @property
    def kept_up(self) -> bool:
        return self.achieved >= KEPT_UP_SHARE * self.rate and self.lag_p99_ms <= KEPT_UP_LAG_MS


@dataclasses.dataclass(frozen=True)
class Run:
    database: str
    workers: int
    enquiries: int
    saturation: dict[str, list[WrkResult]]
    paced: Paced
    control: Paced
    # Nothing lost: closed loop (wrk cannot tell which requests were in flight when it stopped) …
    wrk_acknowledged: int
    wrk_stored: int
    # … and open loop, exactly: every 2xx answer's id is a row, and no row more.
    paced_acknowledged: int
    paced_stored: int
    paced_missing: int


def tally(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """The `tally` CLI, as an operator runs it."""
    done = run_tally(*args, env=env, cwd=ROOT, input=stdin)
    if done.returncode:
        raise RuntimeError(f"tally {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


def sign_in(base: str, slug: str, username: str) -> Agent:
    """Sign in through the login form and open the checklist, as an agent's browser does."""
    with httpx.Client(base_url=base, headers={"Origin": base, "Sec-Fetch-Site": "same-origin"}) as browser:
        page = browser.get("/login")
        form_token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if form_token is None:
            raise RuntimeError("no csrf_token on the login page")
        browser.post(
            "/login", data={"username": username, "password": PASSWORD, "csrf_token": unescape(form_token.group(1))}
        )
        checklist = browser.get(f"/launches/{slug}/checklist")
        checklist.raise_for_status()
        page_token = re.search(r"X-CSRF-Token&#34;: &#34;([0-9a-f]+)|X-CSRF-Token\": \"([0-9a-f]+)", checklist.text)
        browser_cookie, session_cookie = browser.cookies.get("tally_csrf"), browser.cookies.get("tally_session")
        if page_token is None or not browser_cookie or not session_cookie:
            raise RuntimeError(f"{username} could not sign in and open the checklist")
        return Agent(browser_cookie, session_cookie, page_token.group(1) or page_token.group(2))


ENQUIRY: sa.Table = Enquiry.__table__  # type: ignore[attr-defined]


def rows(db: Database, launch_id: int, *, after_id: int = 0) -> set[int]:
    query = sa.select(ENQUIRY.c.id).where(ENQUIRY.c.launch_id == launch_id, ENQUIRY.c.id > after_id)
    with db.engine.connect() as connection:
        return {int(i) for i in connection.execute(query).scalars()}


def highest_id(db: Database, launch_id: int) -> int:
    query = sa.select(sa.func.max(ENQUIRY.c.id)).where(ENQUIRY.c.launch_id == launch_id)
    with db.engine.connect() as connection:
        return int(connection.execute(query).scalar_one() or 0)


def count(db: Database, launch_id: int) -> int:
    query = sa.select(sa.func.count()).select_from(ENQUIRY).where(ENQUIRY.c.launch_id == launch_id)
    with db.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def settled_count(db: Database, launch_id: int) -> int:
    """The launch's rows once the answers still on their way when wrk stopped are in."""
    last = count(db, launch_id)
    while True:
        time.sleep(0.5)
        now = count(db, launch_id)
        if now == last:
            return now
        last = now


def paced(
    label: str, port: int, make: Mix | BarePost, *, rate: float, args: argparse.Namespace
) -> tuple[Paced, loadgen.Samples]:
    if args.native is not None:
        samples = loadgen.run_native(
            args.native, "127.0.0.1", port, make, rate=rate, seconds=args.paced_seconds, connections=args.connections
        )
    else:
        samples = loadgen.run_processes(
            "127.0.0.1",
            port,
            make,
            rate=rate,
            seconds=args.paced_seconds,
            processes=args.processes,
            connections=max(args.connections // args.processes, 1),
        )
    result = loadgen.summary(samples, rate)
    by_kind: dict[bool, list[float]] = {True: [], False: []}
    if isinstance(make, Mix):
        for n, latency in zip(samples.numbers, samples.latencies, strict=True):
            by_kind[is_api(n, make.share)].append(latency)
    span = samples.last_sent - samples.start
    return (
        Paced(
            label=label,
            rate=rate,
            achieved=(result.sent - 1) / span if span > 0 else 0.0,
            result=result,
            lag_p99_ms=loadgen.percentile(samples.lags, 0.99) * 1000,
            lag_max_ms=max(samples.lags) * 1000,
            connections=samples.connections,
            cores=samples.cpu_seconds / span if span > 0 else 0.0,
            api_p99_ms=loadgen.percentile(by_kind[True], 0.99) * 1000 if by_kind[True] else None,
            tick_p99_ms=loadgen.percentile(by_kind[False], 0.99) * 1000 if by_kind[False] else None,
        ),
        samples,
    )


def say(message: str) -> None:
    """Progress on stderr, so stdout stays the Markdown to paste."""
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class Start:
    """The data set every run of one database starts from: built once, copied for each run."""

    url: str
    launch_id: int
    slug: str


def starting_data(database: str, args: argparse.Namespace) -> Start:
    say(f"{database}: loading {args.enquiries:,} enquiries")
    db = fresh_database(args.postgres if database == "postgres" else None, "load_start")
    today = dt.datetime.now(dt.UTC).date()
    # Ticks get the server's time: the launch runs today, its data in the days before.
    data = build(db, enquiries=args.enquiries, hypotheses=15, starts_on=today - dt.timedelta(days=19))
    db.dispose()  # a PostgreSQL template must have no connections; SQLite's WAL is folded in
    return Start(db.url, int(data.launch.id), data.launch.slug)  # type: ignore[arg-type]


def copy_of(start: Start, name: str, *, admin_url: str) -> Database:
    """A fresh copy of the starting data: SQLite copies the file, PostgreSQL uses it as a template."""
    url = make_url(start.url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        target = path.with_name(f"{name}.db")
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(path, target)
        return Database(f"sqlite:///{target}")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "bench_{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "bench_{name}" TEMPLATE "{url.database}"')
    admin.dispose()
    return Database(url.set(database=f"bench_{name}").render_as_string(hide_password=False))


def measure(database: str, start: Start, workers: int, args: argparse.Namespace) -> Run:
    say(f"{database}, {workers} worker(s)")
    db = copy_of(start, f"load_{workers}w", admin_url=args.postgres)
    launch_id, slug = start.launch_id, start.slug
    app_port, bare_port, stock_port = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{app_port}"
    env = {
        "TALLY_DATABASE_URL": db.url,
        "TALLY_SECRET_KEY": SECRET,
        "TALLY_BASE_URL": base,
        "TALLY_LOG_LEVEL": "warning",
    }
    usernames = [f"bench-agent-{i}" for i in range(args.agents)]
    say("adding agents and tokens with the tally CLI")
    for name in usernames:
        tally(env, "users", "add", name, "--role", "agent", "--password-stdin", stdin=PASSWORD + "\n")
    bearers = tuple(tally(env, "tokens", "create", f"bench-load-{i}").split()[-1] for i in range(args.tokens))
    bare = [sys.executable, "-m", "bench.bare_app", "--workers", str(workers), "--port"]
    bare_server = server([*bare, str(bare_port)], f"http://127.0.0.1:{bare_port}/bare", {})
    stock_server = server([*bare, str(stock_port), "--stock"], f"http://127.0.0.1:{stock_port}/bare", {})
    app_server = server(
        [sys.executable, "-m", "app", "serve", "--no-scheduler", "--workers", str(workers), "--port", str(app_port)],
        f"{base}/healthz",
        env,
    )
    say("starting the servers")
    with bare_server, stock_server, app_server:
        say("signing the agents in")
        agents = tuple(sign_in(base, slug, name) for name in usernames)
        mix_env = {
            "API_PATH": f"/api/v1/launches/{slug}/enquiries",
            "TICK_PATH": f"/launches/{slug}/enquiries",
            "BEARERS": " ".join(bearers),
            "AGENTS": " ".join(f"{a.browser}|{a.session}|{a.csrf}" for a in agents),
            "ORIGIN": base,
            "API_SHARE": str(args.api_share),
        }
        mix = Mix(f"127.0.0.1:{app_port}", slug, bearers, agents, args.api_share, secrets.token_hex(8))
        check_each_kind(dataclasses.replace(mix, prefix=secrets.token_hex(8)))  # keys the runs do not use
        before = count(db, launch_id)
        targets: list[tuple[str, str, dict[str, str] | None]] = [
            ("bare GET", f"http://127.0.0.1:{bare_port}/bare", None),
            ("bare POST", f"http://127.0.0.1:{bare_port}/bare", {"PATH_TO_POST": "/bare"}),
            ("mix", base, mix_env),
            (STOCK, f"http://127.0.0.1:{stock_port}/bare", None),
        ]
        say(f"saturation: {args.rounds} rounds of {', '.join(t[0] for t in targets)}, {args.seconds} s each")
        closed = saturation(
            targets, rounds=args.rounds, seconds=args.seconds, connections=args.connections, scripts={"mix": MIX_LUA}
        )
        wrk_stored = settled_count(db, launch_id) - before
        wrk_acknowledged = sum(r.requests - r.non_2xx for r in closed["mix"])
        rate = statistics.median(r.requests_per_second for r in closed["mix"]) / 2
        last_id = highest_id(db, launch_id)
        say(f"open loop at {rate:,.0f}/s: the mix, then the bare POST")
        mixed, samples = paced("mix", app_port, mix, rate=rate, args=args)
        stored = rows(db, launch_id, after_id=last_id)
        control, _ = paced("bare POST", bare_port, BarePost(f"127.0.0.1:{bare_port}"), rate=rate, args=args)
    db.dispose()
    return Run(
        database=database,
        workers=workers,
        enquiries=args.enquiries,
        saturation=closed,
        paced=mixed,
        control=control,
        wrk_acknowledged=wrk_acknowledged,
        wrk_stored=wrk_stored,
        paced_acknowledged=mixed.result.ok,
        paced_stored=len(stored),
        paced_missing=len(set(samples.ids) - stored) + (mixed.result.ok - len(set(samples.ids))),
    )


def check_each_kind(mix: Mix) -> None:
    """One request of each kind before measuring: a refused one says why here, not as 100 % non-2xx."""
    for n in range(2):
        head, _, body = mix(n).partition(b"\r\n\r\n")
        request_line, *header_lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in header_lines if not line.startswith("Content-Length"))
        answer = httpx.post(f"http://{mix.host}{request_line.split()[1]}", headers=headers, content=body)
        if not answer.is_success:
            raise RuntimeError(f"{request_line} answered {answer.status_code}: {answer.text}")


def cpu_model() -> str:
    return next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )


def machine() -> str:
    cpu = cpu_model()
    wrk_version = (
        subprocess.run(["wrk", "-v"], check=False, capture_output=True, text=True).stdout.split("[")[0].strip()
    )
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}" for name in ("fastapi", "uvicorn", "sqlalchemy", "psycopg")
    )
    commit, dirty = (
        subprocess.run(["git", *command], cwd=ROOT, check=False, capture_output=True, text=True).stdout
        for command in (["rev-parse", "--short", "HEAD"], ["status", "--porcelain"])
    )
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, {versions}, {wrk_version}; "
        f"commit {commit.strip()}{' with uncommitted changes' if dirty.strip() else ''}"
    )


def postgres_version(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return "PostgreSQL " + str(connection.exec_driver_sql("SHOW server_version").scalar_one()).split()[0]
    finally:
        engine.dispose()


def report(runs: list[Run], args: argparse.Namespace, command: str, loads: tuple[str, str]) -> str:
    lines = [
        f"`{command}`",
        "",
        f"Machine: {machine()}"
        + (
            f"; {postgres_version(args.postgres)} on the same machine"
            if any(r.database == "postgres" for r in runs)
            else ""
        )
        + f". Load average {loads[0]} before, {loads[1]} after.",
        "",
        f"Saturation: wrk -t2 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds of bare GET, bare POST "
        f"(`bench/bare_app.py`, served as `tally serve` serves: one write per answer) and the mix "
        f"({args.api_share} % API with {args.tokens} tokens, the rest checklist ticks by {args.agents} signed-in "
        "agents; `bench/load_mix.lua`), then the bare GET on stock uvicorn (head and body in two writes, as the "
        "yardstick was served before); each ratio against the bare run of its own round; "
        f"{runs[0].enquiries:,} enquiries in the database at the start.",
        "",
        "| database | workers | bare GET req/s | bare POST req/s | mix req/s | mix / bare GET (range) "
        "| mix / bare POST | non-2xx | bare GET, stock uvicorn req/s | mix / stock bare GET |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        bare_get = [r.requests_per_second for r in run.saturation["bare GET"]]
        bare_post = [r.requests_per_second for r in run.saturation["bare POST"]]
        mixed = [r.requests_per_second for r in run.saturation["mix"]]
        to_get = [m / b for m, b in zip(mixed, bare_get, strict=True)]
        to_post = [m / b for m, b in zip(mixed, bare_post, strict=True)]
        stock = [r.requests_per_second for r in run.saturation[STOCK]]
        to_stock = [m / b for m, b in zip(mixed, stock, strict=True)]
        lines.append(
            f"| {run.database} | {run.workers} | {statistics.median(bare_get):,.0f} "
            f"| {statistics.median(bare_post):,.0f} | {statistics.median(mixed):,.0f} "
            f"| **{statistics.median(to_get):.2f}** ({min(to_get):.2f}–{max(to_get):.2f}) "
            f"| {statistics.median(to_post):.2f} | {sum(r.non_2xx for r in run.saturation['mix'])} "
            f"| {statistics.median(stock):,.0f} | {statistics.median(to_stock):.2f} |"
        )
    lines += [
        "",
        f"Latency at half the mix's saturation rate: open loop, {generator(args)}, "
        f"one more connection whenever all are busy, {args.paced_seconds:g} s, latency from each request's "
        "scheduled send time; the bare POST at the same rate is the control. The generator kept "
        f"up when it achieved ≥ {KEPT_UP_SHARE:.0%} of the rate with its own p99 lag ≤ {KEPT_UP_LAG_MS:g} ms.",
        "",
        "| database | workers | rate /s (achieved) | p50 ms | **p99 ms** | API p99 | tick p99 | max ms | failed "
        "| connections | control p50 / p99 ms | generator lag p99 / max ms | generator CPU, cores | kept up |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for run in runs:
        p, c = run.paced, run.control
        lines.append(
            f"| {run.database} | {run.workers} | {p.rate:,.0f} ({p.achieved:,.0f}) | {p.result.p50_ms:.1f} "
            f"| **{p.result.p99_ms:.1f}** | {p.api_p99_ms or 0:.1f} | {p.tick_p99_ms or 0:.1f} | {p.result.max_ms:.1f} "
            f"| {p.result.failed} | {p.connections} | {c.result.p50_ms:.1f} / {c.result.p99_ms:.1f} "
            f"| {p.lag_p99_ms:.1f} / {p.lag_max_ms:.1f} (control {c.lag_p99_ms:.1f} / {c.lag_max_ms:.1f}) "
            f"| {p.cores:.2f} (control {c.cores:.2f}) "
            f"| {'yes' if p.kept_up and c.kept_up else 'no'} |"
        )
    lines += [
        "",
        "Nothing lost: closed loop, the rows added during the wrk runs against the 2xx answers wrk counted "
        "(rows may exceed answers by requests in flight when wrk stopped); open loop, exactly: every id in a 2xx "
        "answer is a row, and the rows added equal the 2xx answers.",
        "",
        "| database | workers | wrk 2xx | rows added | open-loop 2xx | rows added | missing | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for run in runs:
        whole = (
            run.wrk_stored >= run.wrk_acknowledged
            and run.paced_missing == 0
            and run.paced_stored == run.paced_acknowledged
        )
        lines.append(
            f"| {run.database} | {run.workers} | {run.wrk_acknowledged:,} | {run.wrk_stored:,} "
            f"| {run.paced_acknowledged:,} | {run.paced_stored:,} | {run.paced_missing} "
            f"| {'nothing lost' if whole else '**MISMATCH**'} |"
        )
    return "\n".join(lines)


def generator(args: argparse.Namespace) -> str:
    if args.native is not None:
        return f"one schedule sent by one thread of C (`bench/openloop.c`, {args.connections} connections at first)"
    return (
        f"one schedule split over {args.processes} Python generator processes "
        f"({max(args.connections // args.processes, 1)} connections each to begin with)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), help="default: postgres if --postgres is given")
    parser.add_argument("--postgres", metavar="URL", help=f"admin URL of the PostgreSQL server (default {POSTGRES})")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--all", action="store_true", help="SQLite and PostgreSQL, 1 and 2 workers, one table")
    parser.add_argument("--enquiries", type=int, default=100_000, help="enquiries in the database at the start")
    parser.add_argument("--million", action="store_true", help="start with 1,000,000 enquiries")
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="saturation rounds (bare GET, bare POST, mix)")
    parser.add_argument("--paced-seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--generator",
        choices=("native", "python"),
        default="native",
        help="open loop from C (bench/openloop.c, built with the machine's cc) or from Python processes; "
        "native falls back to python without a C compiler",
    )
    parser.add_argument("--processes", type=int, default=4, help="open-loop generator processes (python)")
    parser.add_argument("--agents", type=int, default=4, help="signed-in agents ticking")
    parser.add_argument("--tokens", type=int, default=2, help="API tokens posting")
    parser.add_argument("--api-share", type=int, default=50, help="percent of the mix through the API")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    if args.million:
        args.enquiries = 1_000_000
    args.native = loadgen.native_generator() if args.generator == "native" else None
    if not 0 <= args.api_share <= 100:
        parser.error("--api-share is a percent")
    database = args.db or ("postgres" if args.postgres else "sqlite")
    args.postgres = args.postgres or POSTGRES
    combinations = [(d, w) for d in ("sqlite", "postgres") for w in (1, 2)] if args.all else [(database, args.workers)]
    loads = os.getloadavg()
    starts = {d: starting_data(d, args) for d in dict.fromkeys(d for d, _ in combinations)}
    runs = [measure(d, starts[d], w, args) for d, w in combinations]
    command = "uv run --frozen python -m bench.load " + " ".join(sys.argv[1:])
    print(report(runs, args, command.strip(), (f"{loads[0]:.1f}", f"{os.getloadavg()[0]:.1f}")))


if __name__ == "__main__":
    main()
