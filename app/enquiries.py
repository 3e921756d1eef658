"""The enquiry log: recording enquiries (exactly once per idempotency key) and undoing them.

``insert_many`` is the one way enquiries reach the database. It is plain
SQLAlchemy Core on a connection the caller holds in a write transaction, so the
same code serves a single request, a batch from the group-commit writer, and
the demo loader.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.models import Enquiry, EnquiryHypothesis

MAX_IDEMPOTENCY_KEY = 64

_enquiry = Enquiry.__table__  # type: ignore[attr-defined]
_link = EnquiryHypothesis.__table__  # type: ignore[attr-defined]


def new_key() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class NewEnquiry:
    launch_id: int
    channel: str
    created_at: dt.datetime
    hypothesis_ids: tuple[int, ...] = ()
    segment: str | None = None
    note: str | None = None
    agent_id: int | None = None
    # Every enquiry has a key: the client's, or one made here. That is what
    # lets a batch insert tell which rows it created and which already existed.
    idempotency_key: str = field(default_factory=new_key)


@dataclass(frozen=True)
class Recorded:
    id: int
    created: bool  # False: the key was seen before and this is the earlier enquiry


def _insert(dialect: str) -> sa.Insert:
    module = postgresql if dialect == "postgresql" else sqlite
    statement: sa.Insert = module.insert(_enquiry).on_conflict_do_nothing(
        index_elements=["launch_id", "idempotency_key"]
    )
    return statement


def insert_many(connection: sa.Connection, items: Sequence[NewEnquiry]) -> list[Recorded]:
    """Insert enquiries and their hypothesis links; one result per item, in order.

    An item whose (launch, idempotency key) exists already, in the database or
    earlier in ``items``, is not inserted again: its result is the existing id.
    """
    if not items:
        return []
    unique: dict[tuple[int, str], NewEnquiry] = {}
    for item in items:
        unique.setdefault((item.launch_id, item.idempotency_key), item)
    rows = [
        {
            "launch_id": item.launch_id,
            "channel": item.channel,
            "segment": item.segment,
            "agent_id": item.agent_id,
            "created_at": item.created_at,
            "note": item.note,
            "is_other": not item.hypothesis_ids,
            "idempotency_key": item.idempotency_key,
        }
        for item in unique.values()
    ]
    statement = _insert(connection.dialect.name).returning(
        _enquiry.c.id, _enquiry.c.launch_id, _enquiry.c.idempotency_key
    )
    created: dict[tuple[int, str], int] = {
        (launch_id, key): enquiry_id for enquiry_id, launch_id, key in connection.execute(statement, rows)
    }
    links = [
        {"enquiry_id": created[k], "hypothesis_id": h, "launch_id": item.launch_id, "created_at": item.created_at}
        for k, item in unique.items()
        if k in created
        for h in dict.fromkeys(item.hypothesis_ids)
    ]
    if links:
        connection.execute(_link.insert(), links)

    existing: dict[tuple[int, str], int] = {}
    missing = [k for k in unique if k not in created]
    for launch_id in {launch_id for launch_id, _ in missing}:
        keys = [key for lid, key in missing if lid == launch_id]
        found = connection.execute(
            sa.select(_enquiry.c.id, _enquiry.c.idempotency_key).where(
                _enquiry.c.launch_id == launch_id, _enquiry.c.idempotency_key.in_(keys)
            )
        )
        existing.update(((launch_id, key), enquiry_id) for enquiry_id, key in found)

    results: list[Recorded] = []
    first_use: set[tuple[int, str]] = set()
    for item in items:
        k = (item.launch_id, item.idempotency_key)
        if k in created and k not in first_use:
            first_use.add(k)
            results.append(Recorded(created[k], True))
        else:
            # Not in the table after ON CONFLICT DO NOTHING means another
            # transaction deleted it in between: an undo racing a retry.
            enquiry_id = created.get(k) or existing.get(k)
            if enquiry_id is None:
                raise LookupError(f"enquiry with idempotency key {k[1]!r} vanished while it was being recorded")
            results.append(Recorded(enquiry_id, False))
    return results


def delete(connection: sa.Connection, enquiry_id: int) -> bool:
    """Remove an enquiry and its links (ON DELETE CASCADE). True if it existed."""
    result = connection.execute(sa.delete(_enquiry).where(_enquiry.c.id == enquiry_id))
    return bool(result.rowcount)
