"""Logging enquiries over HTTP: saturation throughput against a bare FastAPI endpoint, p99 latency at half
that rate, and a check that every acknowledged enquiry is in the database.

    uv run python -m bench.enquiry_throughput [--postgres URL] [--seconds 10] [--rounds 3] [--workers 2]

Needs wrk (apt-get install wrk). Both servers run with the same uvicorn
settings (uvloop, httptools with one write per answer, no access log, N
workers; bench/bare_app.py). Ratios from before that protocol (2026-12-03)
had the bare endpoint on stock uvicorn: compare them with bench.load's
"mix / stock bare GET" column, not with this script's newer runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from app import api_tokens, auth
from app.config import Settings
from app.models import Enquiry, Role
from bench import loadgen
from bench.data import build, fresh_database

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + "x" * 40
LUA = Path(__file__).with_name("enquiries.lua")
CALM_RATE = 300
API_LABEL = "POST /api/v1/launches/{slug}/enquiries"
TICK_LABEL = "checklist tick POST /launches/{slug}/enquiries"


@dataclass(frozen=True)
class WrkResult:
    label: str
    requests_per_second: float
    requests: int
    non_2xx: int
    errors: str
    p50_ms: float
    p99_ms: float
    max_ms: float


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS_MS[unit]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(args: list[str], ready_url: str, env: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(ready_url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"server {args} did not start") from None
                time.sleep(0.2)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def wrk(
    label: str,
    url: str,
    *,
    seconds: int,
    connections: int,
    env: dict[str, str] | None = None,
    script: bool = False,
    lua: Path = LUA,
) -> WrkResult:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(lua)]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
    errors = m.group(0) if (m := re.search(r"Socket errors:.*", output)) else ""
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    latency_max = _ms(re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    return WrkResult(label, rate, requests, non_2xx, errors, p50, p99, latency_max)


def saturation(
    targets: Sequence[tuple[str, str, dict[str, str] | None]],
    *,
    rounds: int,
    seconds: int,
    connections: int,
    scripts: Mapping[str, Path] | None = None,
) -> dict[str, list[WrkResult]]:
    """wrk on each target in turn, ``rounds`` times (``scripts``: a Lua script other than LUA, by label).

    This shared machine's speed drifts by tens of percent over minutes, so each
    ratio compares runs made moments apart."""
    results: dict[str, list[WrkResult]] = {}
    for _ in range(rounds):
        for label, url, script_env in targets:
            results.setdefault(label, []).append(
                wrk(
                    label,
                    url,
                    seconds=seconds,
                    connections=connections,
                    script=script_env is not None,
                    env=script_env,
                    lua=(scripts or {}).get(label, LUA),
                )
            )
    return results


def paced_wrk(
    label: str, url: str, rate: float, *, seconds: int, connections: int, env: dict[str, str]
) -> tuple[WrkResult, int]:
    """wrk at about ``rate`` requests/s: each connection pauses between requests.

    Latency then comes from wrk itself (C, one event loop per thread), which on
    two shared cores disturbs the servers far less than a Python generator. It
    is paced per connection, not open loop: a server stall delays the next
    request of each connection instead of piling requests up, so the tail it
    shows is a lower bound (the open-loop figures are the upper one).

    Returns the run at the rate and the 2xx answers of every run, tuning ones included."""
    cycle_ms = connections * 1000 / rate  # each connection sends one request per cycle
    pause = max(cycle_ms - 1.0, 0.0)
    result = None
    acknowledged = 0
    for _ in range(3):
        result = wrk(
            label, url, seconds=seconds, connections=connections, script=True, env={**env, "PAUSE_MS": f"{pause:.3f}"}
        )
        acknowledged += result.requests - result.non_2xx
        if abs(result.requests_per_second - rate) <= 0.05 * rate:
            break
        served_in = connections * 1000 / result.requests_per_second - pause  # what a request costs besides the pause
        pause = max(cycle_ms - served_in, 0.0)
    assert result is not None
    return result, acknowledged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", metavar="URL", help="admin URL of a PostgreSQL server; SQLite when left out")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="saturation runs of each endpoint, interleaved")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")

    db = fresh_database(args.postgres, "throughput")
    now = dt.datetime.now(dt.UTC)
    # Enquiries get the server's time: the launch must be running today, whatever day that is.
    data = build(db, enquiries=10_000, hypotheses=15, starts_on=now.date() - dt.timedelta(days=10))
    settings = Settings(_env_file=None, database_url=db.url, secret_key=SECRET)  # type: ignore[call-arg]
    with db.transaction() as session:
        _, token = api_tokens.create(session, name="bench", now=now, actor="bench")
        user, _ = auth.add_user(
            session, username="bench-agent", role=Role.AGENT, now=now, actor="bench", password="bench-password-123"
        )
        session_token = auth.start_session(session, user, now=now, settings=settings)
    browser = secrets.token_urlsafe(24)
    csrf = hmac.new(SECRET.encode(), f"{browser}|{session_token}".encode(), hashlib.sha256).hexdigest()
    with db.engine.connect() as connection:
        before = connection.execute(sa.select(sa.func.count()).select_from(Enquiry)).scalar_one()

    app_port, bare_port = free_port(), free_port()
    env = {"TALLY_DATABASE_URL": db.url, "TALLY_SECRET_KEY": SECRET, "TALLY_LOG_LEVEL": "warning"}
    slug = data.launch.slug
    bare_server = server(
        [sys.executable, "-m", "bench.bare_app", "--port", str(bare_port), "--workers", str(args.workers)],
        f"http://127.0.0.1:{bare_port}/bare",
        {},
    )
    app_server = server(
        [
            sys.executable,
            "-m",
            "app",
            "serve",
            "--no-scheduler",
            "--workers",
            str(args.workers),
            "--port",
            str(app_port),
        ],
        f"http://127.0.0.1:{app_port}/healthz",
        env,
    )
    bare_env = {"PATH_TO_POST": "/bare"}
    api_env = {
        "PATH_TO_POST": f"/api/v1/launches/{slug}/enquiries",
        "AUTH_HEADER": "Authorization",
        "AUTH_VALUE": f"Bearer {token}",
    }
    tick_env = {
        "PATH_TO_POST": f"/launches/{slug}/enquiries",
        "COOKIE": f"tally_csrf={browser}; tally_session={session_token}",
        "CSRF": csrf,
    }
    with bare_server, app_server:  # both up (idle until asked), so latencies are measured side by side
        targets: list[tuple[str, str, dict[str, str] | None]] = [
            ("bare FastAPI `async def` GET", f"http://127.0.0.1:{bare_port}/bare", None),
            ("bare FastAPI `async def` POST, same JSON body validated", f"http://127.0.0.1:{bare_port}/bare", bare_env),
            (API_LABEL, f"http://127.0.0.1:{app_port}", api_env),
            (TICK_LABEL, f"http://127.0.0.1:{app_port}", tick_env),
        ]
        rounds = saturation(targets, rounds=args.rounds, seconds=args.seconds, connections=args.connections)
        api_rate = statistics.median(r.requests_per_second for r in rounds[API_LABEL])
        rate = api_rate / 2
        body_prefix = b'{"channel":"phone","segment":"private","hypotheses":["h001"],"idempotency_key":"lat'

        def request(n: int) -> bytes:
            body = body_prefix + str(n).encode() + b'"}'
            return (
                f"POST /api/v1/launches/{slug}/enquiries HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body

        def bare_request(n: int) -> bytes:
            body = body_prefix + str(n).encode() + b'"}'
            return (
                f"POST /bare HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body

        latency = loadgen.run("127.0.0.1", app_port, request, rate=rate, seconds=args.seconds)
        control = loadgen.run("127.0.0.1", bare_port, bare_request, rate=rate, seconds=args.seconds)
        # And at a rate this machine's load generator keeps up with, for the endpoint's own latency.
        calm = loadgen.run(
            "127.0.0.1", app_port, lambda n: request(n + 10_000_000), rate=CALM_RATE, seconds=args.seconds
        )
        calm_control = loadgen.run("127.0.0.1", bare_port, bare_request, rate=CALM_RATE, seconds=args.seconds)
        paced, paced_acknowledged = paced_wrk(
            API_LABEL,
            f"http://127.0.0.1:{app_port}",
            rate,
            seconds=args.seconds,
            connections=args.connections,
            env=api_env,
        )
        paced_control, _ = paced_wrk(
            "bare POST, same rate (control)",
            f"http://127.0.0.1:{bare_port}/bare",
            rate,
            seconds=args.seconds,
            connections=args.connections,
            env=bare_env,
        )

    with db.engine.connect() as connection:
        stored = connection.execute(sa.select(sa.func.count()).select_from(Enquiry)).scalar_one() - before
        distinct = (
            connection.execute(
                sa.select(sa.func.count(sa.distinct(Enquiry.idempotency_key))).select_from(Enquiry)  # type: ignore[arg-type]
            ).scalar_one()
            - before
        )
    posted = [*rounds[API_LABEL], *rounds[TICK_LABEL]]
    acknowledged = sum(r.requests - r.non_2xx for r in posted) + paced_acknowledged + latency.ok + calm.ok
    bare_rates = [r.requests_per_second for r in rounds[targets[0][0]]]
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"\n{backend}, tally serve --workers {args.workers}, wrk -t2 -c{args.connections} -d{args.seconds}s, "
        f"{args.rounds} rounds, Python {platform.python_version()}, {os.cpu_count()} CPUs\n"
    )
    print(
        "| endpoint | requests/s (median) | ratio to bare GET (median) | ratio, lowest–highest | non-2xx |\n"
        "| --- | ---: | ---: | ---: | ---: |"
    )
    ratios: dict[str, float] = {}
    for label, results in rounds.items():
        per_round = [r.requests_per_second / bare for r, bare in zip(results, bare_rates, strict=True)]
        ratios[label] = statistics.median(per_round)
        print(
            f"| {label} | {statistics.median(r.requests_per_second for r in results):,.0f} | {ratios[label]:.2f} | "
            f"{min(per_round):.2f}–{max(per_round):.2f} | {sum(r.non_2xx for r in results)} |"
        )
    print(f"\nAt half the API's saturation rate ({latency.rate:,.0f} requests/s, open loop, {args.seconds} s):\n")
    print("| endpoint | p50 ms | p99 ms | max ms | failed |\n| --- | ---: | ---: | ---: | ---: |")
    for label, measured in (
        (API_LABEL, latency),
        ("bare POST, same rate (control)", control),
        (f"POST /api/v1/launches/{{slug}}/enquiries at {CALM_RATE}/s", calm),
        (f"bare POST at {CALM_RATE}/s (control)", calm_control),
    ):
        print(
            f"| {label} | {measured.p50_ms:.1f} | {measured.p99_ms:.1f} | {measured.max_ms:.1f} | {measured.failed} |"
        )
    print(f"\nAt about the same rate, paced wrk ({args.connections} connections, latency as wrk measures it):\n")
    print("| endpoint | requests/s | p50 ms | p99 ms | max ms | non-2xx |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    for result in (paced, paced_control):
        print(
            f"| {result.label} | {result.requests_per_second:,.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} | "
            f"{result.max_ms:.1f} | {result.non_2xx} |"
        )
    print(
        f"Acknowledged (2xx): {acknowledged:,}; stored: {stored:,} ({distinct:,} distinct keys). "
        + (
            "Every acknowledged enquiry is in the database."
            if stored >= acknowledged and distinct == stored
            else "MISMATCH: investigate!"
        )
    )
    print(
        json.dumps(
            {
                "bare": statistics.median(bare_rates),
                "api_ratio": ratios[API_LABEL],
                "tick_ratio": ratios[TICK_LABEL],
                "p99_ms": latency.p99_ms,
                "control_p99_ms": control.p99_ms,
                "paced_p99_ms": paced.p99_ms,
                "paced_control_p99_ms": paced_control.p99_ms,
                "acknowledged": acknowledged,
                "stored": stored,
            }
        )
    )
    db.dispose()


if __name__ == "__main__":
    main()
