"""Launches: lookups, their window in time, and local-day arithmetic.

A launch runs from local midnight of ``starts_on`` to local midnight after
``ends_on``, in the launch's own time zone: the host's zone never matters.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, or_, select

from app.errors import NotFound
from app.models import Enquiry, Hypothesis, HypothesisRevision, HypothesisStatus, Launch, LaunchStatus

DEFAULT_LENGTH = dt.timedelta(days=21)
# What a launch's slug (and a hypothesis's key) may be: one path segment, safe in any URL and query.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


class Dated(Protocol):
    """What the window needs: a Launch, or the hot path's plain row of one (recording.store.LaunchRow)."""

    @property
    def starts_on(self) -> dt.date: ...
    @property
    def ends_on(self) -> dt.date: ...
    @property
    def timezone(self) -> str: ...


def zone(launch: Dated) -> ZoneInfo:
    return ZoneInfo(launch.timezone)


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The first instant of ``day`` in ``tz``, as an aware UTC datetime.

    zoneinfo resolves a wall time that falls in a DST gap forwards, so even a
    zone that skipped midnight itself gets the first real instant of the day.
    """
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local calendar day in UTC: 23 or 25 hours long on DST days."""
    return local_midnight(day, tz), local_midnight(day + dt.timedelta(days=1), tz)


def local_date(moment: dt.datetime, tz: ZoneInfo) -> dt.date:
    return moment.astimezone(tz).date()


def window(launch: Dated) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the whole launch in UTC."""
    tz = zone(launch)
    return local_midnight(launch.starts_on, tz), local_midnight(launch.ends_on + dt.timedelta(days=1), tz)


def enquiries_outside(session: Session, launch: Launch) -> int:
    """Enquiries of the launch that happened outside its dates, so count nowhere: logged before a lead
    moved the release day later (or the last day earlier). Kept, and counted again if the dates move back."""
    start, end = window(launch)
    return session.exec(
        select(func.count())
        .select_from(Enquiry)
        .where(Enquiry.launch_id == launch.id, or_(col(Enquiry.created_at) < start, col(Enquiry.created_at) >= end))
    ).one()


def day_number(launch: Launch, day: dt.date) -> int:
    """1 on the launch's first day."""
    return (day - launch.starts_on).days + 1


def digest_clock_times(launch: Launch) -> tuple[dt.time, ...]:
    return tuple(sorted(dt.time.fromisoformat(t) for t in launch.digest_times))


def get_by_slug(session: Session, slug: str) -> Launch:
    launch = find_by_slug(session, slug)
    if launch is None:
        raise NotFound(
            f"No launch with slug {slug!r}. GET /api/v1/launches lists the live ones; "
            "`tally hypotheses import` creates one from a file.",
            code="unknown_launch",
        )
    return launch


def get_for_update(session: Session, slug: str) -> Launch:
    """``get_by_slug``, then ``lock``: for a request that changes the launch or its hypotheses."""
    launch = get_by_slug(session, slug)
    lock(session, launch)
    return launch


def lock(session: Session, launch: Launch) -> None:
    """Hold the launch's row until the transaction ends, and forget what the session read before.

    Edits of one launch (its fields, its hypotheses, their order) then take turns, each checking the
    versions the one before saved: on PostgreSQL two of them could both pass their version check and
    the second silently overwrite the first. (SQLite's write transaction takes its lock at BEGIN.)"""
    transaction = session.get_transaction()
    held = session.info.setdefault("tally.locked_launches", {})
    if transaction is not None and held.get(launch.id) is transaction:
        return  # held already in this transaction (the route, then update_hypothesis, then import_launch)
    session.flush()
    session.expire_all()
    session.exec(select(Launch).where(Launch.id == launch.id).with_for_update()).one()
    held[launch.id] = session.get_transaction()


def list_launches(session: Session, *, statuses: tuple[LaunchStatus, ...] | None = None) -> list[Launch]:
    query = select(Launch).order_by(col(Launch.starts_on).desc(), col(Launch.slug))
    if statuses:
        query = query.where(col(Launch.status).in_(statuses))
    return list(session.exec(query))


def hypotheses_of(session: Session, launch: Launch, *, include_retired: bool = True) -> list[Hypothesis]:
    query = select(Hypothesis).where(Hypothesis.launch_id == launch.id)
    if not include_retired:
        query = query.where(Hypothesis.status != HypothesisStatus.RETIRED)
    return list(session.exec(query.order_by(col(Hypothesis.sort_order), col(Hypothesis.id))))


def find_by_slug(session: Session, slug: str) -> Launch | None:
    if not re.fullmatch(SLUG_PATTERN, slug):
        # No launch has it, and PostgreSQL refuses some (a NUL) outright: a read of /launches/a%00b was
        # answered "cannot be stored as given … nothing was saved" instead of "no such launch".
        return None
    return session.exec(select(Launch).where(Launch.slug == slug)).first()


def revisions_of(session: Session, launch: Launch) -> dict[int, list[HypothesisRevision]]:
    """Earlier texts of the launch's hypotheses, newest first, by hypothesis id."""
    found: dict[int, list[HypothesisRevision]] = {}
    rows = session.exec(
        select(HypothesisRevision)
        .join(Hypothesis, col(Hypothesis.id) == col(HypothesisRevision.hypothesis_id))
        .where(Hypothesis.launch_id == launch.id)
        .order_by(col(HypothesisRevision.changed_at).desc(), col(HypothesisRevision.id).desc())
    )
    for revision in rows:
        found.setdefault(revision.hypothesis_id, []).append(revision)
    return found
