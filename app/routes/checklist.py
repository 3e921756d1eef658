"""The agents' checklist page and its live fragments, and undoing a tick.

The tick itself (POST /launches/{slug}/enquiries) is recorded by app/recording/.
"""

from __future__ import annotations

from typing import Annotated, Any

from babel import Locale
from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from app import checklist, csrf, enquiries, i18n, launches, privacy
from app.deps import CurrentViewer, IsHtmx, Now, RowId, SessionDep, SettingsDep
from app.models import Launch
from app.web import render

router = APIRouter()
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
            "You were signed out. Sign in again; {n} waiting enquiry will be sent then.",
            "You were signed out. Sign in again; {n} waiting enquiries will be sent then.",
        ),
        "sign_out_waiting": _plural(
            language,
            "{n} enquiry has not reached the server yet. It stays in this browser and is sent when you next "
            "open this checklist here. Sign out anyway?",
            "{n} enquiries have not reached the server yet. They stay in this browser and are sent when you next "
            "open this checklist here. Sign out anyway?",
        ),
        "sign_out_waiting_elsewhere": _plural(
            language,
            "{n} enquiry ticked on another launch's checklist has not reached the server yet. It stays in this "
            "browser and is sent when you next open that checklist here. Sign out anyway?",
            "{n} enquiries have not reached the server yet, some of them ticked on another launch's checklist. "
            "They stay in this browser and are sent when you next open their launch's checklist here. Sign out "
            "anyway?",
        ),
        "waiting_elsewhere": _plural(
            language,
            "{n} enquiry ticked on the checklist of {launch} has not been sent yet: open that checklist here to "
            "send it.",
            "{n} enquiries ticked on the checklist of {launch} have not been sent yet: open that checklist here to "
            "send them.",
        ),
        "selected": _plural(
            language,
            "{n} selected: press Enter to log it, Esc to clear.",
            "{n} selected: press Enter to log them as one enquiry, Esc to clear.",
        ),
        "counted_once": i18n.gettext("Counted once: pressed twice quickly"),
        "note_masked": i18n.gettext(
            "Personal data in the note was replaced by markers before it was stored: see My enquiries."
        ),
        "left_out": i18n.gettext("Left out (retired): {text}"),
        "changed": i18n.gettext("The list of hypotheses changed:"),
        "retired": i18n.gettext("Retired: {text}"),
        "new": i18n.gettext("New: {text}"),
        "back_on_list": i18n.gettext("Back on the list: {text}"),
        "moved": i18n.gettext("Moved: {text}"),
        "reworded": i18n.gettext("Reworded: {text}"),
        "channel_gone": i18n.gettext(
            "The channel “{value}” is no longer offered: choose one before you log the next enquiry."
        ),
        "segment_gone": i18n.gettext(
            "The customer type “{value}” is no longer offered: choose one before you log the next enquiry."
        ),
        "choose_channel": i18n.gettext("Choose a channel first."),
        "choose_segment": i18n.gettext("Choose a customer type first."),
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
        # The server's clock, for the script to tell the time of a tick sent late in it.
        server_now=now.isoformat(timespec="milliseconds"),
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
    checklist.remember_toggles(session, viewer.user, channel=channel, segment=segment)
    session.commit()
    return Response(status_code=204)
