"""Posting a claimed message (a digest, a spike alert) with bounded retries: shared by both.

Each is claimed in the database before it is sent (its row's unique key: a
digest's slot key, an alert's claim key) and delivered the same way:

* up to ``ATTEMPTS_PER_PASS`` attempts in a pass, ``PAUSES`` apart (a
  Retry-After instead, when Slack asks for one no longer than they are; a longer
  one ends the pass, and ``next_pass`` waits at least that long);
* after a failure that may have posted (a dropped connection, a 5xx) the
  channel is searched for the key before posting again (a webhook cannot
  search: the pass ends there, for a person to look);
* a permanent error ends it at once; otherwise a later pass tries again after
  ``next_pass`` (2, 4, 8, 16, then 30 minutes), ``MAX_PASSES`` passes in all;
* a claim older than ``STALE_CLAIM`` belongs to a process that died.

The callers record the outcome on their own rows, in their own words.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlmodel import SQLModel

from app.db import Database
from app.errors import NotFound
from app.models import DigestStatus
from app.slack.client import Posted, Sender, SlackError

log = logging.getLogger(__name__)

STALE_CLAIM = dt.timedelta(minutes=10)  # a claim this old belongs to a process that died
ATTEMPTS_PER_PASS = 3
PAUSES = (2.0, 8.0)  # seconds between attempts within one pass
# The longest Retry-After waited out within a pass. The scheduler posts one message after another under
# one lock: a channel's rate limit of a minute, waited out there, held up every other launch's digest
# and the spike alerts for minutes, and they went out marked late. Longer: the pass ends (next_pass).
LONGEST_RATE_LIMIT_PAUSE = max(PAUSES)
MAX_PASSES = 12  # then a person has to act

Sleep = Callable[[float], None]


Row = TypeVar("Row", bound=SQLModel)


def take_over(db: Database, model: type[Row], row: Any, *, expect: DigestStatus, now: dt.datetime) -> Row | None:
    """Claim an existing row (a digest run, an alert) with a conditional update: exactly one process wins.

    The row must still be in ``expect``; a pending one must still carry the claim that was seen."""
    table: Any = model.__table__  # type: ignore[attr-defined]
    conditions = [table.c.id == row.id, table.c.status == expect.value]
    if expect == DigestStatus.PENDING:
        conditions.append(table.c.claimed_at == row.claimed_at)
    with db.transaction() as session:
        result = session.execute(
            sa.update(table)
            .where(*conditions)
            .values(status=DigestStatus.PENDING.value, claimed_by=worker_name(), claimed_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return session.get(model, row.id)


def save(db: Database, model: type[Row], row: Any, **changes: object) -> Row:
    """Record changes on a claimed row, in a transaction of its own."""
    with db.transaction() as session:
        stored = session.get(model, row.id)
        if stored is None:
            raise NotFound(f"{model.__name__} {row.id} is gone.")
        for name, value in changes.items():
            setattr(stored, name, value)
        session.add(stored)
    return stored


def worker_name() -> str:
    """Who claimed a row: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


@dataclass(frozen=True)
class Pass:
    """What one pass came to: ``posted`` once it is in Slack, ``lost`` when another process took the
    claim over (nothing more to do here), else the last ``error``. ``attempts`` counts every try so
    far, earlier passes' included. ``maybe_posted``: a try that failed may be in Slack all the same,
    and no look in the channel since has found it missing."""

    attempts: int
    posted: Posted | None = None
    error: SlackError | None = None
    lost: bool = False
    maybe_posted: bool = False


def post_with_retries(
    sender: Sender,
    *,
    channel: str,
    key: str,
    text: str,
    blocks: list[dict[str, Any]],
    claimed_since: dt.datetime,
    attempts: int,
    check_first: bool,
    sleep: Sleep,
    keep_claim: Callable[[], bool],
    max_pause: float = math.inf,
    maybe_posted: bool = False,
) -> Pass:
    """One pass: post (or find it already posted) with up to ``ATTEMPTS_PER_PASS`` tries, each after
    ``keep_claim`` (``Claim.keep``) says the claim is still this process's. A pause longer than
    ``max_pause`` ends the pass instead (a person waiting on a page: a later pass tries again).
    ``maybe_posted``: an earlier pass's try may be in Slack (``Pass.maybe_posted``)."""
    error: SlackError | None = None
    for attempt in range(ATTEMPTS_PER_PASS):
        if not keep_claim():
            return Pass(attempts, lost=True, maybe_posted=maybe_posted)
        # Every try counts, a look in the channel too: when Slack cannot be reached even to
        # look, the passes must still add up to MAX_PASSES (and the pauses grow).
        attempts += 1
        posting = False
        try:
            posted = None
            if check_first:
                posted = sender.find_posted(channel=channel, slot_key=key, oldest=claimed_since.timestamp() - 60)
                if posted is not None:
                    log.info("%s was already in Slack; not posting it again", key)
                else:
                    maybe_posted = False  # not in the channel: no earlier try reached it
            if posted is None:
                posting = True
                posted = sender.post(channel=channel, text=text, blocks=blocks, slot_key=key)
        except SlackError as exc:
            error = exc
            # A look that failed leaves it as it was: whether an earlier try is in Slack is still unknown.
            maybe_posted = maybe_posted or (posting and exc.maybe_posted)
            if exc.permanent:
                break
            if exc.maybe_posted and not sender.can_check_channel:
                # A webhook cannot look: the pass ends, and the caller says why it may be there (a 5xx
                # is no dropped connection, as the webhook's find_posted would have put it).
                break
            check_first = check_first or exc.maybe_posted
            if exc.retry_after is not None and exc.retry_after > LONGEST_RATE_LIMIT_PAUSE:
                break  # Slack asks for a long pause: leave it to a later pass, do not block the scheduler
            if attempt + 1 < ATTEMPTS_PER_PASS:
                pause = exc.retry_after if exc.retry_after is not None else PAUSES[min(attempt, len(PAUSES) - 1)]
                if pause > max_pause:
                    break
                sleep(pause)
            continue
        return Pass(attempts, posted=posted)
    return Pass(attempts, error=error, maybe_posted=maybe_posted)


class Claim(Generic[Row]):
    """The claimed row as this process last renewed it: ``keep`` is ``post_with_retries``'s keep_claim."""

    def __init__(self, db: Database, model: type[Row], row: Row, clock: Callable[[], dt.datetime]) -> None:
        self._db, self._model, self.row, self._clock = db, model, row, clock

    def keep(self) -> bool:
        """Renew the claim before an attempt to post, so a pass that runs long (Slack slow, rate limits,
        many launches due at once) is never taken for a dead process's: a take-over of its own row, on
        the claim it holds. False when another process has taken it over meanwhile: theirs to post."""
        renewed = take_over(self._db, self._model, self.row, expect=DigestStatus.PENDING, now=self._clock())
        if renewed is None:
            return False
        self.row = renewed
        return True

    def as_stored(self) -> Row:
        """The row as it is now, in the hands of whichever process holds it."""
        with self._db.session() as session:
            return session.get(self._model, self.row.id) or self.row  # type: ignore[attr-defined]


def next_pass(error: SlackError, *, attempts_before: int) -> dt.timedelta | None:
    """How long to wait for the next pass after this one failed (which began after
    ``attempts_before`` attempts), or None when it is time to give up."""
    passes = attempts_before // ATTEMPTS_PER_PASS + 1
    if passes >= MAX_PASSES:
        return None
    pause = dt.timedelta(minutes=min(2**passes, 30))
    if error.retry_after is not None:
        pause = max(pause, dt.timedelta(seconds=error.retry_after))
    return pause
