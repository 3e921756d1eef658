"""How `tally serve` speaks HTTP: uvicorn's httptools protocol, each answer in one write.

uvicorn writes an answer's status line and headers when the app starts it,
and the body when the app sends it: two writes. uvloop sends each write at
once (its fast path, when nothing is queued), so every answer cost two
``write`` system calls, and on a loopback or virtual network each one wakes
the reader. With two workers busy, those writes were a fifth of a worker's
time on the hot path (py-spy; docs/benchmarks.md). Here whatever the
protocol writes during one step of the event loop is held and sent as one
write by a callback scheduled with the first of them: a head and its body
go out together, and a streaming answer's head is not held back for its
body (it leaves with the loop's next round of callbacks). A piece of 64 KiB
or more, or that much held, goes at once, so a large answer meets the
transport's flow control as before (uvicorn waits for the client to read
before it writes more) instead of piling up in memory or being copied.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

SEND_AT = 64 * 1024  # bytes held that go at once: the transport's own high-water mark


class OneWriteTransport(asyncio.Transport):
    """A transport that joins the writes of one turn of the event loop into one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, bytes):
            data = bytes(data)  # the caller may reuse its buffer before the flush
        if len(data) >= SEND_AT:
            self.flush()
            self._transport.write(data)
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)
        self._held_size += len(data)
        if self._held_size >= SEND_AT:
            self.flush()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what is held (called at the end of the turn, and before closing)."""
        if not self._held:
            return
        held, self._held, self._held_size = self._held, [], 0
        if self._transport.is_closing():
            return  # the peer went away: uvicorn would not have written either
        self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held, self._held_size = [], 0
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._held_size

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


# The connection's own peer, in the scope: uvicorn's proxy-headers middleware replaces "client" with the
# address a trusted proxy forwarded for, and whether a header such as TALLY_TRUSTED_USER_HEADER may be
# believed depends on who sent it (app/recording/credentials.py).
PEER = "tally.peer"


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a ``OneWriteTransport``, noting each request's peer."""

    transport: OneWriteTransport

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWriteTransport(transport, self.loop))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[PEER] = self.client  # type: ignore[literal-required]

    def eof_received(self) -> None:
        # The client closed its side: the event loop closes the socket's transport itself, not through
        # ours, so an answer still held would be dropped. It goes first.
        self.transport.flush()
        super().eof_received()


# How `tally serve` runs uvicorn, besides its address, workers and logging; the benchmarks' bare endpoint
# (bench/bare_app.py) is served with the same. uvloop + httptools: with plain asyncio every request on a
# shared socket gained ~40 ms from Nagle's algorithm once workers > 1.
UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": HttpProtocol,
    "proxy_headers": True,
    "server_header": False,
    # uvicorn's supervisor kills a worker that has not answered its ping within this (5 s by default),
    # and a spawned worker answers only once it has imported the app again (~3 s of CPU): four workers
    # starting at once on two busy cores took longer, and were killed and started again for ever,
    # serving nothing. A worker that is stuck later is still found, a minute on.
    "timeout_worker_healthcheck": 60,
}
