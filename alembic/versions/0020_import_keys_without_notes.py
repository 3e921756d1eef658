"""Imported enquiries' keys made again without their notes

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-17 09:00:00

An imported row's key was a SHA-256 of its content including its scrubbed note, and it stayed after
note retention erased the note: anyone with the database could confirm a guessed note (an eight-digit
phone number the scrubber missed is 10^8 hashes). Keys are now made from the rest of the content
(launch, time, hypothesis keys, channel, segment) and a number that counts the enquiries with that
content (app/imports.py). These rows get the same: the enquiries of each content, numbered 1, 2 … in
the order they were stored, so a file imported before imports as nothing again.

The content is made as ``imports.row_content`` makes it, copied here so that this revision keeps
meaning what it did. The hypothesis keys are those of the row as imported: an enquiry a re-link
moved (only "other" enquiries move, and ``relink.enquiry_ids`` keeps which) had none.
"""

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 500


def _content(slug: str, created_at: dt.datetime, keys: list[str], channel: str, segment: str | None) -> str:
    moment = created_at.replace(tzinfo=dt.UTC).isoformat()  # stored as naive UTC
    return json.dumps([slug, moment, sorted(keys), channel, segment or ""], ensure_ascii=False, separators=(",", ":"))


def upgrade() -> None:
    connection = op.get_bind()
    imported = connection.execute(
        sa.text(
            "SELECT e.id, e.launch_id, l.slug, e.created_at, e.channel, e.segment FROM enquiry e "
            "JOIN launch l ON l.id = e.launch_id WHERE e.source = 'import' AND e.idempotency_key LIKE 'imp:%' "
            "ORDER BY e.id"
        ).columns(created_at=sa.DateTime)
    ).all()
    if not imported:
        return
    keys: defaultdict[int, list[str]] = defaultdict(list)
    for enquiry_id, key in connection.execute(
        sa.text(
            "SELECT eh.enquiry_id, h.key FROM enquiry_hypothesis eh JOIN hypothesis h ON h.id = eh.hypothesis_id "
            "JOIN enquiry e ON e.id = eh.enquiry_id WHERE e.source = 'import'"
        )
    ):
        keys[enquiry_id].append(key)
    moved: set[int] = set()
    for (ids,) in connection.execute(sa.text("SELECT enquiry_ids FROM relink WHERE undone_at IS NULL")):
        moved.update(json.loads(ids) if isinstance(ids, str) else ids)
    numbers: defaultdict[tuple[int, str], int] = defaultdict(int)
    updates = []
    for enquiry_id, launch_id, slug, created_at, channel, segment in imported:
        content = _content(slug, created_at, [] if enquiry_id in moved else keys[enquiry_id], channel, segment)
        numbers[launch_id, content] += 1
        digest = hashlib.sha256(content.encode()).hexdigest()[:40]
        updates.append({"id": enquiry_id, "key": f"imp:{digest}:{numbers[launch_id, content]}"})
    for start in range(0, len(updates), CHUNK):
        part = updates[start : start + CHUNK]
        connection.execute(sa.text("UPDATE enquiry SET idempotency_key = :key WHERE id = :id"), part)


def downgrade() -> None:
    pass  # the notes' hashes cannot be made again without the files
