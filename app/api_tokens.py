"""Bearer tokens for integrations: shown once at creation, stored hashed, revocable.

Tokens are 256 random bits, so a plain SHA-256 is the right hash: there is
nothing to brute-force, and a fast hash keeps the API's hot path fast.
"""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app import audit
from app.errors import Invalid, NotFound
from app.i18n import N_, Text
from app.models import CONTROL_CHARACTER, ApiToken, TokenRole
from app.recording.credentials import hash_token

TOKEN_PREFIX = "lt_"  # noqa: S105 - a public prefix that makes tokens recognisable in logs and scanners


def create(
    session: Session, *, name: str, now: dt.datetime, actor: str, role: TokenRole = TokenRole.INTEGRATION
) -> tuple[ApiToken, str]:
    """A new token; returns the row and the raw token, which is never shown again.

    Integration tokens (the default) log enquiries and read; lead tokens may also change hypotheses."""
    if CONTROL_CHARACTER.search(name):
        raise Invalid(
            Text(N_("The token name holds a control character (such as \\0): write plain text.")), field="name"
        )
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise Invalid(Text(N_("Give the token a name of 1–100 characters, e.g. 'telephony' or 'crm'.")), field="name")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name, token_hash=hash_token(raw), prefix=raw[:10], created_by=actor[:100], created_at=now, role=role
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="token.created",
        target_type="api_token",
        target_id=token.id,
        now=now,
        name=name,
        role=role.value,
    )
    return token, raw


def revoke(session: Session, token_id: int, *, now: dt.datetime, actor: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"No API token with id {token_id}.")
    # Revoked by this transaction only if no other got there first: two admins (or a double press sent to
    # two replicas) both read it unrevoked, and the second, after waiting for the first's row lock,
    # recorded a second revocation and moved its time.
    revoked = session.execute(
        sa.update(ApiToken)
        .where(col(ApiToken.id) == token_id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(token)
    if revoked.rowcount:  # type: ignore[attr-defined]
        audit.record(
            session,
            actor=actor,
            action="token.revoked",
            target_type="api_token",
            target_id=token.id,
            now=now,
            name=token.name,
        )
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.revoked_at).is_not(None), col(ApiToken.name))))


def find_active(session: Session, raw: str) -> ApiToken | None:
    return session.exec(
        select(ApiToken).where(ApiToken.token_hash == hash_token(raw), col(ApiToken.revoked_at).is_(None))
    ).first()
