"""The agents' checklist page, its live fragments, and the tick itself.

The tick (POST /launches/{slug}/enquiries) is the hot path: an async route
that touches no database itself. It checks the CSRF token (an HMAC, no
lookup), scrubs the note, and hands the enquiry to the group-commit writer,
which checks the session, launch and hypotheses inside the transaction that
records it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from babel import Locale
from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from app import auth, bodies, checklist, csrf, enquiries, i18n, launches, privacy
from app.config import Settings
from app.csrf import SESSION_COOKIE
from app.deps import CurrentViewer, IsHtmx, Now, RowId, SessionDep, SettingsDep
from app.errors import Unauthenticated
from app.group_commit import GroupCommitWriter
from app.models import Launch
from app.routes.api import parse_body
from app.web import render

router = APIRouter()
# The tick, the hot path, has its own router: it checks CSRF itself rather than
# through a FastAPI dependency, whose solving cost more than the rest of the route.
# Requests normally reach it through app/hot_path.py (tick_hot).
hot = APIRouter()


# Numbers that show every plural category of the languages offered (CLDR's, as the browser's
# Intl.PluralRules names them): the script picks the form for a count by its category.
_PLURAL_SAMPLES = (1, 2, 0, 3, 5, 11, 21, 22, 101, 1_000_000)


def _plural(language: str, singular: str, plural: str) -> dict[str, str]:
    """A text with a count, in every plural form of ``language``, by plural category."""
    category = Locale.parse(i18n.BABEL_LOCALES[language]).plural_form
    forms: dict[str, str] = {}
    for n in _PLURAL_SAMPLES:
        forms.setdefault(category(n), i18n.ngettext(singular, plural, n))
    return forms


def _client_texts(language: str) -> dict[str, Any]:
    """Texts the checklist's script shows, in the page's language (call inside ``use_language``).
    Texts with a count come in each plural form: ``{"one": …, "other": …}`` for English and bokmål."""
    return {
        "errors": {code: i18n.gettext(text) for code, text in i18n.ERROR_TEXTS.items()},
        "logged": i18n.gettext("Logged"),
        "other": i18n.gettext("Other"),
        "undo": i18n.gettext("Undo"),
        "undo_named": i18n.gettext("Undo: {text}"),
        "undone": i18n.gettext("Undone"),
        "offline": _plural(
            language,
            "No connection to the server. {n} enquiry is kept in this browser and will be sent when it is back.",
            "No connection to the server. {n} enquiries are kept in this browser and will be sent when it is back.",
        ),
        "server_error": _plural(
            language,
            "The server had a problem; {n} enquiry is kept and will be sent again.",
            "The server had a problem; {n} enquiries are kept and will be sent again.",
        ),
        "back": i18n.gettext("Connection is back: everything was sent."),
        "sent": i18n.gettext("Everything waiting was sent."),
        "rejected": i18n.gettext("Not logged:"),
        "someone_else": _plural(
            language,
            "Someone else is signed in on this browser now. {n} waiting enquiry of this page's agent is kept "
            "and will be sent when they sign in again.",
            "Someone else is signed in on this browser now. {n} waiting enquiries of this page's agent are kept "
            "and will be sent when they sign in again.",
        ),
        "not_undone": i18n.gettext("Not undone:"),
        "signed_out": _plural(
            language,
            "You were signed out. Sign in again in a new tab; {n} waiting enquiry will be sent then.",
            "You were signed out. Sign in again in a new tab; {n} waiting enquiries will be sent then.",
        ),
        "selected": _plural(
            language,
            "{n} selected: press Enter to log it, Esc to clear.",
            "{n} selected: press Enter to log them as one enquiry, Esc to clear.",
        ),
        "counted_once": i18n.gettext("Counted once: pressed twice quickly"),
        "changed": i18n.gettext("The list of hypotheses changed:"),
        "retired": i18n.gettext("Retired: {text}"),
        "new": i18n.gettext("New: {text}"),
        "moved": i18n.gettext("Moved: {text}"),
        "reworded": i18n.gettext("Reworded: {text}"),
        "dismiss": i18n.gettext("Dismiss"),
        "dismiss_named": i18n.gettext("Dismiss: {text}"),
        "log_again_as": i18n.gettext("Log again as: {text}"),
        "log_as_other": i18n.gettext("Log as Other"),
        "log_as_other_named": i18n.gettext("Log as Other: {text}"),
    }


@router.get("/launches/{slug}/checklist")
def page(request: Request, slug: str, viewer: CurrentViewer, session: SessionDep, now: Now, htmx: IsHtmx) -> Response:
    """The page; with HX-Request, its board (status, toggles and buttons), which an open page
    swaps in when the list's version changed."""
    launch = launches.get_by_slug(session, slug)
    view = checklist.build(session, launch=launch, user=viewer.user, now=now)
    if htmx:
        return render(
            request,
            "checklist/_board.html",
            viewer=viewer,
            view=view,
            launch=launch,
            other_key=checklist.OTHER_KEY,
            headers={"Cache-Control": "no-store", "Vary": "HX-Request"},
        )
    with i18n.use_language(viewer.language):
        texts = _client_texts(viewer.language)
    return render(
        request,
        "checklist/page.html",
        viewer=viewer,
        view=view,
        launch=launch,
        other_key=checklist.OTHER_KEY,
        texts=texts,
        note_limit=privacy.MAX_NOTE_LENGTH,
        poll_seconds=checklist.POLL_SECONDS,
        headers={"Vary": "HX-Request"},
    )


@router.get("/launches/{slug}/checklist/version")
def version(slug: str, viewer: CurrentViewer, session: SessionDep, now: Now) -> JSONResponse:
    """The list's version, asked for every few seconds by open checklists: when it differs from
    the page's, the page fetches its board again. From the database, so any replica may answer."""
    launch = launches.get_by_slug(session, slug)
    return JSONResponse(
        {"version": checklist.version(session, launch=launch, now=now)}, headers={"Cache-Control": "no-store"}
    )


@router.get("/csrf-token")
def csrf_token(request: Request, viewer: CurrentViewer, settings: SettingsDep) -> JSONResponse:
    """The current CSRF token, for a page whose session changed under it (signed in again in
    another tab). Only this site's own scripts can read the answer."""
    return JSONResponse(
        {"token": csrf.token(request, settings), "user": viewer.user.id}, headers={"Cache-Control": "no-store"}
    )


@router.get("/launches/{slug}/checklist/counts")
def counts(request: Request, slug: str, viewer: CurrentViewer, session: SessionDep, now: Now) -> Response:
    launch = launches.get_by_slug(session, slug)
    current = checklist.counts(session, launch=launch, user=viewer.user, now=now)
    return render(request, "checklist/_counts.html", viewer=viewer, launch=launch, counts=current)


@router.get("/launches/{slug}/checklist/recent")
def recent(request: Request, slug: str, viewer: CurrentViewer, session: SessionDep, now: Now) -> Response:
    launch = launches.get_by_slug(session, slug)
    items = enquiries.recent_for_agent(session, launch=launch, user=viewer.user, now=now)
    return render(request, "checklist/_recent.html", viewer=viewer, launch=launch, recent=items)


def _credential(request: Request) -> enquiries.Credential:
    """Who is ticking, without a lookup: the writer checks it inside its transaction."""
    settings: Settings = request.app.state.settings
    if settings.trusted_user_header and (name := request.headers.get(settings.trusted_user_header)):
        return enquiries.Credential("trusted_user", name.strip().lower())
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated("Sign in to log enquiries.", code="signed_out")
    return enquiries.Credential("session", auth.hash_token(token))


def _check_csrf(request: Request) -> None:
    settings: Settings = request.app.state.settings
    csrf.check_origin(request, settings)
    csrf.check_token(request, settings, request.headers.get(csrf.HEADER))


class TickOut(BaseModel):
    """What the checklist's script gets back for a tick (serialised by pydantic: the hot path)."""

    id: int
    created: bool
    hypotheses: list[str]
    logged_at: str


@hot.post("/launches/{slug}/enquiries", status_code=201)
async def tick(request: Request, slug: str, body: enquiries.EnquiryIn) -> Response:
    _check_csrf(request)
    return await _record_tick(request, slug, body)


async def _record_tick(request: Request, slug: str, body: enquiries.EnquiryIn) -> Response:
    now = dt.datetime.now(dt.UTC)
    credential = _credential(request)
    writer: GroupCommitWriter[enquiries.EnquiryRequest, enquiries.Logged] = request.app.state.enquiry_writer
    logged = await writer.submit(body.request(slug=slug, credential=credential, received_at=now))
    out = TickOut(
        id=logged.id,
        created=logged.created,
        hypotheses=list(logged.hypothesis_keys),
        logged_at=logged.created_at.isoformat(),
    )
    return Response(
        out.model_dump_json(),
        status_code=201 if logged.created else 200,
        headers={"HX-Trigger": "tally:changed"},
        media_type="application/json",
    )


@router.post("/enquiries/{enquiry_id}/undo")
def undo(
    request: Request, enquiry_id: RowId, viewer: CurrentViewer, session: SessionDep, now: Now, htmx: IsHtmx
) -> Response:
    enquiry = enquiries.undo(session, enquiry_id, now=now, user=viewer.user)
    session.commit()
    if not htmx:
        return JSONResponse({"id": enquiry_id, "undone": True}, headers={"HX-Trigger": "tally:changed"})
    launch = session.get(Launch, enquiry.launch_id)
    items = enquiries.recent_for_agent(session, launch=launch, user=viewer.user, now=now) if launch else []
    return render(
        request,
        "checklist/_recent.html",
        viewer=viewer,
        launch=launch,
        recent=items,
        headers={"HX-Trigger": "tally:changed"},
    )


@router.post("/me/checklist")
def remember_toggles(
    viewer: CurrentViewer,
    session: SessionDep,
    channel: Annotated[str | None, Form(max_length=32)] = None,
    segment: Annotated[str | None, Form(max_length=32)] = None,
) -> Response:
    """The sticky channel and segment toggles, remembered per agent (any launch)."""
    user = viewer.user
    if channel:
        user.channel = channel
    if segment:
        user.segment = segment
    session.add(user)
    session.commit()
    return Response(status_code=204)


async def tick_hot(request: Request, slug: str) -> Response:
    """The tick as app/hot_path.py serves it. CSRF first, so a forged request is refused before its body is read."""
    _check_csrf(request)
    raw = await bodies.read_limited(request)
    return await _record_tick(request, slug, parse_body(enquiries.EnquiryIn, raw))
