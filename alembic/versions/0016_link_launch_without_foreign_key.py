"""The link table's launch_id, a copy of its enquiry's, is no longer a foreign key of its own

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 13:20:00

Each foreign key is checked for every row inserted, and on PostgreSQL the check also locks the
launch's row: measured, dropping this one took 15-20 µs of the server's CPU off every enquiry logged
(docs/benchmarks.md). It guarded nothing the other keys do not: a link is inserted with its
enquiry's launch_id in the same statement, and deleting a launch still removes its links through
the enquiry (launch -> enquiry -> link, both ON DELETE CASCADE). SQLite rebuilds the table to drop
a constraint: on a large file, run this upgrade outside the launch's busy hours (docs/operations.md).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "fk_enquiry_hypothesis_launch_id_launch"


def upgrade() -> None:
    with op.batch_alter_table("enquiry_hypothesis") as batch:
        batch.drop_constraint(NAME, type_="foreignkey")
    _statistics()


def downgrade() -> None:
    with op.batch_alter_table("enquiry_hypothesis") as batch:
        batch.create_foreign_key(NAME, "launch", ["launch_id"], ["id"], ondelete="CASCADE")
    _statistics()


def _statistics() -> None:
    # SQLite rebuilt the table and dropped its statistics with the old one; without them it may
    # read a day of enquiries through the wrong index (see 0012).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ANALYZE enquiry_hypothesis")
