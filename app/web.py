"""Rendering pages and htmx fragments with Jinja2.

One route serves both: with ``HX-Request`` it renders the fragment (a
template whose name starts with ``_``), otherwise the full page. Autoescape is
on for every template, so a note holding HTML, a script or hx-* attributes is
shown as text.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import Response
from starlette.routing import Match
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app import csrf, i18n
from app.config import Settings
from app.dashboard.chart_table import chart_table
from app.deps import Viewer, browser_language
from app.slack import messages as slack_messages

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC_VERSION = "14"  # bump to make browsers fetch changed static files


def _percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def _local_input(moment: dt.datetime, timezone: str) -> str:
    """A time as a datetime-local input's value: the wall clock in ``timezone``, to the minute."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")


def _time_on(moment: dt.datetime, timezone: str, now: dt.datetime | None) -> str:
    """``moment`` in ``timezone`` as read at ``now``: its time that day, else with its day (``i18n.format_time_on``)."""
    tz = ZoneInfo(timezone)
    local = moment.astimezone(tz)
    return i18n.format_time_on(local, now.astimezone(tz).date() if now is not None else local.date())


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        datetime=i18n.format_datetime,
        time=i18n.format_time,
        time_on=_time_on,
        date=i18n.format_date,
        number=i18n.format_number,
        percent=_percent,
        share=i18n.format_percent,
        p_value=i18n.format_p_value,
        local_input=_local_input,
        field_label=i18n.field_label,
    )
    env.globals.update(
        languages=i18n.LANGUAGES,
        static_version=STATIC_VERSION,
        error_text=lambda error: i18n.error_text(error.code, error.message),
        error_detail=lambda error: i18n.error_detail(error.code, error.message, getattr(error, "details", ())),
        label=i18n.label,
        chart_table=chart_table,
        dimension_label=i18n.dimension_label,
        # A digest's or an alert's delivery, as stored in English, in the reader's language.
        slack_outcome=slack_messages.translated,
    )
    return env


def _is_page(request: Request, path: str) -> bool:
    """Whether ``path`` is one of the app's addresses a browser can fetch (a GET route, or a static file)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes)


def split_url(text: str) -> SplitResult:
    """``text`` split as a URL, or as nothing (no scheme, host or path) when it cannot be: urlsplit raises
    ValueError for a bracketed host left open ("http://[", "//[x"), which a header or a link's ``next``
    may carry, and each such answer was a 500."""
    try:
        return urlsplit(text)
    except ValueError:
        return urlsplit("")


def page_address(request: Request, page: str | None = None) -> str:
    """Where to send someone back to what they are looking at (the language switch, signing in again).

    A GET's own address. The answer to a form's POST is not an address a browser can fetch (it answered
    405), so for one: ``page``, the page the route says it shows; else the page the form was sent from (this
    site's ``Referer``, if a page); else the address itself, if it is a page too; else the start page."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if page is not None:
        return page
    referer = split_url(request.headers.get("referer", ""))
    # This site as the browser names it: the Host it sent, or the configured address (a proxy may change the Host).
    hosts = (request.url.netloc, urlsplit(request.app.state.settings.base_url).netloc)
    local = referer.path.startswith("/") and not referer.path.startswith("//")
    ours = bool(referer.netloc) and referer.netloc in hosts and local
    if ours and _is_page(request, referer.path):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return request.url.path if _is_page(request, request.url.path) else "/"


def render(
    request: Request,
    template: str,
    *,
    viewer: Viewer | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    page: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """``page``: for an answer to a POST, the address of the page it shows (``page_address``)."""
    settings: Settings = request.app.state.settings
    env: Environment = request.app.state.jinja
    language = viewer.language if viewer else browser_language(request, settings)
    with i18n.use_language(language):
        html = env.get_template(template).render(
            request=request,
            viewer=viewer,
            user=viewer.user if viewer else None,
            csrf_token=csrf.token(request, settings),
            language=language,
            timezone=settings.timezone,
            page_address=page_address(request, page),
            **context,
        )
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    response.headers["Content-Language"] = language
    if viewer is not None:
        # What a signed-in person sees (a new password or API token shown once, notes, tallies) is
        # never kept by the browser: at a shared desk the next person pressed Back after sign-out and
        # read the previous person's page. The sign-in page and static files stay cacheable.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


class StaticAssets(StaticFiles):
    """The app's static files, with a cache lifetime browsers can trust.

    Vendored files carry their version in their name, and the app's own are linked with
    ``?v=STATIC_VERSION``: both are immutable for a year. A bare URL must be checked again
    (the ETag makes that a 304), and so must one of another version: during a rolling upgrade the
    load balancer sends an upgraded replica's page's ``?v=14`` to a replica still at 13, whose file,
    kept for a year under the new URL, would stay in browsers after every replica had the new one.
    Compression is GZipMiddleware's (app.main)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        versioned = path.startswith("vendor/") or _VERSIONED in scope.get("query_string", b"").split(b"&")
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = IMMUTABLE if versioned else "no-cache"
        return response


IMMUTABLE = "public, max-age=31536000, immutable"
_VERSIONED = f"v={STATIC_VERSION}".encode()
