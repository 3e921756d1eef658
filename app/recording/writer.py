"""Group commit: many requests, one transaction, and no thread in the way.

Logging an enquiry is the hot path. Committing each request on its own costs
a transaction per request, and on SQLite every writer queues for the one
write lock. Instead a request joins the pending batch; one flush, scheduled
on the event loop, records the whole batch in one short transaction and
gives each waiting request its own result. Under load batches grow and the
cost per request falls; when idle a batch is one request and nothing waits
for a timer.

On SQLite the flush runs *on the event loop*, not in a thread. A writer
thread was measured spending most of its time waiting for the interpreter
lock, which the busy event loop holds, once per database call. A batch is a
millisecond or two of plain SQL in a local file (store.py), and while it runs
the next requests gather into the next batch. If the database's write lock is
taken (another worker process is writing) the flush never waits on the loop:
it tries again a moment later, with whatever came in meanwhile. SQLite's own
busy handler would sleep in steps of 1, 2, 5, 10 ms… for a lock held for about
one; with two workers that cost half the throughput.

On PostgreSQL a batch is network round trips to a server that may be slow,
waiting for a lock, or failing over: run synchronously on the loop, that
would freeze every request of the worker, /healthz included. So there the
batch runs on the loop as a task over the driver's asynchronous connection
(``Database.run_pg_write``): the loop serves other requests while the server
works. (A writer thread did that too, but under load it spent most of its
time waiting for the interpreter lock the busy loop held, after every network
call: batches took turns with the loop instead of overlapping with it.) Two
batches may be in flight at once, each on a connection of its own (a
"lane"): while one waits for the server, the requests that came in meanwhile
are already on their way in the next, instead of waiting for the first to
come back (measured: faster in 11 of 14 alternating runs of the API alone,
and with one worker in the load benchmark, not with two; docs/benchmarks.md).
Batches are independent: a key sent twice at once is recorded by one and
found as a replay by the other, which PostgreSQL's unique index makes wait
for the first. Every request
waits at most ``timeout`` seconds: past it, it gets the failure (a 503 saying
nothing was recorded), and while a batch has been stuck longer than that with
nothing committed since it began, new requests get it at once instead of
queueing for the same wait (``_stuck``).

Nothing is acknowledged before it commits: a request whose batch fails gets
the error, and the client retries with the same idempotency key. A request
answered 503 after its batch went to the server may yet be recorded; that retry
then finds it by its key and answers with the enquiry, once. (On PostgreSQL a
batch's enquiries and their links are one statement that commits on its own,
after which only a replayed key's reads can still fail the batch: see
``Database.run_pg_write`` and ``record.record_requests``.)
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from app.db import Database
from app.observability.requests import current_request_id
from app.recording.store import Store

log = logging.getLogger(__name__)

LOCK_PATIENCE = 30.0  # seconds a batch waits for another writer before its requests get a 503
# PostgreSQL: how much longer than the server's statement timeout a request waits for its batch (the
# server answers first when it can).
PAST_STATEMENT_TIMEOUT = 2.0


def latest_commit(statement_timeout: float) -> float:
    """Seconds after a request arrived by which its enquiry is committed, if it ever is. On PostgreSQL
    its batch starts within the request's own wait (``statement_timeout`` + ``PAST_STATEMENT_TIMEOUT``;
    later, it is left out) and the server cancels the statement that records it after
    ``statement_timeout``; on SQLite a batch waits at most ``LOCK_PATIENCE`` for another process's write
    lock, then takes a millisecond or two. What is counted up to a moment is complete this long after it."""
    return max(2 * statement_timeout + PAST_STATEMENT_TIMEOUT, LOCK_PATIENCE)


T = TypeVar("T")
R = TypeVar("R")

Handler = Callable[[Store, Sequence[T]], Sequence[R | Exception]]
# A request waiting for its batch: its item, its outcome to come, and its request id (None outside a request).
Waiting = tuple[T, asyncio.Future[R], str | None]
# How many of a failed batch's request ids its log line lists (a batch holds up to max_batch).
LOGGED_IDS = 50
# While the database stays silent every write is refused at once: one line per this many seconds, with
# how many were refused since the last, tells the operator without a line per request flooding the log.
REFUSALS_LOGGED_EVERY = 10.0


class LockBusy(Exception):
    """SQLite's write lock is held by someone else right now."""


class GroupCommitWriter(Generic[T, R]):
    def __init__(
        self,
        db: Database,
        handler: Handler[T, R],
        *,
        max_batch: int = 256,
        name: str = "writer",
        on_failure: Callable[[Exception], Exception] = lambda exc: exc,
        on_committed: Callable[[Sequence[T], Sequence[R | Exception]], None] = lambda items, results: None,
        timeout: float = 10.0,
        lanes: int = 2,
    ) -> None:
        self._db = db
        self._handler = handler
        self._max_batch = max_batch
        self._name = name
        self._on_failure = on_failure
        # Called by the writer once a batch committed, not where each request hears back: a request that
        # gave up waiting (503) may still have been committed, and what was committed is what counts.
        self._on_committed = on_committed
        self._pending: list[Waiting[T, R]] = []
        self._scheduled = False
        self._busy_since: float | None = None
        self._timeout = timeout
        # PostgreSQL: a batch is a task awaiting the server; SQLite: a call (see the module's docstring).
        self._awaits_server = not db.is_sqlite
        self._lanes = lanes
        self._committed_at: float | None = None  # when the last PostgreSQL batch committed (monotonic)
        # PostgreSQL: lane -> (the batch's task, when it started, monotonic), at most one batch per lane.
        self._in_flight: dict[int, tuple[asyncio.Future[list[R | Exception]], float]] = {}
        # What /readyz reports: when a batch last committed, when one last failed, and why.
        self.last_success: float | None = None
        self.last_failure: float | None = None
        self.last_error: str | None = None
        self._refused = 0  # requests refused at once since the last line saying so
        self._refusal_logged_at: float | None = None

    async def submit(self, item: T) -> R:
        """Record ``item``; returns its result once committed, or raises its error."""
        loop = asyncio.get_running_loop()
        if self._awaits_server and self._stuck(loop):
            self._log_refusal()
            raise self._on_failure(TimeoutError(f"{self._name}: a batch has been waiting for the database"))
        future: asyncio.Future[R] = loop.create_future()
        # The id is read here, where the request's context is (the flush runs in one of its own), so a
        # failed batch's line can name its requests: one context variable read, nothing more.
        self._pending.append((item, future, current_request_id()))
        if not self._scheduled:
            self._scheduled = True
            # After the callbacks already ready: requests that arrived together flush together.
            # In a context of its own: the batch is everyone's, so its log lines carry no one request's id.
            loop.call_soon(self._flush, context=contextvars.Context())
        if not self._awaits_server:
            return await future
        deadline = loop.call_later(self._timeout, self._expire, future)
        try:
            return await future
        finally:
            deadline.cancel()

    def _stuck(self, loop: asyncio.AbstractEventLoop) -> bool:
        for lane, (running, _) in list(self._in_flight.items()):
            if running.get_loop() is not loop:
                # In flight on an event loop that has ended: it can never finish. Production runs one
                # loop per process; tests run one per request at times, and a stalled batch may outlive
                # its. (Every flush comes after a submit on the loop it runs on: this is the one place.)
                del self._in_flight[lane]
        now = time.monotonic()
        stuck_since = [since for _, since in self._in_flight.values() if now - since > self._timeout]
        if not stuck_since:
            return False
        # A batch stuck while others commit (behind one launch's locked row, say) says nothing about
        # the database: the other lane serves everyone else. Stuck with nothing committed since it
        # began, the database is not answering: refuse at once rather than queue for the same wait.
        return self._committed_at is None or self._committed_at < min(stuck_since)

    def _log_refusal(self) -> None:
        self._refused += 1
        now = time.monotonic()
        if self._refusal_logged_at is not None and now - self._refusal_logged_at < REFUSALS_LOGGED_EVERY:
            return
        # In the refused request's context: the line carries its id, one of those the users were given.
        log.warning(
            "%s: a batch has waited over %g s for the database with nothing committed since: new requests "
            "are answered at once that nothing was recorded (%d since the last such line)",
            self._name,
            self._timeout,
            self._refused,
        )
        self._refusal_logged_at, self._refused = now, 0

    def _expire(self, future: asyncio.Future[R]) -> None:
        if not future.done():
            self.last_failure = time.monotonic()
            self.last_error = "TimeoutError"
            # Run in the request's own context (call_later copied it): the line carries its request id.
            log.warning(
                "%s: no answer from the database in %g s: answered that nothing was recorded", self._name, self._timeout
            )
            future.set_exception(
                self._on_failure(TimeoutError(f"{self._name}: no answer from the database in {self._timeout:g} s"))
            )

    @property
    def failing(self) -> bool:
        """Whether the last batch that ended, ended in failure."""
        return self.last_failure is not None and (self.last_success is None or self.last_failure > self.last_success)

    def close(self) -> None:
        """Stop the PostgreSQL batches in flight: their requests hear that nothing was recorded."""
        for running, _ in list(self._in_flight.values()):
            running.cancel()

    # --- flushing ------------------------------------------------------------------------

    def _flush(self) -> None:
        self._scheduled = False
        if self._awaits_server:
            self._flush_awaiting()
            return
        batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
        batch = [waiting for waiting in batch if not waiting[1].done()]
        if batch:
            try:
                self._settle(batch, self._run(batch))
                self._busy_since = None
                self.last_success = time.monotonic()
            except LockBusy:
                self._wait_for_lock(batch)
                return
            except Exception as exc:  # noqa: BLE001 - every waiting request must hear about it
                self._busy_since = None
                self._fail(batch, exc)
        if self._pending and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush_awaiting(self) -> None:
        """PostgreSQL: start the next batch as a task on a free lane, unless every lane has one in
        flight already (the end of one flushes again)."""
        while len(self._in_flight) < self._lanes:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            batch = [waiting for waiting in batch if not waiting[1].done()]
            if not batch:
                return
            lane = min(set(range(self._lanes)) - self._in_flight.keys())
            items = [item for item, _, _ in batch]
            running = asyncio.ensure_future(self._db.run_pg_write(self._record, items, False, lane=lane))
            started = time.monotonic()
            self._in_flight[lane] = (running, started)
            running.add_done_callback(functools.partial(self._finished, lane, batch, started))

    def _finished(
        self,
        lane: int,
        batch: list[Waiting[T, R]],
        started: float,
        done: asyncio.Future[list[R | Exception]],
    ) -> None:
        # The lane may already hold a newer batch: this one ran on an event loop that has ended, and
        # _stuck gave its lane away. Only the lane's own batch frees it.
        if lane in self._in_flight and self._in_flight[lane][0] is done:
            del self._in_flight[lane]
        if done.cancelled():
            self._fail(batch, RuntimeError(f"{self._name}: stopped"))
        elif (exc := done.exception()) is not None:
            self._fail(batch, exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
        else:
            self._settle(batch, done.result())
            self._committed_at = time.monotonic()
            # A batch that began before the last failure says nothing about writes since (readiness).
            if self.last_failure is None or started > self.last_failure:
                self.last_success = self._committed_at
        self._pending = [waiting for waiting in self._pending if not waiting[1].done()]
        if self._pending and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _wait_for_lock(self, batch: list[Waiting[T, R]]) -> None:
        """Another process is writing (SQLite). Try again shortly, with whatever else came in.

        Polling on the loop rather than blocking in a thread: the lock is held
        for a millisecond or two, and SQLite's own wait sleeps longer than that."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._busy_since is None:
            self._busy_since = now
        waited = now - self._busy_since
        if waited > LOCK_PATIENCE:
            self._busy_since = None
            self._fail(batch, TimeoutError(f"the database stayed locked for {waited:.0f} s"))
            if self._pending:  # those that came in meanwhile get their own chance
                self._scheduled = True
                loop.call_soon(self._flush)
            return
        self._pending[:0] = batch  # first in line, in order
        self._scheduled = True
        # The lock is usually held for a millisecond or two: look again soon, then less often.
        loop.call_later(0.0005 if waited < 0.05 else 0.01, self._flush)

    def _run(self, batch: list[Waiting[T, R]]) -> list[R | Exception]:
        """SQLite: the batch in one transaction, on the loop; LockBusy when another process writes."""
        items = [item for item, _, _ in batch]
        with self._db.try_write() as cursor:
            if cursor is None:
                raise LockBusy
            results = self._handled(Store(cursor, sqlite=True), items)
        # After the COMMIT, which can fail on its own (a full disk, an I/O error).
        self._on_committed(items, results)
        return results

    def _record(self, cursor: Any, items: list[T], sqlite: bool) -> list[R | Exception]:
        """PostgreSQL: the batch on the writer's connection, whose statements commit as they go."""
        results = self._handled(Store(cursor, sqlite=sqlite), items)
        self._on_committed(items, results)
        return results

    def _handled(self, store: Store, items: list[T]) -> list[R | Exception]:
        results = list(self._handler(store, items))
        if len(results) != len(items):
            raise RuntimeError(f"{self._name}: handler returned {len(results)} results for {len(items)} items")
        return results

    def _settle(self, batch: list[Waiting[T, R]], results: list[R | Exception]) -> None:
        here = _running_loop()  # once a batch: Python 3.11 asks the kernel for the process id each time
        for (_, future, _), result in zip(batch, results, strict=True):
            _resolve(future, result, here)

    def _fail(self, batch: list[Waiting[T, R]], exc: Exception) -> None:
        self.last_failure = time.monotonic()
        self.last_error = exc.__class__.__name__
        # With its requests' ids: a user who got the 503 quotes one, and this is the line it must find.
        ids = [rid for _, _, rid in batch if rid is not None]
        more = f" and {len(ids) - LOGGED_IDS} more" if len(ids) > LOGGED_IDS else ""
        log.error(
            "%s: a batch of %d failed and was rolled back (request ids: %s%s)",
            self._name,
            len(batch),
            ", ".join(ids[:LOGGED_IDS]) or "none",
            more,
            exc_info=exc,
        )
        error = self._on_failure(exc)
        here = _running_loop()
        for _, future, _ in batch:
            _resolve(future, error, here)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _resolve(future: asyncio.Future[Any], result: Any, here: asyncio.AbstractEventLoop | None) -> None:
    """Set a request's outcome, on its own loop (one per process in production; tests may run several);
    ``here``: the loop this runs on, if any."""
    loop = future.get_loop()
    if loop is not here:
        loop.call_soon_threadsafe(_resolve, future, result, loop)
        return
    if future.done():  # the client went away; the enquiry is recorded all the same
        return
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)


__all__: Any = ["GroupCommitWriter", "LockBusy"]
