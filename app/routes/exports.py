"""Downloads of a launch's enquiries or daily counts, as CSV or XLSX.

Two doors to the same export: ``/launches/{slug}/export.csv`` (or ``.xlsx``) from the
launch page, signed in, with the page's range and filter parameters; and
``/api/v1/launches/{slug}/export?format=…`` with a bearer token. With no range
given, an export covers the whole launch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from app import digests, exports, launches, ranges
from app.db import Database
from app.deps import API_DEPENDENCIES, CurrentToken, CurrentViewer, Now, SessionDep
from app.errors import ERRORS
from app.heads import is_head

router = APIRouter()
api = APIRouter(prefix="/api/v1", tags=["api"], dependencies=API_DEPENDENCIES)

# Both with a default, as the document says: an integration that leaves them out gets the launch page's
# download (the enquiries, as CSV). A value given but not one of these is refused (invalid_what,
# invalid_format), an empty one too (the pages' links take it for the default).
What = Annotated[
    str,
    Query(
        description="`enquiries` (the default): a row per enquiry and matched hypothesis; `daily`: counts per "
        "local day",
        json_schema_extra={"enum": list(exports.WHATS)},
    ),
]
Range = Annotated[str | None, Query(alias="range", description="since-digest, today, yesterday, 7d or launch")]
From = Annotated[str | None, Query(alias="from", description="First local day, YYYY-MM-DD (or an ISO 8601 time)")]
To = Annotated[str | None, Query(description="Last local day, included, YYYY-MM-DD (or an ISO 8601 time)")]
Channels = Annotated[list[str], Query(alias="channel", description="Only these channels (repeatable)")]
Segments = Annotated[list[str], Query(alias="segment", description="Only these segments; `unspecified`: none given")]

FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, as an attachment named `<slug>-<what>-<from>-<to>.<format>`",
        "content": {media_type: {} for media_type in exports.FORMATS.values()},
    },
    **ERRORS,
}


@dataclass(frozen=True)
class ExportQuery:
    """The query parameters both doors take, besides the format."""

    what: str
    range_name: str | None
    from_text: str | None
    to_text: str | None
    channels: list[str]
    segments: list[str]


def export_query(
    what: What = "enquiries",
    range_name: Range = None,
    from_text: From = None,
    to: To = None,
    channel: Channels = [],  # noqa: B006 (FastAPI copies defaults)
    segment: Segments = [],  # noqa: B006
) -> ExportQuery:
    return ExportQuery(what, range_name, from_text, to, channel, segment)


Params = Annotated[ExportQuery, Depends(export_query)]


def _download(
    request: Request,
    session: Session,
    slug: str,
    format: str,
    query: ExportQuery,
    now: dt.datetime,
    *,
    default_what: str | None = None,
    language: str | None = None,
) -> StreamingResponse:
    checked_format, checked_what = exports.parse_format(format), exports.parse_what(query.what or default_what)
    launch = launches.get_by_slug(session, slug)
    selection = ranges.select(
        launch,
        now=now,
        range_name=query.range_name or (None if query.from_text or query.to_text else "launch"),
        from_text=query.from_text,
        to_text=query.to_text,
        channels=query.channels,
        segments=query.segments,
        digest_start=digests.since_digest_start(session, launch, now) if query.range_name == "since-digest" else None,
    )
    export = exports.Export(selection, checked_what, checked_format, language)
    # Notes and counts: no copy in a shared desk's browser cache, as for every page a signed-in person sees.
    headers = {"Content-Disposition": export.content_disposition, "Cache-Control": "no-store"}
    if is_head(request):
        # Everything that could refuse the GET was checked: its status and headers, without the file.
        return StreamingResponse(iter(()), media_type=export.media_type, headers=headers)
    # Its connection back to the pool now: the request's session is otherwise closed only once the
    # last byte is sent (FastAPI ends dependencies after a streamed answer), however slow the client.
    session.close()
    db: Database = request.app.state.db
    # The whole file before the status line (this runs in the thread pool, off the event loop): a
    # database that fails here is the 503 every read gives (app.main), not a 200 broken off.
    spooled = exports.spool(export, db=db, now=now)
    return StreamingResponse(exports.send(spooled), media_type=export.media_type, headers=headers)


# The launch page's download links: the enquiries unless what=daily. Two paths rather than
# export.{format}: every web route's path parameters are things the CSRF tests can fill in.
@router.get("/launches/{slug}/export.csv")
def page_csv(
    request: Request, slug: str, viewer: CurrentViewer, session: SessionDep, now: Now, query: Params
) -> StreamingResponse:
    return _download(request, session, slug, "csv", query, now, default_what="enquiries", language=viewer.language)


@router.get("/launches/{slug}/export.xlsx")
def page_xlsx(
    request: Request, slug: str, viewer: CurrentViewer, session: SessionDep, now: Now, query: Params
) -> StreamingResponse:
    return _download(request, session, slug, "xlsx", query, now, default_what="enquiries", language=viewer.language)


@api.get(
    "/launches/{slug}/export",
    response_class=StreamingResponse,
    responses=FILES,
)
def api_download(
    request: Request,
    slug: str,
    token: CurrentToken,
    session: SessionDep,
    now: Now,
    query: Params,
    format: Annotated[
        str,
        Query(
            description="`csv` (UTF-8 with BOM; the default) or `xlsx`",
            json_schema_extra={"enum": list(exports.FORMATS)},
        ),
    ] = "csv",
) -> StreamingResponse:
    """A launch's enquiries (a row per enquiry and matched hypothesis; an "other" enquiry is one row
    with no hypothesis) or its daily counts (every local day × every hypothesis, other and total),
    as CSV or XLSX; without `what` and `format`, the enquiries as CSV. The range and filters
    are those of the launch page; none: the whole launch. The whole file is written before the answer
    starts: a database that does not answer in time is a 503, never a download broken off."""
    return _download(request, session, slug, format, query, now)
