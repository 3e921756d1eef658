"""Synthetic launch data at scale, shared by the benchmarks.

A launch of 21 days, enquiries spread over office hours (more at the start,
as after a real release), ~10% "other", ~7% matching two hypotheses.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from app import migrations
from app.db import Database
from app.models import (
    DayTally,
    Enquiry,
    EnquiryHypothesis,
    Hypothesis,
    Launch,
    LaunchStatus,
    LaunchTally,
    SlotTally,
    id_of,
)
from app.tallies import DAY_CACHE_KEY
from app.tallies.cache import OPEN_DAY_KEY, SO_FAR_KEY
from app.tallies.windows import HOURS_KEY

STARTS_ON = dt.date(2026, 11, 16)
CHUNK = 20_000


@dataclass(frozen=True)
class Dataset:
    db: Database
    launch: Launch
    hypotheses: list[Hypothesis]
    enquiries: int
    seconds_to_load: float


def fresh_database(url: str | None, name: str) -> Database:
    """An empty, migrated database: a new SQLite file, or a new database on a PostgreSQL server."""
    if url is None:
        from pathlib import Path

        folder = Path(__file__).parent / "results"
        folder.mkdir(exist_ok=True)
        path = folder / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "bench_{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "bench_{name}"')
        admin.dispose()
        url = make_url(url).set(database=f"bench_{name}").render_as_string(hide_password=False)
    db = Database(url)
    migrations.upgrade(db)
    return db


def build(
    db: Database,
    *,
    enquiries: int,
    hypotheses: int,
    seed: int = 1,
    starts_on: dt.date = STARTS_ON,
    until: dt.datetime | None = None,
) -> Dataset:
    """A launch of 21 days from ``starts_on`` (fixed, so query figures compare across runs).
    With ``until`` ("now" of the benchmark) nothing is logged from then on: the day's office
    hours so far hold that day's share of enquiries, as they would when it is now."""
    started = time.perf_counter()
    rng = random.Random(seed)
    with db.transaction() as session:
        launch = Launch(
            slug="bench",
            name="Benchmark launch",
            starts_on=starts_on,
            ends_on=starts_on + dt.timedelta(days=20),
            timezone="Europe/Oslo",
            digest_times=["09:00", "13:00", "16:00"],
            channels=["phone", "chat", "email", "social"],
            segments=["private", "business"],
            status=LaunchStatus.LIVE,
        )
        session.add(launch)
        session.flush()
        rows = [
            Hypothesis(
                launch_id=id_of(launch),
                key=f"h{i:03d}",
                text=f"Hypothesis number {i}",
                sort_order=i,
                expected_per_day=rng.choice([None, 10, 50]),
            )
            for i in range(hypotheses)
        ]
        session.add_all(rows)
    ids = [id_of(h) for h in rows]
    weights = [1 / (i + 1) for i in range(len(ids))]  # a few big hypotheses, a long tail
    start = dt.datetime.combine(starts_on, dt.time(7, 0), tzinfo=dt.UTC)
    enquiry_table = Enquiry.__table__  # type: ignore[attr-defined]
    link_table = EnquiryHypothesis.__table__  # type: ignore[attr-defined]
    next_id = 1
    for chunk_start in range(0, enquiries, CHUNK):
        batch: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        for n in range(chunk_start, min(enquiries, chunk_start + CHUNK)):
            day = n * 21 // enquiries
            opens = start + dt.timedelta(days=day)
            span = 11 * 3600 if until is None else max(1, min(11 * 3600, int((until - opens).total_seconds())))
            created = opens + dt.timedelta(seconds=rng.randrange(span))
            matched = [] if rng.random() < 0.1 else rng.choices(ids, weights=weights, k=2 if rng.random() < 0.07 else 1)
            matched = list(dict.fromkeys(matched))
            batch.append(
                {
                    "id": next_id,
                    "launch_id": id_of(launch),
                    "channel": rng.choice(launch.channels),
                    "segment": "business" if rng.random() < 0.15 else "private",
                    "created_at": created,
                    "is_other": not matched,
                    "idempotency_key": f"b{n}",
                    "note": "Asked about something nobody expected" if not matched else None,
                }
            )
            links.extend(
                {
                    "enquiry_id": next_id,
                    "hypothesis_id": h,
                    "launch_id": id_of(launch),
                    "created_at": created,
                    "channel": batch[-1]["channel"],
                    "segment": batch[-1]["segment"],
                }
                for h in matched
            )
            next_id += 1
        with db.write_connection() as connection:
            connection.execute(enquiry_table.insert(), batch)
            connection.execute(link_table.insert(), links)
    if not db.is_sqlite:
        with db.engine.connect() as connection:
            connection.exec_driver_sql("SELECT setval('enquiry_id_seq', (SELECT max(id) FROM enquiry))")
            connection.commit()
    settle(db)
    return Dataset(db, launch, rows, enquiries, time.perf_counter() - started)


def settle(db: Database) -> None:
    """Statistics for the planner, and on PostgreSQL the visibility map: without a VACUUM every
    index entry costs a heap fetch (no index-only scans), which production's autovacuum spares it."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE" if db.is_sqlite else "VACUUM ANALYZE")


def reuse(url: str | None, name: str, *, enquiries: int, until: dt.datetime) -> Dataset | None:
    """The data set an earlier run built under ``name``, if it is there and the same size (and
    nothing in it is logged from ``until`` on), migrated to today's schema, kept counts dropped."""
    if url is None:
        from pathlib import Path

        path = Path(__file__).parent / "results" / f"{name}.db"
        if not path.exists():
            return None
        url = f"sqlite:///{path}"
    else:
        admin = sa.create_engine(url)
        with admin.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": f"bench_{name}"}
            ).first()
        admin.dispose()
        if exists is None:
            return None
        url = make_url(url).set(database=f"bench_{name}").render_as_string(hide_password=False)
    db = Database(url)
    migrations.upgrade(db)
    with db.transaction() as session:
        launch = session.exec(select(Launch).where(Launch.slug == "bench")).first()
        found, latest = session.execute(sa.select(sa.func.count(), sa.func.max(col(Enquiry.created_at)))).one()
        if launch is None or found != enquiries or latest is None or latest.replace(tzinfo=dt.UTC) >= until:
            db.dispose()
            return None
        hypotheses = list(session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id)))
        for table in (DayTally, SlotTally, LaunchTally):
            session.execute(sa.delete(table))
        session.expunge_all()
    settle(db)
    return Dataset(db, launch, hypotheses, enquiries, 0.0)


def forget_counted_days(db: Database, session: sa.orm.Session, *, kept: bool) -> None:
    """Make the next tally count closed days as a new process would: without this
    process's memory of them (slots and the launch so far too), and with ``kept=True`` also
    without the day_tally, slot_tally and launch_tally rows."""
    for key in (DAY_CACHE_KEY, OPEN_DAY_KEY, SO_FAR_KEY, HOURS_KEY):
        session.info["memo"].pop(key, None)
    session.rollback()  # a new read snapshot: see what other connections wrote or deleted
    if kept:
        with db.write_connection() as connection:
            for table in (DayTally, SlotTally, LaunchTally):
                connection.execute(sa.delete(table))
