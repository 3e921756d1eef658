"""Dependencies, declared once as Annotated aliases for the routes."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Union, get_args, get_origin

import sqlalchemy as sa
from fastapi import Depends, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session, select

from app import api_tokens, auth, i18n, ranges
from app.config import Settings
from app.csrf import SESSION_COOKIE
from app.db import Database
from app.errors import Forbidden, Invalid, TallyError, Unauthenticated
from app.models import ApiToken, Role, TokenRole, User
from app.recording.credentials import bad_token, bearer_from, trusted_user

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LANGUAGE_COOKIE = "tally_lang"


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_session(request: Request) -> Iterator[Session]:
    """A session per request. Requests that may change state get a write
    session (BEGIN IMMEDIATE on SQLite) so they never fail half-way with
    "database is locked"; reads stay concurrent."""
    db: Database = request.app.state.db
    session = db.session(write=request.method not in SAFE_METHODS)
    try:
        yield session
    finally:
        try:
            session.close()
        except sa.exc.DBAPIError as exc:
            # The server dropped the connection after the answer was made (a restart, a failover,
            # pg_terminate_backend): closing rolls back, which fails. Raised here, the answer already
            # sent was logged as an unhandled error and its keep-alive connection closed, so the
            # client's next request on it got no answer. The pool does not reuse the connection.
            log.warning("database connection lost after the answer was made: %s", type(exc.orig).__name__)


async def get_now() -> dt.datetime:
    # async, like every dependency of the hot path: a sync one would cost a
    # hop to the thread pool on every request.
    return dt.datetime.now(dt.UTC)


# A row id in a path: every id column is an INTEGER, 32-bit on PostgreSQL, so anything outside this is
# a 422 here rather than a 500 from the driver.
MAX_ROW_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL; a larger one is no row's (SQLite: an OverflowError)
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]

SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]
SessionDep = Annotated[Session, Depends(get_session)]
Now = Annotated[dt.datetime, Depends(get_now)]


def view_query(
    range_: Annotated[str | None, Query(alias="range")] = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Annotated[str | None, Query()] = None,
    channel: Annotated[list[str] | None, Query()] = None,
    segment: Annotated[list[str] | None, Query()] = None,
) -> ranges.ViewQuery:
    """range=…, from=/to=, channel=…, segment=… as given; ``ViewQuery.select`` checks them."""
    return ranges.ViewQuery(range_ or None, from_ or None, to or None, channel or [], segment or [])


ViewParams = Annotated[ranges.ViewQuery, Depends(view_query)]


def is_htmx(request: Request) -> bool:
    """Whether to answer with a fragment: an htmx request, but not the one that restores a page on Back
    when htmx kept no copy of it (``hx-history="false"``, a full cache): that one wants the whole page."""
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-history-restore-request") != "true"


IsHtmx = Annotated[bool, Depends(is_htmx)]


@dataclass(frozen=True)
class Viewer:
    """The signed-in person looking at a page, in their language."""

    user: User
    language: str
    # What signed them in: their session's token, or the proxy's header naming them. Failed password
    # checks while signed in are counted under it (auth.authenticate's ``signed_in``), never under a
    # cookie the proxy's users do not need and anyone could change at will.
    signed_in_as: str = ""

    def can(self, role: Role) -> bool:
        return self.user.can(role)


def browser_language(request: Request, settings: Settings) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in i18n.LANGUAGES:
        return chosen
    return i18n.negotiate(request.headers.get("accept-language"), settings.language)


def find_viewer(request: Request, session: Session, settings: Settings, now: dt.datetime) -> Viewer | None:
    user: User | None = None
    if name := trusted_user(request, settings):
        user = session.exec(select(User).where(User.username == name)).first()
        if user is None or not user.is_active:
            raise Forbidden(
                f"You are signed in as {name!r}, but Launch Tally has no active user by that name: ask an admin.",
                code="unknown_user",
            )
        signed_in_as = f"trusted-header|{user.username}"
    elif token := request.cookies.get(SESSION_COOKIE):
        found = auth.find_session(session, token, now=now)
        user = found[0] if found else None
        signed_in_as = f"session|{token}"
    if user is None:
        return None
    return Viewer(user, user.language or browser_language(request, settings), signed_in_as)


def get_optional_viewer(request: Request, session: SessionDep, settings: SettingsDep, now: Now) -> Viewer | None:
    return find_viewer(request, session, settings, now)


def get_viewer(viewer: Annotated[Viewer | None, Depends(get_optional_viewer)]) -> Viewer:
    if viewer is None:
        raise Unauthenticated("Sign in to continue.", code="signed_out")
    return viewer


def _require(role: Role):  # type: ignore[no-untyped-def]
    def check(viewer: Annotated[Viewer, Depends(get_viewer)]) -> Viewer:
        if not viewer.can(role):
            raise Forbidden(
                f"This needs the {role.value} role; you are signed in as {viewer.user.role.value}.",
                code="forbidden_role",
            )
        return viewer

    return check


OptionalViewer = Annotated[Viewer | None, Depends(get_optional_viewer)]
CurrentViewer = Annotated[Viewer, Depends(get_viewer)]
RequireLead = Annotated[Viewer, Depends(_require(Role.LEAD))]
RequireAdmin = Annotated[Viewer, Depends(_require(Role.ADMIN))]

# --- the API: bearer tokens only ------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="An API token from `tally tokens create NAME` or the admin page.")


async def bearer_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    return bearer_from(f"Bearer {credentials.credentials}" if credentials else None)


def get_api_token(raw: Annotated[str, Depends(bearer_token)], session: SessionDep) -> ApiToken:
    token = api_tokens.find_active(session, raw)
    if token is None:
        raise bad_token()
    return token


CurrentToken = Annotated[ApiToken, Depends(get_api_token)]


def get_lead_token(token: CurrentToken) -> ApiToken:
    if token.role != TokenRole.LEAD:
        raise Forbidden(
            # Said of the call, not of one of them: it guards erasing notes and moving enquiries too.
            f"Token {token.name!r} is an integration token: it logs enquiries and reads. This call changes a launch "
            "and needs a lead token (`tally tokens create NAME --role lead`).",
            code="forbidden_role",
        )
    return token


LeadToken = Annotated[ApiToken, Depends(get_lead_token)]


def needs_lead_token(route: object) -> bool:
    """Whether a route takes a ``LeadToken``: its refusal of an integration token comes before what is wrong
    with the body (app.main's ``refused_stranger``), as every refusal of who is asking does."""

    def takes(dependant: Dependant) -> bool:
        return dependant.call is get_lead_token or any(takes(inner) for inner in dependant.dependencies)

    dependant = getattr(route, "dependant", None)
    return isinstance(dependant, Dependant) and takes(dependant)


def role_refusal(db: Database, raw: str) -> TallyError | None:
    """The 401 or 403 the token ``raw`` would get from a ``LeadToken``, or None if it may make the call."""
    with db.session() as session:
        token = api_tokens.find_active(session, raw)
    if token is None:
        return bad_token()
    try:
        get_lead_token(token)
    except Forbidden as refused:
        return refused
    return None


def known_query(request: Request, token: CurrentToken) -> None:
    """Refuses a query parameter the API call does not take, and one of a single value given twice
    (after the token, so a stranger is told 401). Ignored, a misspelt filter (``chanel=phone``) or
    another call's names (``/series?start=…``) answered with the unfiltered numbers, as if they were the
    ones asked for; given twice, ``bucket=hour&bucket=day`` silently took the last, and
    ``start=A&end=B&start=C`` was told its end was before its start."""
    names = _query_names(request.scope["route"])
    unknown = sorted(set(request.query_params) - names.all)
    if unknown:
        taken = ", ".join(sorted(names.all)) or "none"
        raise Invalid(
            f"This call takes no query parameter {unknown[0]!r}: {_nothing_done(request)}. Its parameters: {taken}.",
            field=unknown[0],
        )
    for name in sorted(names.single):
        if len(given := request.query_params.getlist(name)) > 1:
            values = ", ".join(repr(value[:60]) for value in given)
            raise Invalid(
                f"{name} is given {len(given)} times ({values}) but takes one value: {_nothing_done(request)}. "
                "Give it once.",
                field=name,
            )


def _nothing_done(request: Request) -> str:
    # A read counted nothing; a change (PATCH, POST, DELETE) was not made.
    return "nothing was counted" if request.method in SAFE_METHODS else "nothing was changed"


@dataclass(frozen=True)
class QueryNames:
    """A call's query parameters: all of them, and those that take a single value (all but lists)."""

    all: frozenset[str]
    single: frozenset[str]


def _query_names(route: APIRoute) -> QueryNames:
    def params(dependant: Dependant) -> list[tuple[str, object]]:
        found: list[tuple[str, object]] = [(p.alias, p.field_info.annotation) for p in dependant.query_params]
        for inner in dependant.dependencies:
            found += params(inner)
        return found

    known: QueryNames | None = getattr(route, "_query_names", None)
    if known is None:  # kept on the route (routes are not hashable), worked out at its first call
        found = params(route.dependant)
        known = QueryNames(
            all=frozenset(name for name, _ in found),
            single=frozenset(name for name, annotation in found if not _repeatable(annotation)),
        )
        route._query_names = known  # type: ignore[attr-defined]
    return known


def _repeatable(annotation: object) -> bool:
    """Whether a query parameter so typed takes many values (``channel: list[str] | None``)."""
    if get_origin(annotation) in (Union, UnionType):
        return any(_repeatable(arg) for arg in get_args(annotation))
    origin = get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, (list, tuple, set, frozenset))


# Every call of the API but the enquiry POSTs (their own handlers, which take no query).
API_DEPENDENCIES = [Depends(known_query)]
