"""Slack digests: what is due, claiming it, composing it, delivering it.

Every function takes ``now``; the scheduler (app/jobs/scheduler.py) only
calls ``run_due`` at the launch's slot times (once settled: ``settle``) and
once a minute, and `tally digest run-due --now` does exactly the same by hand.

Exactly once per (launch, slot): a process claims a slot by inserting its
digest_run row (``slot_key`` is unique) and only the process whose insert
went in composes and sends it. That holds for several uvicorn workers and
several replicas on one PostgreSQL alike. A claim whose process died is taken
over after ``STALE_CLAIM``; because it may have posted already, the channel is
checked (message metadata carries the slot key) before posting again. The
attempts, pauses and passes are app/slack/delivery.py's, shared with spike alerts.

Windows chain: each scheduled digest covers the time since the previous one
that was composed, so the first of a day covers the evening before, and a slot
missed while the app was down is reported by the next digest.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app import enquiries, i18n, launches, ranges, schedule, tallies
from app.config import Settings
from app.db import Database, insert_ignoring_conflicts
from app.errors import Conflict, NotFound
from app.i18n import N_
from app.insight import alerts, impact, themes
from app.models import (
    DELIVERED,
    Alert,
    DigestKind,
    DigestRun,
    DigestStatus,
    Hypothesis,
    HypothesisStatus,
    Launch,
    LaunchStatus,
    id_of,
)
from app.observability import metrics
from app.recording import writer
from app.slack import blocks as slack_blocks
from app.slack import delivery
from app.slack.client import WEBHOOKS_CHANNEL, Posted, Sender, SlackError
from app.slack.delivery import worker_name
from app.slack.messages import template

log = logging.getLogger(__name__)

ON_TIME = dt.timedelta(minutes=5)  # sent within this of when it was due: not marked late
# Replicas' clocks a little apart (one stamps enquiries, another composes the digest), and the commit itself.
CLOCKS_APART = dt.timedelta(seconds=5)
LATE_WITH_DAY = dt.timedelta(hours=3)  # a digest posted this late names its day, not just its time
LOOKBACK = schedule.LOOKBACK
# A closing digest older than LOOKBACK that never went out (the scheduler down since before the launch's
# end) is still sent this long after it: the launch's last evening is in no other digest, and a
# scheduler down over a long weekend or a holiday week should still post the final tally. Later than
# that the channel has moved on and a "final tally" would read as news; it is recorded as missed, and
# Send now on the Digests page gives the numbers.
CLOSING_CATCH_UP = dt.timedelta(days=7)
# The retry policy and stale claims are app/slack/delivery.py's (alerts share them).
STALE_CLAIM = delivery.STALE_CLAIM
ATTEMPTS_PER_PASS = delivery.ATTEMPTS_PER_PASS
MAX_PASSES = delivery.MAX_PASSES
MISSED_REASON = template(
    N_(
        "Not sent: no scheduler ran within the grace period after this slot (was Launch Tally stopped?). "
        "The next digest covers its enquiries."
    )
)
# No later digest covers a closing one: "the next digest covers its enquiries" promised one that never comes.
CLOSING_MISSED_REASON = template(
    N_(
        "Not sent: no scheduler ran within a week after the launch ended (was Launch Tally stopped?). "
        "Send now on this page still gives the final numbers."
    )
)
NO_CHANNEL = template(N_("The launch has no Slack channel: set one in the launch editor, then send it."))
WEBHOOK_MAY_HAVE_POSTED = template(
    N_(
        "{reason} A webhook cannot check the channel: look in Slack, and send it again from the Digests page only "
        "if it is not there."
    )
)
# A lead moved the launch's dates after the digest was composed (its start later, its end earlier).
OUTSIDE_DATES = template(
    N_(
        "Not sent: this digest covers {window}, outside the launch's dates since they were changed ({dates}), so "
        "its enquiries count nowhere now. Use Send now for the launch's numbers as they are; to send this one, "
        "move the dates back first."
    )
)
GAVE_UP = template(
    N_("Gave up after {attempts} attempts: {reason} Send it from the Digests page once Slack answers again.")
)
COMPOSED = (*DELIVERED, DigestStatus.PENDING, DigestStatus.RETRYING, DigestStatus.FAILED)

_run = DigestRun.__table__  # type: ignore[attr-defined]

Sleep = Callable[[float], None]
Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def settle(settings: Settings) -> dt.timedelta:
    """How long after its slot a digest is composed (its window still ends at the slot): 35 seconds
    with the default statement timeout of 10. An enquiry is stamped with the moment its request
    arrived, but committed up to ``writer.latest_commit`` later (a batch waiting for the database),
    maybe by a replica whose clock is a little behind (``CLOCKS_APART``). Composed at once, the 09:00
    digest missed an enquiry of 08:59:58 committed at 09:00:03, and the next window, from 09:00, never
    counted it. Lateness and the grace period count from this moment, when the digest is due."""
    return dt.timedelta(seconds=writer.latest_commit(settings.database_statement_timeout)) + CLOCKS_APART


def next_due(launch: Launch, now: dt.datetime, settings: Settings) -> dt.datetime | None:
    """The slot of the next digest to be composed, as the pages announce it: at 09:00:10 still 09:00's."""
    return schedule.next_slot(launch, now - settle(settings))


def slot_key(launch: Launch, slot_at: dt.datetime) -> str:
    return f"{launch.id}:{slot_at.astimezone(dt.UTC):%Y-%m-%dT%H:%MZ}"


# --- windows ---------------------------------------------------------------------------


def _composed_scheduled(launch: Launch) -> tuple[sa.ColumnElement[bool], ...]:
    """The launch's scheduled digests that were composed (sent, or kept as a dry run): the chain of windows."""
    return (
        DigestRun.launch_id == launch.id,  # type: ignore[return-value]
        DigestRun.kind == DigestKind.SCHEDULED,
        col(DigestRun.status).in_(COMPOSED),
    )


def chain_start(session: Session, launch: Launch, before: dt.datetime) -> dt.datetime:
    """Where the next scheduled digest's window begins: the end of the last one
    composed before ``before``, or the launch's start. Not a digest that ended before the launch's
    start (composed before a lead moved the start later): the first digest after the new start covered
    days before it ("18 Nov 13:00 – 20 Nov 09:00 · day 1"), not the release day from midnight."""
    launch_start = launches.window(launch)[0]
    last = session.exec(
        select(DigestRun.window_end)
        .where(
            *_composed_scheduled(launch),
            col(DigestRun.window_end) <= before,
            col(DigestRun.window_end) > launch_start,
        )
        .order_by(col(DigestRun.window_end).desc())
        .limit(1)
    ).first()
    return last if last is not None else launch_start


def since_digest_start(session: Session, launch: Launch, now: dt.datetime) -> dt.datetime | None:
    """Where ``range=since-digest`` starts: where the window of a digest sent now begins, the end of the
    last digest composed (``chain_start``), or None when none has been (the range then starts
    with the launch). Not the last digest *time*: a launch set live at 12:30 had no 09:00 digest, and a
    missed one was never composed; the next digest counts from where the chain ends. Just before
    ``now`` (and the launch's end): at a digest's own moment, or once the closing one went, that
    digest's window rather than an empty one, as the digests page's preview shows it. One small query
    on the launch's digests, for every page with the range chips."""
    launch_start, launch_end = launches.window(launch)
    start = chain_start(session, launch, min(now, launch_end) - dt.timedelta(microseconds=1))
    return start if start > launch_start else None


def _previous_start(
    session: Session, launch: Launch, window_start: dt.datetime, window_end: dt.datetime
) -> dt.datetime:
    """The start of the window before this one (to show ↑/↓): the previous digest's, or one of equal
    length; from the launch's start at the earliest (a digest of before a lead moved the start later
    covers days that count nowhere now)."""
    launch_start = launches.window(launch)[0]
    previous = session.exec(
        select(DigestRun.window_start)
        .where(
            *_composed_scheduled(launch),
            DigestRun.window_end == window_start,
        )
        .limit(1)
    ).first()
    if previous is not None:
        return max(previous, launch_start)
    return max(window_start - (window_end - window_start), launch_start)


def compared_with(
    session: Session, launch: Launch, start: dt.datetime, end: dt.datetime, *, since_digest: bool = False
) -> tuple[dt.datetime, dt.datetime] | None:
    """The window a digest of exactly [start, end) compared itself with (its link opens the
    page on that window, which then compares as the digest did), or None when no digest had it.
    ``since_digest``: [start, end) runs from the latest digest to now, compared as the next digest
    (and its preview) will compare it: with the window of the digest at ``start``."""
    if since_digest:
        return _previous_start(session, launch, start, end), start
    composed = session.exec(
        select(DigestRun.id)
        .where(
            DigestRun.launch_id == launch.id,
            # One sent by hand too: it compared itself as a scheduled one does, and its link opens the page
            # on its window (ending when it was sent), which without it was compared with as long a time.
            col(DigestRun.kind).in_((DigestKind.SCHEDULED, DigestKind.MANUAL)),
            col(DigestRun.status).in_(COMPOSED),
            DigestRun.window_start == start,
            DigestRun.window_end == end,
        )
        .limit(1)
    ).first()
    return None if composed is None else (_previous_start(session, launch, start, end), start)


def window_label(launch: Launch, start: dt.datetime, end: dt.datetime) -> str:
    tz = launches.zone(launch)
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if local_start.date() == local_end.date():
        return f"{local_start:%H:%M}–{local_end:%H:%M}"
    label = i18n.format_weekday_time if (local_end.date() - local_start.date()).days == 1 else i18n.format_day_time
    return f"{label(local_start)} – {label(local_end)}"


# --- composing --------------------------------------------------------------------------


def compose(
    session: Session,
    launch: Launch,
    *,
    window_start: dt.datetime,
    window_end: dt.datetime,
    slot_at: dt.datetime,
    now: dt.datetime,
    base_url: str,
    late: bool = False,
    late_cause: str = "down",
    posted_at: dt.datetime | None = None,
) -> slack_blocks.DigestContent:
    """The digest of [window_start, window_end), counted as at ``now``. ``posted_at``: when it goes out
    (``now`` unless said), which its label goes by: `run-due --now` composes as at a past moment what
    the real clock posts."""
    tz = launches.zone(launch)
    hypotheses = [h for h in launches.hypotheses_of(session, launch) if h.status != HypothesisStatus.RETIRED]
    previous_start = _previous_start(session, launch, window_start, window_end)
    # The day the window ends in: a digest at midnight (the closing one, or a lead's 00:00) covers the
    # evening before, and its "today" is that day's, not the new day's nothing.
    day = min(launches.local_date(slot_at - dt.timedelta(microseconds=1), tz), launch.ends_on)
    day_start = launches.day_bounds(day, tz)[0]
    launch_start = launches.window(launch)[0]

    def counts(start: dt.datetime, end: dt.datetime) -> tallies.Tally:
        return tallies.tally(session=session, launch=launch, start=start, end=end, now=now, hypotheses=hypotheses)

    current = counts(window_start, window_end)
    # The launch's first window has none before it (the page compares with nothing either): no arrows.
    previous = counts(previous_start, window_start) if previous_start < window_start else None
    first = tallies.first_enquiries(session, launch)
    since = {h.key: tallies.counting_since(h, launch_start, first.get(h.id or 0), launch=launch) for h in hypotheses}
    # Added during the previous window or since, a hypothesis has no whole window before to compare with
    # (its enquiries were "other"): no arrow, as the launch page shows "–" for it (dashboard.rows).
    whole_before = {key for key, began in since.items() if previous is not None and began <= previous_start}
    # Added after the window (a digest sent again later, a retry, a preview for a past --now): it did not
    # exist then, so it is neither seen nor "not seen" in it (with its expected rate), as the page shows "–".
    listed = [h for h in hypotheses if since[h.key] < window_end]
    today = counts(min(day_start, window_end), window_end)
    # Not before the launch's start, if a digest of a window outside its dates ever gets here (the
    # counts are clipped to the launch; this window would end before it starts).
    since_launch = counts(launch_start, max(window_end, launch_start))
    return slack_blocks.DigestContent(
        launch_name=launch.name,
        slot_label=_slot_label(launch, slot_at, posted_at=posted_at or now, late=late),
        window_label=window_label(launch, window_start, window_end),
        day_number=launches.day_number(launch, day),
        launch_days=launches.day_number(launch, launch.ends_on),
        window_total=current.total,
        previous_total=previous.total if previous is not None else None,
        today_total=today.total,
        since_launch_total=since_launch.total,
        url=f"{base_url}/launches/{launch.slug}",
        window=(ranges.link_time(window_start, tz), ranges.link_time(window_end, tz)),
        hypotheses=[
            slack_blocks.HypothesisLine(
                key=h.key,
                text=h.text,
                count=current.for_hypothesis(h),
                previous=previous.for_hypothesis(h) if previous is not None and h.key in whole_before else None,
                today=today.for_hypothesis(h),
                expected_per_day=h.expected_per_day,
            )
            for h in listed
        ],
        other=current.other,
        other_previous=previous.other if previous is not None else None,
        notes=enquiries.recent_notes(session, launch=launch, start=window_start, end=window_end, limit=5),
        channels=current.by_channel,
        late=late,
        late_cause=late_cause,
        alerts=alerts.recalled(session, launch, start=window_start, end=window_end, base_url=base_url),
        new_in_other=new_in_other(session, launch, now=now, base_url=base_url),
        fixes=fixes_shipped(session, launch, hypotheses, now=now, base_url=base_url),
    )


def _slot_label(launch: Launch, slot_at: dt.datetime, *, posted_at: dt.datetime, late: bool) -> str:
    """The digest's time, "16:00"; at the launch's end "final tally"; posted late, long after its time
    or on a later day, with its day ("Wed 16:00": "16:00" the next morning reads as today's); a week
    or more later, with its date ("18 Nov 16:00": a dry run sent on the next Wednesday read as that
    afternoon's)."""
    if slot_at >= launches.window(launch)[1]:
        return i18n.gettext("final tally")
    tz = launches.zone(launch)
    local = slot_at.astimezone(tz)
    posted_on = launches.local_date(posted_at, tz)
    if not late or (posted_at - slot_at < LATE_WITH_DAY and posted_on == local.date()):
        return f"{local:%H:%M}"
    return i18n.format_with_day(local, posted_on)


THEMES_IN_DIGEST = 3
FIXES_FOR = dt.timedelta(days=7)  # a fix is reported in the digests for a week after it shipped


def new_in_other(session: Session, launch: Launch, *, now: dt.datetime, base_url: str) -> list[slack_blocks.ThemeLine]:
    """The rising themes in "other", as ``GET …/surprises`` without from/to would answer at ``now``."""
    found = themes.surprises(session, launch, now=now)
    return [
        slack_blocks.ThemeLine(
            phrase=t.phrase,
            recent=t.recent,
            before=t.before,
            url=themes.page_url(base_url, launch, t.key, (found.start, found.end)),
        )
        for t in found.themes[:THEMES_IN_DIGEST]
    ]


def fixes_shipped(
    session: Session, launch: Launch, hypotheses: Sequence[Hypothesis], *, now: dt.datetime, base_url: str
) -> list[slack_blocks.FixLine]:
    """A line per fix shipped in the last week (before ``now``), with what its enquiries did since."""
    tz = launches.zone(launch)
    lines = []
    for h in hypotheses:
        if h.fix_shipped_at is None or not now - FIXES_FOR <= h.fix_shipped_at <= now:
            continue
        result = impact.impact_of(session, launch, h, now=now)
        if result is None:
            continue
        lines.append(
            slack_blocks.FixLine(
                text=h.text,
                url=f"{base_url}/launches/{launch.slug}/hypotheses/{quote(h.key)}?range=launch#fix",
                # Reported for a week (FIXES_FOR): on the same weekday a week later, "Wed 17:00" was today's.
                shipped_label=i18n.format_with_day(h.fix_shipped_at.astimezone(tz), launches.local_date(now, tz)),
                verdict=result.verdict,
                change=result.change,
                share_before=result.before.share,
                share_after=result.after.share,
            )
        )
    return lines


# --- claiming ---------------------------------------------------------------------------


def _new_run(
    launch: Launch,
    *,
    slot_key: str,
    kind: DigestKind,
    slot_at: dt.datetime,
    window_start: dt.datetime,
    status: DigestStatus,
    now: dt.datetime,
    error: str | None = None,
) -> dict[str, object]:
    """The row of a run claimed by this process, as inserted (one at a time or many at once)."""
    return {
        "launch_id": id_of(launch),
        "slot_key": slot_key,
        "kind": kind.value,
        "slot_at": slot_at,
        "window_start": window_start,
        "window_end": slot_at,
        "status": status.value,
        "attempts": 0,
        "claimed_by": worker_name(),
        "claimed_at": now,
        "text": "",
        "blocks": [],
        "created_at": now,
        "error": error,
    }


def _insert(session: Session, launch: Launch, **run: Any) -> int | None:
    """A new run claimed by this process (``_new_run``'s fields), or None when its slot key exists already."""
    statement = insert_ignoring_conflicts(_run, session.get_bind().dialect, index_elements=["slot_key"])
    row = session.execute(statement.values(**_new_run(launch, **run)).returning(_run.c.id)).first()
    return int(row[0]) if row else None


def claim_slot(
    db: Database, launch: Launch, slot_at: dt.datetime, *, now: dt.datetime, status: DigestStatus = DigestStatus.PENDING
) -> DigestRun | None:
    """The new run for this slot, or None when another process claimed it first."""
    with db.transaction() as session:
        start = chain_start(session, launch, slot_at) if status != DigestStatus.MISSED else slot_at
        run_id = _insert(
            session,
            launch,
            slot_key=slot_key(launch, slot_at),
            kind=DigestKind.SCHEDULED,
            slot_at=slot_at,
            window_start=start,
            status=status,
            now=now,
            error=MISSED_REASON if status == DigestStatus.MISSED else None,
        )
        run = session.get(DigestRun, run_id) if run_id else None
    if run is not None and status == DigestStatus.MISSED:  # a missed slot's run is born with its outcome
        metrics.count_digest_run(status)
    return run


def _record_missed(db: Database, launch: Launch, slots: Sequence[dt.datetime], *, now: dt.datetime) -> list[DigestRun]:
    """Rows recorded as missed for ``slots`` (those no other process recorded first), all in one insert:
    after a week down, a launch's twenty-odd slots cost one statement, not a transaction each."""
    if not slots:
        return []
    closing = schedule.closing_slot(launch)
    # As claim_slot records one: a window of no length, at the slot.
    rows = [
        _new_run(
            launch,
            slot_key=slot_key(launch, at),
            kind=DigestKind.SCHEDULED,
            slot_at=at,
            window_start=at,
            status=DigestStatus.MISSED,
            now=now,
            error=CLOSING_MISSED_REASON if at == closing else MISSED_REASON,
        )
        for at in slots
    ]
    with db.transaction() as session:
        statement = insert_ignoring_conflicts(_run, session.get_bind().dialect, index_elements=["slot_key"])
        ids = [int(row[0]) for row in session.execute(statement.values(rows).returning(_run.c.id))]
        found = session.exec(select(DigestRun).where(col(DigestRun.id).in_(ids)).order_by(col(DigestRun.slot_at)))
        recorded = list(found)
    for run in recorded:
        metrics.count_digest_run(DigestStatus.MISSED)
        log.warning("digest slot %s for %s missed: %s", run.slot_key, launch.slug, run.error)
    return recorded


def _take_over(db: Database, run: DigestRun, *, expect: DigestStatus, now: dt.datetime) -> DigestRun | None:
    return delivery.take_over(db, DigestRun, run, expect=expect, now=now)


def _save(db: Database, run: DigestRun, **changes: object) -> DigestRun:
    saved = delivery.save(db, DigestRun, run, **changes)
    metrics.count_digest_run(changes.get("status"))
    return saved


# --- delivering -------------------------------------------------------------------------


def message(
    db: Database,
    run: DigestRun,
    launch: Launch,
    *,
    now: dt.datetime,
    settings: Settings,
    late: bool = False,
    late_cause: str = "down",
    posted_at: dt.datetime | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and the blocks of ``run``'s digest, in the language of Slack messages: the
    labels of times are made while composing, so both steps run in it."""
    with db.session() as session, i18n.use_language(settings.message_language):
        # Read again: the caller's copy may be from before a re-link or a backfill (a scheduler pass
        # reads the launches once), whose counts version every cached count is keyed by.
        launch = session.get(Launch, launch.id) or launch
        window_start, window_end = counted_window(run, launch)
        content = compose(
            session,
            launch,
            window_start=window_start,
            window_end=window_end,
            slot_at=run.slot_at,
            now=now,
            base_url=settings.base_url,
            late=late,
            late_cause=late_cause,
            posted_at=posted_at,
        )
        return slack_blocks.build(content)


def counted_window(run: DigestRun, launch: Launch) -> tuple[dt.datetime, dt.datetime]:
    """The part of ``run``'s window inside the launch's dates as they are now: a lead may have moved them
    into it after it was made (a digest waiting for Slack, composed again late). Its counts were clipped
    to them, and its label said the whole window, a day before the new release day included."""
    start, end = launches.window(launch)
    if _overlaps(run, start, end):
        return max(run.window_start, start), min(run.window_end, end)
    return run.window_start, run.window_end  # none of it is (outside_dates): left as it was


def _overlaps(run: DigestRun, start: dt.datetime, end: dt.datetime) -> bool:
    return start < run.window_end and run.window_start < end


def _store_content(
    db: Database,
    run: DigestRun,
    launch: Launch,
    *,
    now: dt.datetime,
    settings: Settings,
    late: bool,
    late_cause: str = "down",
    posted_at: dt.datetime | None = None,
) -> DigestRun:
    text, blocks = message(
        db, run, launch, now=now, settings=settings, late=late, late_cause=late_cause, posted_at=posted_at
    )
    window_start, window_end = counted_window(run, launch)  # as the Digests page should show it too
    return _save(
        db,
        run,
        text=text,
        blocks=blocks,
        window_start=window_start,
        window_end=window_end,
        language=settings.message_language,
    )


def is_late(run: DigestRun, posted_at: dt.datetime, settings: Settings) -> bool:
    """Whether ``run``'s digest, going out at ``posted_at`` (the real clock's time, whatever moment the
    pass acts as), is late: more than ``ON_TIME`` after it was due. Then it says so in Slack, and the
    Digests page records it as sent late. A scheduled one is due once its slot has settled (``settle``);
    one by hand when it was asked for (its run's creation): pressed at 14:37 while Slack was down, it
    may go out the next morning, and "14:37 … 8 today" then reads as today's."""
    due = run.slot_at + settle(settings) if run.kind == DigestKind.SCHEDULED else run.created_at
    return posted_at - due > ON_TIME


def deliver(
    db: Database,
    run: DigestRun,
    launch: Launch,
    *,
    sender: Sender | None,
    clock: Clock = _utcnow,
    sleep: Sleep = time.sleep,
    late: bool,
    check_first: bool = False,
    max_pause: float = math.inf,
) -> DigestRun:
    """Post a claimed run's stored content, with bounded retries; record the outcome. ``late``: whether
    that content was composed as late (``is_late``), so that the Digests page records what Slack shows.
    ``max_pause``: the longest pause between tries (a person waiting on a page: longer, and a later pass tries)."""
    if sender is None:
        log.info("digest %s for %s composed as a dry run (no Slack configured)", run.slot_key, launch.slug)
        return _save(db, run, status=DigestStatus.DRY_RUN, sent_at=clock(), error=None)
    channel = launch.slack_channel or ""
    if not channel and sender.can_check_channel:
        return _fail(db, run, launch, NO_CHANNEL)
    claim = delivery.Claim(db, DigestRun, run, clock)
    result = delivery.post_with_retries(
        sender,
        channel=channel,
        key=run.slot_key,
        text=run.text,
        blocks=run.blocks,
        claimed_since=run.created_at,
        attempts=run.attempts,
        check_first=check_first,
        sleep=sleep,
        keep_claim=claim.keep,
        max_pause=max_pause,
        maybe_posted=run.maybe_posted,
    )
    if result.lost:
        log.warning("digest %s for %s was taken over by another process; it posts it", run.slot_key, launch.slug)
        return claim.as_stored()
    attempts, posted, error = result.attempts, result.posted, result.error
    if posted is not None:
        status = DigestStatus.LATE if late else DigestStatus.SENT
        log.info("digest %s for %s %s to %s", run.slot_key, launch.slug, status.value, posted.channel)
        return _save(
            db,
            run,
            status=status,
            sent_at=clock(),
            channel=posted.channel,
            slack_ts=posted.ts,
            attempts=attempts,
            error=None,
            next_attempt_at=None,
            maybe_posted=False,
        )
    assert error is not None  # noqa: S101 - a pass that did not post ends with its error
    maybe_posted = result.maybe_posted
    if error.permanent:
        return _fail(db, run, launch, error.message, attempts=attempts, maybe_posted=maybe_posted)
    if error.maybe_posted and not sender.can_check_channel:
        # A webhook cannot look in the channel: a later pass might post it twice.
        reason = WEBHOOK_MAY_HAVE_POSTED.format(reason=error.message)
        return _fail(db, run, launch, reason, attempts=attempts, maybe_posted=maybe_posted)
    pause = delivery.next_pass(error, attempts_before=run.attempts)
    if pause is None:
        reason = GAVE_UP.format(attempts=attempts, reason=error.message)
        return _fail(db, run, launch, reason, attempts=attempts, maybe_posted=maybe_posted)
    log.warning(
        "digest %s for %s not delivered yet (%s); next try in %s", run.slot_key, launch.slug, error.message, pause
    )
    return _save(
        db,
        run,
        status=DigestStatus.RETRYING,
        attempts=attempts,
        error=error.message,
        next_attempt_at=clock() + pause,
        maybe_posted=maybe_posted,
    )


def mark_dry_run(
    db: Database, run: DigestRun, *, text: str, blocks: list[dict[str, object]], at: dt.datetime, language: str
) -> DigestRun:
    """``language``: the one ``text`` and ``blocks`` were composed in (``message`` composes in the
    setting for Slack messages)."""
    return _save(db, run, text=text, blocks=blocks, status=DigestStatus.DRY_RUN, sent_at=at, language=language)


def _fail(
    db: Database, run: DigestRun, launch: Launch, message: str, *, attempts: int | None = None, **changes: object
) -> DigestRun:
    log.error("digest %s for %s failed: %s", run.slot_key, launch.slug, message)
    return _save(
        db,
        run,
        status=DigestStatus.FAILED,
        error=message,
        next_attempt_at=None,
        attempts=run.attempts if attempts is None else attempts,
        **changes,
    )


# --- the scheduler's work ---------------------------------------------------------------


def live_launches(db: Database, launch_ids: Iterable[int] | None = None) -> list[Launch]:
    with db.session() as session:
        found = launches.list_launches(session, statuses=(LaunchStatus.LIVE,))
    wanted = set(launch_ids) if launch_ids is not None else None
    return [launch for launch in found if wanted is None or launch.id in wanted]


def _existing_keys(db: Database, launch: Launch, since: dt.datetime) -> set[str]:
    with db.session() as session:
        return set(
            session.exec(
                select(DigestRun.slot_key).where(DigestRun.launch_id == launch.id, col(DigestRun.slot_at) >= since)
            )
        )


def reported_past(session: Session, launch: Launch) -> bool:
    """Whether a scheduled digest was composed after the launch's end (before an edit moved the end
    earlier): a closing digest now would repeat a window already posted."""
    composed = session.exec(
        select(DigestRun.id)
        .where(
            DigestRun.launch_id == launch.id,
            DigestRun.kind == DigestKind.SCHEDULED,
            DigestRun.status != DigestStatus.MISSED,
            col(DigestRun.slot_at) > schedule.closing_slot(launch),
        )
        .limit(1)
    ).first()
    return composed is not None


def looks_back(now: dt.datetime, real_now: dt.datetime) -> bool:
    """Whether a pass at ``now`` looks back (`tally digest run-due --now` with a past moment): its
    digests go out late, saying so, and it checks no spike alerts, which are news only when they happen."""
    return real_now - now > ON_TIME


def run_due(
    db: Database,
    *,
    settings: Settings,
    now: dt.datetime,
    sender: Sender | None,
    launch_ids: Iterable[int] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock | None = None,
    check_alerts: bool = True,
    alerts_done: list[Alert] | None = None,
    failed: list[str] | None = None,
    running_since: dt.datetime | None = None,
) -> list[DigestRun]:
    """Everything the scheduler does at ``now``: send due slots (those ``settle``
    has passed since, by ``clock``; late within the grace period), record older
    ones as missed, retry what Slack refused for now, and take over claims
    abandoned by dead processes. A launch whose new slots fail is logged and
    added to ``failed`` (its slug) when given; the others go on.

    Then, unless ``check_alerts`` is off (the scheduler checks them on a job of its
    own) or ``now`` is in the past by ``clock`` (``looks_back``), spike alerts at
    ``now`` (app/insight/alerts.py); the alerts dealt with are added to
    ``alerts_done`` when it is given. An alert that fails is logged, never raised:
    the digests are done by then.

    ``running_since``: since when the process calling has been running (the scheduler's), so that a
    digest late although it was running at its time says it was held up, not that the app was down."""
    clock = clock or (lambda: now)
    if check_alerts and looks_back(now, clock()):
        # A spike then, posted now, would read as one now (and be claimed, so never posted when it was).
        log.info("spike alerts not checked: %s is in the past; the scheduler checks them now", now.isoformat())
        check_alerts = False
    # Runs left to retry first: after an outage, yesterday's 16:00 digest goes out before today's 09:00.
    done = _resume(db, settings=settings, now=now, sender=sender, launch_ids=launch_ids, sleep=sleep, clock=clock)
    for launch in live_launches(db, launch_ids):
        try:
            done.extend(
                _due_slots(
                    db,
                    launch,
                    settings=settings,
                    now=now,
                    sender=sender,
                    sleep=sleep,
                    clock=clock,
                    running_since=running_since,
                )
            )
        except Exception:
            # One launch whose digest cannot be composed or stored must not hold up the others' (nor the
            # alerts after them). A slot it had claimed is taken over as abandoned by a later pass.
            log.exception("digests of %s at %s failed; the other launches go on", launch.slug, now.isoformat())
            if failed is not None:
                failed.append(launch.slug)
    if check_alerts:
        try:
            found = alerts.run_alerts(
                db, settings=settings, now=now, sender=sender, launch_ids=launch_ids, sleep=sleep, clock=clock
            )
        except Exception:
            log.exception("spike alerts at %s failed; the next check tries again", now.isoformat())
            found = []
        if alerts_done is not None:
            alerts_done.extend(found)
    return done


def _due_slots(
    db: Database,
    launch: Launch,
    *,
    settings: Settings,
    now: dt.datetime,
    sender: Sender | None,
    sleep: Sleep,
    clock: Clock,
    running_since: dt.datetime | None = None,
) -> list[DigestRun]:
    """The launch's slots that fell due and have no run yet: sent, or recorded as missed."""
    done = []
    settled = settle(settings)
    grace = dt.timedelta(minutes=settings.digest_grace_minutes)
    # Slots before the launch went live, or before an edit moved them into the past, were never
    # due, so they are not "missed" (Launch.digests_due_from; a launch without it, from before
    # migration 0018, is looked at over the last LOOKBACK only).
    due_from = max(launches.window(launch)[0], launch.digests_due_from or now - LOOKBACK)
    since = max(now - LOOKBACK, due_from)
    taken = _existing_keys(db, launch, due_from)
    # Due once settled by the real clock: what was received before a slot may still be committing
    # (settle). A pass acting as at a past moment (`run-due --now`) finds it long settled.
    until = min(now, clock() - settled)
    slots = list(schedule.digest_slots(launch, since - dt.timedelta(microseconds=1), until))
    if due_from < since:
        # Down for longer than LOOKBACK: the slots before it were left with no row at all, shown
        # nowhere. They are missed, but for a closing digest not long ago, which no later one covers.
        just_before = dt.timedelta(microseconds=1)
        older = schedule.digest_slots(launch, due_from - just_before, since - just_before)
        unseen = [slot_at for slot_at in older if slot_key(launch, slot_at) not in taken]
        closing = schedule.closing_slot(launch)
        if closing in unseen:
            unseen.remove(closing)
            with db.session() as session:
                reported = reported_past(session, launch)  # a later digest covered its evening
            if not reported and now - closing <= CLOSING_CATCH_UP:
                slots.insert(0, closing)
            elif not reported:
                unseen.append(closing)
        done.extend(_record_missed(db, launch, unseen, now=now))
    for slot_at in slots:
        if slot_key(launch, slot_at) in taken:
            continue
        # The closing digest is sent however late (within CLOSING_CATCH_UP): no later one covers it.
        if now - (slot_at + settled) >= grace and slot_at != schedule.closing_slot(launch):
            missed = claim_slot(db, launch, slot_at, now=now, status=DigestStatus.MISSED)
            if missed is not None:
                log.warning("digest slot %s for %s missed: %s", missed.slot_key, launch.slug, MISSED_REASON)
                done.append(missed)
            continue
        # The time now, not the pass's start: retries went first, and a claim stamped before them
        # could look abandoned to another replica at once.
        run = claim_slot(db, launch, slot_at, now=clock())
        if run is None:
            continue  # another process has it
        # Composed as at ``now``, but late or not by the moment it goes out: `run-due --now` with a past
        # moment posts now, by the real clock, and a digest of yesterday's 13:00 must say so.
        posted_at = clock()
        late = is_late(run, posted_at, settings)
        cause = _late_cause(launch, slot_at, settled=settled, running_since=running_since)
        run = _store_content(
            db, run, launch, now=now, settings=settings, late=late, late_cause=cause, posted_at=posted_at
        )
        done.append(deliver(db, run, launch, sender=sender, clock=clock, sleep=sleep, late=late))
    return done


def _late_cause(
    launch: Launch, slot_at: dt.datetime, *, settled: dt.timedelta, running_since: dt.datetime | None
) -> str:
    """Why a digest composed late by this pass is late, as it tells Slack (slack_blocks.DigestContent)."""
    if slot_at == schedule.closing_slot(launch) and launch.updated_at > slot_at:
        return "moved"  # an edit moved the launch's end into the past: Launch Tally ran
    if running_since is not None and running_since <= slot_at + settled:
        # The scheduler was running when the digest fell due: the passes ahead of it (other launches'
        # digests while Slack was slow, the alert check) held it up.
        return "delayed"
    return "down"


def outside_dates(run: DigestRun, launch: Launch) -> i18n.Text | None:
    """Why ``run`` cannot be sent, when its window is outside the launch's dates as they are now (a lead
    moved them after it was composed); else None. Composed again as late, it crashed (a window ending
    before the launch's start): Send to Slack answered 500, and a retry stayed "sending" for good.

    Its times and days are ISO 8601 (local): a scheduler's failure is stored in English and shown in
    the reader's language later, and "18 Nov 09:00" read the same inside a Norwegian sentence."""
    if _overlaps(run, *launches.window(launch)):
        return None
    tz = launches.zone(launch)
    return i18n.Text(
        OUTSIDE_DATES,
        window=f"{run.window_start.astimezone(tz):%Y-%m-%d %H:%M} – {run.window_end.astimezone(tz):%Y-%m-%d %H:%M}",
        dates=f"{launch.starts_on.isoformat()} – {launch.ends_on.isoformat()}",
    )


def _resume(
    db: Database,
    *,
    settings: Settings,
    now: dt.datetime,
    sender: Sender | None,
    launch_ids: Iterable[int] | None,
    sleep: Sleep,
    clock: Clock,
) -> list[DigestRun]:
    # Of any launch, not only live ones: a digest composed while its launch was live is the launch's
    # record, and Slack should get it. The final tally waiting to be retried when a lead closed the
    # launch stayed "will retry" for good.
    of_launches = () if launch_ids is None else (col(DigestRun.launch_id).in_(list(launch_ids)),)
    with db.session() as session:
        waiting = list(
            session.exec(
                select(DigestRun)
                .where(
                    *of_launches,
                    sa.or_(
                        sa.and_(col(DigestRun.status) == DigestStatus.RETRYING, col(DigestRun.next_attempt_at) <= now),
                        sa.and_(
                            col(DigestRun.status) == DigestStatus.PENDING, col(DigestRun.claimed_at) < now - STALE_CLAIM
                        ),
                    ),
                )
                .order_by(col(DigestRun.slot_at))
            )
        )
        launch_by_id = {launch.id: launch for launch in launches.list_launches(session)}
    done = []
    for run in waiting:
        try:
            launch = launch_by_id[run.launch_id]
            if launch.status == LaunchStatus.DRAFT:
                # Set back to draft (put off, or paused): its waiting digests wait with it, to go out if it
                # goes live again; a closed launch's final tally still goes out.
                continue
            taken = _take_over(db, run, expect=run.status, now=now)
            if taken is None:
                continue
            stale = run.status == DigestStatus.PENDING
            if stale and taken.blocks and (found := _found_in_slack(db, taken, launch, sender, settings)):
                done.append(found)
                continue
            if (outside := outside_dates(taken, launch)) is not None:
                done.append(_fail(db, taken, launch, outside))
                continue
            posted_at = clock()
            late = is_late(run, posted_at, settings)
            if not taken.blocks:  # its process died before composing
                taken = _store_content(db, taken, launch, now=now, settings=settings, late=late, posted_at=posted_at)
            elif late:
                # Composed on time, but Slack did not take it then (retries, a process that died while
                # sending): posted now, hours later maybe, it must say so.
                cause = "undelivered" if run.status == DigestStatus.RETRYING else "down"
                taken = _store_content(
                    db, taken, launch, now=now, settings=settings, late=True, late_cause=cause, posted_at=posted_at
                )
            # It may have been posted already (a dropped connection, a dead process): look before
            # posting. A webhook cannot look, so a dead process's digest fails for a person to check,
            # unless it died before composing it (no blocks: nothing was sent); a webhook retry goes
            # ahead (webhook runs only wait for retries after errors that posted nothing).
            check = bool(sender and (sender.can_check_channel or (stale and run.blocks)))
            if stale and run.blocks:
                # Its process may have posted it before dying: so marked until a look finds the channel
                # without it, or a Send now pressed meanwhile looked for nothing and posted it again.
                taken.maybe_posted = True
            done.append(
                deliver(db, taken, launch, sender=sender, clock=clock, sleep=sleep, late=late, check_first=check)
            )
        except Exception:  # one run that cannot be finished must not hold up the others behind it
            log.exception("digest run %s could not be resumed; the others go on", run.id)
    return done


def _found_in_slack(
    db: Database, run: DigestRun, launch: Launch, sender: Sender | None, settings: Settings
) -> DigestRun | None:
    """A claim whose process composed it, maybe posted it, then died or lost its database before saving
    the outcome: if Slack has it, it is recorded as posted when Slack got it, as it was composed. Looked
    for before anything else: composed anew as late first, the Digests page said "sent late" of the
    on-time digest in the channel. (Not found, or Slack not answering: ``deliver`` looks again.)"""
    if sender is None or not sender.can_check_channel or not launch.slack_channel:
        return None
    try:
        posted = _find_posted(sender, launch, run)
    except SlackError:
        return None
    if posted is None or posted.ts is None:
        return None
    return _recorded_as_found(db, run, launch, posted, settings, at=dt.datetime.fromtimestamp(float(posted.ts), dt.UTC))


def _find_posted(sender: Sender, launch: Launch, run: DigestRun) -> Posted | None:
    """``run``'s message in the launch's channel, if Slack has it (a minute's slack for clocks before its claim)."""
    return sender.find_posted(
        channel=launch.slack_channel or "", slot_key=run.slot_key, oldest=run.created_at.timestamp() - 60
    )


def _recorded_as_found(
    db: Database, run: DigestRun, launch: Launch, posted: Posted, settings: Settings, *, at: dt.datetime
) -> DigestRun:
    """``run`` found in Slack: recorded as posted ``at``, when Slack got it."""
    log.info("digest %s for %s was already in Slack; recorded as posted then", run.slot_key, launch.slug)
    return _save(
        db,
        run,
        status=DigestStatus.LATE if is_late(run, at, settings) else DigestStatus.SENT,
        sent_at=at,
        channel=posted.channel,
        slack_ts=posted.ts,
        error=None,
        next_attempt_at=None,
        maybe_posted=False,
    )


# --- by hand: preview, send now, send again ---------------------------------------------

# A person pressed a button (or ran `tally digest send`) and waits: Slack's rate limits and the pauses
# between tries are not waited out (they took minutes, behind a proxy's timeout, and a second press sent
# a second digest); past this, the digest waits to be retried and the scheduler sends it.
BY_HAND_MAX_PAUSE = 2.0  # seconds


def _check_started(launch: Launch, now: dt.datetime) -> None:
    """A digest by hand covers the launch so far: before it starts there is no window to count."""
    if now < launches.window(launch)[0]:
        raise Conflict(
            f"Launch {launch.slug!r} starts on {launch.starts_on}: there is nothing to send before then.",
            code="outside_window",
        )


def _by_hand(session: Session, launch: Launch, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The window of a digest by hand (previewed or sent): since the last scheduled one, to now or the
    launch's end once it is over (not "day 23 of 22" counting past the launch). At the very end of a
    digest's window (its slot; the launch's end once the closing digest went), that window again, not
    an empty one."""
    end = min(now, launches.window(launch)[1])
    return chain_start(session, launch, end - dt.timedelta(microseconds=1)), end


def preview(
    db: Database, launch: Launch, *, settings: Settings, now: dt.datetime, to_read: bool = False
) -> slack_blocks.DigestContent:
    """What a digest sent now would say (the window since the last scheduled one). At the very moment
    of a digest already composed, that digest (not the empty window after it). ``to_read``: shown to a
    person, whose links then open pages compared as the preview compares (see below)."""
    _check_started(launch, now)
    with db.session() as session:
        start, end = _by_hand(session, launch, now)
        content = compose(
            session, launch, window_start=start, window_end=end, slot_at=end, now=now, base_url=settings.base_url
        )
        if not to_read or compared_with(session, launch, start, end) is not None:
            return content  # a digest's own window (at its slot): its link opens that digest's page
        # No digest has this window, so a page opened on it compares it with as long a time before, not as
        # the preview did. "Since the digest" is compared as the next digest (and this preview) compare.
        return replace(content, window=None)


def preview_message(
    db: Database, launch: Launch, *, settings: Settings, now: dt.datetime, present: bool = True
) -> tuple[str, list[dict[str, Any]]]:
    """``preview`` as Slack would get it (in its language): plain text for a terminal, and the blocks.
    ``present``: ``now`` is the real time, so links worked out when opened ("since the digest") are this
    preview's window; a preview of a past moment (``tally digest preview --now``) links to its window."""
    with i18n.use_language(settings.message_language):
        content = preview(db, launch, settings=settings, now=now, to_read=present)
        return slack_blocks.plain_text(content), slack_blocks.build(content)[1]


def send_now(
    db: Database,
    launch: Launch,
    *,
    settings: Settings,
    now: dt.datetime,
    sender: Sender | None,
    sleep: Sleep = time.sleep,
    clock: Clock | None = None,
    max_pause: float = math.inf,
) -> DigestRun:
    """An extra digest, now, for the window since the last scheduled one. It does
    not move the scheduled windows: the next one still covers its full period. It replaces one sent by
    hand before that still waits for Slack; when that one may be in Slack already, the run returned is
    that one, found there (``_look_for_waiting``: or a Conflict, when the channel cannot be read)."""
    _check_started(launch, now)  # before its run is recorded: a run that cannot be composed would stay pending
    if sender is not None and (found := _look_for_waiting(db, launch, settings=settings, sender=sender, now=now)):
        return found  # the one pressed before is in Slack: the lead sees it there, not twice
    with db.transaction() as session:
        start, end = _by_hand(session, launch, now)  # as the preview showed it
        # One sent by hand earlier that Slack did not take yet would be posted by the scheduler's retry
        # after this one, with older numbers: Slack got the same digest two or three times. This one
        # covers its window (both run from the last scheduled digest), so it replaces it. Only a run
        # still waiting: one a retry has taken over is already being posted. Not one that may be in
        # Slack (``_look_for_waiting`` dealt with those; one left is another request's, just made).
        replaced = (
            session.connection()
            .execute(
                sa.update(_run)
                .where(
                    _run.c.launch_id == id_of(launch),
                    _run.c.kind == DigestKind.MANUAL.value,
                    _run.c.status == DigestStatus.RETRYING.value,
                    sa.not_(_run.c.maybe_posted),
                )
                .values(status=DigestStatus.REPLACED.value, next_attempt_at=None)
            )
            .rowcount
            or 0
        )
        run_id = _insert(
            session,
            launch,
            slot_key=f"{launch.id}:manual:{uuid.uuid4().hex[:16]}",
            kind=DigestKind.MANUAL,
            slot_at=end,
            window_start=start,
            status=DigestStatus.PENDING,
            now=now,
        )
        run = session.get(DigestRun, run_id)
    for _ in range(replaced):  # as every other outcome of a run, in tally_digest_runs_total
        metrics.count_digest_run(DigestStatus.REPLACED)
    if run is None:
        raise Conflict("Could not record the digest; try again.", code="unavailable")
    run = _store_content(db, run, launch, now=now, settings=settings, late=False)
    return deliver(
        db, run, launch, sender=sender, clock=clock or (lambda: now), sleep=sleep, late=False, max_pause=max_pause
    )


def _look_for_waiting(
    db: Database, launch: Launch, *, settings: Settings, sender: Sender, now: dt.datetime
) -> DigestRun | None:
    """Before a digest by hand replaces the one still waiting to be retried: that one's last try may be
    in Slack all the same (a 5xx after Slack stored it, a dropped connection), and replacing it unseen
    posted the digest twice. Each such run is looked for in the channel. Found, it is recorded as sent
    when Slack got it and returned (the newest, if several): nothing new is posted. Not there, it is
    replaced. When the channel cannot be read, the new digest is refused (``Conflict``) rather than
    guessed at, and the waiting one is left to its retry, which looks first."""
    with db.session() as session:
        waiting = session.exec(
            select(DigestRun)
            .where(
                DigestRun.launch_id == id_of(launch),
                DigestRun.kind == DigestKind.MANUAL,
                DigestRun.status == DigestStatus.RETRYING,
                col(DigestRun.maybe_posted),
            )
            .order_by(col(DigestRun.id).desc())
        ).all()
    found: DigestRun | None = None
    for run in waiting:
        taken = _take_over(db, run, expect=DigestStatus.RETRYING, now=now)
        if taken is None:
            continue  # a retry has it, and looks in the channel before posting
        try:
            posted = _find_posted(sender, launch, taken)
        except SlackError as exc:
            delivery.save(db, DigestRun, taken, status=DigestStatus.RETRYING)  # waiting again, as it was
            raise _may_be_posted(launch, taken, exc) from None
        if posted is None:
            _save(db, taken, status=DigestStatus.REPLACED, next_attempt_at=None, maybe_posted=False)
            continue
        at = dt.datetime.fromtimestamp(float(posted.ts), dt.UTC) if posted.ts else now
        recorded = _recorded_as_found(db, taken, launch, posted, settings, at=at)
        found = found or recorded
    return found


def _may_be_posted(launch: Launch, run: DigestRun, exc: SlackError) -> Conflict:
    tz = launches.zone(launch)
    retry = f", or leave it to its retry at {run.next_attempt_at.astimezone(tz):%H:%M}" if run.next_attempt_at else ""
    return Conflict(
        f"Nothing was sent: the digest sent by hand at {run.created_at.astimezone(tz):%H:%M} may already be in "
        f"{launch.slack_channel or WEBHOOKS_CHANNEL}, and Slack could not be checked ({exc.code}). Look in the "
        f"channel: if it is not there, send that digest from the Digests page{retry}.",
        code="digest_may_be_posted",
    )


def send_again(
    db: Database,
    run_id: int,
    *,
    settings: Settings,
    now: dt.datetime,
    sender: Sender | None,
    sleep: Sleep = time.sleep,
    clock: Clock | None = None,
    max_pause: float = math.inf,
) -> DigestRun:
    """Post a stored digest that was only a dry run, failed, or is waiting to be retried."""
    if sender is None:
        raise Conflict(
            "Slack is not configured: set SLACK_BOT_TOKEN or SLACK_WEBHOOK_URL first.", code="slack_not_configured"
        )
    with db.session() as session:
        run = session.get(DigestRun, run_id)
        launch = session.get(Launch, run.launch_id) if run else None
    if run is None or launch is None:
        raise NotFound(f"No digest run {run_id}.")
    if run.status not in (DigestStatus.DRY_RUN, DigestStatus.FAILED, DigestStatus.RETRYING):
        raise Conflict(
            f"This digest is {run.status.value}: only dry runs and failed digests can be sent again.",
            code="digest_not_resendable",
        )
    if (outside := outside_dates(run, launch)) is not None:
        raise Conflict(outside, code="digest_outside_dates")
    taken = _take_over(db, run, expect=run.status, now=now)
    if taken is None:
        raise Conflict("Someone else is sending this digest right now.", code="digest_busy")
    clock = clock or (lambda: now)
    posted_at = clock()
    late = is_late(run, posted_at, settings)
    if late:
        # Its stored blocks were composed for its time: posted the next day, "13:00" with no word of
        # lateness reads as today's. Labelled as the scheduler's own late posts are (LATE_WITH_DAY).
        cause = "by_hand" if run.status == DigestStatus.DRY_RUN else "undelivered"
        taken = _store_content(
            db, taken, launch, now=now, settings=settings, late=True, late_cause=cause, posted_at=posted_at
        )
    # A bot looks before posting again; with a webhook the lead has looked (the page asks them to), so
    # its earlier try is not in Slack: still marked "may be there", a rate-limited send left it waiting
    # and every Send now after was refused for a look a webhook cannot make.
    check = sender.can_check_channel and run.attempts > 0
    if not sender.can_check_channel:
        taken.maybe_posted = False
    return deliver(
        db,
        taken,
        launch,
        sender=sender,
        clock=clock,
        sleep=sleep,
        late=late,
        check_first=check,
        max_pause=max_pause,
    )


def recent_runs(session: Session, launch: Launch, *, limit: int = 60) -> Sequence[DigestRun]:
    return session.exec(
        select(DigestRun)
        .where(DigestRun.launch_id == launch.id)
        .order_by(col(DigestRun.slot_at).desc(), col(DigestRun.id).desc())
        .limit(limit)
    ).all()
