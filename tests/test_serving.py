"""How `tally serve` runs the app in each worker process."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send
from uvicorn.importer import import_from_string
from uvicorn.server import ServerState

from app import cli, main
from app.config import Settings
from app.db import Database
from app.recording.credentials import from_proxy
from app.serving import HttpProtocol, OneWriteTransport
from tests.processes import free_port, started


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """This test process builds many apps: what a test freezes is thawed again after it, and the
    collector's thresholds are put back."""
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tally_serve_runs_the_served_app_factory() -> None:
    assert import_from_string(cli.SERVED_APP) is main.served_app


def test_a_served_worker_freezes_its_startup_heap_once_started(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, unfrozen: None
) -> None:
    """What exists once a worker has started (modules, the app, its routes) stays out of the collector's
    full passes, which walked ~170,000 objects each time and held every request for ~120 ms."""
    for name, value in {
        "TALLY_DATABASE_URL": settings.database_url,
        "TALLY_SECRET_KEY": settings.secret_key.get_secret_value(),
    }.items():
        monkeypatch.setenv(name, value)
    app = main.served_app()
    assert gc.get_freeze_count() == 0
    default_thresholds = gc.get_threshold()
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 10_000
        # Young collections far less often than the interpreter's default; the older generations as they were.
        assert gc.get_threshold() == (main.YOUNG_COLLECTION_EVERY, *default_thresholds[1:])
        assert default_thresholds[0] < main.YOUNG_COLLECTION_EVERY
        assert client.get("/healthz").status_code == 200


def test_apps_built_in_a_shared_process_leave_the_collector_alone(
    settings: Settings, db: Database, unfrozen: None
) -> None:
    thresholds = gc.get_threshold()
    with TestClient(main.create_app(settings, db=db)):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == thresholds


# --- one write per answer (app/serving.py) -------------------------------------------------


class Wire(asyncio.Transport):
    """The socket's side of the transport: what was written, one entry per write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name in ("sockname", "peername") else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_what_is_written_in_one_turn_of_the_loop_leaves_in_one_write() -> None:
    async def scenario() -> list[bytes]:
        wire = Wire()
        transport = OneWriteTransport(wire, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        assert wire.writes == []  # held until the turn ends
        await asyncio.sleep(0)
        return list(wire.writes)

    assert asyncio.run(scenario()) == [b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"]


def test_a_head_whose_body_comes_later_leaves_at_the_end_of_its_turn() -> None:
    async def scenario() -> list[bytes]:
        wire = Wire()
        transport = OneWriteTransport(wire, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        await asyncio.sleep(0)
        assert len(wire.writes) == 1  # not held back for the body
        transport.write(b"2\r\n{}\r\n0\r\n\r\n")
        await asyncio.sleep(0)
        return list(wire.writes)

    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    assert asyncio.run(scenario()) == [head, b"2\r\n{}\r\n0\r\n\r\n"]


def test_closing_sends_what_is_held_first_and_a_peer_that_went_away_gets_nothing() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        loop = asyncio.get_running_loop()
        wire = Wire()
        transport = OneWriteTransport(wire, loop)
        transport.write(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
        transport.close()
        assert wire.closed
        gone = Wire()
        late = OneWriteTransport(gone, loop)
        late.write(b"HTTP/1.1 200 OK\r\n\r\n")
        gone.closed = True  # the peer went away before the turn ended
        await asyncio.sleep(0)
        return list(wire.writes), list(gone.writes)

    assert asyncio.run(scenario()) == ([b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n"], [])


async def _answers(scope: Scope, receive: Receive, send: Send) -> None:
    """A plain answer on /json; on /stream, a head, then the body once the client has read the head."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/json":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"11")]})
        await send({"type": "http.response.body", "body": b'{"ok":true}'})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    if not await asyncio.get_running_loop().run_in_executor(None, HEAD_READ.wait, 5):
        raise AssertionError("the client never got the head")  # the connection drops: the test fails
    await send({"type": "http.response.body", "body": b"later"})


HEAD_READ = threading.Event()


def test_tally_serve_answers_through_the_one_write_protocol() -> None:
    """Through a real socket: keep-alive answers arrive whole, and a streaming answer's head arrives
    before its body exists."""
    HEAD_READ.clear()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_answers, host="127.0.0.1", port=port, http=HttpProtocol, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            reader = client.makefile("rb")
            for _ in range(2):
                client.sendall(b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n")
                assert reader.readline() == b"HTTP/1.1 200 OK\r\n"
                while reader.readline() != b"\r\n":
                    pass
                assert reader.read(11) == b'{"ok":true}'
            client.sendall(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
            assert reader.readline() == b"HTTP/1.1 200 OK\r\n"
            while reader.readline() != b"\r\n":
                pass
            HEAD_READ.set()
            assert reader.readline() == b"5\r\n"
            assert reader.readline() == b"later\r\n"
    finally:
        HEAD_READ.set()
        server.should_exit = True
        thread.join(timeout=10)


async def _peer(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers who the app thinks the client is, and whether the connection came from a trusted proxy."""
    body = f"{scope['client'][0]} {from_proxy(scope, '127.0.0.1')}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


def test_a_served_request_keeps_its_peer_for_the_trusted_user_header() -> None:
    """Behind a proxy uvicorn replaces the client with the address the proxy forwarded for; whether a
    header such as TALLY_TRUSTED_USER_HEADER may be believed depends on the connection's own peer."""
    port = free_port()
    config = uvicorn.Config(
        _peer,
        host="127.0.0.1",
        port=port,
        http=HttpProtocol,
        forwarded_allow_ips="127.0.0.1",
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def ask(source: str, forwarded: str | None) -> bytes:
        extra = f"X-Forwarded-For: {forwarded}\r\n" if forwarded else ""
        with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as client:
            client.sendall(f"GET / HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n".encode())
            return b"".join(iter(lambda: client.recv(4096), b"")).split(b"\r\n\r\n", 1)[1]

    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        assert ask("127.0.0.1", "203.0.113.9") == b"203.0.113.9 True"  # the proxy, for a client
        assert ask("127.0.0.2", None) == b"127.0.0.2 False"  # straight from somewhere else
        assert ask("127.0.0.2", "127.0.0.1") == b"127.0.0.2 False"  # claiming to be the proxy: not believed
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_large_answer_written_in_one_turn_is_not_held_in_memory() -> None:
    """Past 64 KiB what is held goes at once, where the transport's flow control can stop the writer."""

    async def scenario() -> list[int]:
        wire = Wire()
        transport = OneWriteTransport(wire, asyncio.get_running_loop())
        for _ in range(64):
            transport.write(b"x" * 16 * 1024)
        assert sum(map(len, wire.writes)) >= 60 * 16 * 1024  # gone before the turn ended
        await asyncio.sleep(0)
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"y" * 1024 * 1024)  # one large piece: after what is held, as it is (no copy)
        return [len(data) for data in wire.writes]

    assert asyncio.run(scenario()) == [64 * 1024] * 16 + [19, 1024 * 1024]


def _protocol() -> tuple[HttpProtocol, Wire]:
    config = uvicorn.Config(_answers, http=HttpProtocol, lifespan="off", log_level="warning")
    config.load()
    protocol = HttpProtocol(config=config, server_state=ServerState(), app_state={})
    wire = Wire()
    protocol.connection_made(wire)
    return protocol, wire


def test_the_protocol_sends_a_whole_answer_in_one_write() -> None:
    async def scenario() -> list[bytes]:
        protocol, wire = _protocol()
        protocol.data_received(b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n")
        for _ in range(100):
            if wire.writes:
                break
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        return list(wire.writes)

    writes = asyncio.run(scenario())
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b'\r\n\r\n{"ok":true}')


def test_an_answer_held_when_the_client_closes_its_side_still_leaves() -> None:
    async def scenario() -> list[bytes]:
        protocol, wire = _protocol()
        protocol.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        protocol.eof_received()  # the event loop closes the socket right after this
        return list(wire.writes)

    assert asyncio.run(scenario()) == [b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]


def test_tally_serve_uses_the_one_write_protocol_in_every_worker(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: asked.update(kwargs))
    cli.run_server(settings, host="127.0.0.1", port=8000, workers=2)
    assert asked["http"] is HttpProtocol
    # Workers are started with the configuration pickled: the class goes by name.
    config = uvicorn.Config(cli.SERVED_APP, http=asked["http"], workers=2)
    assert pickle.loads(pickle.dumps(config)).http is HttpProtocol  # noqa: S301 - our own bytes


def test_a_buffer_the_writer_reuses_leaves_as_it_was_written() -> None:
    async def scenario() -> list[bytes]:
        wire = Wire()
        transport = OneWriteTransport(wire, asyncio.get_running_loop())
        buffer = bytearray(b"first")
        transport.write(buffer)
        buffer[:] = b"again"
        await asyncio.sleep(0)
        return list(wire.writes)

    assert asyncio.run(scenario()) == [b"first"]


def test_workers_that_start_slowly_are_waited_for_not_killed(tmp_path: Path, database_url: str) -> None:
    """On a busy host a worker took more than uvicorn's 5 s to import the app again: the supervisor
    killed it, started another, killed that one, and `tally serve --workers 2` never served."""
    # Each spawned worker (``python -c "from multiprocessing.spawn import …"``) starts 6 s late, as on
    # a loaded machine; the supervisor, run as ``python -m app``, does not.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys, time\n\nif sys.argv[:1] == ['-c']:\n    time.sleep(6)\n")
    env = {
        "TALLY_DATABASE_URL": database_url,
        "TALLY_SECRET_KEY": "s" * 40,
        "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    port = free_port()
    with started("serve", "--workers", "2", "--no-scheduler", "--port", str(port), env=env, cwd=tmp_path) as running:
        running.wait_ready()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        assert "died" not in running.output
