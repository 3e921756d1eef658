"""An open-loop load generator: requests leave at a fixed rate whatever the server
does, and latency is measured from when each request was *due*, so a slow
server cannot hide its queueing (no coordinated omission). wrk measures
saturation; this measures latency at a chosen rate.

One Python process cannot send thousands of requests a second on time, so
``run_processes`` splits one schedule between several processes: request ``n``
is due at ``start + n / rate`` and belongs to process ``n % processes``. Each
process also records how late it woke for each request (its own lag), and the
rate it achieved, so a run can say whether the generator kept up.

Even so, on a two-core machine that also runs the server, the processes cost about as much
CPU per request as the server they measure, and fell behind (docs/benchmarks.md). So
``run_native`` sends the same schedule from one thread of C (``openloop.c``, built here with
the machine's C compiler): about a third of their CPU a request, measured there. The load
benchmark uses it wherever a compiler is found, and says which generator it used.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import uvloop

# The enquiry id in a 2xx answer: the loss check compares them with the database.
_ID = re.compile(rb'"id"\s*:\s*(\d+)')
_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Result:
    rate: float
    sent: int
    ok: int
    failed: int
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class Samples:
    """Raw measurements of one generator process (or several, merged)."""

    numbers: list[int] = field(default_factory=list)  # request numbers (Python: in the order answered)
    latencies: list[float] = field(default_factory=list)  # seconds from due to the whole answer read
    lags: list[float] = field(default_factory=list)  # seconds the generator woke after the due time
    statuses: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # ids found in 2xx answers
    start: float = 0.0  # time.monotonic() when request 0 was due
    last_sent: float = 0.0
    connections: int = 0  # opened, the first ones included
    cpu_seconds: float = 0.0  # the generator's own CPU time while sending

    def merge(self, other: Samples) -> None:
        self.numbers += other.numbers
        self.latencies += other.latencies
        self.lags += other.lags
        self.statuses += other.statuses
        self.ids += other.ids
        self.start = other.start
        self.last_sent = max(self.last_sent, other.last_sent)
        self.connections += other.connections
        self.cpu_seconds += other.cpu_seconds


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[int(fraction * (len(ordered) - 1))] if ordered else float("nan")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    # The head in one read, not a line at a time: the generator's own cost per request is what
    # limits the rate it can keep on a machine it shares with the server.
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(maxsplit=2)[1])
    length = _LENGTH.search(head)
    body = await reader.readexactly(int(length.group(1))) if length else b""
    return status, body


Pool = asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]


async def _connect(host: str, port: int, connections: int) -> Pool:
    pool: Pool = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection(host, port))
    return pool


async def _send(
    pool: Pool,
    make_request: Callable[[int], bytes],
    *,
    rate: float,
    seconds: float,
    start: float,
    first: int = 0,
    step: int = 1,
    grow: tuple[str, int] | None = None,
) -> Samples:
    """Requests ``first, first + step, …`` of a schedule of ``rate`` a second from ``start``.

    With ``grow=(host, port)`` a request that finds every connection busy opens another, as one
    more client would, instead of waiting for one: the server's slowness then never holds the
    next request back."""
    samples = Samples(start=start, connections=pool.qsize())
    cpu = time.process_time()
    total = int(rate * seconds)

    async def one(n: int) -> None:
        due = start + n / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        samples.lags.append(max(time.monotonic() - due, 0.0))
        if grow is not None and pool.empty():
            samples.connections += 1
            reader, writer = await asyncio.open_connection(*grow)
        else:
            reader, writer = await pool.get()
        try:
            writer.write(make_request(n))
            samples.last_sent = max(samples.last_sent, time.monotonic())
            status, body = await _read_response(reader)
        finally:
            pool.put_nowait((reader, writer))
        samples.latencies.append(time.monotonic() - due)
        samples.numbers.append(n)
        samples.statuses.append(status)
        if 200 <= status < 300 and (found := _ID.search(body)):
            samples.ids.append(int(found.group(1)))

    await asyncio.gather(*(one(n) for n in range(first, total, step)))
    samples.cpu_seconds = time.process_time() - cpu
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    return samples


def summary(samples: Samples, rate: float) -> Result:
    latencies = sorted(samples.latencies)
    ok = sum(200 <= s < 300 for s in samples.statuses)
    return Result(
        rate=rate,
        sent=len(samples.statuses),
        ok=ok,
        failed=len(samples.statuses) - ok,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        max_ms=latencies[-1] * 1000,
    )


def run(
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    *,
    rate: float,
    seconds: float = 10,
    connections: int = 64,
) -> Result:
    async def main() -> Samples:
        pool = await _connect(host, port, connections)
        return await _send(pool, make_request, rate=rate, seconds=seconds, start=time.monotonic() + 0.05)

    return summary(uvloop.run(main()), rate)


def _share(
    pipe: Connection,
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    rate: float,
    seconds: float,
    connections: int,
    first: int,
    step: int,
) -> None:
    async def main() -> Samples:
        pool = await _connect(host, port, connections)
        pipe.send("ready")
        start = pipe.recv()  # the same instant for every process: CLOCK_MONOTONIC is system-wide
        return await _send(
            pool, make_request, rate=rate, seconds=seconds, start=start, first=first, step=step, grow=(host, port)
        )

    pipe.send(uvloop.run(main()))


def run_processes(
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    *,
    rate: float,
    seconds: float,
    processes: int,
    connections: int,
) -> Samples:
    """One open-loop schedule sent by ``processes`` processes, each starting with ``connections``
    connections and opening more whenever all of its own are busy.

    ``make_request`` must pickle (a module-level class or function): each process is spawned
    afresh, connects, and only then is the common start time handed out."""
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    children = []
    for index in range(processes):
        ours, theirs = context.Pipe()
        child = context.Process(
            target=_share,
            args=(theirs, host, port, make_request, rate, seconds, connections, index, processes),
            daemon=True,
        )
        child.start()
        pipes.append(ours)
        children.append(child)
    for pipe in pipes:
        if pipe.recv() != "ready":
            raise RuntimeError("a generator process failed to start")
    start = time.monotonic() + 0.2
    for pipe in pipes:
        pipe.send(start)
    merged = Samples(start=start)
    for pipe in pipes:
        merged.merge(pipe.recv())
    for child in children:
        child.join(timeout=30)
    return merged


NATIVE_SOURCE = Path(__file__).with_name("openloop.c")


def native_generator() -> Path | None:
    """The C generator, built once per version of its source under bench/results/; None when the
    machine has no C compiler or it cannot build it (it needs Linux 5.11 and glibc 2.35 for
    ``epoll_pwait2``): then the Python processes are what there is."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    source = NATIVE_SOURCE.read_bytes()
    binary = Path(__file__).parent / "results" / f"openloop-{hashlib.sha256(source).hexdigest()[:12]}"
    if not binary.exists():
        binary.parent.mkdir(exist_ok=True)
        building = binary.with_name(f"{binary.name}.{os.getpid()}")  # two runs at once never share a half-built file
        built = subprocess.run(
            [compiler, "-O2", "-Wall", "-o", str(building), str(NATIVE_SOURCE)],
            check=False,
            capture_output=True,
            text=True,
        )
        if built.returncode:
            print(f"bench/openloop.c did not build, using the Python generator:\n{built.stderr}", file=sys.stderr)
            return None
        os.replace(building, binary)
    return binary


def run_native(
    binary: Path,
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    *,
    rate: float,
    seconds: float,
    connections: int,
    while_running: Callable[[int], None] | None = None,
) -> Samples:
    """The schedule of ``run_processes`` (request ``n`` due at ``start + n / rate``, latency from
    that time, a new connection whenever all are busy), sent by the C generator.

    ``while_running(pid)`` is called once it has started (the tests pause it, to check that a late
    send is charged from its due time)."""
    total = int(rate * seconds)
    with tempfile.TemporaryDirectory(prefix="openloop-") as folder:
        asked, answers = Path(folder) / "requests", Path(folder) / "answers"
        with asked.open("wb") as out:
            out.write(struct.pack("=I", total))  # the machine's byte order, as the C side reads it
            for n in range(total):
                request = make_request(n)
                out.write(struct.pack("=I", len(request)))
                out.write(request)
        process = subprocess.Popen(
            [str(binary), host, str(port), repr(rate), str(connections), str(asked), str(answers)]
        )
        try:
            if while_running is not None:
                while_running(process.pid)
        finally:
            if process.wait():
                raise RuntimeError(f"bench/openloop.c's generator failed (exit status {process.returncode})")
        samples = Samples()
        for line in answers.read_text().splitlines():
            if line.startswith("# "):
                start, last_sent, opened, cpu = (int(v) for v in line[2:].split())
                samples.start, samples.last_sent = start / 1e9, last_sent / 1e9
                samples.connections, samples.cpu_seconds = opened, cpu / 1e9
                continue
            n, status, latency, lag, found = (int(v) for v in line.split())
            samples.numbers.append(n)
            samples.statuses.append(status)
            samples.latencies.append(latency / 1e9)
            samples.lags.append(lag / 1e9)
            if 200 <= status < 300 and found >= 0:
                samples.ids.append(found)
    return samples
