"""The load benchmark's open-loop generator in C (bench/openloop.c): published latencies rest on it
measuring from each request's *due* time, and on it never letting a slow server slow its sends."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
import time
from collections.abc import Iterator

import pytest

from bench import loadgen

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="the C generator is built with the machine's C compiler, and this machine has none",
)

RATE = 200.0
HELD = range(60, 100)  # answered only once request 100 has arrived: a server stalled for 0.2 s


def request(n: int) -> bytes:
    body = json.dumps({"n": n})
    return f"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()


@pytest.fixture
def stalling_server() -> Iterator[int]:
    """HTTP/1.1 on keep-alive connections; each answer carries an id (the request's number + 1000)."""
    loop = asyncio.new_event_loop()
    released = asyncio.Event()
    ready = threading.Event()
    port: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"Content-Length: (\d+)", head)
                assert length is not None
                n = json.loads(await reader.readexactly(int(length.group(1))))["n"]
                if n == HELD.stop:
                    released.set()
                elif n in HELD:
                    await released.wait()
                body = json.dumps({"id": n + 1000}).encode()
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def start() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    ready.wait(5)
    yield port[0]
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_a_stalled_server_is_charged_from_each_requests_due_time_and_never_slows_the_sends(
    stalling_server: int,
) -> None:
    binary = loadgen.native_generator()
    assert binary is not None
    began = time.monotonic()
    samples = loadgen.run_native(binary, "127.0.0.1", stalling_server, request, rate=RATE, seconds=1, connections=2)

    assert sorted(samples.numbers) == list(range(200))
    assert set(samples.statuses) == {201}
    assert sorted(samples.ids) == [n + 1000 for n in range(200)]  # read out of every answer
    latency = dict(zip(samples.numbers, samples.latencies, strict=True))
    for n in HELD:
        # Answered no sooner than request 100 was due: the whole wait is charged, from n's own due time
        # (a closed loop would have sent n only once a connection was free, and hidden the queue).
        assert latency[n] >= (HELD.stop - n) / RATE - 1e-6, n
    # Sent on time all the same: each held request took a connection of its own.
    assert samples.connections >= len(HELD) + 1
    assert began < samples.start < samples.last_sent
    assert samples.last_sent - samples.start >= 199 / RATE - 1e-3
