"""An open-loop load generator: requests leave at a fixed rate whatever the server
does, and latency is measured from when each request was *due*, so a slow
server cannot hide its queueing (no coordinated omission). wrk measures
saturation; this measures latency at a chosen rate.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import uvloop


@dataclass(frozen=True)
class Result:
    rate: float
    sent: int
    ok: int
    failed: int
    p50_ms: float
    p99_ms: float
    max_ms: float


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _run(
    host: str, port: int, make_request: Callable[[int], bytes], *, rate: float, seconds: float, connections: int
) -> Result:
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection(host, port))
    latencies: list[float] = []
    statuses: list[int] = []
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05

    async def one(n: int) -> None:
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        reader, writer = await pool.get()
        try:
            writer.write(make_request(n))
            statuses.append(await _read_response(reader))
        finally:
            pool.put_nowait((reader, writer))
        latencies.append(time.perf_counter() - due)

    await asyncio.gather(*(one(n) for n in range(total)))
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    latencies.sort()
    ok = sum(200 <= s < 300 for s in statuses)
    return Result(
        rate=rate,
        sent=total,
        ok=ok,
        failed=len(statuses) - ok,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(0.99 * (len(latencies) - 1))] * 1000,
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
    return uvloop.run(_run(host, port, make_request, rate=rate, seconds=seconds, connections=connections))
