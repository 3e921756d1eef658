"""The JSON API for integrations (telephony, CRM), under /api/v1, with bearer tokens.

Errors are ``{"error": {"code", "message", "field"?}}`` with a message a
developer can act on; the codes are stable. Described by the OpenAPI document
at /api/openapi.json (import it into Postman, Insomnia or any OpenAPI viewer).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from app import auth, enquiries, launches, tallies
from app.deps import CurrentToken, Now, SessionDep, bearer_from
from app.errors import Invalid
from app.group_commit import GroupCommitWriter
from app.models import HypothesisStatus, LaunchStatus

router = APIRouter(prefix="/api/v1", tags=["api"])


class ErrorDetail(BaseModel):
    code: str = Field(examples=["unknown_hypothesis"])
    message: str = Field(examples=["Unknown hypothesis key 'x' for launch 'payapp-5-redesign'."])
    field: str | None = Field(default=None, examples=["hypotheses[0]"])


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, wrong or revoked token"},
    404: {"model": ErrorBody, "description": "Unknown launch or enquiry"},
    422: {"model": ErrorBody, "description": "A field is wrong; `field` names it"},
}


class HypothesisOut(BaseModel):
    key: str
    text: str
    area: str
    status: HypothesisStatus


class LaunchOut(BaseModel):
    slug: str
    name: str
    product_area: str
    starts_on: dt.date
    ends_on: dt.date
    timezone: str
    channels: list[str]
    segments: list[str]
    hypotheses: list[HypothesisOut]


class EnquiryOut(BaseModel):
    id: int
    created: bool = Field(description="False when the idempotency key was seen before.")
    launch: str
    hypotheses: list[str]
    logged_at: dt.datetime


class UndoneOut(BaseModel):
    id: int
    undone: bool


class TallyOut(BaseModel):
    launch: str
    start: dt.datetime
    end: dt.datetime
    total: int
    other: int
    hypotheses: dict[str, int]
    channels: dict[str, int]
    segments: dict[str, int]


@router.get("/launches", response_model=list[LaunchOut], responses=ERRORS)
def list_launches(token: CurrentToken, session: SessionDep) -> list[LaunchOut]:
    """Live launches, with the hypothesis keys, channels and segments an enquiry may use."""
    return [
        LaunchOut(
            slug=launch.slug,
            name=launch.name,
            product_area=launch.product_area,
            starts_on=launch.starts_on,
            ends_on=launch.ends_on,
            timezone=launch.timezone,
            channels=launch.channels,
            segments=launch.segments,
            hypotheses=[
                HypothesisOut(key=h.key, text=h.text, area=h.area, status=h.status)
                for h in launches.hypotheses_of(session, launch, include_retired=False)
            ],
        )
        for launch in launches.list_launches(session, statuses=(LaunchStatus.LIVE,))
    ]


@router.post(
    "/launches/{slug}/enquiries",
    status_code=201,
    response_model=EnquiryOut,
    responses={
        **ERRORS,
        200: {"model": EnquiryOut, "description": "Same idempotency key as before: the earlier enquiry"},
        409: {
            "model": ErrorBody,
            "description": "The launch is not live, or it is outside its dates (`outside_window`)",
        },
    },
    openapi_extra={"security": [{"HTTPBearer": []}]},
)
async def log_enquiry(request: Request, slug: str, body: enquiries.EnquiryIn) -> Response:
    """Log one enquiry. Safe to retry with the same `idempotency_key`."""
    # The hot path takes no FastAPI dependencies: solving them cost more than
    # everything else this route does. Requests reach it through app/hot_path.py;
    # this route describes it in the OpenAPI document. The token is only read
    # here; the writer checks it inside its transaction.
    raw_token = bearer_from(request.headers.get("authorization"))
    now = dt.datetime.now(dt.UTC)
    writer: GroupCommitWriter[enquiries.EnquiryRequest, enquiries.Logged] = request.app.state.enquiry_writer
    credential = enquiries.Credential("token", auth.hash_token(raw_token))
    logged = await writer.submit(body.request(slug=slug, credential=credential, received_at=now))
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


@router.delete(
    "/enquiries/{enquiry_id}",
    response_model=UndoneOut,
    responses={
        **ERRORS,
        403: {"model": ErrorBody, "description": "Logged with another token (`not_yours`)"},
        409: {"model": ErrorBody, "description": "More than 15 minutes ago (`too_late`)"},
    },
)
def undo_enquiry(enquiry_id: int, token: CurrentToken, session: SessionDep, now: Now) -> UndoneOut:
    """Undo an enquiry logged with this token."""
    enquiries.undo(session, enquiry_id, now=now, token=token)
    session.commit()
    return UndoneOut(id=enquiry_id, undone=True)


@router.get("/launches/{slug}/tally", response_model=TallyOut, responses=ERRORS)
def get_tally(
    slug: str,
    token: CurrentToken,
    session: SessionDep,
    now: Now,
    start: Annotated[AwareDatetime, Query(description="Window start, ISO 8601 with offset: 2026-11-18T09:00:00+01:00")],
    end: Annotated[AwareDatetime, Query(description="Window end (exclusive), ISO 8601 with offset")],
) -> TallyOut:
    """Counts for [start, end): every hypothesis, channel and segment, zeros included."""
    if end < start:
        raise Invalid("end is before start: the window is [start, end).", field="end")
    launch = launches.get_by_slug(session, slug)
    hypotheses = launches.hypotheses_of(session, launch)
    result = tallies.tally(session=session, launch=launch, start=start, end=end, now=now, hypotheses=hypotheses)
    return TallyOut(
        launch=slug,
        start=start,
        end=end,
        total=result.total,
        other=result.other,
        hypotheses={h.key: result.for_hypothesis(h) for h in hypotheses},
        channels=result.by_channel,
        segments=result.by_segment,
    )


# --- the hot path, served ahead of the framework's layers (app/hot_path.py) -------------


def parse_body(model: type[enquiries.EnquiryIn], raw: bytes) -> enquiries.EnquiryIn:
    """The JSON body as ``model``, or the same 422 FastAPI would give."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]) from None


async def log_enquiry_hot(request: Request, slug: str) -> Response:
    return await log_enquiry(request, slug, parse_body(enquiries.EnquiryIn, await request.body()))
