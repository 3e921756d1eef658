"""Group commit: many requests, one transaction.

Logging an enquiry is the hot path. Committing each request on its own costs
an ORM round trip and a thread hop per request, and on SQLite every writer
queues for the one write lock. Instead, requests go into a queue; one writer
thread takes whatever is waiting (up to ``max_batch``), records it all in one
write transaction, and wakes each waiting request with its own result. Under
load batches grow and the cost per request falls; when idle a batch is one
request and nothing waits for a timer.

Nothing is acknowledged before its transaction commits: a request whose batch
fails gets the error (and the client retries with the same idempotency key).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from app.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

Handler = Callable[[sa.Connection, Sequence[T]], Sequence[R | Exception]]


@dataclass
class _Waiting(Generic[T]):
    item: T
    resolve: Callable[[Any, bool], None]


class GroupCommitWriter(Generic[T, R]):
    def __init__(
        self,
        db: Database,
        handler: Handler[T, R],
        *,
        max_batch: int = 256,
        name: str = "writer",
        on_failure: Callable[[Exception], Exception] = lambda exc: exc,
    ) -> None:
        self._db = db
        self._handler = handler
        self._on_failure = on_failure
        self._max_batch = max_batch
        self._name = name
        self._queue: queue.SimpleQueue[_Waiting[T] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"{self._name} is closed")
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()

    async def submit(self, item: T) -> R:
        """Record ``item``; returns its result once committed, or raises its error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()

        def resolve(value: Any, failed: bool) -> None:
            loop.call_soon_threadsafe(_settle, future, value, failed)

        self._ensure_started()
        self._queue.put(_Waiting(item, resolve))
        return await future

    def submit_sync(self, item: T, timeout: float | None = 60) -> R:
        """The same, for code outside an event loop."""
        future: concurrent.futures.Future[R] = concurrent.futures.Future()

        def resolve(value: Any, failed: bool) -> None:
            if failed:
                future.set_exception(value)
            else:
                future.set_result(value)

        self._ensure_started()
        self._queue.put(_Waiting(item, resolve))
        return future.result(timeout)

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    waiting = self._queue.get_nowait()
                except queue.Empty:
                    break
                if waiting is None:
                    stop = True
                    break
                batch.append(waiting)
            self._process(batch)
            if stop:
                return

    def _process(self, batch: list[_Waiting[T]]) -> None:
        try:
            with self._db.write_connection() as connection:
                results = list(self._handler(connection, [w.item for w in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"{self._name}: handler returned {len(results)} results for {len(batch)} items")
        except Exception as exc:
            log.exception("%s: a batch of %d failed and was rolled back", self._name, len(batch))
            error = self._on_failure(exc)
            for waiting in batch:
                waiting.resolve(error, True)
            return
        for waiting, result in zip(batch, results, strict=True):
            waiting.resolve(result, isinstance(result, Exception))


def _settle(future: asyncio.Future[Any], value: Any, failed: bool) -> None:
    if future.done():  # the request was cancelled (client went away); the enquiry is recorded all the same
        return
    if failed:
        future.set_exception(value)
    else:
        future.set_result(value)
