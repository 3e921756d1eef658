"""From a theme to a hypothesis: create it, and move the "other" enquiries it came from onto it.

``promote`` does both in the caller's transaction (one commit): the hypothesis goes through the
same rules as the editor and an import (``hypothesis_sets.current_spec`` + ``revalidate`` +
``import_launch``), then ``relink`` links the enquiries, clears their ``is_other``, keeps a
``Relink`` row and an audit entry, and raises the launch's ``counts_version`` for the local days of
those enquiries — which is what makes every kept count, in every process and replica, count those
days again (app/tallies/cache.py). Only enquiries of the launch that are still "other" move; the
others are returned as skipped. Digests already sent keep their stored text.

``move_onto`` moves them onto a hypothesis the launch already has (agents ticked "other" for something
on the list, or the lead made one by hand before the theme rose), the same way.

``undo`` takes the links away again (an enquiry with no other link is "other" once more), marks the
re-link undone, audits and raises the counts version again. The hypothesis stays: a lead retires it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, col, select

from app import audit, hypothesis_sets, i18n, launches
from app.errors import Conflict, Invalid, NotFound
from app.insight.themes import fold
from app.models import Enquiry, EnquiryHypothesis, Hypothesis, Launch, Relink, id_of
from app.recording.store import Store

MAX_KEY = 64
MAX_ENQUIRIES = 5_000  # per re-link: a theme's notes, ticked on one page
CHUNK = 500  # ids per statement, well under SQLite's limit of bound parameters

_enquiry = Enquiry.__table__  # type: ignore[attr-defined]
_link = EnquiryHypothesis.__table__  # type: ignore[attr-defined]
_relink = Relink.__table__  # type: ignore[attr-defined]
_LETTERS = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ß": "ss", "þ": "th", "ð": "d"})


def suggest_key(phrase: str, taken: Iterable[str] = (), *, fallback: str = "theme") -> str:
    """A hypothesis key from a phrase: lower-case letters, digits and dashes, at most 64, not ``taken``
    (``fallback`` when nothing of the phrase is left). The editor's add form suggests its keys with it too."""
    plain = fold(phrase.casefold().translate(_LETTERS))
    slug = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:MAX_KEY].strip("-") or fallback
    used = set(taken)
    if slug not in used:
        return slug
    n = 2
    while f"{slug[: MAX_KEY - len(str(n)) - 1].rstrip('-')}-{n}" in used:
        n += 1
    return f"{slug[: MAX_KEY - len(str(n)) - 1].rstrip('-')}-{n}"


def suggest_text(phrase: str) -> str:
    text = " ".join(phrase.split())[:500]
    return text[:1].upper() + text[1:]


def add_hypothesis(
    session: Session,
    launch: Launch,
    *,
    key: str,
    text: str,
    area: str = "",
    owner_team: str = "",
    expected_per_day: int | None = None,
    actor: str,
    now: dt.datetime,
) -> Hypothesis:
    """A new open hypothesis at the end of the launch's set, checked as the editor checks one. Flushes."""
    key = key.strip()
    item: dict[str, Any] = {
        "key": key,
        "text": text,
        "area": area,
        "owner_team": owner_team,
        "expected_per_day": expected_per_day,
    }
    try:
        hypothesis_sets.HypothesisSpec.model_validate(item)
    except ValidationError as exc:
        # Each fault by its field, as the editor and PATCH tell them: the API's `problems` has one entry per
        # fault (it had one, holding them all, under the first one's name), the page a line for each.
        problems = [(".".join(str(p) for p in e["loc"]), i18n.validation_text(e)) for e in exc.errors()]
        raise Invalid(
            "; ".join(f"{name}: {message}" for name, message in problems), field=problems[0][0], details=problems
        ) from None
    launches.lock(session, launch)  # the set as the last edit left it (read, changed, written back)
    # Checked under the lock: a create of the same key committed while this one waited is seen here.
    if any(h.key == key for h in launches.hypotheses_of(session, launch)):
        raise Conflict(
            f"Launch {launch.slug!r} already has a hypothesis {key!r} (perhaps retired): choose another key.",
            field="key",
            code="duplicate_key",
        )
    data = hypothesis_sets.current_spec(session, launch).model_dump()
    data["hypotheses"].append(item)
    spec = hypothesis_sets.revalidate(data)
    hypothesis_sets.import_launch(
        session,
        spec,
        actor=actor,
        now=now,
        default_timezone=launch.timezone,
        default_digest_times=launches.digest_clock_times(launch),
    )
    return session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id, Hypothesis.key == key)).one()


@dataclass(frozen=True)
class Names:
    """How the request names what a re-link is given, for the ``field`` and ``code`` of its refusals: an
    API client is told of its own path and body, a lead of the Other page's form."""

    hypothesis: str  # the hypothesis moved onto
    enquiries: str  # the ids of the enquiries to move
    unknown_hypothesis: str  # the code for a hypothesis the launch does not have


API = Names("key", "from_notes", "unknown_hypothesis")  # as PATCH and impact name an unknown hypothesis
FORM = Names("onto", "enquiry", "no_such_hypothesis")


@dataclass(frozen=True)
class Relinked:
    relink: Relink | None  # None when nothing moved
    moved: list[int]  # enquiry ids, ascending
    skipped: list[int]  # asked for, but unknown, of another launch, or not "other" any more


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def moved_into(session: Session, launch: Launch, start: dt.datetime, end: dt.datetime) -> Counter[int]:
    """Per hypothesis, its enquiries of [start, end) that were "other" and moved onto it at ``start`` or
    since (and not moved back): what a spike check there has counted already, as the theme they were."""
    relinks = session.exec(
        select(Relink.hypothesis_id, Relink.enquiry_ids).where(
            Relink.launch_id == launch.id, col(Relink.relinked_at) >= start, col(Relink.undone_at).is_(None)
        )
    ).all()
    moved: Counter[int] = Counter()
    for hypothesis_id, ids in relinks:
        for chunk in _chunks(ids):
            moved[hypothesis_id] += session.execute(
                sa.select(sa.func.count())
                .select_from(Enquiry)
                .where(col(Enquiry.id).in_(chunk), col(Enquiry.created_at) >= start, col(Enquiry.created_at) < end)
            ).scalar_one()
    return moved


def _bump(session: Session, launch: Launch, moments: Iterable[dt.datetime]) -> None:
    tz = launches.zone(launch)
    days = {launches.local_date(moment, tz) for moment in moments}
    if days:
        Store.of(session.connection()).bump_counts_version(id_of(launch), days)


def relink(
    session: Session,
    launch: Launch,
    hypothesis: Hypothesis,
    enquiry_ids: Iterable[int],
    *,
    actor: str,
    now: dt.datetime,
    names: Names = API,
) -> Relinked:
    """Move the launch's "other" enquiries among ``enquiry_ids`` onto ``hypothesis``, in the caller's transaction."""
    if hypothesis.launch_id != launch.id:
        raise Invalid(f"Hypothesis {hypothesis.key!r} belongs to another launch.", field="key")
    wanted = sorted({int(i) for i in enquiry_ids})
    if len(wanted) > MAX_ENQUIRIES:
        raise Invalid(
            f"{len(wanted)} enquiries at once is more than {MAX_ENQUIRIES}: move them in smaller sets.",
            field=names.enquiries,
            code="too_many_enquiries",
        )
    moved: dict[int, tuple[dt.datetime, str, str | None]] = {}  # when, channel, segment
    for part in _chunks(wanted):
        # A conditional update: of two re-links racing for an enquiry, one moves it.
        rows = session.execute(
            sa.update(_enquiry)
            .where(_enquiry.c.id.in_(part), _enquiry.c.launch_id == id_of(launch), _enquiry.c.is_other.is_(True))
            .values(is_other=False)
            .returning(_enquiry.c.id, _enquiry.c.created_at, _enquiry.c.channel, _enquiry.c.segment)
        ).all()
        moved.update(
            (int(enquiry_id), (created_at, channel, segment)) for enquiry_id, created_at, channel, segment in rows
        )
    skipped = [i for i in wanted if i not in moved]
    if not moved:
        return Relinked(None, [], skipped)
    ids = sorted(moved)
    session.execute(
        sa.insert(_link),
        [
            {
                "enquiry_id": i,
                "hypothesis_id": id_of(hypothesis),
                "launch_id": id_of(launch),
                "created_at": moved[i][0],
                "channel": moved[i][1],  # the count index carries them, for filtered counts
                "segment": moved[i][2],
            }
            for i in ids
        ],
    )
    row = Relink(
        launch_id=id_of(launch),
        hypothesis_id=id_of(hypothesis),
        enquiry_ids=ids,
        relinked_by=actor[:100],
        relinked_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="enquiries.relinked",
        target_type="hypothesis",
        target_id=hypothesis.id,
        now=now,
        launch_id=launch.id,
        key=hypothesis.key,
        relink_id=row.id,
        enquiry_ids=ids,
        skipped=skipped,
    )
    _bump(session, launch, (created_at for created_at, _, _ in moved.values()))
    return Relinked(row, ids, skipped)


@dataclass(frozen=True)
class Promoted:
    hypothesis: Hypothesis
    relinked: Relinked


def promote(
    session: Session,
    launch: Launch,
    *,
    key: str,
    text: str,
    area: str = "",
    owner_team: str = "",
    expected_per_day: int | None = None,
    enquiry_ids: Iterable[int] = (),
    actor: str,
    now: dt.datetime,
    names: Names = API,
) -> Promoted:
    """A new hypothesis, and the "other" enquiries it came from moved onto it: one transaction (the caller's)."""
    hypothesis = add_hypothesis(
        session,
        launch,
        key=key,
        text=text,
        area=area,
        owner_team=owner_team,
        expected_per_day=expected_per_day,
        actor=actor,
        now=now,
    )
    return Promoted(hypothesis, relink(session, launch, hypothesis, enquiry_ids, actor=actor, now=now, names=names))


@dataclass(frozen=True)
class MovedOnto:
    relink: Relink
    moved: list[int]
    skipped: list[int]


def move_onto(
    session: Session,
    launch: Launch,
    key: str,
    enquiry_ids: Iterable[int],
    *,
    actor: str,
    now: dt.datetime,
    names: Names,
) -> MovedOnto:
    """Move the ticked "other" enquiries onto the launch's hypothesis ``key``: one transaction (the caller's).

    A retired hypothesis takes them too: its counts stay on the launch page, and notes about what it
    was are counted there rather than as a surprise."""
    wanted = list(enquiry_ids)
    if not wanted:
        raise Invalid("Tick at least one enquiry to move.", field=names.enquiries, code="nothing_to_move")
    hypothesis = next((h for h in launches.hypotheses_of(session, launch) if h.key == key), None)
    if hypothesis is None:
        raise NotFound(
            f"Launch {launch.slug!r} has no hypothesis {key!r}.", field=names.hypothesis, code=names.unknown_hypothesis
        )
    moved = relink(session, launch, hypothesis, wanted, actor=actor, now=now, names=names)
    if moved.relink is None:  # a lead wants to know: they ticked these to move them
        raise Conflict(
            'None of the enquiries given is under "Other" any more (moved or undone meanwhile): nothing was moved.',
            field=names.enquiries,
            code="nothing_moved",
        )
    return MovedOnto(moved.relink, moved.moved, moved.skipped)


@dataclass(frozen=True)
class Undone:
    relink: Relink
    unlinked: int  # links taken away
    restored: int  # enquiries that are "other" again (those with no other link)


def undo(session: Session, launch: Launch, relink_id: int, *, actor: str, now: dt.datetime) -> Undone:
    """Take a re-link back, in the caller's transaction. The hypothesis stays."""
    row = session.get(Relink, relink_id)
    if row is None or row.launch_id != launch.id:
        raise NotFound(f"Launch {launch.slug!r} has no re-link {relink_id}.", code="unknown_relink")
    claimed = session.execute(
        sa.update(_relink)
        .where(_relink.c.id == relink_id, _relink.c.undone_at.is_(None))
        .values(undone_at=now, undone_by=actor[:100])
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"Re-link {relink_id} was undone already.", code="already_undone")
    unlinked: dict[int, dt.datetime] = {}
    restored = 0
    for part in _chunks(list(row.enquiry_ids)):
        rows = session.execute(
            sa.delete(_link)
            .where(_link.c.hypothesis_id == row.hypothesis_id, _link.c.enquiry_id.in_(part))
            .returning(_link.c.enquiry_id, _link.c.created_at)
        ).all()
        unlinked.update((int(enquiry_id), created_at) for enquiry_id, created_at in rows)
        still_linked = sa.exists().where(_link.c.enquiry_id == _enquiry.c.id)
        result = session.execute(
            sa.update(_enquiry)
            .where(_enquiry.c.id.in_(part), _enquiry.c.launch_id == id_of(launch), ~still_linked)
            .values(is_other=True)
        )
        restored += int(result.rowcount)  # type: ignore[attr-defined]
    audit.record(
        session,
        actor=actor,
        action="enquiries.relink_undone",
        target_type="hypothesis",
        target_id=row.hypothesis_id,
        now=now,
        launch_id=launch.id,
        relink_id=row.id,
        enquiry_ids=sorted(unlinked),
        restored=restored,
    )
    _bump(session, launch, unlinked.values())
    session.refresh(row)
    return Undone(row, len(unlinked), restored)


@dataclass(frozen=True)
class RelinkEntry:
    relink: Relink
    key: str
    text: str


@dataclass(frozen=True)
class History:
    """One page of a launch's re-links, newest first."""

    entries: list[RelinkEntry]
    older: int | None  # the ``before`` of the next page (the last re-link listed); None: none are older
    before: int | None = None  # the ``before`` this page was asked with (None: the newest)


HISTORY_PAGE = 20


def history(session: Session, launch: Launch, *, limit: int = HISTORY_PAGE, before: int | None = None) -> History:
    """The launch's re-links, newest first, with their hypothesis; ``before``: those listed after the
    re-link with that id (the next page). Every page is reachable, so every move can still be undone
    however many came after it."""
    query = (
        select(Relink, Hypothesis.key, Hypothesis.text)
        .join(Hypothesis, col(Hypothesis.id) == col(Relink.hypothesis_id))
        .where(Relink.launch_id == launch.id)
    )
    if before is not None:
        after = session.get(Relink, before)
        if after is None or after.launch_id != launch.id:
            raise NotFound(f"Launch {launch.slug!r} has no re-link {before}.", field="before", code="unknown_relink")
        # A keyset on (when, id): a move made while the lead pages neither hides an older one nor repeats one.
        query = query.where(
            sa.or_(
                col(Relink.relinked_at) < after.relinked_at,
                sa.and_(col(Relink.relinked_at) == after.relinked_at, col(Relink.id) < before),
            )
        )
    rows = session.exec(query.order_by(col(Relink.relinked_at).desc(), col(Relink.id).desc()).limit(limit + 1)).all()
    entries = [RelinkEntry(row, key, text) for row, key, text in rows[:limit]]
    older = id_of(entries[-1].relink) if len(rows) > limit else None
    return History(entries, older, before)
