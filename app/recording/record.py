"""Recording enquiries: checked and written exactly once per idempotency key.

``record_requests`` is what the group-commit writer runs for a batch of
requests from the checklist and the API; ``insert_many`` is how everything
else (the demo, the CSV import, test factories) writes enquiries. Both end in
``insert_with`` on the SQL store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.errors import Conflict, Forbidden, Invalid, NotFound, TallyError, Unauthenticated, Unavailable
from app.launches import SLUG_PATTERN, local_date
from app.models import EnquirySource, HypothesisStatus, LaunchStatus
from app.recording.credentials import wanted_credentials
from app.recording.requests import EnquiryRequest
from app.recording.store import HypothesisRow, LaunchRow, Store, StoredEnquiry
from app.tallies.cache import CLOSED_AFTER

MAX_IDEMPOTENCY_KEY = 64
# A token's last use is kept to this: touching last_used_at on every request would make every API call a write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)
_SLUG = re.compile(SLUG_PATTERN)

log = logging.getLogger(__name__)


def new_key() -> str:
    return uuid.uuid4().hex


# The records a tick passes through (this one, Recorded, Logged; EnquiryRequest and Credential in
# requests.py) are made once per enquiry on the hot path, so they are slotted dataclasses, not frozen
# ones: a frozen dataclass sets each field through object.__setattr__ (2.1 against 0.6 µs for an
# 11-field one). Unfrozen, the app ran 6.7 % fewer instructions per enquiry (bench/cpu_per_enquiry.py
# --instructions, 4 December: 614,357 → 573,217). Nothing changes them after they are made.
@dataclass(slots=True)
class NewEnquiry:
    launch_id: int
    channel: str
    created_at: dt.datetime
    hypothesis_ids: tuple[int, ...] = ()
    segment: str | None = None
    note: str | None = None
    agent_id: int | None = None
    token_id: int | None = None
    source: EnquirySource = EnquirySource.CHECKLIST
    recorded_at: dt.datetime | None = None  # None: when it happened (created_at)
    # Every enquiry has a key: the client's, or one made here. That is what
    # lets a batch insert tell which rows it created and which already existed.
    idempotency_key: str = field(default_factory=new_key)


@dataclass(slots=True)
class Recorded:
    id: int
    created: bool  # False: the key was seen before and this is the earlier enquiry


def insert_many(connection: sa.Connection, items: Sequence[NewEnquiry]) -> list[Recorded]:
    """Insert enquiries and their hypothesis links; one result per item, in order.

    An item whose (launch, idempotency key) exists already, in the database or
    earlier in ``items``, is not inserted again: its result is the existing id.
    """
    if not items:
        return []
    store = Store.of(connection)
    recorded = [_found(outcome, item) for outcome, item in zip(insert_with(store, items), items, strict=True)]
    # These callers (the demo, the import, test factories) set created_at themselves and may
    # write into days whose counts were already kept: every cache of those days goes stale.
    changed: dict[int, set[dt.datetime]] = {}
    for item, outcome in zip(items, recorded, strict=True):
        if outcome.created:
            changed.setdefault(item.launch_id, set()).add(item.created_at)
    # Launch rows updated in id order, as the writer's batches do: two at once never wait on each other.
    for launch_id, moments in sorted(changed.items(), key=lambda entry: entry[0]):
        tz = ZoneInfo(store.launch_timezone(launch_id))
        store.bump_counts_version(launch_id, {local_date(moment, tz) for moment in moments})
    return recorded


def _found(outcome: Recorded | None, item: NewEnquiry) -> Recorded:
    if outcome is None:
        raise LookupError(f"enquiry with idempotency key {item.idempotency_key!r} vanished while it was being recorded")
    return outcome


def insert_with(store: Store, items: Sequence[NewEnquiry]) -> list[Recorded | None]:
    """``insert_many`` on a store the caller set up (the group-commit writer's own connection); None
    for an item whose key was taken when it was inserted and gone when looked up: an undo racing a
    retry, or the key of an enquiry undone before (``Store.insert_enquiries`` skips those)."""
    created = insert_new(store, items)
    new = first_uses(items, created)
    existing = look_up_keys(store, [_key(item) for item, is_new in zip(items, new, strict=True) if not is_new])
    results: list[Recorded | None] = []
    for item, is_new in zip(items, new, strict=True):
        enquiry_id = created.get(k := _key(item)) or existing.get(k)
        results.append(None if enquiry_id is None else Recorded(enquiry_id, is_new))
    return results


def _key(item: NewEnquiry) -> tuple[int, str]:
    return item.launch_id, item.idempotency_key


def insert_new(store: Store, items: Sequence[NewEnquiry]) -> dict[tuple[int, str], int]:
    """Insert the enquiries of ``items`` whose keys are new (each key once), with their links;
    (launch id, key) -> id of each created."""
    unique: dict[tuple[int, str], NewEnquiry] = {}
    for item in items:
        unique.setdefault(_key(item), item)
    return store.insert_enquiries(
        [
            store.enquiry_row(
                launch_id=item.launch_id,
                channel=item.channel,
                segment=item.segment,
                agent_id=item.agent_id,
                token_id=item.token_id,
                created_at=item.created_at,
                note=item.note,
                is_other=not item.hypothesis_ids,
                idempotency_key=item.idempotency_key,
                recorded_at=item.recorded_at or item.created_at,
                source=item.source.value,
            )
            for item in unique.values()
        ],
        {k: tuple(dict.fromkeys(item.hypothesis_ids)) for k, item in unique.items() if item.hypothesis_ids},
    )


def first_uses(items: Sequence[NewEnquiry], created: dict[tuple[int, str], int]) -> list[bool]:
    """Whether each item made its enquiry: the first with a key that ``insert_new`` created."""
    seen: set[tuple[int, str]] = set()
    new = []
    for item in items:
        k = _key(item)
        new.append(k in created and k not in seen)
        seen.add(k)
    return new


def look_up_keys(store: Store, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The enquiries that (launch id, key) pairs name already. One missing was deleted after the insert
    found its key taken (an undo racing a retry), or its enquiry was undone before."""
    found: dict[tuple[int, str], int] = {}
    for launch_id in sorted({launch_id for launch_id, _ in keys}):
        named = store.existing(launch_id, sorted({key for lid, key in keys if lid == launch_id}))
        found.update(((launch_id, key), enquiry_id) for key, enquiry_id in named.items())
    return found


CLOCK_SKEW = dt.timedelta(seconds=60)
# How long a checklist tick may have waited in the browser's queue and still count when it was ticked
# (a night's outage, a shift's next morning). Backdating further is a backfill: an API token's, or
# `tally enquiries import`'s, not any signed-in agent's.
TICK_WAIT_LIMIT = dt.timedelta(hours=24)
BACKFILL_MARGIN = dt.timedelta(minutes=5)  # see _bump_for_past_days


@dataclass(slots=True)
class Logged:
    id: int
    created: bool
    slug: str
    hypothesis_keys: tuple[str, ...]
    created_at: dt.datetime


def _check(
    request: EnquiryRequest, launch: LaunchRow | None, hypotheses: dict[str, HypothesisRow]
) -> tuple[int, tuple[int, ...]]:
    """The launch id and hypothesis ids for a request, or the error that tells the caller what to fix."""
    if launch is None:
        raise NotFound(
            f"No launch with slug {request.slug!r}. GET /api/v1/launches lists the live ones.", code="unknown_launch"
        )
    if launch.status != LaunchStatus.LIVE:
        state = "is closed" if launch.status == LaunchStatus.CLOSED else "is not live yet"
        raise Conflict(
            f"Launch {request.slug!r} {state}: enquiries can only be logged on a live launch.", code="launch_not_live"
        )
    start, end = launch.window
    if request.occurred_at is not None and request.credential.kind != "token":
        # A tick that waited: the browser's clock, corrected by the server's when the page loaded, may
        # have drifted since, so one ahead counts as now (``_created_at``) instead of being refused.
        if request.occurred_at < request.received_at - TICK_WAIT_LIMIT or not start <= request.occurred_at < end:
            raise Invalid(
                f"occurred_at {request.occurred_at.isoformat()} is outside the allowed range for a tick: within "
                f"{TICK_WAIT_LIMIT.total_seconds() / 3600:g} hours before it arrived, and inside the launch's "
                f"dates ({start.isoformat()} to {end.isoformat()}). Log it again now, or ask a lead to import it.",
                field="occurred_at",
                code="occurred_at_out_of_range",
            )
    elif request.occurred_at is not None:
        latest = min(end, request.received_at + CLOCK_SKEW)
        if not start <= request.occurred_at < latest:
            last = "now" if latest < end else f"the launch's end ({end.isoformat()})"
            raise Invalid(
                f"occurred_at {request.occurred_at.isoformat()} is outside the allowed range: from the launch's "
                f"start ({start.isoformat()}, {launch.starts_on} local time) up to {last}; an enquiry cannot be "
                "logged before its launch began or in the future.",
                field="occurred_at",
                code="occurred_at_out_of_range",
            )
    elif not start <= request.received_at < end:
        # Counted nowhere otherwise: tallies and digests cover the launch's days only.
        raise Conflict(
            f"Launch {request.slug!r} runs from {launch.starts_on} to {launch.ends_on}: a lead can change its "
            "dates to log enquiries outside them.",
            code="outside_window",
        )
    if request.channel not in launch.channels:
        raise Invalid(
            f"Unknown channel {request.channel!r} for launch {request.slug!r}; it offers {', '.join(launch.channels)}.",
            field="channel",
            code="unknown_channel",
        )
    if request.segment is not None and request.segment not in launch.segments:
        raise Invalid(
            f"Unknown segment {request.segment!r} for launch {request.slug!r}; it offers {', '.join(launch.segments)}.",
            field="segment",
            code="unknown_segment",
        )
    ids: list[int] = []
    for index, key in enumerate(request.hypothesis_keys):
        hypothesis = hypotheses.get(key)
        if hypothesis is None:
            raise Invalid(
                f"Unknown hypothesis key {key!r} for launch {request.slug!r}. GET /api/v1/launches lists the keys.",
                field=f"hypotheses[{index}]",
                code="unknown_hypothesis",
            )
        if hypothesis.status == HypothesisStatus.RETIRED:
            raise Invalid(
                f"Hypothesis {key!r} was retired from launch {request.slug!r}; log the enquiry as other instead.",
                field=f"hypotheses[{index}]",
                code="retired_hypothesis",
            )
        ids.append(hypothesis.id)
    return launch.id, tuple(dict.fromkeys(ids))


class TokenUses:
    """When this process last marked each API token used.

    A token's ``last_used_at`` is kept to ``LAST_USED_RESOLUTION``: the
    UPDATE that marks it changes nothing while it is more recent than that. Once this
    process has marked a token, it knows so for that long and leaves the statement out:
    one statement fewer in nearly every batch of API posts (on PostgreSQL, a round trip).
    Marked as the UPDATE is sent: where the batch's transaction then fails (SQLite), the
    token's mark can lag by one resolution more, which only an admin's list of tokens shows."""

    def __init__(self, max_tokens: int = 10_000) -> None:
        self._max_tokens = max_tokens
        self._marked: dict[int, dt.datetime] = {}

    def due(self, token_ids: Sequence[int], now: dt.datetime) -> list[int]:
        """Those of ``token_ids`` this process has not marked within the resolution (or whose mark is
        in the future: the clock went back)."""
        fresh_after = now - LAST_USED_RESOLUTION
        return [t for t in token_ids if not (fresh_after < self._marked.get(t, fresh_after) <= now)]

    def mark(self, token_ids: Sequence[int], now: dt.datetime) -> None:
        if len(self._marked) + len(token_ids) > self._max_tokens:
            self._marked.clear()
        self._marked.update(dict.fromkeys(token_ids, now))


def record_requests(
    store: Store,
    requests: Sequence[EnquiryRequest],
    *,
    now: dt.datetime,
    token_uses: TokenUses | None = None,
) -> list[Logged | TallyError]:
    """Check and record a batch of requests on the writer's store (see ``Store.atomic`` for what
    commits together).

    One result per request, in order: the logged enquiry, or the error that
    refused it. A refused request never stops the others in the batch, and once
    the enquiries are inserted nothing can fail the ones that are new.
    ``token_uses``: what this process marked already (``TokenUses``); without it every token is marked."""
    # A slug that cannot be a launch's is never looked up: PostgreSQL refuses text with a NUL in it,
    # and that would fail the whole batch, everyone else's enquiries included.
    slugs = sorted({r.slug for r in requests if _SLUG.fullmatch(r.slug)})
    context = store.batch_context(wanted_credentials(requests), slugs, now)
    credentials, launches, by_launch = context.credentials, context.launches, context.hypotheses

    results: list[Logged | TallyError | None] = []
    accepted: list[tuple[int, EnquiryRequest, NewEnquiry]] = []
    # Refused, from a known sender for a known launch, with a key: perhaps a retry of an enquiry
    # recorded before the launch closed or a hypothesis was retired (looked up below).
    refused: list[tuple[int, EnquiryRequest, int, str]] = []
    used_tokens: set[int] = set()
    backdated: dict[int, tuple[LaunchRow, list[NewEnquiry]]] = {}
    for request in requests:
        launch = None
        try:
            agent_id = token_id = None
            credential = request.credential
            found = credentials.get((credential.kind, credential.value))
            if credential.kind == "token":
                if found is None:
                    raise Unauthenticated(
                        "The API token is wrong or was revoked: ask an admin for a new one.", code="bad_token"
                    )
                token_id = found
                used_tokens.add(found)
            elif found is None and credential.kind == "trusted_user":
                # Signing in again cannot help: the proxy vouches for someone Launch Tally does not let in.
                raise Forbidden(
                    f"Launch Tally has no active user {credential.value!r}: ask an admin.", code="unknown_user"
                )
            elif found is None:
                raise Unauthenticated("Your session has ended: sign in again.", code="signed_out")
            else:
                agent_id = found
            launch = launches.get(request.slug)
            launch_id, hypothesis_ids = _check(request, launch, by_launch.get(launch.id, {}) if launch else {})
        except TallyError as error:
            if launch is not None and request.idempotency_key:
                key = scoped_key(request.idempotency_key, token_id=token_id, agent_id=agent_id)
                refused.append((len(results), request, launch.id, key))
            results.append(error)
            continue
        item = NewEnquiry(
            launch_id=launch_id,
            channel=request.channel,
            segment=request.segment,
            note=request.note,
            hypothesis_ids=hypothesis_ids,
            agent_id=agent_id,
            token_id=token_id,
            created_at=_created_at(request),
            recorded_at=request.received_at,
            source=EnquirySource.API if token_id is not None else EnquirySource.CHECKLIST,
            idempotency_key=(
                scoped_key(request.idempotency_key, token_id=token_id, agent_id=agent_id)
                if request.idempotency_key
                else new_key()
            ),
        )
        if request.occurred_at is not None and launch is not None:
            backdated.setdefault(launch_id, (launch, []))[1].append(item)
        accepted.append((len(results), request, item))
        results.append(None)
    # In key order, not arrival order (a stable sort: a key twice in the batch keeps its first): two
    # batches in flight at once (the writer's two lanes, or two workers) that share keys then take the
    # unique index's entries in one order, so neither can hold one the other waits for while waiting
    # for one it holds: a deadlock, which PostgreSQL ends by failing one batch (503s for all of it).
    accepted.sort(key=lambda entry: (entry[2].launch_id, entry[2].idempotency_key))
    # Before the enquiries, so that nothing after them can fail a batch whose enquiries are recorded
    # (on PostgreSQL the insert commits on its own).
    due = sorted(used_tokens) if token_uses is None else token_uses.due(sorted(used_tokens), now)
    store.touch_tokens(due, now=now, stale_before=now - LAST_USED_RESOLUTION)
    if token_uses is not None:
        token_uses.mark(due, now)
    items = [item for _, _, item in accepted]
    if not backdated:
        created = insert_new(store, items)
    else:  # rare (an integration's occurred_at): the counts kept change with the enquiries, or neither does
        with store.atomic():
            created = insert_new(store, items)
            _bump_for_past_days(store, backdated, recorded=set(created))
    # What is new is known now. A repeated key is answered with the enquiry as first recorded, which
    # takes reads; if those fail, only the repeats hear it (nothing new was recorded for them): on
    # PostgreSQL the insert has committed, and the new enquiries must not be told otherwise.
    repeats: list[tuple[int, EnquiryRequest, NewEnquiry]] = []
    for (position, request, item), is_new in zip(accepted, first_uses(items, created), strict=True):
        if is_new:
            # The keys as recorded (each once, in order), as a repeat of the key is answered.
            keys = tuple(sorted(set(request.hypothesis_keys)))
            results[position] = Logged(created[_key(item)], True, request.slug, keys, item.created_at)
        else:
            repeats.append((position, request, item))
    try:
        _answer_repeats(store, repeats, created, refused, results)
    except Exception:  # whatever it is: the new enquiries are recorded, and must hear so
        log.exception("enquiry-writer: could not read the earlier enquiries of %d repeated keys", len(repeats))
        for position, _, _ in repeats:
            results[position] = Unavailable(
                "The enquiry sent earlier with this idempotency key could not be read just now (the server logged "
                "why). Nothing new was recorded: send it again with the same idempotency key."
            )
    return [r for r in results if r is not None]


def _created_at(request: EnquiryRequest) -> dt.datetime:
    """When the enquiry happened: ``occurred_at`` if given, but never later than it arrived (a client
    clock a little ahead, within ``CLOCK_SKEW``)."""
    return min(request.occurred_at, request.received_at) if request.occurred_at else request.received_at


def _answer_repeats(
    store: Store,
    repeats: Sequence[tuple[int, EnquiryRequest, NewEnquiry]],
    created: dict[tuple[int, str], int],
    refused: Sequence[tuple[int, EnquiryRequest, int, str]],
    results: list[Logged | TallyError | None],
) -> None:
    """Answer each repeated key with the enquiry as first recorded (or a conflict, if it came with another
    enquiry); and a refused request whose key was recorded before, when the same enquiry comes again, too:
    the launch may have closed, or a hypothesis been retired, since the first try was recorded."""
    earlier = look_up_keys(
        store,
        [_key(item) for _, _, item in repeats if _key(item) not in created]
        + [(launch_id, key) for _, _, launch_id, key in refused],
    )
    earlier.update(created)
    named = [earlier.get(_key(item)) for _, _, item in repeats]
    asked_again = [earlier.get((launch_id, key)) for _, _, launch_id, key in refused]
    stored = store.stored(sorted({enquiry_id for enquiry_id in named + asked_again if enquiry_id is not None}))
    for (position, request, item), enquiry_id in zip(repeats, named, strict=True):
        first = None if enquiry_id is None else stored.get(enquiry_id)
        if enquiry_id is None or first is None:
            results[position] = NotFound(
                "The enquiry sent earlier with this idempotency key was undone: nothing was recorded. "
                "To log it after all, send it with a new idempotency key.",
                code="unknown_enquiry",
            )
        elif (differences := _differences(first, request, item.created_at)) and not _moved_since(
            store, item.launch_id, enquiry_id, first, request, item.created_at
        ):
            results[position] = Conflict(
                f"{_key_named(request)} was used before for a different enquiry, logged at "
                f"{first.created_at.isoformat()}: {'; '.join(differences)}. Nothing was recorded: use a new key for "
                "a new enquiry, or send exactly the same body to retry.",
                field="idempotency_key",
                code="idempotency_key_reused",
            )
        else:
            results[position] = Logged(enquiry_id, False, request.slug, first.hypothesis_keys, first.created_at)
    for (position, request, launch_id, _), enquiry_id in zip(refused, asked_again, strict=True):
        if enquiry_id is None or (first := stored.get(enquiry_id)) is None:
            continue  # nothing recorded under its key: the refusal stands
        if _same_enquiry(first, request, _created_at(request)) or _moved_since(
            store, launch_id, enquiry_id, first, request, _created_at(request)
        ):
            results[position] = Logged(enquiry_id, False, request.slug, first.hypothesis_keys, first.created_at)


def _key_named(request: EnquiryRequest) -> str:
    """The request's idempotency key as the client sent it: in the body, or as the ``Idempotency-Key`` header
    (a value that is no key is kept as a digest of itself, which it never sent)."""
    if request.key_header is None:
        return f"Idempotency key {request.idempotency_key!r}"
    shown = request.key_header if len(request.key_header) <= 100 else request.key_header[:100] + "…"
    return f"Idempotency-Key header {shown!r}"


def scoped_key(key: str, *, token_id: int | None, agent_id: int | None) -> str:
    """The stored form of a client's idempotency key: a hash of the key and its sender.

    Scoped, so two integrations (or agents) that happen to use the same key never get each
    other's enquiry back; hashed, so a key cannot carry personal data into storage."""
    sender = f"t{token_id}" if token_id is not None else f"a{agent_id}"
    return hashlib.sha256(f"{sender}:{key}".encode()).hexdigest()


def _same_enquiry(stored: StoredEnquiry, request: EnquiryRequest, created_at: dt.datetime) -> bool:
    """Whether a repeated key comes with the same enquiry (a retry) rather than another one."""
    return not _differences(stored, request, created_at)


def _differences(stored: StoredEnquiry, request: EnquiryRequest, created_at: dt.datetime) -> list[str]:
    """How a repeated key's enquiry differs from the one stored under it, field by field; none: a retry.

    The time is compared only when the client gave it: a retry without it arrives later. One stored
    as the moment it arrived is matched by any time it could have had (``as_arrived``). A stored enquiry whose
    note was erased (retention, or a lead: app/retention.py) is not compared by its note: the client's retry,
    which still has it, is the same enquiry. One that never had a note is: a retry that adds one is another
    enquiry, whose note would otherwise be lost. A note is never quoted: told back, it would carry what the
    scrubber missed into the client's logs."""
    occurred_at, first = request.occurred_at, stored.created_at
    # Stored as the moment it arrived (``recorded_at``): its first try gave no time, or one a little
    # ahead of the server's clock. A retry that gives a time it could have had is the same enquiry: the
    # checklist sends a tick's time with every retry, and the first try, sent at once without it, may
    # have been recorded with its answer lost.
    as_arrived = (
        first == stored.recorded_at
        and occurred_at is not None
        and first - TICK_WAIT_LIMIT <= occurred_at <= first + CLOCK_SKEW
    )
    differences = []
    if stored.channel != request.channel:
        differences.append(f"channel: stored {stored.channel!r}, sent {request.channel!r}")
    if stored.segment != request.segment:
        differences.append(f"segment: stored {_named(stored.segment)}, sent {_named(request.segment)}")
    if not stored.note_erased and (stored.note or None) != (request.note or None):
        differences.append("the note differs")
    if set(stored.hypothesis_keys) != set(request.hypothesis_keys):
        differences.append(
            f"hypotheses: stored {_keys(stored.hypothesis_keys)}, sent {_keys(sorted(set(request.hypothesis_keys)))}"
        )
    if occurred_at is not None and first != created_at and not as_arrived:
        differences.append(f"occurred_at: stored {first.isoformat()}, sent {occurred_at.isoformat()}")
    return differences


def _named(value: str | None) -> str:
    return "none" if value is None else repr(value)


def _keys(keys: Sequence[str]) -> str:
    return ", ".join(keys) or "other"


def _moved_since(
    store: Store,
    launch_id: int,
    enquiry_id: int,
    stored: StoredEnquiry,
    request: EnquiryRequest,
    created_at: dt.datetime,
) -> bool:
    """Whether a retry sent as "other" is of an enquiry a lead has since moved onto a hypothesis (the Other
    page, or the API's relinks). It was refused as a reused key, and the advice to send it with a new key
    counted the call twice. A move takes only "other" enquiries, onto one hypothesis."""
    return (
        not request.hypothesis_keys
        and len(stored.hypothesis_keys) == 1
        and _same_enquiry(dataclasses.replace(stored, hypothesis_keys=()), request, created_at)
        and store.moved_from_other(launch_id, enquiry_id)
    )


def reaches_kept_counts(created_at: dt.datetime, recorded_at: dt.datetime) -> bool:
    """Whether an enquiry recorded at ``recorded_at`` that happened at ``created_at`` lies in a 15-minute
    slot that may have been counted and kept already (``_bump_for_past_days`` says why the margin)."""
    return created_at < recorded_at - CLOSED_AFTER + BACKFILL_MARGIN


def _bump_for_past_days(
    store: Store, backdated: dict[int, tuple[LaunchRow, list[NewEnquiry]]], *, recorded: set[tuple[int, str]]
) -> None:
    """A backfill into a 15-minute slot that may be counted and kept already (it ended ``CLOSED_AFTER``
    ago, app/tallies/cache.py) raises the launch's counts version. One from the last 25 minutes, an
    integration posting as the call ends, changes nothing kept. ``BACKFILL_MARGIN`` short of the half
    hour: a slot closes exactly then, and a replica whose clock is a little ahead, or a batch that
    commits a moment after its requests arrived, could keep the slot without the enquiry for good."""
    # Launch rows updated in id order: two batches at once never wait on each other (record_requests).
    for launch_id, (launch, items) in sorted(backdated.items(), key=lambda entry: entry[0]):
        tz = ZoneInfo(launch.timezone)
        days = {
            local_date(item.created_at, tz)
            for item in items
            if (launch_id, item.idempotency_key) in recorded
            and reaches_kept_counts(item.created_at, item.recorded_at or item.created_at)
        }
        if days:
            store.bump_counts_version(launch_id, days)
