"""The load benchmark's open-loop generator in C (bench/openloop.c): published latencies rest on it
measuring from each request's *due* time, and on it never letting a slow server slow its sends."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from bench import loadgen

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="the C generator is built with the machine's C compiler, and this machine has none",
)

RATE = 200.0  # one second of schedule: requests 0-199
HELD = range(140, 180)  # answered only once request 180 has arrived: a server stalled for 0.2 s


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


def test_latency_runs_from_each_requests_due_time_and_a_stalled_server_never_slows_the_sends(
    stalling_server: int,
) -> None:
    binary = loadgen.native_generator()
    assert binary is not None
    pause: dict[str, float] = {}

    def stop_it_for_a_while(pid: int) -> None:
        """The generator itself held up (as a busy machine would): what falls due meanwhile leaves late."""
        time.sleep(0.35)  # into the schedule, which starts 50 ms after it has connected
        os.kill(pid, signal.SIGSTOP)
        pause["stopped"] = time.monotonic()
        time.sleep(0.15)
        pause["resumed"] = time.monotonic()
        os.kill(pid, signal.SIGCONT)

    samples = loadgen.run_native(
        binary,
        "127.0.0.1",
        stalling_server,
        request,
        rate=RATE,
        seconds=1,
        connections=2,
        while_running=stop_it_for_a_while,
    )

    assert sorted(samples.numbers) == list(range(200))
    assert set(samples.statuses) == {201}
    assert sorted(samples.ids) == [n + 1000 for n in range(200)]  # read out of every answer
    latency = dict(zip(samples.numbers, samples.latencies, strict=True))
    lag = dict(zip(samples.numbers, samples.lags, strict=True))

    def due(n: int) -> float:
        return samples.start + n / RATE

    late = [n for n in range(200) if pause["stopped"] + 0.02 <= due(n) < pause["resumed"]]
    assert len(late) >= 20, late
    for n in late:
        # Sent only after the pause: charged from when it was due, not from when it left.
        assert lag[n] >= pause["resumed"] - due(n), n
        assert latency[n] >= pause["resumed"] - due(n), n
    for n in HELD:
        # Answered no sooner than request 180 was due: the server's whole stall is charged.
        assert latency[n] >= (HELD.stop - n) / RATE - 1e-6, n
    # And every held request was sent all the same, on a connection of its own (a closed loop would
    # have waited for one of its two to come free, and hidden the queue).
    assert samples.connections >= len(HELD) + 1
