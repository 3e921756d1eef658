"""Small factories: a launch, its hypotheses, users, enquiries, with overridable defaults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from app.db import Database
from app.models import DEFAULT_CHANNELS, DEFAULT_SEGMENTS, Hypothesis, Launch, LaunchStatus, Role, User, id_of
from app.recording.record import NewEnquiry, insert_many

T0 = dt.datetime(2026, 11, 16, 8, 0, tzinfo=dt.UTC)
LAUNCH_STARTS = dt.date(2026, 11, 16)


def make_launch(db: Database, *, hypotheses: Sequence[str] = ("a", "b", "c"), **overrides: Any) -> Launch:
    values: dict[str, Any] = {
        "slug": "test-launch",
        "name": "Test launch",
        "starts_on": LAUNCH_STARTS,
        # Long enough to include today whenever the suite runs: ticks through the app are
        # refused outside a launch's dates, and those tests tick at the real time.
        "ends_on": max(dt.date(2026, 12, 7), dt.datetime.now(dt.UTC).date() + dt.timedelta(days=14)),
        "timezone": "Europe/Oslo",
        "digest_times": ["09:00", "13:00", "16:00"],
        "channels": list(DEFAULT_CHANNELS),
        "segments": list(DEFAULT_SEGMENTS),
        "status": LaunchStatus.LIVE,
        "slack_channel": "#launch",
    }
    values.update(overrides)
    with db.transaction() as session:
        launch = Launch(**values)
        session.add(launch)
        session.flush()
        for order, key in enumerate(hypotheses):
            session.add(Hypothesis(launch_id=id_of(launch), key=key, text=f"Hypothesis {key}", sort_order=order))
    return launch


def fresh(db: Database, launch: Launch) -> Launch:
    """The launch as a new request would load it (its counts version moves with every backfill)."""
    with db.session() as session:
        found = session.get(Launch, launch.id)
        assert found is not None
        return found


def hypothesis_ids(db: Database, launch: Launch) -> dict[str, int]:
    from app.launches import hypotheses_of

    with db.session() as session:
        return {h.key: h.id or 0 for h in hypotheses_of(session, launch)}


def make_user(db: Database, username: str = "agent", *, role: Role = Role.AGENT, **overrides: Any) -> User:
    with db.transaction() as session:
        user = User(username=username, display_name=username.title(), role=role, **overrides)
        session.add(user)
    return user


def log(
    db: Database,
    launch: Launch,
    *keys: str,
    at: dt.datetime = T0,
    channel: str = "phone",
    segment: str | None = "private",
    note: str | None = None,
    agent: User | None = None,
) -> int:
    """Record one enquiry matching ``keys`` (none: "other") and return its id."""
    ids = hypothesis_ids(db, launch)
    with db.write_connection() as connection:
        [recorded] = insert_many(
            connection,
            [
                NewEnquiry(
                    launch_id=launch.id or 0,
                    channel=channel,
                    segment=segment,
                    created_at=at,
                    hypothesis_ids=tuple(ids[k] for k in keys),
                    note=note,
                    agent_id=agent.id if agent else None,
                )
            ],
        )
    return recorded.id
