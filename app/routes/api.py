"""The JSON API for integrations (telephony, CRM), under /api/v1, with bearer tokens.

Errors are ``{"error": {"code", "message", "field"?}}`` with a message a
developer can act on; the codes are stable. Described by the OpenAPI document
at /api/openapi.json (import it into Postman, Insomnia or any OpenAPI viewer).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app import enquiries, hypothesis_sets, launches, ranges, retention, tallies
from app.bodies import BODY_TOO_LARGE, JsonBodyRoute, JsonInt
from app.deps import API_DEPENDENCIES, CurrentToken, LeadToken, Now, RowId, SessionDep, SettingsDep
from app.errors import (
    ENQUIRY_NOT_FOUND,
    ERRORS,
    HYPOTHESIS_NOT_FOUND,
    LEAD_ONLY,
    Conflict,
    ErrorBody,
    ErrorDetail,
    Invalid,
    NotFound,
)
from app.insight import impact
from app.instants import BodyTime, QueryTime
from app.models import Hypothesis, HypothesisStatus, Launch, LaunchStatus

router = APIRouter(prefix="/api/v1", tags=["api"], dependencies=API_DEPENDENCIES, route_class=JsonBodyRoute)


class HypothesisOut(BaseModel):
    key: str
    text: str
    area: str
    status: HypothesisStatus
    # Only PATCH's answer and its 409 carried it: a script that reads, then changes, could not send it back.
    version: int = Field(
        description="Send it with a change (PATCH …/hypotheses/{key}): one changed meanwhile is refused with 409 "
        "`stale_version` instead of overwritten."
    )


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


# No 404: it names no launch (ERRORS' 404 is an unknown one).
@router.get("/launches", response_model=list[LaunchOut], responses={k: v for k, v in ERRORS.items() if k != 404})
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
                HypothesisOut(key=h.key, text=h.text, area=h.area, status=h.status, version=h.version)
                for h in launches.hypotheses_of(session, launch, include_retired=False)
            ],
        )
        for launch in launches.list_launches(session, statuses=(LaunchStatus.LIVE,))
    ]


@router.delete(
    "/enquiries/{enquiry_id}",
    response_model=UndoneOut,
    responses={
        **ERRORS,
        **ENQUIRY_NOT_FOUND,
        403: {"model": ErrorBody, "description": "Logged with another token (`not_yours`)"},
        409: {"model": ErrorBody, "description": "More than 15 minutes ago (`too_late`)"},
    },
)
def undo_enquiry(
    # Bounded to the INTEGER id column (32-bit on PostgreSQL): past it the lookup itself failed (a 500).
    enquiry_id: RowId,
    token: CurrentToken,
    session: SessionDep,
    now: Now,
) -> UndoneOut:
    """Undo an enquiry logged with this token."""
    enquiries.undo(session, enquiry_id, now=now, token=token)
    session.commit()
    return UndoneOut(id=enquiry_id, undone=True)


class NoteErasedOut(BaseModel):
    id: int = Field(description="The enquiry's id.")
    erased: bool = Field(description="False when it had no note left to erase (erased before, or none given).")


@router.delete(
    "/enquiries/{enquiry_id}/note",
    response_model=NoteErasedOut,
    responses={**ERRORS, **LEAD_ONLY, **ENQUIRY_NOT_FOUND},
)
def erase_note(enquiry_id: RowId, token: LeadToken, session: SessionDep, now: Now) -> NoteErasedOut:
    """Erase an enquiry's note (a name or number the scrubber missed; a customer's request to be
    forgotten): the enquiry and every count stay, and the launch's stored digests lose their quotes of
    it. Cannot be undone. Needs a lead token; erasing again answers `erased: false`."""
    enquiry = enquiries.get(session, enquiry_id)
    erased = retention.erase_notes(session, enquiry.launch_id, [enquiry_id], actor=f"token:{token.name}", now=now)
    session.commit()
    return NoteErasedOut(id=enquiry_id, erased=erased.notes > 0)


ChannelParam = Annotated[list[str], Query(alias="channel", description="Only these channels (repeatable); none: all.")]
SegmentParam = Annotated[
    list[str],
    Query(alias="segment", description="Only these segments (repeatable); `unspecified` for none given."),
]
RANGE_RULES = (
    "A range that does not overlap the launch's dates is refused with 422 `range_out_of_window` (nothing is "
    "counted); one partly inside is clipped to the launch, as is one left open with `0001-01-01` or `9999-12-31`."
)


def _utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC; one that lies outside Python's years there (year 1 with a positive offset, year
    9999 with a negative one: an open window as a BI tool writes it in local time) as the first or last
    moment Python has, which clipping then cuts to the launch. Refused, a window that held the whole
    launch was told it "does not overlap" it, while /series took the same bounds (ranges._beyond)."""
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        return ranges.FAR_PAST if moment.year < 2 else ranges.FAR_FUTURE


def _in_window(launch: Launch, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) clipped to the launch, or the 422 that says it lies outside."""
    asked = f"The window {start.isoformat()} to {end.isoformat()}"
    start, end = _utc(start), _utc(end)
    clipped = tallies.clip(launch, start, end)
    if clipped[0] >= clipped[1] and not (start == end and clipped[0] == start):
        raise ranges.out_of_window(launch, asked, field="start")
    return clipped


@router.get("/launches/{slug}/tally", response_model=TallyOut, responses=ERRORS, description=RANGE_RULES)
def get_tally(
    slug: str,
    token: CurrentToken,
    session: SessionDep,
    now: Now,
    start: Annotated[QueryTime, Query(description="Window start, ISO 8601 with offset: 2026-11-18T09:00:00+01:00")],
    end: Annotated[QueryTime, Query(description="Window end (exclusive), ISO 8601 with offset")],
    channel: ChannelParam = [],  # noqa: B006 - FastAPI copies defaults
    segment: SegmentParam = [],  # noqa: B006
) -> TallyOut:
    """Counts for [start, end): every hypothesis, channel and segment, zeros included."""
    if end < start:
        raise Invalid("end is before start: the window is [start, end).", field="end")
    launch = launches.get_by_slug(session, slug)
    start, end = _in_window(launch, start, end)
    selection = ranges.select(launch, now=now, range_name="launch", channels=channel, segments=segment)
    hypotheses = launches.hypotheses_of(session, launch)
    result = tallies.tally(
        session=session, launch=launch, start=start, end=end, now=now, hypotheses=hypotheses, filter=selection.filter
    )
    return TallyOut(
        launch=slug,
        start=start,
        end=end,
        total=result.total,
        other=result.other,
        hypotheses={h.key: result.for_hypothesis(h) for h in hypotheses},
        channels=result.by_channel,
        # Enquiries with no segment too, zero or not: the same keys in every answer for a BI schema.
        segments={
            **result.by_segment,
            tallies.UNSPECIFIED_SEGMENT: result.by_segment.get(tallies.UNSPECIFIED_SEGMENT, 0),
        },
    )


class BucketOut(BaseModel):
    start: str = Field(
        description="ISO 8601 with the launch's UTC offset at that moment", examples=["2026-11-23T00:00:00+01:00"]
    )
    end: str
    total: int
    other: int
    hypotheses: dict[str, int | None] = Field(
        description="Count by hypothesis key; null for a bucket that ended before the hypothesis began to count "
        "(added during the launch: its enquiries were `other` until then), not a 0 that reads as nobody called."
    )
    complete: bool = Field(
        description="Whether the bucket is over: false for the one under way (its counts so far) and those to "
        "come (zeros that say nothing yet). Leave them out of averages and trends."
    )


class SeriesOut(BaseModel):
    launch: str
    bucket: tallies.BucketKind
    buckets: list[BucketOut]


# What one series answer holds at most, buckets times hypotheses: a year-long launch of 500 hypotheses
# by the hour was 4.4 million counts, a 40 MB answer and 120 MB more in the server, for one request.
MAX_SERIES_COUNTS = 250_000


@router.get("/launches/{slug}/series", response_model=SeriesOut, responses=ERRORS, description=RANGE_RULES)
def get_series(
    slug: str,
    token: CurrentToken,
    session: SessionDep,
    now: Now,
    bucket: Annotated[
        tallies.BucketKind,
        Query(
            description="`day`: local days; `hour`: local hours; `slot`: from one digest time to the next. At most "
            f"{MAX_SERIES_COUNTS:,} counts an answer (buckets times the hypotheses, with the total and other): ask for "
            "more in parts."
        ),
    ] = "day",
    from_: Annotated[
        str | None,
        Query(alias="from", description="First local day (YYYY-MM-DD), or an ISO 8601 time with offset."),
    ] = None,
    to: Annotated[
        str | None,
        Query(description="Last local day, included (YYYY-MM-DD), or an ISO 8601 time with offset (excluded)."),
    ] = None,
    channel: ChannelParam = [],  # noqa: B006
    segment: SegmentParam = [],  # noqa: B006
) -> SeriesOut:
    """Counts bucket by bucket, every bucket present (zeros included; a hypothesis's null before it began to
    count), in the launch's time zone."""
    launch = launches.get_by_slug(session, slug)
    selection = ranges.select(
        launch,
        now=now,
        range_name=None if from_ or to else "launch",
        from_text=from_,
        to_text=to,
        channels=channel,
        segments=segment,
    )
    hypotheses = [h for h in launches.hypotheses_of(session, launch) if h.id is not None]
    _refuse_a_flood(launch, selection, bucket, columns=len(hypotheses))
    first = tallies.first_enquiries(session, launch)
    launch_start = launches.window(launch)[0]
    # (id, key, from when it counts): as the pages, null for buckets that ended before then.
    counted = [
        (h.id, h.key, tallies.counting_since(h, launch_start, first.get(h.id or 0), launch=launch)) for h in hypotheses
    ]
    tz = launches.zone(launch)
    buckets = tallies.series(
        session=session,
        launch=launch,
        start=selection.start,
        end=selection.end,
        bucket=bucket,
        now=now,
        filter=selection.filter,
    )
    return SeriesOut(
        launch=launch.slug,
        bucket=bucket,
        buckets=[
            BucketOut(
                start=b.start.astimezone(tz).isoformat(),
                end=b.end.astimezone(tz).isoformat(),
                total=b.total,
                other=b.other,
                hypotheses={
                    key: None if b.end <= since else b.by_hypothesis.get(hypothesis_id or 0, 0)
                    for hypothesis_id, key, since in counted
                },
                complete=selection.over(b.end),
            )
            for b in buckets
        ],
    )


def _refuse_a_flood(launch: Launch, selection: ranges.Selection, bucket: tallies.BucketKind, *, columns: int) -> None:
    """A series too large to send at once is refused before it is counted, saying how to ask for less."""
    start, end = tallies.clip(launch, selection.start, selection.end)
    count = max(len(tallies.bucket_bounds(launch, start, end, bucket)) - 1, 0) if start < end else 0
    most = max(MAX_SERIES_COUNTS // max(columns + 2, 1), 1)  # with the total and "other"
    if count > most:
        raise Invalid(
            f"bucket={bucket} over this range gives {count:,} buckets of {columns:,} hypotheses; at most {most:,} "
            "buckets are sent at once: ask for a shorter range (from and to) or a longer bucket.",
            field="bucket",
            code="invalid_range",
        )


class HypothesisDetail(BaseModel):
    key: str
    text: str
    area: str
    owner_team: str
    expected_per_day: int | None
    status: HypothesisStatus
    fix_shipped_at: dt.datetime | None
    fix_url: str | None
    version: int = Field(description="Send it back with a change: a stale one is refused with 409 `stale_version`.")

    @classmethod
    def of(cls, h: Hypothesis) -> HypothesisDetail:
        return cls(
            key=h.key,
            text=h.text,
            area=h.area,
            owner_team=h.owner_team,
            expected_per_day=h.expected_per_day,
            status=h.status,
            fix_shipped_at=h.fix_shipped_at,
            fix_url=h.fix_url,
            version=h.version,
        )


def _never_null(schema: dict[str, Any]) -> None:
    """A field's schema as a client must read it: optional (left out, it is kept), but never null, which
    ``HypothesisPatch._not_null`` refuses. Declared nullable, generated clients sent null, and fuzzers
    expected it taken."""
    schema.update(next(branch for branch in schema.pop("anyOf") if branch != {"type": "null"}))
    schema.pop("default", None)


class HypothesisPatch(BaseModel):
    """The fields to change; those left out stay as they are. `fix_url` and `expected_per_day` may be
    null (no link, no expected rate); the others may not."""

    model_config = ConfigDict(extra="forbid")

    status: HypothesisStatus | None = Field(default=None, json_schema_extra=_never_null)
    fix_shipped_at: BodyTime | None = Field(
        default=None,
        description="When the fix reached customers (may be in the past); now if status becomes "
        "fix_shipped without it.",
        json_schema_extra=_never_null,
    )
    fix_url: str | None = Field(default=None, max_length=500, description='null or "": no link.')
    owner_team: str | None = Field(
        default=None, max_length=100, description='"" for no owner team.', json_schema_extra=_never_null
    )
    expected_per_day: JsonInt[Annotated[int, Field(ge=0, le=hypothesis_sets.MAX_EXPECTED_PER_DAY)]] | None = Field(
        default=None, description="null: no expected rate."
    )
    text: str | None = Field(default=None, min_length=1, max_length=500, json_schema_extra=_never_null)
    version: JsonInt[int] | None = Field(default=None, description="The version this change was made from.")

    @field_validator("status", "fix_shipped_at", "owner_team", "text", mode="before")
    @classmethod
    def _not_null(cls, value: object, info: ValidationInfo) -> object:
        # null was taken as "leave it", answering 200 with nothing changed; these have no empty value
        # (an owner team's is "").
        if value is None:
            empty = ' ("" for no owner team)' if info.field_name == "owner_team" else ""
            raise ValueError(f"cannot be null: leave the field out to keep it{empty}")
        return value


class StaleBody(BaseModel):
    error: ErrorDetail
    current: HypothesisDetail


@router.patch(
    "/launches/{slug}/hypotheses/{key}",
    response_model=HypothesisDetail,
    responses={
        **ERRORS,
        **LEAD_ONLY,
        **BODY_TOO_LARGE,
        **HYPOTHESIS_NOT_FOUND,
        409: {"model": StaleBody, "description": "`version` is stale (`stale_version`): `current` holds what is there"},
    },
)
def patch_hypothesis(
    slug: str, key: str, patch: HypothesisPatch, token: LeadToken, session: SessionDep, settings: SettingsDep, now: Now
) -> Response:
    """Change a hypothesis: its status (with the time a fix shipped), fix link, owner, expected rate or text.
    Changing the text keeps the old one as a revision; a status change is kept in its history."""
    launch = launches.get_by_slug(session, slug)
    changes = patch.model_dump(exclude_unset=True, exclude={"version"})
    if "fix_url" in changes and changes["fix_url"] is None:
        changes["fix_url"] = ""  # null clears the link, as "" does (null kept it, and answered 200)
    try:
        hypothesis = hypothesis_sets.update_hypothesis(
            session,
            launch,
            key,
            changes,
            expected_version=patch.version,
            actor=f"token:{token.name}",
            now=now,
            default_timezone=settings.timezone,
            default_digest_times=settings.digest_times,
        )
    except hypothesis_sets.StaleVersion as stale:
        session.rollback()
        body = StaleBody(
            error=ErrorDetail(code=stale.code, message=stale.message, field="version"),
            current=HypothesisDetail.of(stale.current),
        )
        # As every other error answers: "problems" belongs to 422 invalid, never null here.
        return Response(
            body.model_dump_json(exclude={"error": {"problems"}}), status_code=409, media_type="application/json"
        )
    except Invalid as invalid:
        # Checked as the launch's whole set: named by this call's fields, not the row's place in the set
        # ("hypotheses[11].owner_team"), which an API client never sees.
        details = [(re.sub(r"^hypotheses\[\d+\]\.", "", name), message) for name, message in invalid.details]
        if not details:
            raise
        raise Invalid(
            "; ".join(f"{name}: {message}" if name else message for name, message in details),
            field=details[0][0] or None,
            code=invalid.code,
            details=details,
        ) from None
    session.commit()
    return Response(HypothesisDetail.of(hypothesis).model_dump_json(), media_type="application/json")


class PeriodOut(BaseModel):
    start: dt.datetime
    end: dt.datetime
    enquiries: int
    per_day: float
    share: float


class ImpactOut(BaseModel):
    fix_shipped_at: dt.datetime
    before: PeriodOut
    after: PeriodOut
    change: float | None = Field(description="Relative change of the share: -0.72 is down 72 %.")
    p_value: float | None
    verdict: impact.Verdict
    retired_at: dt.datetime | None = Field(
        default=None,
        description="When it was retired, where that ends the periods (at the fix, if it was retired before it): "
        "no enquiries could be logged about it after.",
    )
    method: str = impact.METHOD


@router.get(
    "/launches/{slug}/hypotheses/{key}/impact",
    response_model=ImpactOut,
    responses={
        **ERRORS,
        **HYPOTHESIS_NOT_FOUND,
        409: {"model": ErrorBody, "description": "No fix recorded for it yet (`no_fix`)"},
    },
)
def get_impact(slug: str, key: str, token: CurrentToken, session: SessionDep, now: Now) -> ImpactOut:
    """Before against after the fix: per day, and the share of all enquiries, over equal periods (with less
    than a day before the fix, all of it against the first 24 hours after), with Fisher's exact test on the
    share and a verdict: `down`, `up` or `no_change` once the period after is at least 24 hours with 10
    enquiries about it, `too_early` before. Outcomes waiting will not change: `too_little_after` (the launch
    ended less than 24 hours after the fix), `too_little_before` (no enquiries at all between when the
    hypothesis began to count and the fix), `too_few` (the periods are as long as they will get, with fewer
    than 10 about it), `no_before` (the fix shipped before the hypothesis was counted: both periods empty),
    `after_launch` (the fix shipped after the launch ended: no enquiries are counted after a launch, so both periods
    are empty; the fix time is kept as recorded).
    A hypothesis retired after its fix is counted until `retired_at` (retired less than 24 hours after the
    fix: `too_little_after`)."""
    launch = launches.get_by_slug(session, slug)
    hypothesis = {h.key: h for h in launches.hypotheses_of(session, launch)}.get(key)
    if hypothesis is None:
        raise NotFound(f"Launch {slug!r} has no hypothesis {key!r}.", code="unknown_hypothesis")
    result = impact.impact_of(session, launch, hypothesis, now=now)
    if result is None:
        raise Conflict(
            f"No fix is recorded for {key!r}: set its status to fix_shipped (PATCH with fix_shipped_at) first.",
            code="no_fix",
        )

    def period(p: impact.Period) -> PeriodOut:
        return PeriodOut(start=p.start, end=p.end, enquiries=p.enquiries, per_day=round(p.per_day, 2), share=p.share)

    return ImpactOut(
        fix_shipped_at=result.fix_shipped_at,
        before=period(result.before),
        after=period(result.after),
        change=result.change,
        p_value=result.p_value,
        verdict=result.verdict,
        retired_at=result.retired_at,
    )
