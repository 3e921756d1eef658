"""Spike alerts: one hypothesis (or a rising theme in "other") far above normal between digests.

**The window** is the current digest window: from the latest scheduled digest time at or before
``now`` (whether or not a digest was sent then; the launch's start before its first) to ``now``.

**Normal**, for a hypothesis and that window, is the higher of

* its expected rate: ``expected_per_day`` × the share of a day's enquiries of the launch (all of them)
  that come in the window's local clock hours on its closed earlier days (up to ``HISTORY_DAYS``),
  once those hold ``PROFILE_MIN`` enquiries; before that (the first day), × the window's length /
  ``WORKING_DAY`` (8 h), at most a whole day's. Not × length / 24 h: a customer centre open 8 hours
  gets its day in them, three times that rate, and its normal day alerted (``expected_share``);
* its own rate: the mean of its counts in the same local clock hours on each earlier day of the
  launch (up to ``HISTORY_DAYS``). Those hours are widened to whole local hours (13:00–15:00 for a
  window of 13:00–14:37) so that they come from the closed days' hour-by-hour counts, which every
  process keeps (app/tallies/cache.py): no enquiry is read for them. Each day's count is then
  scaled back to the window's length (× 97/120 here). A stretch that began before the launch (the
  second day's night window, from 16:00 on the eve of the launch) counts from the launch's start,
  the hours before it filled in as busy as the launch's closed days have them (``_scale``). A day
  on which the launch got no enquiry at all (the centre was closed) is left out.

A rising theme in "other" (``themes.surprises`` over the window) counts the notes that have it;
its normal is that count in the part of the launch before the window, per day the centre was open
(``days_before``), times the share of a day the window's hours get (``expected_share``, as for the
expected rate). Overlapping phrases of the same notes are one topic: only the best ranked is alerted.

**A spike** is a count in the window of at least the launch's ``alert_min_count`` and at least
``alert_factor`` × normal. A subject with no expected rate and no earlier day (the launch's first
day) has a normal of 0: ``alert_min_count`` alone decides. Retired hypotheses never alert.
``evaluate`` is a pure function of the data and ``now``.

**Once** per (launch, subject, window): claiming an alert is inserting its row with a unique
``claim_key``, exactly like a digest slot (app/digests.py), so several workers, replicas and
`tally digest run-due` send it once. Delivery, retries, stale claims and permanent errors are the
digests' (app/slack/delivery.py); without Slack an alert is kept as a dry run. The scheduler
checks every five minutes (app/jobs/scheduler.py), and ``digests.run_due`` after the digests.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app import i18n, launches, ranges, schedule, tallies
from app.config import Settings
from app.db import Database, insert_ignoring_conflicts
from app.errors import NotFound
from app.i18n import N_
from app.insight import relink, themes
from app.models import Alert, AlertKind, DigestStatus, Hypothesis, Launch, LaunchStatus, id_of
from app.observability import metrics
from app.slack import blocks as slack_blocks
from app.slack import delivery
from app.slack.client import Sender, SlackError
from app.slack.messages import template

# What a lead reads on the Alerts page (app/slack/messages.py translates it there).
NO_CHANNEL = template(N_("The launch has no Slack channel: set one in the launch editor."))
WEBHOOK_MAY_HAVE_POSTED = template(N_("{reason} A webhook cannot check the channel: look in Slack for it."))
GAVE_UP = template(N_("Gave up after {attempts} attempts: {reason}"))
NOTES_ERASED = template(N_("Not sent: a lead erased the notes its theme was named from."))

log = logging.getLogger(__name__)

HISTORY_DAYS = 7  # earlier days compared with, at most
# As for digests (app/digests.py, which imports this module): posted more than this after it was counted,
# an alert says when it was counted; this late, or on a later day, with the day.
ON_TIME = dt.timedelta(minutes=5)
LATE_WITH_DAY = dt.timedelta(hours=3)
# The launch's closed days tell when in the day its enquiries come once they hold this many: an hour with
# an eighth of a day's would then look a third as busy as it is once in 200 days (at 50: once in 20).
PROFILE_MIN = 100
# Before that, a day's expected enquiries are taken to come within this long, a customer centre's day:
# spread over 24 hours they made a centre's normal day three times its normal. A centre open longer (or
# round the clock) is then alerted later for a spike, never for its normal day; one open under 8 h /
# factor (2 h 40 at the default 3) would be.
WORKING_DAY = dt.timedelta(hours=8)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
# Shown on the pages and in the API: every alert but one being sent right now.
LISTED = (DigestStatus.SENT, DigestStatus.DRY_RUN, DigestStatus.RETRYING, DigestStatus.FAILED)
# Recalled by the next digest.
RECALLED = (DigestStatus.SENT, DigestStatus.DRY_RUN)

_alert = Alert.__table__  # type: ignore[attr-defined]

Sleep = Callable[[float], None]
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class Spike:
    kind: AlertKind
    subject: str  # the hypothesis's key, or the theme's phrase
    name: str  # what people call it: the hypothesis's text, or the phrase
    count: int  # in the window so far
    normal: float  # the count that would have been normal for the window so far (0: no normal yet)
    window_start: dt.datetime
    observed_at: dt.datetime
    hypothesis_id: int | None = None
    theme_key: str | None = None  # the theme's stems

    @property
    def ratio(self) -> float | None:
        return self.count / self.normal if self.normal > 0 else None


# --- when and how much ------------------------------------------------------------------------


def window_start(launch: Launch, now: dt.datetime) -> dt.datetime | None:
    """The current digest window's start (None before the launch has begun)."""
    start = launches.window(launch)[0]
    if now < start:
        return None
    return schedule.previous_slot(launch, now) or start


def _whole_hours(tz: dt.tzinfo, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) widened to whole local hours, as local wall-clock times (naive)."""
    a = start.astimezone(tz).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    local_end = end.astimezone(tz).replace(tzinfo=None)
    b = local_end.replace(minute=0, second=0, microsecond=0)
    if b < local_end:
        b += HOUR
    return a, b


@dataclass(frozen=True)
class Stretch:
    """The same local clock hours as the window on an earlier day: [start, end), cut at the launch's
    start when they began before it (``whole``: where they began)."""

    whole: dt.datetime
    start: dt.datetime
    end: dt.datetime


def _stretches(launch: Launch, start: dt.datetime, end: dt.datetime) -> list[Stretch]:
    tz = launches.zone(launch)
    first = launches.window(launch)[0]
    a, b = _whole_hours(tz, start, end)
    stretches = []
    for days in range(1, HISTORY_DAYS + 1):
        shifted_end = (b - days * DAY).replace(tzinfo=tz).astimezone(dt.UTC)
        if shifted_end <= first:
            break
        shifted = (a - days * DAY).replace(tzinfo=tz).astimezone(dt.UTC)
        if shifted_end > shifted:  # the hour the clocks skipped in spring has no length: nothing to compare
            stretches.append(Stretch(shifted, max(shifted, first), shifted_end))
    return stretches


def earlier_stretches(launch: Launch, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The same local clock hours as [start, end) on each earlier day of the launch (newest first, at
    most ``HISTORY_DAYS``), widened to whole local hours, from the launch's start at the earliest (the
    night window of its second day is compared with its first day from midnight). Wall-clock
    arithmetic: on a DST day a stretch is an hour shorter or longer, and each is scaled by its own length."""
    return [(s.start, s.end) for s in _stretches(launch, start, end)]


@dataclass(frozen=True)
class Hours:
    """The launch's enquiries (all of them, whatever they were ticked as) on its earlier closed days, by
    local clock hour: when in the day the centre's enquiries come."""

    tz: ZoneInfo
    days: dict[dt.date, list[int]]

    @functools.cached_property
    def by_hour(self) -> list[int]:
        return [sum(hour) for hour in zip(*self.days.values(), strict=True)] if self.days else [0] * 24

    def closed(self, end: dt.datetime) -> bool:
        """Whether the launch had no enquiry at all on the (closed) day of the hour before ``end``: the
        centre was closed (a weekend, a holiday), and those hours are nobody's normal."""
        day = launches.local_date(end - HOUR, self.tz)
        return day in self.days and not any(self.days[day])

    def share(self, start: dt.datetime, end: dt.datetime) -> float | None:
        """The share of a day's enquiries that come in the local clock hours of [start, end) (whole
        hours); None while the earlier days hold fewer than ``PROFILE_MIN`` enquiries to tell."""
        by_hour = self.by_hour
        total = sum(by_hour)
        if total < PROFILE_MIN:
            return None
        n, moment = 0, start
        while moment < end:
            n += by_hour[moment.astimezone(self.tz).hour]
            moment += HOUR
        return n / total


def hours_of(session: Session, launch: Launch, now: dt.datetime) -> Hours:
    """``Hours`` of the launch's closed days among the ``HISTORY_DAYS`` before today (kept counts: no
    enquiry is read for them)."""
    tz = launches.zone(launch)
    today = launches.local_date(now, tz)
    days = {}
    for n in range(1, HISTORY_DAYS + 1):
        day = today - dt.timedelta(days=n)
        if day < launch.starts_on:
            break
        if tallies.is_closed(launch, day, now):
            days[day] = tallies.by_clock_hour(session, launch, day, now)
    return Hours(tz, days)


def _scale(stretch: Stretch, hours: Hours, start: dt.datetime, end: dt.datetime) -> float:
    """What a stretch's count is multiplied by to stand for the window [start, end): by length within
    its whole hours. One cut at the launch's start lacks the hours before it, which cannot be taken as
    none (a centre open in the evening) nor as busy as the rest (the night): they are filled in as busy
    as the launch's closed days have them, relative to the hours it has; without enough of those, as
    busy per hour as the hours it has."""
    if stretch.start == stretch.whole:
        return (end - start) / (stretch.end - stretch.start)
    whole, counted = hours.share(stretch.whole, stretch.end), hours.share(stretch.start, stretch.end)
    if whole is None or not counted:
        return (end - start) / (stretch.end - stretch.start)
    return (end - start) / (stretch.end - stretch.whole) * whole / counted


def _usual_counts(
    session: Session,
    launch: Launch,
    hypotheses: Sequence[Hypothesis],
    *,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    hours: Hours,
) -> dict[int, float] | None:
    """Per hypothesis id, the mean count of the same hours of earlier days, scaled to [start, end);
    None on the launch's first day. Only days since the hypothesis counts (``tallies.counting_since``):
    one added yesterday is compared with yesterday, not with days it had no enquiries because it did
    not exist; one added today has no normal yet (left out). Nor the days the centre was closed: the
    first Monday of a launch begun on a Friday was compared with a Friday and two zeros."""
    stretches = _stretches(launch, start, end)
    if not stretches:
        return None
    launch_start = launches.window(launch)[0]
    first = tallies.first_enquiries(session, launch)
    since = {id_of(h): tallies.counting_since(h, launch_start, first.get(id_of(h)), launch=launch) for h in hypotheses}
    sums = dict.fromkeys(since, 0.0)
    days = dict.fromkeys(since, 0)
    for stretch in stretches:
        a, b = stretch.start, stretch.end
        if hours.closed(b):
            continue
        counting = [h for h in hypotheses if since[id_of(h)] < b]  # counting for some of the stretch at least
        if not counting:
            continue
        counts = tallies.tally(session=session, launch=launch, start=a, end=b, now=now, hypotheses=counting)
        scale = _scale(stretch, hours, start, end)
        for h in counting:
            sums[id_of(h)] += counts.for_hypothesis(h) * scale
            days[id_of(h)] += 1
    return {hypothesis_id: sums[hypothesis_id] / n for hypothesis_id, n in days.items() if n}


def expected_share(hours: Hours, start: dt.datetime, end: dt.datetime) -> float:
    """The part of a day's expected enquiries that [start, end) expects: the share of a day's
    enquiries that come in those local clock hours on the launch's closed days (by length within its
    whole hours); with too few of them, as much of a ``WORKING_DAY`` as the window lasts (a whole
    day's from 8 hours)."""
    a, b = (moment.replace(tzinfo=hours.tz).astimezone(dt.UTC) for moment in _whole_hours(hours.tz, start, end))
    share = hours.share(a, b) if b > a else None
    if share is None:
        return min(end - start, WORKING_DAY) / WORKING_DAY
    return share * ((end - start) / (b - a))


def is_spike(launch: Launch, count: int, normal: float) -> bool:
    return count >= launch.alert_min_count and count >= launch.alert_factor * normal


def _alerted_since(session: Session, launch: Launch, start: dt.datetime, kind: AlertKind) -> list[str]:
    """The subjects of alerts of ``kind`` observed at ``start`` or since, whatever window they were in: a
    lead who changes the digest times or the time zone moves the window's start, not the spike."""
    return list(
        session.exec(
            select(Alert.subject).where(
                Alert.launch_id == launch.id, col(Alert.observed_at) >= start, Alert.kind == kind
            )
        )
    )


def _themes_alerted_since(session: Session, launch: Launch, start: dt.datetime) -> list[set[str]]:
    """The stems of the themes alerted at ``start`` or since (as ``_alerted_since``). An alert stored
    before it kept them has its phrase read again as a note: a bare English phrase is then stemmed as
    Norwegian, which is why the stems are kept."""
    rows = session.exec(
        select(Alert.theme_key, Alert.subject).where(
            Alert.launch_id == launch.id, col(Alert.observed_at) >= start, Alert.kind == AlertKind.THEME
        )
    )
    # An alert whose notes were erased (``unname``) has neither: it holds back no theme (an empty set
    # would be inside every one).
    return [
        set(key.split()) if key else set(themes.analyse(subject).group.split())
        for key, subject in rows
        if key or subject
    ]


def evaluate(session: Session, launch: Launch, *, now: dt.datetime) -> list[Spike]:
    """The subjects far above normal in the current digest window at ``now``: hypotheses, then themes."""
    start = window_start(launch, now)
    end = min(now, launches.window(launch)[1])
    if start is None or end <= start:
        return []
    hypotheses = launches.hypotheses_of(session, launch, include_retired=False)
    current = tallies.tally(session=session, launch=launch, start=start, end=end, now=now, hypotheses=hypotheses)
    # Only a hypothesis with enough enquiries can spike: the earlier days are looked at for those alone.
    # Enquiries of this window moved onto it from "other" do not count here: they were alerted already,
    # as the theme they were. Nor does a hypothesis alerted since the window began (under another start).
    moved = relink.moved_into(session, launch, start, end)
    alerted = set(_alerted_since(session, launch, start, AlertKind.HYPOTHESIS))
    counted = {id_of(h): current.for_hypothesis(h) - moved[id_of(h)] for h in hypotheses}
    enough = [h for h in hypotheses if counted[id_of(h)] >= launch.alert_min_count and h.key not in alerted]
    themes_may_spike = current.other >= launch.alert_min_count  # a theme's notes are "other" enquiries
    hours = hours_of(session, launch, now) if enough or themes_may_spike else Hours(launches.zone(launch), {})
    usual = _usual_counts(session, launch, enough, start=start, end=end, now=now, hours=hours) if enough else None
    expected_part = expected_share(hours, start, end) if any(h.expected_per_day is not None for h in enough) else 0.0
    spikes = []
    for h in enough:
        count = counted[id_of(h)]
        expected = h.expected_per_day * expected_part if h.expected_per_day is not None else 0.0
        normal = max(expected, usual.get(id_of(h), 0.0) if usual else 0.0)
        if is_spike(launch, count, normal):
            spikes.append(
                Spike(AlertKind.HYPOTHESIS, h.key, h.text, count, round(normal, 2), start, now, hypothesis_id=h.id)
            )
    if themes_may_spike:
        spikes.extend(_theme_spikes(session, launch, start=start, end=end, now=now, hours=hours))
    return spikes


def days_before(session: Session, launch: Launch, hours: Hours, start: dt.datetime, now: dt.datetime) -> float:
    """How many of a centre's days the launch held before ``start``: one for each earlier local day it
    got any enquiry on (a closed day holds nobody's normal), and the part of ``start``'s day before it
    as ``expected_share`` has it (the night before a 09:00 window is little of a day's enquiries)."""
    tz = launches.zone(launch)
    today = launches.local_date(start, tz)
    since = max(launches.day_bounds(today, tz)[0], launches.window(launch)[0])
    days = expected_share(hours, since, start) if start > since else 0.0
    day = launch.starts_on
    while day < today:
        by_hour = hours.days.get(day)
        if by_hour is None:  # older than the hours kept for the normal: from the kept counts too
            by_hour = tallies.by_clock_hour(session, launch, day, now)
        days += 1 if any(by_hour) else 0
        day += DAY
    return days


def _theme_spikes(
    session: Session, launch: Launch, *, start: dt.datetime, end: dt.datetime, now: dt.datetime, hours: Hours
) -> list[Spike]:
    found = themes.surprises(session, launch, now=now, start=start, end=end)
    # Spread like the hypotheses' expected rate, over the hours the centre's enquiries come: a theme's
    # notes of a day over 24 equal hours made a steady theme read three times its normal in office hours.
    before = days_before(session, launch, hours, found.start, now) if found.themes else 0.0
    window_part = expected_share(hours, start, end)
    spikes = []
    # Overlapping phrases of the same notes ("widget gone home", "gone home screen") are one topic:
    # a theme sharing more than half its words with one ranked above it is not alerted apart, nor with
    # one alerted earlier in this window ("widget crash" at 13:30, "widget crash startup" at 14:20,
    # when the longer phrase has come to cover most of the notes and the shorter one left the list).
    # Nor is a theme with every word of one alerted in this window: its notes are among that theme's, so
    # it is the same subject said more narrowly ("krasjer" at 13:30, "krasjer ved oppstart" at 14:20:
    # one word of two is not more than half). Only alerted themes hold one back so: "krasj" ranked above
    # may be common every day and not spike, while "krasj betaling" is new.
    alerted = _themes_alerted_since(session, launch, start)
    seen = list(alerted)
    for theme in found.themes:  # highest score first
        words = set(theme.key.split())
        if any(len(words & other) * 2 > len(words) for other in seen) or any(other <= words for other in alerted):
            continue
        seen.append(words)
        normal = theme.before / before * window_part if before > 0 else 0.0
        if is_spike(launch, theme.recent, normal):
            alerted.append(words)
            spikes.append(
                Spike(
                    AlertKind.THEME,
                    theme.phrase[:200],
                    theme.phrase,
                    theme.recent,
                    round(normal, 2),
                    start,
                    now,
                    theme_key=theme.key,
                )
            )
    return spikes


# --- what it says ----------------------------------------------------------------------------


def claim_key(launch: Launch, spike: Spike) -> str:
    """Unique per (launch, subject, window); at most 120 characters."""
    subject = spike.subject if spike.kind == AlertKind.HYPOTHESIS else (spike.theme_key or spike.subject)
    at = f"{spike.window_start.astimezone(dt.UTC):%Y-%m-%dT%H:%MZ}"
    key = f"{id_of(launch)}:{spike.kind.value}:{subject}:{at}"
    if spike.kind == AlertKind.THEME or len(key) > 120:
        key = f"{id_of(launch)}:{spike.kind.value}:{hashlib.sha1(subject.encode()).hexdigest()}:{at}"  # noqa: S324
    return key


def drilldown_url(
    base_url: str,
    launch: Launch,
    kind: AlertKind,
    subject: str,
    window: tuple[dt.datetime, dt.datetime],
    theme_key: str | None = None,
) -> str:
    """Where to look closer, on the alert's own ``window`` (its start, and when it was counted: the page
    then shows the alert's number whenever it is opened, as a digest's link does): the hypothesis's
    drill-down, or the theme's notes in "other" by its stems (``theme_key``): the phrase is what the
    notes said most when it was counted, and changes when a lead erases those notes. An alert stored
    before it kept its stems links by the phrase, which the page looks up among that window's themes."""
    if kind == AlertKind.THEME:
        if not (theme_key or subject):  # its notes were erased (``unname``): the notes of its window
            tz = launches.zone(launch)
            start, end = (ranges.link_time(moment, tz) for moment in window)
            return f"{base_url}/launches/{launch.slug}/other?from={quote(start, safe='')}&to={quote(end, safe='')}"
        return themes.page_url(base_url, launch, theme_key or subject, window)
    tz = launches.zone(launch)
    start, end = (ranges.link_time(moment, tz) for moment in window)
    return (
        f"{base_url}/launches/{launch.slug}/hypotheses/{quote(subject, safe='')}"
        f"?from={quote(start, safe='')}&to={quote(end, safe='')}"
    )


def since_label(launch: Launch, start: dt.datetime, now: dt.datetime) -> str:
    tz = launches.zone(launch)
    local = start.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return f"{local:%H:%M}"
    return i18n.format_weekday_time(local)


def is_late(observed_at: dt.datetime, posted_at: dt.datetime) -> bool:
    """Whether an alert counted at ``observed_at`` and going out at ``posted_at`` (the real clock's time)
    is late, as a digest is: more than ``ON_TIME`` after. Then it says when it was counted."""
    return posted_at - observed_at > ON_TIME


def _counted_label(launch: Launch, observed_at: dt.datetime, posted_at: dt.datetime) -> str:
    """A time of a late alert: "13:30"; long before ``posted_at`` or on an earlier day, with its day (as a
    late digest names its time): "13:30" read the next morning is this morning's."""
    tz = launches.zone(launch)
    local = observed_at.astimezone(tz)
    with_day = posted_at - observed_at >= LATE_WITH_DAY or launches.local_date(posted_at, tz) != local.date()
    return i18n.format_weekday_time(local) if with_day else f"{local:%H:%M}"


def content(
    launch: Launch,
    spike: Spike,
    *,
    base_url: str,
    posted_at: dt.datetime | None = None,
    late_cause: str = "undelivered",
) -> slack_blocks.AlertContent:
    """What the alert says; going out at ``posted_at`` late (``is_late``), it says when it was counted."""
    late = posted_at is not None and is_late(spike.observed_at, posted_at)
    if posted_at is not None and late:
        # Read against the moment it is posted: its times name their day when that is long before, or
        # another day ("since 13:00" read the next morning is this morning's).
        since = _counted_label(launch, spike.window_start, posted_at)
        counted = _counted_label(launch, spike.observed_at, posted_at)
    else:
        since, counted = since_label(launch, spike.window_start, spike.observed_at), ""
    return slack_blocks.AlertContent(
        launch_name=launch.name,
        theme=spike.kind == AlertKind.THEME,
        name=spike.name,
        count=spike.count,
        normal=spike.normal,
        since_label=since,
        url=drilldown_url(
            base_url, launch, spike.kind, spike.subject, (spike.window_start, spike.observed_at), spike.theme_key
        ),
        counted_label=counted,
        late_cause=late_cause,
    )


def _found_in_slack(db: Database, alert: Alert, launch: Launch, sender: Sender | None) -> Alert | None:
    """An abandoned claim whose process posted it and stopped before saving that, or a post whose answer
    was lost: if Slack has it, it is recorded as posted then, as it was composed. Looked for before it
    is composed anew as late, which would store words the channel's message does not have. (Not found,
    or Slack not answering: ``deliver`` looks again.)"""
    if sender is None or not sender.can_check_channel or not launch.slack_channel:
        return None
    try:
        posted = sender.find_posted(
            channel=launch.slack_channel, slot_key=alert.claim_key, oldest=alert.created_at.timestamp() - 60
        )
    except SlackError:
        return None
    if posted is None or posted.ts is None:
        return None
    log.info("alert %s was already in Slack; recorded as posted then", alert.claim_key)
    return _save(
        db,
        alert,
        status=DigestStatus.SENT,
        sent_at=dt.datetime.fromtimestamp(float(posted.ts), dt.UTC),
        channel=posted.channel,
        slack_ts=posted.ts,
        error=None,
        next_attempt_at=None,
    )


def _recompose_late(
    db: Database, alert: Alert, launch: Launch, *, settings: Settings, posted_at: dt.datetime, late_cause: str
) -> Alert:
    """A claimed alert composed on time, going out late: composed again from its row, saying when it was
    counted, and stored (what is posted is what is stored). The theme's link names its stems, as the
    alert posted on time did (see ``drilldown_url``)."""
    with db.session() as session:
        name = names(session, launch, [alert])[id_of(alert)]
    spike = Spike(
        kind=alert.kind,
        subject=alert.subject,
        name=name,
        count=alert.count,
        normal=alert.normal,
        window_start=alert.window_start,
        observed_at=alert.observed_at,
        hypothesis_id=alert.hypothesis_id,
        theme_key=alert.theme_key,
    )
    with i18n.use_language(settings.message_language):
        text, blocks = slack_blocks.build_alert(
            content(launch, spike, base_url=settings.base_url, posted_at=posted_at, late_cause=late_cause)
        )
    return _save(db, alert, text=text, blocks=blocks)


# --- claiming and sending --------------------------------------------------------------------


def _claimed(db: Database, launch: Launch, start: dt.datetime) -> set[str]:
    with db.session() as session:
        return set(
            session.exec(select(Alert.claim_key).where(Alert.launch_id == launch.id, Alert.window_start == start))
        )


def claim(
    db: Database, launch: Launch, spike: Spike, *, now: dt.datetime, text: str, blocks: list[dict[str, object]]
) -> Alert | None:
    """The new alert, composed and claimed by this process; None when another claimed it first."""
    values = {
        "launch_id": id_of(launch),
        "claim_key": claim_key(launch, spike),
        "kind": spike.kind.value,
        "hypothesis_id": spike.hypothesis_id,
        "subject": spike.subject,
        "theme_key": spike.theme_key,
        "window_start": spike.window_start,
        "observed_at": spike.observed_at,
        "count": spike.count,
        "normal": spike.normal,
        "status": DigestStatus.PENDING.value,
        "attempts": 0,
        "claimed_by": delivery.worker_name(),
        "claimed_at": now,
        "text": text,
        "blocks": blocks,
        "created_at": now,
    }
    with db.transaction() as session:
        statement = insert_ignoring_conflicts(_alert, session.get_bind().dialect, index_elements=["claim_key"])
        row = session.execute(statement.values(**values).returning(_alert.c.id)).first()
        return session.get(Alert, int(row[0])) if row else None


def _take_over(db: Database, alert: Alert, *, now: dt.datetime) -> Alert | None:
    """Claim a waiting or abandoned alert: exactly one process wins (as digest runs are taken over)."""
    return delivery.take_over(db, Alert, alert, expect=alert.status, now=now)


def _save(db: Database, alert: Alert, **changes: object) -> Alert:
    saved = delivery.save(db, Alert, alert, **changes)
    metrics.count_alert_run(changes.get("status"))
    return saved


def _fail(db: Database, alert: Alert, message: str, *, attempts: int) -> Alert:
    log.error("alert %s failed: %s", alert.claim_key, message)
    return _save(db, alert, status=DigestStatus.FAILED, error=message, next_attempt_at=None, attempts=attempts)


def deliver(
    db: Database,
    alert: Alert,
    launch: Launch,
    *,
    sender: Sender | None,
    clock: Clock,
    sleep: Sleep = time.sleep,
    check_first: bool = False,
) -> Alert:
    """Post a claimed alert, with the digests' bounded retries; record the outcome."""
    if sender is None:
        log.info("alert %s kept as a dry run (no Slack configured)", alert.claim_key)
        return _save(db, alert, status=DigestStatus.DRY_RUN, sent_at=clock(), error=None)
    channel = launch.slack_channel or ""
    if not channel and sender.can_check_channel:
        return _fail(db, alert, NO_CHANNEL, attempts=alert.attempts)
    claim = delivery.Claim(db, Alert, alert, clock)
    result = delivery.post_with_retries(
        sender,
        channel=channel,
        key=alert.claim_key,
        text=alert.text,
        blocks=alert.blocks,
        claimed_since=alert.created_at,
        attempts=alert.attempts,
        check_first=check_first,
        sleep=sleep,
        keep_claim=claim.keep,
    )
    if result.lost:
        log.warning("alert %s was taken over by another process; it posts it", alert.claim_key)
        return claim.as_stored()
    if result.posted is not None:
        log.info("alert %s sent to %s", alert.claim_key, result.posted.channel)
        return _save(
            db,
            alert,
            status=DigestStatus.SENT,
            sent_at=clock(),
            channel=result.posted.channel,
            slack_ts=result.posted.ts,
            attempts=result.attempts,
            error=None,
            next_attempt_at=None,
        )
    error = result.error
    assert error is not None  # noqa: S101 - a pass that did not post ends with its error
    if error.permanent:
        return _fail(db, alert, error.message, attempts=result.attempts)
    if error.maybe_posted and not sender.can_check_channel:
        return _fail(db, alert, WEBHOOK_MAY_HAVE_POSTED.format(reason=error.message), attempts=result.attempts)
    pause = delivery.next_pass(error, attempts_before=alert.attempts)
    if pause is None:
        return _fail(
            db, alert, GAVE_UP.format(attempts=result.attempts, reason=error.message), attempts=result.attempts
        )
    log.warning("alert %s not delivered yet (%s); next try in %s", alert.claim_key, error.message, pause)
    return _save(
        db,
        alert,
        status=DigestStatus.RETRYING,
        attempts=result.attempts,
        error=error.message,
        next_attempt_at=clock() + pause,
    )


def _live(db: Database, launch_ids: Iterable[int] | None) -> list[Launch]:
    with db.session() as session:
        found = launches.list_launches(session, statuses=(LaunchStatus.LIVE,))
    wanted = set(launch_ids) if launch_ids is not None else None
    return [launch for launch in found if wanted is None or launch.id in wanted]


def _alert_launch(
    db: Database,
    launch: Launch,
    *,
    settings: Settings,
    now: dt.datetime,
    sender: Sender | None,
    clock: Clock,
    sleep: Sleep,
) -> list[Alert]:
    with db.session() as session:
        # Read again: the pass read the launches once, and a re-link or a backfill since has raised the
        # counts version every cached count is keyed by.
        launch = session.get(Launch, launch.id) or launch
        spikes = evaluate(session, launch, now=now)
    if not spikes:
        return []
    taken = _claimed(db, launch, spikes[0].window_start)
    done = []
    for spike in spikes:
        if claim_key(launch, spike) in taken:
            continue
        with i18n.use_language(settings.message_language):
            text, blocks = slack_blocks.build_alert(
                content(launch, spike, base_url=settings.base_url, posted_at=clock())
            )
        alert = claim(db, launch, spike, now=now, text=text, blocks=blocks)
        if alert is None:
            continue  # another process has it
        done.append(deliver(db, alert, launch, sender=sender, clock=clock, sleep=sleep))
    return done


def run_alerts(
    db: Database,
    *,
    settings: Settings,
    now: dt.datetime,
    sender: Sender | None,
    launch_ids: Iterable[int] | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock | None = None,
) -> list[Alert]:
    """Everything the alert check does at ``now``: for each live launch, claim, compose and send
    each new spike; then retry what Slack refused for now and take over abandoned claims.

    Returns the alerts this call dealt with. A launch whose check fails is logged and skipped:
    it never stops the others, the digests or the scheduler."""
    clock = clock or (lambda: now)
    live = _live(db, launch_ids)
    done: list[Alert] = []
    for launch in live:
        try:
            done.extend(_alert_launch(db, launch, settings=settings, now=now, sender=sender, clock=clock, sleep=sleep))
        except Exception:
            log.exception("spike alerts for %s at %s failed; the next check tries again", launch.slug, now.isoformat())
    done.extend(_resume(db, live, settings=settings, now=now, sender=sender, clock=clock, sleep=sleep))
    return done


def _resume(
    db: Database,
    live: Sequence[Launch],
    *,
    settings: Settings,
    now: dt.datetime,
    sender: Sender | None,
    clock: Clock,
    sleep: Sleep,
) -> list[Alert]:
    by_id = {launch.id: launch for launch in live}
    with db.session() as session:
        waiting = list(
            session.exec(
                select(Alert)
                .where(
                    col(Alert.launch_id).in_(by_id),
                    sa.or_(
                        sa.and_(col(Alert.status) == DigestStatus.RETRYING, col(Alert.next_attempt_at) <= now),
                        sa.and_(
                            col(Alert.status) == DigestStatus.PENDING,
                            col(Alert.claimed_at) < now - delivery.STALE_CLAIM,
                        ),
                    ),
                )
                .order_by(col(Alert.created_at))
            )
        )
    done = []
    for alert in waiting:
        taken = _take_over(db, alert, now=now)
        if taken is None:
            continue
        # As for digests: it may be in Slack already (a dropped connection, a dead process), so a
        # bot looks first; a webhook cannot, so an abandoned claim fails for a person to check.
        stale = alert.status == DigestStatus.PENDING
        check = bool(sender and (sender.can_check_channel or stale))
        launch = by_id[alert.launch_id]
        try:
            posted_at = clock()
            late = is_late(taken.observed_at, posted_at)
            # Looked for before it is composed anew as late, too: a post whose answer was lost is in the
            # channel with the words of its time, which the stored alert must keep.
            if (stale or late) and (found := _found_in_slack(db, taken, launch, sender)):
                done.append(found)
                continue
            if late:
                # Composed when it was counted, but Slack did not take it then (retries run for hours), or
                # its process stopped: posted now, it must not read as a spike now.
                cause = "down" if stale else "undelivered"
                taken = _recompose_late(db, taken, launch, settings=settings, posted_at=posted_at, late_cause=cause)
            done.append(deliver(db, taken, launch, sender=sender, clock=clock, sleep=sleep, check_first=check))
        except Exception:
            log.exception("retrying alert %s failed; the next check tries again", alert.claim_key)
    return done


# --- reading them back -----------------------------------------------------------------------


def recent(session: Session, launch: Launch, *, limit: int = 100, before: int | None = None) -> list[Alert]:
    """The launch's alerts, newest first (every one but those being sent at this moment); ``before``:
    only those listed after the alert with that id (the next page)."""
    query = select(Alert).where(Alert.launch_id == launch.id, col(Alert.status).in_(LISTED))
    if before is not None:
        after = session.get(Alert, before)
        if after is None or after.launch_id != launch.id:
            raise NotFound(f"Launch {launch.slug!r} has no alert {before}.", code="unknown_alert")
        query = query.where(
            sa.or_(
                col(Alert.created_at) < after.created_at,
                sa.and_(col(Alert.created_at) == after.created_at, col(Alert.id) < before),
            )
        )
    return list(session.exec(query.order_by(col(Alert.created_at).desc(), col(Alert.id).desc()).limit(limit)))


@dataclass(frozen=True)
class Listed:
    """An alert as the pages list it."""

    alert: Alert
    name: str  # the hypothesis's text (as it reads now), or the theme's phrase
    path: str  # its drill-down, within the app
    launch: Launch

    @property
    def ratio(self) -> float | None:
        """Times normal, to one decimal (None: there was no normal yet)."""
        return round(self.alert.count / self.alert.normal, 1) if self.alert.normal > 0 else None

    @property
    def since(self) -> str:
        """The window's start as Slack said it: "13:00", with its day when it began before the day the
        alert was counted ("Tue 16:00": "since 16:00" at 08:00 reads as a time still to come). Worked
        out when shown, in the reader's language."""
        return since_label(self.launch, self.alert.window_start, self.alert.observed_at)

    @property
    def new(self) -> bool:
        """A theme none of the notes before its window had: its normal is 0 after days of notes, not
        "no normal yet" (a theme rises only against earlier notes, so there always were some)."""
        return self.alert.kind == AlertKind.THEME and self.alert.normal <= 0


def listing(session: Session, launch: Launch, *, limit: int = 100, before: int | None = None) -> list[Listed]:
    """``recent`` alerts with what to call them and where to look closer (templates/alerts/_list.html)."""
    found = recent(session, launch, limit=limit, before=before)
    called = names(session, launch, found)
    return [
        Listed(
            a,
            called[id_of(a)],
            drilldown_url("", launch, a.kind, a.subject, (a.window_start, a.observed_at), a.theme_key),
            launch,
        )
        for a in found
    ]


def names(session: Session, launch: Launch, alerts: Iterable[Alert]) -> dict[int, str]:
    """What to call each alert's subject: the hypothesis's text (as it reads now), or the phrase (none
    when a lead erased the notes it was named from: ``unname``)."""
    texts = {h.id: h.text for h in launches.hypotheses_of(session, launch)}
    return {
        id_of(a): texts.get(a.hypothesis_id, a.subject)
        if a.kind == AlertKind.HYPOTHESIS
        else a.subject or i18n.gettext("a theme whose notes were erased")
        for a in alerts
    }


def unname(session: Session, launch_id: int, keys: set[str]) -> int:
    """Take the phrase out of the launch's alerts of these themes (phrase keys), which notes being erased
    (or masked) had: a name or a number the scrubber missed, in the notes of a customer who called again
    and again, rose as a theme, and the alert named it. Its phrase, stems and stored message go; one not
    posted yet is not posted (failed, saying why). Its count, window and status stay. How many alerts
    changed; in the caller's transaction. (Messages already in Slack are Slack's.)"""
    if not keys:
        return 0
    changed = 0
    for alert in session.exec(
        select(Alert).where(Alert.launch_id == launch_id, Alert.kind == AlertKind.THEME, Alert.subject != "")
    ):
        if (alert.theme_key or themes.analyse(alert.subject).group) not in keys:
            continue
        alert.subject, alert.theme_key, alert.text, alert.blocks = "", None, "", []
        if alert.status in (DigestStatus.PENDING, DigestStatus.RETRYING):
            alert.status, alert.error, alert.next_attempt_at = DigestStatus.FAILED, NOTES_ERASED, None
        session.add(alert)
        changed += 1
    return changed


def recalled_label(at: dt.datetime, start: dt.datetime, end: dt.datetime) -> str:
    """When a recalled alert went out (local times), named as the digest names its window [start, end):
    "17:30" on the window's last day, else with its day, "Wed 17:30" ("18 Nov 17:30" in a window of
    several days). A bare "17:30" in a window from the evening before, or of two days after a missed
    digest, read as this day's, and two evenings' alerts could not be told apart."""
    if at.date() == end.date():
        return f"{at:%H:%M}"
    if (end.date() - start.date()).days == 1:
        return i18n.format_weekday_time(at)
    return i18n.format_day_time(at)


def recalled(
    session: Session, launch: Launch, *, start: dt.datetime, end: dt.datetime, base_url: str
) -> list[slack_blocks.AlertLine]:
    """The alerts sent in [start, end), oldest first, as a digest recalls them."""
    found = list(
        session.exec(
            select(Alert)
            .where(
                Alert.launch_id == launch.id,
                col(Alert.status).in_(RECALLED),
                col(Alert.sent_at) >= start,
                col(Alert.sent_at) < end,
            )
            .order_by(col(Alert.sent_at), col(Alert.id))
        )
    )
    called = names(session, launch, found)
    tz = launches.zone(launch)
    return [
        slack_blocks.AlertLine(
            theme=a.kind == AlertKind.THEME,
            name=called[id_of(a)],
            count=a.count,
            normal=a.normal,
            at_label=recalled_label(
                (a.sent_at or a.created_at).astimezone(tz), start.astimezone(tz), end.astimezone(tz)
            ),
            url=drilldown_url(base_url, launch, a.kind, a.subject, (a.window_start, a.observed_at), a.theme_key),
        )
        for a in found
    ]
