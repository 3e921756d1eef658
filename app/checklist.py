"""The agents' checklist: which buttons, which keys, which counts.

Keys: 1–9 for the first nine hypotheses, then letters, skipping ``u`` (undo).
``0`` is "Other". Keys follow the set's order, so the first nine — the ones a
team expects most — are one finger away.
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass

from sqlmodel import Session

from app import enquiries, launches, schedule, tallies
from app.models import Hypothesis, HypothesisStatus, Launch, LaunchStatus, User

RESERVED_KEYS = {"u"}
OTHER_KEY = "0"
SHORTCUT_KEYS = [str(n) for n in range(1, 10)] + [c for c in string.ascii_lowercase if c not in RESERVED_KEYS]


@dataclass(frozen=True)
class Button:
    hypothesis: Hypothesis
    shortcut: str | None
    today: int


@dataclass(frozen=True)
class Counts:
    by_key: dict[str, int]
    other: int
    mine_today: int
    team_since: int
    since: dt.datetime  # the last digest slot, or the start of today before the first


@dataclass(frozen=True)
class Checklist:
    launch: Launch
    buttons: list[Button]
    counts: Counts
    channel: str
    segment: str
    recent: list[enquiries.RecentEnquiry]

    today: dt.date

    @property
    def live(self) -> bool:
        return self.launch.status == LaunchStatus.LIVE

    @property
    def in_dates(self) -> bool:
        return self.launch.starts_on <= self.today <= self.launch.ends_on

    @property
    def open(self) -> bool:
        """Ticks are taken: live, and within the launch's dates (the server refuses others)."""
        return self.live and self.in_dates


def on_checklist(hypotheses: list[Hypothesis]) -> list[Hypothesis]:
    """Everything but retired hypotheses: a fix shipped or resolved can still bring calls."""
    return [h for h in hypotheses if h.status != HypothesisStatus.RETIRED]


def counts(session: Session, *, launch: Launch, user: User, now: dt.datetime) -> Counts:
    tz = launches.zone(launch)
    today_start, today_end = launches.day_bounds(launches.local_date(now, tz), tz)
    hypotheses = on_checklist(launches.hypotheses_of(session, launch))
    today = tallies.tally(session=session, launch=launch, start=today_start, end=today_end, hypotheses=hypotheses)
    since = schedule.previous_slot(launch, now)
    if since is None or since < today_start - dt.timedelta(days=1):
        since = today_start
    return Counts(
        by_key={h.key: today.for_hypothesis(h) for h in hypotheses},
        other=today.other,
        mine_today=enquiries.count_for_agent(session, launch=launch, user=user, start=today_start, end=today_end),
        team_since=tallies.count(session=session, launch=launch, start=since, end=today_end),
        since=since,
    )


def build(session: Session, *, launch: Launch, user: User, now: dt.datetime) -> Checklist:
    hypotheses = on_checklist(launches.hypotheses_of(session, launch))
    current = counts(session, launch=launch, user=user, now=now)
    buttons = [
        Button(h, SHORTCUT_KEYS[i] if i < len(SHORTCUT_KEYS) else None, current.by_key.get(h.key, 0))
        for i, h in enumerate(hypotheses)
    ]
    channel = user.channel if user.channel in launch.channels else launch.channels[0]
    segment = user.segment if user.segment in launch.segments else launch.segments[0]
    recent = enquiries.recent_for_agent(session, launch=launch, user=user, now=now)
    today = launches.local_date(now, launches.zone(launch))
    return Checklist(launch, buttons, current, channel, segment, recent, today)
