"""The enquiry log after the fact: undoing an enquiry, and an agent's own recent ones.

Recording enquiries is app/recording/.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app import audit
from app.errors import Conflict, Forbidden, NotFound
from app.launches import local_date, zone
from app.models import (
    ApiToken,
    Enquiry,
    EnquiryHypothesis,
    Hypothesis,
    Launch,
    UndoneEnquiry,
    User,
)
from app.recording.record import TICK_WAIT_LIMIT, reaches_kept_counts
from app.recording.store import Store

_enquiry = Enquiry.__table__  # type: ignore[attr-defined]


def delete(connection: sa.Connection, enquiry_id: int) -> bool:
    """Remove an enquiry and its links (ON DELETE CASCADE). True if it existed."""
    result = connection.execute(sa.delete(_enquiry).where(_enquiry.c.id == enquiry_id))
    return bool(result.rowcount)


UNDO_WINDOW = dt.timedelta(minutes=15)
# --- undo and the agent's own recent enquiries --------------------------------------


def get(session: Session, enquiry_id: int) -> Enquiry:
    enquiry = session.get(Enquiry, enquiry_id)
    if enquiry is None:
        raise NotFound(f"No enquiry with id {enquiry_id}: it may have been undone already.", code="unknown_enquiry")
    return enquiry


def undo(
    session: Session, enquiry_id: int, *, now: dt.datetime, user: User | None = None, token: ApiToken | None = None
) -> Enquiry:
    """Remove an enquiry its logger regrets, within 15 minutes of when it was recorded: agents their
    own, integrations theirs.

    The limit is what lets closed days be cached (tallies.CLOSED_AFTER): an undo of an enquiry that
    happened then reaches no day or slot counted and kept. One logged after the fact (``occurred_at``,
    a backfill) may lie in one: its launch's counts version is raised, as the backfill's was."""
    enquiry = get(session, enquiry_id)
    if user is not None and enquiry.agent_id != user.id:
        raise Forbidden("You can only undo enquiries you logged yourself.", code="not_yours")
    if token is not None and enquiry.token_id != token.id:
        raise Forbidden("This enquiry was logged by an agent or with another API token.", code="not_yours")
    recorded_at = enquiry.recorded_at or enquiry.created_at
    if now - recorded_at > UNDO_WINDOW:
        raise Conflict("Enquiries can be undone for 15 minutes after they were logged.", code="too_late")
    keys = list(
        session.exec(
            select(Hypothesis.key)
            .join(EnquiryHypothesis, col(EnquiryHypothesis.hypothesis_id) == col(Hypothesis.id))
            .where(EnquiryHypothesis.enquiry_id == enquiry_id)
        )
    )
    # Deleted first, and only by whoever's delete found it: two undos at once (a double press that the load
    # balancer sent to two replicas) both read it above; the second waits for the first's row lock and
    # then finds nothing, as if it came after. It recorded a second undo, or failed on the kept key (500).
    if not delete(session.connection(), enquiry_id):
        raise NotFound(f"No enquiry with id {enquiry_id}: it may have been undone already.", code="unknown_enquiry")
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
    if enquiry.idempotency_key is not None:
        # Kept, so that a retry of this enquiry (a browser that never saw its answer) is not logged again.
        key = enquiry.idempotency_key
        session.merge(UndoneEnquiry(launch_id=enquiry.launch_id, idempotency_key=key, undone_at=now))
    # By the undo's time, not the recording's: an enquiry posted 20 minutes after it happened and undone
    # 15 minutes later lies in a slot counted and kept meanwhile.
    if reaches_kept_counts(enquiry.created_at, now):
        launch = session.get(Launch, enquiry.launch_id)
        if launch is not None:
            day = local_date(enquiry.created_at, zone(launch))
            Store.of(session.connection()).bump_counts_version(enquiry.launch_id, {day})
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
            # Undoable for UNDO_WINDOW after it was recorded (``undo``), which for a tick that waited in
            # the browser's queue is later than when it happened: it must be listed to be undone (a note
            # with a name in it, say). The first bound keeps the agent's index range short.
            col(Enquiry.created_at) >= now - UNDO_WINDOW - TICK_WAIT_LIMIT,
            sa.func.coalesce(col(Enquiry.recorded_at), col(Enquiry.created_at)) >= now - UNDO_WINDOW,
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
