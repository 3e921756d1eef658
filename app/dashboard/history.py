"""The few queries of the drill-down: a hypothesis's status history, and notes under "Other"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.models import Enquiry, Hypothesis, HypothesisStatusChange, Launch
from app.tallies import UNSPECIFIED_SEGMENT, Filter


def status_changes(session: Session, hypothesis: Hypothesis) -> list[HypothesisStatusChange]:
    """Newest first."""
    return list(
        session.exec(
            select(HypothesisStatusChange)
            .where(HypothesisStatusChange.hypothesis_id == hypothesis.id)
            .order_by(col(HypothesisStatusChange.changed_at).desc(), col(HypothesisStatusChange.id).desc())
        )
    )


@dataclass(frozen=True)
class Note:
    at: dt.datetime
    text: str
    channel: str


def _filter_clauses(flt: Filter | None) -> list[sa.ColumnElement[bool]]:
    if flt is None:
        return []
    clauses: list[sa.ColumnElement[bool]] = []
    if flt.channels is not None:
        clauses.append(col(Enquiry.channel).in_(sorted(flt.channels)))
    if flt.segments is not None:
        named = sorted(s for s in flt.segments if s != UNSPECIFIED_SEGMENT)
        options = [col(Enquiry.segment).in_(named)] if named else []
        if UNSPECIFIED_SEGMENT in flt.segments:
            options.append(col(Enquiry.segment).is_(None))
        clauses.append(sa.or_(*options) if options else sa.false())
    return clauses


def other_notes(
    session: Session,
    *,
    launch: Launch,
    stretches: Sequence[tuple[dt.datetime, dt.datetime]],
    filter: Filter | None = None,
    limit: int = 20,
) -> list[Note]:
    """Notes on "other" enquiries within any of ``stretches`` ([start, end) each), newest first."""
    if not stretches:
        return []
    within = sa.or_(*(sa.and_(col(Enquiry.created_at) >= a, col(Enquiry.created_at) < b) for a, b in stretches))
    rows = session.exec(
        select(Enquiry.created_at, Enquiry.note, Enquiry.channel)
        .where(
            Enquiry.launch_id == launch.id,
            col(Enquiry.is_other).is_(True),
            col(Enquiry.note).is_not(None),
            within,
            *_filter_clauses(filter),
        )
        .order_by(col(Enquiry.created_at).desc(), col(Enquiry.id).desc())
        .limit(limit)
    ).all()
    return [Note(at, note, channel) for at, note, channel in rows if note]
