"""The agents' checklist: which buttons, which keys, which counts.

Keys: 1–9 for the first nine hypotheses, then letters, skipping ``u`` (undo).
``0`` is "Other". Keys follow the set's order, so the first nine — the ones a
team expects most — are one finger away.

An open checklist asks for the list's ``version`` every few seconds: a fingerprint
of what its buttons and toggles show, read from the database (so every replica
gives the same answer), which changes when a lead retires, adds, rewords or
reorders a hypothesis.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import string
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from app import enquiries, launches, schedule, tallies
from app.errors import Invalid
from app.i18n import N_, Text
from app.models import CONTROL_CHARACTER, Hypothesis, HypothesisStatus, Launch, LaunchStatus, User

RESERVED_KEYS = {"u"}
OTHER_KEY = "0"
SHORTCUT_KEYS = [str(n) for n in range(1, 10)] + [c for c in string.ascii_lowercase if c not in RESERVED_KEYS]
# How often an open checklist asks whether its list changed.
POLL_SECONDS = 5


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
    # When counted: ``since`` is read on that day (the time_on filter), so yesterday's last digest is named
    # with its day, "Wed 16:00", as "Team since 16:00" at 08:30 read as a time still to come.
    now: dt.datetime


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
        return in_dates(self.launch, self.today)

    @property
    def open(self) -> bool:
        """Ticks are taken: live, and within the launch's dates (the server refuses others)."""
        return takes_ticks(self.launch, self.today)

    @property
    def version(self) -> str:
        return fingerprint(self.launch, [b.hypothesis for b in self.buttons], today=self.today)


def on_checklist(hypotheses: Sequence[Hypothesis]) -> list[Hypothesis]:
    """Everything but retired hypotheses: a fix shipped or resolved can still bring calls."""
    return [h for h in hypotheses if h.status != HypothesisStatus.RETIRED]


def shortcuts(hypotheses: Sequence[Hypothesis]) -> dict[str, str]:
    """The key agents press for each hypothesis on the checklist, by the hypothesis's key: in the set's
    order, retired ones left out, none past the last shortcut key. The checklist's buttons and the
    editor's rows both show these."""
    return dict(zip((h.key for h in on_checklist(hypotheses)), SHORTCUT_KEYS, strict=False))


def in_dates(launch: Launch, today: dt.date) -> bool:
    return launch.starts_on <= today <= launch.ends_on


def takes_ticks(launch: Launch, today: dt.date) -> bool:
    return launch.status == LaunchStatus.LIVE and in_dates(launch, today)


def fingerprint(launch: Launch, hypotheses: Sequence[Hypothesis], *, today: dt.date) -> str:
    """What the page's buttons and toggles show, as a short hash: the hypotheses on the list in
    order (their keys, hence shortcuts, and texts), the channels and segments, and whether ticks
    are taken. Statuses other than retired and sort orders that keep the order change nothing."""
    shown = [[h.key, h.text] for h in on_checklist(hypotheses)]
    data = [shown, list(launch.channels), list(launch.segments), takes_ticks(launch, today)]
    encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def version(session: Session, *, launch: Launch, now: dt.datetime) -> str:
    """The fingerprint of the launch's checklist as it stands in the database now."""
    today = launches.local_date(now, launches.zone(launch))
    return fingerprint(launch, launches.hypotheses_of(session, launch), today=today)


def counts(session: Session, *, launch: Launch, user: User, now: dt.datetime) -> Counts:
    tz = launches.zone(launch)
    today_start, today_end = launches.day_bounds(launches.local_date(now, tz), tz)
    hypotheses = on_checklist(launches.hypotheses_of(session, launch))
    today = tallies.tally(
        session=session, launch=launch, start=today_start, end=today_end, now=now, hypotheses=hypotheses
    )
    since = schedule.previous_slot(launch, now)
    if since is None or since < today_start - dt.timedelta(days=1):
        since = today_start
    return Counts(
        by_key={h.key: today.for_hypothesis(h) for h in hypotheses},
        other=today.other,
        mine_today=enquiries.count_for_agent(session, launch=launch, user=user, start=today_start, end=today_end),
        team_since=tallies.count(session=session, launch=launch, start=since, end=today_end),
        since=since,
        now=now,
    )


def build(session: Session, *, launch: Launch, user: User, now: dt.datetime) -> Checklist:
    hypotheses = on_checklist(launches.hypotheses_of(session, launch))
    current = counts(session, launch=launch, user=user, now=now)
    keys = shortcuts(hypotheses)
    buttons = [Button(h, keys.get(h.key), current.by_key.get(h.key, 0)) for h in hypotheses]
    channel = user.channel if user.channel in launch.channels else launch.channels[0]
    segment = user.segment if user.segment in launch.segments else launch.segments[0]
    recent = enquiries.recent_for_agent(session, launch=launch, user=user, now=now)
    today = launches.local_date(now, launches.zone(launch))
    return Checklist(launch, buttons, current, channel, segment, recent, today)


TOGGLE_CONTROL_TEXTS = {
    "channel": N_("The channel holds a control character (such as \\0): write plain text."),
    "segment": N_("The segment holds a control character (such as \\0): write plain text."),
}


def remember_toggles(session: Session, user: User, *, channel: str | None, segment: str | None) -> None:
    """The sticky channel and segment toggles, remembered per agent (any launch): whatever is given."""
    for field, value in (("channel", channel), ("segment", segment)):
        if value and CONTROL_CHARACTER.search(value):
            # Not checked against a launch's (these are any launch's), but stored: a NUL, kept by SQLite,
            # was refused by PostgreSQL.
            raise Invalid(Text(TOGGLE_CONTROL_TEXTS[field]), field=field)
    if channel:
        user.channel = channel
    if segment:
        user.segment = segment
    session.add(user)
