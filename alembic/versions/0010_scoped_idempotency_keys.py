"""Idempotency keys scoped to their sender and stored hashed: the last day's keys converted

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 17:45:00
"""

import datetime as dt
import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A client retries within minutes; converting the last day's keys keeps every retry that may
# still come across this upgrade from counting twice, without rewriting a million rows.
RECENT = dt.timedelta(days=1)


def upgrade() -> None:
    connection = op.get_bind()
    since = (dt.datetime.now(dt.UTC) - RECENT).replace(tzinfo=None)
    rows = connection.execute(
        sa.text(
            "SELECT id, idempotency_key, token_id, agent_id FROM enquiry WHERE recorded_at >= :since "
            "AND idempotency_key IS NOT NULL AND (token_id IS NOT NULL OR agent_id IS NOT NULL)"
        ),
        {"since": since},
    ).all()
    updates = []
    for enquiry_id, key, token_id, agent_id in rows:
        sender = f"t{token_id}" if token_id is not None else f"a{agent_id}"
        updates.append({"id": enquiry_id, "key": hashlib.sha256(f"{sender}:{key}".encode()).hexdigest()})
    if updates:
        connection.execute(sa.text("UPDATE enquiry SET idempotency_key = :key WHERE id = :id"), updates)


def downgrade() -> None:
    pass  # a hash cannot be turned back into the key; scoped keys simply stay unique
