"""The two enquiry POSTs: the checklist's tick and the API's.

``hot_path.TallyApp`` calls the handlers that ``hot_handlers`` makes, ahead of
the framework's layers. The framework routes in ``router`` describe the API's
POST in the OpenAPI document, and serve a tick from a browser that has no CSRF
cookie yet (the full stack gives it one). Both kinds of request end in the same
group-commit writer, which checks who is asking, the launch and the hypotheses
with the batch that records the enquiry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app import bodies, csrf, privacy
from app.config import Settings
from app.errors import ERRORS, RETRY_AFTER, ErrorBody, TallyError, not_found
from app.models import EnquirySource
from app.observability import metrics
from app.recording.credentials import TokenCheck, browser_credential
from app.recording.hot_path import Handler
from app.recording.record import Logged, TokenUses, record_requests
from app.recording.requests import (
    IDEMPOTENCY_KEY_HEADER,
    ApiEnquiryIn,
    Credential,
    EnquiryIn,
    EnquiryRequest,
    header_key,
    keyed,
    parse_body,
    refuse_query,
)
from app.recording.store import Store
from app.recording.writer import GroupCommitWriter

API_PATH = "/api/v1/launches/{slug}/enquiries"
TICK_PATH = "/launches/{slug}/enquiries"

router = APIRouter(route_class=bodies.JsonBodyRoute)


class EnquiryOut(BaseModel):
    id: int
    created: bool = Field(description="False when the idempotency key was seen before.")
    launch: str
    hypotheses: list[str]
    logged_at: dt.datetime = Field(description="When the enquiry happened: `occurred_at` if it was given, else now.")


class TickOut(BaseModel):
    """What the checklist's script gets back for a tick (serialised by pydantic: the hot path)."""

    id: int
    created: bool
    hypotheses: list[str]
    logged_at: str
    # Whether the scrubber replaced personal data in the note: the agent is told, and can undo and log
    # again what they meant if the marker took more than that.
    note_masked: bool = False


def batch_recorder() -> Callable[[Store, Sequence[EnquiryRequest]], list[Logged | TallyError]]:
    """The writer's work for one batch, its transaction just begun: how big it is and how long its
    requests waited go to /metrics first. The API tokens this process marked used recently are
    remembered between batches (``record.TokenUses``)."""
    token_uses = TokenUses()

    def record_batch(store: Store, items: Sequence[EnquiryRequest]) -> list[Logged | TallyError]:
        now = dt.datetime.now(dt.UTC)
        metrics.observe_batch([(now - item.received_at).total_seconds() for item in items])
        return record_requests(store, items, now=now, token_uses=token_uses)

    return record_batch


def count_committed(items: Sequence[EnquiryRequest], results: Sequence[Logged | Exception]) -> None:
    """A batch committed: its new enquiries go to /metrics (a replayed key was counted the first time)."""
    for enquiry, result in zip(items, results, strict=True):
        if isinstance(result, Logged) and result.created:
            source = EnquirySource.API if enquiry.credential.kind == "token" else EnquirySource.CHECKLIST
            metrics.count_enquiry(enquiry.slug, enquiry.channel, source.value)


Writer = GroupCommitWriter[EnquiryRequest, Logged]


# --- the API ----------------------------------------------------------------------------


@router.post(
    API_PATH,
    tags=["api"],
    status_code=201,
    response_model=EnquiryOut,
    responses={
        **ERRORS,
        **not_found(
            "No such launch (`unknown_launch`), or the enquiry sent earlier with this idempotency key was undone "
            "(`unknown_enquiry`: nothing was recorded)"
        ),
        200: {
            "model": EnquiryOut,
            "description": "Same idempotency key as before: the earlier enquiry, as first recorded",
            "headers": {
                "Idempotent-Replayed": {
                    "description": "`true`: a repeat of a request already recorded; nothing new was counted",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            },
        },
        413: {"model": ErrorBody, "description": "A body over 16 KB (`body_too_large`): nothing was read"},
        409: {
            "model": ErrorBody,
            "description": "The launch is not live (`launch_not_live`), it is outside its dates (`outside_window`), "
            "or the idempotency key was used before for a different enquiry (`idempotency_key_reused`: nothing "
            "was recorded)",
        },
        503: {
            "model": ErrorBody,
            "description": "The database did not answer in time (`unavailable`): nothing was recorded, send it "
            "again with the same idempotency key, after the `Retry-After` header's seconds",
            "headers": RETRY_AFTER,
        },
    },
    openapi_extra={"security": [{"HTTPBearer": []}]},
)
async def log_enquiry(
    request: Request,
    slug: str,
    body: ApiEnquiryIn,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_KEY_HEADER,
            description='The body\'s `idempotency_key` as a header (bare or quoted: `"call-123"`), as HTTP '
            "clients' retry helpers send it. It never refuses an enquiry: the body's key, given, wins; a value "
            "that is no key as the body's must be is used as a digest of itself.",
        ),
    ] = None,
) -> Response:
    """Log one enquiry. Safe to retry with the same `idempotency_key` (in the body, or as the
    `Idempotency-Key` header).

    The call takes no query parameter: one given is refused with 422 `invalid`, nothing recorded.
    With `occurred_at`, an enquiry that happened earlier (inside the launch's dates, not in the
    future; else 422 `occurred_at_out_of_range`); without it, now. The server also keeps when it
    was recorded. The token is checked before the body is read, and a body over 16 KB is refused
    with 413 `body_too_large`."""
    # Requests reach the hot path's handler (hot_handlers) through hot_path.TallyApp; this route
    # describes it in the OpenAPI document (FastAPI would read and validate the body before the token).
    state = request.app.state
    token_hash = await state.token_check.checked(request)
    if request.scope["query_string"]:
        refuse_query(request.scope["query_string"])
    return await _log(slug, body, token_hash, idempotency_key, state.enquiry_writer)


async def _log(slug: str, body: ApiEnquiryIn, token_hash: str, header_key: str | None, writer: Writer) -> Response:
    now = dt.datetime.now(dt.UTC)
    credential = Credential("token", token_hash)
    enquiry = body.request(slug=slug, credential=credential, received_at=now)
    logged = await writer.submit(enquiry if header_key is None else keyed(enquiry, header_key))
    out = EnquiryOut(
        id=logged.id,
        created=logged.created,
        launch=slug,
        hypotheses=list(logged.hypothesis_keys),
        logged_at=logged.created_at,
    )
    headers = {} if logged.created else {"Idempotent-Replayed": "true"}
    return Response(
        out.model_dump_json(),
        status_code=201 if logged.created else 200,
        headers=headers,
        media_type="application/json",
    )


# --- the checklist's tick -------------------------------------------------------------------


@router.post(TICK_PATH, status_code=201, include_in_schema=False)
async def tick(request: Request, slug: str) -> Response:
    """A tick from a browser that has no CSRF cookie yet (the full stack gives it one). Its body is read
    as the hot path reads it, after the CSRF check: as the framework's body parameter, it was checked
    first, and a far too long note was told as another error than the hot path's (note_too_long)."""
    settings: Settings = request.app.state.settings
    _check_csrf(request, settings)
    body = parse_body(EnquiryIn, await bodies.read_limited(request))
    return await _record_tick(request, slug, body, settings, request.app.state.enquiry_writer)


def _check_csrf(request: Request, settings: Settings) -> None:
    csrf.check_origin(request, settings)
    csrf.check_token(request, settings, request.headers.get(csrf.HEADER))


async def _record_tick(request: Request, slug: str, body: EnquiryIn, settings: Settings, writer: Writer) -> Response:
    now = dt.datetime.now(dt.UTC)
    credential = browser_credential(request, settings)
    enquiry = body.request(slug=slug, credential=credential, received_at=now)
    logged = await writer.submit(enquiry)
    out = TickOut(
        id=logged.id,
        created=logged.created,
        hypotheses=list(logged.hypothesis_keys),
        logged_at=logged.created_at.isoformat(),
        # Cleaned, a note is the normalised text unless markers replaced something (and only then cut short).
        note_masked=body.note is not None and enquiry.note not in (None, privacy.normalise(body.note)),
    )
    return Response(
        out.model_dump_json(),
        status_code=201 if logged.created else 200,
        headers={"HX-Trigger": "tally:changed"},
        media_type="application/json",
    )


# --- the hot path -------------------------------------------------------------------------


def hot_handlers(settings: Settings, writer: Writer, token_check: TokenCheck) -> dict[str, Handler]:
    """The two POSTs as ``hot_path.TallyApp`` answers them, bound once to what they need: read from
    ``app.state`` on every request, each of those cost a failed attribute lookup and a Python
    ``__getattr__``: 3 % of the app's instructions per enquiry (bench.cpu_per_enquiry, 4 December)."""

    async def api_enquiry(request: Request, slug: str) -> Response:
        """The token first, then a body of limited size."""
        token_hash = await token_check.checked(request)
        scope = request.scope
        if scope["query_string"]:
            refuse_query(scope["query_string"])
        body = parse_body(ApiEnquiryIn, await bodies.read_limited(request))
        return await _log(slug, body, token_hash, header_key(scope["headers"]), writer)

    async def tick_enquiry(request: Request, slug: str) -> Response:
        """CSRF first, so a forged request is refused before its body is read."""
        _check_csrf(request, settings)
        raw = await bodies.read_limited(request)
        return await _record_tick(request, slug, parse_body(EnquiryIn, raw), settings, writer)

    return {"api": api_enquiry, "tick": tick_enquiry}
