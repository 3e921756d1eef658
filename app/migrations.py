"""Schema migrations (Alembic), run by ``tally db upgrade`` and at ``tally serve`` start-up.

Several replicas starting at once against one PostgreSQL must not migrate
twice: the upgrade runs under a transaction-level advisory lock, and whoever
waits finds the schema already at head.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from alembic import command
from app.db import Database

ROOT = Path(__file__).resolve().parent.parent
MIGRATION_LOCK_ID = 0x7A11_0001  # any constant shared by every replica


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "alembic"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return {revision.revision for revision in script.walk_revisions()}


class NewerSchema(Exception):
    """The database is at a revision this code does not have: a newer Launch Tally upgraded it (and an
    image was rolled back since). Alembic said "Can't locate revision", and `tally` told people to run
    `tally db upgrade`, which cannot help."""

    def __init__(self, revision: str) -> None:
        self.revision = revision
        super().__init__(
            f"The database is at schema revision {revision}, which this version of Launch Tally does not know "
            f"(its newest is {head_revision()}): a newer version upgraded it. Run that version, or restore a "
            "backup made before the upgrade."
        )


def refuse_newer(revision: str | None) -> None:
    if revision is not None and revision not in known_revisions():
        raise NewerSchema(revision)


@contextmanager
def _migration_connection(db: Database) -> Iterator[Connection]:
    with db.engine.connect() as connection:
        driver = connection.connection.driver_connection
        if db.is_sqlite:
            # SQLite rebuilds a table to alter it (Alembic's batch mode); with
            # foreign keys on, dropping the old table would cascade-delete rows
            # that point at it. The pragma only works outside a transaction.
            driver.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
                yield connection
                if db.is_sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")
        finally:
            if db.is_sqlite:
                driver.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def upgrade(db: Database, revision: str = "head") -> str | None:
    """Upgrade to ``revision``; returns the revision the database was at (None: empty), read under the
    migration lock, so of two upgrades at once only the one that did the work sees the old revision.
    Raises ``NewerSchema`` for a database a newer version upgraded (nothing is changed)."""
    config = alembic_config()
    with _migration_connection(db) as connection:
        found = MigrationContext.configure(connection).get_current_revision()
        refuse_newer(found)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return found


def downgrade(db: Database, revision: str) -> None:
    config = alembic_config()
    with _migration_connection(db) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
