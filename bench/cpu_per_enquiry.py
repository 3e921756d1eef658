"""What logging an enquiry costs the app, in-process: two versions compared, in instructions or CPU time.

    git worktree add --detach /tmp/tally-base HEAD~1          # the version to compare with
    uv run --frozen python -m bench.cpu_per_enquiry --tree /tmp/tally-base --tree . --instructions
    uv run --frozen python -m bench.cpu_per_enquiry --tree /tmp/tally-base --tree . --rounds 20

Why: on the shared 2-core machines this project is measured on, a server's speed drifts by 15–20 % over
minutes whatever the code (docs/benchmarks.md), so runs of one version after the other cannot tell a change
worth a few percent from the drift. Two ways round it:

* ``--instructions``: each version runs under valgrind's callgrind, instrumented only for one burst after
  the warm-up, and the answer is the machine instructions its event loop's thread executed per request.
  Repeatable to about half a percent whatever else the machine does (three runs of one commit: 611.5,
  612.2 and 614.6 thousand). It counts what the interpreter, the libraries and SQLite execute, not the
  kernel's side of a system call, nor how fast the instructions run (cache misses, the CPU's speed).
* by default, CPU time: each version in a process of its own, set up once, the two taking turns, a burst of
  one then a burst of the other, round after round; the median of each round's ratio is the answer, with
  its spread. Everything is counted, the kernel's part included, but drift faster than a round is not
  cancelled: on the machine of 4 December an A/A run (one commit against itself, 12 rounds) gave a median
  of 0.985 with quartiles 0.886–1.114.

Each process serves its own copy of the same data set through the app's ASGI callable, the whole app as
`tally serve` builds it (`app.main.served_app`, its lifespan run, the checkpointer thread included), on
uvloop as served: the mix of `bench/load.py` (half API posts, half checklist ticks with session, CSRF and
Origin headers, each with its own idempotency key), 32 requests at once, which the group-commit writer
records as one batch. Left out, and the same for both versions: uvicorn's HTTP parsing and the sockets.

The other version needs none of this file: each process is this script, run with that tree's `app` first
on the import path. Users and tokens come from that tree's `tally` CLI, and agents sign in through its login
form, so any version with those works. SQLite only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from html import unescape
from pathlib import Path
from typing import Any

# The child side (``_child`` and what it calls) imports nothing from bench/, only the tree's app (which
# may be older than this checkout's bench/): what it needs of the load mix is here. The parent's side
# imports from bench/ inside its functions.
PASSWORD = "bench-agent-password-123"
HOST = "tally.bench"
BATCH = 32
CHANNELS = ("phone", "chat", "email", "social")
RESULTS = Path(__file__).resolve().parent / "results"


# --- one version: a process of its own ---------------------------------------------------------


async def _child(slug: str, agents: int, bearers: list[str]) -> None:
    """Serve bursts on stdin's command (``<requests>``), answering each with a JSON line."""
    import httpx

    from app.main import served_app

    app = served_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        signed_in = [await _sign_in(transport, slug, f"bench-agent-{i}") for i in range(agents)]
        counter = 0
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            requests = int(line)
            statuses: dict[int, int] = {}
            loop_cpu, cpu, wall = time.thread_time(), time.process_time(), time.perf_counter()
            for _ in range(requests // BATCH):
                answers = await asyncio.gather(
                    *(_hot(app, slug, counter + n, bearers, signed_in) for n in range(BATCH))
                )
                counter += BATCH
                for status in answers:
                    statuses[status] = statuses.get(status, 0) + 1
            loop_cpu, cpu, wall = time.thread_time() - loop_cpu, time.process_time() - cpu, time.perf_counter() - wall
            print(json.dumps({"loop_cpu": loop_cpu, "cpu": cpu, "wall": wall, "statuses": statuses}), flush=True)


async def _sign_in(transport: Any, slug: str, username: str) -> tuple[str, str, str]:
    """The login form, then the checklist page: (CSRF cookie, session cookie, the page's CSRF token)."""
    import httpx

    base = f"http://{HOST}"
    headers = {"Origin": base, "Sec-Fetch-Site": "same-origin"}
    async with httpx.AsyncClient(transport=transport, base_url=base, headers=headers) as browser:
        page = await browser.get("/login")
        form_token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if form_token is None:
            raise RuntimeError("no csrf_token on the login page")
        data = {"username": username, "password": PASSWORD, "csrf_token": unescape(form_token.group(1))}
        await browser.post("/login", data=data)
        checklist = await browser.get(f"/launches/{slug}/checklist")
        checklist.raise_for_status()
        token = re.search(r"X-CSRF-Token&#34;: &#34;([0-9a-f]+)|X-CSRF-Token\": \"([0-9a-f]+)", checklist.text)
        cookie, session = browser.cookies.get("tally_csrf"), browser.cookies.get("tally_session")
        if token is None or not cookie or not session:
            raise RuntimeError(f"{username} could not sign in and open the checklist")
        return cookie, session, token.group(1) or token.group(2)


async def _hot(app: Any, slug: str, n: int, bearers: list[str], agents: list[tuple[str, str, str]]) -> int:
    """Request ``n`` of the mix (bench/load.py's rule), sent to the ASGI callable; its status."""
    key = f"{os.getpid():08x}{n:024x}"
    hypothesis, channel = f"h{n % 15:03d}", CHANNELS[n % 4]
    headers = [(b"host", HOST.encode()), (b"content-type", b"application/json"), (b"accept", b"application/json")]
    if n % 2:
        path = f"/api/v1/launches/{slug}/enquiries"
        body = f'{{"channel":"{channel}","segment":"private","hypotheses":["{hypothesis}"],"idempotency_key":"{key}"}}'
        headers.append((b"authorization", f"Bearer {bearers[n // 2 % len(bearers)]}".encode()))
    else:
        path = f"/launches/{slug}/enquiries"
        cookie, session, token = agents[n // 2 % len(agents)]
        body = (
            f'{{"idempotency_key":"{key}","hypotheses":["{hypothesis}"],"channel":"{channel}",'
            '"segment":"private","note":null}'
        )
        headers += [
            (b"cookie", f"tally_csrf={cookie}; tally_session={session}".encode()),
            (b"x-csrf-token", token.encode()),
            (b"origin", f"http://{HOST}".encode()),
            (b"sec-fetch-site", b"same-origin"),
            (b"sec-fetch-mode", b"cors"),
        ]
    raw = body.encode()
    headers.append((b"content-length", str(len(raw)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


# --- the comparison ----------------------------------------------------------------------------


class Version:
    """One tree's app in its own process, on its own copy of the data."""

    def __init__(
        self, tree: Path, start: Path, slug: str, args: argparse.Namespace, index: int, *, callgrind: Path | None = None
    ) -> None:
        """``callgrind``: run under valgrind's callgrind, writing its counts there, not instrumented until
        ``count_one_burst``."""
        from bench.enquiry_throughput import SECRET

        self.tree = tree
        self.callgrind = callgrind
        database = RESULTS / f"cpu_per_enquiry_{index}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(start, database)
        env = {
            **os.environ,
            "PYTHONPATH": str(tree),  # that tree's app, whatever this checkout holds
            "TALLY_DATABASE_URL": f"sqlite:///{database}",
            "TALLY_SECRET_KEY": SECRET,
            "TALLY_BASE_URL": f"http://{HOST}",
            "TALLY_LOG_LEVEL": "warning",
        }
        for i in range(args.agents):
            self._tally(env, "users", "add", f"bench-agent-{i}", "--role", "agent", "--password-stdin", stdin=PASSWORD)
        bearers = [self._tally(env, "tokens", "create", f"bench-cpu-{i}").split()[-1] for i in range(args.tokens)]
        self.commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], check=True, cwd=tree, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "app"], check=True, cwd=tree, capture_output=True, text=True
        )
        if dirty.stdout.strip():
            self.commit += " + uncommitted changes"
        command = [sys.executable, __file__, "--child", slug, "--agents", str(args.agents), *bearers]
        if callgrind is not None:
            for old in callgrind.parent.glob(f"{callgrind.name}*"):
                old.unlink()
            env["PYTHONHASHSEED"] = "0"  # the same dictionaries' layouts in every run
            command = [
                "valgrind",
                "--tool=callgrind",
                "--quiet",
                "--instr-atstart=no",
                "--separate-threads=yes",
                f"--callgrind-out-file={callgrind}",
                *command,
            ]
        self.process = subprocess.Popen(
            command, cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        ready = self._answer()
        if not ready.get("ready"):
            raise RuntimeError(f"{tree}: the app did not start")
        self.per_request: list[float] = []  # the event loop's thread: what limits a worker
        self.process_per_request: list[float] = []  # every thread (the WAL checkpointer's too)

    @staticmethod
    def _tally(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "app", *args],
            check=False,  # its own message, below
            cwd=env["PYTHONPATH"],
            env=env,
            input=None if stdin is None else stdin + "\n",
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"tally {' '.join(args)} failed: {done.stderr or done.stdout}")
        return done.stdout

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.tree}: the process ended (exit {self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def burst(self, requests: int) -> float:
        """CPU µs per request for one burst."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{requests}\n")
        self.process.stdin.flush()
        answer = self._answer()
        refused = {status: count for status, count in answer["statuses"].items() if not 200 <= int(status) < 300}
        if refused:
            raise RuntimeError(f"{self.tree}: answers other than 2xx: {refused}")
        self.per_request.append(answer["loop_cpu"] / requests * 1e6)
        self.process_per_request.append(answer["cpu"] / requests * 1e6)
        return self.per_request[-1]

    def count_one_burst(self, requests: int) -> float:
        """Instructions per request that the event loop's thread executed in one burst (``callgrind``)."""
        assert self.callgrind is not None
        control = ["callgrind_control", str(self.process.pid)]
        subprocess.run([*control[:1], "--instr=on", *control[1:]], check=True, capture_output=True)
        self.burst(requests)
        subprocess.run([*control[:1], "--dump=burst", *control[1:]], check=True, capture_output=True)
        self.close()
        # The dump's file for the first thread (the loop's): "<name>.1-01". Its "summary:" line is the total.
        counts = self.callgrind.with_name(f"{self.callgrind.name}.1-01").read_text()
        total = next(int(line.split()[1]) for line in counts.splitlines() if line.startswith("summary:"))
        return total / requests

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def _start_data(enquiries: int) -> tuple[Path, str]:
    """The data set both versions start from: built with this checkout's bench/data.py, kept for reuse."""
    from bench.data import build, fresh_database

    path = RESULTS / f"cpu_per_enquiry_start_{enquiries}.db"
    slug_file = path.with_suffix(".slug")
    if path.exists() and slug_file.exists():
        return path, slug_file.read_text()
    db = fresh_database(None, f"cpu_per_enquiry_start_{enquiries}")
    today = dt.datetime.now(dt.UTC).date()
    data = build(db, enquiries=enquiries, hypotheses=15, starts_on=today - dt.timedelta(days=19))
    db.dispose()
    slug_file.write_text(data.launch.slug)
    return path, data.launch.slug


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", type=Path, help="a checkout of the app: give two")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    parser.add_argument("--rounds", type=int, default=20, help="CPU time: bursts of each version, in turn")
    parser.add_argument("--requests", type=int, help="per burst (a multiple of 32; 6400, or 1600 counted)")
    parser.add_argument("--enquiries", type=int, default=100_000, help="in the starting data")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=2)
    parser.add_argument("--child", metavar="SLUG", help=argparse.SUPPRESS)
    parser.add_argument("bearers", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import uvloop  # the loop `tally serve` runs on (app/serving.py)

        uvloop.run(_child(args.child, args.agents, args.bearers))
        return
    from bench.load import cpu_model, say  # the parent's side only (see PASSWORD)

    if not args.tree or len(args.tree) != 2:
        parser.error("give two checkouts: --tree A --tree B")
    RESULTS.mkdir(exist_ok=True)
    start, slug = _start_data(args.enquiries)
    say("starting both versions")
    head = (
        f"`python -m bench.cpu_per_enquiry {' '.join(sys.argv[1:])}`: {platform.node()}, {os.cpu_count()} cores, "
        f"{cpu_model()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}\n\n"
    )
    print(head + (_count(args, start, slug) if args.instructions else _alternate(args, start, slug)))


def _count(args: argparse.Namespace, start: Path, slug: str) -> str:
    from bench.load import say

    requests = args.requests or 1600
    counts = []
    for index, tree in enumerate(args.tree):
        version = Version(tree.resolve(), start, slug, args, index, callgrind=RESULTS / f"callgrind_{index}.out")
        try:
            version.burst(BATCH * 10)  # warm up: caches, the first batches' statements
            say(f"{version.commit}: counting {requests} requests under callgrind")
            counts.append((version, version.count_one_burst(requests)))
        finally:
            version.close()
    lines = ["| version | tree | instructions a request (the loop's thread) |", "| --- | --- | ---: |"]
    lines += [f"| {name}: {v.commit} | `{v.tree}` | {n:,.0f} |" for name, (v, n) in zip("AB", counts, strict=True)]
    return "\n".join(lines) + f"\n\nB / A: **{counts[1][1] / counts[0][1]:.3f}** ({requests} requests each)"


def _alternate(args: argparse.Namespace, start: Path, slug: str) -> str:
    requests = args.requests or 6400
    versions = [Version(tree.resolve(), start, slug, args, i) for i, tree in enumerate(args.tree)]
    ratios = []
    try:
        for version in versions:
            version.burst(requests)  # warm up: caches, the first batches' statements
            version.per_request.clear()
            version.process_per_request.clear()
        for round_ in range(args.rounds):
            for version in versions if round_ % 2 == 0 else versions[::-1]:
                version.burst(requests)
            ratios.append(versions[1].per_request[-1] / versions[0].per_request[-1])
    finally:
        for version in versions:
            version.close()
    lines = [
        "| version | tree | the loop's CPU, µs a request: median (min–max) | the process's, every thread |",
        "| --- | --- | ---: | ---: |",
    ]
    for name, version in zip("AB", versions, strict=True):
        loop, process = version.per_request, version.process_per_request
        lines.append(
            f"| {name}: {version.commit} | `{version.tree}` | {statistics.median(loop):.1f} "
            f"({min(loop):.1f}–{max(loop):.1f}) | {statistics.median(process):.1f} "
            f"({min(process):.1f}–{max(process):.1f}) |"
        )
    quartiles = statistics.quantiles(ratios, n=4)
    return "\n".join(lines) + (
        f"\n\nB / A, median of {len(ratios)} rounds' ratios: **{statistics.median(ratios):.3f}** "
        f"(quartiles {quartiles[0]:.3f}–{quartiles[2]:.3f}, range {min(ratios):.3f}–{max(ratios):.3f}; "
        f"{requests} requests a burst)"
    )


if __name__ == "__main__":
    main()
