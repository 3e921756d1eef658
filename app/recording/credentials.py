"""Who is asking to record an enquiry, and whether they may: one check for every route.

A request names its credential without a lookup (``browser_credential``,
``bearer_from``); the writer checks every credential of a batch in the read
just before it records it (``wanted_credentials``, ``Store.batch_context``),
so a session signed out, a token revoked or a user disabled a moment ago is
refused, on every replica. The
normal routes' dependencies (app/deps.py) read the same cookie, header and
bearer token through the functions here.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import time
from collections.abc import Sequence

from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import Scope

from app.config import Settings
from app.csrf import SESSION_COOKIE
from app.db import Database
from app.errors import Unauthenticated
from app.models import ApiToken
from app.recording.requests import Credential, EnquiryRequest
from app.serving import PEER


def hash_token(raw: str) -> str:
    """How session cookies and API tokens are stored: 256 random bits need no slow hash."""
    return hashlib.sha256(raw.encode()).hexdigest()


def trusted_user(request: Request, settings: Settings) -> str | None:
    """The user name a single-sign-on proxy vouches for, if the app trusts such a header and the
    request came straight from one of the proxies (``TALLY_FORWARDED_ALLOW_IPS``): anyone else who can
    reach the app could otherwise name any user in it."""
    header = settings.trusted_user_header
    if header and (name := request.headers.get(header)) and from_proxy(request.scope, settings.forwarded_allow_ips):
        return name.strip().lower()
    return None


def from_proxy(scope: Scope, allowed: str) -> bool:
    """Whether the connection's peer (``serving.PEER``, kept before uvicorn replaced the client with the
    one a proxy forwarded for; else the client, as an in-process test client gives it) is one of
    ``allowed``: addresses or networks, comma-separated, or ``*``."""
    peer = scope.get(PEER) or scope.get("client")
    if not peer:
        return False
    anyone, networks, names = _proxies(allowed)
    if anyone:
        return True
    host = str(peer[0])
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host in names  # a unix socket's path, or a test client's name
    return any(address in network for network in networks)


@functools.lru_cache(maxsize=4)
def _proxies(allowed: str) -> tuple[bool, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], frozenset[str]]:
    entries = [entry.strip() for entry in allowed.split(",") if entry.strip()]
    networks, names = [], set()
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry))  # strictly, as uvicorn reads the same setting
        except ValueError:
            names.add(entry)
    return "*" in entries, tuple(networks), frozenset(names)


def browser_credential(request: Request, settings: Settings) -> Credential:
    """Who is ticking in a browser, without a lookup."""
    if name := trusted_user(request, settings):
        return Credential("trusted_user", name)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated("Sign in to log enquiries.", code="signed_out")
    return Credential("session", hash_token(token))


def bearer_from(authorization: str | None) -> str:
    """The raw token from an Authorization header, checked for shape only (the database checks the rest)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "Missing API token: send 'Authorization: Bearer <token>' (an admin creates one with "
            "`tally tokens create NAME`).",
            code="missing_token",
        )
    return token.strip()


def bad_token() -> Unauthenticated:
    return Unauthenticated("The API token is wrong or was revoked: ask an admin for a new one.", code="bad_token")


class TokenCheck:
    """Whether a token is valid, asked before an enquiry's body is read (a stranger's 50 MB body
    is never read), at the cost of one lookup per token every ``ttl`` seconds per process.

    Only a precheck: the group-commit writer checks the token again with the batch that
    records the enquiry, so a token revoked a moment ago is still refused on every replica.
    Only valid tokens are remembered; a wrong one is looked up (in a worker thread) each time.
    Requests that ask about the same token while it is being looked up wait for that one lookup:
    under load, every request in flight found the token expired at once, and each started its own
    (py-spy: a fortieth of a worker's time, in bursts every ``ttl`` seconds)."""

    def __init__(self, db: Database, *, ttl: float = 10.0, max_tokens: int = 10_000) -> None:
        self._db = db
        self._ttl = ttl
        self._max_tokens = max_tokens
        self._valid: dict[str, float] = {}
        self._looking_up: dict[str, asyncio.Task[bool]] = {}

    async def valid(self, token_hash: str) -> bool:
        if self._valid.get(token_hash, 0.0) > time.monotonic():
            return True
        lookup = self._looking_up.get(token_hash)
        if lookup is None or lookup.get_loop() is not asyncio.get_running_loop():  # tests run several loops
            lookup = asyncio.ensure_future(self._look_up(token_hash))
            self._looking_up[token_hash] = lookup
            lookup.add_done_callback(lambda _: self._looking_up.pop(token_hash, None))
        # Shielded: a client that goes away does not cancel the lookup the others wait for.
        return await asyncio.shield(lookup)

    async def _look_up(self, token_hash: str) -> bool:
        found = await run_in_threadpool(self._lookup, token_hash)
        if found:
            if len(self._valid) >= self._max_tokens:
                self._valid.clear()
            self._valid[token_hash] = time.monotonic() + self._ttl
        return found

    def _lookup(self, token_hash: str) -> bool:
        with self._db.session() as session:
            return (
                session.exec(
                    select(ApiToken.id).where(ApiToken.token_hash == token_hash, col(ApiToken.revoked_at).is_(None))
                ).first()
                is not None
            )

    async def checked(self, request: Request) -> str:
        """The hash of the request's bearer token if it exists and is not revoked, else 401."""
        token_hash = hash_token(bearer_from(request.headers.get("authorization")))
        if not await self.valid(token_hash):
            raise bad_token()
        return token_hash


def wanted_credentials(requests: Sequence[EnquiryRequest]) -> dict[str, list[str]]:
    """The credentials a batch names, by kind, for the writer to check (``Store.batch_context``)."""
    wanted: dict[str, set[str]] = {"session": set(), "token": set(), "trusted_user": set()}
    for request in requests:
        # Sessions and tokens arrive hashed; a user name from a proxy's header is as sent, and one with a
        # NUL in it, which PostgreSQL refuses, would fail the whole batch: no user has one.
        if "\x00" not in request.credential.value:
            wanted[request.credential.kind].add(request.credential.value)
    return {kind: sorted(values) for kind, values in wanted.items()}
