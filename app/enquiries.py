"""The enquiry log: recording enquiries (exactly once per idempotency key) and undoing them.

``insert_many`` is the one way enquiries reach the database. It is plain
SQLAlchemy Core on a connection the caller holds in a write transaction, so the
same code serves a single request, a batch from the group-commit writer, and
the demo loader.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, Field, WithJsonSchema
from sqlmodel import Session, col, select

from app import api_tokens, audit, privacy
from app.enquiry_store import HypothesisRow, LaunchRow, Store, StoredEnquiry
from app.errors import Conflict, Forbidden, Invalid, NotFound, TallyError, Unauthenticated
from app.launches import local_date
from app.models import (
    ApiToken,
    Enquiry,
    EnquiryHypothesis,
    EnquirySource,
    Hypothesis,
    HypothesisStatus,
    Launch,
    LaunchStatus,
    User,
)
from app.tallies.cache import CLOSED_AFTER

MAX_IDEMPOTENCY_KEY = 64

_enquiry = Enquiry.__table__  # type: ignore[attr-defined]


def new_key() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    recorded = insert_with(store, items)
    # These callers (the demo, the import, test factories) set created_at themselves and may
    # write into days whose counts were already kept: every cache of those days goes stale.
    changed: dict[int, set[dt.datetime]] = {}
    for item, outcome in zip(items, recorded, strict=True):
        if outcome.created:
            changed.setdefault(item.launch_id, set()).add(item.created_at)
    for launch_id, moments in changed.items():
        tz = ZoneInfo(store.launch_timezone(launch_id))
        store.bump_counts_version(launch_id, {local_date(moment, tz) for moment in moments})
    return recorded


def insert_with(store: Store, items: Sequence[NewEnquiry]) -> list[Recorded]:
    """``insert_many`` on a store the caller set up (the group-commit writer's own connection)."""
    unique: dict[tuple[int, str], NewEnquiry] = {}
    for item in items:
        unique.setdefault((item.launch_id, item.idempotency_key), item)
    created = store.insert_enquiries(
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
        ]
    )
    store.insert_links(
        (created[k], hypothesis_id, item.launch_id, item.created_at, item.channel, item.segment)
        for k, item in unique.items()
        if k in created
        for hypothesis_id in dict.fromkeys(item.hypothesis_ids)
    )
    existing: dict[tuple[int, str], int] = {}
    missing = [k for k in unique if k not in created]
    for launch_id in {launch_id for launch_id, _ in missing}:
        found = store.existing(launch_id, [key for lid, key in missing if lid == launch_id])
        existing.update(((launch_id, key), enquiry_id) for key, enquiry_id in found.items())

    results: list[Recorded] = []
    first_use: set[tuple[int, str]] = set()
    for item in items:
        k = (item.launch_id, item.idempotency_key)
        if k in created and k not in first_use:
            first_use.add(k)
            results.append(Recorded(created[k], True))
        else:
            # Not in the table after ON CONFLICT DO NOTHING means another
            # transaction deleted it in between: an undo racing a retry.
            enquiry_id = created.get(k) or existing.get(k)
            if enquiry_id is None:
                raise LookupError(f"enquiry with idempotency key {k[1]!r} vanished while it was being recorded")
            results.append(Recorded(enquiry_id, False))
    return results


def delete(connection: sa.Connection, enquiry_id: int) -> bool:
    """Remove an enquiry and its links (ON DELETE CASCADE). True if it existed."""
    result = connection.execute(sa.delete(_enquiry).where(_enquiry.c.id == enquiry_id))
    return bool(result.rowcount)


# --- logging enquiries from the checklist and the API ------------------------------

UNDO_WINDOW = dt.timedelta(minutes=15)
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


@dataclass(frozen=True)
class Credential:
    """Who is asking: a browser session or an API token (by the hash of its
    secret), or a user name a single-sign-on proxy vouched for.

    Checked inside the transaction that records the enquiry, so a session
    signed out, a token revoked or a user disabled a moment ago is refused, on
    every replica."""

    kind: Literal["session", "token", "trusted_user"]
    value: str


@dataclass(frozen=True)
class EnquiryRequest:
    """An enquiry as asked for, before the database has checked it."""

    slug: str
    channel: str
    credential: Credential
    received_at: dt.datetime
    hypothesis_keys: tuple[str, ...] = ()
    segment: str | None = None
    note: str | None = None  # already scrubbed (privacy.clean_note)
    idempotency_key: str | None = None
    occurred_at: dt.datetime | None = None  # a backfill (API only): when it happened, if not now


class EnquiryIn(BaseModel):
    """An enquiry as the checklist and the API send it."""

    channel: str = Field(max_length=32, examples=["phone"])
    segment: str | None = Field(default=None, max_length=32, examples=["private"])
    hypotheses: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Hypothesis keys; none means 'other'.",
        examples=[["bankid-login-loop"]],
    )
    # The 500 limit is checked by privacy.clean_note, with a clearer message (note_too_long); 2000
    # only stops absurd input early. The schema states the limit that counts.
    note: Annotated[
        str | None,
        WithJsonSchema({"anyOf": [{"type": "string", "maxLength": 500}, {"type": "null"}]}),
    ] = Field(
        default=None, max_length=2000, description="Up to 500 characters; personal data is masked before storage."
    )
    idempotency_key: str | None = Field(
        default=None,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Your id for this enquiry: sending it again returns the same enquiry instead of a new one.",
    )

    def request(
        self, *, slug: str, credential: Credential, received_at: dt.datetime, occurred_at: dt.datetime | None = None
    ) -> EnquiryRequest:
        """What the writer records: the note scrubbed of personal data first."""
        if occurred_at is not None:
            try:
                occurred_at = occurred_at.astimezone(dt.UTC)
            except OverflowError:  # year 1 or 9999: no launch runs then
                raise Invalid(
                    f"occurred_at {occurred_at.isoformat()} is outside the allowed range: it must lie inside the "
                    "launch's dates and not in the future.",
                    field="occurred_at",
                    code="occurred_at_out_of_range",
                ) from None
        return EnquiryRequest(
            occurred_at=occurred_at,
            slug=slug,
            channel=self.channel,
            segment=self.segment,
            hypothesis_keys=tuple(self.hypotheses),
            note=privacy.clean_note(self.note),
            idempotency_key=self.idempotency_key,
            credential=credential,
            received_at=received_at,
        )


class ApiEnquiryIn(EnquiryIn):
    """An enquiry as an integration sends it: possibly after the fact."""

    occurred_at: AwareDatetime | None = Field(
        default=None,
        description="When the enquiry happened, ISO 8601 with offset, if not now (a telephony or CRM system "
        "posting after the call, or days ticked on paper). Inside the launch's dates and not in the future.",
        examples=["2026-11-18T09:42:00+01:00"],
    )


# An integration's clock may run a little ahead of ours: that is not "in the future".
CLOCK_SKEW = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Logged:
    id: int
    created: bool
    slug: str
    hypothesis_keys: tuple[str, ...]
    created_at: dt.datetime


def _credentials(store: Store, requests: Sequence[EnquiryRequest], now: dt.datetime) -> dict[tuple[str, str], int]:
    """(kind, value) -> the user id (sessions, trusted users) or token id of every valid credential."""
    wanted: dict[str, set[str]] = {"session": set(), "token": set(), "trusted_user": set()}
    for request in requests:
        wanted[request.credential.kind].add(request.credential.value)
    valid: dict[tuple[str, str], int] = {}
    valid.update((("session", v), i) for v, i in store.active_sessions(sorted(wanted["session"]), now).items())
    valid.update((("token", v), i) for v, i in store.active_tokens(sorted(wanted["token"])).items())
    valid.update((("trusted_user", v), i) for v, i in store.active_users(sorted(wanted["trusted_user"])).items())
    return valid


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
    if request.occurred_at is not None:
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


def record_requests(store: Store, requests: Sequence[EnquiryRequest], *, now: dt.datetime) -> list[Logged | TallyError]:
    """Check and record a batch of requests in the caller's write transaction.

    One result per request, in order: the logged enquiry, or the error that
    refused it. A refused request never stops the others in the batch."""
    credentials = _credentials(store, requests, now)
    launches = store.launches(sorted({r.slug for r in requests}))
    by_launch = store.hypotheses([launch.id for launch in launches.values()])

    results: list[Logged | TallyError | None] = []
    accepted: list[tuple[int, EnquiryRequest, NewEnquiry]] = []
    used_tokens: set[int] = set()
    backdated: dict[int, tuple[LaunchRow, list[NewEnquiry]]] = {}
    for request in requests:
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
            created_at=min(request.occurred_at, request.received_at) if request.occurred_at else request.received_at,
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
    recorded = insert_with(store, [item for _, _, item in accepted])
    if backdated:  # rare (an integration's occurred_at): nothing to work out on an ordinary batch
        _bump_for_past_days(
            store,
            backdated,
            recorded={
                (i.launch_id, i.idempotency_key) for (_, _, i), r in zip(accepted, recorded, strict=True) if r.created
            },
        )
    # A repeated idempotency key gets the enquiry as first recorded, not as asked the second time.
    stored = store.stored(sorted({outcome.id for outcome in recorded if not outcome.created}))
    for (position, request, item), outcome in zip(accepted, recorded, strict=True):
        if outcome.created:
            results[position] = Logged(outcome.id, True, request.slug, request.hypothesis_keys, item.created_at)
        elif not _same_enquiry(stored[outcome.id], item, request):
            results[position] = Conflict(
                f"Idempotency key {request.idempotency_key!r} was used before for a different enquiry "
                f"({_describe(stored[outcome.id])}). Nothing was recorded: use a new key for a new enquiry, "
                "or send exactly the same body to retry.",
                field="idempotency_key",
                code="idempotency_key_reused",
            )
        else:
            earlier = stored[outcome.id]
            results[position] = Logged(outcome.id, False, request.slug, earlier.hypothesis_keys, earlier.created_at)
    store.touch_tokens(sorted(used_tokens), now=now, stale_before=now - api_tokens.LAST_USED_RESOLUTION)
    return [r for r in results if r is not None]


def scoped_key(key: str, *, token_id: int | None, agent_id: int | None) -> str:
    """The stored form of a client's idempotency key: a hash of the key and its sender.

    Scoped, so two integrations (or agents) that happen to use the same key never get each
    other's enquiry back; hashed, so a key cannot carry personal data into storage."""
    sender = f"t{token_id}" if token_id is not None else f"a{agent_id}"
    return hashlib.sha256(f"{sender}:{key}".encode()).hexdigest()


def _same_enquiry(stored: StoredEnquiry, item: NewEnquiry, request: EnquiryRequest) -> bool:
    """Whether a repeated key comes with the same enquiry (a retry) rather than another one.
    The time is compared only when the client gave it: a retry without it arrives later."""
    return (
        stored.channel == item.channel
        and stored.segment == item.segment
        and (stored.note or None) == (item.note or None)
        and set(stored.hypothesis_keys) == set(request.hypothesis_keys)
        and (request.occurred_at is None or stored.created_at == item.created_at)
    )


def _describe(stored: StoredEnquiry) -> str:
    keys = ", ".join(stored.hypothesis_keys) or "other"
    return f"{keys} on {stored.channel}, logged at {stored.created_at.isoformat()}"


def _bump_for_past_days(
    store: Store, backdated: dict[int, tuple[LaunchRow, list[NewEnquiry]]], *, recorded: set[tuple[int, str]]
) -> None:
    """A backfill into an hour that may be counted and kept already (it ended ``CLOSED_AFTER``
    ago, app/tallies/cache.py) raises the launch's counts version. One from the last hour, an
    integration posting as the call ends, changes nothing kept."""
    for launch_id, (launch, items) in backdated.items():
        tz = ZoneInfo(launch.timezone)
        days = {
            local_date(item.created_at, tz)
            for item in items
            if (launch_id, item.idempotency_key) in recorded
            and item.created_at < (item.recorded_at or item.created_at) - CLOSED_AFTER
        }
        if days:
            store.bump_counts_version(launch_id, days)


# --- undo and the agent's own recent enquiries --------------------------------------


def undo(
    session: Session, enquiry_id: int, *, now: dt.datetime, user: User | None = None, token: ApiToken | None = None
) -> Enquiry:
    """Remove an enquiry its logger regrets, within 15 minutes: agents their own, integrations theirs.

    The limit is what lets closed days be cached (tallies.CLOSED_AFTER): past days never change."""
    enquiry = session.get(Enquiry, enquiry_id)
    if enquiry is None:
        raise NotFound(f"No enquiry with id {enquiry_id}: it may have been undone already.", code="unknown_enquiry")
    if user is not None and enquiry.agent_id != user.id:
        raise Forbidden("You can only undo enquiries you logged yourself.", code="not_yours")
    if token is not None and enquiry.token_id != token.id:
        raise Forbidden("This enquiry was logged with another API token.", code="not_yours")
    if now - enquiry.created_at > UNDO_WINDOW:
        raise Conflict("Enquiries can be undone for 15 minutes after they were logged.", code="too_late")
    keys = list(
        session.exec(
            select(Hypothesis.key)
            .join(EnquiryHypothesis, col(EnquiryHypothesis.hypothesis_id) == col(Hypothesis.id))
            .where(EnquiryHypothesis.enquiry_id == enquiry_id)
        )
    )
    audit.record(
        session,
        actor=user.username if user else f"token:{token.name if token else '?'}",
        action="enquiry.undone",
        target_type="enquiry",
        target_id=enquiry_id,
        now=now,
        launch_id=enquiry.launch_id,
        logged_at=enquiry.created_at.isoformat(),
        hypotheses=keys,
        channel=enquiry.channel,
    )
    delete(session.connection(), enquiry_id)
    return enquiry


@dataclass(frozen=True)
class RecentEnquiry:
    id: int
    created_at: dt.datetime
    channel: str
    segment: str | None
    note: str | None
    hypothesis_keys: tuple[str, ...]
    hypothesis_texts: tuple[str, ...]


def recent_for_agent(session: Session, *, launch: Launch, user: User, now: dt.datetime) -> list[RecentEnquiry]:
    """The agent's own enquiries on this launch that can still be undone, newest first."""
    rows = session.exec(
        select(Enquiry)
        .where(
            Enquiry.agent_id == user.id,
            Enquiry.launch_id == launch.id,
            col(Enquiry.created_at) >= now - UNDO_WINDOW,
        )
        .order_by(col(Enquiry.created_at).desc(), col(Enquiry.id).desc())
        .limit(50)
    ).all()
    matched: dict[int, list[tuple[str, str]]] = {e.id or 0: [] for e in rows}
    if matched:
        for enquiry_id, key, text in session.exec(
            select(EnquiryHypothesis.enquiry_id, Hypothesis.key, Hypothesis.text)
            .join(Hypothesis, col(Hypothesis.id) == col(EnquiryHypothesis.hypothesis_id))
            .where(col(EnquiryHypothesis.enquiry_id).in_(matched))
            .order_by(col(Hypothesis.sort_order))
        ):
            matched[enquiry_id].append((key, text))
    return [
        RecentEnquiry(
            e.id or 0,
            e.created_at,
            e.channel,
            e.segment,
            e.note,
            tuple(k for k, _ in matched[e.id or 0]),
            tuple(t for _, t in matched[e.id or 0]),
        )
        for e in rows
    ]


def count_for_agent(session: Session, *, launch: Launch, user: User, start: dt.datetime, end: dt.datetime) -> int:
    return int(
        session.execute(
            sa.select(sa.func.count())
            .select_from(_enquiry)
            .where(
                _enquiry.c.agent_id == user.id,
                _enquiry.c.created_at >= start,
                _enquiry.c.created_at < end,
                _enquiry.c.launch_id == launch.id,
            )
        ).scalar_one()
    )


def recent_notes(
    session: Session, *, launch: Launch, start: dt.datetime, end: dt.datetime, limit: int = 5
) -> list[str]:
    """The latest notes on "other" enquiries in [start, end), newest first."""
    notes = session.exec(
        select(Enquiry.note)
        .where(
            Enquiry.launch_id == launch.id,
            col(Enquiry.created_at) >= start,
            col(Enquiry.created_at) < end,
            col(Enquiry.is_other).is_(True),
            col(Enquiry.note).is_not(None),
        )
        .order_by(col(Enquiry.created_at).desc())
        .limit(limit)
    ).all()
    return [note for note in notes if note]
