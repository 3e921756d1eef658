"""Spike alerts of a launch: the API's list (bearer token), and the list for people (a page, or to
htmx the fragment the launch page can load)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app import launches
from app.deps import API_DEPENDENCIES, MAX_ROW_ID, CurrentToken, CurrentViewer, IsHtmx, SessionDep
from app.errors import ERRORS, not_found
from app.insight import alerts
from app.models import AlertKind, DigestStatus
from app.web import render

router = APIRouter()
PAGE, MAX_PAGE = 100, 1000  # alerts a call lists: by default, and at most

VARY = {"Vary": "HX-Request"}

ALERTS_DESCRIPTION = """\
The launch's spike alerts, newest first: sent to Slack (`sent`), kept without Slack (`dry_run`),
waiting to be tried again (`retrying`) or refused by Slack (`failed`, with `error` saying what to do).

An alert is posted when a hypothesis (`kind` `hypothesis`, `subject` its key) or a rising theme in
"other" (`kind` `theme`, `subject` its phrase) runs far above normal in the current digest window,
which starts at `window_start` (the latest digest time): at least the launch's minimum count, and at
least its factor × `normal`. `count` is what had come in by `observed_at`; `normal` is what would
have been normal for the same stretch (the higher of the expected rate and the same hours of
earlier days; 0 when there was nothing to compare with), and `ratio` is `count / normal` (null
when `normal` is 0). At most one alert per launch, subject and window. `sent_at` is when it was
posted (or kept, for a dry run).

At most `limit` alerts a call (100 unless given, up to 1000). When there may be more, the answer's
`Link` header names the next page as an absolute URL (`rel="next"`: the same call with `before`, the
id of the last alert listed); the last page has none.
"""


class AlertOut(BaseModel):
    id: int
    kind: AlertKind
    subject: str = Field(
        description=(
            "The hypothesis's key, or the theme's phrase (empty once a lead erased the notes it was named from)."
        )
    )
    window_start: dt.datetime
    observed_at: dt.datetime
    count: int
    normal: float
    ratio: float | None
    status: DigestStatus
    sent_at: dt.datetime | None
    error: str | None


@router.get(
    "/api/v1/launches/{slug}/alerts",
    response_model=list[AlertOut],
    responses={
        **ERRORS,
        **not_found(
            "No such launch (`unknown_launch`), or no alert of the launch with the id `before` names (`unknown_alert`)"
        ),
        200: {
            "description": "The alerts, newest first",
            "headers": {
                "Link": {
                    "description": "When more may follow: the next page (RFC 8288), an absolute URL, "
                    '`<https://…/api/v1/launches/…/alerts?before=…&limit=…>; rel="next"`; the last page has none',
                    "schema": {"type": "string"},
                }
            },
        },
    },
    tags=["api"],
    dependencies=API_DEPENDENCIES,
    summary="Spike alerts",
    description=ALERTS_DESCRIPTION,
)
def list_alerts(
    request: Request,
    slug: str,
    token: CurrentToken,
    session: SessionDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many, newest first.")] = PAGE,
    before: Annotated[
        int | None,
        Query(ge=1, le=MAX_ROW_ID, description="The next page: those older than the alert with this id."),
    ] = None,
) -> list[AlertOut]:
    launch = launches.get_by_slug(session, slug)
    page = alerts.listing(session, launch, limit=limit, before=before)
    if len(page) == limit:
        # More may follow: where, as RFC 8288 links say it (the last page has none). Absolute, the address this
        # call came to with the next page's query: httpx and requests hand `links["next"]["url"]` over as it is,
        # and a path alone ("/api/v1/…") was no URL to them (httpx: UnsupportedProtocol).
        more = request.url.replace_query_params(before=str(page[-1].alert.id), limit=str(limit))
        response.headers["Link"] = f'<{more}>; rel="next"'
    return [
        AlertOut(
            id=listed.alert.id or 0,
            kind=listed.alert.kind,
            subject=listed.alert.subject,
            window_start=listed.alert.window_start,
            observed_at=listed.alert.observed_at,
            count=listed.alert.count,
            normal=listed.alert.normal,
            ratio=round(listed.alert.count / listed.alert.normal, 2) if listed.alert.normal > 0 else None,
            status=listed.alert.status,
            sent_at=listed.alert.sent_at,
            error=listed.alert.error,
        )
        for listed in page
    ]


@router.get("/launches/{slug}/alerts", include_in_schema=False)
def alerts_page(request: Request, slug: str, viewer: CurrentViewer, session: SessionDep, htmx: IsHtmx) -> Response:
    """The launch's spike alerts: a page, or to htmx just the list."""
    launch = launches.get_by_slug(session, slug)
    template = "alerts/_list.html" if htmx else "alerts/page.html"
    return render(request, template, viewer=viewer, launch=launch, alerts=alerts.listing(session, launch), headers=VARY)
