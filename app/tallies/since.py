"""From when a hypothesis counts. A hypothesis added during a launch had no chance of enquiries
before it was added (they went to "other", or to another hypothesis), so every comparison with an
earlier period (the launch page's "before", a fix's effect, a spike's normal) starts there."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session

from app.models import EnquiryHypothesis, Hypothesis, Launch


def first_enquiries(session: Session, launch: Launch) -> dict[int, dt.datetime]:
    """When each hypothesis of the launch first had an enquiry (one index seek each)."""
    link = EnquiryHypothesis.__table__  # type: ignore[attr-defined]
    hypothesis = Hypothesis.__table__  # type: ignore[attr-defined]
    first = (
        sa.select(sa.func.min(link.c.created_at))
        .where(link.c.launch_id == hypothesis.c.launch_id, link.c.hypothesis_id == hypothesis.c.id)
        .scalar_subquery()
    )
    rows = session.execute(sa.select(hypothesis.c.id, first).where(hypothesis.c.launch_id == launch.id))
    # min() keeps the column's type, so these come back as aware UTC datetimes.
    return {hypothesis_id: at for hypothesis_id, at in rows if at is not None}


def first_enquiry(session: Session, hypothesis: Hypothesis) -> dt.datetime | None:
    """When the hypothesis first had an enquiry (one index seek)."""
    link = EnquiryHypothesis.__table__  # type: ignore[attr-defined]
    first: dt.datetime | None = session.execute(
        sa.select(sa.func.min(link.c.created_at)).where(
            link.c.launch_id == hypothesis.launch_id, link.c.hypothesis_id == hypothesis.id
        )
    ).scalar_one()
    return first


def counting_since(
    hypothesis: Hypothesis, launch_start: dt.datetime, first_enquiry: dt.datetime | None, *, launch: Launch
) -> dt.datetime:
    """From when a hypothesis counts: when it was added (or its first enquiry, if one was recorded
    for an earlier time: a backfill, or the demo), and never before the launch began. One made with
    its launch (the same import) counts from the launch's start, even when the launch was set up after
    it began and its first days were backfilled: until its first enquiry it read "not counted" where
    the rest read 0. One added after it, even minutes after, did not exist when the enquiries before
    it were logged (a theme made a hypothesis counts from its first note)."""
    if hypothesis.created_at == launch.created_at:
        return launch_start
    added = hypothesis.created_at if first_enquiry is None else min(hypothesis.created_at, first_enquiry)
    return max(added, launch_start)
