"""Demo data: the example launch, live since a few days ago, its people, and their enquiries.

Everything here is idempotent: enquiries carry deterministic idempotency keys
and users are matched by name, so ``tally demo`` can run every morning and
only adds what the new day brought.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from app import auth, digests, hypothesis_sets, launches, schedule
from app.config import Settings
from app.db import Database
from app.errors import Conflict
from app.models import AuditEvent, Launch, LaunchStatus, Role, User
from app.recording.record import NewEnquiry, insert_many

EXAMPLE_FILE = Path(__file__).resolve().parent.parent / "hypotheses" / "payapp-redesign.yaml"
DAYS_BEFORE_TODAY = 3


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: Role


DEMO_USERS = (
    DemoUser("kari", "Kari Nordmann", Role.AGENT),
    DemoUser("ola", "Ola Hansen", Role.AGENT),
    DemoUser("sofia", "Sofia Berg", Role.AGENT),
    DemoUser("lena", "Lena Lead", Role.LEAD),
    DemoUser("admin", "Ada Admin", Role.ADMIN),
)

# Notes agents might type under "Other": no customer names, numbers or addresses.
OTHER_NOTES = (
    "Asked if the app works on a smartwatch",
    "Wants to change the phone number on the account",
    "Payment to a shop was declined, card is fine",
    "Asked about limits for sending money abroad",
    "Could not find where to change language",
    "Unsure whether an old payment went through",
    "Asked about the new terms and conditions",
    None,
    None,
)
# From the fourth day (today, when the demo starts), more "other" enquiries, most of their notes saying
# this: "What nobody expected" has a rising theme to show, to make a hypothesis from. Not among the
# notes of every day: there, a weekend's few notes left its rise within chance, and nothing rose.
RISING_NOTE = "Widget on the home screen disappeared"
RISING_FROM_DAY = 3

# Relative weight of each hypothesis on day 1, and how fast it fades as fixes ship.
WEIGHTS = {
    "send-money-button": (40, 0.55),
    "bankid-login-loop": (30, 0.35),
    "receipts-moved": (22, 0.8),
    "request-money-gone": (15, 0.7),
    "contacts-missing": (9, 0.9),
    "card-not-shown": (12, 0.85),
    "push-notifications-off": (6, 1.0),
    "old-app-version": (5, 1.0),
    "dislikes-new-design": (10, 0.75),
    "split-bill-confusing": (4, 1.0),
    "business-settlement": (6, 0.9),
    "fee-worry": (2, 1.0),
    "dark-mode-contrast": (0, 1.0),  # expected, never came: the digest says "not seen"
}
CHANNEL_WEIGHTS = {"phone": 50, "chat": 32, "email": 13, "social": 5}
HOURLY_SHAPE = {8: 4, 9: 10, 10: 12, 11: 11, 12: 8, 13: 10, 14: 11, 15: 9, 16: 6, 17: 4, 18: 3, 19: 2}


@dataclass(frozen=True)
class DemoReport:
    launch: Launch
    added_enquiries: int
    users: tuple[DemoUser, ...]
    passwords: dict[str, str]
    # Demo users whose password was set since (`tally users passwd`): the demo never resets it, so
    # printing the demo password would hand out one that no longer signs in.
    changed: frozenset[str] = frozenset()
    # Demo users who cannot sign in now (`tally users disable`): their demo password is refused.
    disabled: frozenset[str] = frozenset()
    # Each demo user's role as the database has it now (an admin may have made an agent a lead).
    roles: dict[str, Role] = field(default_factory=dict)


def demo_password(username: str) -> str:
    # Known passwords are fine for a demo on one's own machine, and only for the
    # demo's own users; `tally demo` says so when it prints them.
    return f"demo-{username}-pass"


def ensure_users(session: Session, now: dt.datetime) -> dict[str, User]:
    users: dict[str, User] = {}
    for demo_user in DEMO_USERS:
        user = session.exec(select(User).where(User.username == demo_user.username)).first()
        if user is None:
            user, _ = auth.add_user(
                session,
                username=demo_user.username,
                role=demo_user.role,
                display_name=demo_user.display_name,
                password=demo_password(demo_user.username),
                now=now,
                actor="demo",
            )
        users[demo_user.username] = user
    return users


def ensure_launch(session: Session, *, settings: Settings, today: dt.date, now: dt.datetime) -> Launch:
    spec = hypothesis_sets.validate_files([EXAMPLE_FILE])[0]
    starts_on = today - dt.timedelta(days=DAYS_BEFORE_TODAY)
    spec = spec.model_copy(
        update={"starts_on": starts_on, "ends_on": starts_on + launches.DEFAULT_LENGTH, "status": LaunchStatus.LIVE}
    )
    hypothesis_sets.import_launch(
        session,
        spec,
        actor="demo",
        now=now,
        default_timezone=settings.timezone,
        default_digest_times=settings.digest_times,
    )
    launch = launches.get_by_slug(session, spec.slug)
    # Written down before the release, as the story goes: stamped with the load time they read as added
    # mid-launch (the drill-down said "added" today, the table the first day; dark mode showed "–").
    written = launches.window(launch)[0] - dt.timedelta(days=1)
    for hypothesis in launches.hypotheses_of(session, launch):
        if hypothesis.created_at > written:
            hypothesis.created_at = written
            session.add(hypothesis)
    return launch


def generate(
    launch: Launch, *, hypothesis_ids: dict[str, int], agent_ids: list[int], until: dt.datetime
) -> list[NewEnquiry]:
    """Deterministic enquiries for every launch day up to ``until``."""
    tz = launches.zone(launch)
    items: list[NewEnquiry] = []
    day = launch.starts_on
    while launches.local_midnight(day, tz) < until:
        day_index = (day - launch.starts_on).days
        rng = random.Random(f"{launch.slug}:{day.isoformat()}")
        weights = {key: w * fade**day_index for key, (w, fade) in WEIGHTS.items() if key in hypothesis_ids}
        rising = day_index >= RISING_FROM_DAY
        weights["(other)"] = 30.0 if rising else 12.0
        volume = int((220 if day.weekday() < 5 else 70) * 0.85**day_index)
        for n in range(volume):
            hour = rng.choices(list(HOURLY_SHAPE), weights=list(HOURLY_SHAPE.values()))[0]
            local = dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=tz)
            created_at = local.astimezone(dt.UTC)
            if created_at >= until:
                continue
            picked = rng.choices(list(weights), weights=list(weights.values()))[0]
            keys: list[str] = [] if picked == "(other)" else [picked]
            if keys and rng.random() < 0.06:
                keys.append(rng.choice([k for k, w in weights.items() if w and k not in keys and k != "(other)"]))
            segment = "business" if "business-settlement" in keys or rng.random() < 0.12 else "private"
            items.append(
                NewEnquiry(
                    launch_id=launch.id or 0,
                    channel=rng.choices(list(CHANNEL_WEIGHTS), weights=list(CHANNEL_WEIGHTS.values()))[0],
                    segment=segment,
                    hypothesis_ids=tuple(hypothesis_ids[k] for k in keys),
                    note=None if keys else RISING_NOTE if rising and rng.random() < 0.7 else rng.choice(OTHER_NOTES),
                    agent_id=rng.choice(agent_ids),
                    created_at=created_at,
                    idempotency_key=f"demo-{day.isoformat()}-{n}",
                )
            )
        day += dt.timedelta(days=1)
    return items


class NotADemoDatabase(Conflict):
    """The database holds users or launches the demo did not make: it must not be written into."""


def foreign_data(session: Session) -> list[str]:
    """Users and launches in the database that the demo did not make (by the audit trail's actor)."""
    made = set(
        session.exec(
            select(AuditEvent.target_type, AuditEvent.target_id).where(
                AuditEvent.actor == "demo", col(AuditEvent.action).in_(("user.created", "launch.created"))
            )
        )
    )
    users = [f"user {u.username}" for u in session.exec(select(User)) if ("user", str(u.id)) not in made]
    found = [f"launch {x.slug}" for x in session.exec(select(Launch)) if ("launch", str(x.id)) not in made]
    return users + found


def load(db: Database, *, settings: Settings, now: dt.datetime, force: bool = False) -> DemoReport:
    """The demo's users, its launch and a few days of enquiries, in a database of its own.

    Refused where real work may be (TALLY_ENV=production, or users or launches it did not make):
    the demo moves its launch's dates, adds enquiries to it and users with passwords printed on the
    screen. ``force``: it runs anyway (never in production)."""
    if settings.env == "production":
        raise NotADemoDatabase("tally demo does not run with TALLY_ENV=production: it adds users with known passwords.")
    if not force:
        with db.session() as session:
            foreign = foreign_data(session)
        if foreign:
            listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise NotADemoDatabase(
                f"This database holds data the demo did not make ({listed}): the demo would move launch dates "
                "and add users with known passwords. Point TALLY_DATABASE_URL at a database of its own "
                "(the default file is fine on a fresh checkout), or add --force if you are sure."
            )
    with db.transaction() as session:
        users = ensure_users(session, now)
        # Only for the users the demo made: a user of that name made otherwise (--force) keeps its own.
        theirs = set(foreign_data(session))
        ours = [u.username for u in DEMO_USERS if f"user {u.username}" not in theirs]
        passwords = {
            name: demo_password(name)
            for name in ours
            if auth.verify_password(demo_password(name), users[name].password_hash)
        }
        disabled = frozenset(name for name in ours if not users[name].is_active)
        passwords = {name: password for name, password in passwords.items() if name not in disabled}
        changed = frozenset(name for name in ours if name not in passwords and name not in disabled)
        roles = {name: user.role for name, user in users.items()}
        launch = ensure_launch(session, settings=settings, today=launches.local_date(now, settings.zone), now=now)
        hypothesis_ids = {h.key: h.id or 0 for h in launches.hypotheses_of(session, launch)}
        agent_ids = [u.id or 0 for u in users.values() if u.role == Role.AGENT]
        items = generate(launch, hypothesis_ids=hypothesis_ids, agent_ids=agent_ids, until=now)
        results = insert_many(session.connection(), items)
    backfill_digests(db, launch, settings=settings, now=now)
    return DemoReport(
        launch, sum(r.created for r in results), DEMO_USERS, passwords, changed, disabled=disabled, roles=roles
    )


def backfill_digests(db: Database, launch: Launch, *, settings: Settings, now: dt.datetime) -> None:
    """The digests the past days would have had, as dry runs, so the Digests page has a history."""
    start = launches.window(launch)[0]
    for slot_at in schedule.slots_between(launch, start, now - digests.settle(settings)):
        run = digests.claim_slot(db, launch, slot_at, now=slot_at)
        if run is not None:
            text, blocks = digests.message(db, run, launch, now=now, settings=settings)
            digests.mark_dry_run(db, run, text=text, blocks=blocks, at=slot_at, language=settings.message_language)


def welcome(report: DemoReport, *, address: str, database_url: str) -> str:
    lines = [
        "",
        f"Launch Tally demo: {report.launch.name} (live since {report.launch.starts_on}), "
        f"{report.added_enquiries} new demo enquiries.",
        f"Database: {make_url(database_url).render_as_string(hide_password=True)}",
        "",
        f"Open {address} and sign in as:",
    ]
    roles = {
        "agent": "ticks enquiries on the checklist",
        "lead": "also edits launches and digests",
        "admin": "also manages users and API tokens",
    }
    changed = []
    for user in report.users:
        if user.username in report.disabled:
            shown = "(cannot sign in)"
        elif user.username in report.changed:
            shown = "(changed since)"
            changed.append(user.username)
        else:
            shown = report.passwords.get(user.username, "(its own: not made by the demo)")
        role = report.roles.get(user.username, user.role).value
        lines.append(f"  {user.username:<7} password {shown:<20} {role}: {roles[role]}")
    if changed:
        lines += [
            "",
            f"The password of {', '.join(changed)} was changed since the demo set it; to set a new one: "
            + ", ".join(f"tally users passwd {name}" for name in changed),
        ]
    if report.disabled:
        disabled = sorted(report.disabled)
        lines += [
            "",
            f"{', '.join(disabled)} cannot sign in (disabled since the demo made them); to let them in again: "
            + ", ".join(f"tally users enable {name}" for name in disabled),
        ]
    lines += ["", "(Demo passwords are public: use the demo on your own machine only.)", ""]
    return "\n".join(lines)
