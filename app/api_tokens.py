"""Bearer tokens for integrations: shown once at creation, stored hashed, revocable.

Tokens are 256 random bits, so a plain SHA-256 is the right hash: there is
nothing to brute-force, and a fast hash keeps the API's hot path fast.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time

from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from app import audit
from app.auth import hash_token
from app.db import Database
from app.errors import Invalid, NotFound
from app.models import ApiToken, TokenRole

TOKEN_PREFIX = "lt_"  # noqa: S105 - a public prefix that makes tokens recognisable in logs and scanners
# Touching last_used_at on every request would make every API call a write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


def create(
    session: Session, *, name: str, now: dt.datetime, actor: str, role: TokenRole = TokenRole.INTEGRATION
) -> tuple[ApiToken, str]:
    """A new token; returns the row and the raw token, which is never shown again.

    Integration tokens (the default) log enquiries and read; lead tokens may also change hypotheses."""
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise Invalid("Give the token a name of 1–100 characters, e.g. 'telephony' or 'crm'.", field="name")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name, token_hash=hash_token(raw), prefix=raw[:10], created_by=actor, created_at=now, role=role
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
    if token.revoked_at is None:
        token.revoked_at = now
        session.add(token)
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


class TokenCheck:
    """Whether a token is valid, asked before an enquiry's body is read (a stranger's 50 MB body
    is never read), at the cost of one lookup per token every ``ttl`` seconds per process.

    Only a precheck: the group-commit writer checks the token again inside the transaction
    that records the enquiry, so a token revoked a moment ago is still refused on every replica.
    Only valid tokens are remembered; a wrong one is looked up (in a worker thread) each time."""

    def __init__(self, db: Database, *, ttl: float = 10.0, max_tokens: int = 10_000) -> None:
        self._db = db
        self._ttl = ttl
        self._max_tokens = max_tokens
        self._valid: dict[str, float] = {}

    async def valid(self, token_hash: str) -> bool:
        now = time.monotonic()
        if self._valid.get(token_hash, 0.0) > now:
            return True
        found = await run_in_threadpool(self._lookup, token_hash)
        if found:
            if len(self._valid) >= self._max_tokens:
                self._valid.clear()
            self._valid[token_hash] = now + self._ttl
        return found

    def _lookup(self, token_hash: str) -> bool:
        with self._db.session() as session:
            return (
                session.exec(
                    select(ApiToken.id).where(ApiToken.token_hash == token_hash, col(ApiToken.revoked_at).is_(None))
                ).first()
                is not None
            )
