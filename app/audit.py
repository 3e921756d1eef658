"""The audit trail: who did what to what, and when."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session

from app.models import AuditEvent


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: object,
    now: dt.datetime,
    **detail: Any,
) -> AuditEvent:
    event = AuditEvent(
        at=now, actor=actor[:100], action=action, target_type=target_type, target_id=str(target_id), detail=detail
    )
    session.add(event)
    return event
